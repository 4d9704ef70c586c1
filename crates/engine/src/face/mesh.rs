//! MediaPipe face detection and face mesh (Apache-2.0 models from the
//! `mediapipe` wheel), with our own pre- and post-processing: SSD anchors and
//! weighted non-maximum suppression for BlazeFace, the rotated face crop for
//! the 468-point mesh, the two eye crops for the iris model, and the
//! re-projection of every point into image pixels.

use super::tflite::TfliteModel;
use crate::error::Result;
use crate::geometry::{point_in_polygon, Point, Rect};
use image::RgbImage;
use std::path::Path;

/// Mesh points with refined irises: 468 from the face mesh, then 5 per iris
/// (centre first) for the subject's right eye (image left), then the left.
pub const MESH_POINTS: usize = 478;
const FACE_MESH_POINTS: usize = 468;

/// Mesh points the first 16 of the iris model's 71-point eye contour
/// replace (lower lid corner to corner, then the upper lid), for the eye
/// seen unflipped (corners 33/133) and its mirror (263/362), in the model's
/// output order (the mapping of MediaPipe's refined-landmark graph).
const EYE_CONTOUR_RIGHT: [usize; 16] = [
    33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173,
];
const EYE_CONTOUR_LEFT: [usize; 16] = [
    263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398,
];
/// File names inside the model folder (as extracted from the wheel).
pub const DETECTOR_SHORT: &str = "face_detection_short_range.tflite";
pub const DETECTOR_FULL: &str = "face_detection_full_range_sparse.tflite";
pub const FACE_MESH: &str = "face_landmark.tflite";
pub const IRIS: &str = "iris_landmark.tflite";
pub const ALL_FILES: [&str; 4] = [DETECTOR_SHORT, DETECTOR_FULL, FACE_MESH, IRIS];

/// A rotated square in the image: what a model's crop covers.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Roi {
    pub center: Point,
    pub size: f32,
    /// Radians; the crop's x axis points along (cos, sin) in the image.
    pub angle: f32,
}

impl Roi {
    /// Image point of a crop point given in [0, 1] crop coordinates.
    fn to_image(self, u: f32, v: f32) -> Point {
        let (dx, dy) = ((u - 0.5) * self.size, (v - 0.5) * self.size);
        let (s, c) = self.angle.sin_cos();
        Point::new(
            self.center.x + dx * c - dy * s,
            self.center.y + dx * s + dy * c,
        )
    }
}

/// One face found by the detector, in image pixels.
#[derive(Debug, Clone)]
pub struct Detection {
    pub rect: Rect,
    pub score: f32,
    /// Right eye, left eye (the subject's), nose tip, mouth, right ear, left ear.
    pub keypoints: [Point; 6],
}

/// The mesh of one face: points in image pixels, depth in pixels (smaller is
/// nearer the camera), the face-presence score, and the crop it came from.
#[derive(Debug, Clone)]
pub struct MeshResult {
    pub points: Vec<Point>,
    pub depth: Vec<f32>,
    pub score: f32,
    pub roi: Roi,
}

pub struct MeshModels {
    short: TfliteModel,
    full: TfliteModel,
    mesh: TfliteModel,
    iris: TfliteModel,
    short_anchors: Vec<Point>,
    full_anchors: Vec<Point>,
}

impl MeshModels {
    pub fn load(dir: &Path) -> Result<Self> {
        let short = TfliteModel::from_file(&dir.join(DETECTOR_SHORT))?;
        let full = TfliteModel::from_file(&dir.join(DETECTOR_FULL))?;
        let mesh = TfliteModel::from_file(&dir.join(FACE_MESH))?;
        let iris = TfliteModel::from_file(&dir.join(IRIS))?;
        Ok(Self {
            short_anchors: anchors(128, &[8, 16, 16, 16], true),
            full_anchors: anchors(192, &[4], false),
            short,
            full,
            mesh,
            iris,
        })
    }

    /// Where the detector looks, in order, until a face is found: the whole
    /// image upright, then turned, then tiles.
    fn views(image: &RgbImage) -> Vec<Roi> {
        // BlazeFace is trained on upright faces: a head thrown back or lying
        // sideways is looked for in turned copies when the upright one finds none.
        let (w, h) = (image.width() as f32, image.height() as f32);
        let centre = Point::new(w / 2.0, h / 2.0);
        let mut views = Vec::new();
        for degrees in [0.0f32, -30.0, 30.0, -60.0, 60.0, -90.0, 90.0] {
            // The square that holds the whole image at any turn.
            let size = if degrees == 0.0 {
                w.max(h)
            } else {
                (w * w + h * h).sqrt()
            };
            views.push(Roi {
                center: centre,
                size,
                angle: degrees.to_radians(),
            });
        }
        // Then a small face far from upright: overlapping tiles, turned, at
        // two sizes (a face thrown back measures under a tenth of the image).
        for (fraction, grid) in [(0.5f32, 3usize), (0.35, 4)] {
            let tile = fraction * w.max(h);
            for degrees in [0.0f32, -40.0, 40.0, -70.0, 70.0] {
                for ty in 0..grid {
                    for tx in 0..grid {
                        let step = (grid - 1) as f32;
                        let c = Point::new(
                            tile / 2.0 + (w - tile).max(0.0) * tx as f32 / step,
                            tile / 2.0 + (h - tile).max(0.0) * ty as f32 / step,
                        );
                        views.push(Roi {
                            center: c,
                            size: tile,
                            angle: degrees.to_radians(),
                        });
                    }
                }
            }
        }
        views
    }

    /// Faces found in one view by both detectors (short range for close
    /// faces, full range for small ones), merged, best first.
    fn detect_in(&self, pyramid: &Pyramid, letterbox: &Roi) -> Result<Vec<Detection>> {
        let mut all = self.run_detector(Detector::Short, pyramid, letterbox)?;
        all.extend(self.run_detector(Detector::Full, pyramid, letterbox)?);
        Ok(weighted_nms(all, 0.3))
    }

    /// One detector's raw detections in `letterbox` (no suppression).
    fn run_detector(
        &self,
        which: Detector,
        pyramid: &Pyramid,
        letterbox: &Roi,
    ) -> Result<Vec<Detection>> {
        let (model, anchors, threshold) = match which {
            Detector::Short => (&self.short, &self.short_anchors, 0.5),
            Detector::Full => (&self.full, &self.full_anchors, 0.6),
        };
        let (size, _) = model.input_size;
        let out = model.run(pyramid.crop(letterbox, size, false, -1.0, 1.0))?;
        let (Some(boxes), Some(scores)) = (out.first(), out.get(1)) else {
            return Ok(Vec::new());
        };
        Ok(decode(
            boxes,
            scores,
            anchors,
            size as f32,
            threshold,
            letterbox,
        ))
    }

    /// The crop the mesh model expects around a detection.
    pub fn roi_from_detection(d: &Detection) -> Roi {
        let [re, le, ..] = d.keypoints;
        let angle = (le.y - re.y).atan2(le.x - re.x);
        Roi {
            center: d.rect.center(),
            size: d.rect.w.max(d.rect.h) * 1.5,
            angle,
        }
    }

    /// The crop for the next pass (or frame) around a mesh: aligned with the
    /// eye corners, 1.5 times the mesh's extent in that frame.
    pub fn roi_from_points(points: &[Point]) -> Option<Roi> {
        let (a, b) = (*points.get(33)?, *points.get(263)?);
        let angle = (b.y - a.y).atan2(b.x - a.x);
        let (s, c) = angle.sin_cos();
        let (mut lo, mut hi) = (
            Point::new(f32::MAX, f32::MAX),
            Point::new(f32::MIN, f32::MIN),
        );
        for p in &points[..FACE_MESH_POINTS.min(points.len())] {
            // Rotate into the face's frame.
            let (u, v) = (p.x * c + p.y * s, -p.x * s + p.y * c);
            lo = Point::new(lo.x.min(u), lo.y.min(v));
            hi = Point::new(hi.x.max(u), hi.y.max(v));
        }
        let (mu, mv) = ((lo.x + hi.x) / 2.0, (lo.y + hi.y) / 2.0);
        let center = Point::new(mu * c - mv * s, mu * s + mv * c);
        let size = (hi.x - lo.x).max(hi.y - lo.y) * 1.5;
        (size.is_finite() && size > 4.0).then_some(Roi {
            center,
            size,
            angle,
        })
    }

    /// The 478-point mesh inside `roi`, or None when the model sees no face there.
    pub fn mesh(&self, image: &RgbImage, roi: &Roi) -> Result<Option<MeshResult>> {
        let pyramid = Pyramid::new(image);
        self.mesh_with(&pyramid, roi)
    }

    /// Detection, then two mesh passes (the second on the crop the first
    /// mesh implies, as MediaPipe's tracking does), then the irises.
    pub fn analyze(&self, image: &RgbImage) -> Result<Vec<MeshResult>> {
        let pyramid = Pyramid::new(image);
        // A view whose detections the mesh model rejects (a weak detection
        // on an unusual pose) does not end the search.
        for (index, view) in Self::views(image).into_iter().enumerate() {
            let mut detections = self.detect_in(&pyramid, &view)?;
            if index == 0 && !detections.is_empty() {
                // Faces found upright: smaller ones beside them (a group, a
                // face in the background) can be too few pixels at the
                // detector's input, so the four quarters get a look too.
                detections.extend(self.small_faces(&pyramid, image, &detections)?);
            }
            let mut faces: Vec<MeshResult> = Vec::new();
            for d in detections {
                let Some(first) = self.mesh_with(&pyramid, &Self::roi_from_detection(&d))? else {
                    continue;
                };
                let refined = match Self::roi_from_points(&first.points) {
                    Some(roi) => self.mesh_with(&pyramid, &roi)?.unwrap_or(first),
                    None => first,
                };
                // Two detections of one face mesh to the same place.
                if faces
                    .iter()
                    .any(|f| f.roi.center.dist(refined.roi.center) < 0.3 * f.roi.size)
                {
                    continue;
                }
                faces.push(refined);
            }
            if !faces.is_empty() {
                return Ok(faces);
            }
        }
        Ok(Vec::new())
    }

    /// Detections in the image's four overlapping quarters (the full-range
    /// detector, upright) that none of `known` covers.
    fn small_faces(
        &self,
        pyramid: &Pyramid,
        image: &RgbImage,
        known: &[Detection],
    ) -> Result<Vec<Detection>> {
        let (w, h) = (image.width() as f32, image.height() as f32);
        let tile = 0.6 * w.max(h);
        let mut found = Vec::new();
        for (fx, fy) in [(0.0f32, 0.0f32), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
            let roi = Roi {
                center: Point::new(
                    tile / 2.0 + (w - tile).max(0.0) * fx,
                    tile / 2.0 + (h - tile).max(0.0) * fy,
                ),
                size: tile,
                angle: 0.0,
            };
            found.extend(self.run_detector(Detector::Full, pyramid, &roi)?);
        }
        Ok(weighted_nms(found, 0.3)
            .into_iter()
            .filter(|d| {
                !known
                    .iter()
                    .any(|k| k.rect.iou(&d.rect) > 0.2 || inside(&k.rect, d.rect.center()))
            })
            .collect())
    }

    fn mesh_with(&self, pyramid: &Pyramid, roi: &Roi) -> Result<Option<MeshResult>> {
        let (size, _) = self.mesh.input_size;
        let out = self.mesh.run(pyramid.crop(roi, size, false, 0.0, 1.0))?;
        let (Some(raw), Some(flag)) = (out.first(), out.get(1)) else {
            return Ok(None);
        };
        let score = sigmoid(flag.first().copied().unwrap_or(-100.0));
        if score < 0.5 || raw.len() < FACE_MESH_POINTS * 3 {
            return Ok(None);
        }
        let n = size as f32;
        let mut points = Vec::with_capacity(MESH_POINTS);
        let mut depth = Vec::with_capacity(MESH_POINTS);
        for k in 0..FACE_MESH_POINTS {
            let (x, y, z) = (raw[3 * k], raw[3 * k + 1], raw[3 * k + 2]);
            points.push(roi.to_image(x / n, y / n));
            depth.push(z / n * roi.size);
        }
        if points.iter().any(|p| !p.x.is_finite() || !p.y.is_finite()) {
            return Ok(None);
        }
        // Irises: subject's right eye (image left, corners 33/133), then left (362/263).
        for (outer, inner, flip) in [(33usize, 133usize, false), (362, 263, true)] {
            let (a, b) = (points[outer], points[inner]);
            let width = a.dist(b);
            let eye_roi = Roi {
                center: a.lerp(b, 0.5),
                size: width * 2.3,
                angle: (b.y - a.y).atan2(b.x - a.x),
            };
            let (isize, _) = self.iris.input_size;
            let out = self
                .iris
                .run(pyramid.crop(&eye_roi, isize, flip, 0.0, 1.0))?;
            let iris = out.get(1).filter(|v| v.len() >= 15);
            let m = isize as f32;
            let to_image = |x: f32, y: f32| {
                let u = x / m;
                eye_roi.to_image(if flip { 1.0 - u } else { u }, y / m)
            };
            if let Some(contour) = out.first().filter(|v| v.len() >= 71 * 3) {
                let targets = if flip {
                    &EYE_CONTOUR_LEFT
                } else {
                    &EYE_CONTOUR_RIGHT
                };
                // The face mesh alone follows a closing lid only part of the way.
                let lids: Vec<Point> = (0..targets.len())
                    .map(|k| to_image(contour[3 * k], contour[3 * k + 1]))
                    .collect();
                let iris_centre = iris.map(|v| to_image(v[0], v[1]));
                // On an eye seen edge-on the iris model can lose the lids:
                // then the mesh's own stay.
                let moved = lids
                    .iter()
                    .zip(targets)
                    .map(|(p, &t)| p.dist(points[t]))
                    .sum::<f32>()
                    / targets.len() as f32;
                let sane = lids.iter().all(|p| p.x.is_finite() && p.y.is_finite())
                    && moved < 0.2 * width
                    && iris_centre.is_none_or(|c| point_in_polygon(c, &lid_loop(&lids)));
                if sane {
                    for (p, &t) in lids.iter().zip(targets) {
                        points[t] = *p;
                    }
                }
            }
            let eye_depth = (depth[outer] + depth[inner]) / 2.0;
            for k in 0..5 {
                let p = match iris {
                    Some(v) => to_image(v[3 * k], v[3 * k + 1]),
                    // No iris output: the eye's centre keeps the layout whole.
                    None => eye_roi.center,
                };
                points.push(p);
                depth.push(eye_depth);
            }
        }
        Ok(Some(MeshResult {
            points,
            depth,
            score,
            roi: *roi,
        }))
    }
}

#[derive(Clone, Copy)]
enum Detector {
    Short,
    Full,
}

fn inside(r: &Rect, p: Point) -> bool {
    p.x >= r.x && p.x <= r.right() && p.y >= r.y && p.y <= r.bottom()
}

/// The lids as one closed loop: the lower lid corner to corner (the first
/// 9 points), then the upper lid back from the far corner.
fn lid_loop(lids: &[Point]) -> Vec<Point> {
    let (lower, upper) = lids.split_at(9.min(lids.len()));
    lower.iter().chain(upper.iter().rev()).copied().collect()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-100.0, 100.0)).exp())
}

/// SSD anchor centres (MediaPipe's SsdAnchorsCalculator with fixed anchor
/// size): layers of equal stride share a grid; each layer gives one anchor
/// per cell, two when an interpolated scale is used.
fn anchors(input: usize, strides: &[usize], interpolated: bool) -> Vec<Point> {
    let mut out = Vec::new();
    let mut layer = 0;
    while layer < strides.len() {
        let stride = strides[layer];
        let mut per_cell = 0;
        while layer < strides.len() && strides[layer] == stride {
            per_cell += if interpolated { 2 } else { 1 };
            layer += 1;
        }
        let grid = input.div_ceil(stride);
        for y in 0..grid {
            for x in 0..grid {
                let c = Point::new(
                    (x as f32 + 0.5) / grid as f32,
                    (y as f32 + 0.5) / grid as f32,
                );
                out.extend(std::iter::repeat_n(c, per_cell));
            }
        }
    }
    out
}

fn decode(
    boxes: &[f32],
    scores: &[f32],
    anchors: &[Point],
    scale: f32,
    threshold: f32,
    letterbox: &Roi,
) -> Vec<Detection> {
    let mut out = Vec::new();
    for (i, a) in anchors.iter().enumerate() {
        let Some(&raw_score) = scores.get(i) else {
            break;
        };
        let score = sigmoid(raw_score);
        let Some(r) = boxes.get(i * 16..i * 16 + 16) else {
            break;
        };
        if score < threshold {
            continue;
        }
        let cx = r[0] / scale + a.x;
        let cy = r[1] / scale + a.y;
        let (bw, bh) = (r[2] / scale, r[3] / scale);
        if !(bw > 0.0 && bh > 0.0) {
            continue;
        }
        // Centre through the (possibly rotated) letterbox; the box stays upright.
        let c = letterbox.to_image(cx, cy);
        let (rw, rh) = (bw * letterbox.size, bh * letterbox.size);
        let rect = Rect::new(c.x - rw / 2.0, c.y - rh / 2.0, rw, rh);
        let mut keypoints = [Point::default(); 6];
        for (k, kp) in keypoints.iter_mut().enumerate() {
            *kp = letterbox.to_image(r[4 + 2 * k] / scale + a.x, r[5 + 2 * k] / scale + a.y);
        }
        out.push(Detection {
            rect,
            score,
            keypoints,
        });
    }
    out
}

/// MediaPipe's weighted NMS: each cluster of overlapping boxes becomes their
/// score-weighted mean, with the best score.
fn weighted_nms(mut dets: Vec<Detection>, iou: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out: Vec<Detection> = Vec::new();
    while let Some(best) = dets.first().cloned() {
        let (cluster, rest): (Vec<_>, Vec<_>) =
            dets.into_iter().partition(|d| d.rect.iou(&best.rect) > iou);
        dets = rest;
        let total: f32 = cluster.iter().map(|d| d.score).sum();
        let mut merged = best.clone();
        if total > 0.0 {
            let avg = |f: &dyn Fn(&Detection) -> f32| {
                cluster.iter().map(|d| f(d) * d.score).sum::<f32>() / total
            };
            merged.rect = Rect::new(
                avg(&|d| d.rect.x),
                avg(&|d| d.rect.y),
                avg(&|d| d.rect.w),
                avg(&|d| d.rect.h),
            );
            for k in 0..6 {
                merged.keypoints[k] =
                    Point::new(avg(&|d| d.keypoints[k].x), avg(&|d| d.keypoints[k].y));
            }
        }
        out.push(merged);
    }
    out
}

/// The image and its halvings, so a crop is never sampled at more than twice
/// its pixel pitch (bilinear sampling of a far larger image aliases).
struct Pyramid<'a> {
    base: &'a RgbImage,
    levels: Vec<RgbImage>,
}

impl<'a> Pyramid<'a> {
    fn new(base: &'a RgbImage) -> Self {
        let mut levels: Vec<RgbImage> = Vec::new();
        loop {
            let last = levels.last().unwrap_or(base);
            if last.width() < 96 || last.height() < 96 {
                break;
            }
            levels.push(halve(last));
        }
        Self { base, levels }
    }

    /// A `size`x`size` HWC crop of `roi`, values mapped from 0..255 to lo..hi;
    /// outside the image is black. `flip` mirrors it left to right.
    fn crop(&self, roi: &Roi, size: usize, flip: bool, lo: f32, hi: f32) -> Vec<f32> {
        let pitch = roi.size / size as f32;
        let mut level = 0usize;
        while level < self.levels.len() && pitch / (1u32 << (level + 1)) as f32 >= 1.0 {
            level += 1;
        }
        let img = if level == 0 {
            self.base
        } else {
            &self.levels[level - 1]
        };
        let factor = (1u32 << level) as f32;
        let (w, h) = (img.width() as i64, img.height() as i64);
        let raw = img.as_raw();
        let scale = (hi - lo) / 255.0;
        let mut out = Vec::with_capacity(size * size * 3);
        for row in 0..size {
            for col in 0..size {
                let u = (col as f32 + 0.5) / size as f32;
                let u = if flip { 1.0 - u } else { u };
                let p = roi.to_image(u, (row as f32 + 0.5) / size as f32);
                // Pixel centres of the level sit at (i + 0.5) * factor.
                let (x, y) = (p.x / factor - 0.5, p.y / factor - 0.5);
                let (x0, y0) = (x.floor(), y.floor());
                let (fx, fy) = (x - x0, y - y0);
                let (x0, y0) = (x0 as i64, y0 as i64);
                let mut acc = [0.0f32; 3];
                for (dy, wy) in [(0, 1.0 - fy), (1, fy)] {
                    for (dx, wx) in [(0, 1.0 - fx), (1, fx)] {
                        let (xx, yy) = (x0 + dx, y0 + dy);
                        if xx < 0 || yy < 0 || xx >= w || yy >= h {
                            continue;
                        }
                        let i = ((yy * w + xx) * 3) as usize;
                        let wgt = wx * wy;
                        for c in 0..3 {
                            acc[c] += wgt * f32::from(raw[i + c]);
                        }
                    }
                }
                out.extend(acc.iter().map(|v| lo + v * scale));
            }
        }
        out
    }
}

fn halve(img: &RgbImage) -> RgbImage {
    let (w, h) = (img.width() / 2, img.height() / 2);
    RgbImage::from_fn(w, h, |x, y| {
        let mut acc = [0u16; 3];
        for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let p = img.get_pixel(2 * x + dx, 2 * y + dy).0;
            for c in 0..3 {
                acc[c] += u16::from(p[c]);
            }
        }
        image::Rgb(acc.map(|v| ((v + 2) / 4) as u8))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_counts_match_the_models() {
        assert_eq!(anchors(128, &[8, 16, 16, 16], true).len(), 896);
        assert_eq!(anchors(192, &[4], false).len(), 2304);
    }

    #[test]
    fn roi_maps_crop_corners_with_rotation() {
        let roi = Roi {
            center: Point::new(100.0, 50.0),
            size: 20.0,
            angle: std::f32::consts::FRAC_PI_2,
        };
        let p = roi.to_image(1.0, 0.5);
        assert!(
            (p.x - 100.0).abs() < 1e-4 && (p.y - 60.0).abs() < 1e-4,
            "{p:?}"
        );
    }

    #[test]
    fn nms_merges_overlaps_and_keeps_separate_faces() {
        let d = |x: f32, s: f32| Detection {
            rect: Rect::new(x, 0.0, 10.0, 10.0),
            score: s,
            keypoints: [Point::new(x, 0.0); 6],
        };
        let out = weighted_nms(vec![d(0.0, 0.9), d(1.0, 0.6), d(50.0, 0.7)], 0.3);
        assert_eq!(out.len(), 2);
        assert!((out[0].rect.x - 0.4).abs() < 1e-4 && out[0].score == 0.9);
    }
}

//! Figures for the mouth, measured on the decoded frames with the landmarks
//! tracked on them: does it close on p/b/m and in pauses, is there an edge
//! inside it the photo never had (a drawn outline, a notch, a step), does a
//! grey picture stay grey, is the inside as sharp as the face around it, and
//! do teeth ever show below the lower lip.

use super::{mouth_open, pick};
use crate::geometry::{grow_polygon, point_in_polygon, smooth_closed, Point, Rect};
use image::RgbImage;
use serde::Serialize;

/// Landmarks of the inner lip contour (68-point layout).
const INNER: [usize; 8] = [60, 61, 62, 63, 64, 65, 66, 67];
/// The outer lip contour.
const OUTER: [usize; 12] = [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59];
/// The lower lip between its corners: outer edge left to right, then the
/// inner edge back.
const LOWER_LIP: [usize; 8] = [59, 58, 57, 56, 55, 65, 66, 67];
/// The columns a lip gap is read along: outer upper to outer lower lip.
const COLUMNS: [(usize, usize); 3] = [(50, 58), (51, 57), (52, 56)];
/// The lip bands' columns in the source: (outer, inner) lip points.
const LIP_BANDS: [(usize, usize); 6] = [(50, 61), (51, 62), (52, 63), (58, 67), (57, 66), (56, 65)];
/// A sample this far (RGB distance) from every lip colour of the source is
/// not lip.
const NOT_LIP: f64 = 40.0;
/// An opening below this (gap over mouth width) has too little inside to
/// measure its edges or sharpness.
const OPEN_ENOUGH: f64 = 0.12;
/// Quiet spans at least this long are pauses the lips must close in.
pub const LONG_PAUSE_S: f64 = 0.35;
/// The lips may take this long to close after a pause starts (and to open
/// before it ends).
const PAUSE_MARGIN_S: f64 = 0.12;

#[derive(Debug, Clone, Serialize)]
pub struct MouthFigures {
    /// The source's own lip gap over mouth width. Gaps are read in the
    /// pixels between the tracked outer lips (`pixel_gap`).
    pub source_gap: f64,
    /// The widest gap at a p/b/m closure (the smallest gap within each
    /// closure, the largest over closures), and how many were measured.
    pub pbm_gap_max: f64,
    pub pbm_closures: usize,
    /// The gap of the open frames (90th percentile of every frame's gap):
    /// the measure sees the mouth open in speech.
    pub open_gap: f64,
    /// The widest gap inside long pauses (their inner part).
    pub pause_gap_max: f64,
    pub pause_frames: usize,
    /// The strongest edge along the open mouth's inner boundary, where lips
    /// meet what is painted or reused inside (98th percentile of the Sobel
    /// magnitude within 1.5 px of the tracked inner lip, worst frame), over
    /// the source's own lip edge: a drawn outline, notch or step shows here.
    pub edge_ratio: f64,
    /// 98th-percentile chroma (max - min of RGB) of the mouth, worst frame,
    /// and of the source's face.
    pub chroma: f64,
    pub source_chroma: f64,
    /// Sharpness (one minus the re-blur ratio of Crété et al.) of the open
    /// mouth's inside over that of the face around it, median of open frames.
    pub interior_sharpness: f64,
    pub open_frames: usize,
    /// Frames where teeth-bright pixels cover the lower lip.
    pub teeth_below_lip_frames: usize,
}

/// What the source's mouth looks like: the references for the figures.
struct SourceMouth {
    gap: f64,
    /// The colours of the source's lips and of the skin just past them.
    palette: Vec<[f64; 3]>,
    lip_edge: f64,
    chroma: f64,
    /// Luma above which a pixel on the lower lip reads as a tooth.
    teeth_luma: f64,
    /// Share of the source's own lower lip that is that bright.
    teeth_share: f64,
}

/// Follows the mouth through the frames.
pub(super) struct MouthMeter {
    source: SourceMouth,
    /// Frame ranges of the p/b/m closures (inclusive).
    closures: Vec<(usize, usize)>,
    /// Frame ranges to be closed in (inclusive).
    pauses: Vec<(usize, usize)>,
    gaps: Vec<Option<f64>>,
    edges: Vec<f64>,
    chroma: Vec<f64>,
    sharpness: Vec<f64>,
    teeth_below: usize,
}

impl MouthMeter {
    /// `closures` and `pauses` are time spans in seconds.
    pub(super) fn new(
        src: &RgbImage,
        src_lm: &[Point],
        closures: &[(f64, f64)],
        pauses: &[(f64, f64)],
        fps: f64,
    ) -> Self {
        let frames = |&(a, b): &(f64, f64)| {
            let (f0, f1) = ((a * fps).ceil(), (b * fps).floor());
            (f1 >= f0 && f0 >= 0.0).then_some((f0 as usize, f1 as usize))
        };
        let pauses = pauses
            .iter()
            .filter(|(a, b)| b - a >= LONG_PAUSE_S)
            .map(|&(a, b)| (a + PAUSE_MARGIN_S, b - PAUSE_MARGIN_S))
            .filter_map(|s| frames(&s))
            .collect();
        MouthMeter {
            source: SourceMouth::measure(src, src_lm),
            closures: closures.iter().filter_map(frames).collect(),
            pauses,
            gaps: Vec::new(),
            edges: Vec::new(),
            chroma: Vec::new(),
            sharpness: Vec::new(),
            teeth_below: 0,
        }
    }

    /// Measures frame `index`; `lm` is None where the face was lost.
    pub(super) fn offer(&mut self, index: usize, img: &RgbImage, lm: Option<&[Point]>) {
        if self.gaps.len() <= index {
            self.gaps.resize(index + 1, None);
        }
        let Some(l) = lm.filter(|l| l.len() == 68) else {
            return;
        };
        let gap = mouth_open(l);
        self.gaps[index] = Some(pixel_gap(img, l, &self.source.palette));
        let outer = pick(l, &OUTER);
        self.chroma.push(percentile(
            region(img, &outer, -1.0).map(|(x, y)| chroma(img, x, y)),
            0.98,
        ));
        let lower = pick(l, &LOWER_LIP);
        let band: Vec<f64> = region(img, &lower, 1.0)
            .map(|(x, y)| luma(img, x, y))
            .collect();
        if band.len() >= 10 {
            let bright = band.iter().filter(|&&v| v > self.source.teeth_luma).count();
            if bright as f64 / band.len() as f64 > self.source.teeth_share + 0.1 {
                self.teeth_below += 1;
            }
        }
        if gap < OPEN_ENOUGH {
            return;
        }
        let inner = pick(l, &INNER);
        let boundary = smooth_closed(&inner, 4);
        self.edges.push(percentile(
            near(img, &boundary, 1.5).map(|(x, y)| sobel(img, x, y)),
            0.98,
        ));
        let inside: Vec<(u32, u32)> = region(img, &inner, 1.0).collect();
        let width = f64::from(l[54].dist(l[48]));
        let grown = grow_polygon(&inner, 2.0);
        let face: Vec<(u32, u32)> = around(img, &outer, 0.35 * Rect::bounding(&outer).w)
            .filter(|&(x, y)| !point_in_polygon(centre(x, y), &grown))
            .collect();
        if inside.len() as f64 >= 0.02 * width * width {
            if let (Some(a), Some(b)) = (sharpness(img, &inside), sharpness(img, &face)) {
                self.sharpness.push(a / b.max(1e-6));
            }
        }
    }

    pub(super) fn figures(&self) -> MouthFigures {
        let at = |f: usize| self.gaps.get(f).copied().flatten();
        let mut pbm = Vec::new();
        for &(a, b) in &self.closures {
            // The closure may land a frame early or late.
            let lo = a.saturating_sub(1);
            let smallest = (lo..=b + 1).filter_map(at).fold(f64::MAX, f64::min);
            if smallest < f64::MAX {
                tracing::debug!(first = a, last = b, gap = smallest, "p/b/m closure");
                pbm.push(smallest);
            }
        }
        let mut pause = Vec::new();
        for &(a, b) in &self.pauses {
            for f in a..=b {
                if let Some(g) = at(f) {
                    tracing::debug!(frame = f, gap = g, "pause");
                    pause.push(g);
                }
            }
        }
        let max = |v: &[f64]| v.iter().copied().fold(0.0f64, f64::max);
        let all: Vec<f64> = self.gaps.iter().copied().flatten().collect();
        let mut sharp = self.sharpness.clone();
        sharp.sort_by(f64::total_cmp);
        MouthFigures {
            source_gap: self.source.gap,
            pbm_gap_max: max(&pbm),
            pbm_closures: pbm.len(),
            open_gap: percentile(all.into_iter(), 0.9),
            pause_gap_max: max(&pause),
            pause_frames: pause.len(),
            edge_ratio: max(&self.edges) / self.source.lip_edge.max(1.0),
            chroma: max(&self.chroma),
            source_chroma: self.source.chroma,
            interior_sharpness: sharp.get(sharp.len() / 2).copied().unwrap_or(0.0),
            open_frames: self.sharpness.len(),
            teeth_below_lip_frames: self.teeth_below,
        }
    }
}

impl SourceMouth {
    fn measure(src: &RgbImage, l: &[Point]) -> SourceMouth {
        let outer = pick(l, &OUTER);
        let inner = pick(l, &INNER);
        // The lip's edge: along its outer contour and, where the photo
        // parts them, its inner one.
        let lip_edge = percentile(
            near(src, &outer, 2.0)
                .chain(near(src, &inner, 2.0))
                .map(|(x, y)| sobel(src, x, y)),
            0.98,
        );
        let face = pick(l, &(0..27).collect::<Vec<_>>());
        let face_hull = hull(&face);
        let chroma = percentile(
            region(src, &face_hull, 0.0).map(|(x, y)| chroma(src, x, y)),
            0.98,
        );
        let lower = pick(l, &LOWER_LIP);
        let band: Vec<f64> = region(src, &lower, 1.0)
            .map(|(x, y)| luma(src, x, y))
            .collect();
        let lip_top = percentile(band.iter().copied(), 0.9);
        let teeth_luma = (lip_top + 30.0).min(235.0);
        let teeth_share =
            band.iter().filter(|&&v| v > teeth_luma).count() as f64 / band.len().max(1) as f64;
        // Lip colours as the light falls across both lips.
        let mut palette = Vec::new();
        for &(o, i) in &LIP_BANDS {
            for k in 1..=6 {
                palette.push(colour_at(src, l[o].lerp(l[i], k as f32 / 8.0)));
            }
        }
        tracing::trace!(?palette, lips = ?&l[48..68], "source lip palette");
        SourceMouth {
            gap: pixel_gap(src, l, &palette),
            palette,
            lip_edge,
            chroma,
            teeth_luma,
            teeth_share,
        }
    }
}

/// The lips' opening as the pixels show it, over the mouth width: along
/// each column from the outer upper to the outer lower lip, the longest run
/// of samples unlike every lip colour of the source (teeth, cavity, tongue
/// in shadow) between lip samples, the widest column. A closed mouth's seam is a
/// crease a pixel or two wide; tracked inner-lip points cannot tell that
/// from a small opening.
fn pixel_gap(img: &RgbImage, l: &[Point], palette: &[[f64; 3]]) -> f64 {
    let width = f64::from(l[54].dist(l[48]));
    if width < 4.0 || palette.is_empty() {
        return 0.0;
    }
    let distance = |c: [f64; 3], r: &[f64; 3]| {
        ((c[0] - r[0]).powi(2) + (c[1] - r[1]).powi(2) + (c[2] - r[2]).powi(2)).sqrt()
    };
    let mut widest = 0.0f64;
    for &(top, bottom) in &COLUMNS {
        let (a, b) = (l[top], l[bottom]);
        let len = a.dist(b);
        let steps = (2.0 * len).ceil().max(2.0) as usize;
        let lip: Vec<bool> = (0..=steps)
            .map(|k| {
                let c = colour_at(img, a.lerp(b, k as f32 / steps as f32));
                palette.iter().any(|r| distance(c, r) <= NOT_LIP)
            })
            .collect();
        // Between the first and the last lip sample: a tracked outer lip
        // may lie on the skin past the lip.
        let (Some(first), Some(last)) = (lip.iter().position(|&v| v), lip.iter().rposition(|&v| v))
        else {
            continue;
        };
        let (mut run, mut longest) = (0usize, 0usize);
        for &is_lip in &lip[first..=last] {
            if is_lip {
                run = 0;
            } else {
                run += 1;
                longest = longest.max(run);
            }
        }
        tracing::trace!(top, first, last, longest, steps, "pixel gap column");
        widest = widest.max(longest as f64 * f64::from(len) / steps as f64);
    }
    widest / width
}

/// The mean colour of the pixel nearest `p` and its four neighbours.
fn colour_at(img: &RgbImage, p: Point) -> [f64; 3] {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let mut c = [0.0f64; 3];
    if w == 0 || h == 0 || !p.x.is_finite() || !p.y.is_finite() {
        return c;
    }
    let (x, y) = (p.x.round() as i64, p.y.round() as i64);
    for (dx, dy) in [(0i64, 0i64), (1, 0), (-1, 0), (0, 1), (0, -1)] {
        let q = img.get_pixel(
            (x + dx).clamp(0, w - 1) as u32,
            (y + dy).clamp(0, h - 1) as u32,
        );
        for (v, &p) in c.iter_mut().zip(&q.0) {
            *v += f64::from(p) / 5.0;
        }
    }
    c
}

fn centre(x: u32, y: u32) -> Point {
    Point::new(x as f32, y as f32)
}

fn luma(img: &RgbImage, x: u32, y: u32) -> f64 {
    let p = img.get_pixel(x, y).0;
    0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2])
}

fn chroma(img: &RgbImage, x: u32, y: u32) -> f64 {
    let p = img.get_pixel(x, y).0;
    f64::from(p[0].max(p[1]).max(p[2]) - p[0].min(p[1]).min(p[2]))
}

/// Sobel gradient magnitude of the luma (0 on the image border).
fn sobel(img: &RgbImage, x: u32, y: u32) -> f64 {
    if x == 0 || y == 0 || x + 1 >= img.width() || y + 1 >= img.height() {
        return 0.0;
    }
    let v = |dx: i32, dy: i32| luma(img, (x as i32 + dx) as u32, (y as i32 + dy) as u32);
    let gx = v(1, -1) + 2.0 * v(1, 0) + v(1, 1) - v(-1, -1) - 2.0 * v(-1, 0) - v(-1, 1);
    let gy = v(-1, 1) + 2.0 * v(0, 1) + v(1, 1) - v(-1, -1) - 2.0 * v(0, -1) - v(1, -1);
    (gx * gx + gy * gy).sqrt() / 4.0
}

fn percentile(values: impl Iterator<Item = f64>, q: f64) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn distance_to_segment(p: Point, a: Point, b: Point) -> f32 {
    let ab = b.minus(a);
    let len2 = ab.x * ab.x + ab.y * ab.y;
    let t = if len2 < 1e-9 {
        0.0
    } else {
        (((p.x - a.x) * ab.x + (p.y - a.y) * ab.y) / len2).clamp(0.0, 1.0)
    };
    p.dist(a.plus(ab.scale(t)))
}

fn distance_to_outline(p: Point, poly: &[Point]) -> f32 {
    let n = poly.len();
    (0..n)
        .map(|i| distance_to_segment(p, poly[i], poly[(i + 1) % n]))
        .fold(f32::MAX, f32::min)
}

fn rect_pixels(img: &RgbImage, r: &Rect) -> impl Iterator<Item = (u32, u32)> {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let x0 = r.x.floor().clamp(0.0, w) as u32;
    let x1 = r.right().ceil().clamp(0.0, w) as u32;
    let y0 = r.y.floor().clamp(0.0, h) as u32;
    let y1 = r.bottom().ceil().clamp(0.0, h) as u32;
    (y0..y1).flat_map(move |y| (x0..x1).map(move |x| (x, y)))
}

/// Pixels inside `poly` at least `inset` pixels from its outline (a
/// negative inset also takes pixels that close outside it).
fn region<'a>(
    img: &RgbImage,
    poly: &'a [Point],
    inset: f32,
) -> impl Iterator<Item = (u32, u32)> + 'a {
    around(img, poly, (-inset).max(0.0) + 1.0).filter(move |&(x, y)| {
        let p = centre(x, y);
        let d = distance_to_outline(p, poly);
        if point_in_polygon(p, poly) {
            d >= inset
        } else {
            -d >= inset
        }
    })
}

/// Pixels within `radius` of the closed outline.
fn near<'a>(
    img: &RgbImage,
    poly: &'a [Point],
    radius: f32,
) -> impl Iterator<Item = (u32, u32)> + 'a {
    around(img, poly, radius + 1.0)
        .filter(move |&(x, y)| distance_to_outline(centre(x, y), poly) <= radius)
}

/// The pixels of the polygon's bounding box grown by `margin`.
fn around(img: &RgbImage, poly: &[Point], margin: f32) -> impl Iterator<Item = (u32, u32)> {
    let b = Rect::bounding(poly);
    let r = Rect::new(
        b.x - margin,
        b.y - margin,
        b.w + 2.0 * margin,
        b.h + 2.0 * margin,
    );
    rect_pixels(img, &r)
}

/// Convex hull (monotone chain), counter-clockwise.
fn hull(points: &[Point]) -> Vec<Point> {
    let mut p = points.to_vec();
    p.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    if p.len() < 3 {
        return p;
    }
    let cross =
        |o: Point, a: Point, b: Point| (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
    let mut out: Vec<Point> = Vec::with_capacity(2 * p.len());
    for pass in 0..2 {
        let start = out.len();
        let iter: Box<dyn Iterator<Item = &Point>> = if pass == 0 {
            Box::new(p.iter())
        } else {
            Box::new(p.iter().rev())
        };
        for &q in iter {
            while out.len() >= start + 2 && cross(out[out.len() - 2], out[out.len() - 1], q) <= 0.0
            {
                out.pop();
            }
            out.push(q);
        }
        out.pop();
    }
    out
}

/// Sharpness of a set of pixels: one minus the share of its neighbour
/// differences that survive a 1x7 re-blur (Crété, Dolmière, Ladret,
/// Nicolas 2007), the blurrier direction. Contrast cancels out, so a dark
/// cavity and bright skin compare. None on a flat region.
fn sharpness(img: &RgbImage, pixels: &[(u32, u32)]) -> Option<f64> {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let at = |x: i64, y: i64| luma(img, x.clamp(0, w - 1) as u32, y.clamp(0, h - 1) as u32);
    let blurred = |x: i64, y: i64, horizontal: bool| {
        (-3..=3)
            .map(|k| {
                if horizontal {
                    at(x + k, y)
                } else {
                    at(x, y + k)
                }
            })
            .sum::<f64>()
            / 7.0
    };
    let mut worst: Option<f64> = None;
    for horizontal in [true, false] {
        let (mut d_sum, mut v_sum) = (0.0f64, 0.0f64);
        for &(x, y) in pixels {
            let (x, y) = (i64::from(x), i64::from(y));
            let (px, py) = if horizontal { (x - 1, y) } else { (x, y - 1) };
            let d = (at(x, y) - at(px, py)).abs();
            let db = (blurred(x, y, horizontal) - blurred(px, py, horizontal)).abs();
            d_sum += d;
            v_sum += (d - db).max(0.0);
        }
        if d_sum < 1e-6 * pixels.len() as f64 + 1e-9 {
            return None;
        }
        let s = v_sum / d_sum;
        worst = Some(worst.map_or(s, |w: f64| w.min(s)));
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x0: f32, y0: f32, s: f32) -> Vec<Point> {
        vec![
            Point::new(x0, y0),
            Point::new(x0 + s, y0),
            Point::new(x0 + s, y0 + s),
            Point::new(x0, y0 + s),
        ]
    }

    #[test]
    fn a_blurred_copy_is_less_sharp_and_contrast_does_not_matter() {
        let noise = |x: u32, y: u32| {
            let h = (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)) % 97;
            h as f32 / 96.0
        };
        // Grain at two contrasts (both well above the rounding to whole
        // grey levels, which is itself sharp noise), and a blurred copy.
        let grain = |k: f32| {
            RgbImage::from_fn(64, 64, move |x, y| {
                let v = (125.0 + 95.0 * k * (2.0 * noise(x, y) - 1.0)).round() as u8;
                image::Rgb([v, v, v])
            })
        };
        let (sharp, faint) = (grain(1.0), grain(0.3));
        let soft = image::imageops::blur(&sharp, 1.5);
        let px: Vec<(u32, u32)> = region(&sharp, &square(10.0, 10.0, 40.0), 0.0).collect();
        let (a, b, c) = (
            sharpness(&sharp, &px).unwrap(),
            sharpness(&faint, &px).unwrap(),
            sharpness(&soft, &px).unwrap(),
        );
        assert!((a - b).abs() < 0.1 * a, "{a} {b}");
        assert!(c < 0.8 * a, "{c} {a}");
        let flat = RgbImage::from_pixel(64, 64, image::Rgb([90, 90, 90]));
        assert!(sharpness(&flat, &px).is_none());
    }

    #[test]
    fn regions_shrink_and_grow_with_the_inset() {
        let img = RgbImage::new(60, 60);
        let sq = square(10.0, 10.0, 20.0);
        let n = |inset: f32| region(&img, &sq, inset).count();
        // 21 x 21 pixel centres on or inside a 20 px square.
        assert_eq!(n(0.0), 441);
        assert!(n(2.0) < n(0.0) && n(0.0) < n(-2.0));
        assert_eq!(
            hull(&[sq.clone(), vec![Point::new(20.0, 20.0)]].concat()).len(),
            4
        );
    }
}

//! The face rig: control points and a triangle mesh over them, and the
//! mapping from a frame state (mouth pose, expression, blink, head pose) to
//! where each control point goes.
//!
//! Control points, in order:
//! - the landmarks: the classic 68-point layout read off the face's named
//!   regions, and twelve more points of the inner lip;
//! - soft-tissue helpers: lid creases and under-eye points (so lids stretch
//!   when they close), forehead points (brows move under a still forehead),
//!   cheek and chin points (smooth fall-off around the mouth);
//! - a head halo around skull and hair: it moves with the head as a whole,
//!   tapering towards the neck;
//! - a fixed outer ring: nothing outside it ever changes.
//!
//! Between halo and ring the background and neck stretch a little, so a
//! moving head never tears.

use super::perform::{FrameState, HeadPose};
use super::pose::MouthPose;
use crate::face::Regions;
use crate::geometry::{
    fit_line, fit_quadratic, point_in_polygon, smooth_closed, smoothstep, Point, Rect,
};
use spade::{ConstrainedDelaunayTriangulation, HasPosition, Point2, Triangulation};

pub const LANDMARKS: usize = 68;
/// Landmarks the rig moves: the 68-point layout, then twelve more points of
/// the inner lip between its own (the mesh's dense contour), so a closing
/// smile's lips meet along a smooth line and no teeth hide between points.
pub const RIG_LANDMARKS: usize = 80;
/// Inner lip contour, in order around the mouth opening: the left corner,
/// the upper lip, the right corner (position 10), the lower lip back.
pub const INNER_LIP: [usize; 20] = [
    60, 68, 69, 61, 70, 62, 71, 63, 72, 73, 64, 74, 75, 65, 76, 66, 77, 67, 78, 79,
];
/// The inner lip's columns (upper, lower), left to right, corners excluded.
pub const LIP_COLUMNS: [(usize, usize); 9] = [
    (68, 79),
    (69, 78),
    (61, 67),
    (70, 77),
    (62, 66),
    (71, 76),
    (63, 65),
    (72, 75),
    (73, 74),
];
/// Where each extra inner-lip point (68..80) lies between the layout's own:
/// (from, to, fraction along the contour).
const EXTRA_BETWEEN: [(usize, usize, f32); 12] = [
    (60, 61, 1.0 / 3.0),
    (60, 61, 2.0 / 3.0),
    (61, 62, 0.5),
    (62, 63, 0.5),
    (63, 64, 1.0 / 3.0),
    (63, 64, 2.0 / 3.0),
    (64, 65, 1.0 / 3.0),
    (64, 65, 2.0 / 3.0),
    (65, 66, 0.5),
    (66, 67, 0.5),
    (67, 60, 1.0 / 3.0),
    (67, 60, 2.0 / 3.0),
];
/// How much of its neighbours' shape (spread, smile, rounding) each extra
/// takes from the second of them: the ones beside a corner move nearly
/// with it, so the small triangles there never fold.
const EXTRA_SHAPE: [f32; 12] = [
    0.0, 0.45, 0.5, 0.5, 0.55, 1.0, 0.0, 0.45, 0.5, 0.5, 0.55, 1.0,
];
pub const OUTER_LIP: [usize; 12] = [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59];
pub const LEFT_EYE: [usize; 6] = [36, 37, 38, 39, 40, 41];
pub const RIGHT_EYE: [usize; 6] = [42, 43, 44, 45, 46, 47];
const RING_PER_SIDE: usize = 7;
const HALO_POINTS: usize = 18;

/// Depth of each landmark towards the camera, in inter-ocular distances,
/// relative to the eye corners (a generic face; enough for ±5° turns).
const DEPTH: [f32; LANDMARKS] = [
    -0.95, -0.85, -0.7, -0.55, -0.4, -0.25, -0.1, 0.0, 0.05, 0.0, -0.1, -0.25, -0.4, -0.55, -0.7,
    -0.85, -0.95, // jaw
    -0.35, -0.15, -0.05, 0.0, 0.0, 0.0, 0.0, -0.05, -0.15, -0.35, // brows
    -0.05, 0.15, 0.35, 0.55, 0.2, 0.3, 0.4, 0.3, 0.2, // nose
    -0.2, -0.05, -0.05, -0.1, -0.05, -0.05, -0.1, -0.05, -0.05, -0.2, -0.05, -0.05, // eyes
    -0.05, 0.1, 0.2, 0.25, 0.2, 0.1, -0.05, 0.1, 0.18, 0.22, 0.18, 0.1, // outer lip
    -0.05, 0.15, 0.2, 0.15, -0.05, 0.13, 0.18, 0.13, // inner lip
];
/// The head turns about the neck, this far behind the eye corners.
const PIVOT_DEPTH: f32 = -1.0;

/// How a helper point follows the landmarks: a weighted sum of landmark
/// displacements, damped.
#[derive(Debug, Clone)]
struct Helper {
    from: Vec<(usize, f32)>,
}

/// A rigged face at output resolution.
#[derive(Debug, Clone)]
pub struct FaceRig {
    /// Source positions of all control points: landmarks, helpers, halo, ring.
    pub source: Vec<Point>,
    /// Mesh triangles as control point indices, mouth-opening triangles excluded.
    pub triangles: Vec<[usize; 3]>,
    /// The fixed ring's bounds: nothing outside it ever changes.
    pub region: Rect,
    /// Unit vector along the eye line, and the face's "down".
    pub across: Point,
    pub down: Point,
    /// Mouth width in pixels (outer lip corners).
    pub mouth_width: f32,
    /// How the source's opening (its middle lip gap, along `down`) divides
    /// between jaw and lips.
    pub opening: SourceOpening,
    /// The closed rest: where each inner-lip column and corner goes.
    rest: LipRest,
    /// Distance between the eye centres, pixels.
    pub iod: f32,
    /// Eye opening (upper to lower lid) of each eye in the source, pixels.
    pub eye_height: [f32; 2],
    /// Centre of head rotation in the image plane.
    pub pivot: Point,
    helpers: Vec<Helper>,
    /// How much of the head's motion each control point takes (0..1).
    head_weight: Vec<f32>,
    /// Depth of each control point relative to the pivot, pixels.
    depth: Vec<f32>,
}

struct Vertex {
    pos: Point2<f64>,
}

impl HasPosition for Vertex {
    type Scalar = f64;
    fn position(&self) -> Point2<f64> {
        self.pos
    }
}

/// Face frame measured from the landmarks.
struct Frame {
    across: Point,
    down: Point,
    centre: Point,
    /// Extents along `across` and `down`, relative to `centre`.
    a0: f32,
    a1: f32,
    d0: f32,
    d1: f32,
}

impl Frame {
    fn new(l: &[Point]) -> Option<Frame> {
        let eye_line = l[45].minus(l[36]);
        let eye_dist = eye_line.dist(Point::default());
        if eye_dist < 4.0 {
            return None;
        }
        let across = eye_line.scale(1.0 / eye_dist);
        let down = Point::new(-across.y, across.x);
        let centre = l
            .iter()
            .fold(Point::default(), |a, p| a.plus(*p))
            .scale(1.0 / l.len() as f32);
        let (mut a0, mut a1, mut d0, mut d1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in l {
            let r = p.minus(centre);
            let (a, d) = (dot(r, across), dot(r, down));
            a0 = a0.min(a);
            a1 = a1.max(a);
            d0 = d0.min(d);
            d1 = d1.max(d);
        }
        Some(Frame {
            across,
            down,
            centre,
            a0,
            a1,
            d0,
            d1,
        })
    }

    fn at(&self, a: f32, d: f32) -> Point {
        self.centre
            .plus(self.across.scale(a))
            .plus(self.down.scale(d))
    }
}

fn dot(a: Point, b: Point) -> f32 {
    a.x * b.x + a.y * b.y
}

/// The window the animation may touch for a face with these landmarks in an
/// image of `width`x`height`: the fixed ring's bounds. Outside it, output
/// pixels are the source's (before any camera move).
pub fn motion_region(face: &Regions, width: u32, height: u32) -> Option<Rect> {
    let b = Rect::bounding(&face.layout68());
    let (fw, fh) = (b.w, b.h);
    let x0 = (b.x - 0.42 * fw).max(0.0);
    let x1 = (b.right() + 0.42 * fw).min(width as f32 - 1.0);
    let y0 = (b.y - 0.8 * fh).max(0.0);
    let y1 = (b.bottom() + 0.5 * fh).min(height as f32 - 1.0);
    if x1 - x0 < 8.0 || y1 - y0 < 8.0 {
        return None;
    }
    Some(Rect::new(x0, y0, x1 - x0, y1 - y0))
}

impl FaceRig {
    /// Builds the rig for a face in an image of `width`x`height`.
    /// Returns None when its regions are unusable (degenerate).
    pub fn new(face: &Regions, width: u32, height: u32) -> Option<Self> {
        Self::with_opening(face, width, height, None)
    }

    /// Like `new`, with the source's opening divided as the teeth show it
    /// (None: as in speech, mostly the jaw). Its parts are scaled to the
    /// landmarks' own lip gap.
    pub fn with_opening(
        face: &Regions,
        width: u32,
        height: u32,
        opening: Option<SourceOpening>,
    ) -> Option<Self> {
        let all = rig_landmarks(face)?;
        if all.iter().any(|p| !p.x.is_finite() || !p.y.is_finite()) {
            return None;
        }
        let landmarks = &all[..LANDMARKS];
        let l = |i: usize| all[i];
        let fr = Frame::new(landmarks)?;
        let mouth_width = l(54).dist(l(48));
        if mouth_width < 4.0 {
            return None;
        }
        let (across, down) = (fr.across, fr.down);
        let along = |a: usize, b: usize| dot(l(b).minus(l(a)), down);
        let mid_gap = along(62, 66).max(0.0);
        let eye_c = |e: &[usize; 6]| {
            e.iter()
                .fold(Point::default(), |a, &i| a.plus(l(i)))
                .scale(1.0 / 6.0)
        };
        let iod = eye_c(&LEFT_EYE).dist(eye_c(&RIGHT_EYE)).max(4.0);
        let eye_height = [
            ((along(37, 41) + along(38, 40)) / 2.0).max(0.5),
            ((along(43, 47) + along(44, 46)) / 2.0).max(0.5),
        ];
        let region = motion_region(face, width, height)?;

        let mut source: Vec<Point> = all.clone();
        let mut depth: Vec<f32> = DEPTH.to_vec();
        // As the shapes: beside a corner at the corner's depth, so a turn
        // of the head moves them together.
        for (k, (a, b, _)) in EXTRA_BETWEEN.into_iter().enumerate() {
            depth.push(DEPTH[a] + (DEPTH[b] - DEPTH[a]) * EXTRA_SHAPE[k]);
        }
        let mut head_weight = vec![1.0f32; RIG_LANDMARKS];
        let mut helpers: Vec<Helper> = Vec::new();
        let mut add_helper = |p: Point, z: f32, from: Vec<(usize, f32)>| {
            source.push(p);
            depth.push(z);
            head_weight.push(1.0);
            helpers.push(Helper { from });
        };

        // Lid creases, between each upper-lid point and the brow above it:
        // they follow the brow and a little of the lid, so the lid skin
        // stretches over the eye when it closes.
        for (lid, brow_a, brow_b) in [
            (36, 17, 18),
            (37, 19, 19),
            (38, 20, 20),
            (39, 21, 21),
            (42, 22, 22),
            (43, 23, 23),
            (44, 24, 24),
            (45, 25, 26),
        ] {
            let brow = l(brow_a).lerp(l(brow_b), 0.5);
            let p = l(lid).lerp(brow, 0.45);
            add_helper(p, -0.05, vec![(lid, 0.3), (brow_a, 0.27), (brow_b, 0.27)]);
        }
        // Under the lower lids: the cheek below follows a squint a little.
        for (low, up) in [(41, 37), (40, 38), (47, 43), (46, 44)] {
            let p = l(low).plus(l(low).minus(l(up)).scale(1.1));
            add_helper(p, 0.0, vec![(low, 0.35)]);
        }
        // Forehead above the brows: still while the brows move.
        let fh = fr.d1 - fr.d0;
        for (b, z) in [
            (17, -0.35),
            (19, -0.1),
            (21, 0.0),
            (22, 0.0),
            (24, -0.1),
            (26, -0.35),
        ] {
            let p = l(b).minus(down.scale(0.5 * iod));
            add_helper(p, z, vec![(b, 0.3)]);
        }
        // Cheeks and chin: weighted by nearby landmarks, so the skin around the
        // mouth follows the lips and jaw with a smooth fall-off.
        let w = mouth_width;
        let around: Vec<usize> = (3..=13).chain(31..=35).chain(48..=59).collect();
        let idw = |p: Point, damp: f32| -> Vec<(usize, f32)> {
            let raw: Vec<(usize, f32)> = around
                .iter()
                .map(|&i| {
                    let d = p.dist(l(i)) / w;
                    (i, 1.0 / (d * d * d + 0.02))
                })
                .collect();
            let sum: f32 = raw.iter().map(|r| r.1).sum();
            raw.into_iter().map(|(i, v)| (i, damp * v / sum)).collect()
        };
        let cheek_pts = [
            (l(48).minus(across.scale(0.32 * w)), 0.7, -0.05),
            (l(54).plus(across.scale(0.32 * w)), 0.7, -0.05),
            (
                l(48).lerp(l(31), 0.5).minus(across.scale(0.22 * w)),
                0.6,
                0.0,
            ),
            (
                l(54).lerp(l(35), 0.5).plus(across.scale(0.22 * w)),
                0.6,
                0.0,
            ),
            (l(48).lerp(l(5), 0.5), 0.85, -0.1),
            (l(54).lerp(l(11), 0.5), 0.85, -0.1),
            (l(57).lerp(l(8), 0.5), 1.0, 0.15),
            (l(58).lerp(l(7), 0.5), 1.0, 0.1),
            (l(56).lerp(l(9), 0.5), 1.0, 0.1),
        ];
        for (p, damp, z) in cheek_pts {
            add_helper(p, z, idw(p, damp));
        }

        // The head halo: skull, hair and ears move with the head as a whole;
        // the points under the jaw take less of it, so the neck blends.
        let margin = (0.08 * fh).max(6.0);
        let inner = Rect::new(
            region.x + margin,
            region.y + margin,
            region.w - 2.0 * margin,
            region.h - 2.0 * margin,
        );
        let (ac, ar) = ((fr.a0 + fr.a1) / 2.0, (fr.a1 - fr.a0) / 2.0 * 1.18);
        let top = fr.d0 - 0.55 * fh;
        let bottom = fr.d1 + 0.3 * fh;
        let (dc, dr) = ((top + bottom) / 2.0, (bottom - top) / 2.0);
        let chin_level = fr.d1 - 0.15 * fh;
        for k in 0..HALO_POINTS {
            let th = k as f32 / HALO_POINTS as f32 * std::f32::consts::TAU;
            // A rounded box: fuller than an ellipse at the temples and jaw.
            let (c, s) = (th.cos(), th.sin());
            let sq = |v: f32| v.signum() * v.abs().powf(0.7);
            let (a, d) = (ac + ar * sq(c), dc + dr * sq(s));
            let p = fr.at(a, d);
            let p = Point::new(
                p.x.clamp(inner.x, inner.right()),
                p.y.clamp(inner.y, inner.bottom()),
            );
            source.push(p);
            let below = ((d - chin_level) / (bottom - chin_level)).clamp(0.0, 1.0);
            head_weight.push(1.0 - 0.45 * below);
            let side = c.abs();
            depth.push(-0.5 - 0.45 * side);
        }
        // The fixed ring.
        let (x0, y0, x1, y1) = (region.x, region.y, region.right(), region.bottom());
        for i in 0..RING_PER_SIDE {
            let t = i as f32 / RING_PER_SIDE as f32;
            for p in [
                Point::new(x0 + t * (x1 - x0), y0),
                Point::new(x1, y0 + t * (y1 - y0)),
                Point::new(x1 - t * (x1 - x0), y1),
                Point::new(x0, y1 - t * (y1 - y0)),
            ] {
                source.push(p);
                head_weight.push(0.0);
                depth.push(0.0);
            }
        }
        let depth = depth.into_iter().map(|z| (z - PIVOT_DEPTH) * iod).collect();
        let pivot = l(27).lerp(l(30), 0.6);

        let opening = scaled_opening(opening, mid_gap);
        let mut rig = FaceRig {
            source,
            triangles: Vec::new(),
            region,
            across,
            down,
            mouth_width,
            opening,
            rest: LipRest::new(&all, across, down, opening),
            iod,
            eye_height,
            pivot,
            helpers,
            head_weight,
            depth,
        };
        // Triangulate with the mouth clearly open, so that the upper and lower
        // lips are separated by the opening and no triangle spans it.
        let open = rig.deform(&FrameState::from(MouthPose {
            open: 0.7,
            ..Default::default()
        }));
        rig.triangles = triangulate(&open)?;
        Some(rig)
    }

    /// Where every control point goes for `state`.
    pub fn deform(&self, state: &FrameState) -> Vec<Point> {
        self.deform_full(state).points
    }

    /// The deformed control points and how far the jaw dropped.
    pub fn deform_full(&self, state: &FrameState) -> Deformed {
        let mut d = vec![(0.0f32, 0.0f32); RIG_LANDMARKS];
        let ex = &state.expression;
        let mut pose = state.mouth;
        pose.open = (pose.open + ex.jaw).clamp(0.0, 1.0);
        pose.press = pose.press.max(ex.press);
        let jaw = self.mouth(&mut d, &pose);
        // Shapes are written on the layout's points; the inner lip's extras
        // follow their neighbours.
        let mut shape = vec![(0.0f32, 0.0f32); RIG_LANDMARKS];
        self.mouth_shape(&mut shape, &pose);
        self.expression(&mut shape, state);
        for (k, (a, b, _)) in EXTRA_BETWEEN.into_iter().enumerate() {
            let (pa, pb, t) = (shape[a], shape[b], EXTRA_SHAPE[k]);
            shape[LANDMARKS + k] = (pa.0 + (pb.0 - pa.0) * t, pa.1 + (pb.1 - pa.1) * t);
        }
        for (v, s) in d.iter_mut().zip(&shape) {
            v.0 += s.0;
            v.1 += s.1;
        }
        self.lids(&mut d, state);

        // Face-axis offsets to image offsets.
        let (ac, dn) = (self.across, self.down);
        let to_img = |(x, y): (f32, f32)| Point::new(x * ac.x + y * dn.x, x * ac.y + y * dn.y);
        let mut disp: Vec<Point> = d.iter().map(|&v| to_img(v)).collect();
        for h in &self.helpers {
            let v = h
                .from
                .iter()
                .fold(Point::default(), |a, &(i, k)| a.plus(disp[i].scale(k)));
            disp.push(v);
        }
        disp.resize(self.source.len(), Point::default());
        let points = self
            .source
            .iter()
            .zip(&disp)
            .enumerate()
            .map(|(i, (p, v))| {
                let local = p.plus(*v);
                self.head_move(local, self.depth[i], self.head_weight[i], &state.head)
            })
            .collect();
        Deformed { points, jaw }
    }

    /// Moves a point at `depth` (pixels in front of the pivot) with a share
    /// `weight` of the head pose: turn, nod, then roll, then shift.
    pub fn head_move(&self, p: Point, depth: f32, weight: f32, h: &HeadPose) -> Point {
        if weight <= 0.0 || h.is_rest() {
            return p;
        }
        let r = p.minus(self.pivot);
        let (a, b, z) = (dot(r, self.across), dot(r, self.down), depth);
        let (yaw, pitch, roll) = (h.yaw * weight, h.pitch * weight, h.roll * weight);
        let a1 = a * yaw.cos() + z * yaw.sin();
        let z1 = -a * yaw.sin() + z * yaw.cos();
        let b1 = b * pitch.cos() + z1 * pitch.sin();
        let a2 = a1 * roll.cos() - b1 * roll.sin() + h.shift_x * weight * self.iod;
        let b2 = a1 * roll.sin() + b1 * roll.cos() + h.shift_y * weight * self.iod;
        self.pivot
            .plus(self.across.scale(a2))
            .plus(self.down.scale(b2))
    }

    /// The head's motion at one depth (in inter-ocular distances, like
    /// `DEPTH`) as an affine map of the image: source -> frame.
    pub fn head_affine(&self, h: &HeadPose, depth_iod: f32) -> Affine {
        let z = (depth_iod - PIVOT_DEPTH) * self.iod;
        let o = self.pivot;
        let ox = o.plus(Point::new(100.0, 0.0));
        let oy = o.plus(Point::new(0.0, 100.0));
        let (p0, px, py) = (
            self.head_move(o, z, 1.0, h),
            self.head_move(ox, z, 1.0, h),
            self.head_move(oy, z, 1.0, h),
        );
        let ax = px.minus(p0).scale(0.01);
        let ay = py.minus(p0).scale(0.01);
        // x' = ax.x * (x - o.x) + ay.x * (y - o.y) + p0.x
        Affine {
            m: [
                ax.x,
                ay.x,
                p0.x - ax.x * o.x - ay.x * o.y,
                ax.y,
                ay.y,
                p0.y - ax.y * o.x - ay.y * o.y,
            ],
        }
    }

    /// Lips and jaw for the mouth's opening, from the closed rest; returns
    /// the jaw drop at the lower incisors (face "down" pixels, before head
    /// motion).
    fn mouth(&self, d: &mut [(f32, f32)], pose: &MouthPose) -> f32 {
        let w = self.mouth_width;
        // A wide-open speaking mouth parts the lips by about 0.4 of its width.
        let target_gap = pose.open.clamp(0.0, 1.0) * 0.42 * w;
        // From the closed rest the jaw does most of the opening and the
        // upper lip lifts a little, less towards the corners.
        let r = &self.rest;
        let up = 0.15 * target_gap;
        let down = 0.85 * target_gap;
        for (k, &(u, l)) in LIP_COLUMNS.iter().enumerate() {
            let p = r.profile[k];
            d[u].1 += r.upper[k] - up * p;
            d[l].1 += r.lower[k] + down * p;
        }
        for (side, &(c, outer)) in [(60, 48), (64, 54)].iter().enumerate() {
            let (cx, cy) = r.corner[side];
            for i in [c, outer] {
                d[i].0 += cx;
                d[i].1 += cy + down * 0.3;
            }
        }
        // The outer lips follow their inner edges: the upper lip's red part
        // stretches over the teeth it comes down on, the lower lip rides
        // the jaw and stretches for the rest.
        let lip = |k: usize| r.upper[k];
        let jaw_part = |k: usize| r.lower[k] * r.jaw_share;
        let lip_part = |k: usize| r.lower[k] * (1.0 - r.jaw_share);
        for (i, k) in [(50, 2), (51, 4), (52, 6)] {
            d[i].1 += 0.45 * lip(k) - up * 0.8;
        }
        for (i, k) in [(49, 1), (53, 7)] {
            d[i].1 += 0.3 * lip(k) - up * 0.5;
        }
        for (i, k) in [(58, 2), (57, 4), (56, 6)] {
            d[i].1 += jaw_part(k) + 0.45 * lip_part(k) + down * 0.95;
        }
        for (i, k) in [(59, 1), (55, 7)] {
            d[i].1 += 0.8 * jaw_part(k) + 0.3 * lip_part(k) + down * 0.7;
        }
        let low = down - self.opening.jaw;
        dy(d, &[8], low * 0.8);
        dy(d, &[7, 9], low * 0.72);
        dy(d, &[6, 10], low * 0.55);
        dy(d, &[5, 11], low * 0.35);
        dy(d, &[4, 12], low * 0.15);
        dy(d, &[3, 13], low * 0.04);
        let tuck = pose.teeth_on_lip.clamp(0.0, 1.0) * 0.05 * w;
        0.9 * low - tuck * 0.3
    }

    /// Spread, rounding, pressing and the F/V tuck, on the layout's points.
    fn mouth_shape(&self, d: &mut [(f32, f32)], pose: &MouthPose) {
        let w = self.mouth_width;
        // Spread pulls the corners out; rounding pulls them in and bows the lips.
        let s = pose.spread.clamp(-1.0, 1.0);
        let corner = if s >= 0.0 { s * 0.07 * w } else { s * 0.13 * w };
        dx(d, &[48, 60], &[54, 64], corner);
        dx(d, &[49, 59], &[53, 55], corner * 0.55);
        dx(d, &[61, 67], &[63, 65], corner * 0.45);
        dx(d, &[50, 58], &[52, 56], corner * 0.2);
        if s < 0.0 {
            let bow = -s * 0.035 * w;
            dy(d, &[50, 51, 52], -bow);
            dy(d, &[56, 57, 58], bow);
        }
        // Pressed lips look thinner.
        let press = pose.press.clamp(0.0, 1.0) * 0.025 * w;
        dy(d, &[49, 50, 51, 52, 53], press);
        dy(d, &[55, 56, 57, 58, 59], -press);
        // F/V: the lower lip rises and tucks under the upper teeth.
        let tuck = pose.teeth_on_lip.clamp(0.0, 1.0) * 0.05 * w;
        dy(d, &[65, 66, 67, 56, 57, 58], -tuck * 0.6);
    }

    fn expression(&self, d: &mut [(f32, f32)], state: &FrameState) {
        let e = &state.expression;
        let w = self.mouth_width;
        let iod = self.iod;
        // Smile: corners up and out, upper lip and nose wings up a little.
        let s = e.smile;
        if s != 0.0 {
            both(d, &[48, 60], &[54, 64], 0.08 * w * s, -0.1 * w * s);
            both(d, &[49, 59], &[53, 55], 0.045 * w * s, -0.06 * w * s);
            both(d, &[61, 67], &[63, 65], 0.03 * w * s, -0.03 * w * s);
            both(d, &[50], &[52], 0.015 * w * s, -0.025 * w * s);
            dy(d, &[51, 62], -0.02 * w * s);
            both(d, &[58], &[56], 0.015 * w * s, -0.015 * w * s);
            dy(d, &[57, 66], -0.005 * w * s);
            both(d, &[31], &[35], 0.015 * w * s, -0.025 * w * s);
        }
        let f = e.frown;
        if f != 0.0 {
            both(d, &[48, 60], &[54, 64], -0.01 * w * f, 0.05 * w * f);
            dy(d, &[49, 53], 0.025 * w * f);
            dy(d, &[59, 55], 0.02 * w * f);
            dy(d, &[57], -0.01 * w * f);
        }
        let st = e.stretch;
        if st != 0.0 {
            both(d, &[48, 60], &[54, 64], 0.08 * w * st, 0.01 * w * st);
            both(d, &[49, 59], &[53, 55], 0.04 * w * st, 0.0);
            both(d, &[61, 67], &[63, 65], 0.03 * w * st, 0.0);
        }
        let sn = e.sneer;
        if sn != 0.0 {
            dy(d, &[50, 51, 52, 61, 62, 63], -0.05 * w * sn);
            dy(d, &[49, 53], -0.03 * w * sn);
            dy(d, &[31, 32, 33, 34, 35], -0.03 * w * sn);
            dy(d, &[48, 54, 60, 64], -0.01 * w * sn);
        }
        // Brows: raise (whole brow), inner raise (sad, worried), knit (angry).
        let br = e.brow_raise * 0.16 * iod;
        for (i, k) in [(17, 0.75), (18, 0.9), (19, 1.0), (20, 0.95), (21, 0.85)] {
            dy(d, &[i, 43 - i], -br * k);
        }
        let bi = e.brow_inner * iod;
        for (i, up) in [(21, 0.12), (20, 0.08), (19, 0.03), (18, 0.0), (17, -0.02)] {
            dy(d, &[i, 43 - i], -bi * up);
        }
        // Inner ends also draw together a little.
        d[21].0 += 0.01 * bi;
        d[22].0 -= 0.01 * bi;
        let bk = e.brow_knit * iod;
        for (i, down, inward) in [
            (21, 0.13, 0.045),
            (20, 0.1, 0.025),
            (19, 0.065, 0.01),
            (18, 0.04, 0.0),
            (17, 0.025, 0.0),
        ] {
            // Left brow inward is +across, right brow inward is -across.
            d[i].0 += bk * inward;
            d[i].1 += bk * down;
            d[43 - i].0 -= bk * inward;
            d[43 - i].1 += bk * down;
        }
    }

    /// Eyelids: expression (wide, droop, squint) then the blink, which
    /// brings both lids onto one curve between them (mostly the upper lid
    /// coming down), so the eye closes along its own shape and no triangle
    /// outside the eye folds.
    fn lids(&self, d: &mut [(f32, f32)], state: &FrameState) {
        let e = &state.expression;
        let eyes: [([usize; 4], [usize; 2], [usize; 2]); 2] = [
            ([36, 37, 38, 39], [37, 38], [41, 40]),
            ([42, 43, 44, 45], [43, 44], [47, 46]),
        ];
        for (eye, (ring, upper, lower)) in eyes.iter().enumerate() {
            let h = self.eye_height[eye];
            let wide = e.eyes_wide;
            let up_shift = -0.3 * h * wide + 0.1 * h * e.squint;
            let lo_shift = -0.3 * h * e.squint + if wide > 0.0 { 0.08 * h * wide } else { 0.0 };
            let pos = |i: usize, shift: f32| {
                let p = self.source[i];
                (dot(p, self.across), dot(p, self.down) + d[i].1 + shift)
            };
            let (c0, c1) = (pos(ring[0], 0.0), pos(ring[3], 0.0));
            let mut up = [pos(upper[0], up_shift), pos(upper[1], up_shift)];
            let lo = [pos(lower[0], lo_shift), pos(lower[1], lo_shift)];
            // Keep the lids apart before the blink so they never cross.
            for u in up.iter_mut() {
                let lo_here = curve_at(&[c0, lo[0], lo[1], c1], u.0);
                u.1 = u.1.min(lo_here - 0.12 * h);
            }
            let upper_curve = [c0, up[0], up[1], c1];
            let lower_curve = [c0, lo[0], lo[1], c1];
            let c = state.blink[eye].clamp(0.0, 1.0);
            for k in 0..2 {
                let (ua, uh) = up[k];
                let meet = uh + 0.78 * (curve_at(&lower_curve, ua) - uh);
                d[upper[k]].1 = uh + c * (meet - uh) - (dot(self.source[upper[k]], self.down));
                let (la, lh) = lo[k];
                let uh2 = curve_at(&upper_curve, la);
                let meet = uh2 + 0.78 * (lh - uh2);
                d[lower[k]].1 = lh + c * (meet - lh) - (dot(self.source[lower[k]], self.down));
            }
        }
    }
}

/// The rig's landmarks, read off the face's named regions: the classic
/// 68-point layout, then twelve more points of the inner lip spread evenly
/// (by arc length) on the spline through its dense contour.
pub fn rig_landmarks(face: &Regions) -> Option<Vec<Point>> {
    let ring = &face.lips_inner;
    if ring.len() != INNER_LIP.len() {
        return None;
    }
    let mut all = face.layout68();
    if all.len() != LANDMARKS {
        return None;
    }
    // Where the layout's eight inner-lip points sit on the dense contour.
    let anchors = [0, 3, 5, 7, 10, 13, 15, 17];
    const STEPS: usize = 8;
    let curve = smooth_closed(ring, STEPS);
    let n = curve.len();
    for (from, _, t) in EXTRA_BETWEEN {
        let seg = from - 60;
        let a = anchors[seg] * STEPS;
        let mut b = anchors[(seg + 1) % 8] * STEPS;
        if b <= a {
            b += n;
        }
        let pts: Vec<Point> = (a..=b).map(|i| curve[i % n]).collect();
        let lengths: Vec<f32> = pts.windows(2).map(|w| w[0].dist(w[1])).collect();
        let total: f32 = lengths.iter().sum();
        let mut want = t * total;
        let mut at = pts[0];
        for (k, &len) in lengths.iter().enumerate() {
            if want <= len || k + 1 == lengths.len() {
                at = pts[k].lerp(
                    pts[k + 1],
                    if len > 1e-6 {
                        (want / len).min(1.0)
                    } else {
                        0.0
                    },
                );
                break;
            }
            want -= len;
        }
        all.push(at);
    }
    Some(all)
}

/// Where the closed rest puts the inner lips, as offsets along the face's
/// down axis from the source, per column of `LIP_COLUMNS`, and the corners.
#[derive(Debug, Clone, Default)]
struct LipRest {
    upper: [f32; 9],
    lower: [f32; 9],
    /// How much of the speech opening each column takes (1 in the middle,
    /// less towards the corners).
    profile: [f32; 9],
    /// The inner corners' (across, down) offsets: a relaxed smile.
    corner: [(f32, f32); 2],
    /// The share of the lower lip's rise that is the jaw's.
    jaw_share: f32,
}

impl LipRest {
    /// The lips of the source meet along a seam: in each column at the
    /// point where the upper lip, coming down over its teeth, meets the
    /// lower one. On an open or smiling photo that seam is as curved as
    /// the smile; the rest flattens it to a gentle curve through the
    /// corners, lowered and drawn in, so the lips close as a relaxed
    /// mouth, not as a grin with its teeth covered.
    fn new(l: &[Point], across: Point, down: Point, o: SourceOpening) -> LipRest {
        let origin = l[60].lerp(l[64], 0.5);
        let frame = |p: Point| {
            let r = p.minus(origin);
            (dot(r, across), dot(r, down))
        };
        let w = l[54].dist(l[48]).max(1.0);
        let gap = o.jaw + o.upper_lip + o.lower_lip;
        let share = if gap > 0.5 {
            (o.upper_lip / gap).clamp(0.0, 1.0)
        } else {
            0.15
        };
        let jaw_share = if o.jaw + o.lower_lip > 1e-3 {
            o.jaw / (o.jaw + o.lower_lip)
        } else {
            1.0
        };
        let corners = [frame(l[60]), frame(l[64])];
        let half = ((corners[1].0 - corners[0].0) / 2.0).max(1.0);
        let mut cols = [(0.0f32, 0.0f32, 0.0f32); 9];
        for (k, &(u, lo)) in LIP_COLUMNS.iter().enumerate() {
            let ((au, hu), (al, hl)) = (frame(l[u]), frame(l[lo]));
            cols[k] = ((au + al) / 2.0, hu, hl.max(hu));
        }
        let meets: Vec<(f32, f32)> = cols
            .iter()
            .map(|&(a, hu, hl)| (a, hu + share * (hl - hu)))
            .collect();
        // How open the photo is: a closed one keeps its own seam.
        let relax = smoothstep(0.03 * w, 0.12 * w, gap);
        let fit = fit_seam(&meets, half, w);
        let mut rest = LipRest {
            jaw_share,
            ..LipRest::default()
        };
        // The corners: only ever down (a smile relaxing), and inwards with
        // it; the seam then ends in them, so the lips beside a corner stay
        // on their side of it.
        let mut ends = corners;
        if let Some(f) = &fit {
            for (side, &(a, h)) in corners.iter().enumerate() {
                let drop = (relax * (f(a) - h)).clamp(0.0, 0.08 * w);
                let inward = (0.4 * drop).min(0.03 * w);
                let sign = if side == 0 { 1.0 } else { -1.0 };
                rest.corner[side] = (sign * inward, drop);
                ends[side] = (a + sign * inward, h + drop);
            }
        }
        // Beside each corner the closed lips run on along the corner's own
        // line (outer corner to inner corner), so the small triangles that
        // fan round the corner keep their sides.
        let slope = |outer: (f32, f32), inner: (f32, f32)| {
            let da = inner.0 - outer.0;
            if da.abs() > 0.5 {
                ((inner.1 - outer.1) / da).clamp(-0.5, 0.5)
            } else {
                0.0
            }
        };
        let slopes = [
            slope(frame(l[48]), corners[0]),
            slope(frame(l[54]), corners[1]),
        ];
        let seam = fit.map(|f| {
            let (r0, r1) = (ends[0].1 - f(ends[0].0), ends[1].1 - f(ends[1].0));
            let span = (ends[1].0 - ends[0].0).max(1.0);
            move |a: f32| f(a) + r0 + (r1 - r0) * ((a - ends[0].0) / span).clamp(0.0, 1.0)
        });
        let span = (ends[1].0 - ends[0].0).max(1.0);
        let corner_line = |a: f32, h: f32| {
            let side = usize::from(a > (ends[0].0 + ends[1].0) / 2.0);
            let (ea, eh) = ends[side];
            let near = (a - ea).abs() / (span / 2.0);
            let on_line = 1.0 - smoothstep(0.35, 0.7, near);
            h + on_line * (eh + slopes[side] * (a - ea) - h)
        };
        for (k, &(a, hu, hl)) in cols.iter().enumerate() {
            let meet = meets[k].1;
            let target = match &seam {
                // Near the corners a relaxing smile takes both lips down.
                Some(f) => (meet + relax * (f(a) - meet)).clamp(hu - 0.02 * w, hl + 0.06 * w),
                None => meet,
            };
            // (Never past the source's own lips: a closed column stays.)
            let target = corner_line(a, target).clamp(hu.min(target), hl.max(target));
            // Beside the corners the lips stay a hair apart (a tenth of a
            // pixel per pixel from the corner, fading out), so the slim
            // triangles round the corner keep their sides as the face moves.
            let from_corner = (a - ends[0].0).min(ends[1].0 - a).max(0.0);
            let hair = 0.05 * from_corner * (1.0 - smoothstep(0.0, 0.35 * span, from_corner));
            rest.upper[k] = (target - hair).min(hl) - hu;
            rest.lower[k] = (target + hair).max(hu) - hl;
            let x = (a / half).clamp(-1.0, 1.0);
            rest.profile[k] = (1.0 - x * x).max(0.0).powf(0.35).max(0.25);
        }
        rest
    }
}

/// A seam h(a) = c0 + c1 a + c2 a^2 through the columns' meeting points,
/// its curvature held to a relaxed mouth's: the corners at most 0.03 of the
/// mouth width above its middle, never below.
fn fit_seam(pts: &[(f32, f32)], half: f32, w: f32) -> Option<impl Fn(f32) -> f32> {
    let [_, _, c2] = fit_quadratic(pts)?;
    // The corners' lift over the middle is -c2 half^2.
    let lift = (-c2 * half * half).clamp(0.0, 0.03 * w);
    let c2 = -lift / (half * half);
    let flattened: Vec<(f32, f32)> = pts.iter().map(|&(a, h)| (a, h - c2 * a * a)).collect();
    let [c0, c1] = fit_line(&flattened)?;
    Some(move |a: f32| c0 + c1 * a + c2 * a * a)
}

/// The opening's parts, summing to the landmarks' gap (never negative).
fn scaled_opening(opening: Option<SourceOpening>, gap: f32) -> SourceOpening {
    let gap = gap.max(0.0);
    let Some(o) = opening else {
        return SourceOpening::from_gap(gap);
    };
    let (j, u, l) = (o.jaw.max(0.0), o.upper_lip.max(0.0), o.lower_lip.max(0.0));
    let sum = j + u + l;
    if sum < 1e-3 {
        return SourceOpening::from_gap(gap);
    }
    let k = gap / sum;
    SourceOpening {
        jaw: j * k,
        upper_lip: u * k,
        lower_lip: l * k,
    }
}

/// Height of a polyline of (across, down) points at `a` (clamped at the ends).
fn curve_at(pts: &[(f32, f32)], a: f32) -> f32 {
    let (first, last) = (pts[0], pts[pts.len() - 1]);
    let (lo, hi) = if first.0 <= last.0 {
        (first, last)
    } else {
        (last, first)
    };
    if a <= lo.0 {
        return lo.1;
    }
    if a >= hi.0 {
        return hi.1;
    }
    for s in pts.windows(2) {
        let (p, q) = (s[0], s[1]);
        let (l, r) = if p.0 <= q.0 { (p, q) } else { (q, p) };
        if a >= l.0 && a <= r.0 && r.0 - l.0 > 1e-6 {
            return l.1 + (r.1 - l.1) * (a - l.0) / (r.0 - l.0);
        }
    }
    (first.1 + last.1) / 2.0
}

/// How the photo's lip gap comes about, pixels along the face's down
/// axis: the jaw dropped (the teeth apart) and each lip drawn back off
/// its teeth. The closed rest undoes all three: the jaw rises, the upper
/// lip comes down over the upper teeth and the lower lip up over the
/// lower ones, so any photo's mouth closes with its lips meeting at the
/// bite, and speech opens it from there.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SourceOpening {
    pub jaw: f32,
    pub upper_lip: f32,
    pub lower_lip: f32,
}

impl SourceOpening {
    /// With nothing known of the teeth: mostly the jaw, as in speech.
    pub fn from_gap(gap: f32) -> SourceOpening {
        SourceOpening {
            jaw: 0.85 * gap,
            upper_lip: 0.15 * gap,
            lower_lip: 0.0,
        }
    }
}

/// Deformed control points of one frame.
#[derive(Debug, Clone)]
pub struct Deformed {
    pub points: Vec<Point>,
    /// Jaw drop at the lower incisors, face-down pixels before head motion.
    pub jaw: f32,
}

/// A 2-D affine map: x' = m0 x + m1 y + m2, y' = m3 x + m4 y + m5.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub m: [f32; 6],
}

impl Affine {
    pub const IDENTITY: Affine = Affine {
        m: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    };

    pub fn apply(&self, p: Point) -> Point {
        let m = &self.m;
        Point::new(
            m[0] * p.x + m[1] * p.y + m[2],
            m[3] * p.x + m[4] * p.y + m[5],
        )
    }

    pub fn inverse(&self) -> Option<Affine> {
        let m = &self.m;
        let det = m[0] * m[4] - m[1] * m[3];
        if det.abs() < 1e-9 {
            return None;
        }
        let (a, b, c, d) = (m[4] / det, -m[1] / det, -m[3] / det, m[0] / det);
        Some(Affine {
            m: [a, b, -(a * m[2] + b * m[5]), c, d, -(c * m[2] + d * m[5])],
        })
    }

    /// `self` then a shift of `v`.
    pub fn then_shift(mut self, v: Point) -> Affine {
        self.m[2] += v.x;
        self.m[5] += v.y;
        self
    }
}

fn dy(d: &mut [(f32, f32)], idx: &[usize], v: f32) {
    for &i in idx {
        d[i].1 += v;
    }
}

fn dx(d: &mut [(f32, f32)], left: &[usize], right: &[usize], v: f32) {
    for &i in left {
        d[i].0 -= v;
    }
    for &i in right {
        d[i].0 += v;
    }
}

/// Mirror-symmetric move: `out` away from the face's middle, `vy` down.
fn both(d: &mut [(f32, f32)], left: &[usize], right: &[usize], out: f32, vy: f32) {
    dx(d, left, right, out);
    dy(d, left, vy);
    dy(d, right, vy);
}

/// Constrained Delaunay triangulation keeping the lip and eye contours as
/// edges; triangles inside the inner lip contour (the mouth opening) are
/// dropped.
fn triangulate(points: &[Point]) -> Option<Vec<[usize; 3]>> {
    let mut cdt: ConstrainedDelaunayTriangulation<Vertex> = ConstrainedDelaunayTriangulation::new();
    let mut handles = Vec::with_capacity(points.len());
    for p in points {
        let h = cdt
            .insert(Vertex {
                pos: Point2::new(f64::from(p.x), f64::from(p.y)),
            })
            .ok()?;
        handles.push(h);
    }
    // Coincident points collapse into one vertex: map vertex -> first index.
    let mut index_of = vec![usize::MAX; cdt.num_vertices()];
    for (i, h) in handles.iter().enumerate() {
        if let Some(slot) = index_of.get_mut(h.index()) {
            if *slot == usize::MAX {
                *slot = i;
            }
        }
    }
    for ring in [
        &INNER_LIP[..],
        &OUTER_LIP[..],
        &LEFT_EYE[..],
        &RIGHT_EYE[..],
    ] {
        for k in 0..ring.len() {
            let (a, b) = (handles[ring[k]], handles[ring[(k + 1) % ring.len()]]);
            if a != b && cdt.can_add_constraint(a, b) {
                cdt.try_add_constraint(a, b);
            }
        }
    }
    let inner: Vec<Point> = INNER_LIP.iter().map(|&i| points[i]).collect();
    let mut tris = Vec::new();
    for face in cdt.inner_faces() {
        let vs = face.vertices();
        let idx = [
            *index_of.get(vs[0].fix().index())?,
            *index_of.get(vs[1].fix().index())?,
            *index_of.get(vs[2].fix().index())?,
        ];
        if idx.contains(&usize::MAX) {
            continue;
        }
        let all_inner = idx.iter().all(|i| INNER_LIP.contains(i));
        let c = points[idx[0]]
            .plus(points[idx[1]])
            .plus(points[idx[2]])
            .scale(1.0 / 3.0);
        if all_inner && point_in_polygon(c, &inner) {
            continue;
        }
        tris.push(idx);
    }
    Some(tris)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn regions(lm: &[Point]) -> Regions {
        Regions::from_layout68(lm).expect("68 points")
    }

    /// A plausible frontal face: the iBUG mean shape, scaled into 400x400.
    #[allow(clippy::approx_constant)] // landmark coordinates, not pi
    pub fn mean_face() -> Vec<Point> {
        const M: [(f32, f32); 68] = [
            (0.0792, 0.3396),
            (0.0829, 0.4569),
            (0.0976, 0.5717),
            (0.1194, 0.6830),
            (0.1620, 0.7853),
            (0.2283, 0.8705),
            (0.3098, 0.9412),
            (0.3986, 0.9935),
            (0.5000, 1.0098),
            (0.6014, 0.9935),
            (0.6902, 0.9412),
            (0.7717, 0.8705),
            (0.8380, 0.7853),
            (0.8806, 0.6830),
            (0.9024, 0.5717),
            (0.9171, 0.4569),
            (0.9208, 0.3396),
            (0.1680, 0.2307),
            (0.2220, 0.1825),
            (0.2943, 0.1687),
            (0.3700, 0.1778),
            (0.4397, 0.2052),
            (0.5603, 0.2052),
            (0.6300, 0.1778),
            (0.7057, 0.1687),
            (0.7780, 0.1825),
            (0.8320, 0.2307),
            (0.5000, 0.2960),
            (0.5000, 0.3741),
            (0.5000, 0.4515),
            (0.5000, 0.5307),
            (0.4050, 0.5869),
            (0.4517, 0.6034),
            (0.5000, 0.6172),
            (0.5483, 0.6034),
            (0.5950, 0.5869),
            (0.2500, 0.3130),
            (0.2950, 0.2860),
            (0.3480, 0.2870),
            (0.3920, 0.3200),
            (0.3460, 0.3310),
            (0.2940, 0.3310),
            (0.6080, 0.3200),
            (0.6520, 0.2870),
            (0.7050, 0.2860),
            (0.7500, 0.3130),
            (0.7060, 0.3310),
            (0.6540, 0.3310),
            (0.3366, 0.7241),
            (0.3928, 0.6938),
            (0.4549, 0.6780),
            (0.5000, 0.6881),
            (0.5451, 0.6780),
            (0.6072, 0.6938),
            (0.6634, 0.7241),
            (0.6090, 0.7817),
            (0.5526, 0.8061),
            (0.5000, 0.8104),
            (0.4474, 0.8061),
            (0.3910, 0.7817),
            (0.3566, 0.7259),
            (0.4555, 0.7129),
            (0.5000, 0.7174),
            (0.5445, 0.7129),
            (0.6434, 0.7259),
            (0.5453, 0.7461),
            (0.5000, 0.7506),
            (0.4547, 0.7461),
        ];
        M.iter()
            .map(|&(x, y)| Point::new(100.0 + 200.0 * x, 120.0 + 200.0 * y))
            .collect()
    }

    fn signed_area(p: &[Point], t: &[usize; 3]) -> f32 {
        let (a, b, c) = (p[t[0]], p[t[1]], p[t[2]]);
        (b.x - a.x) * (c.y - a.y) - (c.x - a.x) * (b.y - a.y)
    }

    fn state() -> FrameState {
        FrameState::default()
    }

    /// No triangle flips over for any extreme the animation can reach.
    #[test]
    fn mesh_never_folds() {
        let lm = mean_face();
        let rig = FaceRig::new(&regions(&lm), 400, 480).expect("rig");
        // The warp maps source triangles: none may turn over from there.
        let rest = rig.source.clone();
        let deg = std::f32::consts::PI / 180.0;
        let mut cases = vec![state()];
        for open in [0.0, 1.0] {
            for blink in [0.0, 1.0] {
                for (roll, yaw, pitch) in [(0.0, 0.0, 0.0), (5.0, -5.0, 5.0), (-5.0, 5.0, -5.0)] {
                    for e in [
                        super::super::perform::Expression::default(),
                        super::super::perform::Expression::of(
                            super::super::direction::Emotion::Happy,
                        ),
                        super::super::perform::Expression::of(
                            super::super::direction::Emotion::Surprised,
                        ),
                        super::super::perform::Expression::of(
                            super::super::direction::Emotion::Angry,
                        ),
                        super::super::perform::Expression::of(
                            super::super::direction::Emotion::Sad,
                        ),
                        super::super::perform::Expression::of(
                            super::super::direction::Emotion::Disgusted,
                        ),
                        super::super::perform::Expression::of(
                            super::super::direction::Emotion::Fearful,
                        ),
                    ] {
                        let mut s = state();
                        s.mouth.open = open;
                        s.mouth.spread = if open > 0.5 { -1.0 } else { 1.0 };
                        s.blink = [blink, blink];
                        s.expression = e;
                        s.head = HeadPose {
                            roll: roll * deg,
                            yaw: yaw * deg,
                            pitch: pitch * deg,
                            shift_x: 0.03,
                            shift_y: -0.03,
                        };
                        cases.push(s);
                    }
                }
            }
        }
        for s in cases {
            let p = rig.deform(&s);
            for t in &rig.triangles {
                // Triangles inside an eye collapse when it shuts, by design.
                if t.iter().all(|i| LEFT_EYE.contains(i)) || t.iter().all(|i| RIGHT_EYE.contains(i))
                {
                    continue;
                }
                let (a0, a1) = (signed_area(&rest, t), signed_area(&p, t));
                assert!(
                    a0 * a1 >= -1e-3 * a0.abs().max(1.0),
                    "triangle {t:?} folds: {a0} -> {a1} for {s:?}"
                );
            }
            // The ring never moves.
            let n = rig.source.len();
            let first = n - 4 * RING_PER_SIDE;
            assert_eq!(p[first..], rig.source[first..]);
        }
    }

    #[test]
    fn blink_closes_the_eye_and_rest_is_identity() {
        let lm = mean_face();
        let rig = FaceRig::new(&regions(&lm), 400, 480).expect("rig");
        let rest = rig.deform(&state());
        // With the mouth at the source's opening nothing moves but the lips' open=0 target.
        for i in 17..48 {
            assert!(rest[i].dist(lm[i]) < 1e-3, "landmark {i} moved at rest");
        }
        let mut s = state();
        s.blink = [1.0, 0.0];
        let p = rig.deform(&s);
        for (u, l) in [(37, 41), (38, 40)] {
            assert!(dot(p[l].minus(p[u]), rig.down).abs() < 0.5, "eye shut");
        }
        assert!(p[43].dist(lm[43]) < 1e-3, "the other eye stays open");
    }

    /// A face whose photo shows an open mouth (a smile with teeth: the
    /// lips drawn back, the jaw a little down) closes at rest, every
    /// inner-lip column, whatever its own gap; and opens again for speech.
    #[test]
    fn an_open_photo_mouth_closes_at_rest() {
        let mut lm = mean_face();
        let gaps = [(61, 67, 10.0), (62, 66, 16.0), (63, 65, 10.0)];
        for (u, l, g) in gaps {
            lm[u].y -= 0.4 * g;
            lm[l].y = lm[u].y + g;
        }
        lm[60].y -= 1.0;
        for opening in [
            None,
            Some(SourceOpening {
                jaw: 3.0,
                upper_lip: 8.0,
                lower_lip: 5.0,
            }),
        ] {
            let rig = FaceRig::with_opening(&regions(&lm), 400, 480, opening).expect("rig");
            let rest = rig.deform(&state());
            for (k, (u, l)) in LIP_COLUMNS.into_iter().enumerate() {
                let gap = dot(rest[l].minus(rest[u]), rig.down);
                assert!(gap.abs() < hair(k), "{opening:?}: {u}-{l} gap {gap}");
            }
            let mut s = state();
            s.mouth.open = 0.5;
            let open = rig.deform(&s);
            let gap = dot(open[66].minus(open[62]), rig.down);
            let want = 0.5 * 0.42 * rig.mouth_width;
            assert!(
                (gap - want).abs() < 0.5,
                "{opening:?}: open gap {gap}, want {want}"
            );
        }
        // The upper lip comes down over the teeth by its own share.
        let rig = FaceRig::with_opening(
            &regions(&lm),
            400,
            480,
            Some(SourceOpening {
                jaw: 0.0,
                upper_lip: 1.0,
                lower_lip: 1.0,
            }),
        )
        .expect("rig");
        let rest = rig.deform(&state());
        let down = dot(rest[62].minus(lm[62]), rig.down);
        assert!((down - 8.0).abs() < 1.5, "upper lip moved {down}");
    }

    /// How far apart a closed column may stay: beside the corners the lips
    /// keep a hair's breadth apart.
    fn hair(column: usize) -> f32 {
        if [0, 1, 7, 8].contains(&column) {
            0.6
        } else {
            0.05
        }
    }

    /// A grin showing its teeth: corners high, the upper lip arched off the
    /// teeth, the lower lip sagging along the smile.
    fn teeth_smile() -> Vec<Point> {
        let mut lm = mean_face();
        let w = lm[54].dist(lm[48]);
        for i in [48, 54, 60, 64] {
            lm[i].y -= 0.1 * w;
        }
        for (i, lift) in [(61, 0.1), (62, 0.12), (63, 0.1)] {
            lm[i].y -= lift * w;
        }
        for (i, sag) in [(67, 0.08), (66, 0.12), (65, 0.08)] {
            lm[i].y += sag * w;
        }
        lm
    }

    #[test]
    fn a_teeth_smile_closes_along_a_gentle_curve() {
        let lm = teeth_smile();
        let opening = SourceOpening {
            jaw: 2.0,
            upper_lip: 10.0,
            lower_lip: 4.0,
        };
        let rig = FaceRig::with_opening(&regions(&lm), 400, 480, Some(opening)).expect("rig");
        let rest = rig.deform(&state());
        let w = rig.mouth_width;
        for (k, (u, l)) in LIP_COLUMNS.into_iter().enumerate() {
            let gap = dot(rest[l].minus(rest[u]), rig.down);
            assert!(gap.abs() < hair(k), "{u}-{l} gap {gap}");
        }
        // The seam: how far its middle lies below the corners, and how
        // much it bends from column to column.
        let h = |i: usize| dot(rest[i], rig.down);
        let corners = (h(60) + h(64)) / 2.0;
        let sag = h(62) - corners;
        assert!(sag < 0.045 * w, "the seam sags {sag} below its corners");
        let upper: Vec<f32> = [60, 68, 69, 61, 70, 62, 71, 63, 72, 73, 64]
            .iter()
            .map(|&i| h(i))
            .collect();
        for k in 1..upper.len() - 1 {
            let bend = upper[k - 1] - 2.0 * upper[k] + upper[k + 1];
            assert!(
                bend.abs() < 0.03 * w,
                "seam bends {bend} at {k}: {upper:?}, w {w}"
            );
        }
        // Speech still opens it as far as on any face.
        let mut s = state();
        s.mouth.open = 0.5;
        let open = rig.deform(&s);
        let gap = dot(open[66].minus(open[62]), rig.down);
        assert!((gap - 0.21 * w).abs() < 0.5, "open gap {gap}");
    }

    #[test]
    fn a_closed_photo_keeps_its_own_seam() {
        let mut lm = mean_face();
        for (u, l) in [(61, 67), (62, 66), (63, 65)] {
            lm[l] = lm[u];
        }
        let rig = FaceRig::new(&regions(&lm), 400, 480).expect("rig");
        let rest = rig.deform(&state());
        for (i, (now, was)) in rest
            .iter()
            .zip(&rig.source)
            .enumerate()
            .take(RIG_LANDMARKS)
            .skip(48)
        {
            let moved = now.dist(*was);
            assert!(moved < 1.0, "{i} moved {moved} at rest");
        }
    }

    #[test]
    fn head_affine_matches_points() {
        let lm = mean_face();
        let rig = FaceRig::new(&regions(&lm), 400, 480).expect("rig");
        let h = HeadPose {
            roll: 0.04,
            yaw: -0.03,
            pitch: 0.02,
            shift_x: 0.01,
            shift_y: 0.0,
        };
        let a = rig.head_affine(&h, 0.2);
        let z = (0.2 - PIVOT_DEPTH) * rig.iod;
        for p in [lm[48], lm[8], lm[27]] {
            let q = rig.head_move(p, z, 1.0, &h);
            assert!(a.apply(p).dist(q) < 0.05);
            let back = a.inverse().map(|i| i.apply(q)).unwrap_or_default();
            assert!(back.dist(p) < 0.05);
        }
    }
}

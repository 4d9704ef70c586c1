//! The inside of an open mouth, painted in layers from back to front:
//! a shaded cavity, the tongue, the lower teeth (with the jaw), the upper
//! teeth (fixed to the skull). Everything is clipped to the warped inner-lip
//! contour with analytic anti-aliasing, so there is no box and no seam.
//!
//! When the portrait already shows teeth, those pixels are reused: the upper
//! teeth of the source move with the head, its lower teeth with the jaw, and
//! only what the source never showed (a wider gap, the tongue) is painted.
//! Otherwise the teeth are drawn tooth by tooth along a dental arch, lit like
//! the face and carrying the photo's grain.

use super::perform::FrameState;
use super::rig::{rig_landmarks, Affine, Deformed, FaceRig, SourceOpening, INNER_LIP, LIP_COLUMNS};
use super::warp::{sample_bilinear, sample_cubic, RgbRegion};
use crate::face::Regions;
use crate::geometry::{point_in_polygon, smooth_closed, smoothstep, Point};
use image::RgbImage;

/// Depth of the front teeth (inter-ocular distances, as in the rig).
const TEETH_DEPTH: f32 = 0.15;

/// A curve over the mouth's "across" coordinate, sampled every pixel.
#[derive(Debug, Clone, Default)]
struct Table {
    a0: f32,
    vals: Vec<f32>,
}

impl Table {
    fn at(&self, a: f32) -> f32 {
        let n = self.vals.len();
        if n == 0 {
            return 0.0;
        }
        let x = (a - self.a0).clamp(0.0, (n - 1) as f32);
        let i = (x as usize).min(n - 1);
        let j = (i + 1).min(n - 1);
        let f = x - i as f32;
        self.vals[i] * (1.0 - f) + self.vals[j] * f
    }

    /// Rasterises a polyline of (a, h) points; where the polyline folds back
    /// (at the corners) `pick` chooses between the heights.
    fn from_polyline(pts: &[(f32, f32)], pick: fn(f32, f32) -> f32) -> Table {
        let lo = pts.iter().map(|p| p.0).fold(f32::MAX, f32::min).floor();
        let hi = pts.iter().map(|p| p.0).fold(f32::MIN, f32::max).ceil();
        if !(lo.is_finite() && hi.is_finite()) || hi < lo {
            return Table::default();
        }
        let n = ((hi - lo) as usize + 1).min(8192);
        let mut vals = vec![f32::NAN; n];
        for s in pts.windows(2) {
            let ((a0, h0), (a1, h1)) = (s[0], s[1]);
            let (from, to) = (a0.min(a1), a0.max(a1));
            let i0 = ((from - lo).ceil().max(0.0)) as usize;
            let i1 = ((to - lo).floor().max(0.0) as usize).min(n - 1);
            for (i, v) in vals.iter_mut().enumerate().take(i1 + 1).skip(i0) {
                let a = lo + i as f32;
                let t = if (a1 - a0).abs() < 1e-6 {
                    0.5
                } else {
                    (a - a0) / (a1 - a0)
                };
                let h = h0 + (h1 - h0) * t;
                *v = if v.is_nan() { h } else { pick(*v, h) };
            }
        }
        // Fill any holes from the neighbours.
        let mut last = f32::NAN;
        for v in vals.iter_mut() {
            if v.is_nan() {
                *v = last;
            } else {
                last = *v;
            }
        }
        let mut next = f32::NAN;
        for v in vals.iter_mut().rev() {
            if v.is_nan() {
                *v = next;
            } else {
                next = *v;
            }
        }
        if vals.iter().any(|v| v.is_nan()) {
            return Table::default();
        }
        Table { a0: lo, vals }
    }
}

/// The teeth visible in the source, per column of the mouth: the vertical
/// extent (source mouth frame) of the upper and the lower teeth.
#[derive(Debug, Clone)]
struct Plate {
    a0: f32,
    upper: Vec<Option<(f32, f32)>>,
    lower: Vec<Option<(f32, f32)>>,
    /// Where the source's opening divides: above it (the upper teeth) moves
    /// with the skull, below it (tongue, lower teeth) with the jaw.
    split: Vec<f32>,
    /// The source shows lower teeth or its tongue below the upper teeth:
    /// that part is reused, riding on the jaw (else the tongue and lower
    /// teeth are painted).
    lower_teeth: bool,
}

impl Plate {
    /// The column at `a`, when the plate covers it.
    fn column(&self, a: f32) -> Option<usize> {
        let x = (a - self.a0).round();
        (x >= 0.0 && (x as usize) < self.split.len()).then_some(x as usize)
    }
}

/// Colours and shapes measured once from the portrait.
#[derive(Debug, Clone)]
pub struct MouthPainter {
    lip: [f32; 3],
    teeth: [f32; 3],
    /// The mouth's lining at full light: the lip's colour, redder.
    cavity_tint: [f32; 3],
    tongue: [f32; 3],
    /// Photo grain to match, grey levels.
    grain: f32,
    /// How soft the photo's edges are: the width, in pixels, over which
    /// the lips' outer edge rises (1 on a crisp photo, more on a soft,
    /// painted or upscaled one). Every painted edge and the painted grain
    /// take this width, so nothing inside the mouth is crisper than the
    /// face.
    edge: f32,
    /// How much colour the painted parts keep: 0 on a black-and-white
    /// photo (painted ivory and red would be the only colour in it).
    saturation: f32,
    /// Source mouth frame: origin and axes.
    origin: Point,
    across: Point,
    down: Point,
    /// The nostrils' shadow (luma): a cavity in the same light, so the
    /// mouth's dark is never darker (a painting's or a soft photo's dark is
    /// a gentle one).
    shadow_floor: f32,
    /// Half the width of the dental arch, pixels: from the head's size (the
    /// eyes' distance), not the mouth's, so a wide smile shows more teeth
    /// and dark corners past the last ones, a pursed mouth fewer.
    half_arch: f32,
    width: f32,
    /// The source's inner lip curves in the mouth frame.
    upper_rest: Table,
    lower_rest: Table,
    plate: Option<Plate>,
    ok: bool,
}

fn luma(c: [f32; 3]) -> f32 {
    0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
}

fn px(src: &RgbImage, p: Point) -> [f32; 3] {
    sample_bilinear(src, p.x, p.y).map(f32::from)
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn dot(a: Point, b: Point) -> f32 {
    a.x * b.x + a.y * b.y
}

/// Deterministic noise in [-1, 1] for an integer position (no shimmer: the
/// position is fixed to the teeth, not to the screen).
fn hash_noise(x: i32, y: i32) -> f32 {
    let mut h = (x as u32).wrapping_mul(0x8da6_b343) ^ (y as u32).wrapping_mul(0xd816_3841);
    h ^= h >> 13;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 16;
    (h & 0xffff) as f32 / 32767.5 - 1.0
}

impl MouthPainter {
    pub fn new(src: &RgbImage, face: &Regions) -> Self {
        let mut p = MouthPainter {
            lip: [150.0, 90.0, 85.0],
            teeth: [225.0, 218.0, 200.0],
            cavity_tint: [150.0, 70.0, 70.0],
            tongue: [150.0, 70.0, 70.0],
            grain: 1.0,
            edge: 1.0,
            saturation: 1.0,
            origin: Point::default(),
            across: Point::new(1.0, 0.0),
            down: Point::new(0.0, 1.0),
            half_arch: 1.0,
            shadow_floor: 0.0,
            width: 1.0,
            upper_rest: Table::default(),
            lower_rest: Table::default(),
            plate: None,
            ok: false,
        };
        let Some(landmarks) = rig_landmarks(face) else {
            return p;
        };
        let l = |i: usize| landmarks[i];
        let eye = l(45).minus(l(36));
        let len = eye.dist(Point::default());
        let width = l(54).dist(l(48));
        if len < 4.0 || width < 4.0 {
            return p;
        }
        p.across = eye.scale(1.0 / len);
        p.down = Point::new(-p.across.y, p.across.x);
        p.origin = l(60).lerp(l(64), 0.5);
        p.width = width;
        let iod = face.right_iris.center.dist(face.left_iris.center);
        // A dental arch of about 25 mm radius for 63 mm between the pupils.
        p.half_arch = if iod > 4.0 { 0.4 * iod } else { 0.47 * width };
        p.shadow_floor = nostril_shadow(src, face, iod);

        // Lip colour: between the outer and inner contours of both lips.
        let pairs = [(50, 61), (51, 62), (52, 63), (56, 65), (57, 66), (58, 67)];
        let mut lip = [0.0f32; 3];
        for (a, b) in pairs {
            let c = px(src, l(a).lerp(l(b), 0.5));
            for k in 0..3 {
                lip[k] += c[k] / pairs.len() as f32;
            }
        }
        p.lip = lip;
        // Teeth follow the scene's lighting: a natural ivory scaled by the
        // skin brightness on the cheeks, tinted slightly by the skin's cast.
        let mut skin = [0.0f32; 3];
        for (a, b) in [(31, 2), (35, 14), (29, 1), (29, 15)] {
            let c = px(src, l(a).lerp(l(b), 0.5));
            for k in 0..3 {
                skin[k] += c[k] / 4.0;
            }
        }
        // A grey (or sepia-faint) face: its skin and lips barely differ
        // between channels.
        let chroma = |c: [f32; 3]| c[0].max(c[1]).max(c[2]) - c[0].min(c[1]).min(c[2]);
        p.saturation = smoothstep(6.0, 18.0, (chroma(skin) + chroma(lip)) / 2.0);
        let light = (luma(skin) / 165.0).clamp(0.45, 1.1);
        let cast = {
            let m = (skin[0] + skin[1] + skin[2]) / 3.0;
            skin.map(|c| (c / m.max(1.0)).clamp(0.8, 1.25).powf(0.25))
        };
        let by_skin = [
            222.0 * light * cast[0],
            214.0 * light * cast[1],
            196.0 * light * cast[2],
        ];
        // The eye whites are the same kind of surface in the same light:
        // grey in a grey photo, yellowed under a painting's varnish, dim in
        // a dim one. Their brightness is held near the skin's estimate (a
        // deep-set eye's shadow, a glint on glasses).
        p.teeth = match sclera(src, face) {
            Some(eye) => {
                let target = (luma(eye) * 1.05).clamp(0.75 * luma(by_skin), 1.15 * luma(by_skin));
                let eye = eye.map(|v| v * target / luma(eye).max(1.0));
                mix(by_skin, eye, 0.7)
            }
            None => by_skin,
        };
        // The lining and the tongue in the photo's own hue: anatomical reds
        // only as far as the photo has colour (a sepia print keeps its tint).
        let colourful = smoothstep(12.0, 40.0, chroma(lip));
        p.cavity_tint = mix(
            lip.map(|v| v * 0.85),
            [lip[0] * 0.95, lip[1] * 0.7, lip[2] * 0.72],
            colourful,
        );
        p.tongue = mix(
            lip.map(|v| (v + 10.0).min(255.0)),
            [
                (lip[0] * 0.85 + 18.0).min(255.0),
                lip[1] * 0.55,
                lip[2] * 0.6,
            ],
            colourful,
        );
        p.grain = grain(src, l(48).lerp(l(4), 0.5), width * 0.12).clamp(0.3, 4.0);
        p.edge = edge_width(src, &landmarks, p.down, width);

        // The source's inner lip curves in the mouth frame.
        let contour: Vec<Point> = INNER_LIP.iter().map(|&i| l(i)).collect();
        let poly = smooth_closed(&contour, 3);
        let (upper, lower) = split_lips(&poly);
        let to_frame = |q: &Point| {
            let r = q.minus(p.origin);
            (dot(r, p.across), dot(r, p.down))
        };
        let up: Vec<(f32, f32)> = upper.iter().map(to_frame).collect();
        let lo: Vec<(f32, f32)> = lower.iter().map(to_frame).collect();
        p.upper_rest = Table::from_polyline(&up, f32::min);
        p.lower_rest = Table::from_polyline(&lo, f32::max);
        if p.upper_rest.vals.is_empty() || p.lower_rest.vals.is_empty() {
            return p;
        }
        p.plate = p.find_teeth(src);
        if let Some(plate) = p.plate.clone() {
            p.adopt_colours(src, &plate);
        }
        p.ok = true;
        p
    }

    /// How the source's opening divides between the jaw and the lips, as
    /// its teeth show it (mouth-frame pixels; the rig scales them to its own
    /// gap). None when the source shows no teeth.
    pub fn source_opening(&self) -> Option<SourceOpening> {
        let plate = self.plate.as_ref()?;
        let w = self.width;
        // The middle fifth of the mouth, where the front teeth are.
        let mid: Vec<usize> = (0..plate.split.len())
            .filter(|&c| (plate.a0 + c as f32).abs() <= 0.1 * w)
            .collect();
        let median = |mut v: Vec<f32>| -> Option<f32> {
            v.sort_by(f32::total_cmp);
            v.get(v.len() / 2).copied()
        };
        let upper_edge = median(
            mid.iter()
                .filter_map(|&c| plate.upper[c].map(|u| u.1))
                .collect(),
        );
        let lower_top = median(
            mid.iter()
                .filter_map(|&c| plate.lower[c].map(|l| l.0))
                .collect(),
        );
        let top = self.upper_rest.at(0.0);
        let bottom = self.lower_rest.at(0.0);
        let gap = (bottom - top).max(0.0);
        let upper_lip = upper_edge.map_or(0.15 * gap, |e| (e - top).clamp(0.0, gap));
        let bite = upper_edge.unwrap_or(top + upper_lip);
        let (jaw, lower_lip) = match lower_top {
            // Both rows show: the jaw dropped by the dark between them.
            Some(l) => ((l - bite).max(0.0), (bottom - l).max(0.0)),
            // Lower teeth hidden behind the lower lip, their tips near it.
            None => {
                let rest = (bottom - bite).max(0.0);
                let lip = rest.min(0.04 * w);
                (rest - lip, lip)
            }
        };
        Some(SourceOpening {
            jaw,
            upper_lip,
            lower_lip,
        })
    }

    fn frame_point(&self, a: f32, h: f32) -> Point {
        self.origin
            .plus(self.across.scale(a))
            .plus(self.down.scale(h))
    }

    /// Finds teeth in the source's mouth opening: per column, bright and
    /// unsaturated runs at the top (upper teeth) and bottom (lower teeth).
    fn find_teeth(&self, src: &RgbImage) -> Option<Plate> {
        let w = self.width;
        let mid_gap = self.lower_rest.at(0.0) - self.upper_rest.at(0.0);
        if mid_gap < (0.05 * w).max(2.5) {
            return None;
        }
        let score = |c: [f32; 3]| {
            let mx = c[0].max(c[1]).max(c[2]);
            let mn = c[0].min(c[1]).min(c[2]);
            luma(c) - 0.9 * (mx - mn)
        };
        let lip_score = score(self.lip);
        let a_lo = self.upper_rest.a0.max(self.lower_rest.a0) + 1.0;
        let a_hi = (self.upper_rest.a0 + self.upper_rest.vals.len() as f32)
            .min(self.lower_rest.a0 + self.lower_rest.vals.len() as f32)
            - 2.0;
        if a_hi - a_lo < 4.0 {
            return None;
        }
        let cols = (a_hi - a_lo) as usize + 1;
        // All interior samples, to set the threshold.
        let mut samples: Vec<Vec<f32>> = Vec::with_capacity(cols);
        let mut all: Vec<f32> = Vec::new();
        for c in 0..cols {
            let a = a_lo + c as f32;
            let (t, b) = (self.upper_rest.at(a), self.lower_rest.at(a));
            let mut col = Vec::new();
            let mut h = t + 0.5;
            while h < b - 0.25 {
                let s = score(px(src, self.frame_point(a, h)));
                col.push(s);
                all.push(s);
                h += 0.5;
            }
            samples.push(col);
        }
        if all.len() < 20 {
            return None;
        }
        all.sort_by(f32::total_cmp);
        let hi = all[all.len() * 9 / 10];
        let lo = all[all.len() / 10];
        // Teeth must stand out from the lips and from the dark of the mouth.
        if hi < lip_score + 25.0 || hi - lo < 30.0 {
            return None;
        }
        let thr = lo.max(lip_score) + 0.45 * (hi - lo.max(lip_score));

        let mut upper = vec![None; cols];
        let mut lower = vec![None; cols];
        let mut teeth_cols = 0usize;
        for (c, col) in samples.iter().enumerate() {
            let a = a_lo + c as f32;
            let top = self.upper_rest.at(a);
            let n = col.len();
            if n < 3 {
                continue;
            }
            let is_t: Vec<bool> = col.iter().map(|&s| s > thr).collect();
            let at = |i: usize| top + 0.5 + i as f32 * 0.5;
            // Upper teeth end at their incisal edge: the strongest bright to
            // dark step in the upper part, with teeth (not lip) above it. An
            // edge is found even when the teeth are in the lip's shadow.
            let mut edge = incisal_edge(col, lip_score);
            // Lower teeth: a bright run ending at the lower lip.
            let low = run_from_bottom(&is_t);
            if edge.is_none() && is_t.iter().filter(|&&t| t).count() * 10 > n * 7 {
                // Teeth from lip to lip with no visible bite line: the upper
                // row resting on the lower lip (cut through, it would show
                // two rows when the jaw drops).
                edge = Some(n - 1);
            }
            if let Some(e) = edge {
                upper[c] = Some((top, at(e) + 0.25));
            }
            if let Some((r0, r1)) = low {
                let r0 = edge.map_or(r0, |e| r0.max(e + 1));
                if r1 > r0 {
                    lower[c] = Some((at(r0), at(r1)));
                }
            }
            if upper[c].is_some() || lower[c].is_some() {
                teeth_cols += 1;
            }
        }
        if (teeth_cols as f32) < 0.3 * cols as f32 {
            return None;
        }
        smooth_runs(&mut upper);
        smooth_runs(&mut lower);
        // Only the upper teeth stay with the skull; everything below them
        // (tongue, lower teeth) rides on the jaw, so a closing jaw slides the
        // lower teeth up behind the upper ones. The dividing line is one
        // smooth curve across the mouth (a robust quadratic through the
        // incisal edges seen, lowered below nearly every tooth tip): an edge
        // found column by column leaves steps and notches in the teeth.
        let gap_at = |c: usize| {
            let a = a_lo + c as f32;
            (self.upper_rest.at(a), self.lower_rest.at(a))
        };
        let edges: Vec<(f32, f32)> = (0..cols)
            .filter_map(|c| upper[c].map(|u| (a_lo + c as f32, u.1 + 0.5)))
            .collect();
        let curve = fit_smile_curve(&edges, 0.06 * w);
        let split: Vec<f32> = (0..cols)
            .map(|c| {
                let (u0, l0) = gap_at(c);
                // No upper teeth seen: all of the opening rides on the jaw.
                let edge = curve.as_ref().map_or(u0, |f| f(a_lo + c as f32));
                (edge + 0.75).clamp(u0, l0.max(u0))
            })
            .collect();
        // Painted lower teeth where the source shows none: decided once for
        // the whole mouth, never column by column (no patches).
        let seen = lower.iter().filter(|l| l.is_some()).count();
        // Or the photo's own tongue: most of what lies below the upper
        // teeth is neither teeth nor the mouth's dark, but lip-toned.
        let lip_luma = luma(self.lip);
        let (mut tongue, mut below) = (0usize, 0usize);
        for (c, &edge) in split.iter().enumerate() {
            let a = a_lo + c as f32;
            let bottom = self.lower_rest.at(a);
            let mut h = edge + 0.5;
            while h < bottom - 0.5 {
                let colour = px(src, self.frame_point(a, h));
                below += 1;
                let l = luma(colour);
                if score(colour) <= thr && l >= 0.5 * lip_luma && l <= 1.3 * lip_luma + 10.0 {
                    tongue += 1;
                }
                h += 1.0;
            }
        }
        let tongue_seen = below >= 20 && tongue * 2 >= below;
        let lower_teeth = seen * 10 >= cols * 4 || tongue_seen;
        Some(Plate {
            a0: a_lo,
            upper,
            lower,
            split,
            lower_teeth,
        })
    }

    /// Uses the source's own teeth and mouth colours for what gets painted.
    fn adopt_colours(&mut self, src: &RgbImage, plate: &Plate) {
        let mut teeth = Vec::new();
        for (c, run) in plate.upper.iter().enumerate() {
            let a = plate.a0 + c as f32;
            if let Some((t, b)) = run {
                let h = t + (b - t) * 0.6;
                teeth.push(px(src, self.frame_point(a, h)));
            }
        }
        let median = |v: &mut Vec<[f32; 3]>| -> Option<[f32; 3]> {
            if v.is_empty() {
                return None;
            }
            v.sort_by(|a, b| luma(*a).total_cmp(&luma(*b)));
            Some(v[v.len() / 2])
        };
        if let Some(t) = median(&mut teeth) {
            self.teeth = t;
        }
    }

    /// Paints the mouth interior for the deformed control points. `src` is
    /// the portrait the frame is warped from.
    pub fn paint(
        &self,
        src: &RgbImage,
        rig: &FaceRig,
        def: &Deformed,
        state: &FrameState,
        out: &mut RgbRegion,
    ) {
        if !self.ok {
            return;
        }
        let pts = &def.points;
        let contour: Vec<Point> = INNER_LIP
            .iter()
            .filter_map(|&i| pts.get(i).copied())
            .collect();
        if contour.len() != INNER_LIP.len() {
            return;
        }
        // The mouth frame now: the source frame carried by the head.
        let head = rig.head_affine(&state.head, TEETH_DEPTH);
        let origin = head.apply(self.origin);
        let ax = head.apply(self.origin.plus(self.across)).minus(origin);
        let len = ax.dist(Point::default()).max(1e-6);
        let across = ax.scale(1.0 / len);
        let down = Point::new(-across.y, across.x);
        let gap_max = LIP_COLUMNS
            .iter()
            .map(|&(u, l)| dot(pts[l].minus(pts[u]), down))
            .fold(0.0f32, f32::max);
        if gap_max < 0.6 {
            return;
        }
        let poly = smooth_closed(&contour, 3);
        let (upper, lower) = split_lips(&poly);
        let to_frame = |q: &Point| {
            let r = q.minus(origin);
            (dot(r, across), dot(r, down))
        };
        let up_now =
            Table::from_polyline(&upper.iter().map(to_frame).collect::<Vec<_>>(), f32::min);
        let lo_now =
            Table::from_polyline(&lower.iter().map(to_frame).collect::<Vec<_>>(), f32::max);
        if up_now.vals.is_empty() || lo_now.vals.is_empty() {
            return;
        }
        let ctx = Ctx {
            src,
            inv: head.inverse(),
            down,
            open: (state.mouth.open + state.expression.jaw).clamp(0.0, 1.0),
            tongue: state.mouth.tongue.clamp(0.0, 1.0),
            jaw: def.jaw,
            up_now: &up_now,
            lo_now: &lo_now,
        };

        let (bx0, by0, bx1, by1) = bounds(&poly);
        let y_start = (by0.floor() as i64).max(out.y0 as i64);
        let y_end = (by1.ceil() as i64).min((out.y0 + out.h) as i64 - 1);
        let x_lo = (bx0.floor() as i64 - 1).max(out.x0 as i64);
        let x_hi = (bx1.ceil() as i64 + 1).min((out.x0 + out.w) as i64 - 1);
        if x_hi < x_lo {
            return;
        }
        let mut cover = vec![0.0f32; (x_hi - x_lo + 1) as usize];
        for y in y_start..=y_end {
            row_coverage(&poly, y as f32, x_lo as f32, &mut cover);
            for (i, &cv) in cover.iter().enumerate() {
                if cv <= 0.0 {
                    continue;
                }
                let x = x_lo + i as i64;
                let p = Point::new(x as f32, y as f32);
                let r = p.minus(origin);
                let c = self.colour(p, dot(r, across), dot(r, down), &ctx);
                let grey = luma(c);
                let c = c.map(|v| grey + (v - grey) * self.saturation);
                let (xu, yu) = (x as usize, y as usize);
                let under = out.get(xu, yu);
                let mut o = [0u8; 3];
                for k in 0..3 {
                    o[k] = (c[k] * cv + f32::from(under[k]) * (1.0 - cv))
                        .round()
                        .clamp(0.0, 255.0) as u8;
                }
                out.put(xu, yu, o);
            }
        }
    }

    /// The colour of the mouth interior at frame point `p` = (`a`, `h`) in
    /// the current mouth frame.
    fn colour(&self, p: Point, a: f32, h: f32, ctx: &Ctx<'_>) -> [f32; 3] {
        let w = self.width;
        let u = a / self.half_arch;
        let d_top = h - ctx.up_now.at(a);
        let d_bot = ctx.lo_now.at(a) - h;
        let gap = (d_top + d_bot).max(1.0);
        let side = (1.0 - 0.5 * u * u).max(0.2);
        let h_jaw = h - ctx.jaw;
        let up_rest = self.upper_rest.at(a);
        let lo_rest = self.lower_rest.at(a);

        let ramp = |x: f32| (x / self.edge + 0.5).clamp(0.0, 1.0);
        // Cavity: the mouth's lining, lit from the opening: near the lips it
        // is the lip's own colour in shadow, deeper in it darkens towards
        // the throat, more under the upper teeth (the palate) and towards
        // the corners. Never a flat black hole.
        let deep = smoothstep(0.0, 0.1 * w, d_top.min(d_bot));
        let under_teeth = 1.0 - 0.15 * smoothstep(0.2, 0.7, d_bot / gap);
        let k = (0.62 - 0.22 * deep) * under_teeth * side;
        let mut lining = [
            self.cavity_tint[0] * k,
            self.cavity_tint[1] * k,
            self.cavity_tint[2] * k,
        ];
        let floor = self.shadow_floor * (1.0 - 0.2 * deep) * side;
        if luma(lining) < floor {
            let lift = floor / luma(lining).max(1.0);
            lining = lining.map(|v| v * lift);
        }
        let mut c = self.grainy(lining, a, h_jaw);

        // Tongue: a dome on the floor of the mouth, riding on the jaw just
        // behind the lower teeth; on l, th, t and d its tip rises to the
        // upper teeth. On open vowels its back fills the lower part of the
        // opening, so the mouth never reads as a black hole.
        let wide = smoothstep(0.05, 0.5, ctx.open);
        let lower_lip = ctx.lo_now.at(a);
        // Mostly behind the lower teeth; its tip comes up for l/th/t/d.
        let rise = (gap * (0.22 + 0.13 * wide) + ctx.tongue * gap * 0.4).min(0.72 * gap);
        // Narrower than the teeth: the tongue sits inside the arch.
        let ut = u / (0.6 + 0.12 * ctx.tongue);
        let dome = (1.0 - ut * ut).max(0.0).sqrt();
        if ut.abs() < 1.0 && rise * dome > 0.3 {
            let top = lower_lip - rise * dome;
            // Its back rounds away into the dark: a soft top edge.
            let alpha = smoothstep(top - 0.5 * self.edge, top + 0.04 * w + self.edge, h)
                * smoothstep(0.0, 0.25, dome);
            if alpha > 0.0 {
                // In the mouth's shadow, lit most on its middle.
                let down_it = ((h - top) / rise.max(1.0)).clamp(0.0, 1.0);
                let lit = 1.0 - (2.0 * down_it - 0.7).powi(2).min(1.0);
                let k = (0.5 + 0.2 * lit) * (0.7 + 0.3 * dome) * (0.8 + 0.2 * wide);
                let body = mix(self.cavity_tint, self.tongue, 0.7);
                c = mix(c, self.grainy(body.map(|v| v * k), a, h_jaw), alpha);
            }
        }

        let plate = self
            .plate
            .as_ref()
            .filter(|_| ctx.inv.is_some())
            .and_then(|pl| pl.column(a).map(|col| (pl, col)));
        if let Some((pl, col)) = plate {
            // The source's own mouth: its lower part rides on the jaw, its
            // upper part on the skull (drawn last: upper teeth overlap).
            let split = pl.split[col];
            // Only where the source has something below the split: past
            // its lower lip line a repeated row would smear lip into the
            // mouth, and the painted interior shows instead.
            // Its lower teeth, when it shows them: with the jaw. What else
            // the photo has down there is mostly its own dark, and the
            // painted lining and tongue read better.
            if pl.lower_teeth {
                let alpha = ramp(h_jaw - split) * ramp(lo_rest - h_jaw);
                if alpha > 0.0 {
                    let row = h_jaw.clamp(split, (lo_rest - 0.5).max(split));
                    c = mix(c, ctx.source(p, row - h), alpha);
                }
            } else {
                c = self.lower_teeth(c, a, u, h, lower_lip, side, ctx.open);
            }
            let alpha = ramp(split - h);
            if alpha > 0.0 {
                let row = h.clamp((up_rest + 0.5).min(split), split);
                let mut s = ctx.source(p, row - h);
                if h < up_rest + 0.5 {
                    // The lip lifted above the source's lip line: repeat the
                    // top row, in the lip's shadow.
                    let k = 0.7 + 0.3 * smoothstep(-0.04 * w, 0.0, h - up_rest);
                    s = s.map(|v| v * k);
                }
                c = mix(c, s, alpha);
            }
        } else {
            c = self.lower_teeth(c, a, u, h, lower_lip, side, ctx.open);
            if u.abs() < 0.99 {
                let (len, shade) = tooth_shape(u, &UPPER_TEETH);
                let edge = up_rest + 0.065 * w * len;
                let alpha = ramp(edge - h);
                if alpha > 0.0 {
                    // Shadow of the upper lip, and a translucent incisal edge.
                    let lip_shadow = 0.7 + 0.3 * smoothstep(0.0, self.edge.max(0.025 * w), d_top);
                    let along = (h - up_rest) / (0.065 * w * len).max(1.0);
                    let tip = 1.0 - 0.12 * smoothstep(0.75, 1.0, along);
                    let k = shade * side * lip_shadow * tip;
                    let t = [
                        self.teeth[0] * k,
                        self.teeth[1] * k,
                        self.teeth[2] * k * (1.0 + 0.04 * (1.0 - tip)),
                    ];
                    c = mix(c, self.grainy(t, a, h), alpha);
                }
            }
        }
        // A soft shadow where the lips meet the opening.
        let rim = 0.92 + 0.08 * smoothstep(0.0, self.edge + 0.5 + 0.015 * w, d_top.min(d_bot));
        c.map(|v| v * rim)
    }

    /// Painted lower teeth, shown only for wide openings, over `c`.
    #[allow(clippy::too_many_arguments)]
    fn lower_teeth(
        &self,
        c: [f32; 3],
        a: f32,
        u: f32,
        h: f32,
        lower_lip: f32,
        side: f32,
        open: f32,
    ) -> [f32; 3] {
        let w = self.width;
        // Mostly behind the lower lip: only their tips, on wide openings.
        let show = smoothstep(0.55, 0.95, open);
        if show <= 0.0 || u.abs() >= 0.9 {
            return c;
        }
        let (len, shade) = tooth_shape(u, &LOWER_TEETH);
        let edge = lower_lip - 0.035 * w * show * len;
        let alpha = ((h - edge) / self.edge + 0.5).clamp(0.0, 1.0);
        if alpha <= 0.0 {
            return c;
        }
        let k = 0.82 * shade * side * (0.9 + 0.1 * ((h - edge) / (0.03 * w)).min(1.0));
        let t = [
            self.teeth[0] * k,
            self.teeth[1] * k * 0.98,
            self.teeth[2] * k * 0.95,
        ];
        mix(c, self.grainy(t, a, h), alpha)
    }

    /// Adds the photo's grain, as coarse as its edges are soft (value
    /// noise on a grid of `edge` pixels, fixed to the mouth).
    fn grainy(&self, c: [f32; 3], a: f32, h: f32) -> [f32; 3] {
        let (x, y) = (a / self.edge, h / self.edge);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (i, j) = (x0 as i32, y0 as i32);
        let top = hash_noise(i, j) * (1.0 - fx) + hash_noise(i + 1, j) * fx;
        let bottom = hash_noise(i, j + 1) * (1.0 - fx) + hash_noise(i + 1, j + 1) * fx;
        let n = (top * (1.0 - fy) + bottom * fy) * self.grain * 1.2;
        c.map(|v| v + n)
    }
}

/// What one frame's painting needs besides the painter.
struct Ctx<'a> {
    src: &'a RgbImage,
    /// Frame -> source for things fixed to the skull.
    inv: Option<Affine>,
    /// The mouth frame's "down" now.
    down: Point,
    open: f32,
    tongue: f32,
    /// Jaw drop, pixels along `down`.
    jaw: f32,
    up_now: &'a Table,
    lo_now: &'a Table,
}

impl Ctx<'_> {
    /// The source pixel seen at frame point `p` moved `dh` along the mouth's
    /// down axis, with the head's motion undone.
    fn source(&self, p: Point, dh: f32) -> [f32; 3] {
        match self.inv {
            // Sharp: these are the portrait's own teeth and lips.
            Some(inv) => {
                let q = inv.apply(p.plus(self.down.scale(dh)));
                sample_cubic(self.src, q.x, q.y).map(f32::from)
            }
            None => [0.0; 3],
        }
    }
}

/// Tooth boundaries along the arch (as the sine of the arch angle, i.e. the
/// projected position in half-arch units) and each tooth's relative length.
const UPPER_TEETH: [(f32, f32); 6] = [
    (0.0, 1.0),    // central incisor
    (0.333, 0.85), // lateral incisor
    (0.565, 0.97), // canine
    (0.783, 0.8),  // first premolar
    (0.925, 0.72), // second premolar
    (1.0, 0.6),
];
const LOWER_TEETH: [(f32, f32); 6] = [
    (0.0, 1.0),
    (0.2, 1.0),
    (0.42, 0.95),
    (0.65, 0.85),
    (0.85, 0.75),
    (1.0, 0.6),
];

/// Relative length of the tooth at `u` (rounded corners, a pointed canine)
/// and its shading (gaps between teeth, convex faces, darker to the back).
/// No two teeth are alike: each is a little longer or shorter, lighter or
/// darker.
fn tooth_shape(u: f32, teeth: &[(f32, f32); 6]) -> (f32, f32) {
    let x = u.abs().min(0.999);
    let mut k = 0;
    while k + 1 < teeth.len() - 1 && x >= teeth[k + 1].0 {
        k += 1;
    }
    let (a, b) = (teeth[k].0, teeth[k + 1].0);
    let t = ((x - a) / (b - a).max(1e-3)).clamp(0.0, 1.0);
    let base = teeth[k].1;
    // Distance from the tooth's middle, -1..1.
    let m = 2.0 * t - 1.0;
    let round = if k == 2 {
        // The canine comes to a point.
        1.0 - 0.22 * m.abs().powf(1.5)
    } else {
        let q = ((m.abs() - 0.55) / 0.45).max(0.0);
        1.0 - 0.28 * (1.0 - (1.0 - q * q).max(0.0).sqrt())
    };
    // Faces turn away from the camera along the arch.
    let facing = (1.0 - x * x).max(0.0).powf(0.25);
    let convex = 0.86 + 0.14 * (std::f32::consts::PI * t).sin();
    let seam = 0.8 + 0.2 * smoothstep(0.0, 0.07, t.min(1.0 - t));
    let back = 1.0 - 0.45 * smoothstep(0.7, 1.0, x);
    let tooth = (k as i32 + 1) * if u < 0.0 { -1 } else { 1 };
    let longer = 1.0 + 0.05 * hash_noise(tooth, 11);
    let lighter = 1.0 + 0.05 * hash_noise(tooth, 23);
    (
        base * round * longer,
        convex * seam * back * lighter * (0.7 + 0.3 * facing),
    )
}

/// The nostrils' shadow: the darkest few percent of the luma just above
/// the nose's base line.
fn nostril_shadow(src: &RgbImage, face: &Regions, iod: f32) -> f32 {
    let base = &face.nose_base;
    if base.len() < 3 || iod < 4.0 {
        return 0.0;
    }
    let b = crate::geometry::Rect::bounding(base);
    let (x0, x1) = (b.x.max(0.0) as u32, (b.right() as u32).min(src.width()));
    let y0 = (b.y - 0.12 * iod).max(0.0) as u32;
    let y1 = ((b.bottom() + 0.02 * iod) as u32).min(src.height());
    let mut v: Vec<f32> = (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (x, y)))
        .map(|(x, y)| luma(src.get_pixel(x, y).0.map(f32::from)))
        .collect();
    if v.len() < 16 {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    v[v.len() / 20]
}

/// The colour of the eye whites: inside both eyelid contours, away from the
/// irises, the median of the brighter half. None when the eyes are too
/// small (or shut) to give enough of it.
fn sclera(src: &RgbImage, face: &Regions) -> Option<[f32; 3]> {
    let mut whites: Vec<[f32; 3]> = Vec::new();
    for (lids, iris) in [
        (&face.right_eye, face.right_iris),
        (&face.left_eye, face.left_iris),
    ] {
        if lids.len() < 3 {
            continue;
        }
        let b = crate::geometry::Rect::bounding(lids);
        let (x0, y0) = (b.x.floor().max(0.0) as u32, b.y.floor().max(0.0) as u32);
        let x1 = (b.right().ceil() as u32).min(src.width());
        let y1 = (b.bottom().ceil() as u32).min(src.height());
        for y in y0..y1 {
            for x in x0..x1 {
                let q = Point::new(x as f32, y as f32);
                if q.dist(iris.center) > 1.15 * iris.radius + 0.5 && point_in_polygon(q, lids) {
                    whites.push(src.get_pixel(x, y).0.map(f32::from));
                }
            }
        }
    }
    if whites.len() < 16 {
        return None;
    }
    whites.sort_by(|a, b| luma(*a).total_cmp(&luma(*b)));
    Some(whites[whites.len() * 3 / 4])
}

/// The photo's grain: mean absolute deviation from a 3x3 mean, on skin.
/// The width over which the lips' outer edges rise from skin to lip (10 %
/// to 90 % of the step), median over six columns, 1 to 4 pixels.
fn edge_width(src: &RgbImage, l: &[Point], down: Point, width: f32) -> f32 {
    let mut widths = Vec::new();
    for (outer, inner, sign) in [
        (50, 61, -1.0f32),
        (51, 62, -1.0),
        (52, 63, -1.0),
        (56, 65, 1.0),
        (57, 66, 1.0),
        (58, 67, 1.0),
    ] {
        // From skin past the edge to the middle of the lip.
        let from = l[outer].plus(down.scale(sign * 0.05 * width));
        let to = l[outer].lerp(l[inner], 0.5);
        let len = from.dist(to);
        if len < 3.0 {
            continue;
        }
        let steps = (len * 4.0) as usize;
        let v: Vec<f32> = (0..=steps)
            .map(|k| luma(px(src, from.lerp(to, k as f32 / steps as f32))))
            .collect();
        let (lo, hi) = v
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        if hi - lo < 12.0 {
            continue;
        }
        // The steepest stretch: where the profile crosses 10 % and 90 %
        // of its range around the largest step.
        let (first, last) = (v[0], v[steps]);
        let (a, b) = (first.min(last), first.max(last));
        if b - a < 8.0 {
            continue;
        }
        let at = |q: f32| {
            if first < last {
                v.iter().position(|&x| x >= a + q * (b - a))
            } else {
                v.iter().position(|&x| x <= b - q * (b - a))
            }
        };
        if let (Some(i10), Some(i90)) = (at(0.1), at(0.9)) {
            widths.push((i90.abs_diff(i10) as f32 / 4.0).max(0.25));
        }
    }
    if widths.is_empty() {
        return 1.0;
    }
    widths.sort_by(f32::total_cmp);
    (widths[widths.len() / 2] * 0.8).clamp(1.0, 4.0)
}

fn grain(src: &RgbImage, centre: Point, radius: f32) -> f32 {
    let r = radius.max(3.0) as i64;
    let (w, h) = (i64::from(src.width()), i64::from(src.height()));
    let (cx, cy) = (centre.x as i64, centre.y as i64);
    let mut sum = 0.0f64;
    let mut n = 0usize;
    for y in (cy - r).max(1)..(cy + r).min(h - 1) {
        for x in (cx - r).max(1)..(cx + r).min(w - 1) {
            let g = |xx: i64, yy: i64| {
                let p = src.get_pixel(xx as u32, yy as u32).0;
                (f64::from(p[0]) + f64::from(p[1]) + f64::from(p[2])) / 3.0
            };
            let mut m = 0.0;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    m += g(x + dx, y + dy);
                }
            }
            sum += (g(x, y) - m / 9.0).abs();
            n += 1;
        }
    }
    if n == 0 {
        1.0
    } else {
        (sum / n as f64) as f32
    }
}

/// The incisal edge of the upper teeth in a column of whiteness scores
/// (0.5 px apart, from the upper lip down): the largest drop over 2 px,
/// where what lies above is clearly brighter than lip.
fn incisal_edge(col: &[f32], lip_score: f32) -> Option<usize> {
    let n = col.len();
    if n < 8 {
        return None;
    }
    let sm: Vec<f32> = (0..n)
        .map(|i| {
            let w = &col[i.saturating_sub(1)..(i + 2).min(n)];
            w.iter().sum::<f32>() / w.len() as f32
        })
        .collect();
    let mut best: Option<(usize, f32)> = None;
    for i in 2..n - 2 {
        let drop = sm[i - 2] - sm[i + 2];
        let above = &sm[i.saturating_sub(6)..i - 1];
        let bright = above.iter().sum::<f32>() / above.len().max(1) as f32;
        if drop > 25.0 && bright > lip_score + 20.0 && best.is_none_or(|b| drop > b.1) {
            best = Some((i, drop));
        }
    }
    best.map(|b| b.0)
}

/// A curve h(a) = c0 + c1 a + c2 a^2 through (a, h) points, fitted with
/// Tukey weights (`scale`: residuals beyond about 4.7 times it count for
/// nothing), then lowered so that 90 % of the inliers lie above it. None
/// with too few points.
fn fit_smile_curve(points: &[(f32, f32)], scale: f32) -> Option<impl Fn(f32) -> f32> {
    if points.len() < 6 {
        return None;
    }
    let a_mid = points.iter().map(|p| p.0).sum::<f32>() / points.len() as f32;
    let span = points
        .iter()
        .map(|p| (p.0 - a_mid).abs())
        .fold(1.0f32, f32::max);
    let mut weights = vec![1.0f64; points.len()];
    let mut coef = [0.0f64; 3];
    for _ in 0..8 {
        let mut ata = [[0.0f64; 3]; 3];
        let mut atb = [0.0f64; 3];
        for (p, w) in points.iter().zip(&weights) {
            let x = f64::from((p.0 - a_mid) / span);
            let row = [1.0, x, x * x];
            for i in 0..3 {
                atb[i] += w * row[i] * f64::from(p.1);
                for j in 0..3 {
                    ata[i][j] += w * row[i] * row[j];
                }
            }
        }
        coef = crate::geometry::solve_linear(ata, atb)?;
        let c = 4.685 * f64::from(scale.max(0.5));
        for (p, w) in points.iter().zip(weights.iter_mut()) {
            let x = f64::from((p.0 - a_mid) / span);
            let r = f64::from(p.1) - (coef[0] + coef[1] * x + coef[2] * x * x);
            let u = r / c;
            *w = if u.abs() < 1.0 {
                (1.0 - u * u).powi(2)
            } else {
                0.0
            };
        }
    }
    let eval = move |a: f32| {
        let x = f64::from((a - a_mid) / span);
        coef[0] + coef[1] * x + coef[2] * x * x
    };
    let mut below: Vec<f64> = points
        .iter()
        .zip(&weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(p, _)| (f64::from(p.1) - eval(p.0)).max(0.0))
        .collect();
    below.sort_by(f64::total_cmp);
    let lift = below.get(below.len() * 9 / 10).copied().unwrap_or(0.0);
    Some(move |a: f32| (eval(a) + lift) as f32)
}

/// Longest run of `true` that ends in the lower 40 % (from the bottom up).
fn run_from_bottom(is_t: &[bool]) -> Option<(usize, usize)> {
    let n = is_t.len();
    let end = is_t.iter().rposition(|&t| t)?;
    if (end as f32) < 0.6 * n as f32 {
        return None;
    }
    let mut s = end;
    let mut gap = 0;
    for i in (0..end).rev() {
        if is_t[i] {
            s = i;
            gap = 0;
        } else {
            gap += 1;
            if gap > 2 {
                break;
            }
        }
    }
    Some((s, end))
}

/// Cleans run edges across columns: holes up to 8 columns wide are filled
/// from both sides (dark gaps between teeth, glints), isolated runs (noise)
/// are dropped, and edges get a 7-column median.
fn smooth_runs(runs: &mut [Option<(f32, f32)>]) {
    let n = runs.len();
    let mut filled = runs.to_vec();
    for (i, slot) in filled.iter_mut().enumerate() {
        if slot.is_some() {
            continue;
        }
        let left = (i.saturating_sub(8)..i)
            .rev()
            .find_map(|j| runs[j].map(|r| (j, r)));
        let right = (i + 1..(i + 9).min(n)).find_map(|j| runs[j].map(|r| (j, r)));
        if let (Some((j0, r0)), Some((j1, r1))) = (left, right) {
            let t = (i - j0) as f32 / (j1 - j0) as f32;
            *slot = Some((r0.0 + (r1.0 - r0.0) * t, r0.1 + (r1.1 - r0.1) * t));
        }
    }
    for i in 0..n {
        let lo = i.saturating_sub(3);
        let hi = (i + 4).min(n);
        let near: Vec<(f32, f32)> = filled[lo..hi].iter().flatten().copied().collect();
        if filled[i].is_none() || near.len() * 2 < hi - lo {
            runs[i] = None;
            continue;
        }
        let mut t: Vec<f32> = near.iter().map(|r| r.0).collect();
        let mut b: Vec<f32> = near.iter().map(|r| r.1).collect();
        t.sort_by(f32::total_cmp);
        b.sort_by(f32::total_cmp);
        runs[i] = Some((t[t.len() / 2], b[b.len() / 2]));
    }
}

/// The upper lip's inner edge (left corner -> right corner, through 61-63)
/// and the lower one (left -> right, through 67-65), from the smoothed ring.
fn split_lips(poly: &[Point]) -> (Vec<Point>, Vec<Point>) {
    let half = poly.len() / 2;
    let upper: Vec<Point> = poly[..=half].to_vec();
    let mut lower: Vec<Point> = poly[half..].to_vec();
    lower.push(poly[0]);
    lower.reverse();
    (upper, lower)
}

fn bounds(poly: &[Point]) -> (f32, f32, f32, f32) {
    poly.iter().fold(
        (f32::MAX, f32::MAX, f32::MIN, f32::MIN),
        |(a, b, c, d), p| (a.min(p.x), b.min(p.y), c.max(p.x), d.max(p.y)),
    )
}

/// Coverage of each pixel of row `y` (pixels from `x0`) by the polygon:
/// four sub-rows, exact horizontal overlap on each.
fn row_coverage(poly: &[Point], y: f32, x0: f32, cover: &mut [f32]) {
    cover.iter_mut().for_each(|c| *c = 0.0);
    let n = poly.len();
    let mut xs: Vec<f32> = Vec::with_capacity(8);
    for sub in [-0.375f32, -0.125, 0.125, 0.375] {
        let sy = y + sub;
        xs.clear();
        for i in 0..n {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            if (a.y > sy) != (b.y > sy) {
                xs.push(a.x + (sy - a.y) / (b.y - a.y) * (b.x - a.x));
            }
        }
        xs.sort_by(f32::total_cmp);
        for span in xs.chunks_exact(2) {
            let (l, r) = (span[0] - x0, span[1] - x0);
            // Pixel i covers [i - 0.5, i + 0.5].
            let i0 = (l + 0.5).floor().max(0.0) as usize;
            let i1 = ((r + 0.5).floor().max(0.0) as usize).min(cover.len().saturating_sub(1));
            for (i, c) in cover.iter_mut().enumerate().take(i1 + 1).skip(i0) {
                let lo = (i as f32 - 0.5).max(l);
                let hi = (i as f32 + 0.5).min(r);
                if hi > lo {
                    *c += 0.25 * (hi - lo);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_teeth_line_is_one_smooth_curve_below_the_tips() {
        // Incisal edges on a smile curve, a little uneven, with gaps between
        // teeth read as edges far too high or too low.
        let truth = |a: f32| 20.0 + 0.004 * a * a;
        let mut pts: Vec<(f32, f32)> = (-40..=40)
            .map(|a| {
                let a = a as f32;
                (a, truth(a) + 0.6 * (a * 1.7).sin())
            })
            .collect();
        for k in [5usize, 20, 33, 60] {
            pts[k].1 -= 12.0;
        }
        pts[70].1 += 9.0;
        let curve = fit_smile_curve(&pts, 2.0).unwrap();
        for a in -40..=40 {
            let a = a as f32;
            let d = curve(a) - truth(a);
            assert!((0.0..1.5).contains(&d), "at {a}: {d}");
        }
        assert!(fit_smile_curve(&pts[..4], 2.0).is_none());
    }
}

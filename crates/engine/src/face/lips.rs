//! The inner lip line placed by the pixels. The plain face mesh puts the
//! inner edge of the upper lip too high on a smile that shows teeth (about
//! 6 px at 720p): the opened mouth would then paint over the lip. Each inner
//! lip point is moved to where the lip's colour ends, searched from the
//! middle of its lip towards the other lip.

use super::Regions;
use crate::geometry::Point;
use image::RgbImage;

/// (outer, inner, facing inner, facing outer) points of the 68-point
/// layout, per column of the mouth: the upper lip, then the lower lip in
/// the same column order.
const UPPER: [(usize, usize, usize, usize); 3] =
    [(50, 61, 67, 58), (51, 62, 66, 57), (52, 63, 65, 56)];
const LOWER: [(usize, usize, usize, usize); 3] =
    [(58, 67, 61, 50), (57, 66, 62, 51), (56, 65, 63, 52)];

fn colour(img: &RgbImage, p: Point) -> Option<[f32; 3]> {
    let (x, y) = (p.x.round(), p.y.round());
    if x < 1.0 || y < 1.0 || x >= img.width() as f32 - 1.0 || y >= img.height() as f32 - 1.0 {
        return None;
    }
    // A plus-shaped average: one pixel of noise does not make an edge.
    let mut c = [0.0f32; 3];
    for (dx, dy) in [(0i32, 0i32), (1, 0), (-1, 0), (0, 1), (0, -1)] {
        let px = img
            .get_pixel((x as i32 + dx) as u32, (y as i32 + dy) as u32)
            .0;
        for k in 0..3 {
            c[k] += f32::from(px[k]) / 5.0;
        }
    }
    Some(c)
}

fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

/// Where the lip that holds `start` ends going towards `limit`: the first
/// sample clearly unlike the lip. None when nothing stands out.
fn lip_end(img: &RgbImage, start: Point, limit: Point) -> Option<Point> {
    let lip = colour(img, start)?;
    let len = start.dist(limit);
    if len < 2.0 {
        return None;
    }
    let steps = (len * 2.0) as usize;
    let mut d = Vec::with_capacity(steps);
    for k in 0..=steps {
        d.push(distance(
            colour(img, start.lerp(limit, k as f32 / steps as f32))?,
            lip,
        ));
    }
    let peak = d.iter().copied().fold(0.0f32, f32::max);
    if peak < 40.0 {
        return None;
    }
    // A fixed contrast, not half the peak: teeth in the lip's shadow differ
    // from the lip far less than the bright teeth further on, and two
    // samples in a row (1 px), so one glint is no edge.
    let threshold = (0.35 * peak).clamp(25.0, 45.0);
    let found =
        (0..d.len().saturating_sub(1)).find(|&k| d[k] > threshold && d[k + 1] > threshold)?;
    // The edge itself: where the step reaches half of what lies just past it.
    let local = d[found..(found + 5).min(d.len())]
        .iter()
        .copied()
        .fold(0.0f32, f32::max);
    let half = 0.5 * local;
    let k = (found..d.len()).find(|&k| d[k] >= half)?;
    let t = if k == 0 {
        0.0
    } else {
        let (a, b) = (d[k - 1], d[k]);
        (k as f32 - 1.0 + ((half - a) / (b - a).max(1e-3)).clamp(0.0, 1.0)) / steps as f32
    };
    Some(start.lerp(limit, t))
}

/// Moves the inner lip points of a 68-point layout (and the mesh's matching
/// points) to the lip edges the image shows.
pub fn refine_inner_lips(img: &RgbImage, landmarks: &mut [Point], mesh: &mut [Point]) {
    if landmarks.len() != 68 {
        return;
    }
    let before: Vec<Point> = landmarks.to_vec();
    let mut moved = before.clone();
    for (outer, inner, facing, facing_outer) in UPPER.iter().chain(LOWER.iter()).copied() {
        // Nearer the outer edge than the inner one: the mesh's inner lip can
        // lie on the teeth, and the search must start on the lip.
        let start = before[outer].lerp(before[inner], 0.3);
        // Never past the middle of the facing lip.
        let limit = before[facing].lerp(before[facing_outer], 0.5);
        if let Some(edge) = lip_end(img, start, limit) {
            // An inner lip point stays inside the outer lips: at least a
            // tenth of the way from its outer edge to the facing one.
            let span = before[facing_outer].minus(before[outer]);
            let len2 = span.x * span.x + span.y * span.y;
            let r = edge.minus(before[outer]);
            if len2 > 1e-6 && (r.x * span.x + r.y * span.y) / len2 >= 0.1 {
                moved[inner] = edge;
            }
        }
    }
    // The two lips never cross: where they would, they meet half-way.
    for ((_, up, ..), (_, lo, ..)) in UPPER.iter().zip(LOWER.iter()) {
        let (u, l) = (moved[*up], moved[*lo]);
        let (ub, lb) = (before[*up], before[*lo]);
        // Along the mesh's own up-to-down direction at this column.
        let axis = lb.minus(ub);
        let len = axis.dist(Point::default());
        if len > 1e-3 {
            let along = |p: Point| {
                let r = p.minus(ub);
                (r.x * axis.x + r.y * axis.y) / len
            };
            if along(u) > along(l) {
                let m = u.lerp(l, 0.5);
                moved[*up] = m;
                moved[*lo] = m;
            }
        }
    }
    for (k, p) in moved.iter().enumerate().skip(60) {
        if p.x.is_finite() && p.y.is_finite() {
            landmarks[k] = *p;
        }
    }
    for (_, inner, ..) in UPPER.iter().chain(LOWER.iter()) {
        if let Some(slot) = Regions::mesh_index(*inner).and_then(|m| mesh.get_mut(m)) {
            *slot = landmarks[*inner];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A drawn mouth: skin, a red upper lip, teeth, a red lower lip.
    fn mouth(upper_lip_end: u32) -> RgbImage {
        RgbImage::from_fn(100, 100, |_, y| {
            image::Rgb(match y {
                0..40 => [200, 160, 140],
                y if y < upper_lip_end => [170, 70, 70],
                y if y < 62 => [235, 230, 220],
                62..70 => [170, 70, 70],
                _ => [200, 160, 140],
            })
        })
    }

    fn layout(inner_top: f32, inner_bottom: f32) -> Vec<Point> {
        let mut l = vec![Point::new(50.0, 50.0); 68];
        for (k, x) in [
            (50, 40.0),
            (51, 50.0),
            (52, 60.0),
            (61, 40.0),
            (62, 50.0),
            (63, 60.0),
        ] {
            l[k] = Point::new(x, if k < 60 { 40.0 } else { inner_top });
        }
        for (k, x) in [
            (58, 40.0),
            (57, 50.0),
            (56, 60.0),
            (67, 40.0),
            (66, 50.0),
            (65, 60.0),
        ] {
            l[k] = Point::new(x, if k < 60 { 70.0 } else { inner_bottom });
        }
        l
    }

    #[test]
    fn a_high_inner_lip_comes_down_to_the_teeth() {
        // The lip ends at y = 50; the layout says 45.
        let img = mouth(50);
        let mut l = layout(45.0, 62.0);
        let mut mesh = vec![Point::default(); 478];
        refine_inner_lips(&img, &mut l, &mut mesh);
        for k in [61, 62, 63] {
            assert!((l[k].y - 50.0).abs() < 1.0, "upper {k}: {}", l[k].y);
        }
        for k in [65, 66, 67] {
            assert!((l[k].y - 62.0).abs() < 1.0, "lower {k}: {}", l[k].y);
        }
        assert!((mesh[13].y - l[62].y).abs() < 1e-6);
    }

    #[test]
    fn a_lower_lip_placed_on_the_teeth_comes_down_to_the_lip() {
        // Teeth from 50 to 62, the lower lip from 62 to 70; the layout puts
        // its lower lip from the teeth into the lip (inner 52, outer 68).
        let img = mouth(50);
        let mut l = layout(50.0, 52.0);
        for k in [56, 57, 58] {
            l[k].y = 68.0;
        }
        refine_inner_lips(&img, &mut l, &mut []);
        for k in [65, 66, 67] {
            assert!((l[k].y - 62.0).abs() < 1.0, "lower {k}: {}", l[k].y);
        }
    }

    #[test]
    fn flat_colour_leaves_the_layout_alone() {
        let img = RgbImage::from_pixel(100, 100, image::Rgb([120, 90, 80]));
        let mut l = layout(45.0, 62.0);
        let before = l.clone();
        refine_inner_lips(&img, &mut l, &mut []);
        assert_eq!(l, before);
    }
}

//! The inner lip line placed by the pixels. The plain face mesh puts the
//! inner edge of the upper lip too high on a smile that shows teeth (about
//! 6 px at 720p): the opened mouth would then paint over the lip. Each inner
//! lip point is moved to where the lip's colour ends, searched from the
//! middle of its lip towards the other lip.

use super::Regions;
use crate::geometry::{fit_quadratic, grow_polygon, point_in_polygon, Point};
use image::RgbImage;

/// Mesh indices of one lip column: outer upper, inner upper, inner lower,
/// outer lower.
type Column = (usize, usize, usize, usize);

/// The mesh's lip columns, image left to right without the corners:
/// (outer upper, inner upper, inner lower, outer lower) mesh indices.
pub const MESH_LIP_COLUMNS: [Column; 9] = [
    (185, 191, 95, 146),
    (40, 80, 88, 91),
    (39, 81, 178, 181),
    (37, 82, 87, 84),
    (0, 13, 14, 17),
    (267, 312, 317, 314),
    (269, 311, 402, 405),
    (270, 310, 318, 321),
    (409, 415, 324, 375),
];

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

/// Where the lip of colour `lip` ends going from `start` towards `limit`:
/// past the first lip-like sample (within `lip_within` of the way), the
/// first one clearly unlike the lip.
/// None when nothing stands out.
fn lip_end(
    img: &RgbImage,
    start: Point,
    limit: Point,
    lip: [f32; 3],
    lip_within: f32,
) -> Option<Point> {
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
    // The start may lie on skin or a moustache: the lip begins at the
    // first sample like it, if there is one before `lip_within` of the way
    // (past it, a lip-like sample is the facing lip).
    let within = ((lip_within.clamp(0.0, 1.0) * steps as f32) as usize).min(d.len());
    let on = d[..within].iter().position(|&v| v < threshold).unwrap_or(0);
    let found =
        (on..d.len().saturating_sub(1)).find(|&k| d[k] > threshold && d[k + 1] > threshold)?;
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

/// Moves the mesh's inner lip points to the lip edges the image shows,
/// every column of the dense contour, so the contour stays smooth.
pub fn refine_inner_lips(img: &RgbImage, mesh: &mut [Point]) {
    if mesh.len() < 468 {
        return;
    }
    let before: Vec<Point> = mesh.to_vec();
    let mut moved = before.clone();
    // Each lip's colour: the median over its columns a third of the way
    // in from its outer edge, so a column that starts on a tooth does not
    // take the tooth for the lip.
    let lip_colour = |outer: fn(&Column) -> (usize, usize)| {
        let samples: Vec<[f32; 3]> = MESH_LIP_COLUMNS
            .iter()
            .filter_map(|c| {
                let (o, i) = outer(c);
                colour(img, before[o].lerp(before[i], 0.3))
            })
            .collect();
        median_colour(&samples)
    };
    let upper_lip = lip_colour(|c| (c.0, c.1));
    let lower_lip = lip_colour(|c| (c.3, c.2));
    for (outer_u, inner_u, inner_l, outer_l) in MESH_LIP_COLUMNS {
        for (outer, inner, facing, facing_outer, lip) in [
            (outer_u, inner_u, inner_l, outer_l, upper_lip),
            (outer_l, inner_l, inner_u, outer_u, lower_lip),
        ] {
            let Some(lip) = lip else { continue };
            // Near the outer edge: the mesh's inner lip can lie on the
            // teeth, and the search must start on the lip.
            let start = before[outer].lerp(before[inner], 0.1);
            // Never past the middle of the facing lip.
            let limit = before[facing].lerp(before[facing_outer], 0.5);
            // The lip begins before the mesh's inner edge.
            let len = start.dist(limit).max(1e-3);
            let within = start.dist(before[inner]) / len + 0.05;
            if let Some(edge) = lip_end(img, start, limit, lip, within) {
                // An inner lip point stays inside the outer lips: at least a
                // tenth of the way from its outer edge to the facing one.
                let span = before[facing_outer].minus(before[outer]);
                let len2 = span.x * span.x + span.y * span.y;
                let r = edge.minus(before[outer]);
                if len2 > 1e-6
                    && (r.x * span.x + r.y * span.y) / len2 >= 0.1
                    && edge.x.is_finite()
                    && edge.y.is_finite()
                {
                    moved[inner] = edge;
                }
            }
        }
        // The two lips never cross: where they would, they meet half-way,
        // along the mesh's own up-to-down direction at this column.
        let (u, l) = (moved[inner_u], moved[inner_l]);
        let (ub, lb) = (before[inner_u], before[inner_l]);
        let axis = lb.minus(ub);
        let len = axis.dist(Point::default());
        if len > 1e-3 {
            let along = |p: Point| {
                let r = p.minus(ub);
                (r.x * axis.x + r.y * axis.y) / len
            };
            if along(u) > along(l) {
                let m = u.lerp(l, 0.5);
                moved[inner_u] = m;
                moved[inner_l] = m;
            }
        }
    }
    // A lip's inner edge is a smooth curve: a column the search got wrong
    // (a gap between teeth, a glint) stands out from the others.
    let corners = (before[78], before[308]);
    for pick in [|c: &Column| c.1, |c: &Column| c.2] {
        let idx: Vec<usize> = MESH_LIP_COLUMNS.iter().map(pick).collect();
        smooth_outliers(&mut moved, &idx, corners);
    }
    // Whatever moved stays inside the outer lips (grown a pixel); near the
    // corners the two contours are close and a search can overshoot.
    let outer = Regions::from_mesh(mesh).map(|r| grow_polygon(&r.lips_outer, 1.0));
    for (_, inner_u, inner_l, _) in MESH_LIP_COLUMNS {
        for i in [inner_u, inner_l] {
            if outer
                .as_ref()
                .is_none_or(|poly| point_in_polygon(moved[i], poly))
            {
                mesh[i] = moved[i];
            }
        }
    }
}

fn median_colour(samples: &[[f32; 3]]) -> Option<[f32; 3]> {
    if samples.is_empty() {
        return None;
    }
    let mut out = [0.0f32; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut v: Vec<f32> = samples.iter().map(|c| c[k]).collect();
        v.sort_by(f32::total_cmp);
        *o = v[v.len() / 2];
    }
    Some(out)
}

/// Puts points of one lip's inner edge that lie far off the quadratic
/// through the others back on it (in the frame of the mouth corners).
fn smooth_outliers(points: &mut [Point], idx: &[usize], (left, right): (Point, Point)) {
    let axis = right.minus(left);
    let width = axis.dist(Point::default());
    if width < 4.0 || idx.len() < 5 {
        return;
    }
    let across = axis.scale(1.0 / width);
    let down = Point::new(-across.y, across.x);
    let frame = |p: Point| {
        let r = p.minus(left);
        (r.x * across.x + r.y * across.y, r.x * down.x + r.y * down.y)
    };
    let mut pts: Vec<(f32, f32)> = idx.iter().map(|&i| frame(points[i])).collect();
    // The worst first, each against the fit of the others, so one bad
    // column does not drag a good one off.
    for _ in 0..3 {
        let mut worst: Option<(usize, f32, f32)> = None;
        for k in 0..pts.len() {
            let others: Vec<(f32, f32)> = pts
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != k)
                .map(|(_, &p)| p)
                .collect();
            let Some([c0, c1, c2]) = fit_quadratic(&others) else {
                return;
            };
            let a = pts[k].0;
            let want = c0 + c1 * a + c2 * a * a;
            let off = (pts[k].1 - want).abs();
            if off > 0.06 * width && worst.is_none_or(|w| off > w.1) {
                worst = Some((k, off, want));
            }
        }
        let Some((k, _, want)) = worst else {
            break;
        };
        pts[k].1 = want;
        let a = pts[k].0;
        points[idx[k]] = left.plus(across.scale(a)).plus(down.scale(want));
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

    /// A mesh whose lip columns stand at x = 10..90: outer lips at 40 and
    /// `outer_bottom`, inner lips at `inner_top` and `inner_bottom`.
    fn mesh(inner_top: f32, inner_bottom: f32, outer_bottom: f32) -> Vec<Point> {
        let mut m = vec![Point::new(50.0, 50.0); 478];
        // The corners, outer (61, 291) and inner (78, 308).
        for (i, x) in [(61, 0.0), (78, 2.0), (308, 98.0), (291, 100.0)] {
            m[i] = Point::new(x, 55.0);
        }
        for (k, (ou, iu, il, ol)) in MESH_LIP_COLUMNS.iter().copied().enumerate() {
            let x = 10.0 + 10.0 * k as f32;
            m[ou] = Point::new(x, 40.0);
            m[iu] = Point::new(x, inner_top);
            m[il] = Point::new(x, inner_bottom);
            m[ol] = Point::new(x, outer_bottom);
        }
        m
    }

    #[test]
    fn a_high_inner_lip_comes_down_to_the_teeth() {
        // The lip ends at y = 50; the mesh says 45.
        let img = mouth(50);
        let mut m = mesh(45.0, 62.0, 70.0);
        refine_inner_lips(&img, &mut m);
        for (_, iu, il, _) in MESH_LIP_COLUMNS {
            assert!((m[iu].y - 50.0).abs() < 1.0, "upper {iu}: {}", m[iu].y);
            assert!((m[il].y - 62.0).abs() < 1.0, "lower {il}: {}", m[il].y);
        }
    }

    #[test]
    fn a_lower_lip_placed_on_the_teeth_comes_down_to_the_lip() {
        // Teeth from 50 to 62, the lower lip from 62 to 70; the mesh puts
        // its lower lip from the teeth into the lip (inner 52, outer 68).
        let img = mouth(50);
        let mut m = mesh(50.0, 52.0, 68.0);
        refine_inner_lips(&img, &mut m);
        for (_, _, il, _) in MESH_LIP_COLUMNS {
            assert!((m[il].y - 62.0).abs() < 1.0, "lower {il}: {}", m[il].y);
        }
    }

    #[test]
    fn flat_colour_leaves_the_mesh_alone() {
        let img = RgbImage::from_pixel(100, 100, image::Rgb([120, 90, 80]));
        let mut m = mesh(45.0, 62.0, 70.0);
        let before = m.clone();
        refine_inner_lips(&img, &mut m);
        assert_eq!(m, before);
    }
}

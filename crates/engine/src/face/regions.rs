//! Named regions of a face, so nothing after `face/` reads raw model
//! indices: lip contours, eyelids, irises, brows, jaw line and nose. From
//! the mesh's topology, or filled in between dlib's 68 points.
//!
//! "Right" and "left" are the subject's: the right eye is on the image's left.

use crate::geometry::{catmull_rom, centroid, Point};

// MediaPipe face-mesh topology (indices into the 468 + 10 points).
const LIPS_OUTER_UPPER: [usize; 11] = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291];
const LIPS_OUTER_LOWER: [usize; 11] = [291, 375, 321, 405, 314, 17, 84, 181, 91, 146, 61];
const LIPS_INNER_UPPER: [usize; 11] = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308];
const LIPS_INNER_LOWER: [usize; 11] = [308, 324, 318, 402, 317, 14, 87, 178, 88, 95, 78];
const RIGHT_EYE_UPPER: [usize; 9] = [33, 246, 161, 160, 159, 158, 157, 173, 133];
const RIGHT_EYE_LOWER: [usize; 9] = [133, 155, 154, 153, 145, 144, 163, 7, 33];
const LEFT_EYE_UPPER: [usize; 9] = [362, 398, 384, 385, 386, 387, 388, 466, 263];
const LEFT_EYE_LOWER: [usize; 9] = [263, 249, 390, 373, 374, 380, 381, 382, 362];
const RIGHT_BROW: [usize; 5] = [70, 63, 105, 66, 107];
const LEFT_BROW: [usize; 5] = [336, 296, 334, 293, 300];
const JAW: [usize; 17] = [
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,
];
const NOSE_BRIDGE: [usize; 4] = [168, 197, 5, 1];
const NOSE_BASE: [usize; 5] = [98, 97, 2, 326, 327];
const RIGHT_IRIS: usize = 468;
const LEFT_IRIS: usize = 473;

/// Where the classic 68-point layout (iBUG 300-W order) sits on the named
/// contours: positions in each loop. `layout68` reads them, `from_layout68`
/// (dlib's points) fills the rest of each loop between them.
const EYE_AT: [usize; 6] = [0, 3, 5, 8, 11, 13];
const OUTER_LIP_AT: [usize; 12] = [0, 2, 4, 5, 6, 8, 10, 12, 14, 15, 16, 18];
const INNER_LIP_AT: [usize; 8] = [0, 3, 5, 7, 10, 13, 15, 17];
const LIP_LOOP: usize = 20;
const EYE_LOOP: usize = 16;
/// An iris is about 0.4 of the eye's width across (dlib gives no iris).
const IRIS_RADIUS_OF_EYE_WIDTH: f32 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Iris {
    pub center: Point,
    pub radius: f32,
}

/// The face's parts as contours in image pixels: what everything after
/// `face/` reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Regions {
    /// Closed loop from the right mouth corner over the upper lip and back
    /// under the lower lip (20 points).
    pub lips_outer: Vec<Point>,
    /// The lips' inner edge, the same way round (20 points).
    pub lips_inner: Vec<Point>,
    /// Closed eyelid contours: upper lid from the outer (right eye) or inner
    /// (left eye) corner, then the lower lid back (16 points each).
    pub right_eye: Vec<Point>,
    pub left_eye: Vec<Point>,
    pub right_iris: Iris,
    pub left_iris: Iris,
    /// Upper brow edge, image left to right (5 points each).
    pub right_brow: Vec<Point>,
    pub left_brow: Vec<Point>,
    /// Face outline from the right temple over the chin to the left (17 points).
    pub jaw: Vec<Point>,
    /// From between the eyes to the tip (4 points).
    pub nose_bridge: Vec<Point>,
    /// Under the nose, image left to right (5 points).
    pub nose_base: Vec<Point>,
}

fn pick(mesh: &[Point], idx: &[usize]) -> Vec<Point> {
    idx.iter().map(|&i| mesh[i]).collect()
}

/// Upper then lower contour as one closed loop (shared corners once).
fn lo(mesh: &[Point], upper: &[usize], lower: &[usize]) -> Vec<Point> {
    let mut v = pick(mesh, upper);
    v.extend(pick(mesh, &lower[1..lower.len() - 1]));
    v
}

fn iris(mesh: &[Point], centre: usize) -> Iris {
    let c = mesh[centre];
    let radius = (1..5).map(|k| c.dist(mesh[centre + k])).sum::<f32>() / 4.0;
    Iris { center: c, radius }
}

/// A closed loop of `len` points through `known` (placed at `at`), the
/// points between on a Catmull-Rom curve through them.
fn fill_loop(known: &[Point], at: &[usize], len: usize) -> Vec<Point> {
    let n = known.len();
    let mut out = vec![Point::default(); len];
    for k in 0..n {
        let (a, b) = (at[k], if k + 1 < n { at[k + 1] } else { at[0] + len });
        let (p0, p1) = (known[(k + n - 1) % n], known[k]);
        let (p2, p3) = (known[(k + 1) % n], known[(k + 2) % n]);
        for j in a..b {
            let t = (j - a) as f32 / (b - a) as f32;
            out[j % len] = catmull_rom(p0, p1, p2, p3, t);
        }
    }
    out
}

fn pick_at(contour: &[Point], at: &[usize]) -> Vec<Point> {
    at.iter().filter_map(|&i| contour.get(i).copied()).collect()
}

impl Regions {
    /// Regions of a full 478-point mesh; None for any other count.
    pub fn from_mesh(mesh: &[Point]) -> Option<Self> {
        if mesh.len() != super::mesh::MESH_POINTS {
            return None;
        }
        Some(Self {
            lips_outer: lo(mesh, &LIPS_OUTER_UPPER, &LIPS_OUTER_LOWER),
            lips_inner: lo(mesh, &LIPS_INNER_UPPER, &LIPS_INNER_LOWER),
            right_eye: lo(mesh, &RIGHT_EYE_UPPER, &RIGHT_EYE_LOWER),
            left_eye: lo(mesh, &LEFT_EYE_UPPER, &LEFT_EYE_LOWER),
            right_iris: iris(mesh, RIGHT_IRIS),
            left_iris: iris(mesh, LEFT_IRIS),
            right_brow: pick(mesh, &RIGHT_BROW),
            left_brow: pick(mesh, &LEFT_BROW),
            jaw: pick(mesh, &JAW),
            nose_bridge: pick(mesh, &NOSE_BRIDGE),
            nose_base: pick(mesh, &NOSE_BASE),
        })
    }

    /// Regions from a 68-point layout (the dlib fallback): its points kept,
    /// each loop filled in between them, irises at the eyes' centres.
    pub fn from_layout68(l: &[Point]) -> Option<Self> {
        if l.len() != 68 {
            return None;
        }
        let eye = |from: usize| fill_loop(&l[from..from + 6], &EYE_AT, EYE_LOOP);
        let iris = |from: usize| Iris {
            center: centroid(&l[from..from + 6]),
            radius: IRIS_RADIUS_OF_EYE_WIDTH * l[from].dist(l[from + 3]),
        };
        Some(Self {
            lips_outer: fill_loop(&l[48..60], &OUTER_LIP_AT, LIP_LOOP),
            lips_inner: fill_loop(&l[60..68], &INNER_LIP_AT, LIP_LOOP),
            right_eye: eye(36),
            left_eye: eye(42),
            right_iris: iris(36),
            left_iris: iris(42),
            right_brow: l[17..22].to_vec(),
            left_brow: l[22..27].to_vec(),
            jaw: l[..17].to_vec(),
            nose_bridge: l[27..31].to_vec(),
            nose_base: l[31..36].to_vec(),
        })
    }

    /// The classic 68-point layout (iBUG 300-W order: jaw, brows, nose,
    /// eyes, outer and inner lips) read off the named contours: the points
    /// the measurements of `quality` are defined on. Shorter than 68 only
    /// when a contour is (regions not made here).
    pub fn layout68(&self) -> Vec<Point> {
        let mut v = Vec::with_capacity(68);
        v.extend_from_slice(&self.jaw);
        v.extend_from_slice(&self.right_brow);
        v.extend_from_slice(&self.left_brow);
        v.extend_from_slice(&self.nose_bridge);
        v.extend_from_slice(&self.nose_base);
        v.extend(pick_at(&self.right_eye, &EYE_AT));
        v.extend(pick_at(&self.left_eye, &EYE_AT));
        v.extend(pick_at(&self.lips_outer, &OUTER_LIP_AT));
        v.extend(pick_at(&self.lips_inner, &INNER_LIP_AT));
        v
    }

    /// Every point of every region (for bounding boxes).
    pub fn all_points(&self) -> impl Iterator<Item = Point> + '_ {
        [
            &self.lips_outer,
            &self.lips_inner,
            &self.right_eye,
            &self.left_eye,
            &self.right_brow,
            &self.left_brow,
            &self.jaw,
            &self.nose_bridge,
            &self.nose_base,
        ]
        .into_iter()
        .flat_map(|c| c.iter().copied())
    }

    /// The eyes' outer corners, right (image left) then left: the eye line.
    pub fn eye_line(&self) -> Option<(Point, Point)> {
        Some((*self.right_eye.first()?, *self.left_eye.get(EYE_AT[3])?))
    }

    /// The mouth's corners, right (image left) then left.
    pub fn mouth_corners(&self) -> Option<(Point, Point)> {
        Some((
            *self.lips_outer.first()?,
            *self.lips_outer.get(OUTER_LIP_AT[6])?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_68_point_layout_round_trips_through_the_named_regions() {
        let l: Vec<Point> = (0..68)
            .map(|i| {
                let a = i as f32 * 0.37;
                Point::new(100.0 + 40.0 * a.cos() + i as f32, 120.0 + 30.0 * a.sin())
            })
            .collect();
        let r = Regions::from_layout68(&l).expect("68 points");
        assert_eq!(r.lips_inner.len(), LIP_LOOP);
        assert_eq!(r.right_eye.len(), EYE_LOOP);
        let back = r.layout68();
        for (a, b) in l.iter().zip(&back) {
            assert!(a.dist(*b) < 1e-4, "{a:?} came back as {b:?}");
        }
        assert!(Regions::from_layout68(&l[..60]).is_none());
    }
}

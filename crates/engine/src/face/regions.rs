//! Named regions of the face mesh, so nothing after `face/` reads raw mesh
//! indices: lip contours, eyelids, irises, brows, jaw line and nose.
//!
//! "Right" and "left" are the subject's: the right eye is on the image's left.

use crate::geometry::Point;

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

/// The points of a 68-point contour layout (iBUG 300-W order: jaw, brows,
/// nose, eyes, outer and inner lips), each taken from the mesh. The rig and
/// the quality tracker work on these contours; they are named in `Regions`.
const LAYOUT_68: [usize; 68] = [
    // jaw 0-16
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,
    // brows 17-26 (image left to right)
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300, // nose 27-35
    168, 197, 5, 1, 98, 97, 2, 326, 327,
    // right eye 36-41, left eye 42-47 (corner, upper, corner, lower)
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    // outer lips 48-59, inner lips 60-67
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91, 78, 81, 13, 311, 308, 402, 14, 178,
];

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Iris {
    pub center: Point,
    pub radius: f32,
}

/// The face's parts as contours in image pixels.
#[derive(Debug, Clone, serde::Serialize)]
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

    /// The 68-point contour layout the rig and the quality tracker use.
    pub fn layout68(mesh: &[Point]) -> Option<Vec<Point>> {
        (mesh.len() == super::mesh::MESH_POINTS).then(|| pick(mesh, &LAYOUT_68))
    }

    /// The mesh point a 68-point layout index stands for.
    pub fn mesh_index(layout_index: usize) -> Option<usize> {
        LAYOUT_68.get(layout_index).copied()
    }
}

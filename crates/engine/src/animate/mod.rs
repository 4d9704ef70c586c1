//! Animation: a performance (blinks, head motion, moods, gestures, camera)
//! and a mouth-pose track give a state per frame; a landmark rig turns it into
//! moved control points, a piecewise-affine mesh warps the portrait's own
//! pixels, the mouth interior is painted where the lips part, and the camera
//! frames the result.

pub mod camera;
pub mod direction;
pub mod frame;
pub mod mouth;
pub mod perform;
pub mod pose;
pub mod rig;
pub mod warp;

pub use direction::{Direction, Emotion};
pub use frame::{FrameRenderer, YuvFrame};
pub use perform::{FrameState, Performance};
pub use pose::{pose_track, MouthPose};
pub use rig::FaceRig;

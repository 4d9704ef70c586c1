//! Mouth poses: the few continuous parameters each mouth shape sets, and the
//! per-frame pose track with eased transitions between cues.

use crate::timeline::{MouthTimeline, Shape};

/// Continuous mouth parameters; the rig turns them into landmark motion.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MouthPose {
    /// Lip gap as a fraction of its maximum (0 closed, 1 wide open).
    pub open: f32,
    /// Lip corners: -1 puckered/rounded, 0 neutral, +1 spread.
    pub spread: f32,
    /// Lips pressed together (bilabial closure), 0..1.
    pub press: f32,
    /// Lower lip tucked under the upper teeth (F, V), 0..1.
    pub teeth_on_lip: f32,
    /// Tongue tip raised behind the upper teeth (L), 0..1.
    pub tongue: f32,
}

impl MouthPose {
    pub fn for_shape(shape: Shape) -> Self {
        let p = |open, spread| MouthPose {
            open,
            spread,
            ..Default::default()
        };
        match shape {
            Shape::X => p(0.0, 0.0),
            Shape::A => MouthPose {
                press: 1.0,
                ..Default::default()
            },
            Shape::B => p(0.12, 0.3),
            Shape::C => p(0.45, 0.15),
            Shape::D => p(0.85, 0.05),
            Shape::E => p(0.35, -0.45),
            Shape::F => p(0.16, -1.0),
            Shape::G => MouthPose {
                open: 0.1,
                spread: 0.1,
                teeth_on_lip: 1.0,
                ..Default::default()
            },
            Shape::H => MouthPose {
                open: 0.5,
                spread: 0.05,
                tongue: 1.0,
                ..Default::default()
            },
        }
    }

    pub fn lerp(&self, o: &MouthPose, t: f32) -> MouthPose {
        let l = |a: f32, b: f32| a + (b - a) * t;
        MouthPose {
            open: l(self.open, o.open),
            spread: l(self.spread, o.spread),
            press: l(self.press, o.press),
            teeth_on_lip: l(self.teeth_on_lip, o.teeth_on_lip),
            tongue: l(self.tongue, o.tongue),
        }
    }
}

/// Time to move from one shape to the next. Mouths pop open quickly and
/// close a little more slowly.
const OPEN_TRANSITION: f64 = 0.05;
const CLOSE_TRANSITION: f64 = 0.08;

/// One pose per video frame, sampled at the frame centre times.
pub fn pose_track(timeline: &MouthTimeline, fps: f64, frames: usize) -> Vec<MouthPose> {
    (0..frames)
        .map(|f| pose_at(timeline, f as f64 / fps))
        .collect()
}

pub fn pose_at(timeline: &MouthTimeline, t: f64) -> MouthPose {
    let Some(i) = timeline.cue_index_at(t) else {
        return MouthPose::default();
    };
    let cue = timeline.cues[i];
    let target = MouthPose::for_shape(cue.shape);
    let Some(prev) = i.checked_sub(1).and_then(|j| timeline.cues.get(j)) else {
        return target;
    };
    let from = MouthPose::for_shape(prev.shape);
    let closing = target.open < from.open;
    let dur = if closing {
        CLOSE_TRANSITION
    } else {
        OPEN_TRANSITION
    };
    // Never spend more than half the cue in transit, so the shape is reached.
    let dur = dur.min((cue.end - cue.start) * 0.5).max(1e-3);
    let x = ((t - cue.start) / dur).clamp(0.0, 1.0) as f32;
    let eased = x * x * (3.0 - 2.0 * x);
    from.lerp(&target, eased)
}

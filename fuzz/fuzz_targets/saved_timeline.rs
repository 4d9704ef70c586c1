#![no_main]
//! A mouth timeline saved by `mouthpiece timeline` and read back by
//! `render --timeline`, as JSON and as Rhubarb-style TSV: a checked timeline
//! or an error, never a panic; a short one also drives the animation.
use libfuzzer_sys::fuzz_target;
use mouthpiece_engine::animate::{Direction, Emotion, Performance};
use mouthpiece_engine::media::ANALYSIS_RATE;
use mouthpiece_engine::timeline::MouthTimeline;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [MouthTimeline::from_json(text), MouthTimeline::from_tsv(text)] {
        let Ok(tl) = parsed else { continue };
        assert!(tl.duration.is_finite() && tl.duration >= 0.0);
        if tl.duration > 4.0 {
            continue;
        }
        let fps = 25.0;
        let direction = Direction::default();
        let samples = vec![0.0f32; (tl.duration * f64::from(ANALYSIS_RATE)) as usize];
        let states = Performance {
            timeline: &tl,
            samples: &samples,
            fps,
            frames: (tl.duration * fps).ceil() as usize,
            seed: 1,
            direction: &direction,
            emotion: Emotion::Neutral,
            face_centre: (0.5, 0.4),
        }
        .frames();
        let shown = format!("{states:?}");
        assert!(!shown.contains("NaN") && !shown.contains("inf"), "{shown}");
    }
});

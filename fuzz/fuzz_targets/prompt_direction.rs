#![no_main]
//! The `prompt` field in plain words: any text gives a direction (unknown
//! words ignored), and the performance it drives stays finite and in frame.
use libfuzzer_sys::fuzz_target;
use mouthpiece_engine::animate::direction::MAX_ZOOM;
use mouthpiece_engine::animate::{Direction, Emotion, Performance};
use mouthpiece_engine::media::ANALYSIS_RATE;
use mouthpiece_engine::timeline::MouthTimeline;

fuzz_target!(|data: &[u8]| {
    let prompt = String::from_utf8_lossy(data);
    let direction = Direction::parse(&prompt);
    let seconds = 3.0;
    let fps = 25.0;
    let tl = MouthTimeline::rest(seconds);
    let samples = vec![0.0f32; (seconds * f64::from(ANALYSIS_RATE)) as usize];
    let states = Performance {
        timeline: &tl,
        samples: &samples,
        fps,
        frames: (seconds * fps) as usize,
        seed: data.len() as u64,
        direction: &direction,
        emotion: direction.emotion().unwrap_or(Emotion::Neutral),
        face_centre: (0.5, 0.4),
    }
    .frames();
    for s in &states {
        let shown = format!("{s:?}");
        assert!(!shown.contains("NaN") && !shown.contains("inf"), "{shown}");
        assert!(s.camera.zoom > 0.0 && s.camera.zoom <= MAX_ZOOM + 1e-3, "{shown}");
    }
});

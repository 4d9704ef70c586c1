//! Replays the committed fuzzing corpora (fuzz/corpus) and the inputs that
//! once failed (fuzz/regressions) through the same parsers the fuzz targets
//! drive, so every CI run re-checks them without a fuzzing toolchain.

use mouthpiece_engine::animate::direction::MAX_ZOOM;
use mouthpiece_engine::animate::{Direction, Emotion, FrameState, Performance};
use mouthpiece_engine::face::{DetectParams, HaarCascade, ShapePredictor};
use mouthpiece_engine::geometry::Rect;
use mouthpiece_engine::media::{
    decode_audio_bytes, decode_portrait, PortraitLimits, ANALYSIS_RATE,
};
use mouthpiece_engine::timeline::MouthTimeline;
use std::path::PathBuf;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            out.push((name, std::fs::read(e.path()).unwrap()));
        }
    }
    assert!(!out.is_empty(), "no corpus for {target}");
    out.sort();
    out
}

#[test]
fn landmark_model_corpus() {
    for (name, bytes) in inputs("landmark_model") {
        let loaded = ShapePredictor::from_reader(&bytes[..]);
        if name == "tiny-valid.dat" {
            let model = loaded.unwrap_or_else(|e| panic!("{name}: {e}"));
            let gray = image::GrayImage::from_pixel(64, 64, image::Luma([128]));
            let points = model.predict(&gray, &Rect::new(8.0, 8.0, 48.0, 48.0));
            assert_eq!(points.len(), 68);
            assert!(points.iter().all(|p| p.x.is_finite() && p.y.is_finite()));
        } else if let Ok(model) = loaded {
            let gray = image::GrayImage::from_pixel(32, 32, image::Luma([7]));
            let _ = model.predict(&gray, &Rect::new(2.0, 2.0, 20.0, 20.0));
        }
    }
    let truncated = ShapePredictor::from_reader(&inputs("landmark_model")[1].1[..]);
    assert!(truncated.is_err());
}

#[test]
fn haar_cascade_corpus() {
    for (name, bytes) in inputs("haar_cascade") {
        let Ok(xml) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let parsed = HaarCascade::from_xml_str(xml);
        if name == "tiny.xml" {
            assert!(parsed.is_ok(), "{name}: {parsed:?}");
        }
        if let Ok(c) = parsed {
            let gray = image::GrayImage::from_pixel(24, 24, image::Luma([90]));
            let _ = c.detect(&gray, &DetectParams::default());
        }
    }
}

#[test]
fn portrait_image_corpus() {
    let limits = PortraitLimits {
        min_side: 16,
        ..PortraitLimits::default()
    };
    for (name, bytes) in inputs("portrait_image") {
        let decoded = decode_portrait(&bytes, &limits);
        if name.starts_with("tiny.") {
            let img = decoded.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(img.width(), 24, "{name}");
        }
    }
}

#[test]
fn speech_audio_corpus() {
    for (name, bytes) in inputs("speech_audio") {
        let decoded = decode_audio_bytes(bytes, None);
        if name.starts_with("short.") {
            let track = decoded.unwrap_or_else(|e| panic!("{name}: {e}"));
            eprintln!("{name}: {:.3} s", track.duration);
            // 0.3 s of speech: priming and padding are trimmed (Vorbis pads a little).
            assert!(
                (0.29..0.33).contains(&track.duration),
                "{name}: {}",
                track.duration
            );
        } else if name.starts_with("oom-") || name.starts_with("crash-") {
            // Once a crash or an out-of-memory abort; now a clean refusal.
            assert!(decoded.is_err(), "{name}");
        }
    }
}

/// The states of a short performance: finite, and the camera in frame.
fn perform(timeline: &MouthTimeline, direction: &Direction, seed: u64) -> Vec<FrameState> {
    let fps = 25.0;
    let samples = vec![0.0f32; (timeline.duration * f64::from(ANALYSIS_RATE)) as usize];
    let states = Performance {
        timeline,
        samples: &samples,
        fps,
        frames: (timeline.duration * fps).ceil() as usize,
        seed,
        direction,
        emotion: direction.emotion().unwrap_or(Emotion::Neutral),
        face_centre: (0.5, 0.4),
    }
    .frames();
    for s in &states {
        let shown = format!("{s:?}");
        assert!(!shown.contains("NaN") && !shown.contains("inf"), "{shown}");
        assert!(
            s.camera.zoom > 0.0 && s.camera.zoom <= MAX_ZOOM + 1e-3,
            "{shown}"
        );
    }
    states
}

#[test]
fn saved_timeline_corpus() {
    for (name, bytes) in inputs("saved_timeline") {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let parsed = if name.ends_with(".tsv") {
            MouthTimeline::from_tsv(text)
        } else {
            MouthTimeline::from_json(text)
        };
        match name.as_str() {
            "rhubarb.json" | "rhubarb.tsv" => {
                let tl = parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(tl.cues.len() >= 5, "{name}");
                let frames = (tl.duration * 25.0).ceil() as usize;
                assert_eq!(perform(&tl, &Direction::default(), 1).len(), frames);
            }
            "nan.tsv" | "backwards.json" => assert!(parsed.is_err(), "{name}"),
            _ => {
                let _ = MouthTimeline::from_json(text);
                if let Ok(tl) = MouthTimeline::from_tsv(text) {
                    assert!(tl.duration.is_finite());
                    if tl.duration <= 4.0 {
                        perform(&tl, &Direction::default(), 1);
                    }
                }
            }
        }
    }
}

#[test]
fn prompt_direction_corpus() {
    for (name, bytes) in inputs("prompt_direction") {
        let direction = Direction::parse(&String::from_utf8_lossy(&bytes));
        let states = perform(&MouthTimeline::rest(3.0), &direction, bytes.len() as u64);
        match name.as_str() {
            "kling-example.txt" => assert!(!direction.gestures.is_empty(), "{direction:?}"),
            "sequence.txt" => {
                assert!(
                    !direction.moods.is_empty() && direction.camera.len() == 2,
                    "{direction:?}"
                );
                assert!(states.iter().any(|s| s.camera.zoom > 1.01), "{name}");
            }
            "still.txt" => assert!(direction.still, "{direction:?}"),
            _ => {}
        }
    }
}

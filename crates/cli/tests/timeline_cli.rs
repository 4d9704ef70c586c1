//! `mouthpiece timeline` and `render --text/--lang` end to end: real speech
//! from the espeak-ng command, the real binary, the automatic choice of
//! timing source, and both output formats.

mod common;

use common::*;
use mouthpiece_engine::timeline::{MouthTimeline, Shape};
use std::path::Path;

fn timeline(audio: &Path, extra: &[&str]) -> (MouthTimeline, String) {
    let out = audio.with_extension("tl");
    let mut args = vec![
        "timeline",
        "--audio",
        audio.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = mouthpiece(&args);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "timeline failed: {stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    let tl = if text.trim_start().starts_with('{') {
        MouthTimeline::from_json(&text).unwrap()
    } else {
        MouthTimeline::from_tsv(&text).unwrap()
    };
    (tl, stderr)
}

#[test]
fn the_source_is_chosen_from_text_and_language() {
    let dir = tempfile::tempdir().unwrap();
    let en = dir.path().join("en.wav");
    let text = "Bob made a map of Boston. Please bring him some bread.";
    espeak(text, "en-us", &en);

    let (blind, err) = timeline(&en, &["--format", "tsv"]);
    assert!(err.contains("timed by sphinx"), "{err}");
    let (told, err) = timeline(&en, &["--format", "json", "--text", text]);
    assert!(err.contains("timed by transcript"), "{err}");
    for tl in [&blind, &told] {
        assert!(
            tl.cues.iter().any(|c| c.shape == Shape::A),
            "no closed lips: {:?}",
            tl.cues
        );
        assert!(tl.cues.iter().any(|c| !c.shape.is_closed()));
        assert_eq!(tl.cues.first().map(|c| c.start), Some(0.0));
    }

    let de = dir.path().join("de.wav");
    espeak("Mein Bruder baut ein Boot am Meer.", "de", &de);
    let (_, err) = timeline(&de, &["--lang", "de"]);
    assert!(err.contains("timed by spectral"), "{err}");
    let (_, err) = timeline(
        &de,
        &[
            "--lang",
            "de",
            "--text",
            "Mein Bruder baut ein Boot am Meer.",
        ],
    );
    assert!(err.contains("timed by transcript"), "{err}");
    let (_, err) = timeline(&de, &["--method", "loudness"]);
    assert!(err.contains("timed by loudness"), "{err}");
}

#[test]
fn render_takes_the_transcript_and_language() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("speech.wav");
    let text = "Maybe bring me a cup of milk.";
    espeak(text, "en-us", &wav);
    let out = dir.path().join("out.mp4");
    let image = sample("obama.jpg");
    let o = mouthpiece(&[
        "render",
        "--image",
        image.to_str().unwrap(),
        "--audio",
        wav.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--text",
        text,
        "--lang",
        "en",
    ]);
    assert!(
        o.status.success(),
        "render failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.is_file());
}

#[test]
fn bad_timeline_inputs_get_clear_errors() {
    let o = mouthpiece(&["timeline", "--audio", "/nonexistent/speech.wav"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("error:") && !err.contains("panicked"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("a.wav");
    espeak("Hello.", "en-us", &wav);
    let o = mouthpiece(&[
        "timeline",
        "--audio",
        wav.to_str().unwrap(),
        "--method",
        "nonsense",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown method"));
}

//! Replays the committed corpora of the request-body fuzz targets (one per
//! dialect): every input gives a request or an error message, never a
//! panic; the contract's own examples are accepted.

use mouthpiece_api::dialects::{aimlapi, kie, kling, useapi};
use std::path::PathBuf;

/// The boundary the `useapi_video` target's multipart inputs use.
const MULTIPART: &str = "multipart/form-data; boundary=fuzzboundary";

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 3, "{target}: corpus too small");
    out
}

#[test]
fn kling_create_corpus() {
    for (name, bytes) in corpus("kling_create") {
        let r = kling::parse_create_body(&bytes);
        match name.as_str() {
            "official-example.json" | "base64-audio-id.json" => {
                assert!(r.is_ok(), "{name}: {r:?}")
            }
            "both-audio.json" => assert!(r.unwrap_err().contains("sound_file"), "{name}"),
            "bad-mode.json" => assert!(r.is_err(), "{name}"),
            _ => {}
        }
    }
}

#[test]
fn kie_create_corpus() {
    for (name, bytes) in corpus("kie_create") {
        let r = kie::parse_create_body(&bytes);
        match name.as_str() {
            "official-example.json" => assert!(r.is_ok(), "{name}: {r:?}"),
            "no-prompt.json" | "input-array.json" => assert!(r.is_err(), "{name}"),
            _ => {}
        }
    }
}

#[test]
fn aimlapi_create_corpus() {
    for (name, bytes) in corpus("aimlapi_create") {
        let r = aimlapi::parse_create_body(&bytes);
        match name.as_str() {
            "official-example.json" => assert!(r.is_ok(), "{name}: {r:?}"),
            "wrong-types.json" => assert!(r.is_err(), "{name}"),
            _ => {}
        }
    }
}

#[test]
fn useapi_video_corpus() {
    for (name, bytes) in corpus("useapi_video") {
        let json = useapi::parse_video_body(&bytes, "application/json");
        let form = useapi::parse_video_body(&bytes, "application/x-www-form-urlencoded");
        let multipart = useapi::parse_video_body(&bytes, MULTIPART);
        match name.as_str() {
            "full.json" => assert!(json.is_ok(), "{name}: {json:?}"),
            "form.txt" => assert!(form.is_err() && json.is_err(), "{name}"),
            "multipart.txt" => {
                let e = multipart.unwrap_err();
                assert!(
                    e.contains("Provide either avatarId OR imageUrl"),
                    "{name}: {e}"
                )
            }
            _ => {}
        }
    }
}

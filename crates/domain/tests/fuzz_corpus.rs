//! Replays the committed corpus of the `media_base64` fuzz target.

use mouthpiece_domain::input::{AudioInput, ImageInput, MediaSource};
use std::path::PathBuf;

#[test]
fn media_base64_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/media_base64");
    let mut seen = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(e.path()).unwrap();
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        seen += 1;
        let image = ImageInput::parse(Some(text));
        let _ = AudioInput::parse(Some(text), None);
        let _ = AudioInput::parse(None, Some(text));
        match name.as_str() {
            "url.txt" => assert!(matches!(image, Ok(ImageInput(MediaSource::Url(_))))),
            "data-url.txt" => assert!(matches!(image, Ok(ImageInput(MediaSource::Inline(_))))),
            "ftp.txt" => {
                let msg = image.unwrap_err().to_string();
                assert!(msg.contains("ftp:// URLs are not accepted"), "{msg}");
            }
            _ => {}
        }
    }
    assert!(seen >= 4);
}

/// Replays the `jwt_token` corpus: only a token signed with the key, inside
/// its time window, with alg HS256, gets through.
#[test]
fn jwt_token_corpus() {
    use mouthpiece_domain::error::AuthFailure;
    use mouthpiece_domain::jwt;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/jwt_token");
    let mut seen = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(e.path()).unwrap();
        let Ok(token) = std::str::from_utf8(&bytes) else {
            continue;
        };
        seen += 1;
        let verdict = jwt::parse(token).and_then(|t| t.verify(b"fuzz-secret", 1_700_000_000, 5));
        match name.as_str() {
            // A fractional exp is still a time (some JWT libraries write one).
            "valid.jwt" | "float-exp.jwt" => assert!(verdict.is_ok(), "{name}: {verdict:?}"),
            "expired.jwt" => assert!(matches!(verdict, Err(AuthFailure::Expired)), "{name}"),
            "not-yet.jwt" => assert!(matches!(verdict, Err(AuthFailure::NotYetValid)), "{name}"),
            "alg-none.jwt" | "rs256.jwt" => {
                let msg = format!("{verdict:?}");
                assert!(msg.contains("only HS256"), "{name}: {msg}")
            }
            _ => assert!(verdict.is_err(), "{name}: a forged token passed"),
        }
    }
    assert!(seen >= 8);
}

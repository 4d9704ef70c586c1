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

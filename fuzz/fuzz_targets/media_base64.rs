#![no_main]
//! The `image` / `sound_file` fields: URL or base64 text becomes a validated
//! media source or a field error, never a panic.
use libfuzzer_sys::fuzz_target;
use mouthpiece_domain::input::{AudioInput, ImageInput};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = ImageInput::parse(Some(text));
    let _ = AudioInput::parse(Some(text), None);
    let _ = AudioInput::parse(None, Some(text));
});

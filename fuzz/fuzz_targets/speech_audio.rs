#![no_main]
//! Speech intake: WAV/MP3/AAC/OGG/FLAC bytes decode or fail cleanly.
use libfuzzer_sys::fuzz_target;
use mouthpiece_engine::media::decode_audio_bytes;

static QUIET_CAUGHT_PANICS: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    // The engine turns panics inside symphonia into errors; libFuzzer's hook
    // would abort on them even when caught. A panic that escapes this body
    // still aborts (fuzz_target! checks), so nothing is hidden.
    QUIET_CAUGHT_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let _ = decode_audio_bytes(data.to_vec(), None);
});

#![no_main]
//! Speech intake: WAV/MP3/AAC/OGG/FLAC bytes decode or fail cleanly.
use libfuzzer_sys::fuzz_target;
use mouthpiece_engine::media::decode_audio_bytes;

fuzz_target!(|data: &[u8]| {
    let _ = decode_audio_bytes(data.to_vec(), None);
});

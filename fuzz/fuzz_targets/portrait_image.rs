#![no_main]
//! Portrait intake: JPEG/PNG/WebP bytes decode or fail cleanly, within the
//! pixel budget whatever the header claims.
use libfuzzer_sys::fuzz_target;
use mouthpiece_engine::media::{decode_portrait, PortraitLimits};

fuzz_target!(|data: &[u8]| {
    let limits = PortraitLimits {
        min_side: 16,
        ..PortraitLimits::default()
    };
    let _ = decode_portrait(data, &limits);
});

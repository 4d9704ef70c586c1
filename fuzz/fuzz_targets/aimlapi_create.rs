#![no_main]
//! The body of `POST /v2/video/generations`: any bytes become a validated
//! request or an error message for the caller, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mouthpiece_api::dialects::aimlapi::parse_create_body(data);
});

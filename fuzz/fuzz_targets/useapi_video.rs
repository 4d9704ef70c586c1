#![no_main]
//! The body of useapi's `POST /v1/kling/avatars/video`, read as JSON and as
//! a url-encoded form: a checked plan or an error message, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mouthpiece_api::dialects::useapi::parse_video_body(data, false);
    let _ = mouthpiece_api::dialects::useapi::parse_video_body(data, true);
});

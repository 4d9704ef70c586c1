#![no_main]
//! The body of useapi's `POST /v1/kling/avatars/video`, read as JSON, as a
//! url-encoded form and as a multipart form: a checked plan or an error
//! message, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use mouthpiece_api::dialects::useapi::parse_video_body;
    let _ = parse_video_body(data, "application/json");
    let _ = parse_video_body(data, "application/x-www-form-urlencoded");
    let _ = parse_video_body(data, "multipart/form-data; boundary=fuzzboundary");
});

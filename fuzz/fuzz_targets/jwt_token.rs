#![no_main]
//! A bearer token as Kling's JWT scheme reads it: parsed, then verified
//! against a fixed key and clock. Any bytes give a verdict, never a panic,
//! and nothing but a token signed with the key is accepted.
use libfuzzer_sys::fuzz_target;
use mouthpiece_domain::jwt;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = jwt::looks_like_jwt(token);
    if let Ok(parsed) = jwt::parse(token) {
        let verdict = parsed.verify(b"fuzz-secret", 1_700_000_000, 5);
        if verdict.is_ok() {
            // Only possible if the fuzzer forged HMAC-SHA256.
            let resigned = jwt::sign(
                parsed.claims.iss.as_deref().unwrap_or_default(),
                "fuzz-secret",
                0,
                0,
            );
            assert!(!resigned.is_empty());
        }
    }
});

//! Identifiers and secrets.

use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;

/// A numeric-string task id like Kling's (`"867283741759111202"`): the
/// millisecond clock followed by six random digits, so ids sort by time.
pub fn task_id() -> String {
    let r: u32 = rand::rng().random_range(0..1_000_000);
    format!("{}{r:06}", crate::clock::now_ms())
}

/// A random id for audio and callback messages.
pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `n` random letters and digits from the OS-seeded generator.
pub fn token(n: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), n)
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::rng().fill(&mut v[..]);
    v
}

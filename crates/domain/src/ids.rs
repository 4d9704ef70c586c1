//! Identifiers and secrets.

use crate::error::{DomainError, Result};
use mouthpiece_storage::PublicIds;
use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;

/// The largest integer a JavaScript number holds exactly (2^53 - 1): every
/// numeric id a dialect emits stays at or below it.
pub const MAX_SAFE_ID: u64 = (1 << 53) - 1;

/// A public numeric id (task, work, avatar, upload), e.g. `"100000000042517"`:
/// the store's shared counter (unique across nodes) followed by three random
/// digits, so ids do not reveal how many others were made. Ids made before
/// the counter (19 digits) are still accepted wherever ids are read.
pub async fn public_id(ids: &dyn PublicIds) -> Result<String> {
    let n = ids.next_id().await?;
    let r: u64 = rand::rng().random_range(0..1000);
    u64::try_from(n)
        .ok()
        .and_then(|n| n.checked_mul(1000)?.checked_add(r))
        .filter(|id| *id <= MAX_SAFE_ID)
        .map(|id| id.to_string())
        .ok_or_else(|| DomainError::Internal(format!("the id counter is out of range: {n}")))
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

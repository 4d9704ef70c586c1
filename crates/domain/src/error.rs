/// Why authentication failed; each dialect has its own codes for these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// The header is there but not a usable credential (e.g. not `Bearer`).
    Failed(String),
    /// No `Authorization` header.
    Missing,
    /// Unknown key, bad signature, malformed token.
    Invalid(String),
    /// The token's `nbf` is in the future.
    NotYetValid,
    /// The token's `exp` has passed.
    Expired,
}

/// The one error type of the domain. Messages are written for the caller.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{}", auth_message(.0))]
    Unauthorized(AuthFailure),
    #[error("this account already has {limit} unfinished tasks, its concurrency limit; retry when one finishes")]
    ConcurrencyLimit { limit: u32 },
    /// The account sent more requests than its rate allows.
    #[error("too many requests: this account's rate limit is {per_second} per second; retry in {retry_after_s} s")]
    RateLimited { per_second: u32, retry_after_s: u64 },
    /// The server's queue is at its configured depth.
    #[error("the server is busy: {depth} tasks are waiting or rendering, its limit; retry in {retry_after_s} s")]
    QueueFull { depth: u64, retry_after_s: u64 },
    /// The server holds as many request bodies in memory as it is allowed.
    #[error("the server is busy receiving other uploads; retry in {retry_after_s} s")]
    Busy { retry_after_s: u64 },
    /// Too many failed authentication attempts from this client or for
    /// this AccessKey; try again after `retry_after_s`.
    #[error("too many failed authentication attempts; retry after {retry_after_s} s")]
    TooManyAuthFailures { retry_after_s: u64 },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn auth_message(f: &AuthFailure) -> String {
    match f {
        AuthFailure::Failed(why) => format!("authentication failed: {why}"),
        AuthFailure::Missing => {
            "authorization is empty: send `Authorization: Bearer <API key or JWT>`".into()
        }
        AuthFailure::Invalid(why) => format!("authorization is invalid: {why}"),
        AuthFailure::NotYetValid => {
            "authorization is not yet valid: the token's nbf is in the future".into()
        }
        AuthFailure::Expired => "authorization has expired: the token's exp has passed".into(),
    }
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DomainError::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Seconds a client should wait before retrying, for refusals that say so.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            DomainError::RateLimited { retry_after_s, .. }
            | DomainError::QueueFull { retry_after_s, .. }
            | DomainError::Busy { retry_after_s }
            | DomainError::TooManyAuthFailures { retry_after_s } => Some(*retry_after_s),
            _ => None,
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        DomainError::Internal(e.to_string())
    }
}

impl From<mouthpiece_storage::StorageError> for DomainError {
    fn from(e: mouthpiece_storage::StorageError) -> Self {
        tracing::error!(error = %e, "storage failure");
        DomainError::Internal(format!("storage: {e}"))
    }
}

pub type Result<T, E = DomainError> = std::result::Result<T, E>;

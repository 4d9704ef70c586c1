//! Overload protection at the edge. Per-account request rate limits: a
//! token bucket per account (governor's GCRA), checked once the caller is
//! authenticated. A memory budget for request bodies in flight, so many
//! large uploads at once cannot exhaust memory. Each dialect answers a
//! refusal with its own 429.

use crate::dialects;
use crate::request_id::RequestId;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use mouthpiece_domain::DomainError;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub struct AccountRates {
    limiter: DefaultKeyedRateLimiter<String>,
    per_second: u32,
}

impl AccountRates {
    /// `None` when `per_second` is 0 (no limit).
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
        Some(Self {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            per_second,
        })
    }

    /// Takes one token from the account's bucket, or says how long to wait.
    pub fn check(&self, account_id: &str) -> Result<(), DomainError> {
        // Accounts are few and authenticated: the map stays small, but
        // idle buckets are dropped now and then all the same.
        if self.limiter.len() > 10_000 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&account_id.to_string())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                metrics::counter!("mouthpiece_requests_shed_total", "reason" => "rate_limit")
                    .increment(1);
                DomainError::RateLimited {
                    per_second: self.per_second,
                    retry_after_s: wait.as_secs_f64().ceil().max(1.0) as u64,
                }
            })
    }
}

/// Request bodies are buffered whole (base64 media included), so the bytes
/// they may claim at once are budgeted, in KiB, and each must arrive within
/// a deadline: a slow drip cannot hold its share for ever.
pub struct BodyLimits {
    /// `None`: no budget.
    kib: Option<Arc<Semaphore>>,
    total_kib: u32,
    max_request_bytes: u64,
    deadline: Duration,
}

/// A body that does not fit waits this long for others to finish first.
const BODY_WAIT: Duration = Duration::from_secs(2);

impl BodyLimits {
    /// `total_mb` 0: no budget.
    pub fn new(total_mb: u64, max_request_bytes: usize, deadline: Duration) -> Self {
        let total_kib = u32::try_from(total_mb.saturating_mul(1024)).unwrap_or(u32::MAX >> 4);
        Self {
            kib: (total_mb > 0).then(|| Arc::new(Semaphore::new(total_kib as usize))),
            total_kib,
            max_request_bytes: max_request_bytes as u64,
            deadline,
        }
    }

    /// Bytes a request may fill: its declared length, or the largest body
    /// allowed when it streams without one.
    fn claim(&self, req: &Request) -> u64 {
        let headers = req.headers();
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        match declared {
            Some(n) => n.min(self.max_request_bytes),
            None if headers.contains_key(header::TRANSFER_ENCODING) => self.max_request_bytes,
            None => 0,
        }
    }
}

/// The body, cut off with an error once `deadline` has passed.
fn with_deadline(req: Request, deadline: Duration) -> Request {
    let (parts, body) = req.into_parts();
    let until = tokio::time::Instant::now() + deadline;
    let frames = body.into_data_stream();
    let timed = futures::stream::unfold(Some(frames), move |frames| async move {
        let mut frames = frames?;
        match tokio::time::timeout_at(until, frames.next()).await {
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(frames))),
            Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the body did not arrive within {} s",
                        deadline.as_secs_f64()
                    ),
                )),
                None,
            )),
        }
    });
    Request::from_parts(parts, Body::from_stream(timed))
}

/// Gives a request body its deadline and holds a share of the body budget
/// while the request is handled, or answers "busy" in the dialect's
/// envelope when none frees up in time.
pub async fn body_limits(
    State(limits): State<Arc<BodyLimits>>,
    req: Request,
    next: Next,
) -> Response {
    let bytes = limits.claim(&req);
    if bytes == 0 {
        return next.run(req).await;
    }
    let req = with_deadline(req, limits.deadline);
    let Some(budget) = &limits.kib else {
        return next.run(req).await;
    };
    let kib = u32::try_from(bytes.div_ceil(1024))
        .unwrap_or(u32::MAX)
        .min(limits.total_kib);
    let reserved = tokio::time::timeout(BODY_WAIT, budget.clone().acquire_many_owned(kib)).await;
    match reserved {
        Ok(Ok(_permit)) => next.run(req).await,
        _ => {
            metrics::counter!("mouthpiece_requests_shed_total", "reason" => "body_budget")
                .increment(1);
            let rid = req
                .extensions()
                .get::<RequestId>()
                .cloned()
                .unwrap_or_else(|| RequestId(String::new()));
            dialects::refusal(DomainError::Busy { retry_after_s: 1 }, &rid, req.uri())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusals_with_a_wait() {
        let r = AccountRates::new(1, 3).unwrap();
        for _ in 0..3 {
            r.check("a").unwrap();
        }
        match r.check("a") {
            Err(DomainError::RateLimited { retry_after_s, .. }) => assert_eq!(retry_after_s, 1),
            other => panic!("{other:?}"),
        }
        // Another account has its own bucket.
        r.check("b").unwrap();
        assert!(AccountRates::new(0, 10).is_none());
    }
}

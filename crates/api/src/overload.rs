//! Per-account request rate limits: a token bucket per account (governor's
//! GCRA), checked once the caller is authenticated. Each dialect answers a
//! refusal with its own 429.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use mouthpiece_domain::DomainError;
use std::num::NonZeroU32;

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

//! Brute-force protection for authentication: failed attempts are counted
//! per client address and per JWT AccessKey in a sliding window; past the
//! limit the client (or the key) is locked out for a while and answered
//! "too many requests" with a Retry-After. In memory, per process: a lockout
//! slows guessing down, it is not an audit log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Failed attempts allowed within `window` before the lockout.
    pub max_failures: u32,
    pub window: Duration,
    pub lockout: Duration,
    /// Entries kept at most (an attacker with many addresses cannot grow
    /// the table without bound).
    pub max_entries: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_failures: 20,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

/// What is counted: a client address or an AccessKey.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Client(IpAddr),
    AccessKey(String),
}

impl Subject {
    /// IPv6 clients are counted per /64: one host usually owns the whole
    /// prefix and could otherwise rotate through it.
    pub fn client(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Subject::Client(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    Subject::Client(IpAddr::V6(std::net::Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
            v4 => Subject::Client(v4),
        }
    }
}

#[derive(Debug, Default)]
pub struct AuthThrottle {
    config: ThrottleConfig,
    entries: Mutex<HashMap<Subject, Entry>>,
}

impl AuthThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `subject` may try again, when it is locked out.
    pub fn locked(&self, subject: &Subject) -> Option<u64> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let until = entries.get(subject)?.locked_until?;
        (until > now).then(|| until.duration_since(now).as_secs().max(1))
    }

    /// Counts one failed attempt; the lockout starts when the count passes
    /// the limit within the window.
    pub fn failed(&self, subject: Subject) {
        let now = Instant::now();
        let cfg = &self.config;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= cfg.max_entries && !entries.contains_key(&subject) {
            entries.retain(|_, e| {
                e.locked_until.is_some_and(|u| u > now) || now.duration_since(e.since) < cfg.window
            });
            if entries.len() >= cfg.max_entries {
                // Still full of live entries: forget the oldest half.
                let mut ages: Vec<Instant> = entries.values().map(|e| e.since).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                entries.retain(|_, e| e.since > cut);
            }
        }
        let e = entries.entry(subject).or_insert(Entry {
            failures: 0,
            since: now,
            locked_until: None,
        });
        if e.locked_until.is_some_and(|u| u <= now) || now.duration_since(e.since) >= cfg.window {
            *e = Entry {
                failures: 0,
                since: now,
                locked_until: None,
            };
        }
        e.failures = e.failures.saturating_add(1);
        if e.failures > cfg.max_failures && e.locked_until.is_none() {
            e.locked_until = Some(now + cfg.lockout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_and_only_that_subject() {
        let t = AuthThrottle::new(ThrottleConfig {
            max_failures: 3,
            ..ThrottleConfig::default()
        });
        let a = Subject::client("192.0.2.1".parse().unwrap());
        let b = Subject::client("192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            t.failed(a.clone());
        }
        assert_eq!(t.locked(&a), None);
        t.failed(a.clone());
        assert!(t.locked(&a).is_some_and(|s| (1..=60).contains(&s)));
        assert_eq!(t.locked(&b), None);
        // One /64 is one client; a mapped IPv4 address is that address.
        assert_eq!(
            Subject::client("2001:db8:1:2::1".parse().unwrap()),
            Subject::client("2001:db8:1:2:ffff::9".parse().unwrap())
        );
        assert_eq!(Subject::client("::ffff:192.0.2.1".parse().unwrap()), a);
    }

    #[test]
    fn the_table_stays_bounded() {
        let t = AuthThrottle::new(ThrottleConfig {
            max_entries: 100,
            ..ThrottleConfig::default()
        });
        for i in 0..1000u32 {
            t.failed(Subject::client(IpAddr::from(i.to_be_bytes())));
        }
        assert!(t.entries.lock().unwrap().len() <= 100);
    }
}

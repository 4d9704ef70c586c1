//! Which address a request comes from, for the auth lockout and the logs.
//! The connection's peer, unless that peer is a reverse proxy the operator
//! listed in `auth.trusted_proxies`: then the nearest address in
//! `X-Forwarded-For` that is not itself a trusted proxy. A client can write
//! anything into that header, so only what trusted proxies appended counts.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Networks (`10.0.0.0/8`) or single addresses (`127.0.0.1`).
    pub fn parse(items: &[String]) -> Result<Self, String> {
        items
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is neither an address nor a network"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for a request that arrived from `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        // Proxies append, so the list reads client, proxy 1, proxy 2, ...;
        // walk back from the end past the proxies we trust.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // Garbage from beyond the last trusted hop: stop there.
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(canonical)
}

/// An IPv4 client on a dual-stack socket arrives as `::ffff:a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_trusted_proxies_may_name_the_client() {
        let none = TrustedProxies::default();
        let h = headers(&["203.0.113.9"]);
        assert_eq!(none.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));

        let lb = TrustedProxies::parse(&["10.0.0.0/8".into(), "127.0.0.1".into()]).unwrap();
        // Peer not trusted: the header is ignored.
        assert_eq!(lb.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        // Peer trusted: the hop it appended.
        assert_eq!(lb.client(ip("10.1.2.3"), &h), ip("203.0.113.9"));
        // A client forging a first entry gains nothing: the proxy's own
        // entry (the real peer it saw) is the nearest untrusted one.
        let h = headers(&["1.1.1.1, 203.0.113.9", "10.9.9.9"]);
        assert_eq!(lb.client(ip("127.0.0.1"), &h), ip("203.0.113.9"));
        // Ports, brackets and mapped addresses.
        let h = headers(&["[2001:db8::7]:443, 10.0.0.2:80"]);
        assert_eq!(lb.client(ip("::ffff:10.0.0.1"), &h), ip("2001:db8::7"));
        // Garbage past the trusted hops stops the walk at the last good one.
        let h = headers(&["evil, 10.0.0.5"]);
        assert_eq!(lb.client(ip("10.0.0.1"), &h), ip("10.0.0.5"));
        // No header: the proxy itself.
        assert_eq!(lb.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
    }

    #[test]
    fn bad_entries_are_named() {
        let err = TrustedProxies::parse(&["10.0.0.0/33".into()]).unwrap_err();
        assert!(err.contains("10.0.0.0/33"), "{err}");
    }
}

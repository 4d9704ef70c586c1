//! Outbound HTTP with an address policy: inputs fetched from URLs and
//! callbacks. Names are resolved first, every resolved address is checked,
//! and the connection goes to the checked addresses (our resolver feeds
//! reqwest). Loopback, private, link-local and other special ranges are
//! refused unless an allow-list names them. Redirects are re-checked; bodies
//! are streamed with a byte cap; connect and total times are bounded.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Which addresses outbound requests may reach.
#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    /// Networks allowed even though they are not public (tests: 127.0.0.0/8).
    pub allow: Vec<IpNet>,
}

impl NetworkPolicy {
    /// Parses CIDRs (`127.0.0.0/8`) or single addresses (`::1`).
    pub fn from_strings(items: &[String]) -> Result<Self, String> {
        let allow = items
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is not an address or CIDR network"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { allow })
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.allow.iter().any(|n| n.contains(&ip))
    }
}

/// Globally routable unicast, roughly: everything but the special ranges.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let seg = v6.segments();
            let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
            // NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and 6to4 (2002::/16) carry
            // an IPv4 address that a gateway would reach for us: judge that.
            if seg[0] == 0x64 && seg[1] == 0xff9b && (seg[2..6] == [0; 4] || seg[2] == 1) {
                return is_public_v4(embedded(seg[6], seg[7]));
            }
            if seg[0] == 0x2002 {
                return is_public_v4(embedded(seg[1], seg[2]));
            }
            // IPv4-compatible ::a.b.c.d (deprecated) is never routed as such.
            if seg[..6] == [0; 6] {
                return false;
            }
            let seg0 = seg[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg0 & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg0 & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (seg0 == 0x2001 && v6.segments()[1] == 0x0db8)) // documentation
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240) // reserved
}

/// Why an address was refused; found again in reqwest's error chain.
#[derive(Debug)]
pub struct Blocked(pub String);

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Blocked {}

/// Resolves with the system resolver, then refuses the name when any of its
/// addresses is not permitted.
struct PolicyResolver {
    policy: Arc<NetworkPolicy>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(Box::new(Blocked(format!("{host} has no address"))) as _);
            }
            if let Some(bad) = addrs.iter().find(|a| !policy.permits(a.ip())) {
                return Err(Box::new(Blocked(format!(
                    "{host} resolves to {}, a loopback, private or link-local address, which is not allowed",
                    bad.ip()
                ))) as _);
            }
            let it: Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

/// Checks scheme and literal-address hosts (names go through the resolver).
pub fn check_url(url: &Url, policy: &NetworkPolicy) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "only http and https URLs are accepted, not {}:",
            url.scheme()
        ));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err("the URL has no host".into()),
    };
    if policy.permits(ip) {
        Ok(())
    } else {
        Err(format!(
            "{ip} is a loopback, private or link-local address, which is not allowed"
        ))
    }
}

/// [`check_url`], and for a name, its addresses now: a callback that would
/// go to a refused address is refused when the task is made, not silently
/// at delivery (which checks again, as names may change). A name that does
/// not resolve yet is let through to delivery.
pub async fn check_url_resolved(url: &Url, policy: &NetworkPolicy) -> Result<(), String> {
    check_url(url, policy)?;
    let Some(url::Host::Domain(host)) = url.host() else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let Ok(addrs) = tokio::net::lookup_host((host, port)).await else {
        return Ok(());
    };
    for a in addrs {
        if !policy.permits(a.ip()) {
            return Err(format!(
                "{host} resolves to {}, a loopback, private or link-local address, which is not allowed",
                a.ip()
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub max_redirects: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(30),
            max_redirects: 5,
        }
    }
}

/// Why a fetch failed, in words for the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchError(pub String);

/// An HTTP client bound to a policy.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    policy: Arc<NetworkPolicy>,
}

impl Outbound {
    pub fn new(
        policy: NetworkPolicy,
        limits: &HttpLimits,
        follow_redirects: bool,
    ) -> Result<Self, String> {
        let policy = Arc::new(policy);
        let redirect_policy = if follow_redirects {
            let p = policy.clone();
            let max = limits.max_redirects;
            reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= max {
                    return attempt.error(Blocked(format!("more than {max} redirects")));
                }
                match check_url(attempt.url(), &p) {
                    Ok(()) => attempt.follow(),
                    Err(why) => attempt.error(Blocked(format!("redirect refused: {why}"))),
                }
            })
        } else {
            reqwest::redirect::Policy::none()
        };
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(PolicyResolver {
                policy: policy.clone(),
            }))
            .no_proxy()
            .redirect(redirect_policy)
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.total_timeout)
            .user_agent(concat!("mouthpiece/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self { client, policy })
    }

    pub fn policy(&self) -> &NetworkPolicy {
        &self.policy
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// GETs `url`, refusing bodies larger than `max_bytes`.
    pub async fn fetch(&self, url: &Url, max_bytes: u64) -> Result<Bytes, FetchError> {
        check_url(url, &self.policy).map_err(FetchError)?;
        let resp = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(describe)?;
        let status = resp.status();
        // A redirect left unfollowed (reqwest follows only http(s) ones).
        if status.is_redirection() {
            let to = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("nowhere")
                .chars()
                .take(200)
                .collect::<String>();
            return Err(FetchError(format!(
                "redirect refused: HTTP {} to {to:?}, which is not an http(s) URL that may be fetched",
                status.as_u16()
            )));
        }
        if !status.is_success() {
            return Err(FetchError(format!(
                "the server answered HTTP {}",
                status.as_u16()
            )));
        }
        if let Some(len) = resp.content_length() {
            if len > max_bytes {
                return Err(FetchError(format!(
                    "the file is {len} bytes, more than the limit of {max_bytes} bytes"
                )));
            }
        }
        let mut body = BytesMut::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(describe)?;
            if (body.len() + chunk.len()) as u64 > max_bytes {
                return Err(FetchError(format!(
                    "the file is larger than the limit of {max_bytes} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    /// POSTs a JSON body with extra headers; the status code on success.
    pub async fn post_json(
        &self,
        url: &Url,
        headers: &[(&str, String)],
        body: String,
    ) -> Result<u16, FetchError> {
        check_url(url, &self.policy).map_err(FetchError)?;
        let mut req = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.body(body).send().await.map_err(describe)?;
        Ok(resp.status().as_u16())
    }
}

/// The innermost useful reason in an error chain: our own `Blocked`
/// message when the policy refused, else timeouts and connection errors.
fn describe(e: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<Blocked>() {
            return FetchError(b.0.clone());
        }
        source = s.source();
    }
    if e.is_timeout() {
        FetchError("the request timed out".into())
    } else if e.is_connect() {
        FetchError("could not connect to the server".into())
    } else if e.is_redirect() {
        FetchError("too many or refused redirects".into())
    } else {
        FetchError(format!("the request failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_ranges_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} treated as public");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "64:ff9b::808:808"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} treated as special");
        }
        let p = NetworkPolicy::from_strings(&["127.0.0.0/8".into(), "::1".into()]).unwrap();
        assert!(p.permits("127.0.0.1".parse().unwrap()) && p.permits("::1".parse().unwrap()));
        assert!(!p.permits("10.0.0.1".parse().unwrap()));
        assert!(NetworkPolicy::from_strings(&["nope".into()]).is_err());
    }

    #[test]
    fn urls_are_checked_before_any_connection() {
        let p = NetworkPolicy::default();
        assert!(check_url(&Url::parse("http://127.0.0.1:8080/a.png").unwrap(), &p).is_err());
        assert!(check_url(&Url::parse("http://[::1]/a.png").unwrap(), &p).is_err());
        assert!(check_url(&Url::parse("file:///etc/passwd").unwrap(), &p).is_err());
        assert!(check_url(&Url::parse("https://example.com/a.png").unwrap(), &p).is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        let out = Outbound::new(NetworkPolicy::default(), &HttpLimits::default(), true).unwrap();
        let err = out
            .fetch(&Url::parse("http://localhost:9/x").unwrap(), 10)
            .await
            .unwrap_err();
        assert!(err.0.contains("not allowed"), "{err:?}");
    }
}

//! Download URLs for stored files: `{public}/v1/files/{key}?expires=..&signature=..`,
//! signed with a server secret so they work without credentials (like a
//! CDN link) but cannot be guessed or extended.

use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct UrlSigner {
    public_url: String,
    secret: Vec<u8>,
}

/// The route prefix the API serves files under.
pub const FILES_PREFIX: &str = "/v1/files/";

impl UrlSigner {
    pub fn new(public_url: &str, secret: &[u8]) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_string(),
            secret: secret.to_vec(),
        }
    }

    fn mac(&self, key: &str, expires: i64) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            return String::new();
        };
        mac.update(format!("{key}\n{expires}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A URL for `key` valid until `expires` (Unix seconds).
    pub fn url(&self, key: &str, expires: i64) -> String {
        format!(
            "{}{FILES_PREFIX}{key}?expires={expires}&signature={}",
            self.public_url,
            self.mac(key, expires)
        )
    }

    /// The key behind one of this server's own valid file URLs.
    pub fn key_of(&self, url: &str, now: i64) -> Option<String> {
        let rest = url
            .strip_prefix(&self.public_url)?
            .strip_prefix(FILES_PREFIX)?;
        let (key, query) = rest.split_once('?')?;
        let (mut expires, mut signature) = (None, None);
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("expires", v)) => expires = v.parse().ok(),
                Some(("signature", v)) => signature = Some(v),
                _ => {}
            }
        }
        self.verify(key, expires?, signature?, now)
            .then(|| key.to_string())
    }

    /// Checks a signature in constant time and the expiry against `now` (s).
    pub fn verify(&self, key: &str, expires: i64, signature: &str, now: i64) -> bool {
        let Ok(sig) = hex::decode(signature) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            return false;
        };
        mac.update(format!("{key}\n{expires}").as_bytes());
        mac.verify_slice(&sig).is_ok() && expires >= now
    }
}

/// The MIME type of a stored file, from its extension.
pub fn content_type(key: &str) -> &'static str {
    match key.rsplit('.').next().unwrap_or("") {
        "mp4" => "video/mp4",
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_urls() {
        let s = UrlSigner::new("http://h:1/", b"secret");
        let u = s.url("tasks/1/video.mp4", 100);
        assert!(u.starts_with("http://h:1/v1/files/tasks/1/video.mp4?expires=100&signature="));
        let sig = u.rsplit('=').next().unwrap();
        assert!(s.verify("tasks/1/video.mp4", 100, sig, 50));
        assert!(!s.verify("tasks/1/video.mp4", 100, sig, 101));
        assert!(!s.verify("tasks/2/video.mp4", 100, sig, 50));
        assert!(!s.verify("tasks/1/video.mp4", 200, sig, 50));
    }
}

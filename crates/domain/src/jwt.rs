//! HS256 JWTs as Kling's AccessKey/SecretKey scheme makes them:
//! header `{"alg":"HS256","typ":"JWT"}`, payload `{"iss": AK, "exp", "nbf"}`,
//! signed with the SecretKey's bytes.

use crate::error::AuthFailure;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A token that has the shape of a JWT, not yet verified.
#[derive(Debug)]
pub struct UnverifiedJwt<'a> {
    signing_input: &'a str,
    signature: Vec<u8>,
    pub claims: Claims,
}

#[derive(Debug, Deserialize)]
pub struct Claims {
    pub iss: Option<String>,
    pub exp: Option<serde_json::Value>,
    pub nbf: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Does this bearer token look like a JWT (three base64url parts)?
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && token.starts_with("ey")
}

fn invalid(why: &str) -> AuthFailure {
    AuthFailure::Invalid(why.to_string())
}

/// Splits and decodes a JWT; the signature is checked by [`UnverifiedJwt::verify`].
pub fn parse(token: &str) -> Result<UnverifiedJwt<'_>, AuthFailure> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the token is not a JWT"));
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("the JWT header is not base64url JSON"))?;
    if header.alg != "HS256" {
        return Err(AuthFailure::Invalid(format!(
            "the JWT is signed with {:?}; only HS256 is accepted",
            header.alg
        )));
    }
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("the JWT payload is not base64url JSON"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| invalid("the JWT signature is not base64url"))?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    Ok(UnverifiedJwt {
        signing_input,
        signature,
        claims,
    })
}

fn seconds(v: &Option<serde_json::Value>, name: &str) -> Result<Option<i64>, AuthFailure> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| AuthFailure::Invalid(format!("the JWT {name} is not a number"))),
        Some(_) => Err(AuthFailure::Invalid(format!(
            "the JWT {name} is not a number"
        ))),
    }
}

impl UnverifiedJwt<'_> {
    /// Checks the signature with `secret`, then `nbf` and `exp` against
    /// `now` (Unix seconds) allowing `skew` seconds either way. `exp` is
    /// required.
    pub fn verify(&self, secret: &[u8], now: i64, skew: i64) -> Result<(), AuthFailure> {
        let mut mac =
            HmacSha256::new_from_slice(secret).map_err(|_| invalid("unusable secret key"))?;
        mac.update(self.signing_input.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&self.signature)
            .map_err(|_| invalid("the JWT signature does not match the SecretKey of its iss"))?;
        if let Some(nbf) = seconds(&self.claims.nbf, "nbf")? {
            if nbf > now + skew {
                return Err(AuthFailure::NotYetValid);
            }
        }
        match seconds(&self.claims.exp, "exp")? {
            Some(exp) if exp + skew < now => Err(AuthFailure::Expired),
            Some(_) => Ok(()),
            None => Err(invalid("the JWT has no exp claim")),
        }
    }
}

/// Makes a token (for the CLI, tests and clients written in Rust).
pub fn sign(access_key: &str, secret_key: &str, exp: i64, nbf: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD
        .encode(serde_json::json!({"iss": access_key, "exp": exp, "nbf": nbf}).to_string());
    let input = format!("{header}.{payload}");
    let sig = match HmacSha256::new_from_slice(secret_key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(input.as_bytes());
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    format!("{input}.{sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_time_checks() {
        let now = 1_700_000_000;
        let t = sign("AK", "SK", now + 1800, now - 5);
        assert!(looks_like_jwt(&t));
        let j = parse(&t).unwrap();
        assert_eq!(j.claims.iss.as_deref(), Some("AK"));
        assert_eq!(j.verify(b"SK", now, 5), Ok(()));
        assert!(matches!(
            j.verify(b"other", now, 5),
            Err(AuthFailure::Invalid(_))
        ));
        assert_eq!(j.verify(b"SK", now + 1900, 5), Err(AuthFailure::Expired));
        let future = sign("AK", "SK", now + 1800, now + 60);
        assert_eq!(
            parse(&future).unwrap().verify(b"SK", now, 5),
            Err(AuthFailure::NotYetValid)
        );
        // Within the skew is fine.
        let slightly = sign("AK", "SK", now + 1800, now + 3);
        assert_eq!(parse(&slightly).unwrap().verify(b"SK", now, 5), Ok(()));
        assert!(parse("a.b").is_err());
        assert!(parse("eyJhbGciOiJub25lIn0.e30.").is_err());
    }

    #[test]
    fn pyjwt_token_verifies() {
        // jwt.encode({"iss":"AK","exp":4102444800,"nbf":1700000000}, "SK", headers={"alg":"HS256","typ":"JWT"})
        let t = sign("AK", "SK", 4_102_444_800, 1_700_000_000);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts[0], "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9");
        assert!(parse(&t).unwrap().verify(b"SK", 1_800_000_000, 0).is_ok());
    }
}

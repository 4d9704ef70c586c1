//! Accounts and their credentials: an API key (stored as its SHA-256), an
//! AccessKey/SecretKey pair for JWTs (the SecretKey is stored as-is: it must
//! be usable to check signatures), and an optional webhook secret.

use crate::clock::{now_ms, now_s};
use crate::error::{AuthFailure, DomainError, Result};
use crate::throttle::{AuthThrottle, Subject, ThrottleConfig};
use crate::{ids, jwt};
use base64::Engine;
use mouthpiece_storage::{AccountRecord, Accounts, NewAccount};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub webhook_secret: Option<String>,
    pub max_concurrent_tasks: Option<u32>,
    /// Unix ms.
    pub created_at: i64,
}

impl From<AccountRecord> for Account {
    fn from(r: AccountRecord) -> Self {
        Self {
            id: r.id,
            name: r.name,
            webhook_secret: r.webhook_secret,
            max_concurrent_tasks: r.max_concurrent_tasks,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewAccountRequest {
    pub name: String,
    pub max_concurrent_tasks: Option<u32>,
    pub webhook_secret: bool,
}

/// Credentials are shown once, here, and never again.
#[derive(Debug, Clone)]
pub struct CreatedAccount {
    pub account: Account,
    pub api_key: String,
    pub access_key: String,
    pub secret_key: String,
    pub webhook_secret: Option<String>,
}

pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// New credentials after a rotation, shown once.
#[derive(Debug, Clone)]
pub struct RotatedCredentials {
    pub api_key: String,
    pub access_key: String,
    pub secret_key: String,
}

#[derive(Clone)]
pub struct AccountService {
    accounts: Arc<dyn Accounts>,
    clock_skew_s: i64,
    throttle: Arc<AuthThrottle>,
}

impl AccountService {
    pub fn new(accounts: Arc<dyn Accounts>, clock_skew_s: i64) -> Self {
        Self::with_throttle(accounts, clock_skew_s, ThrottleConfig::default())
    }

    pub fn with_throttle(
        accounts: Arc<dyn Accounts>,
        clock_skew_s: i64,
        throttle: ThrottleConfig,
    ) -> Self {
        Self {
            accounts,
            clock_skew_s,
            throttle: Arc::new(AuthThrottle::new(throttle)),
        }
    }

    /// Replaces the account's API keys and AccessKey/SecretKey pair; the old
    /// ones stop working at once (JWTs signed with the old SecretKey too).
    pub async fn rotate(&self, account_id: &str) -> Result<RotatedCredentials> {
        let creds = RotatedCredentials {
            api_key: format!("mp_{}", ids::token(40)),
            access_key: format!("AK{}", ids::token(30)),
            secret_key: ids::token(40),
        };
        let found = self
            .accounts
            .replace_credentials(
                account_id,
                &hash_api_key(&creds.api_key),
                &creds.access_key,
                &creds.secret_key,
                now_ms(),
            )
            .await?;
        if !found {
            return Err(DomainError::NotFound {
                what: format!("account {account_id}"),
            });
        }
        Ok(creds)
    }

    /// Revokes every credential of the account: a rotation whose new
    /// credentials are never shown. `rotate` issues usable ones again.
    pub async fn revoke(&self, account_id: &str) -> Result<()> {
        self.rotate(account_id).await.map(|_| ())
    }

    /// [`Self::authenticate`] with brute-force protection: a client address
    /// (or an AccessKey) with too many recent failures is refused with
    /// [`DomainError::TooManyAuthFailures`]. A locked-out address is refused
    /// before its credentials are looked at; a locked-out AccessKey only
    /// when the token fails, so its owner's valid tokens keep working.
    pub async fn authenticate_client(
        &self,
        authorization: Option<&str>,
        client: Option<IpAddr>,
    ) -> Result<Account> {
        let client = client.map(Subject::client);
        if let Some(retry_after_s) = client.as_ref().and_then(|c| self.throttle.locked(c)) {
            return Err(DomainError::TooManyAuthFailures { retry_after_s });
        }
        let result = self.authenticate(authorization).await;
        match &result {
            Err(DomainError::Unauthorized(f)) if *f != AuthFailure::Missing => {
                if let Some(c) = client {
                    self.throttle.failed(c);
                }
                let iss = authorization
                    .and_then(|v| v.trim().split_once(' '))
                    .map(|(_, t)| t.trim())
                    .filter(|t| jwt::looks_like_jwt(t))
                    .and_then(|t| jwt::parse(t).ok())
                    .and_then(|p| p.claims.iss);
                if let Some(ak) = iss {
                    let subject = Subject::AccessKey(ak);
                    if let Some(retry_after_s) = self.throttle.locked(&subject) {
                        return Err(DomainError::TooManyAuthFailures { retry_after_s });
                    }
                    self.throttle.failed(subject);
                }
            }
            _ => {}
        }
        result
    }

    pub async fn create(&self, req: NewAccountRequest) -> Result<CreatedAccount> {
        let name = req.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(DomainError::invalid("name", "must be 1 to 200 characters"));
        }
        if req.max_concurrent_tasks == Some(0) {
            return Err(DomainError::invalid("concurrency", "must be at least 1"));
        }
        let api_key = format!("mp_{}", ids::token(40));
        let access_key = format!("AK{}", ids::token(30));
        let secret_key = ids::token(40);
        let webhook_secret = req.webhook_secret.then(|| {
            format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(ids::random_bytes(32))
            )
        });
        let record = AccountRecord {
            id: format!("acct_{}", ids::token(16).to_ascii_lowercase()),
            name,
            access_key: access_key.clone(),
            secret_key: secret_key.clone(),
            webhook_secret: webhook_secret.clone(),
            max_concurrent_tasks: req.max_concurrent_tasks,
            created_at: now_ms(),
        };
        self.accounts
            .create_account(&NewAccount {
                account: record.clone(),
                api_key_hash: hash_api_key(&api_key),
            })
            .await?;
        Ok(CreatedAccount {
            account: record.into(),
            api_key,
            access_key,
            secret_key,
            webhook_secret,
        })
    }

    pub async fn list(&self) -> Result<Vec<Account>> {
        Ok(self
            .accounts
            .list_accounts()
            .await?
            .into_iter()
            .map(Account::from)
            .collect())
    }

    /// Resolves an `Authorization` header value: `Bearer <API key>` or
    /// `Bearer <HS256 JWT signed with the SecretKey, iss = AccessKey>`.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Account> {
        let fail = |f| Err(DomainError::Unauthorized(f));
        let Some(value) = authorization.map(str::trim).filter(|v| !v.is_empty()) else {
            return fail(AuthFailure::Missing);
        };
        let token = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => return fail(AuthFailure::Failed("use the Bearer scheme".into())),
        };
        if token.is_empty() {
            return fail(AuthFailure::Missing);
        }
        if jwt::looks_like_jwt(token) {
            let parsed = match jwt::parse(token) {
                Ok(p) => p,
                Err(f) => return fail(f),
            };
            let Some(iss) = parsed.claims.iss.as_deref() else {
                return fail(AuthFailure::Invalid(
                    "the JWT has no iss (AccessKey)".into(),
                ));
            };
            let Some(account) = self.accounts.account_by_access_key(iss).await? else {
                return fail(AuthFailure::Invalid("unknown AccessKey in iss".into()));
            };
            if let Err(f) = parsed.verify(account.secret_key.as_bytes(), now_s(), self.clock_skew_s)
            {
                return fail(f);
            }
            return Ok(account.into());
        }
        match self
            .accounts
            .account_by_api_key_hash(&hash_api_key(token))
            .await?
        {
            Some(a) => Ok(a.into()),
            None => fail(AuthFailure::Invalid("unknown API key".into())),
        }
    }
}

//! Accounts and their credentials: an API key (stored as its SHA-256), an
//! AccessKey/SecretKey pair for JWTs (the SecretKey is stored as-is: it must
//! be usable to check signatures), and an optional webhook secret.

use crate::clock::{now_ms, now_s};
use crate::error::{AuthFailure, DomainError, Result};
use crate::{ids, jwt};
use base64::Engine;
use mouthpiece_storage::{AccountRecord, MetadataStore, NewAccount};
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub webhook_secret: Option<String>,
    pub max_concurrent_tasks: Option<u32>,
}

impl From<AccountRecord> for Account {
    fn from(r: AccountRecord) -> Self {
        Self {
            id: r.id,
            name: r.name,
            webhook_secret: r.webhook_secret,
            max_concurrent_tasks: r.max_concurrent_tasks,
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

#[derive(Clone)]
pub struct AccountService {
    store: Arc<dyn MetadataStore>,
    clock_skew_s: i64,
}

impl AccountService {
    pub fn new(store: Arc<dyn MetadataStore>, clock_skew_s: i64) -> Self {
        Self {
            store,
            clock_skew_s,
        }
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
        self.store
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
            .store
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
            let Some(account) = self.store.account_by_access_key(iss).await? else {
                return fail(AuthFailure::Invalid("unknown AccessKey in iss".into()));
            };
            if let Err(f) = parsed.verify(account.secret_key.as_bytes(), now_s(), self.clock_skew_s)
            {
                return fail(f);
            }
            return Ok(account.into());
        }
        match self
            .store
            .account_by_api_key_hash(&hash_api_key(token))
            .await?
        {
            Some(a) => Ok(a.into()),
            None => fail(AuthFailure::Invalid("unknown API key".into())),
        }
    }
}

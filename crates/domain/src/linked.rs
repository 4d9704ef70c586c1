//! Linked accounts: the Kling web accounts a useapi.net caller registers
//! under its key. Here they are named slots of one Mouthpiece account, each
//! with its own cap on running tasks. The password is kept only as a
//! SHA-256 digest (nothing logs in anywhere with it).

use crate::account::{hash_api_key, Account};
use crate::clock::now_ms;
use crate::error::{DomainError, Result};
use crate::input::{present, LinkedSlot};
use mouthpiece_storage::{LinkedAccountRecord, LinkedAccounts, TaskQueue};
use std::sync::Arc;

pub const MAX_JOBS: u32 = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccount {
    pub email: String,
    pub max_jobs: u32,
    pub created_at: i64,
}

impl From<LinkedAccountRecord> for LinkedAccount {
    fn from(r: LinkedAccountRecord) -> Self {
        Self {
            email: r.email,
            max_jobs: r.max_jobs,
            created_at: r.created_at,
        }
    }
}

/// A validated `POST /accounts` request.
#[derive(Debug, Clone)]
pub struct NewLinkedAccount {
    pub email: String,
    pub password: String,
    pub max_jobs: u32,
}

/// `maxJobs`: an integer from 1 to 50.
pub fn parse_max_jobs(raw: Option<&serde_json::Value>) -> Result<Option<u32>> {
    let Some(v) = raw.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let n = match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (1..=i64::from(MAX_JOBS)).contains(&n) => Ok(Some(n as u32)),
        _ => Err(DomainError::invalid(
            "maxJobs",
            format!("must be an integer from 1 to {MAX_JOBS}"),
        )),
    }
}

/// An email address, lower-cased: something@domain.tld, at most 254 chars.
pub fn parse_email(raw: Option<&str>) -> Result<String> {
    let e = present(raw).ok_or_else(|| DomainError::invalid("email", "is required"))?;
    let e = e.trim().to_ascii_lowercase();
    let ok = e.len() <= 254
        && !e.contains(char::is_whitespace)
        && e.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !host.contains('@')
        });
    if !ok {
        return Err(DomainError::invalid(
            "email",
            format!("{e:?} is not an email address"),
        ));
    }
    Ok(e)
}

impl NewLinkedAccount {
    pub fn parse(
        email: Option<&str>,
        password: Option<&str>,
        max_jobs: Option<&serde_json::Value>,
    ) -> Result<Self> {
        let email = parse_email(email)?;
        let password = present(password)
            .ok_or_else(|| DomainError::invalid("password", "is required"))?
            .to_string();
        let max_jobs = parse_max_jobs(max_jobs)?
            .ok_or_else(|| DomainError::invalid("maxJobs", "is required"))?;
        Ok(Self {
            email,
            password,
            max_jobs,
        })
    }
}

#[derive(Clone)]
pub struct LinkedAccountService {
    linked: Arc<dyn LinkedAccounts>,
    /// For the unfinished tasks per email.
    tasks: Arc<dyn TaskQueue>,
}

impl LinkedAccountService {
    pub fn new(linked: Arc<dyn LinkedAccounts>, tasks: Arc<dyn TaskQueue>) -> Self {
        Self { linked, tasks }
    }

    /// Adds the account, or updates it when the email is already linked.
    pub async fn put(&self, account: &Account, new: NewLinkedAccount) -> Result<LinkedAccount> {
        let rec = LinkedAccountRecord {
            account_id: account.id.clone(),
            email: new.email,
            password_hash: hash_api_key(&new.password),
            max_jobs: new.max_jobs,
            created_at: now_ms(),
        };
        self.linked.put_linked_account(&rec).await?;
        self.get(account, &rec.email).await
    }

    pub async fn list(&self, account: &Account) -> Result<Vec<LinkedAccount>> {
        Ok(self
            .linked
            .linked_accounts(&account.id)
            .await?
            .into_iter()
            .map(LinkedAccount::from)
            .collect())
    }

    pub async fn get(&self, account: &Account, email: &str) -> Result<LinkedAccount> {
        let email = email.trim().to_ascii_lowercase();
        self.list(account)
            .await?
            .into_iter()
            .find(|l| l.email == email)
            .ok_or_else(|| DomainError::NotFound {
                what: format!("account {email}"),
            })
    }

    pub async fn delete(&self, account: &Account, email: &str) -> Result<()> {
        let email = email.trim().to_ascii_lowercase();
        if self
            .linked
            .delete_linked_account(&account.id, &email)
            .await?
        {
            Ok(())
        } else {
            Err(DomainError::NotFound {
                what: format!("account {email}"),
            })
        }
    }

    /// The account a request runs under: the one named by `email`, or the
    /// only one when there is exactly one; `max_jobs` overrides its cap.
    pub async fn select(
        &self,
        account: &Account,
        email: Option<&str>,
        max_jobs: Option<u32>,
    ) -> Result<LinkedAccount> {
        let all = self.list(account).await?;
        let chosen = match present(email) {
            Some(e) => {
                let e = e.trim().to_ascii_lowercase();
                all.into_iter()
                    .find(|l| l.email == e)
                    .ok_or_else(|| DomainError::NotFound {
                        what: format!("account {e}"),
                    })?
            }
            None => match all.len() {
                0 => {
                    return Err(DomainError::NotFound {
                        what: "a configured account (add one with POST /v1/kling/accounts)".into(),
                    })
                }
                1 => all
                    .into_iter()
                    .next()
                    .ok_or_else(|| DomainError::internal("no account"))?,
                _ => {
                    return Err(DomainError::invalid(
                        "email",
                        "is required when several accounts are configured",
                    ))
                }
            },
        };
        Ok(LinkedAccount {
            max_jobs: max_jobs.unwrap_or(chosen.max_jobs),
            ..chosen
        })
    }

    /// Running tasks per email, for every linked account (0 when idle).
    pub async fn load(&self, account: &Account) -> Result<Vec<(LinkedAccount, u32)>> {
        let busy = self.tasks.active_tasks_by_email(&account.id).await?;
        Ok(self
            .list(account)
            .await?
            .into_iter()
            .map(|l| {
                let n = busy
                    .iter()
                    .find(|(e, _)| *e == l.email)
                    .map_or(0, |(_, n)| *n);
                (l, n)
            })
            .collect())
    }
}

impl LinkedAccount {
    pub fn slot(&self) -> LinkedSlot {
        LinkedSlot {
            email: self.email.clone(),
            max_jobs: self.max_jobs,
        }
    }
}

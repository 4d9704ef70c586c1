//! Callbacks on every status change. Each one is written to a durable
//! outbox when the status changes, then delivered by the dispatcher: in
//! order per task, signed with Standard Webhooks headers when the account
//! has a `whsec_` secret, retried with exponential backoff, and only to
//! addresses the network policy permits.

use crate::clock::{now_ms, now_s};
use crate::files::UrlSigner;
use crate::ids;
use crate::net::{HttpLimits, NetworkPolicy, Outbound};
use crate::task::{CallbackFormat, Delivery, Task, TaskSpec};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use mouthpiece_storage::{
    Accounts, CallbackOutbox, CallbackRecord, NewCallback, TaskQueue, TaskRecord,
};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use url::Url;

#[derive(Debug, Clone)]
pub struct CallbackConfig {
    pub timeout: Duration,
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub poll_interval: Duration,
}

impl Default for CallbackConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_attempts: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(600),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// `v1,<base64 HMAC-SHA256(base64decode(secret without whsec_), "{id}.{ts}.{body}")>`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The default signing, for callbacks whose dialect is unknown.
struct StandardWebhooks;

impl CallbackFormat for StandardWebhooks {
    fn callback_body(&self, _task: &Task) -> String {
        String::new()
    }
}

/// Delay before attempt `attempts + 1`: doubling from the initial backoff, capped.
pub fn backoff(config: &CallbackConfig, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
    config
        .initial_backoff
        .saturating_mul(factor)
        .min(config.max_backoff)
}

/// Turns status changes into outbox rows (written by the store in the
/// transaction of the change).
#[derive(Clone)]
pub struct TaskEvents {
    signer: UrlSigner,
    retention_ms: i64,
    pub(crate) formats: Arc<HashMap<&'static str, Arc<dyn CallbackFormat>>>,
    pub wake: Arc<Notify>,
}

impl TaskEvents {
    pub fn new(
        signer: UrlSigner,
        retention_ms: i64,
        formats: Arc<HashMap<&'static str, Arc<dyn CallbackFormat>>>,
    ) -> Self {
        Self {
            signer,
            retention_ms,
            formats,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The callback row for the task's current state, when it has a URL
    /// and its dialect reports this state. Stores write it in the same
    /// transaction as the state change (see `CallbackFor`).
    pub fn callback_for(&self, record: &TaskRecord) -> Option<NewCallback> {
        let url = record.callback_url.as_deref()?;
        let task = Task::from_record(record, &self.signer, self.retention_ms);
        let Some(format) = self.formats.get(task.dialect.as_str()) else {
            tracing::warn!(task_id = %task.id, dialect = %task.dialect, "no callback format for this dialect");
            return None;
        };
        if !format.reports(task.status) {
            return None;
        }
        Some(NewCallback {
            message_id: format!("msg_{}", ids::uuid().replace('-', "")),
            task_id: task.id.clone(),
            account_id: task.account_id.clone(),
            url: url.to_string(),
            body: format.callback_body(&task),
            created_at: now_ms(),
        })
    }

    /// Wakes this node's dispatcher after rows were queued (other nodes
    /// find them on their next poll).
    pub fn queued(&self, record: &TaskRecord) {
        if record.callback_url.is_some() {
            self.wake.notify_one();
        }
    }
}

/// Delivers the outbox.
pub struct Dispatcher {
    outbox: Arc<dyn CallbackOutbox>,
    /// For the account's webhook secret.
    accounts: Arc<dyn Accounts>,
    /// For the task's dialect (its callback format).
    tasks: Arc<dyn TaskQueue>,
    http: Outbound,
    config: CallbackConfig,
    wake: Arc<Notify>,
    formats: Arc<HashMap<&'static str, Arc<dyn CallbackFormat>>>,
}

impl Dispatcher {
    pub fn new(
        outbox: Arc<dyn CallbackOutbox>,
        accounts: Arc<dyn Accounts>,
        tasks: Arc<dyn TaskQueue>,
        events: &TaskEvents,
        policy: NetworkPolicy,
        config: CallbackConfig,
    ) -> Result<Self, String> {
        let limits = HttpLimits {
            connect_timeout: config.timeout.min(Duration::from_secs(5)),
            total_timeout: config.timeout,
            max_redirects: 0,
        };
        Ok(Self {
            outbox,
            accounts,
            tasks,
            http: Outbound::new(policy, &limits, false)?,
            config,
            wake: events.wake.clone(),
            formats: events.formats.clone(),
        })
    }

    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            // Leased for longer than a delivery can take; a row whose
            // sender dies goes out again when the lease ends.
            let now = now_ms();
            let lease = i64::try_from((self.config.timeout * 3).as_millis())
                .unwrap_or(i64::MAX / 4)
                .max(30_000);
            match self.outbox.claim_callbacks(now, now + lease, 16).await {
                Ok(due) if !due.is_empty() => {
                    futures::future::join_all(due.into_iter().map(|c| self.deliver(c))).await;
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "reading the callback outbox failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    async fn deliver(&self, c: CallbackRecord) {
        let attempts = c.attempts + 1;
        let secret = match self.accounts.account(&c.account_id).await {
            Ok(a) => a.and_then(|a| a.webhook_secret),
            Err(e) => {
                tracing::error!(error = %e, "reading the account of a callback failed");
                return;
            }
        };
        // The task's dialect decides how its callbacks are signed.
        let format = match self.tasks.task(&c.task_id).await {
            Ok(t) => t
                .and_then(|t| serde_json::from_str::<TaskSpec>(&t.spec).ok())
                .and_then(|s| self.formats.get(s.dialect.as_str()).cloned()),
            Err(e) => {
                tracing::error!(error = %e, "reading the task of a callback failed");
                return;
            }
        };
        let result = match Url::parse(&c.url) {
            Err(e) => Err(format!("bad URL: {e}")),
            Ok(url) => {
                let delivery = Delivery {
                    task_id: &c.task_id,
                    message_id: &c.message_id,
                    timestamp: now_s(),
                    body: &c.body,
                    secret: secret.as_deref(),
                };
                let headers = match &format {
                    Some(f) => f.headers(&delivery),
                    None => StandardWebhooks.headers(&delivery),
                };
                match self.http.post_json(&url, &headers, c.body.clone()).await {
                    Ok(status) if (200..300).contains(&status) => Ok(()),
                    Ok(status) => Err(format!("the receiver answered HTTP {status}")),
                    Err(e) => Err(e.0),
                }
            }
        };
        let stored = match &result {
            Ok(()) => {
                metrics::counter!("mouthpiece_callbacks_total", "outcome" => "delivered")
                    .increment(1);
                self.outbox.callback_delivered(c.id, now_ms()).await
            }
            Err(why) if attempts >= self.config.max_attempts => {
                metrics::counter!("mouthpiece_callbacks_total", "outcome" => "abandoned")
                    .increment(1);
                tracing::warn!(task_id = %c.task_id, url = %c.url, error = %why, attempts, "callback abandoned");
                self.outbox.callback_abandoned(c.id, attempts, why).await
            }
            Err(why) => {
                metrics::counter!("mouthpiece_callbacks_total", "outcome" => "retry").increment(1);
                let next = now_ms()
                    + i64::try_from(backoff(&self.config, attempts).as_millis())
                        .unwrap_or(i64::MAX / 2);
                tracing::info!(task_id = %c.task_id, url = %c.url, error = %why, attempts, "callback failed; will retry");
                self.outbox.callback_retry(c.id, attempts, next, why).await
            }
        };
        if let Err(e) = stored {
            tracing::error!(error = %e, "recording a callback delivery failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The official test vector (Kling's webhook signature docs = Standard Webhooks).
    #[test]
    fn standard_webhooks_test_vector() {
        let body = r#"{"id":"1234567890","status":"succeeded","message":"","create_time":1781080778802,"update_time":1781080794151}"#;
        let sig = sign(
            "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI=",
            "9876543210",
            1781080794,
            body,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4=")
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = CallbackConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            ..CallbackConfig::default()
        };
        let secs: Vec<u64> = (1..=6).map(|a| backoff(&config, a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
    }
}

//! The metadata store as capabilities: one small trait per kind of record,
//! so each service names what it touches. [`MetadataStore`] is all of them
//! (what a store implements and the contract suite checks), and [`Stores`]
//! hands out one handle per capability of one store. Every method is one
//! atomic step.

use crate::error::Result;
use crate::records::*;
use async_trait::async_trait;
use std::sync::Arc;

/// Why an insert did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted,
    /// The account already has `max_active` submitted or processing tasks.
    LimitReached,
    /// The account already has a task with this external id.
    DuplicateExternalId,
    /// The task's linked email already has `max_jobs` unfinished tasks.
    LinkLimitReached,
}

/// Builds the callback row (if any) for a task's new state. Stores call it
/// inside the transaction that changes the state, so a status change and
/// its callback are committed together or not at all.
pub type CallbackFor<'a> = &'a (dyn Fn(&TaskRecord) -> Option<NewCallback> + Send + Sync);

/// The server's own rows: settings every node shares, and a round trip
/// for readiness.
#[async_trait]
pub trait ServerSettings: Send + Sync + 'static {
    /// Cheap round trip, for readiness.
    async fn ping(&self) -> Result<()>;
    /// A server-wide setting, created with `init` on first use.
    async fn setting_or_init(&self, key: &str, init: &str) -> Result<String>;
}

/// The counter behind public numeric ids (tasks, works, avatars, uploads).
#[async_trait]
pub trait PublicIds: Send + Sync + 'static {
    /// The next value of the public id counter: unique across every node
    /// sharing the store, increasing, starting at 10^11.
    async fn next_id(&self) -> Result<i64>;
}

/// Accounts, their credentials and what they used.
#[async_trait]
pub trait Accounts: Send + Sync + 'static {
    /// Seconds of video rendered (tasks finished with success) and TTS
    /// calls of an account from `from` to `to` (ms, inclusive).
    async fn usage(&self, account_id: &str, from: Millis, to: Millis) -> Result<Usage>;
    async fn create_account(&self, account: &NewAccount) -> Result<()>;
    async fn account(&self, id: &str) -> Result<Option<AccountRecord>>;
    async fn account_by_api_key_hash(&self, hash: &str) -> Result<Option<AccountRecord>>;
    async fn account_by_access_key(&self, access_key: &str) -> Result<Option<AccountRecord>>;
    async fn list_accounts(&self) -> Result<Vec<AccountRecord>>;
    async fn add_api_key(&self, account_id: &str, hash: &str, created_at: Millis) -> Result<()>;
    /// Replaces every credential of an account at once: all its API keys
    /// give way to `api_key_hash`, the AccessKey/SecretKey pair is replaced.
    /// False when there is no such account.
    async fn replace_credentials(
        &self,
        account_id: &str,
        api_key_hash: &str,
        access_key: &str,
        secret_key: &str,
        created_at: Millis,
    ) -> Result<bool>;
}

/// Tasks and the durable queue. Implementations must make `insert_task`
/// (count + insert) and the claims safe against concurrent callers
/// (SQLite: one statement under the write lock; PostgreSQL: an advisory
/// lock per account and `FOR UPDATE SKIP LOCKED`).
#[async_trait]
pub trait TaskQueue: Send + Sync + 'static {
    /// Inserts when the account has fewer than `max_active` unfinished tasks
    /// and the external id is free, atomically, with its callback row.
    async fn insert_task(
        &self,
        task: &NewTask,
        max_active: u32,
        callback: CallbackFor<'_>,
    ) -> Result<InsertOutcome>;
    async fn task(&self, id: &str) -> Result<Option<TaskRecord>>;
    /// By task id first, then by external id; only the account's own tasks.
    async fn task_for_account(
        &self,
        account_id: &str,
        id_or_external: &str,
    ) -> Result<Option<TaskRecord>>;
    /// Newest first.
    async fn list_tasks(
        &self,
        account_id: &str,
        kind: &str,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<TaskRecord>>;
    async fn active_tasks(&self, account_id: &str) -> Result<u32>;
    /// Unfinished (submitted or processing) tasks per linked email.
    async fn active_tasks_by_email(&self, account_id: &str) -> Result<Vec<(String, u32)>>;
    async fn queue_stats(&self) -> Result<QueueStats>;
    /// Takes the oldest claimable task (submitted, or processing with an
    /// expired lease and fewer than `max_attempts` attempts), leases it to
    /// `worker` until `lease_until` and counts the attempt; `callback` is
    /// asked for a row in the same transaction.
    async fn claim_task(
        &self,
        worker: &str,
        now: Millis,
        lease_until: Millis,
        max_attempts: u32,
        callback: CallbackFor<'_>,
    ) -> Result<Option<TaskRecord>>;
    /// Extends the lease and records progress; false when the lease was lost.
    async fn renew_lease(
        &self,
        task_id: &str,
        worker: &str,
        lease_until: Millis,
        progress: u8,
        now: Millis,
    ) -> Result<bool>;
    /// Ends the worker's claim; `None` when the worker no longer holds it
    /// (then nothing is written). The callback row commits with the state.
    async fn finish_task(
        &self,
        task_id: &str,
        worker: &str,
        finish: &TaskFinish,
        now: Millis,
        callback: CallbackFor<'_>,
    ) -> Result<Option<TaskRecord>>;
    /// Fails the tasks whose lease expired after their last allowed attempt,
    /// with their callback rows in the same transaction.
    async fn fail_exhausted(
        &self,
        now: Millis,
        max_attempts: u32,
        message_prefix: &str,
        callback: CallbackFor<'_>,
    ) -> Result<Vec<TaskRecord>>;
    /// Fails an unfinished task at once (a lease holder loses it); `None`
    /// when the task is already final or unknown.
    /// Its callback row is written in the same transaction.
    async fn cancel_task(
        &self,
        task_id: &str,
        message: &str,
        now: Millis,
        callback: CallbackFor<'_>,
    ) -> Result<Option<TaskRecord>>;
    /// Finished tasks created before `before`, for the janitor. Stores shared
    /// by several nodes hand each row to one janitor for a while (PostgreSQL:
    /// `FOR UPDATE SKIP LOCKED` and a short claim), so sweeps do not collide.
    async fn tasks_created_before(&self, before: Millis, limit: u32) -> Result<Vec<TaskRecord>>;
    async fn delete_task(&self, id: &str) -> Result<()>;
}

/// Speech made by the TTS, kept until it expires.
#[async_trait]
pub trait AudioStore: Send + Sync + 'static {
    async fn insert_audio(&self, audio: &AudioRecord) -> Result<()>;
    async fn audio_for_account(&self, account_id: &str, id: &str) -> Result<Option<AudioRecord>>;
    /// Expired audio, claimed like `tasks_created_before`.
    async fn audio_expired(&self, now: Millis, limit: u32) -> Result<Vec<AudioRecord>>;
    async fn delete_audio(&self, id: &str) -> Result<()>;
}

/// The durable outbox of callbacks.
#[async_trait]
pub trait CallbackOutbox: Send + Sync + 'static {
    async fn enqueue_callback(&self, callback: &NewCallback) -> Result<()>;
    /// Claims the earliest pending callback of each task that is due (so a
    /// task's callbacks go out in order), oldest first: each is leased until
    /// `lease_until`, so another node's dispatcher does not send it too; one
    /// whose sender died is due again when the lease ends.
    async fn claim_callbacks(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<CallbackRecord>>;
    async fn callback_delivered(&self, id: i64, now: Millis) -> Result<()>;
    async fn callback_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_at: Millis,
        error: &str,
    ) -> Result<()>;
    async fn callback_abandoned(&self, id: i64, attempts: u32, error: &str) -> Result<()>;
    async fn pending_callbacks(&self) -> Result<u64>;
}

/// Kling web accounts linked to an account (useapi.net's "accounts").
#[async_trait]
pub trait LinkedAccounts: Send + Sync + 'static {
    /// Inserts or replaces the linked account `(account_id, email)`.
    async fn put_linked_account(&self, linked: &LinkedAccountRecord) -> Result<()>;
    /// Oldest first.
    async fn linked_accounts(&self, account_id: &str) -> Result<Vec<LinkedAccountRecord>>;
    /// False when there was none.
    async fn delete_linked_account(&self, account_id: &str, email: &str) -> Result<bool>;
}

/// Saved avatars (useapi.net).
#[async_trait]
pub trait Avatars: Send + Sync + 'static {
    async fn insert_avatar(&self, avatar: &AvatarRecord) -> Result<()>;
    async fn avatar(&self, account_id: &str, id: &str) -> Result<Option<AvatarRecord>>;
    /// Newest first.
    async fn avatars(&self, account_id: &str) -> Result<Vec<AvatarRecord>>;
    /// False when there was none.
    async fn delete_avatar(&self, account_id: &str, id: &str) -> Result<bool>;
}

/// Uploaded files (useapi.net's `POST /assets`).
#[async_trait]
pub trait Assets: Send + Sync + 'static {
    async fn insert_asset(&self, asset: &AssetRecord) -> Result<()>;
    /// A page of an account's uploads under one linked email.
    async fn assets(&self, account_id: &str, query: &AssetQuery) -> Result<Vec<AssetRecord>>;
    /// Deletes those of `ids` that are the account's (under `email`) and
    /// returns them: their blobs are the caller's to delete.
    async fn delete_assets(
        &self,
        account_id: &str,
        email: &str,
        ids: &[String],
    ) -> Result<Vec<AssetRecord>>;
    /// Uploads older than `before` (ms), oldest first: the janitor's.
    async fn assets_created_before(&self, before: Millis, limit: u32) -> Result<Vec<AssetRecord>>;
}

/// Every capability: what a store implements.
pub trait MetadataStore:
    ServerSettings
    + PublicIds
    + Accounts
    + TaskQueue
    + AudioStore
    + CallbackOutbox
    + LinkedAccounts
    + Avatars
    + Assets
{
}

impl<S> MetadataStore for S where
    S: ServerSettings
        + PublicIds
        + Accounts
        + TaskQueue
        + AudioStore
        + CallbackOutbox
        + LinkedAccounts
        + Avatars
        + Assets
{
}

/// One handle per capability, all on one store: the composition root makes
/// it once and gives each service the handles it uses.
#[derive(Clone)]
pub struct Stores {
    pub settings: Arc<dyn ServerSettings>,
    pub ids: Arc<dyn PublicIds>,
    pub accounts: Arc<dyn Accounts>,
    pub tasks: Arc<dyn TaskQueue>,
    pub audio: Arc<dyn AudioStore>,
    pub callbacks: Arc<dyn CallbackOutbox>,
    pub linked: Arc<dyn LinkedAccounts>,
    pub avatars: Arc<dyn Avatars>,
    pub assets: Arc<dyn Assets>,
}

impl Stores {
    pub fn of<S: MetadataStore>(store: Arc<S>) -> Self {
        Self {
            settings: store.clone(),
            ids: store.clone(),
            accounts: store.clone(),
            tasks: store.clone(),
            audio: store.clone(),
            callbacks: store.clone(),
            linked: store.clone(),
            avatars: store.clone(),
            assets: store,
        }
    }
}

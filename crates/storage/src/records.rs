//! Plain records as stored. Times are Unix milliseconds. Each record reads
//! itself from a row of either database (`sqlx::FromRow`), so the stores map
//! columns to fields in one place.

/// Unix time in milliseconds.
pub type Millis = i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub id: String,
    pub name: String,
    /// Public half of the AK/SK pair: the JWT `iss`.
    pub access_key: String,
    /// HMAC key for the account's JWTs. Stored as-is: it must be usable to
    /// verify signatures (see the README's note on protecting the data dir).
    pub secret_key: String,
    /// Standard Webhooks secret (`whsec_...`) used to sign callbacks.
    pub webhook_secret: Option<String>,
    /// Tasks that may be submitted or processing at once; `None` uses the
    /// server default.
    pub max_concurrent_tasks: Option<u32>,
    pub created_at: Millis,
}

/// By hand rather than derived: a stored limit outside `u32` saturates
/// instead of failing the read (the derive cannot convert inside an Option).
impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for AccountRecord
where
    &'r str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> sqlx::Result<Self> {
        let limit: Option<i64> = row.try_get("max_concurrent_tasks")?;
        Ok(AccountRecord {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            access_key: row.try_get("access_key")?,
            secret_key: row.try_get("secret_key")?,
            webhook_secret: row.try_get("webhook_secret")?,
            max_concurrent_tasks: limit.map(|m| u32::try_from(m.max(0)).unwrap_or(u32::MAX)),
            created_at: row.try_get("created_at")?,
        })
    }
}

/// A new account with its first API key (as a SHA-256 hex digest).
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub account: AccountRecord,
    pub api_key_hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    Submitted,
    Processing,
    Succeed,
    Failed,
}

impl TaskState {
    /// Kling's spelling, also the stored one: `submitted | processing | succeed | failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Submitted => "submitted",
            TaskState::Processing => "processing",
            TaskState::Succeed => "succeed",
            TaskState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "submitted" => Some(TaskState::Submitted),
            "processing" => Some(TaskState::Processing),
            "succeed" => Some(TaskState::Succeed),
            "failed" => Some(TaskState::Failed),
            _ => None,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, TaskState::Succeed | TaskState::Failed)
    }
}

/// A `tasks.state` value the schema's CHECK should have refused.
#[derive(Debug, thiserror::Error)]
#[error("unknown task state {0:?}")]
pub struct UnknownTaskState(pub String);

impl TryFrom<String> for TaskState {
    type Error = UnknownTaskState;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        TaskState::parse(&s).ok_or(UnknownTaskState(s))
    }
}

/// A task as accepted. `spec` is the domain's serialized render request.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub id: String,
    pub account_id: String,
    pub external_task_id: Option<String>,
    pub kind: String,
    pub spec: String,
    pub callback_url: Option<String>,
    pub created_at: Millis,
    /// The linked account (useapi `email`) it runs under, with that
    /// email's own limit of unfinished tasks.
    pub link: Option<TaskLink>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskLink {
    pub email: String,
    pub max_jobs: u32,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TaskRecord {
    pub id: String,
    pub account_id: String,
    pub external_task_id: Option<String>,
    pub kind: String,
    #[sqlx(try_from = "String")]
    pub state: TaskState,
    pub status_msg: Option<String>,
    /// 0–100 while rendering.
    #[sqlx(try_from = "i64")]
    pub progress: u8,
    pub spec: String,
    /// The domain's serialized result, once succeeded.
    pub result: Option<String>,
    pub callback_url: Option<String>,
    /// How many times a worker has claimed the task.
    #[sqlx(try_from = "i64")]
    pub attempts: u32,
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
}

/// How a worker ends its claim on a task.
#[derive(Debug, Clone)]
pub enum TaskFinish {
    Succeed {
        result: String,
    },
    Failed {
        message: String,
    },
    /// Give the task back to the queue, claimable again at `retry_at`.
    Retry {
        error: String,
        retry_at: Millis,
    },
    /// Give the task back without counting the attempt (the worker is
    /// stopping, the task did nothing wrong); claimable at once.
    Release {
        note: String,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub submitted: u64,
    /// Claimed or waiting for a retry.
    pub processing: u64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AudioRecord {
    pub id: String,
    pub account_id: String,
    pub blob_key: String,
    pub duration: f64,
    /// Mouth timing known from synthesis (JSON), kept for exact lip-sync.
    pub timeline: Option<String>,
    pub text: String,
    pub voice_id: String,
    pub language: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewCallback {
    /// Stable across retries: the Standard Webhooks `webhook-id`.
    pub message_id: String,
    pub task_id: String,
    pub account_id: String,
    pub url: String,
    pub body: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CallbackRecord {
    pub id: i64,
    pub message_id: String,
    pub task_id: String,
    pub account_id: String,
    pub url: String,
    pub body: String,
    #[sqlx(try_from = "i64")]
    pub attempts: u32,
    pub next_attempt_at: Millis,
    pub created_at: Millis,
}

/// A Kling web account linked to an account (useapi.net's "accounts").
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkedAccountRecord {
    pub account_id: String,
    pub email: String,
    /// SHA-256 (hex); the password is never stored.
    pub password_hash: String,
    /// Tasks that may run under this email at once.
    #[sqlx(try_from = "i64")]
    pub max_jobs: u32,
    pub created_at: Millis,
}

/// A file uploaded through useapi's `POST /assets`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AssetRecord {
    pub id: String,
    pub account_id: String,
    /// The linked account (useapi `email`) it was uploaded under.
    pub email: String,
    pub file_name: String,
    /// `image`, `video` or `audio`.
    pub kind: String,
    pub mime: String,
    pub blob_key: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration_ms: Option<i64>,
    pub created_at: Millis,
}

/// Which of an account's uploads to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetQuery {
    pub email: String,
    pub kind: Option<String>,
    /// Part of the file name.
    pub name_contains: Option<String>,
    pub newest_first: bool,
    pub offset: u32,
    pub limit: u32,
}

/// A saved avatar: a portrait with default prompt and voice settings.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AvatarRecord {
    pub id: String,
    pub account_id: String,
    pub email: String,
    pub nickname: String,
    pub prompt: String,
    pub scene: String,
    pub image_key: String,
    pub tts_speaker: String,
    pub tts_speed: f64,
    pub tts_emotion: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What an account used in a time window, for Kling's `/account/costs`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Seconds of video of the tasks that succeeded in the window.
    pub video_seconds: f64,
    /// Speech syntheses made in the window (still kept).
    pub tts_calls: u64,
}

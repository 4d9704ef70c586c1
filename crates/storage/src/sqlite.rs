//! The embedded metadata store: one SQLite file in WAL mode. Writes are
//! serialised by SQLite's write lock, so a claim needs no row locks: the
//! shared statements of [`crate::sql`] run as they are. Here: opening the
//! file, its migrations, and the few spellings SQLite has of its own.

use crate::error::Result;
use crate::sql::{Db, Dialect, SqlStore};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub(crate) const DIALECT: Dialect = Dialect {
    skip_locked: "",
    now_ms: "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
    find_substring: "instr",
    sum_audio_duration: "TOTAL(json_extract(spec, '$.audio_duration'))",
    next_id: "UPDATE id_sequence SET value = value + 1 WHERE name = 'public' RETURNING value",
    lock_account: None,
};

impl SqlStore {
    /// Opens (creating when missing) the database file and migrates it.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect_sqlite(opts).await
    }

    /// `sqlite://path` or `sqlite::memory:` URLs.
    pub async fn open_sqlite_url(url: &str) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect_sqlite(opts).await
    }

    async fn connect_sqlite(opts: SqliteConnectOptions) -> Result<Self> {
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self {
            db: Db::Sqlite(pool),
        })
    }
}

//! The metadata store on SQL: one implementation for SQLite and PostgreSQL.
//! Every statement is written once, with `$N` placeholders (both drivers
//! read them); each method runs it on whichever pool the store holds. What
//! the two databases spell differently (row locks, the clock, JSON) is a
//! [`Dialect`] fragment, set in `sqlite.rs` and `postgres.rs`.
//!
//! A state change and its callback row commit in one transaction. Claims
//! (queue, outbox, janitor) are single `UPDATE ... RETURNING` statements:
//! SQLite runs them under its one write lock, PostgreSQL skips the rows
//! another claimer holds.

use crate::error::{Result, StorageError};
use crate::records::*;
use sqlx::query::Query;
use sqlx::{Database, Encode, PgPool, SqlitePool, Type};

/// The metadata store on SQLite ([`SqlStore::open_sqlite`]) or PostgreSQL
/// ([`SqlStore::open_postgres`]).
pub struct SqlStore {
    pub(crate) db: Db,
}

pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// What the two databases spell differently; all else is one SQL text.
pub(crate) struct Dialect {
    /// Ends a claim's row selection: PostgreSQL skips the rows another
    /// claimer holds; SQLite has one writer at a time and needs nothing.
    pub skip_locked: &'static str,
    /// The database's clock in Unix ms, which every node shares.
    pub now_ms: &'static str,
    /// `f(haystack, needle)`: the 1-based position of a plain substring, 0
    /// when absent (no wildcards, unlike LIKE).
    pub find_substring: &'static str,
    /// The sum of the selected tasks' `spec.audio_duration`, 0.0 for none.
    pub sum_audio_duration: &'static str,
    /// Takes the next public id.
    pub next_id: &'static str,
    /// Runs first in a submission's transaction, with the account id as $1,
    /// to serialise an account's submissions; SQLite's write lock already does.
    pub lock_account: Option<&'static str>,
}

/// Runs `$body` with `$pool` bound to the store's pool (and `$sql` to its
/// dialect): the body is compiled once per database, so each statement is
/// checked against both drivers' types.
macro_rules! on_db {
    ($store:expr, |$pool:ident| $body:expr) => {
        on_db!($store, |$pool, _sql| $body)
    };
    ($store:expr, |$pool:ident, $sql:ident| $body:expr) => {
        match &$store.db {
            $crate::sql::Db::Sqlite($pool) => {
                let $sql = &crate::sqlite::DIALECT;
                $body
            }
            $crate::sql::Db::Postgres($pool) => {
                let $sql = &crate::postgres::DIALECT;
                $body
            }
        }
    };
}

mod accounts;
mod assets;
mod audio;
mod avatars;
mod callbacks;
mod linked;
mod queue;
mod server;

/// How long a janitor keeps the rows it took before another may retry them.
const JANITOR_CLAIM_MS: i64 = 300_000;

impl SqlStore {
    /// Closes the pool's connections (tests drop their database after).
    pub async fn close(&self) {
        on_db!(self, |pool| pool.close().await)
    }

    /// The database's clock, for claims that several nodes compare.
    async fn db_now_ms(&self) -> Result<Millis> {
        on_db!(self, |pool, sql| Ok(sqlx::query_scalar(&format!(
            "SELECT {}",
            sql.now_ms
        ))
        .fetch_one(pool)
        .await?))
    }
}

fn count(n: i64, what: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| StorageError::Database(format!("{what} out of range: {n}")))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The callback row of a state change, for the caller's transaction.
fn insert_callback<'q, DB: Database>(c: &'q NewCallback) -> Query<'q, DB, DB::Arguments<'q>>
where
    &'q String: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(
        "INSERT INTO callbacks
            (message_id, task_id, account_id, url, body, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&c.message_id)
    .bind(&c.task_id)
    .bind(&c.account_id)
    .bind(&c.url)
    .bind(&c.body)
    .bind(c.created_at)
}

/// A janitor's claim on up to `$2` rows of `table` that are `due` (against
/// `$1`, the cutoff) and that no janitor holds (`held` not after `$4`, now):
/// they are held until `$3`, so janitors on several nodes take disjoint rows
/// and a row comes back if its janitor dies.
fn janitor_claim(
    sql: &Dialect,
    table: &str,
    held: &str,
    due: &str,
    order: &str,
    columns: &str,
) -> String {
    format!(
        "UPDATE {table} SET {held} = $3
         WHERE id IN (
             SELECT id FROM {table} WHERE {due} AND ({held} IS NULL OR {held} <= $4)
             ORDER BY {order} LIMIT $2
             {})
         RETURNING {columns}",
        sql.skip_locked
    )
}

fn oldest_first<T>(rows: &mut [T], key: impl Fn(&T) -> (Millis, &str)) {
    rows.sort_by(|a, b| key(a).cmp(&key(b)));
}

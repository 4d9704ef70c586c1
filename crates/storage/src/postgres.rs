//! The shared metadata store: PostgreSQL, for several API nodes and workers.
//! Claims (queue, outbox, janitor) take their rows with `FOR UPDATE SKIP
//! LOCKED`, so concurrent claimers never wait on nor get the same row; an
//! account's submissions queue on an advisory lock. Migrations run at start
//! under sqlx's advisory lock, so nodes may start together. Here: opening
//! the pool, its migrations, and the spellings of [`crate::sql`]'s shared
//! statements that PostgreSQL has of its own.

use crate::error::Result;
use crate::sql::{Db, Dialect, SqlStore};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

pub(crate) const DIALECT: Dialect = Dialect {
    skip_locked: "FOR UPDATE SKIP LOCKED",
    now_ms: "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
    find_substring: "strpos",
    sum_audio_duration: "COALESCE(SUM((spec::jsonb ->> 'audio_duration')::DOUBLE PRECISION), 0.0)",
    next_id: "SELECT nextval('public_ids')",
    lock_account: Some("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))"),
};

impl SqlStore {
    /// `postgres://user@host:port/db` URLs; migrates on open.
    pub async fn open_postgres(url: &str) -> Result<Self> {
        let opts = PgConnectOptions::from_str(url)?;
        Self::connect_postgres(opts, 10).await
    }

    pub async fn connect_postgres(opts: PgConnectOptions, max_connections: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(opts)
            .await?;
        // sqlx holds a PostgreSQL advisory lock while migrating: nodes that
        // start at once apply each migration exactly once.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            db: Db::Postgres(pool),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use sqlx::Row;

    #[tokio::test]
    async fn nodes_starting_together_migrate_once() {
        let admin = testing::admin_url();
        let url = testing::create_database(&admin).await.unwrap();
        let opened = futures::future::join_all((0..6).map(|_| SqlStore::open_postgres(&url))).await;
        let stores: Vec<SqlStore> = opened.into_iter().map(|s| s.unwrap()).collect();
        let Db::Postgres(pool) = &stores[0].db else {
            unreachable!("opened on PostgreSQL")
        };
        let row = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            .unwrap();
        let applied: i64 = row.get("n");
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
            .unwrap()
            .count();
        assert_eq!(applied, files as i64);
        for s in stores {
            s.close().await;
        }
        testing::drop_database(&admin, &url).await.unwrap();
    }
}

//! One contract, two stores: every check runs on SQLite and on PostgreSQL
//! (`on_both_stores!` makes a test of each per store), and the two schemas
//! are compared column by column. The checks are grouped by capability.

mod accounts;
mod queue;
mod useapi;

use accounts::*;
use queue::*;
use useapi::*;

use crate::metadata::*;
use crate::records::*;
use crate::sql::{Db, SqlStore};
use crate::testing;
use std::collections::BTreeSet;

/// No callback rows.
pub const NONE: CallbackFor<'static> = &|_| None;

pub fn account(id: &str) -> NewAccount {
    NewAccount {
        account: AccountRecord {
            id: id.into(),
            name: id.into(),
            access_key: format!("ak-{id}"),
            secret_key: "sk".into(),
            webhook_secret: None,
            max_concurrent_tasks: None,
            created_at: 1,
        },
        api_key_hash: format!("hash-{id}"),
    }
}

pub fn task(id: &str, account: &str, ext: Option<&str>, at: Millis) -> NewTask {
    NewTask {
        id: id.into(),
        account_id: account.into(),
        external_task_id: ext.map(Into::into),
        kind: "avatar".into(),
        spec: "{}".into(),
        callback_url: None,
        created_at: at,
        link: None,
    }
}

pub fn asset(
    id: &str,
    account: &str,
    email: &str,
    name: &str,
    kind: &str,
    at: Millis,
) -> AssetRecord {
    AssetRecord {
        id: id.into(),
        account_id: account.into(),
        email: email.into(),
        file_name: name.into(),
        kind: kind.into(),
        mime: "image/jpeg".into(),
        blob_key: format!("assets/{account}/{name}"),
        width: Some(640),
        height: Some(480),
        duration_ms: None,
        created_at: at,
    }
}

/// A migrated SQLite store in a temporary folder (gone with the folder).
async fn sqlite() -> (tempfile::TempDir, SqlStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open_sqlite(&dir.path().join("m.db"))
        .await
        .unwrap();
    (dir, store)
}

/// A migrated PostgreSQL store on a database of its own.
struct Postgres {
    url: String,
    store: SqlStore,
}

impl Postgres {
    async fn new() -> Self {
        let url = testing::create_database(&testing::admin_url())
            .await
            .unwrap();
        let store = SqlStore::open_postgres(&url).await.unwrap();
        Self { url, store }
    }

    async fn drop_database(self) {
        self.store.close().await;
        testing::drop_database(&testing::admin_url(), &self.url)
            .await
            .unwrap();
    }
}

/// Makes `sqlite::<check>` and `postgres::<check>` tests of each check, each
/// on a fresh store.
macro_rules! on_both_stores {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    let (_dir, store) = super::sqlite().await;
                    super::$check(&store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $check() {
                    let db = super::Postgres::new().await;
                    super::$check(&db.store).await;
                    db.drop_database().await;
                }
            )*
        }
    };
}

on_both_stores!(
    limits_duplicates_and_isolation,
    credentials_are_replaced_at_once,
    queue_claims_each_task_once_and_recovers_expired_leases,
    a_released_task_is_claimable_again_without_spending_an_attempt,
    callbacks_go_out_in_order_per_task,
    state_changes_and_their_callbacks_commit_together,
    uploads_are_listed_filtered_paged_and_deleted_per_owner,
    linked_email_limits_hold_under_racing_submissions,
    public_ids_are_unique_under_racing_callers,
    usage_sums_rendered_seconds_and_tts_calls,
    linked_accounts_avatars_task_links_and_cancel,
    concurrent_claimers_share_the_queue_without_overlap,
    janitors_on_several_nodes_take_disjoint_rows,
);

/// A column as both schemas can say it: table, name, nullable, and the
/// kind of value (the Rust type the stores read it as).
type Column = (String, String, bool, String);

/// SQLite's public id counter is a table; PostgreSQL's is a sequence.
const SQLITE_ONLY_TABLES: &[&str] = &["id_sequence"];

async fn columns(store: &SqlStore) -> BTreeSet<Column> {
    let kind = |declared: &str| match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => "i64".to_string(),
        "real" | "double precision" => "f64".to_string(),
        "text" => "String".to_string(),
        other => other.to_string(),
    };
    match &store.db {
        Db::Sqlite(pool) => {
            let rows: Vec<(String, String, i64, i64, String)> = sqlx::query_as(
                "SELECT m.name, p.name, p.\"notnull\", p.pk, p.type
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%' AND m.name <> '_sqlx_migrations'",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            rows.into_iter()
                .filter(|(table, ..)| !SQLITE_ONLY_TABLES.contains(&table.as_str()))
                .map(|(table, column, not_null, pk, declared)| {
                    // An INTEGER PRIMARY KEY is the rowid: never null,
                    // whatever the column's NOT NULL says.
                    let rowid = pk > 0 && declared.eq_ignore_ascii_case("integer");
                    (table, column, not_null == 0 && !rowid, kind(&declared))
                })
                .collect()
        }
        Db::Postgres(pool) => {
            let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT table_name::TEXT, column_name::TEXT, is_nullable::TEXT, data_type::TEXT
                 FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            rows.into_iter()
                .map(|(table, column, nullable, declared)| {
                    (table, column, nullable == "YES", kind(&declared))
                })
                .collect()
        }
    }
}

#[tokio::test]
async fn both_schemas_have_the_same_columns() {
    let (_dir, lite) = sqlite().await;
    let pg = Postgres::new().await;
    let on_sqlite = columns(&lite).await;
    let on_postgres = columns(&pg.store).await;
    pg.drop_database().await;
    assert!(on_sqlite.len() > 50, "{on_sqlite:?}");
    let only_sqlite: Vec<_> = on_sqlite.difference(&on_postgres).collect();
    let only_postgres: Vec<_> = on_postgres.difference(&on_sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "SQLite only: {only_sqlite:?}\nPostgreSQL only: {only_postgres:?}"
    );
}

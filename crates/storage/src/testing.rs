//! Throwaway PostgreSQL databases for tests and benchmarks: each server or
//! test gets its own, so runs never see each other's rows.

use crate::error::{Result, StorageError};
use sqlx::Connection;

/// The server the tests use: `MOUTHPIECE_TEST_POSTGRES`, else the local
/// one (trust auth, database `test`).
pub fn admin_url() -> String {
    std::env::var("MOUTHPIECE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Creates an empty database with a unique name; returns its URL.
pub async fn create_database(admin_url: &str) -> Result<String> {
    let mut conn = sqlx::PgConnection::connect(admin_url).await.map_err(|e| {
        StorageError::Database(format!(
            "PostgreSQL is required for these tests and is not reachable at {admin_url} \
             (set MOUTHPIECE_TEST_POSTGRES): {e}"
        ))
    })?;
    let name = format!("mp_t_{}_{}", std::process::id(), uuid_like(),);
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(url_with_database(admin_url, &name))
}

/// Drops a database made by `create_database`, closing its connections.
pub async fn drop_database(admin_url: &str, url: &str) -> Result<()> {
    let path = url.split('?').next().unwrap_or(url);
    let Some(name) = path.rsplit('/').next().filter(|n| n.starts_with("mp_t_")) else {
        return Ok(());
    };
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(())
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:x}_{}", N.fetch_add(1, Ordering::Relaxed))
}

fn url_with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    format!("{base}/{name}{query}")
}

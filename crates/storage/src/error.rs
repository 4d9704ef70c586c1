/// What a store can fail at. Messages are for operators (logs), not clients.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("invalid blob key {0:?}")]
    InvalidKey(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        StorageError::Database(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for StorageError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StorageError::Database(format!("migration failed: {e}"))
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

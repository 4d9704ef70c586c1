//! Persistence behind two small traits, so the domain never sees a database
//! or a file system:
//!
//! - [`MetadataStore`]: accounts and their keys, tasks and the durable queue
//!   (claim with a lease, heartbeat, finish), TTS audio records, and the
//!   callback outbox.
//! - [`BlobStore`]: files by key (put, get, ranged reads, delete).
//!
//! The embedded defaults are [`sql::SqlStore`] on SQLite (WAL mode,
//! migrations under `migrations/sqlite`) and [`fs::FsBlobStore`]. For
//! several nodes, the same [`sql::SqlStore`] on PostgreSQL (claims with
//! `FOR UPDATE SKIP LOCKED`) and [`s3::S3BlobStore`] (any S3-compatible
//! service, through `object_store`) implement the same traits; [`url`] picks
//! one by URL. The SQL is written once (`sql.rs`); `sqlite.rs` and
//! `postgres.rs` hold only how to open each and what each spells its own way.
//!
//! Records here are plain data: the domain owns validation and meaning.

pub mod blob;
#[cfg(test)]
mod contract;
pub mod error;
pub mod fs;
pub mod metadata;
pub mod postgres;
pub mod records;
pub mod s3;
pub mod sql;
pub mod sqlite;
pub mod testing;
pub mod url;

pub use blob::{validate_key, BlobStore, ByteStream};
pub use error::{Result, StorageError};
pub use metadata::{CallbackFor, InsertOutcome, MetadataStore};
pub use records::*;

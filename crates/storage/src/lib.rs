//! Persistence behind two small traits, so the domain never sees a database
//! or a file system:
//!
//! - [`MetadataStore`]: accounts and their keys, tasks and the durable queue
//!   (claim with a lease, heartbeat, finish), TTS audio records, and the
//!   callback outbox.
//! - [`BlobStore`]: files by key (put, get, ranged reads, delete).
//!
//! The embedded defaults are [`sqlite::SqliteStore`] (WAL mode, migrations
//! under `migrations/sqlite`) and [`fs::FsBlobStore`]. A PostgreSQL store
//! (claim with `FOR UPDATE SKIP LOCKED`) and an S3 blob store implement the
//! same traits; nothing above this crate changes.
//!
//! Records here are plain data: the domain owns validation and meaning.

pub mod blob;
pub mod error;
pub mod fs;
pub mod metadata;
pub mod records;
pub mod sqlite;

pub use blob::{validate_key, BlobStore, ByteStream};
pub use error::{Result, StorageError};
pub use metadata::{InsertOutcome, MetadataStore};
pub use records::*;

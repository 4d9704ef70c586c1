//! Persistence behind small traits, so the domain never sees a database
//! or a file system:
//!
//! - the metadata store as capability traits ([`Accounts`], [`TaskQueue`]
//!   with its claims, leases and finishes, [`AudioStore`],
//!   [`CallbackOutbox`], [`LinkedAccounts`], [`Avatars`], [`Assets`],
//!   [`ServerSettings`], [`PublicIds`]); [`MetadataStore`] is all of them and
//!   [`Stores`] one handle per capability.
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
pub use metadata::{
    Accounts, Assets, AudioStore, Avatars, CallbackFor, CallbackOutbox, InsertOutcome,
    LinkedAccounts, MetadataStore, PublicIds, ServerSettings, Stores, TaskQueue,
};
pub use records::*;

//! The whole useapi.net suite again, on PostgreSQL (linked accounts,
//! avatars, uploads, task links and maxJobs on the second store):
//! `common::on_postgres()` is true in this test binary, so every server gets
//! a fresh database of the local PostgreSQL server (required: unreachable
//! means failed, not skipped).

#[path = "useapi_api.rs"]
mod useapi_api;

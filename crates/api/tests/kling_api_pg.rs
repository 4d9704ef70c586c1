//! The whole Kling suite again, on PostgreSQL: `common::on_postgres()` is
//! true in this test binary, so every server gets a fresh database of the
//! local PostgreSQL server (required: unreachable means failed, not skipped).

#[path = "kling_api.rs"]
mod kling_api;

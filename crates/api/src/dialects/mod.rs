//! Provider dialects. Each one is a thin adapter: its JSON in, domain types
//! and services in the middle, its own envelope and error codes out.
//! Kling's legacy API, kie.ai's jobs and AI/ML API's generations share one
//! task store, so a task is readable through any of them (within its
//! account).

pub mod aimlapi;
pub mod kie;
pub mod kling;
pub mod shared;

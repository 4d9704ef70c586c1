//! The HTTP service. Shared parts (configuration, request ids, auth header
//! extraction, file downloads, health, metrics, OpenAPI) live at the top;
//! each provider dialect is a thin adapter under [`dialects`] that parses
//! its JSON into domain inputs, calls the domain services and maps
//! `DomainError` into its own envelope.

pub mod app;
pub mod auth;
pub mod client_ip;
pub mod config;
pub mod dialects;
pub mod files;
pub mod health;
pub mod openapi;
pub mod overload;
pub mod playground;
pub mod request_id;
pub mod state;
pub mod telemetry;

pub use app::Server;
pub use config::Settings;

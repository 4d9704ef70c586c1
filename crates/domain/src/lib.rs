//! The service's domain: accounts and their credentials, tasks and their
//! lifecycle, validated inputs, voices and TTS audio, and the background
//! work (render worker, callback dispatcher, janitor). Knows nothing of HTTP
//! or of any provider's JSON: each API dialect parses its requests into the
//! types of [`input`], calls the services, and maps [`DomainError`] into its
//! own envelope.
//!
//! Data flows one way: dialects → services → (storage, engine, network).

pub mod account;
pub mod avatars;
pub mod callbacks;
pub mod clock;
pub mod cover;
pub mod error;
pub mod files;
pub mod ids;
pub mod input;
pub mod janitor;
pub mod jwt;
pub mod linked;
pub mod media;
pub mod net;
pub mod services;
pub mod task;
pub mod throttle;
pub mod tts;
pub mod voices;
pub mod watermark;
pub mod worker;

pub use account::{Account, AccountService, CreatedAccount, NewAccountRequest, RotatedCredentials};
pub use error::{AuthFailure, DomainError, Result};
pub use mouthpiece_storage::TaskState;
pub use services::{DomainConfig, Services};
pub use task::{Task, VideoResult};

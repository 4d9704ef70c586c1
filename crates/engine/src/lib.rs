//! Mouthpiece render engine: one portrait and one speech track in, a lip-synced
//! talking-head video out. Knows nothing of HTTP, accounts or storage.
//!
//! Data flows one way:
//! `media` (decode) → `face` (detect, landmarks) → `timeline` (mouth cues)
//! → `animate` (rig + warp per frame) → `encode` (ffmpeg) , driven by `pipeline`.

pub mod animate;
pub mod encode;
pub mod error;
pub mod face;
pub mod geometry;
pub mod media;
pub mod models;
pub mod pipeline;
pub mod quality;
pub mod timeline;

pub use error::EngineError;
pub use pipeline::{render, Mode, Progress, RenderReport, RenderRequest};

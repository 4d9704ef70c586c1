use std::path::PathBuf;

/// Everything the engine can refuse or fail at. Callers map these into their
/// own dialects; messages are written for the person who sent the input.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("image could not be decoded: {0}")]
    InvalidImage(String),
    #[error("image is {width}x{height} px; both sides must be at least {min} px")]
    ImageTooSmall { width: u32, height: u32, min: u32 },
    #[error("image aspect ratio {ratio:.2} is outside the allowed range 1:2.5 to 2.5:1")]
    ImageAspectRatio { ratio: f32 },
    #[error("audio could not be decoded: {0}")]
    InvalidAudio(String),
    #[error("video could not be read: {0}")]
    InvalidVideo(String),
    #[error("audio is {seconds:.2} s long; {limit}")]
    AudioDuration { seconds: f64, limit: String },
    #[error("no face was found in the image")]
    NoFace,
    #[error("model file {path} is missing: {hint}")]
    ModelMissing { path: PathBuf, hint: String },
    #[error("model file {path} is corrupt: {reason}")]
    ModelCorrupt { path: PathBuf, reason: String },
    #[error("mouth timeline is invalid: {0}")]
    InvalidTimeline(String),
    /// A speech tool (synthesis, recognition, alignment) failed or is missing.
    #[error("speech analysis failed: {0}")]
    Speech(String),
    #[error("encoder failed: {0}")]
    Encoder(String),
    #[error("render was cancelled")]
    Cancelled,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

//! Media intake: decoding and validating the portrait and the speech track.

pub mod audio;
pub mod image;

pub use self::audio::{decode_audio_file, AudioTrack, ANALYSIS_RATE};
pub use self::image::{decode_portrait, load_portrait_file, PortraitLimits};

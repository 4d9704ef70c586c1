//! Media intake: decoding and validating the portrait and the speech track.

pub mod audio;
pub mod image;
mod mp4_guard;
pub mod video;

pub use self::audio::{
    decode_audio_bytes, decode_audio_file, decode_audio_file_within, AudioTrack, ANALYSIS_RATE,
};
pub use self::image::{decode_portrait, load_portrait_file, PortraitLimits};
pub use self::video::{probe_video, VideoInfo};

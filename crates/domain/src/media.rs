//! Checks the content of input files, whatever they are called: images are
//! sniffed and decoded (size and aspect rules), audio is sniffed and decoded
//! to measure its duration, video clips are probed for size and length.
//! Runs on the blocking pool.

use crate::error::{DomainError, Result};
use crate::input::{MAX_AUDIO_SECONDS, MIN_AUDIO_SECONDS};
use bytes::Bytes;
use mouthpiece_engine::media::{
    decode_audio_file_within, decode_portrait, probe_video, PortraitLimits, VideoInfo,
};
use mouthpiece_engine::EngineError;
use std::time::Duration;

/// A portrait that passed the checks.
#[derive(Debug, Clone)]
pub struct ImageAsset {
    pub bytes: Bytes,
    pub ext: &'static str,
    pub width: u32,
    pub height: u32,
}

/// A speech file that passed the checks.
#[derive(Debug, Clone)]
pub struct AudioAsset {
    pub bytes: Bytes,
    pub ext: &'static str,
    pub duration: f64,
}

pub fn sniff_image(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("jpg")
    } else if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

pub fn sniff_audio(b: &[u8]) -> Option<&'static str> {
    if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WAVE" {
        Some("wav")
    } else if b.starts_with(b"ID3") {
        Some("mp3")
    } else if b.len() >= 12 && &b[4..8] == b"ftyp" {
        Some("m4a")
    } else if b.starts_with(b"OggS") {
        Some("ogg")
    } else if b.starts_with(b"fLaC") {
        Some("flac")
    } else if b.len() >= 2 && b[0] == 0xFF && (b[1] & 0xF6) == 0xF0 {
        Some("aac")
    } else if b.len() >= 2 && b[0] == 0xFF && (b[1] & 0xE0) == 0xE0 {
        Some("mp3")
    } else {
        None
    }
}

fn image_reason(e: EngineError) -> String {
    match e {
        EngineError::ImageTooSmall { width, height, min } => {
            format!("the image is {width}x{height} px; both sides must be at least {min} px")
        }
        EngineError::ImageAspectRatio { ratio } => {
            format!("the aspect ratio is {ratio:.2}; it must be between 1:2.5 and 2.5:1")
        }
        EngineError::InvalidImage(why) => format!("the image could not be decoded: {why}"),
        other => other.to_string(),
    }
}

/// Sniffs and decodes a portrait, checking size and aspect.
pub async fn check_image(bytes: Bytes) -> Result<ImageAsset> {
    let Some(ext) = sniff_image(&bytes) else {
        return Err(DomainError::invalid(
            "image",
            "is not a JPEG, PNG or WebP file",
        ));
    };
    tokio::task::spawn_blocking(move || {
        let img = decode_portrait(&bytes, &PortraitLimits::default())
            .map_err(|e| DomainError::invalid("image", image_reason(e)))?;
        Ok(ImageAsset {
            width: img.width(),
            height: img.height(),
            bytes,
            ext,
        })
    })
    .await
    .map_err(DomainError::internal)?
}

/// Longest uploaded video clip, seconds (useapi: "≤ 10 s").
pub const MAX_VIDEO_SECONDS: f64 = 10.0;
/// Shortest and longest short side of an uploaded clip: 720p to 1080p.
pub const VIDEO_SHORT_SIDE: (u32, u32) = (720, 1080);

/// Reads an uploaded clip's size and length and checks them against
/// useapi's limits (720p or 1080p, at most 10 s).
pub async fn check_video(bytes: Bytes, ext: &'static str) -> Result<VideoInfo> {
    let info = tokio::task::spawn_blocking(move || {
        let dir = tempfile::Builder::new()
            .prefix("mouthpiece-check-")
            .tempdir()
            .map_err(DomainError::internal)?;
        let path = dir.path().join(format!("clip.{ext}"));
        std::fs::write(&path, &bytes).map_err(DomainError::internal)?;
        probe_video(&path, Duration::from_secs(20)).map_err(|e| match e {
            EngineError::InvalidVideo(why) => {
                DomainError::invalid("body", format!("the video could not be read: {why}"))
            }
            other => DomainError::internal(other),
        })
    })
    .await
    .map_err(DomainError::internal)??;
    let short = info.width.min(info.height);
    let (lo, hi) = VIDEO_SHORT_SIDE;
    if !(lo..=hi).contains(&short) {
        return Err(DomainError::invalid(
            "body",
            format!(
                "the video is {}x{} px; it must be 720p or 1080p (short side {lo} to {hi} px)",
                info.width, info.height
            ),
        ));
    }
    // A few ms over is container rounding, not a longer clip.
    if info.duration > MAX_VIDEO_SECONDS + 0.05 {
        return Err(DomainError::invalid(
            "body",
            format!(
                "the video lasts {:.1} s; the limit is {MAX_VIDEO_SECONDS:.0} s",
                info.duration
            ),
        ));
    }
    Ok(info)
}

/// Sniffs and decodes a speech file, checking its duration (2–300 s).
pub async fn check_audio(field: &'static str, bytes: Bytes) -> Result<AudioAsset> {
    check_audio_within(field, bytes, MAX_AUDIO_SECONDS).await
}

/// [`check_audio`] with a lower upper limit; decoding stops past it.
pub async fn check_audio_within(
    field: &'static str,
    bytes: Bytes,
    max_seconds: f64,
) -> Result<AudioAsset> {
    let max_seconds = max_seconds.min(MAX_AUDIO_SECONDS);
    let Some(ext) = sniff_audio(&bytes) else {
        return Err(DomainError::invalid(
            field,
            "is not an MP3, WAV, M4A or AAC file",
        ));
    };
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::Builder::new()
            .prefix("mouthpiece-check-")
            .tempdir()
            .map_err(DomainError::internal)?;
        let path = dir.path().join(format!("audio.{ext}"));
        std::fs::write(&path, &bytes).map_err(DomainError::internal)?;
        // Stops at the limit: a small file may hold hours of audio.
        let track =
            decode_audio_file_within(&path, None, Some(max_seconds)).map_err(|e| match e {
                EngineError::InvalidAudio(why) => {
                    DomainError::invalid(field, format!("the audio could not be decoded: {why}"))
                }
                EngineError::AudioDuration { .. } if max_seconds < MAX_AUDIO_SECONDS => {
                    DomainError::invalid(
                        field,
                        format!("the audio lasts more than {max_seconds:.0} s; the limit is {max_seconds:.0} s"),
                    )
                }
                EngineError::AudioDuration { .. } => DomainError::invalid(
                    field,
                    format!(
                        "the audio lasts more than {max_seconds:.0} s; it must last between {MIN_AUDIO_SECONDS:.0} and {max_seconds:.0} seconds"
                    ),
                ),
                other => DomainError::invalid(field, other.to_string()),
            })?;
        check_duration(field, track.duration)?;
        Ok(AudioAsset {
            bytes,
            ext,
            duration: track.duration,
        })
    })
    .await
    .map_err(DomainError::internal)?
}

pub fn check_duration(field: &str, seconds: f64) -> Result<()> {
    if !(MIN_AUDIO_SECONDS..=MAX_AUDIO_SECONDS).contains(&seconds) {
        return Err(DomainError::invalid(
            field,
            format!(
                "the audio lasts {seconds:.2} s; it must last between {MIN_AUDIO_SECONDS:.0} and {MAX_AUDIO_SECONDS:.0} seconds"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert_eq!(sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("jpg"));
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\n...."), Some("png"));
        assert_eq!(sniff_image(b"RIFF\0\0\0\0WEBPVP8 "), Some("webp"));
        assert_eq!(sniff_image(b"GIF89a"), None);
        assert_eq!(sniff_audio(b"RIFF\0\0\0\0WAVEfmt "), Some("wav"));
        assert_eq!(sniff_audio(b"ID3\x04"), Some("mp3"));
        assert_eq!(sniff_audio(&[0xFF, 0xFB, 0x90]), Some("mp3"));
        assert_eq!(sniff_audio(&[0xFF, 0xF1, 0x50]), Some("aac"));
        assert_eq!(sniff_audio(b"\0\0\0\x20ftypM4A "), Some("m4a"));
        assert_eq!(sniff_audio(b"hello world"), None);
    }
}

//! The cover image of a finished video: one JPEG frame, taken by ffmpeg
//! after encoding and stored beside the video (useapi's `works[].cover`).

use std::path::Path;
use std::process::Command;

/// When the frame is taken: a moment in, past the first frame's fade-in of
/// the encoder, but never past a short clip's middle.
pub fn frame_time(duration_s: f64) -> f64 {
    (duration_s * 0.5).clamp(0.0, 1.0)
}

/// Writes the frame at `at_s` seconds of `video` to `output` as a JPEG.
pub fn extract(video: &Path, output: &Path, at_s: f64) -> Result<(), String> {
    let out = Command::new(mouthpiece_engine::encode::ffmpeg_binary())
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(["-ss", &format!("{at_s:.3}"), "-i"])
        .arg(video)
        .args([
            "-frames:v",
            "1",
            "-q:v",
            "3",
            "-f",
            "image2",
            "-c:v",
            "mjpeg",
        ])
        .arg(output)
        .output()
        .map_err(|e| format!("could not start ffmpeg for the cover: {e}"))?;
    let written = std::fs::metadata(output)
        .map(|m| m.len() > 0)
        .unwrap_or(false);
    if out.status.success() && written {
        Ok(())
    } else {
        Err(format!(
            "ffmpeg made no cover: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_is_within_the_clip() {
        assert_eq!(frame_time(0.0), 0.0);
        assert_eq!(frame_time(1.0), 0.5);
        assert_eq!(frame_time(30.0), 1.0);
    }
}

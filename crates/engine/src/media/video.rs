//! Uploaded video clips: size and length read with ffprobe (the same
//! FFmpeg the encoder uses), under a time limit so a hostile file cannot
//! hold a worker.

use crate::error::{EngineError, Result};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    pub duration: f64,
}

fn ffprobe() -> String {
    std::env::var("MOUTHPIECE_FFPROBE").unwrap_or_else(|_| "ffprobe".to_string())
}

fn invalid(why: impl Into<String>) -> EngineError {
    EngineError::InvalidVideo(why.into())
}

/// Width, height and duration of the first video stream of `path`.
pub fn probe_video(path: &Path, limit: Duration) -> Result<VideoInfo> {
    let mut child = Command::new(ffprobe())
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,duration:format=duration",
            "-of",
            "default=nw=1",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| EngineError::Io(std::io::Error::other(format!("cannot run ffprobe: {e}"))))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(invalid(format!(
                "reading it took longer than {} s",
                limit.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        use std::io::Read;
        out.read_to_string(&mut text)?;
    }
    if !status.success() {
        return Err(invalid("it is not a video file FFmpeg can read"));
    }
    parse_probe(&text)
}

fn parse_probe(text: &str) -> Result<VideoInfo> {
    let (mut width, mut height) = (0u32, 0u32);
    let (mut stream_s, mut format_s) = (None::<f64>, None::<f64>);
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key {
            "width" => width = value.parse().unwrap_or(0),
            "height" => height = value.parse().unwrap_or(0),
            // The stream's own duration comes first, the container's after.
            "duration" if stream_s.is_none() && width > 0 => stream_s = value.parse().ok(),
            "duration" => format_s = value.parse().ok(),
            _ => {}
        }
    }
    if width == 0 || height == 0 {
        return Err(invalid("it has no video stream"));
    }
    let duration = stream_s
        .or(format_s)
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| invalid("its duration is unknown"))?;
    Ok(VideoInfo {
        width,
        height,
        duration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ffprobe_output() {
        let v =
            parse_probe("width=1280\nheight=720\nduration=3.000000\nduration=3.021000\n").unwrap();
        assert_eq!((v.width, v.height, v.duration), (1280, 720, 3.0));
        let v = parse_probe("width=1280\nheight=720\nduration=N/A\nduration=4.5\n").unwrap();
        assert_eq!(v.duration, 4.5);
        assert!(parse_probe("duration=3.0\n").is_err());
        assert!(parse_probe("width=10\nheight=10\nduration=N/A\n").is_err());
    }
}

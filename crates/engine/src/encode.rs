//! H.264/AAC MP4 encoding through a supervised ffmpeg child process. Raw YUV
//! frames are streamed to its stdin as they are made; its stderr is kept so
//! that a failure says why; it is killed if we stop early.

use crate::error::{EngineError, Result};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

#[derive(Debug, Clone)]
pub struct EncodeSettings {
    pub width: usize,
    pub height: usize,
    pub fps: u32,
    /// PCM WAV to mux as AAC; None for a silent, video-only file.
    pub audio: Option<PathBuf>,
    pub output: PathBuf,
    pub preset: String,
    pub crf: u8,
    /// Encoder threads (0 lets x264 decide).
    pub threads: usize,
}

pub fn ffmpeg_binary() -> String {
    std::env::var("MOUTHPIECE_FFMPEG").unwrap_or_else(|_| "ffmpeg".to_string())
}

pub struct Encoder {
    child: Child,
    stdin: Option<ChildStdin>,
    log: Arc<Mutex<VecDeque<String>>>,
    log_thread: Option<JoinHandle<()>>,
    frame_bytes: usize,
    output: PathBuf,
    finished: bool,
}

impl Encoder {
    pub fn spawn(s: &EncodeSettings) -> Result<Self> {
        if !s.width.is_multiple_of(2)
            || !s.height.is_multiple_of(2)
            || s.width == 0
            || s.height == 0
        {
            return Err(EngineError::Encoder(format!(
                "frame size {}x{} must be even and non-zero",
                s.width, s.height
            )));
        }
        let mut cmd = Command::new(ffmpeg_binary());
        cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]);
        cmd.args(["-f", "rawvideo", "-pix_fmt", "yuv420p"]);
        cmd.args(["-s", &format!("{}x{}", s.width, s.height)]);
        cmd.args(["-r", &s.fps.to_string(), "-i", "pipe:0"]);
        if let Some(audio) = &s.audio {
            cmd.arg("-i").arg(audio);
        }
        cmd.args(["-map", "0:v:0"]);
        if s.audio.is_some() {
            cmd.args(["-map", "1:a:0", "-c:a", "aac", "-b:a", "160k"]);
        }
        cmd.args([
            "-c:v",
            "libx264",
            "-preset",
            &s.preset,
            "-crf",
            &s.crf.to_string(),
        ]);
        // Lossless x264 needs the High 4:4:4 Predictive profile; every other
        // quality stays on High, which every browser plays.
        let profile = if s.crf == 0 { "high444" } else { "high" };
        cmd.args(["-pix_fmt", "yuv420p", "-profile:v", profile]);
        cmd.args([
            "-colorspace",
            "bt709",
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
            "-color_range",
            "tv",
        ]);
        // A keyframe every 2 s keeps seeking snappy in browsers.
        cmd.args(["-g", &(s.fps * 2).to_string()]);
        if s.threads > 0 {
            cmd.args(["-threads", &s.threads.to_string()]);
        }
        cmd.args(["-movflags", "+faststart", "-f", "mp4"]);
        cmd.arg(&s.output);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            EngineError::Encoder(format!(
                "cannot start {} ({e}); install ffmpeg (scripts/setup.sh does)",
                ffmpeg_binary()
            ))
        })?;
        let stdin = child.stdin.take();
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let log_thread = child.stderr.take().map(|stderr| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                    if let Ok(mut q) = log.lock() {
                        if q.len() >= 20 {
                            q.pop_front();
                        }
                        q.push_back(line);
                    }
                }
            })
        });
        Ok(Self {
            child,
            stdin,
            log,
            log_thread,
            frame_bytes: crate::animate::YuvFrame::byte_len(s.width, s.height),
            output: s.output.clone(),
            finished: false,
        })
    }

    pub fn write_frame(&mut self, yuv: &[u8]) -> Result<()> {
        if yuv.len() != self.frame_bytes {
            return Err(EngineError::Encoder(format!(
                "frame has {} bytes, expected {}",
                yuv.len(),
                self.frame_bytes
            )));
        }
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(EngineError::Encoder("encoder input already closed".into()));
        };
        if let Err(e) = stdin.write_all(yuv) {
            // The child died: its own words are more useful than EPIPE.
            let status = self.child.wait().ok();
            return Err(EngineError::Encoder(format!(
                "ffmpeg stopped accepting frames ({e}; exit {status:?}): {}",
                self.log_text()
            )));
        }
        Ok(())
    }

    /// Closes the input and waits for ffmpeg to finish the file.
    pub fn finish(mut self) -> Result<PathBuf> {
        drop(self.stdin.take());
        let status = self
            .child
            .wait()
            .map_err(|e| EngineError::Encoder(format!("waiting for ffmpeg: {e}")))?;
        if let Some(t) = self.log_thread.take() {
            let _ = t.join();
        }
        self.finished = true;
        if !status.success() {
            return Err(EngineError::Encoder(format!(
                "ffmpeg exited with {status}: {}",
                self.log_text()
            )));
        }
        Ok(self.output.clone())
    }

    fn log_text(&self) -> String {
        self.log
            .lock()
            .map(|q| q.iter().cloned().collect::<Vec<_>>().join(" | "))
            .unwrap_or_default()
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        if !self.finished {
            // Cancelled or failed midway: stop the child and leave no half file.
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_file(&self.output);
        }
    }
}

/// Checks that ffmpeg is installed and has libx264 and the AAC encoder.
pub fn check_ffmpeg() -> Result<()> {
    let out = Command::new(ffmpeg_binary())
        .args(["-hide_banner", "-encoders"])
        .output()
        .map_err(|e| {
            EngineError::Encoder(format!(
                "cannot run ffmpeg ({e}); install it (scripts/setup.sh does)"
            ))
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !text.contains("libx264") {
        return Err(EngineError::Encoder("ffmpeg lacks libx264".into()));
    }
    if !text.contains(" aac ") {
        return Err(EngineError::Encoder("ffmpeg lacks the AAC encoder".into()));
    }
    Ok(())
}

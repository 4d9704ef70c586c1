//! The render pipeline: decode → analyse the face → mouth timeline → frames
//! rendered in parallel and streamed to the encoder in order. Memory stays
//! flat whatever the audio length: only a few frames are alive at once.

use crate::animate::{
    mouth::MouthPainter, Direction, Emotion, FaceRig, FrameRenderer, FrameState, Performance,
    YuvFrame,
};
use crate::encode::{EncodeSettings, Encoder};
use crate::error::{EngineError, Result};
use crate::face::{Face, FaceAnalyzer};
use crate::geometry::Rect;
use crate::media::{decode_audio_file, load_portrait_file, AudioTrack, PortraitLimits};
use crate::timeline::{self, Hints, MouthTimeline};
use image::RgbImage;
use rayon::prelude::*;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

/// Output quality tier, as the commercial service names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Std,
    Pro,
}

impl Mode {
    /// Shorter side of the output frame.
    pub fn short_side(self) -> u32 {
        match self {
            Mode::Std => 720,
            Mode::Pro => 1080,
        }
    }
    pub fn default_fps(self) -> u32 {
        match self {
            Mode::Std => 24,
            Mode::Pro => 48,
        }
    }
    /// x264 preset that keeps this tier faster than real time on two cores.
    pub fn default_preset(self) -> &'static str {
        match self {
            Mode::Std => "veryfast",
            Mode::Pro => "superfast",
        }
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "std" | "standard" => Ok(Mode::Std),
            "pro" => Ok(Mode::Pro),
            other => Err(format!("unknown mode {other:?}; use std or pro")),
        }
    }
}

/// Encoder knobs; defaults follow the mode.
#[derive(Debug, Clone, Default)]
pub struct EncoderTuning {
    pub preset: Option<String>,
    pub crf: Option<u8>,
    pub threads: usize,
}

#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub image: PathBuf,
    pub audio: PathBuf,
    pub output: PathBuf,
    /// What the avatar should do, in plain words (see `animate::direction`).
    pub prompt: Option<String>,
    /// The avatar's saved default prompt; `prompt` overrides its mood and
    /// camera, and their gestures add up.
    pub avatar_prompt: Option<String>,
    pub mode: Mode,
    pub fps: Option<u32>,
    pub seed: u64,
    /// A saved mouth timeline to use instead of analysing the audio.
    pub timeline: Option<MouthTimeline>,
    /// What is said, when known: the mouth then follows its phones exactly.
    pub text: Option<String>,
    /// Language of the speech ("en", "de", ...); `None` or "auto" is English.
    pub language: Option<String>,
    /// The speech's emotion (the TTS emotion key); mixed with the prompt's mood.
    pub emotion: Emotion,
    pub encoder: EncoderTuning,
}

impl RenderRequest {
    pub fn new(
        image: impl Into<PathBuf>,
        audio: impl Into<PathBuf>,
        output: impl Into<PathBuf>,
    ) -> Self {
        Self {
            image: image.into(),
            audio: audio.into(),
            output: output.into(),
            prompt: None,
            avatar_prompt: None,
            mode: Mode::Std,
            fps: None,
            seed: 0,
            timeline: None,
            text: None,
            language: None,
            emotion: Emotion::Neutral,
            encoder: EncoderTuning::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Decoding,
    AnalysingFace,
    Timeline,
    Rendering,
    Finalising,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Decoding => "decoding",
            Stage::AnalysingFace => "analysing face",
            Stage::Timeline => "mouth timeline",
            Stage::Rendering => "rendering",
            Stage::Finalising => "finalising",
        }
    }
}

/// Progress reports; called from the render threads.
pub trait Progress: Send + Sync {
    fn stage(&self, _stage: Stage) {}
    fn frames(&self, _done: u64, _total: u64) {}
}

/// Ignores all progress.
pub struct NoProgress;
impl Progress for NoProgress {}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RenderReport {
    pub output: PathBuf,
    pub width: usize,
    pub height: usize,
    pub fps: u32,
    pub frames: u64,
    /// Audio duration in seconds (the video matches it within one frame).
    pub duration: f64,
    pub face: Rect,
    pub faces_found: usize,
    /// The window the animation may touch; pixels outside it are the source's.
    pub animated_region: Rect,
    /// Bounding box of the lips in the source (output coordinates).
    pub mouth: Rect,
    /// Wall-clock seconds for the whole job.
    pub wall_seconds: f64,
    /// Seconds spent before the first frame (decode, models, analysis).
    pub setup_seconds: f64,
    /// Frames produced per wall-clock second while rendering and encoding.
    pub fps_achieved: f64,
    /// Audio duration divided by wall time: above 1 is faster than real time.
    pub realtime_factor: f64,
}

/// A portrait prepared for animation: decoded, resized to the output size,
/// face found and rigged.
pub struct PreparedPortrait {
    pub renderer: FrameRenderer,
    pub face: Face,
    pub faces_found: usize,
}

/// Output frame size: the portrait's aspect ratio with the shorter side at
/// the mode's size, rounded to even numbers for 4:2:0 video.
pub fn output_size(width: u32, height: u32, mode: Mode) -> (u32, u32) {
    let short = mode.short_side() as f64;
    let scale = short / f64::from(width.min(height).max(1));
    let even = |v: f64| ((v / 2.0).round() as u32 * 2).max(2);
    (
        even(f64::from(width) * scale),
        even(f64::from(height) * scale),
    )
}

pub fn prepare_portrait(
    image: RgbImage,
    mode: Mode,
    faces: &FaceAnalyzer,
) -> Result<PreparedPortrait> {
    prepare_portrait_scaled(image, mode, faces, 1.0)
}

/// Like `prepare_portrait`, but rigged on a canvas `canvas_scale` times the
/// output size, so camera moves can zoom in without losing sharpness.
/// Landmarks and rects of the result are in canvas pixels.
pub fn prepare_portrait_scaled(
    image: RgbImage,
    mode: Mode,
    faces: &FaceAnalyzer,
    canvas_scale: f32,
) -> Result<PreparedPortrait> {
    let (ow, oh) = output_size(image.width(), image.height(), mode);
    let scale = f64::from(canvas_scale.clamp(1.0, 2.0));
    let even = |v: u32| ((f64::from(v) * scale / 2.0).round() as u32 * 2).max(2);
    let (w, h) = if scale > 1.0 {
        (even(ow), even(oh))
    } else {
        (ow, oh)
    };
    let resized = if (w, h) == image.dimensions() {
        image
    } else {
        image::imageops::resize(&image, w, h, image::imageops::FilterType::Lanczos3)
    };
    let all = faces.analyze_all(&resized)?;
    let faces_found = all.len();
    let face = all.into_iter().next().ok_or(EngineError::NoFace)?;
    let painter = MouthPainter::new(&resized, &face.regions);
    let rig = FaceRig::with_opening(&face.regions, w, h, painter.source_opening())
        .ok_or(EngineError::NoFace)?;
    Ok(PreparedPortrait {
        renderer: FrameRenderer::new(resized, rig, painter)
            .with_output_size(ow as usize, oh as usize),
        face,
        faces_found,
    })
}

/// Renders one job end to end.
pub fn render(
    req: &RenderRequest,
    faces: &FaceAnalyzer,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<RenderReport> {
    let started = Instant::now();
    progress.stage(Stage::Decoding);
    let image = load_portrait_file(&req.image, &PortraitLimits::default())?;
    let work = tempfile::Builder::new().prefix("mouthpiece-").tempdir()?;
    let wav = work.path().join("audio.wav");
    let audio = decode_audio_file(&req.audio, Some(&wav))?;
    if audio.duration < 0.05 {
        return Err(EngineError::AudioDuration {
            seconds: audio.duration,
            limit: "at least 0.05 s of audio is needed".into(),
        });
    }

    progress.stage(Stage::AnalysingFace);
    // Unknown words in the prompt are ignored, never an error.
    let direction = Direction::parse(req.avatar_prompt.as_deref().unwrap_or(""))
        .overridden_by(&Direction::parse(req.prompt.as_deref().unwrap_or("")));
    let prepared = prepare_portrait_scaled(image, req.mode, faces, direction.max_zoom())?;

    progress.stage(Stage::Timeline);
    let timeline = match &req.timeline {
        Some(t) => t.clone(),
        None => mouth_timeline(&audio, req.text.as_deref(), req.language.as_deref()),
    };

    let fps = req.fps.unwrap_or(req.mode.default_fps()).clamp(1, 120);
    let settings = EncodeSettings {
        width: prepared.renderer.width(),
        height: prepared.renderer.height(),
        fps,
        audio: Some(wav.clone()),
        output: req.output.clone(),
        preset: req
            .encoder
            .preset
            .clone()
            .unwrap_or_else(|| req.mode.default_preset().to_string()),
        crf: req.encoder.crf.unwrap_or(18),
        threads: req.encoder.threads,
    };
    let setup_seconds = started.elapsed().as_secs_f64();
    progress.stage(Stage::Rendering);
    let frames = frame_count(audio.duration, fps);
    let states = Performance {
        timeline: &timeline,
        samples: &audio.analysis,
        fps: f64::from(fps),
        frames: frames as usize,
        seed: req.seed,
        direction: &direction,
        emotion: req.emotion,
        face_centre: prepared.renderer.face_centre(),
    }
    .frames();
    let render_started = Instant::now();
    stream_frames(&prepared.renderer, &states, &settings, progress, cancel)?;
    progress.stage(Stage::Finalising);
    let wall = started.elapsed().as_secs_f64();
    let render_wall = render_started.elapsed().as_secs_f64().max(1e-9);
    // Rects in output pixels even when the canvas was larger.
    let k = 1.0 / prepared.renderer.canvas_scale();
    Ok(RenderReport {
        output: req.output.clone(),
        width: settings.width,
        height: settings.height,
        fps,
        frames,
        duration: audio.duration,
        face: prepared.face.rect.scale(k),
        faces_found: prepared.faces_found,
        animated_region: prepared.renderer.rig().region.scale(k),
        mouth: Rect::bounding(&prepared.face.regions.lips_outer).scale(k),
        wall_seconds: wall,
        setup_seconds,
        fps_achieved: frames as f64 / render_wall,
        realtime_factor: audio.duration / wall.max(1e-9),
    })
}

/// The automatic mouth timeline for a track: from the transcript when one
/// is given, else by phone recognition (English) or spectral analysis (other
/// languages), falling back to loudness if a stage fails.
pub fn mouth_timeline(
    audio: &AudioTrack,
    text: Option<&str>,
    language: Option<&str>,
) -> MouthTimeline {
    timeline::automatic(audio, &Hints::new(text, language)).0
}

/// Frames needed so the video lasts as long as the audio (within one frame).
pub fn frame_count(duration: f64, fps: u32) -> u64 {
    ((duration * f64::from(fps)).round() as u64).max(1)
}

/// Renders all frames in parallel batches and feeds them to the encoder in
/// order from a separate thread, so rendering and encoding overlap.
pub fn stream_frames(
    renderer: &FrameRenderer,
    states: &[FrameState],
    settings: &EncodeSettings,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<()> {
    let mut encoder = Encoder::spawn(settings)?;
    let batch = (rayon::current_num_threads() * 2).max(4);
    let (tx, rx) = sync_channel::<Vec<YuvFrame>>(1);
    let total = states.len() as u64;
    std::thread::scope(|scope| -> Result<()> {
        let writer = scope.spawn(move || -> Result<Encoder> {
            let mut done = 0u64;
            for frames in rx {
                for f in frames {
                    encoder.write_frame(&f.data)?;
                    done += 1;
                }
                progress.frames(done, total);
            }
            Ok(encoder)
        });
        let produce = || -> Result<()> {
            for chunk in states.chunks(batch) {
                if cancel.load(Ordering::Relaxed) {
                    return Err(EngineError::Cancelled);
                }
                let rendered: Vec<YuvFrame> =
                    chunk.par_iter().map(|p| renderer.render(p)).collect();
                if tx.send(rendered).is_err() {
                    // The writer stopped: its own error explains why.
                    break;
                }
            }
            Ok(())
        };
        let produced = produce();
        drop(tx);
        let written = writer
            .join()
            .map_err(|_| EngineError::Encoder("the encoder thread panicked".into()))?;
        produced?;
        written?.finish()?;
        Ok(())
    })
}

//! `mouthpiece`: one portrait and one speech track become a lip-synced video.

mod account;
mod bench;
mod lipsync_bench;
mod migrate_store;
mod progress;
mod quality;
mod serve;
mod soak;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use mouthpiece_engine::face::FaceAnalyzer;
use mouthpiece_engine::media::decode_audio_file;
use mouthpiece_engine::models::ModelPaths;
use mouthpiece_engine::pipeline::{self, EncoderTuning, Mode, RenderRequest};
use mouthpiece_engine::timeline::{self, Hints, Method, MouthTimeline};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Parser)]
#[command(
    name = "mouthpiece",
    version,
    about = "Self-hosted talking-avatar video: portrait + speech -> lip-synced MP4"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render a talking-head MP4 from a portrait and a speech track.
    Render(RenderArgs),
    /// Compute the mouth-shape timeline of a speech track (JSON or TSV).
    Timeline(TimelineArgs),
    /// Measure render and encode speed and memory on this machine.
    Bench(bench::BenchArgs),
    /// Measure a rendered video: lip sync, blinks, head motion, background, sharpness.
    Quality(quality::QualityArgs),
    /// Measure lip-sync accuracy on espeak-ng speech in several languages.
    BenchLipsync(lipsync_bench::LipsyncBenchArgs),
    /// Run the Kling-compatible avatar API (queue, workers, callbacks) in one process.
    Serve(serve::ServeArgs),
    /// Run render workers only, on the shared database and blob store.
    Worker(serve::WorkerArgs),
    /// Create or list API accounts and their credentials.
    Account(account::AccountArgs),
    /// Copy every blob from one store to another (idempotent).
    MigrateStore(migrate_store::MigrateStoreArgs),
    /// Load a real server on loopback with valid and invalid requests; print what it served.
    Soak(soak::SoakArgs),
}

#[derive(clap::Args)]
struct RenderArgs {
    /// Portrait: JPEG, PNG or WebP, at least 300 px, aspect 1:2.5 to 2.5:1.
    #[arg(long)]
    image: PathBuf,
    /// Speech: WAV, MP3, M4A/AAC or OGG.
    #[arg(long)]
    audio: PathBuf,
    /// Output MP4.
    #[arg(short, long)]
    output: PathBuf,
    /// What the avatar should do, in plain words.
    #[arg(long)]
    prompt: Option<String>,
    /// Emotion of the speech: neutral, happy, angry, sad, fearful, disgusted, surprised.
    #[arg(long, default_value = "neutral")]
    emotion: mouthpiece_engine::animate::Emotion,
    /// std: 720p at 24 fps; pro: 1080p at 48 fps.
    #[arg(long, default_value = "std")]
    mode: Mode,
    /// Override the frame rate.
    #[arg(long)]
    fps: Option<u32>,
    /// Seed for the natural variations (same inputs and seed, same frames).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Use a saved mouth timeline (JSON or TSV from `mouthpiece timeline`).
    #[arg(long)]
    timeline: Option<PathBuf>,
    /// What is said: the mouth then follows its phones exactly.
    #[arg(long)]
    text: Option<String>,
    /// Language of the speech: auto (English) or a code such as de, es, fr.
    #[arg(long, default_value = "auto")]
    lang: String,
    /// x264 preset (defaults: veryfast for std, superfast for pro).
    #[arg(long)]
    preset: Option<String>,
    /// x264 constant rate factor (lower is better quality).
    #[arg(long)]
    crf: Option<u8>,
    /// Write a JSON report of the render (sizes, timings, face found).
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum TimelineFormat {
    Json,
    Tsv,
}

#[derive(clap::Args)]
struct TimelineArgs {
    #[arg(long)]
    audio: PathBuf,
    #[arg(long, value_enum, default_value = "json")]
    format: TimelineFormat,
    /// Output file; standard output when absent.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// What is said: exact phone timing from the transcript.
    #[arg(long)]
    text: Option<String>,
    /// Language of the speech: auto (English) or a code such as de, es, fr.
    #[arg(long, default_value = "auto")]
    lang: String,
    /// Use this timing source instead of the automatic choice
    /// (transcript, sphinx, spectral or loudness).
    #[arg(long)]
    method: Option<Method>,
}

fn main() {
    let cli = Cli::parse();
    init_logging(matches!(
        cli.command,
        Command::Serve(_) | Command::Worker(_)
    ));
    let result = match cli.command {
        Command::Render(a) => render(a),
        Command::Timeline(a) => timeline(a),
        Command::Bench(a) => bench::run(a),
        Command::Soak(a) => soak::run(a),
        Command::Quality(a) => quality::run(a),
        Command::BenchLipsync(a) => lipsync_bench::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Worker(a) => serve::run_worker(a),
        Command::Account(a) => account::run(a),
        Command::MigrateStore(a) => migrate_store::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Logs go to stderr. The server logs JSON lines at info level by default
/// (machine-readable, with the request id of each request); the other
/// commands log plain text warnings. `MOUTHPIECE_LOG` sets the filter,
/// `MOUTHPIECE_LOG_FORMAT=json|text` the format.
fn init_logging(server: bool) {
    let default_level = if server { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MOUTHPIECE_LOG")
        .unwrap_or_else(|_| default_level.into());
    let json = match std::env::var("MOUTHPIECE_LOG_FORMAT").ok().as_deref() {
        Some("json") => true,
        Some("text") => false,
        _ => server,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}

pub(crate) fn load_analyzer() -> Result<FaceAnalyzer> {
    let models = ModelPaths::discover()?;
    Ok(FaceAnalyzer::load(&models)?)
}

fn render(a: RenderArgs) -> Result<()> {
    let timeline = a.timeline.as_deref().map(read_timeline).transpose()?;
    if !a.image.is_file() {
        bail!("image {} does not exist", a.image.display());
    }
    if !a.audio.is_file() {
        bail!("audio {} does not exist", a.audio.display());
    }
    let analyzer = load_analyzer()?;
    let mut req = RenderRequest::new(&a.image, &a.audio, &a.output);
    req.prompt = a.prompt.clone();
    req.emotion = a.emotion;
    req.mode = a.mode;
    req.fps = a.fps;
    req.seed = a.seed;
    req.timeline = timeline;
    req.text = a.text.clone();
    req.language = Some(a.lang.clone());
    req.encoder = EncoderTuning {
        preset: a.preset.clone(),
        crf: a.crf,
        threads: 0,
    };
    let bar = progress::Bar::new();
    // Ctrl-C stops the render cleanly: the encoder is killed and no partial file is left.
    static CANCEL: AtomicBool = AtomicBool::new(false);
    let _ = ctrlc::set_handler(|| CANCEL.store(true, Ordering::Relaxed));
    let report = pipeline::render(&req, &analyzer, &bar, &CANCEL)?;
    bar.finish();
    if let Some(path) = &a.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "{}: {:.2} s, {} frames at {} fps ({}x{}), {:.1} fps achieved, {:.2}x real time",
        report.output.display(),
        report.duration,
        report.frames,
        report.fps,
        report.width,
        report.height,
        report.fps_achieved,
        report.realtime_factor
    );
    Ok(())
}

fn read_timeline(path: &Path) -> Result<MouthTimeline> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading timeline {}", path.display()))?;
    let tl = if text.trim_start().starts_with('{') {
        MouthTimeline::from_json(&text)
    } else {
        MouthTimeline::from_tsv(&text)
    };
    tl.with_context(|| format!("timeline {}", path.display()))
}

fn timeline(a: TimelineArgs) -> Result<()> {
    let audio = decode_audio_file(&a.audio, None)?;
    let hints = Hints::new(a.text.as_deref(), Some(&a.lang));
    let (tl, method) = match a.method {
        Some(m) => (timeline::auto::timeline_with(m, &audio, &hints)?, m),
        None => timeline::automatic(&audio, &hints),
    };
    eprintln!("timeline: {} cues, timed by {method}", tl.cues.len());
    let text = match a.format {
        TimelineFormat::Json => tl.to_json() + "\n",
        TimelineFormat::Tsv => tl.to_tsv(),
    };
    match a.output {
        Some(p) => std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

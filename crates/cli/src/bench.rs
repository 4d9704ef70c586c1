//! `mouthpiece bench`: prints render and encode figures for this machine.
//! Figures are printed, never asserted.

use anyhow::{bail, Context, Result};
use mouthpiece_engine::animate::{Direction, Emotion, Performance};
use mouthpiece_engine::encode::{EncodeSettings, Encoder};
use mouthpiece_engine::media::{decode_audio_file, load_portrait_file, PortraitLimits};
use mouthpiece_engine::pipeline::{self, frame_count, Mode, NoProgress, RenderRequest};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Portrait to animate.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/samples/obama.jpg"))]
    image: PathBuf,
    /// Length of the benchmark clip in seconds (speech made by espeak-ng).
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Also render a clip this many minutes long and report peak memory (0 skips).
    #[arg(long, default_value_t = 10.0)]
    long_minutes: f64,
}

const TEXT: &str =
    "Good morning, and thank you for joining us. Today I would like to talk about how \
small teams build reliable software. We begin with a simple idea: measure first, then improve. \
Every change should be tested, reviewed, and shipped in small steps, so that mistakes stay cheap. \
When something breaks, we fix the cause, not only the symptom, and we write down what we learned. \
Please remember to be patient, be precise, and be kind to the people you work with.";

pub fn run(a: BenchArgs) -> Result<()> {
    let work = tempfile::tempdir()?;
    let speech = work.path().join("speech.wav");
    make_speech(&speech, a.seconds)?;
    let analyzer = crate::load_analyzer()?;
    println!(
        "machine: {} threads; clip: {:.1} s of espeak-ng speech; portrait {}",
        rayon::current_num_threads(),
        a.seconds,
        a.image.display()
    );

    // Render only: frames made in parallel and dropped.
    let image = load_portrait_file(&a.image, &PortraitLimits::default())?;
    // Face analysis alone (detection + mesh + irises), on the full portrait.
    let mut analysis_ms = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        analyzer.analyze(&image)?;
        analysis_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    analysis_ms.sort_by(f64::total_cmp);
    println!(
        "face analysis ({}, {}x{} px): median {:.0} ms, best {:.0} ms of 5",
        if analyzer.has_mesh() {
            "MediaPipe detector + mesh + irises"
        } else {
            "Haar + dlib"
        },
        image.width(),
        image.height(),
        analysis_ms[2],
        analysis_ms[0]
    );
    let audio = decode_audio_file(&speech, None)?;
    let prepared = pipeline::prepare_portrait(image, Mode::Std, &analyzer)?;
    let timeline = pipeline::mouth_timeline(&audio, None, None);
    let fps = Mode::Std.default_fps();
    let frames = frame_count(audio.duration, fps);
    // The full performance (blinks, head motion) of a render without a prompt.
    let direction = Direction::default();
    let poses = Performance {
        timeline: &timeline,
        samples: &audio.analysis,
        fps: f64::from(fps),
        frames: frames as usize,
        seed: 0,
        direction: &direction,
        emotion: Emotion::Neutral,
        face_centre: prepared.renderer.face_centre(),
    }
    .frames();
    let t = Instant::now();
    let checksum: u64 = poses
        .par_iter()
        .map(|p| {
            prepared
                .renderer
                .render(p)
                .data
                .iter()
                .step_by(4096)
                .map(|&b| u64::from(b))
                .sum::<u64>()
        })
        .sum();
    let render_only = t.elapsed().as_secs_f64();
    println!(
        "render only (std {}x{}): {:.0} fps, {:.1} ms/frame, {:.1}x real time (checksum {checksum})",
        prepared.renderer.width(),
        prepared.renderer.height(),
        frames as f64 / render_only,
        render_only * 1000.0 / frames as f64,
        audio.duration / render_only
    );

    let cancel = AtomicBool::new(false);
    for mode in [Mode::Std, Mode::Pro] {
        let out = work.path().join(format!("{mode:?}.mp4"));
        let mut req = RenderRequest::new(&a.image, &speech, &out);
        req.mode = mode;
        let r = pipeline::render(&req, &analyzer, &NoProgress, &cancel)?;
        // The floor: the same encoder fed the same number of plain frames.
        let prepared = pipeline::prepare_portrait(
            load_portrait_file(&a.image, &PortraitLimits::default())?,
            mode,
            &analyzer,
        )?;
        let plain = prepared.renderer.render(&Default::default());
        let wav = work.path().join("floor.wav");
        decode_audio_file(&speech, Some(&wav))?;
        let settings = EncodeSettings {
            width: r.width,
            height: r.height,
            fps: r.fps,
            audio: Some(wav),
            output: work.path().join("floor.mp4"),
            preset: mode.default_preset().to_string(),
            crf: 18,
            threads: 0,
        };
        let t = Instant::now();
        let mut enc = Encoder::spawn(&settings)?;
        for _ in 0..r.frames {
            enc.write_frame(&plain.data)?;
        }
        enc.finish()?;
        let floor = t.elapsed().as_secs_f64();
        let e2e_render = r.wall_seconds - r.setup_seconds;
        println!(
            "end to end {:?} {}x{}@{}: {:.1} s wall ({:.2} s setup), {:.1} fps, {:.2}x real time; encode-only floor {:.1} s ({:.2}x real time); engine overhead {:.2}x the floor",
            mode,
            r.width,
            r.height,
            r.fps,
            r.wall_seconds,
            r.setup_seconds,
            r.fps_achieved,
            r.realtime_factor,
            floor,
            r.duration / floor,
            e2e_render / floor
        );
    }
    println!(
        "peak memory so far: {:.0} MB (this process), {:.0} MB (largest ffmpeg child)",
        peak_rss_mb(),
        child_peak_rss_mb()
    );

    if a.long_minutes > 0.0 {
        let long = work.path().join("long.wav");
        loop_wav(&speech, &long, a.long_minutes * 60.0)?;
        let out = work.path().join("long.mp4");
        let req = RenderRequest::new(&a.image, &long, &out);
        let r = pipeline::render(&req, &analyzer, &NoProgress, &cancel)?;
        println!(
            "long clip {:.1} min std: {:.1} s wall, {:.2}x real time; peak memory {:.0} MB (this process), {:.0} MB (largest ffmpeg child)",
            r.duration / 60.0,
            r.wall_seconds,
            r.realtime_factor,
            peak_rss_mb(),
            child_peak_rss_mb()
        );
    }
    Ok(())
}

/// Speech of exactly `seconds`, made by espeak-ng and looped as needed.
fn make_speech(out: &Path, seconds: f64) -> Result<()> {
    let raw = out.with_extension("raw.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "160", "-w"])
        .arg(&raw)
        .arg(TEXT)
        .status()
        .context("running espeak-ng (install it: scripts/setup.sh)")?;
    if !status.success() {
        bail!("espeak-ng failed with {status}");
    }
    loop_wav(&raw, out, seconds)
}

fn loop_wav(input: &Path, out: &Path, seconds: f64) -> Result<()> {
    let mut reader = hound::WavReader::open(input)?;
    let spec = reader.spec();
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .collect::<std::result::Result<_, _>>()?;
    if samples.is_empty() {
        bail!("{} has no samples", input.display());
    }
    let want = (seconds * f64::from(spec.sample_rate)) as usize * usize::from(spec.channels);
    let mut w = hound::WavWriter::create(out, spec)?;
    for s in samples.iter().cycle().take(want) {
        w.write_sample(*s)?;
    }
    w.finalize()?;
    Ok(())
}

fn status_field_kb(path: &str, field: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn peak_rss_mb() -> f64 {
    status_field_kb("/proc/self/status", "VmHWM:").unwrap_or(0.0) / 1024.0
}

fn child_peak_rss_mb() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage = unsafe { std::mem::zeroed::<libc::rusage>() };
    let ok = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } == 0;
    if ok {
        usage.ru_maxrss as f64 / 1024.0
    } else {
        0.0
    }
}

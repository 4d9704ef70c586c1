//! Shared helpers for the end-to-end tests: real speech from espeak-ng, real
//! ffmpeg/ffprobe, the real `mouthpiece` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/samples")
}

pub fn sample(name: &str) -> PathBuf {
    let p = samples().join(name);
    assert!(p.is_file(), "sample {} is missing", p.display());
    p
}

pub fn mouthpiece(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mouthpiece"))
        .args(args)
        .output()
        .expect("run mouthpiece")
}

/// Speech synthesised by espeak-ng (22050 Hz mono 16-bit).
pub fn espeak(text: &str, voice: &str, out: &Path) {
    let st = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "165", "-w"])
        .arg(out)
        .arg(text)
        .status()
        .expect("espeak-ng must be installed (scripts/setup.sh)");
    assert!(st.success(), "espeak-ng failed");
}

pub fn read_wav(p: &Path) -> (hound::WavSpec, Vec<i16>) {
    let mut r = hound::WavReader::open(p).expect("open wav");
    let spec = r.spec();
    let s = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    (spec, s)
}

/// speech(a) + `gap` seconds of digital silence + speech(b). Returns the
/// (start, end) of the silent gap in seconds.
pub fn speech_with_pause(a: &str, b: &str, gap: f64, out: &Path) -> (f64, f64) {
    let dir = out.parent().expect("parent");
    let (pa, pb) = (dir.join("a.wav"), dir.join("b.wav"));
    espeak(a, "en-us", &pa);
    espeak(b, "en-us", &pb);
    let (spec, sa) = read_wav(&pa);
    let (_, sb) = read_wav(&pb);
    let rate = f64::from(spec.sample_rate);
    let silence = vec![0i16; (gap * rate) as usize];
    let mut w = hound::WavWriter::create(out, spec).expect("create wav");
    for s in sa.iter().chain(&silence).chain(&sb) {
        w.write_sample(*s).expect("write");
    }
    w.finalize().expect("finalize");
    // espeak leaves a short tail of silence; the gap starts where sound ends.
    let last_loud = sa
        .iter()
        .rposition(|s| s.unsigned_abs() > 300)
        .unwrap_or(sa.len());
    let first_loud = sb.iter().position(|s| s.unsigned_abs() > 300).unwrap_or(0);
    (
        last_loud as f64 / rate,
        (sa.len() + silence.len() + first_loud) as f64 / rate,
    )
}

pub fn ffmpeg(args: &[&str]) {
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg must be installed");
    assert!(st.success(), "ffmpeg {args:?} failed");
}

pub fn ffprobe_json(p: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
        ])
        .arg(p)
        .output()
        .expect("ffprobe");
    assert!(out.status.success(), "ffprobe failed on {}", p.display());
    serde_json::from_slice(&out.stdout).expect("ffprobe json")
}

pub fn stream<'a>(probe: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    probe["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} stream in {probe}"))
}

pub fn num(v: &serde_json::Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_f64())
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Decoded luma planes of every frame.
pub fn luma_frames(p: &Path, w: usize, h: usize) -> Vec<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(p)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .output()
        .expect("ffmpeg decode");
    assert!(out.status.success());
    let frame = w * h + 2 * (w / 2) * (h / 2);
    out.stdout
        .chunks_exact(frame)
        .map(|f| f[..w * h].to_vec())
        .collect()
}

#[derive(Debug, serde::Deserialize)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

#[derive(Debug, serde::Deserialize)]
pub struct Report {
    pub width: usize,
    pub height: usize,
    pub fps: u32,
    pub frames: u64,
    pub duration: f64,
    pub faces_found: usize,
    pub face: Rect,
    pub animated_region: Rect,
    pub mouth: Rect,
}

pub fn read_report(p: &Path) -> Report {
    serde_json::from_str(&std::fs::read_to_string(p).expect("report")).expect("report json")
}

/// Mean absolute difference of luma inside a rectangle.
pub fn region_mad(a: &[u8], b: &[u8], w: usize, r: &Rect) -> f64 {
    let (x0, y0) = (r.x.max(0.0) as usize, r.y.max(0.0) as usize);
    let (x1, y1) = ((r.x + r.w) as usize, (r.y + r.h) as usize);
    let mut sum = 0u64;
    let mut n = 0u64;
    for y in y0..y1 {
        for x in x0..x1 {
            sum += u64::from(a[y * w + x].abs_diff(b[y * w + x]));
            n += 1;
        }
    }
    sum as f64 / n.max(1) as f64
}

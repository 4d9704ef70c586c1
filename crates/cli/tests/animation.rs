//! The face that lives: blinks, head motion, prompts and the camera, checked
//! on real renders of the sample portraits with `mouthpiece quality` (the
//! project's own landmark model on the decoded frames).

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const LONG_TEXT: &str = "Good morning, and thank you for joining us. Today I would like to talk \
about how small teams build reliable software. We begin with a simple idea: measure first, then \
improve. Every change should be tested, reviewed, and shipped in small steps, so that mistakes \
stay cheap. When something breaks, we fix the cause, not only the symptom.";

const SHORT_TEXT: &str =
    "I have some news for you today. It is really quite surprising, and I think you will like it.";

fn render(image: &Path, audio: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "render",
        "--image",
        image.to_str().unwrap(),
        "--audio",
        audio.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = mouthpiece(&args);
    assert!(
        o.status.success(),
        "render {extra:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn quality(video: &Path, source: &Path, audio: &Path) -> Value {
    quality_with(video, source, audio, &[])
}

fn quality_with(video: &Path, source: &Path, audio: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "quality",
        video.to_str().unwrap(),
        "--source",
        source.to_str().unwrap(),
        "--audio",
        audio.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = mouthpiece(&args);
    assert!(
        o.status.success(),
        "quality failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("quality json")
}

fn f(v: &Value, path: &str) -> f64 {
    path.split('.')
        .fold(v, |v, k| &v[k])
        .as_f64()
        .unwrap_or_else(|| panic!("{path} missing in {v}"))
}

fn speech(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    espeak(text, "en-us", &p);
    p
}

#[test]
fn a_20_second_clip_blinks_moves_a_little_and_keeps_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let wav = speech(dir.path(), "long.wav", LONG_TEXT);
    let image = sample("obama.jpg");
    let out = dir.path().join("long.mp4");
    render(&image, &wav, &out, &[]);
    let q = quality(&out, &image, &wav);
    let dur = f(&q, "duration");
    assert!(dur > 15.0, "clip of {dur} s");
    assert!(f(&q, "face_tracked") > 0.95);

    // T11: blinks at a human rate and length.
    let per_min = f(&q, "blinks.per_minute");
    assert!((12.0..=30.0).contains(&per_min), "{per_min} blinks/min");
    let mean_ms = f(&q, "blinks.mean_ms");
    assert!(
        (150.0..=400.0).contains(&mean_ms),
        "blinks last {mean_ms} ms"
    );

    // T12: small, slow head motion.
    for k in ["roll_deg", "yaw_deg", "pitch_deg"] {
        let v = f(&q, &format!("head.{k}"));
        assert!(v <= 3.5, "head {k} {v}");
    }
    let moved = f(&q, "head.vertical_std_px");
    assert!(moved > 0.3, "the head should move a little ({moved} px)");
    assert!(f(&q, "head.translation_pct") <= 2.5);
    assert!(f(&q, "head.low_band_share") >= 0.8);

    // T3: the mouth follows the sound without a visible delay.
    let lag = f(&q, "sync.lag_ms");
    assert!(lag.abs() <= 60.0, "A/V lag {lag} ms");
    assert!(f(&q, "sync.r") > 0.3);

    // Background: only the codec touches it (CRF 18 floor is about 42 dB).
    assert!(f(&q, "background.psnr_db") >= 38.0);
    assert!(f(&q, "background.flicker") <= 0.5);
}

#[test]
fn background_is_untouched_while_the_head_nods() {
    // Lossless video: outside the face's motion ring pixels are the source's.
    let dir = tempfile::tempdir().unwrap();
    let wav = speech(dir.path(), "s.wav", SHORT_TEXT);
    let image = sample("biden.jpg");
    let out = dir.path().join("nod.mp4");
    render(
        &image,
        &wav,
        &out,
        &["--prompt", "keep nodding", "--crf", "1"],
    );
    let q = quality(&out, &image, &wav);
    let psnr = f(&q, "background.psnr_db");
    let ssim = f(&q, "background.ssim");
    assert!(psnr >= 45.0, "PSNR outside the face {psnr} dB");
    assert!(ssim >= 0.995, "SSIM outside the face {ssim}");
}

#[test]
fn nod_moves_the_head_and_static_keeps_it_still() {
    let dir = tempfile::tempdir().unwrap();
    let wav = speech(dir.path(), "s.wav", SHORT_TEXT);
    let image = sample("astronaut.png");
    let run = |name: &str, prompt: &str| {
        let out = dir.path().join(format!("{name}.mp4"));
        render(&image, &wav, &out, &["--prompt", prompt]);
        quality(&out, &image, &wav)
    };
    let plain = run("plain", "");
    let nod = run("nod", "nod");
    let still = run("static", "static");
    let v = |q: &Value| f(q, "head.vertical_std_px");
    assert!(
        v(&nod) > 1.4 * v(&plain),
        "nod {} vs plain {}",
        v(&nod),
        v(&plain)
    );
    assert!(f(&nod, "head.pitch_deg") > f(&plain, "head.pitch_deg"));
    assert!(v(&still) < 0.35, "static moved {} px", v(&still));
    for k in ["roll_deg", "yaw_deg", "pitch_deg"] {
        let d = f(&still, &format!("head.{k}"));
        assert!(d < 1.0, "static {k} {d}");
    }
    assert!(f(&still, "head.translation_pct") < 0.5);
    // Blinks go on when the head is still.
    assert!(f(&still, "blinks.count") >= 1.0);
}

#[test]
fn zoom_in_grows_the_face() {
    let dir = tempfile::tempdir().unwrap();
    let wav = speech(dir.path(), "s.wav", SHORT_TEXT);
    let image = sample("biden.jpg");
    let out = dir.path().join("zoom.mp4");
    render(&image, &wav, &out, &["--prompt", "zoom in"]);
    // Same frame size as without a camera move.
    let probe = ffprobe_json(&out);
    let v = stream(&probe, "video");
    assert_eq!(v["width"].as_u64(), Some(720));
    let q = quality(&out, &image, &wav);
    let (a, b) = (f(&q, "head.iod_start_px"), f(&q, "head.iod_end_px"));
    assert!(b > 1.08 * a, "inter-ocular distance {a} -> {b}");
    let iod = q["series"]["iod_px"].as_array().unwrap();
    let half = iod.len() / 2;
    let mid = iod[half].as_f64().unwrap();
    assert!(mid > a && mid < b, "grows steadily: {a} {mid} {b}");
}

#[test]
fn prompts_in_plain_words_never_fail_and_seeds_vary_the_performance() {
    let dir = tempfile::tempdir().unwrap();
    let wav = speech(dir.path(), "s.wav", "Hello there, how are you today?");
    let image = sample("obama.jpg");
    let odd = dir.path().join("odd.mp4");
    render(
        &image,
        &wav,
        &odd,
        &[
            "--prompt",
            "flibbertigibbet the quasar, then smile and finally raise eyebrows; pan left 🙂",
            "--emotion",
            "surprised",
        ],
    );
    assert!(odd.is_file());

    // Same seed, same frames; another seed, another performance.
    let a = dir.path().join("a.mp4");
    let b = dir.path().join("b.mp4");
    let c = dir.path().join("c.mp4");
    render(&image, &wav, &a, &["--seed", "7"]);
    render(&image, &wav, &b, &["--seed", "7"]);
    render(&image, &wav, &c, &["--seed", "8"]);
    let (w, h) = (720, 900);
    let (fa, fb, fc) = (
        luma_frames(&a, w, h),
        luma_frames(&b, w, h),
        luma_frames(&c, w, h),
    );
    assert_eq!(fa, fb, "same seed, same frames");
    assert_ne!(fa, fc, "another seed moves differently");

    // An unknown emotion key is refused with a clear message.
    let o = mouthpiece(&[
        "render",
        "--image",
        image.to_str().unwrap(),
        "--audio",
        wav.to_str().unwrap(),
        "-o",
        dir.path().join("x.mp4").to_str().unwrap(),
        "--emotion",
        "ecstatic",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("emotion"));
}

#[test]
fn open_mouth_stays_sharp_at_1080p() {
    // T9: the warped lips and teeth keep the portrait's own detail (a
    // bilinear warp measured about 0.7 here, below the 0.8 target).
    let dir = tempfile::tempdir().unwrap();
    let wav = speech(dir.path(), "s.wav", SHORT_TEXT);
    let image = sample("obama.jpg");
    let out = dir.path().join("pro.mp4");
    render(&image, &wav, &out, &["--mode", "pro"]);
    // The figures, and the contact sheet: the source's mouth, the most
    // open, the most closed and a p/b/m frame ("some" has an m), four equal
    // tiles at 2x.
    let sheet = dir.path().join("sheet.png");
    let q = quality_with(&out, &image, &wav, &["--sheet", sheet.to_str().unwrap()]);
    let png = image::open(&sheet).expect("sheet").to_rgb8();
    let tile = (png.width() - 3 * 6) / 4;
    assert_eq!(png.width(), 4 * tile + 18, "four tiles");
    assert!((tile as f64 / png.height() as f64 - 1.5).abs() < 0.02);
    // The most open tile differs from the most closed one around the mouth.
    let centre = |k: u32| {
        let (cx, cy) = (k * (tile + 6) + tile / 2, png.height() / 2);
        png.get_pixel(cx, cy).0
    };
    let (open, closed) = (centre(1), centre(2));
    let diff: i32 = (0..3)
        .map(|c| (i32::from(open[c]) - i32::from(closed[c])).abs())
        .sum();
    assert!(diff > 30, "open {open:?} vs closed {closed:?}");
    assert!(f(&q, "height") >= 1080.0);
    assert!(
        f(&q, "sharpness.open_frames") >= 20.0,
        "too few open-mouth frames"
    );
    let sharp = f(&q, "sharpness.mouth_vs_source_face");
    assert!(
        sharp >= 0.8,
        "open mouth sharpness {sharp} of the source face"
    );
}

#[test]
fn a_black_and_white_photo_stays_grey_inside_the_mouth() {
    // Painted teeth, cavity and tongue take the photo's colourlessness.
    let dir = tempfile::tempdir().unwrap();
    let wav = speech(dir.path(), "s.wav", SHORT_TEXT);
    let grey = dir.path().join("grey.png");
    let img = image::open(sample("biden.jpg")).unwrap().to_luma8();
    image::DynamicImage::ImageLuma8(img)
        .to_rgb8()
        .save(&grey)
        .unwrap();
    let out = dir.path().join("grey.mp4");
    render(&grey, &wav, &out, &[]);
    let probe = ffprobe_json(&out);
    let v = stream(&probe, "video");
    let (w, h) = (
        v["width"].as_u64().unwrap() as usize,
        v["height"].as_u64().unwrap() as usize,
    );
    let o = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&out)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let frame = w * h + 2 * (w / 2) * (h / 2);
    let frames: Vec<&[u8]> = o.stdout.chunks_exact(frame).collect();
    assert!(frames.len() > 100);
    let worst = frames
        .iter()
        .flat_map(|f| f[w * h..].iter())
        .map(|&c| (i32::from(c) - 128).abs())
        .max()
        .unwrap();
    assert!(worst <= 2, "colour in a grey render: chroma off by {worst}");
    // And the mouth did open (the test would pass on a still face).
    let q = quality(&out, &grey, &wav);
    assert!(f(&q, "sharpness.open_frames") >= 10.0);
}

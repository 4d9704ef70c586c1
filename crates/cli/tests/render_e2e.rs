//! End to end: the real binary renders real speech on real portraits, and we
//! check the MP4 with ffprobe and by decoding its frames.

mod common;

use common::*;
use mouthpiece_engine::animate::YuvFrame;
use mouthpiece_engine::media::{load_portrait_file, PortraitLimits};
use mouthpiece_engine::pipeline::{output_size, Mode};

fn render(image: &str, audio: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> Report {
    let report = out.with_extension("json");
    let mut args = vec![
        "render",
        "--image",
        image,
        "--audio",
        audio.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = mouthpiece(&args);
    assert!(
        o.status.success(),
        "render failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(summary.contains("real time"), "no summary line: {summary}");
    read_report(&report)
}

#[test]
fn std_render_is_a_browser_ready_mp4_that_moves_the_mouth_only_while_speaking() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("speech.wav");
    let (gap_start, gap_end) = speech_with_pause(
        "Hello there, my name is Barbara and I build robots.",
        "Maybe we can meet for coffee tomorrow morning.",
        1.5,
        &wav,
    );
    let out = dir.path().join("out.mp4");
    let image = sample("obama.jpg");
    // "static": no idle head sway, so any change in the mouth region is the
    // mouth itself (head motion has its own tests in animation.rs).
    let rep = render(image.to_str().unwrap(), &wav, &out, &["--prompt", "static"]);

    // Streams, sizes, rates, duration.
    let probe = ffprobe_json(&out);
    let v = stream(&probe, "video");
    let a = stream(&probe, "audio");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(v["pix_fmt"], "yuv420p");
    assert_eq!(a["codec_name"], "aac");
    let (w, h) = (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap());
    assert_eq!(w.min(h), 720, "shorter side must be 720 for std");
    let src = image::image_dimensions(&image).unwrap();
    let aspect_in = src.0 as f64 / src.1 as f64;
    assert!(
        (w as f64 / h as f64 - aspect_in).abs() < 0.01,
        "aspect ratio kept"
    );
    assert_eq!(v["r_frame_rate"], "24/1");
    let (spec, samples) = read_wav(&wav);
    let audio_len = samples.len() as f64 / f64::from(spec.sample_rate);
    let video_len = num(&v["nb_frames"]) / 24.0;
    assert!(
        (video_len - audio_len).abs() <= 1.0 / 24.0 + 1e-6,
        "video {video_len} s vs audio {audio_len} s"
    );
    let audio_stream_len = num(&a["duration"]);
    assert!(
        (audio_stream_len - audio_len).abs() < 0.03,
        "audio kept whole: {audio_stream_len} vs {audio_len}"
    );
    // AAC priming is hidden by an edit list: audio starts with the video.
    assert!(
        num(&a["start_time"]).abs() < 0.01,
        "audio start {}",
        a["start_time"]
    );
    // +faststart: the index (moov) precedes the media data (mdat).
    let bytes = std::fs::read(&out).unwrap();
    let pos = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap();
    assert!(
        pos(b"moov") < pos(b"mdat"),
        "moov must come first for streaming"
    );

    // The mouth moves while speech plays and is still during the pause.
    let (w, h) = (w as usize, h as usize);
    let frames = luma_frames(&out, w, h);
    assert_eq!(frames.len() as u64, rep.frames);
    let mouth = Rect {
        x: rep.mouth.x - rep.mouth.w * 0.2,
        y: rep.mouth.y - rep.mouth.h * 0.5,
        w: rep.mouth.w * 1.4,
        h: rep.mouth.h * 2.5,
    };
    let diffs: Vec<f64> = frames
        .windows(2)
        .map(|p| region_mad(&p[0], &p[1], w, &mouth))
        .collect();
    let at = |t: f64| (t * 24.0) as usize;
    let speech_motion: f64 = diffs[at(0.3)..at(gap_start - 0.1)].iter().sum::<f64>();
    let pause_lo = at(gap_start + 0.3);
    let pause_hi = at(gap_end - 0.15);
    // Still in the pause: consecutive frames are identical except where the
    // encoder refreshes a keyframe (every 2 s), which re-quantises everything.
    let mut pause: Vec<f64> = diffs[pause_lo..pause_hi].to_vec();
    pause.sort_by(f64::total_cmp);
    let p90 = pause[pause.len() * 9 / 10];
    let max = pause.last().copied().unwrap_or(0.0);
    assert!(
        speech_motion > 20.0,
        "mouth barely moves while speaking: {speech_motion}"
    );
    assert!(
        p90 < 0.1 && max < 2.5,
        "mouth moves during the pause: {pause:?}"
    );
    // Closed in the pause: looks like the (closed-mouth) source there.
    let portrait = load_portrait_file(&image, &PortraitLimits::default()).unwrap();
    let (ow, oh) = output_size(portrait.width(), portrait.height(), Mode::Std);
    assert_eq!((ow as usize, oh as usize), (w, h));
    let resized = image::imageops::resize(&portrait, ow, oh, image::imageops::FilterType::Lanczos3);
    let source_y = YuvFrame::from_rgb(&resized).data[..w * h].to_vec();

    // Background outside the animated region is the source (PSNR on luma).
    let r = &rep.animated_region;
    let inside = |x: usize, y: usize| {
        x as f32 >= r.x - 8.0
            && x as f32 <= r.x + r.w + 8.0
            && y as f32 >= r.y - 8.0
            && y as f32 <= r.y + r.h + 8.0
    };
    for f in [&frames[at(1.0)], &frames[frames.len() - 3]] {
        let mut se = 0f64;
        let mut n = 0f64;
        for y in 0..h {
            for x in 0..w {
                if !inside(x, y) {
                    let d = f64::from(f[y * w + x]) - f64::from(source_y[y * w + x]);
                    se += d * d;
                    n += 1.0;
                }
            }
        }
        let psnr = 10.0 * (255.0f64 * 255.0 / (se / n).max(1e-9)).log10();
        assert!(psnr >= 45.0, "background PSNR {psnr:.1} dB < 45 dB");
    }
}

#[test]
fn every_input_format_renders() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("s.wav");
    espeak("Testing one two three.", "en-us", &wav);
    let mp3 = dir.path().join("s.mp3");
    let m4a = dir.path().join("s.m4a");
    let ogg = dir.path().join("s.ogg");
    ffmpeg(&[
        "-i",
        wav.to_str().unwrap(),
        "-ar",
        "44100",
        "-ac",
        "2",
        mp3.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-i",
        wav.to_str().unwrap(),
        "-ar",
        "48000",
        "-c:a",
        "aac",
        m4a.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-i",
        wav.to_str().unwrap(),
        "-c:a",
        "libvorbis",
        ogg.to_str().unwrap(),
    ]);
    let cases = [
        ("astronaut.png", &wav),
        ("astronaut.webp", &mp3),
        ("obama-exif-rotated.jpg", &m4a),
        ("biden.jpg", &ogg),
    ];
    for (i, (img, audio)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("o{i}.mp4"));
        let rep = render(sample(img).to_str().unwrap(), audio, &out, &[]);
        let probe = ffprobe_json(&out);
        let v = stream(&probe, "video");
        assert_eq!(
            v["width"]
                .as_u64()
                .unwrap()
                .min(v["height"].as_u64().unwrap()),
            720,
            "{img}"
        );
        let dur = num(&probe["format"]["duration"]);
        assert!(
            (dur - rep.duration).abs() < 0.1,
            "{img}: {dur} vs {}",
            rep.duration
        );
        if *img == "obama-exif-rotated.jpg" {
            // EXIF orientation honoured: portrait, not landscape.
            assert!(rep.height > rep.width, "EXIF rotation ignored");
        }
    }
}

#[test]
fn pro_mode_is_1080p_at_48_fps() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("s.wav");
    espeak("Professional mode.", "en-us", &wav);
    let out = dir.path().join("pro.mp4");
    let rep = render(
        sample("astronaut.png").to_str().unwrap(),
        &wav,
        &out,
        &["--mode", "pro"],
    );
    let probe = ffprobe_json(&out);
    let v = stream(&probe, "video");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(1080), Some(1080))
    );
    assert_eq!(v["r_frame_rate"], "48/1");
    assert_eq!(rep.fps, 48);
}

#[test]
fn largest_face_is_animated_and_output_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("s.wav");
    espeak("We choose to go to the moon.", "en-us", &wav);
    let img = sample("obama-speech.jpg");
    let a = dir.path().join("a.mp4");
    let b = dir.path().join("b.mp4");
    let rep = render(img.to_str().unwrap(), &wav, &a, &["--seed", "7"]);
    render(img.to_str().unwrap(), &wav, &b, &["--seed", "7"]);
    assert!(rep.faces_found >= 1);
    // The speaker's face is the big one in the upper middle of the frame.
    assert!(rep.face.w > rep.width as f32 * 0.2, "face {:?}", rep.face);
    let fa = luma_frames(&a, rep.width, rep.height);
    let fb = luma_frames(&b, rep.width, rep.height);
    assert_eq!(fa.len(), fb.len());
    assert!(fa == fb, "same inputs and seed must give the same frames");
}

#[test]
fn bad_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("s.wav");
    espeak("No face here.", "en-us", &wav);
    let out = dir.path().join("o.mp4");
    let run = |img: &std::path::Path, audio: &std::path::Path| {
        let o = mouthpiece(&[
            "render",
            "--image",
            img.to_str().unwrap(),
            "--audio",
            audio.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(!o.status.success());
        assert!(!out.exists(), "no half-written output is left behind");
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(!err.contains("panicked"), "panic: {err}");
        err
    };
    let err = run(&sample("coffee-no-face.png"), &wav);
    assert!(err.contains("no face"), "{err}");

    let corrupt_img = dir.path().join("corrupt.jpg");
    let mut bytes = std::fs::read(sample("obama.jpg")).unwrap();
    bytes.truncate(3000);
    std::fs::write(&corrupt_img, &bytes).unwrap();
    let err = run(&corrupt_img, &wav);
    assert!(err.contains("image"), "{err}");

    let text_as_image = dir.path().join("notes.png");
    std::fs::write(&text_as_image, "this is not a picture").unwrap();
    let err = run(&text_as_image, &wav);
    assert!(err.contains("image"), "{err}");

    let corrupt_audio = dir.path().join("corrupt.mp3");
    std::fs::write(&corrupt_audio, vec![0x5au8; 20_000]).unwrap();
    let err = run(&sample("obama.jpg"), &corrupt_audio);
    assert!(err.contains("audio"), "{err}");

    let truncated_wav = dir.path().join("trunc.wav");
    std::fs::write(&truncated_wav, &std::fs::read(&wav).unwrap()[..30]).unwrap();
    let err = run(&sample("obama.jpg"), &truncated_wav);
    assert!(err.contains("audio"), "{err}");
}

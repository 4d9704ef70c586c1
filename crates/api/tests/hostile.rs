//! Hostile input against the real server on loopback: decompression bombs,
//! truncated, corrupt and mislabelled media, audio that lasts nothing or
//! hours, portraits with no face or several; URLs that lead to private
//! addresses, other schemes, servers that drip or never end; forged,
//! malformed, expired and revoked credentials, and guessing. Every case gets
//! the dialect's own code and a readable message, or renders correctly.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const AVATAR: &str = "/v1/videos/avatar/image2video";
const KIE_CREATE: &str = "/api/v1/jobs/createTask";
const AIML: &str = "/v2/video/generations";
const RENDER_TIMEOUT: Duration = Duration::from_secs(180);

// ---------- assertions per dialect ----------

fn assert_kling(status: u16, v: &Value, want_status: u16, want_code: u64, needle: &str) {
    assert_eq!(status, want_status, "{v}");
    assert_eq!(v["code"], want_code, "{v}");
    assert!(v.get("data").is_none(), "{v}");
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(needle),
        "message {msg:?} should mention {needle:?}"
    );
    assert!(
        !v["request_id"].as_str().unwrap_or_default().is_empty(),
        "{v}"
    );
}

fn assert_kie(status: u16, v: &Value, code: u64, needle: &str) {
    assert_eq!(u64::from(status), code, "the HTTP status mirrors code: {v}");
    assert_eq!(v["code"], code, "{v}");
    assert!(v["data"].is_null(), "{v}");
    let msg = v["msg"].as_str().unwrap_or_default();
    assert!(
        msg.contains(needle),
        "msg {msg:?} should mention {needle:?}"
    );
}

fn assert_aiml(status: u16, v: &Value, want: u16, needle: &str) {
    assert_eq!(status, want, "{v}");
    assert_eq!(v["statusCode"], want, "{v}");
    assert!(
        !v["requestId"].as_str().unwrap_or_default().is_empty(),
        "{v}"
    );
    let m = v["message"].as_str().unwrap_or_default();
    assert!(
        m.contains(needle),
        "message {m:?} should mention {needle:?}"
    );
}

fn assert_useapi(status: u16, v: &Value, want: u16, needle: &str) {
    assert_eq!(status, want, "{v}");
    assert_eq!(v["code"], want, "{v}");
    let m = v["error"].as_str().unwrap_or_default();
    assert!(m.contains(needle), "error {m:?} should mention {needle:?}");
}

// ---------- hostile files, made here ----------

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn encode(img: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A valid 8x8 PNG whose header claims `w` x `h` (CRC fixed up).
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    png_bomb_of(
        image::DynamicImage::ImageRgb8(image::RgbImage::new(8, 8)),
        w,
        h,
    )
}

fn png_bomb_of(img: image::DynamicImage, w: u32, h: u32) -> Vec<u8> {
    let mut b = encode(img, image::ImageFormat::Png);
    assert_eq!(&b[12..16], b"IHDR");
    b[16..20].copy_from_slice(&w.to_be_bytes());
    b[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&b[12..29]);
    b[29..33].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A valid 16x16 JPEG whose frame header claims `w` x `h`.
fn jpeg_bomb(w: u16, h: u16) -> Vec<u8> {
    let mut b = encode(
        image::DynamicImage::ImageRgb8(image::RgbImage::new(16, 16)),
        image::ImageFormat::Jpeg,
    );
    let sof = b
        .windows(2)
        .position(|m| m == [0xFF, 0xC0])
        .expect("baseline SOF0");
    b[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    b[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    b
}

/// The sample WebP (lossy VP8) with its frame header claiming 16383 x 16383.
fn webp_bomb() -> Vec<u8> {
    let mut b = read(&sample("astronaut.webp"));
    assert_eq!(&b[23..26], &[0x9d, 0x01, 0x2a], "VP8 start code");
    b[26..28].copy_from_slice(&16383u16.to_le_bytes());
    b[28..30].copy_from_slice(&16383u16.to_le_bytes());
    b
}

/// A WAV header announcing `claimed_s` seconds of 8 kHz mono, followed by
/// only `actual_samples` samples.
fn wav_liar(claimed_s: u32, actual_samples: usize) -> Vec<u8> {
    let data_len = claimed_s * 8000 * 2;
    let mut b = b"RIFF".to_vec();
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&16000u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..actual_samples {
        b.extend_from_slice(&(((i * 37) % 2000) as i16 - 1000).to_le_bytes());
    }
    b
}

/// Runs ffmpeg (a hard requirement of the project) and returns `out`.
fn ffmpeg(args: &[&str], out: &Path) -> PathBuf {
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg must be installed (scripts/setup.sh)");
    assert!(st.success(), "ffmpeg failed making {}", out.display());
    out.to_path_buf()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

async fn kling_task(t: &TestServer, key: &str, body: &Value) -> Value {
    let (s, v) = t.create(key, body).await;
    assert_eq!(s, 200, "{v}");
    let id = v["data"]["task_id"].as_str().unwrap().to_string();
    t.wait_done(key, &id, RENDER_TIMEOUT).await
}

// ---------- images ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_images_get_a_clear_refusal_in_every_dialect() {
    let t = TestServer::start(|s| {
        s.workers.enabled = false;
        s.network.allow = vec!["127.0.0.1/32".into()];
    })
    .await;
    let a = t.account("img", None).await;
    let key = a.api_key.as_str();
    let speech = read(&short_speech(t.dir.path()));
    let mp3 = read(&ffmpeg(
        &["-f", "lavfi", "-i", "sine=f=300:d=3", "-c:a", "libmp3lame"],
        &t.dir.path().join("tone.mp3"),
    ));
    let obama = read(&sample("obama.jpg"));
    let mut truncated_png = read(&sample("astronaut.png"));
    truncated_png.truncate(truncated_png.len() / 3);
    let mut corrupt_png = read(&sample("astronaut.png"));
    for b in corrupt_png[200..4000].iter_mut() {
        *b = 0x5A;
    }
    let garbage_after_magic = [&[0xFF, 0xD8, 0xFF, 0xE0][..], &[0x13; 5000][..]].concat();

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("png-bomb", png_bomb(100_000, 100_000), "megapixel limit"),
        ("png-bomb-wide", png_bomb(60_000, 30_000), "megapixel limit"),
        ("jpeg-bomb", jpeg_bomb(65_000, 65_000), "megapixel limit"),
        ("webp-bomb", webp_bomb(), "megapixel limit"),
        // Within the pixel budget, but 36 MP of 16-bit RGBA is 288 MB.
        (
            "png-16bit-rgba-bomb",
            png_bomb_of(
                image::DynamicImage::ImageRgba16(image::ImageBuffer::new(8, 8)),
                6000,
                6000,
            ),
            "more than the 256 MB limit",
        ),
        ("truncated-png", truncated_png, "could not be decoded"),
        ("corrupt-png", corrupt_png, "could not be decoded"),
        (
            "jpeg-magic-then-garbage",
            garbage_after_magic,
            "could not be decoded",
        ),
        (
            "mp3-as-image",
            mp3.clone(),
            "is not a JPEG, PNG or WebP file",
        ),
        (
            "wav-as-image",
            speech.clone(),
            "is not a JPEG, PNG or WebP file",
        ),
        (
            "gif",
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
            "is not a JPEG, PNG or WebP file",
        ),
    ];
    // Served under misleading names for the URL dialects.
    let mut files: Vec<(&'static str, Vec<u8>)> = vec![
        ("speech.wav", speech.clone()),
        ("face.jpg", obama.clone()),
        ("face-as.wav", obama.clone()),
    ];
    for (name, bytes, _) in &cases {
        let leaked: &'static str = Box::leak(format!("{name}.png").into_boxed_str());
        files.push((leaked, bytes.clone()));
    }
    let srv = file_server(files).await;

    for (name, bytes, needle) in &cases {
        // Kling: base64.
        let (s, v) = t
            .create(
                key,
                &json!({"image": b64_bytes(bytes), "sound_file": b64_bytes(&speech)}),
            )
            .await;
        assert_kling(s, &v, 400, 1201, needle);
        assert!(
            v["message"].as_str().unwrap().contains("image"),
            "{name}: {v}"
        );
        // kie: a URL whose name says PNG.
        let (s, v, _) = t
            .post(
                KIE_CREATE,
                Some(key),
                &json!({"model": "kling/ai-avatar-standard", "input": {
                    "image_url": format!("{srv}/{name}.png"), "audio_url": format!("{srv}/speech.wav"), "prompt": ""}}),
            )
            .await;
        assert_kie(s, &v, 422, needle);
        // AI/ML API: base64 again, its own envelope.
        let (s, v, _) = t
            .post(
                AIML,
                Some(key),
                &json!({"model": "klingai/avatar-standard", "image_url": b64_bytes(bytes), "audio_url": format!("{srv}/speech.wav")}),
            )
            .await;
        assert_aiml(s, &v, 400, needle);
    }

    // A portrait named .wav is still a portrait, and refused as speech.
    let (s, v) = t
        .create(
            key,
            &json!({"image": format!("{srv}/face.jpg"), "sound_file": format!("{srv}/face-as.wav")}),
        )
        .await;
    assert_kling(s, &v, 400, 1201, "sound_file");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("is not an MP3, WAV, M4A or AAC file"));
    let (s, v, _) = t
        .post(
            KIE_CREATE,
            Some(key),
            &json!({"model": "kling/ai-avatar-standard", "input": {
                "image_url": format!("{srv}/face.jpg"), "audio_url": format!("{srv}/face-as.wav"), "prompt": ""}}),
        )
        .await;
    assert_kie(s, &v, 422, "is not an MP3, WAV, M4A or AAC file");
    t.server.shutdown().await;
}

// ---------- audio ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_audio_is_refused_by_its_length_without_decoding_hours() {
    let t = TestServer::start(|s| s.workers.enabled = false).await;
    let a = t.account("aud", None).await;
    let key = a.api_key.as_str();
    let dir = t.dir.path();
    let image = b64(&sample("obama.jpg"));
    // Ten hours of silence in 70 KB of FLAC, twenty minutes of 8 kbit/s MP3.
    let flac_10h = read(&ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=8000:cl=mono",
            "-t",
            "36000",
            "-c:a",
            "flac",
            "-frame_size",
            "65535",
        ],
        &dir.join("ten-hours.flac"),
    ));
    assert!(flac_10h.len() < 200_000, "{} bytes", flac_10h.len());
    let mp3_20min = read(&ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=f=220:r=8000",
            "-t",
            "1200",
            "-ac",
            "1",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "8k",
        ],
        &dir.join("twenty-minutes.mp3"),
    ));
    assert!(mp3_20min.len() < 5 * 1024 * 1024);
    let mut truncated_m4a = read(&ffmpeg(
        &["-f", "lavfi", "-i", "sine=f=300:d=4", "-c:a", "aac"],
        &dir.join("tone.m4a"),
    ));
    truncated_m4a.truncate(600);
    let png_as_audio = read(&sample("astronaut.png"));

    let over = "the audio lasts more than 300 s";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("flac-10h", flac_10h, over),
        ("mp3-20min", mp3_20min, over),
        (
            "wav-claims-10h",
            wav_liar(36_000, 8000),
            "the audio lasts 1.00 s",
        ),
        ("wav-zero-seconds", wav_liar(0, 0), "no audio samples"),
        ("wav-half-second", wav_of(0.5), "the audio lasts 0.50 s"),
        ("m4a-truncated", truncated_m4a, "the file is corrupt"),
        (
            "png-as-audio",
            png_as_audio,
            "is not an MP3, WAV, M4A or AAC file",
        ),
        (
            "id3-then-nothing",
            b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec(),
            "could not be decoded",
        ),
    ];
    for (name, bytes, needle) in &cases {
        let (s, v) = t
            .create(
                key,
                &json!({"image": image, "sound_file": b64_bytes(bytes)}),
            )
            .await;
        assert_kling(s, &v, 400, 1201, needle);
        assert!(
            v["message"].as_str().unwrap().contains("sound_file"),
            "{name}: {v}"
        );
        let (s, v, _) = t
            .post(
                AIML,
                Some(key),
                &json!({"model": "klingai/avatar-standard", "image_url": image, "audio_url": b64_bytes(bytes)}),
            )
            .await;
        assert_aiml(s, &v, 400, needle);
    }
    // useapi's assets take FLAC too (20 MB, 30 s): the same early stop.
    let (s, v, _) = t
        .post(
            "/v1/kling/accounts",
            Some(key),
            &json!({"email": "h@example.com", "password": "pw", "maxJobs": 1}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = t
        .post_raw(
            "/v1/kling/assets/",
            Some(key),
            "audio/flac",
            read(&dir.join("ten-hours.flac")),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("the audio lasts more than 30 s"),
        "{v}"
    );
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_and_noise_render_and_odd_portraits_render_correctly() {
    let t = TestServer::start(|_| {}).await;
    let a = t.account("odd", None).await;
    let key = a.api_key.as_str();
    let dir = t.dir.path();
    let speech = b64(&short_speech(dir));
    let silence = b64(&ffmpeg(
        &["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3"],
        &dir.join("silence.wav"),
    ));
    let noise = b64(&ffmpeg(
        &["-f", "lavfi", "-i", "anoisesrc=r=22050:a=0.5:d=3"],
        &dir.join("noise.wav"),
    ));
    // A 16-bit PNG of the portrait.
    let face = image::open(sample("obama.jpg")).unwrap();
    let png16 = encode(
        image::DynamicImage::ImageRgb16(face.to_rgb16()),
        image::ImageFormat::Png,
    );
    assert_eq!(png16[24], 16, "bit depth in IHDR");

    // A CMYK JPEG (see tests/fixtures/README.md).
    let cmyk_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/obama-cmyk.jpg");
    let cmyk = read(&cmyk_path);
    // The original's mean grey, to tell a correct decode from a negative.
    let reference = image::open(sample("obama.jpg")).unwrap().to_luma8();
    let mean_grey = reference.pixels().map(|p| f64::from(p.0[0])).sum::<f64>()
        / f64::from(reference.width() * reference.height());

    for (what, image, audio) in [
        ("silence", b64(&sample("obama.jpg")), silence),
        ("noise", b64(&sample("obama.jpg")), noise),
        ("16-bit PNG", b64_bytes(&png16), speech.clone()),
        ("CMYK JPEG", b64_bytes(&cmyk), speech.clone()),
    ] {
        let done = kling_task(&t, key, &json!({"image": image, "sound_file": audio})).await;
        assert_eq!(done["task_status"], "succeed", "{what}: {done}");
        let url = done["task_result"]["videos"][0]["url"].as_str().unwrap();
        let probe = download_mp4(dir, url, 720).await;
        let secs: f64 = probe["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (secs - 3.0).abs() < 0.5 || what.contains("PNG") || what.contains("JPEG"),
            "{what}: {secs}"
        );
        // The first frame looks like the portrait, not like its negative.
        let mp4 = dir.join("odd.mp4");
        std::fs::write(
            &mp4,
            client()
                .get(url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&mp4)
            .args([
                "-frames:v",
                "1",
                "-vf",
                "scale=64:80",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "gray",
                "-",
            ])
            .output()
            .unwrap();
        assert!(out.status.success() && out.stdout.len() == 64 * 80);
        let mean = out.stdout.iter().map(|&v| f64::from(v)).sum::<f64>() / (64.0 * 80.0);
        println!("{what}: first frame mean grey {mean:.1}, portrait {mean_grey:.1}");
        assert!(
            (mean - mean_grey).abs() < 20.0,
            "{what}: {mean} vs {mean_grey}"
        );
    }

    // No face: accepted, then failed with a reason a person can read.
    let done = kling_task(
        &t,
        key,
        &json!({"image": b64(&sample("coffee-no-face.png")), "sound_file": speech}),
    )
    .await;
    assert_eq!(done["task_status"], "failed", "{done}");
    let msg = done["task_status_msg"].as_str().unwrap();
    assert!(msg.contains("no face was found"), "{msg}");
    // The same reason through kie's and AI/ML API's views of the task.
    let id = done["task_id"].as_str().unwrap();
    let (s, v) = t
        .get(&format!("/api/v1/jobs/recordInfo?taskId={id}"), Some(key))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["state"], "fail", "{v}");
    assert!(
        v["data"]["failMsg"]
            .as_str()
            .unwrap_or_default()
            .contains("no face was found"),
        "{v}"
    );
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_several_faces_only_the_largest_moves() {
    let t = TestServer::start(|_| {}).await;
    let a = t.account("many", None).await;
    let dir = t.dir.path();
    // The portrait on the left, a smaller face on the right.
    let big = image::open(sample("obama.jpg")).unwrap().to_rgb8();
    let small = image::imageops::resize(
        &image::open(sample("astronaut.png")).unwrap().to_rgb8(),
        380,
        380,
        image::imageops::FilterType::Triangle,
    );
    let (bw, bh) = big.dimensions();
    let mut canvas = image::RgbImage::from_pixel(bw + 460, bh, image::Rgb([200, 200, 200]));
    image::imageops::overlay(&mut canvas, &big, 0, 0);
    image::imageops::overlay(
        &mut canvas,
        &small,
        i64::from(bw) + 40,
        i64::from(bh / 2 - 190),
    );
    let faces = analyzer().analyze_all(&canvas).expect("analysis runs");
    assert!(faces.len() >= 2, "both faces are found: {}", faces.len());
    let (large, other) = (faces[0].rect, faces[1].rect);
    assert!(
        large.x < bw as f32 && other.x > bw as f32,
        "{large:?} {other:?}"
    );
    let png = encode(
        image::DynamicImage::ImageRgb8(canvas.clone()),
        image::ImageFormat::Png,
    );

    let speech = b64(&short_speech(dir));
    let done = kling_task(
        &t,
        &a.api_key,
        &json!({"image": b64_bytes(&png), "sound_file": speech}),
    )
    .await;
    assert_eq!(done["task_status"], "succeed", "{done}");
    let url = done["task_result"]["videos"][0]["url"].as_str().unwrap();
    let resp = client().get(url).send().await.unwrap();
    let mp4 = dir.join("many.mp4");
    std::fs::write(&mp4, resp.bytes().await.unwrap()).unwrap();
    // Frames as grey, at a known size, to compare the two faces' motion.
    let (w, h) = (canvas.width() / 4, canvas.height() / 4);
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&mp4)
        .args([
            "-vf",
            &format!("scale={w}:{h}"),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let frame = (w * h) as usize;
    let frames: Vec<&[u8]> = out.stdout.chunks_exact(frame).collect();
    assert!(frames.len() > 10, "{} frames", frames.len());
    // Mean absolute change from the first frame, inside a face box.
    let motion = |r: &mouthpiece_engine::geometry::Rect| -> f64 {
        let (x0, y0) = ((r.x / 4.0) as u32, (r.y / 4.0) as u32);
        let (x1, y1) = (((r.x + r.w) / 4.0) as u32, ((r.y + r.h) / 4.0) as u32);
        let mut sum = 0.0;
        let mut n = 0.0;
        for f in &frames[1..] {
            for y in y0..y1.min(h) {
                for x in x0..x1.min(w) {
                    let i = (y * w + x) as usize;
                    sum += (f64::from(f[i]) - f64::from(frames[0][i])).abs();
                    n += 1.0;
                }
            }
        }
        sum / n
    };
    let (m_large, m_other) = (motion(&large), motion(&other));
    println!("motion: largest face {m_large:.2}, other face {m_other:.2}");
    assert!(m_large > 1.0, "the largest face moves: {m_large}");
    assert!(
        m_other < m_large / 4.0,
        "the other face stays still: {m_other} vs {m_large}"
    );
    t.server.shutdown().await;
}

// ---------- URLs ----------

/// A loopback server whose `/drip` sends one byte a second and whose
/// `/endless` streams zeros without end (no Content-Length).
async fn hostile_server() -> String {
    use axum::body::Body;
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/drip",
            get(|| async {
                let s = futures::stream::unfold(0u32, |i| async move {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    (i < 600).then(|| {
                        (
                            Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"\x89")),
                            i + 1,
                        )
                    })
                });
                Body::from_stream(s)
            }),
        )
        .route(
            "/endless",
            get(|| async {
                let chunk = bytes::Bytes::from(vec![0u8; 64 * 1024]);
                let s =
                    futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
                Body::from_stream(s)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_to_private_places_other_schemes_drips_and_floods_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let speech = read(&short_speech(dir.path()));
    let files = file_server(vec![
        ("face.jpg", read(&sample("obama.jpg"))),
        ("speech.wav", speech.clone()),
    ])
    .await;
    let port = files.rsplit(':').next().unwrap().to_string();
    let hostile = hostile_server().await;
    let audio = format!("{files}/speech.wav");

    // Only this loopback address is allowed: the test servers live there,
    // every other private address stays refused.
    let t = TestServer::start(|s| {
        s.workers.enabled = false;
        s.network.allow = vec!["127.0.0.1/32".into()];
        s.network.timeout_seconds = 3.0;
    })
    .await;
    let a = t.account("urls", None).await;
    let key = a.api_key.as_str();
    let kling = |image: String| json!({"image": image, "sound_file": audio});
    let kie = |image: String| json!({"model": "kling/ai-avatar-standard", "input": {"image_url": image, "audio_url": audio, "prompt": ""}});

    // The happy path first, so refusals below are about the address.
    let (s, v) = t.create(key, &kling(format!("{files}/face.jpg"))).await;
    assert_eq!(s, 200, "{v}");

    // Redirects from the allowed server to anywhere else are refused.
    for target in [
        format!("http://127.0.0.2:{port}/face.jpg"),
        format!("http://[::1]:{port}/face.jpg"),
        format!("http://[::ffff:127.0.0.2]:{port}/face.jpg"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/face.jpg".to_string(),
        "http://0.0.0.0/face.jpg".to_string(),
        format!("http://2130706434:{port}/face.jpg"),
        "file:///etc/passwd".to_string(),
        "ftp://127.0.0.1/face.jpg".to_string(),
    ] {
        let hop = redirect_server(target.clone()).await;
        let (s, v) = t.create(key, &kling(format!("{hop}/x.jpg"))).await;
        println!("redirect to {target}: {}", v["message"]);
        assert_kling(s, &v, 400, 1201, "redirect refused");
        let (s, v, _) = t
            .post(KIE_CREATE, Some(key), &kie(format!("{hop}/x.jpg")))
            .await;
        assert_kie(s, &v, 422, "redirect refused");
    }
    // A chain longer than the limit.
    let mut hop = format!("{files}/face.jpg");
    for _ in 0..7 {
        hop = format!("{}/x", redirect_server(hop).await);
    }
    let (s, v) = t.create(key, &kling(hop)).await;
    assert_kling(s, &v, 400, 1201, "more than 5 redirects");

    // A server that drips is cut off by the time limit; one that never
    // ends, by the size limit (10 MB for a portrait, 5 MB for speech).
    let (s, v) = t.create(key, &kling(format!("{hostile}/drip"))).await;
    assert_kling(s, &v, 400, 1201, "timed out");
    let (s, v) = t.create(key, &kling(format!("{hostile}/endless"))).await;
    assert_kling(s, &v, 400, 1201, "larger than the limit of 10485760 bytes");
    let (s, v) = t
        .create(key, &json!({"image": format!("{files}/face.jpg"), "sound_file": format!("{hostile}/endless")}))
        .await;
    assert_kling(s, &v, 400, 1201, "larger than the limit of 5242880 bytes");
    let (s, v, _) = t
        .post(KIE_CREATE, Some(key), &kie(format!("{hostile}/drip")))
        .await;
    assert_kie(s, &v, 422, "timed out");
    t.server.shutdown().await;

    // Nothing private allowed: every spelling of loopback is refused.
    let t = TestServer::start(|s| s.workers.enabled = false).await;
    let a = t.account("closed", None).await;
    let key = a.api_key.as_str();
    for host in [
        "localhost".to_string(),
        "127.0.0.1".into(),
        "127.1".into(),
        "0".into(),
        "0.0.0.0".into(),
        "2130706433".into(),
        "0x7f000001".into(),
        "017700000001".into(),
        "[::1]".into(),
        "[::]".into(),
        "[::ffff:127.0.0.1]".into(),
        "[::ffff:7f00:1]".into(),
        "[64:ff9b::7f00:1]".into(),
        "[2002:7f00:1::]".into(),
        "[fe80::1]".into(),
        "[fd00::1]".into(),
        "10.1.2.3".into(),
        "192.168.0.1".into(),
        "100.64.0.1".into(),
    ] {
        let url = format!("http://{host}:{port}/face.jpg");
        let (s, v) = t.create(key, &kling(url.clone())).await;
        assert_kling(s, &v, 400, 1201, "not allowed");
        let (s, v, _) = t
            .post(AIML, Some(key), &json!({"model": "klingai/avatar-standard", "image_url": url, "audio_url": b64_bytes(&speech)}))
            .await;
        assert_aiml(s, &v, 400, "not allowed");
    }
    for (url, needle) in [
        ("file:///etc/passwd", "file:// URLs are not accepted"),
        ("ftp://example.com/face.jpg", "ftp:// URLs are not accepted"),
        (
            "gopher://127.0.0.1:70/_x",
            "gopher:// URLs are not accepted",
        ),
        (
            "dict://127.0.0.1:11211/stat",
            "dict:// URLs are not accepted",
        ),
        (
            "javascript:alert(1)",
            "neither an http(s) URL nor valid base64",
        ),
        (
            "data:text/plain,hello",
            "neither an http(s) URL nor valid base64",
        ),
    ] {
        let (s, v) = t
            .create(
                key,
                &json!({"image": url, "sound_file": b64_bytes(&speech)}),
            )
            .await;
        assert_kling(s, &v, 400, 1201, needle);
    }
    // A data: URL is inline content, not a fetch: a portrait that way works.
    let data_url = format!("data:image/jpeg;base64,{}", b64(&sample("obama.jpg")));
    let (s, v) = t
        .create(
            key,
            &json!({"image": data_url, "sound_file": b64_bytes(&speech)}),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    // Callbacks: refused when the task is made, literal or by name.
    let image = b64(&sample("obama.jpg"));
    for cb in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        "http://[::1]/hook".to_string(),
        "http://169.254.169.254/hook".to_string(),
        "http://2130706433/hook".to_string(),
    ] {
        let (s, v) = t
            .create(
                key,
                &json!({"image": image, "sound_file": b64_bytes(&speech), "callback_url": cb}),
            )
            .await;
        assert_kling(s, &v, 400, 1201, "not allowed");
        assert!(
            v["message"].as_str().unwrap().contains("callback_url"),
            "{v}"
        );
    }
    for cb in ["file:///tmp/hook", "ftp://example.com/hook", "http://"] {
        let (s, v) = t
            .create(
                key,
                &json!({"image": image, "sound_file": b64_bytes(&speech), "callback_url": cb}),
            )
            .await;
        assert_kling(s, &v, 400, 1201, "callback_url");
    }
    let (s, v, _) = t
        .post(
            KIE_CREATE,
            Some(key),
            &json!({"model": "kling/ai-avatar-standard", "callBackUrl": format!("http://localhost:{port}/hook"),
                    "input": {"image_url": "https://example.com/a.jpg", "audio_url": "https://example.com/a.wav", "prompt": ""}}),
        )
        .await;
    assert_kie(s, &v, 422, "not allowed");
    t.server.shutdown().await;
}

// ---------- auth ----------

fn b64u(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

/// A token with any header and payload, HS256-signed with `secret`.
fn token(header: &Value, payload: &Value, secret: &str) -> String {
    let input = format!(
        "{}.{}",
        b64u(&header.to_string()),
        b64u(&payload.to_string())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A client whose requests come from `ip` (any 127.x address is loopback).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn get_as(
    c: &reqwest::Client,
    url: &str,
    auth: &str,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let resp = c
        .get(url)
        .header("Authorization", format!("Bearer {auth}"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_malformed_expired_and_revoked_credentials_are_refused() {
    // Many refusals from one address here: no lockout in this test.
    let t = TestServer::start(|s| {
        s.workers.enabled = false;
        s.auth.max_failures_per_minute = 100_000;
    })
    .await;
    let a = t.account("a", None).await;
    let b = t.account("b", None).await;
    let now = now_s();
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    let claims = |iss: &str| json!({"iss": iss, "exp": now + 1800, "nbf": now - 5});
    let good = token(&hs256, &claims(&a.access_key), &a.secret_key);
    let (s, v) = t.get(AVATAR, Some(&good)).await;
    assert_eq!((s, v["code"].as_u64()), (200, Some(0)), "{v}");

    let unsigned = format!(
        "{}.{}.",
        b64u(r#"{"alg":"none","typ":"JWT"}"#),
        b64u(&claims(&a.access_key).to_string())
    );
    let huge = format!(
        "{}.{}.{}",
        b64u(r#"{"alg":"HS256"}"#),
        "A".repeat(60_000),
        "B".repeat(100)
    );
    let cases: Vec<(String, u64, &str)> = vec![
        (unsigned, 1002, "only HS256 is accepted"),
        (
            token(
                &json!({"alg": "None"}),
                &claims(&a.access_key),
                &a.secret_key,
            ),
            1002,
            "only HS256",
        ),
        // Algorithm confusion: an asymmetric header over an HMAC made with
        // the SecretKey (as if it were a public key) is not looked at.
        (
            token(
                &json!({"alg": "RS256", "typ": "JWT"}),
                &claims(&a.access_key),
                &a.secret_key,
            ),
            1002,
            "\"RS256\"",
        ),
        (
            token(
                &json!({"alg": "ES256", "typ": "JWT"}),
                &claims(&a.access_key),
                &a.secret_key,
            ),
            1002,
            "\"ES256\"",
        ),
        (
            token(
                &json!({"alg": "HS384", "typ": "JWT"}),
                &claims(&a.access_key),
                &a.secret_key,
            ),
            1002,
            "\"HS384\"",
        ),
        (
            token(
                &json!({"alg": "HS512", "typ": "JWT"}),
                &claims(&a.access_key),
                &a.secret_key,
            ),
            1002,
            "\"HS512\"",
        ),
        (
            token(
                &json!({"typ": "JWT"}),
                &claims(&a.access_key),
                &a.secret_key,
            ),
            1002,
            "header",
        ),
        (
            token(
                &hs256,
                &json!({"iss": a.access_key, "exp": now - 60, "nbf": now - 1900}),
                &a.secret_key,
            ),
            1004,
            "expired",
        ),
        (
            token(
                &hs256,
                &json!({"iss": a.access_key, "exp": now + 1800, "nbf": now + 600}),
                &a.secret_key,
            ),
            1003,
            "not yet valid",
        ),
        (
            token(
                &hs256,
                &json!({"iss": a.access_key, "nbf": now - 5}),
                &a.secret_key,
            ),
            1002,
            "no exp",
        ),
        (
            token(
                &hs256,
                &json!({"iss": a.access_key, "exp": "tomorrow"}),
                &a.secret_key,
            ),
            1002,
            "not a number",
        ),
        (
            token(&hs256, &json!({"exp": now + 1800}), &a.secret_key),
            1002,
            "no iss",
        ),
        // B's AccessKey, A's SecretKey; A's AccessKey, B's SecretKey.
        (
            token(&hs256, &claims(&b.access_key), &a.secret_key),
            1002,
            "signature",
        ),
        (
            token(&hs256, &claims(&a.access_key), &b.secret_key),
            1002,
            "signature",
        ),
        (token(&hs256, &claims(&a.access_key), ""), 1002, "signature"),
        // A's good token with its payload swapped for B's.
        (
            {
                let p: Vec<&str> = good.split('.').collect();
                format!(
                    "{}.{}.{}",
                    p[0],
                    b64u(&claims(&b.access_key).to_string()),
                    p[2]
                )
            },
            1002,
            "signature",
        ),
        (huge, 1002, "invalid"),
        ("ey.ey.ey.ey.ey".into(), 1002, "unknown API key"),
        (
            "eyJhbGciOiJIUzI1NiJ9.!!!not-base64!!!.x".into(),
            1002,
            "payload",
        ),
        (
            format!("{}.{}.sig", b64u(r#"{"alg":"HS256"}"#), b64u("not json")),
            1002,
            "payload",
        ),
        (
            format!("{}.{}.sig", b64u("[1,2]"), b64u("{}")),
            1002,
            "unknown API key",
        ),
        (
            format!("{}.{}.sig", b64u(r#"{"alg":["HS256"]}"#), b64u("{}")),
            1002,
            "header",
        ),
        (
            format!(
                "{}.{}.%%%",
                b64u(r#"{"alg":"HS256"}"#),
                b64u(&claims(&a.access_key).to_string())
            ),
            1002,
            "signature",
        ),
        ("....".into(), 1002, "unknown API key"),
        (format!("{}x", a.api_key), 1002, "unknown API key"),
        (a.api_key.to_uppercase(), 1002, "unknown API key"),
    ];
    for (tok, code, needle) in &cases {
        let (s, v) = t.get(AVATAR, Some(tok)).await;
        assert_kling(s, &v, 401, *code, needle);
        // Another dialect, same refusal in its envelope.
        let (s, v) = t.get("/api/v1/jobs/recordInfo?taskId=1", Some(tok)).await;
        assert_kie(s, &v, 401, "");
    }
    // Not a Bearer credential at all, or not ASCII.
    for value in ["Basic YTpi", "Bearer", "bearer    ", "Token abc"] {
        let resp = client()
            .get(format!("{}{AVATAR}", t.url))
            .header("Authorization", value)
            .send()
            .await
            .unwrap();
        let s = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(s, 401, "{value}: {v}");
        assert!(
            [1000, 1001].contains(&v["code"].as_u64().unwrap()),
            "{value}: {v}"
        );
    }
    let resp = client()
        .get(format!("{}{AVATAR}", t.url))
        .header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_kling(401, &v, 401, 1002, "not ASCII");

    // Rotation: the old API key and JWTs signed with the old SecretKey stop
    // working at once, in every dialect; the new ones work.
    let old_jwt = good.clone();
    let rotated = t
        .server
        .services
        .accounts
        .rotate(&a.account.id)
        .await
        .unwrap();
    for old in [&a.api_key, &old_jwt] {
        let (s, v) = t.get(AVATAR, Some(old)).await;
        assert_kling(s, &v, 401, 1002, "");
        let (s, v) = t
            .get("/v2/video/generations?generation_id=x", Some(old))
            .await;
        assert_aiml(s, &v, 401, "");
        let (s, v) = t.get("/v1/kling/accounts", Some(old)).await;
        assert_useapi(s, &v, 401, "Unauthorized");
    }
    let new_jwt = token(&hs256, &claims(&rotated.access_key), &rotated.secret_key);
    for new in [&rotated.api_key, &new_jwt] {
        let (s, v) = t.get(AVATAR, Some(new)).await;
        assert_eq!((s, v["code"].as_u64()), (200, Some(0)), "{v}");
    }
    // The old AccessKey with the old SecretKey: unknown now.
    let (s, v) = t
        .get(
            AVATAR,
            Some(&token(&hs256, &claims(&a.access_key), &a.secret_key)),
        )
        .await;
    assert_kling(s, &v, 401, 1002, "unknown AccessKey");
    // Revocation: nothing of A works any more; B is untouched.
    t.server
        .services
        .accounts
        .revoke(&a.account.id)
        .await
        .unwrap();
    for gone in [&rotated.api_key, &new_jwt] {
        let (s, v) = t.get(AVATAR, Some(gone)).await;
        assert_kling(s, &v, 401, 1002, "");
    }
    let (s, v) = t.get(AVATAR, Some(&b.api_key)).await;
    assert_eq!((s, v["code"].as_u64()), (200, Some(0)), "{v}");
    // An unknown account cannot be rotated.
    assert!(t
        .server
        .services
        .accounts
        .rotate("acct_nope")
        .await
        .is_err());

    // Keys are stored hashed: neither the plaintext API key nor its
    // base64 is anywhere in the database files; its SHA-256 is.
    let c = t.account("c", None).await;
    let data = t.dir.path().join("data");
    let mut db = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("mouthpiece.db") {
            db.extend(std::fs::read(&p).unwrap());
        }
    }
    assert!(!db.is_empty(), "the SQLite files are there");
    let contains = |needle: &[u8]| db.windows(needle.len()).any(|w| w == needle);
    let hash = hex::encode(<Sha256 as sha2::Digest>::digest(c.api_key.as_bytes()));
    assert!(contains(hash.as_bytes()), "the hash is stored");
    for key in [&a.api_key, &b.api_key, &c.api_key, &rotated.api_key] {
        assert!(
            !contains(key.as_bytes()),
            "plaintext key {key} found in the database"
        );
        let secret_part = &key[3..];
        assert!(
            !contains(secret_part.as_bytes()),
            "key body found in the database"
        );
    }
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_is_locked_out_while_valid_clients_keep_working() {
    let t = TestServer::start(|s| {
        s.workers.enabled = false;
        s.auth.max_failures_per_minute = 5;
        s.auth.lockout_seconds = 120;
    })
    .await;
    let a = t.account("victim", None).await;
    let other = t.account("other", None).await;
    let url = |p: &str| format!("{}{p}", t.url);
    let attacker = client_from("127.0.0.2");
    let honest = client_from("127.0.0.1");

    // Five wrong keys are answered 401; the sixth starts the lockout.
    for i in 0..6 {
        let (s, v, _) = get_as(&attacker, &url(AVATAR), &format!("mp_guess{i}")).await;
        assert_kling(s, &v, 401, 1002, "unknown API key");
    }
    let (s, v, h) = get_as(&attacker, &url(AVATAR), "mp_guess-again").await;
    assert_kling(s, &v, 429, 1302, "too many failed authentication attempts");
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=120).contains(&retry), "{retry}");
    // While locked out, even a right key from that address waits: a guess
    // that happens to be right is not confirmed.
    let (s, v, _) = get_as(&attacker, &url(AVATAR), &a.api_key).await;
    assert_kling(s, &v, 429, 1302, "retry after");
    // The same lockout in the other dialects' envelopes.
    let (s, v, h) = get_as(&attacker, &url("/api/v1/jobs/recordInfo?taskId=1"), "x").await;
    assert_kie(s, &v, 429, "too many failed authentication attempts");
    assert!(h.contains_key("retry-after"));
    let (s, v, h) = get_as(
        &attacker,
        &url("/v2/video/generations?generation_id=x"),
        "x",
    )
    .await;
    assert_aiml(s, &v, 429, "too many failed authentication attempts");
    assert!(h.contains_key("retry-after"));
    let (s, v, h) = get_as(&attacker, &url("/v1/kling/accounts"), "x").await;
    assert_useapi(s, &v, 429, "too many failed authentication attempts");
    assert!(
        h.contains_key("retry-after") && v["retryAfter"].is_string(),
        "{v}"
    );
    // A client header cannot pose as another address.
    let resp = attacker
        .get(url(AVATAR))
        .header("x-mouthpiece-client-ip", "203.0.113.9")
        .header("x-forwarded-for", "203.0.113.9")
        .bearer_auth(&a.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);

    // Everyone else is unaffected.
    let (s, v, _) = get_as(&honest, &url(AVATAR), &a.api_key).await;
    assert_eq!((s, v["code"].as_u64()), (200, Some(0)), "{v}");

    // Forging one account's JWTs from many addresses locks that AccessKey
    // for bad tokens, while its owner's good tokens keep working.
    let now = now_s();
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    let claims = json!({"iss": a.access_key, "exp": now + 1800, "nbf": now - 5});
    let forged = token(&hs256, &claims, "guessed-secret");
    for i in 0..6 {
        let c = client_from(&format!("127.0.1.{}", i + 1));
        let (s, v, _) = get_as(&c, &url(AVATAR), &forged).await;
        assert_kling(s, &v, 401, 1002, "signature");
    }
    let (s, v, _) = get_as(&client_from("127.0.2.1"), &url(AVATAR), &forged).await;
    assert_kling(s, &v, 429, 1302, "too many failed authentication attempts");
    let good = token(&hs256, &claims, &a.secret_key);
    let (s, v, _) = get_as(&client_from("127.0.2.2"), &url(AVATAR), &good).await;
    assert_eq!((s, v["code"].as_u64()), (200, Some(0)), "{v}");
    let (s, v, _) = get_as(&client_from("127.0.2.3"), &url(AVATAR), &other.api_key).await;
    assert_eq!((s, v["code"].as_u64()), (200, Some(0)), "{v}");
    // A missing header is not a guess: no lockout from it.
    for _ in 0..10 {
        let resp = client_from("127.0.3.1")
            .get(url(AVATAR))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401);
    }
    let (s, _, _) = get_as(&client_from("127.0.3.1"), &url(AVATAR), &other.api_key).await;
    assert_eq!(s, 200);
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_has_its_own_lockout() {
    let t = TestServer::start(|s| {
        s.workers.enabled = false;
        s.auth.max_failures_per_minute = 3;
        s.auth.lockout_seconds = 120;
        s.auth.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let a = t.account("behind-proxy", None).await;
    let url = format!("{}{AVATAR}", t.url);
    let proxy = client_from("127.0.0.1");
    let via_proxy = |forwarded: &str, key: &str| {
        proxy
            .get(&url)
            .header("x-forwarded-for", forwarded)
            .bearer_auth(key)
            .send()
    };
    // A guesser behind the proxy is locked out...
    for i in 0..4 {
        let resp = via_proxy("203.0.113.7", &format!("mp_guess{i}"))
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401);
    }
    let resp = via_proxy("203.0.113.7", "mp_guess").await.unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    // ...and prepending a made-up address does not get it out: the proxy's
    // own entry is the one that counts.
    let resp = via_proxy("198.51.100.1, 203.0.113.7", &a.api_key)
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    // Other clients of the same proxy are not locked out with it.
    let resp = via_proxy("203.0.113.8", "mp_wrong").await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = via_proxy("203.0.113.8", &a.api_key).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    // A peer that is not a trusted proxy cannot pose as many clients.
    let direct = client_from("127.0.0.2");
    let mut statuses = Vec::new();
    for i in 0..6 {
        let resp = direct
            .get(&url)
            .header("x-forwarded-for", format!("203.0.113.{}", 100 + i))
            .bearer_auth(format!("mp_guess{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429]);
    t.server.shutdown().await;
}

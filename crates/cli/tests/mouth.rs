//! The mouth on any portrait, measured on real renders with real speech by
//! `mouthpiece quality`: the lips close on p/b/m and in long pauses (the
//! gap read in the pixels between the tracked outer lips), a grey picture
//! stays grey, and no teeth show below the lower lip. The committed samples
//! run everywhere (a teeth-showing smile, and a black-and-white copy of
//! another); every portrait of a folder runs when `MOUTHPIECE_PORTRAITS`
//! names one (the README's test command passes `../shared/portraits`).

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// p/b/m closures in both sentences and a 0.8 s pause between them.
fn speech(dir: &Path) -> PathBuf {
    let wav = dir.join("speech.wav");
    speech_with_pause(
        "Bob may park the boat.",
        "People will remember the big blue balloon.",
        0.8,
        &wav,
    );
    wav
}

/// Renders `image` speaking `wav` and measures the mouth.
fn mouth_figures(image: &Path, wav: &Path, dir: &Path) -> Result<Value, String> {
    let name = image
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let out = dir.join(format!("{name}.mp4"));
    let o = mouthpiece(&[
        "render",
        "--image",
        &image.to_string_lossy(),
        "--audio",
        &wav.to_string_lossy(),
        "-o",
        &out.to_string_lossy(),
    ]);
    if !o.status.success() {
        return Err(format!(
            "{name}: render failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let o = mouthpiece(&[
        "quality",
        &out.to_string_lossy(),
        "--source",
        &image.to_string_lossy(),
        "--audio",
        &wav.to_string_lossy(),
        "--json",
    ]);
    if !o.status.success() {
        return Err(format!(
            "{name}: quality failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let q: Value = serde_json::from_slice(&o.stdout).map_err(|e| format!("{name}: {e}"))?;
    Ok(q["mouth"].clone())
}

fn f(m: &Value, key: &str) -> f64 {
    m[key]
        .as_f64()
        .unwrap_or_else(|| panic!("mouth.{key} missing in {m}"))
}

/// Every way this render's mouth fails to close, with `limit` the widest
/// gap (over the mouth width) a closed mouth may read.
fn closure_problems(name: &str, m: &Value, limit: f64) -> Vec<String> {
    let mut p = Vec::new();
    if f(m, "pbm_closures") < 3.0 {
        p.push(format!(
            "{name}: only {} p/b/m closures measured",
            m["pbm_closures"]
        ));
    }
    if f(m, "pause_frames") < 5.0 {
        p.push(format!(
            "{name}: only {} pause frames measured",
            m["pause_frames"]
        ));
    }
    for key in ["pbm_gap_max", "pause_gap_max"] {
        let v = f(m, key);
        if v > limit {
            p.push(format!("{name}: {key} {v:.3} > {limit}"));
        }
    }
    // A grey picture stays grey.
    let (chroma, source) = (f(m, "chroma"), f(m, "source_chroma"));
    if source < 8.0 && chroma > source + 2.0 {
        p.push(format!(
            "{name}: chroma {chroma} in a grey source ({source})"
        ));
    }
    p
}

/// The open mouth's inside as sharp as the face around it: no pasted-on
/// dentures, no smear.
fn assert_interior_sharpness(name: &str, m: &Value) {
    assert!(
        f(m, "open_frames") >= 5.0,
        "{name}: too few open frames: {m}"
    );
    let sharp = f(m, "interior_sharpness");
    assert!(
        (0.8..=1.25).contains(&sharp),
        "{name}: interior sharpness {sharp:.2} outside 0.8..1.25: {m}"
    );
}

#[test]
fn a_teeth_smile_closes_on_pbm_and_in_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let wav = speech(dir.path());
    let m = mouth_figures(&sample("obama.jpg"), &wav, dir.path()).unwrap();
    let problems = closure_problems("obama", &m, 0.04);
    assert!(problems.is_empty(), "{problems:?}");
    // The measure sees the mouth open in speech: its closures mean something.
    let open = f(&m, "open_gap");
    assert!(
        open >= 0.04,
        "open gap {open}: the gap measure sees no opening"
    );
    assert_eq!(f(&m, "teeth_below_lip_frames"), 0.0, "{m}");
    assert_interior_sharpness("obama", &m);
}

#[test]
fn a_black_and_white_portrait_stays_grey_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let wav = speech(dir.path());
    let grey = dir.path().join("biden-grey.png");
    image::open(sample("biden.jpg"))
        .unwrap()
        .grayscale()
        .to_rgb8()
        .save(&grey)
        .unwrap();
    let m = mouth_figures(&grey, &wav, dir.path()).unwrap();
    assert!(f(&m, "source_chroma") <= 1.0, "{m}");
    assert!(f(&m, "chroma") <= 2.0, "colour in a grey picture: {m}");
    let problems = closure_problems("grey biden", &m, 0.04);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(f(&m, "teeth_below_lip_frames"), 0.0, "{m}");
}

#[test]
fn every_portrait_of_the_folder_closes_its_mouth() {
    let Ok(dir) = std::env::var("MOUTHPIECE_PORTRAITS") else {
        println!("MOUTHPIECE_PORTRAITS is not set: the portrait folder suite has nothing to read");
        return;
    };
    let mut images: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("portrait folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                ["jpg", "jpeg", "png", "webp"].contains(&e.to_lowercase().as_str())
            })
        })
        .collect();
    images.sort();
    assert!(!images.is_empty(), "no portraits in {dir}");
    let work = tempfile::tempdir().unwrap();
    let wav = speech(work.path());
    let queue = Mutex::new(images);
    let problems = Mutex::new(Vec::new());
    // Two at a time: renders and measures are single-portrait processes.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(image) = queue.lock().unwrap().pop() else {
                    break;
                };
                let name = image.file_name().unwrap().to_string_lossy().into_owned();
                let found = match mouth_figures(&image, &wav, work.path()) {
                    // Soft, small and bearded mouths read a little wider.
                    Ok(m) => {
                        println!("{name}: {m}");
                        closure_problems(&name, &m, 0.06)
                    }
                    Err(e) => vec![e],
                };
                problems.lock().unwrap().extend(found);
            });
        }
    });
    let problems = problems.into_inner().unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

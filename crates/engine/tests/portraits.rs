//! The default face model on real portraits: a face on each, sane geometry,
//! and a render. The committed samples run everywhere; a folder of any
//! portraits runs when `MOUTHPIECE_PORTRAITS` names it (the README's test
//! command passes `../shared/portraits` when it exists).

use mouthpiece_engine::face::{Face, FaceAnalyzer};
use mouthpiece_engine::geometry::point_in_polygon;
use mouthpiece_engine::geometry::Point;
use mouthpiece_engine::models::ModelPaths;
use mouthpiece_engine::pipeline::{self, EncoderTuning, NoProgress, RenderRequest};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;

fn analyzer() -> &'static FaceAnalyzer {
    static A: OnceLock<FaceAnalyzer> = OnceLock::new();
    A.get_or_init(|| {
        let paths = ModelPaths::discover_mediapipe()
            .expect("MediaPipe models (scripts/setup.sh installs them)");
        FaceAnalyzer::load(&paths).expect("models load")
    })
}

/// Into the face's own frame: x along the eye line, y down the face.
fn upright(face: &Face, p: Point) -> Point {
    let (a, b) = face.regions.eye_line().unwrap_or_default();
    let angle = (b.y - a.y).atan2(b.x - a.x);
    let (s, c) = angle.sin_cos();
    Point::new(p.x * c + p.y * s, -p.x * s + p.y * c)
}

fn mean(points: &[Point]) -> Point {
    let n = points.len().max(1) as f32;
    Point::new(
        points.iter().map(|p| p.x).sum::<f32>() / n,
        points.iter().map(|p| p.y).sum::<f32>() / n,
    )
}

/// Grows a polygon about its centroid, for a tolerance of a few pixels.
fn grown(poly: &[Point], px: f32) -> Vec<Point> {
    let c = mean(poly);
    poly.iter()
        .map(|p| {
            let d = p.minus(c);
            let len = d.dist(Point::default()).max(1e-3);
            c.plus(d.scale((len + px) / len))
        })
        .collect()
}

/// Every reason this face's geometry is not a face's.
fn geometry_problems(face: &Face, width: u32, height: u32) -> Vec<String> {
    let mut problems = Vec::new();
    let r = &face.regions;
    let eyes = upright(face, r.right_iris.center.lerp(r.left_iris.center, 0.5));
    let nose = upright(face, r.nose_bridge[3]);
    let mouth = upright(face, mean(&r.lips_outer));
    let chin = upright(face, r.jaw[8]);
    if !(eyes.y < nose.y && nose.y < mouth.y && mouth.y < chin.y) {
        problems.push(format!(
            "order eyes {:.0} nose {:.0} mouth {:.0} chin {:.0}",
            eyes.y, nose.y, mouth.y, chin.y
        ));
    }
    if upright(face, r.right_iris.center).x >= upright(face, r.left_iris.center).x {
        problems.push("right iris is not on the image's left".into());
    }
    for (name, iris, eye) in [
        ("right", r.right_iris, &r.right_eye),
        ("left", r.left_iris, &r.left_eye),
    ] {
        if !point_in_polygon(iris.center, &grown(eye, 1.5)) {
            problems.push(format!("{name} iris centre outside its eyelids"));
        }
        let eye_width = eye[0].dist(eye[8]);
        if !(iris.radius > 0.1 * eye_width && iris.radius < 0.5 * eye_width) {
            problems.push(format!(
                "{name} iris radius {:.1} for an eye {eye_width:.1} wide",
                iris.radius
            ));
        }
    }
    let outer = grown(&r.lips_outer, 1.5);
    let outside = r
        .lips_inner
        .iter()
        .filter(|p| !point_in_polygon(**p, &outer))
        .count();
    if outside > 0 {
        problems.push(format!("{outside} inner-lip points outside the outer lips"));
    }
    let b = face.rect;
    let nose_tip = r.nose_bridge[3];
    if !(b.x <= nose_tip.x
        && nose_tip.x <= b.right()
        && b.y <= nose_tip.y
        && nose_tip.y <= b.bottom())
    {
        problems.push("the box does not hold the nose".into());
    }
    let margin = 0.25 * b.w.max(b.h);
    if b.x < -margin
        || b.y < -margin
        || b.right() > width as f32 + margin
        || b.bottom() > height as f32 + margin
    {
        problems.push(format!("box {b:?} far outside the {width}x{height} image"));
    }
    if face.mesh.len() != 478 || face.regions.layout68().len() != 68 {
        problems.push(format!(
            "{} mesh points, {} layout points",
            face.mesh.len(),
            face.regions.layout68().len()
        ));
    }
    problems
}

fn speech_wav(dir: &Path) -> PathBuf {
    // A voiced buzz with syllable-rate loudness: enough for the mouth to move.
    let path = dir.join("buzz.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).expect("wav");
    for i in 0..16000 {
        let t = i as f32 / 16000.0;
        let env = (0.5 - 0.5 * (2.0 * std::f32::consts::PI * 4.0 * t).cos()).powi(2);
        let v = env
            * ((2.0 * std::f32::consts::PI * 140.0 * t).sin()
                + 0.4 * (2.0 * std::f32::consts::PI * 700.0 * t).sin());
        w.write_sample((v * 9000.0) as i16).expect("sample");
    }
    w.finalize().expect("wav");
    path
}

fn check_folder(dir: &Path, render: bool) {
    let mut images: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                    .as_deref(),
                Some("jpg" | "jpeg" | "png" | "webp")
            )
        })
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("no-face"))
        })
        .collect();
    images.sort();
    assert!(!images.is_empty(), "no portraits in {}", dir.display());
    let work = tempfile::tempdir().expect("tempdir");
    let wav = speech_wav(work.path());
    let mut failures = Vec::new();
    for path in &images {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let img =
            match mouthpiece_engine::media::image::load_portrait_file(path, &Default::default()) {
                Ok(i) => i,
                Err(e) => {
                    failures.push(format!("{name}: {e}"));
                    continue;
                }
            };
        let started = std::time::Instant::now();
        let faces = analyzer().analyze_all(&img).expect("analysis runs");
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let Some(face) = faces.first() else {
            failures.push(format!("{name}: no face"));
            continue;
        };
        println!(
            "{name}: {} face(s), largest {:.0}x{:.0} px, {ms:.0} ms",
            faces.len(),
            face.rect.w,
            face.rect.h
        );
        for p in geometry_problems(face, img.width(), img.height()) {
            failures.push(format!("{name}: {p}"));
        }
        if render {
            let out = work.path().join(format!("{name}.mp4"));
            let mut req = RenderRequest::new(path, &wav, &out);
            req.fps = Some(8);
            req.encoder = EncoderTuning {
                preset: Some("ultrafast".into()),
                ..Default::default()
            };
            match pipeline::render(&req, analyzer(), &NoProgress, &AtomicBool::new(false)) {
                Ok(rep)
                    if rep.frames >= 8
                        && out.metadata().map(|m| m.len() > 1000).unwrap_or(false) => {}
                Ok(rep) => failures.push(format!("{name}: render gave {} frames", rep.frames)),
                Err(e) => failures.push(format!("{name}: render failed: {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} portraits failed:\n{}",
        failures.len(),
        images.len(),
        failures.join("\n")
    );
}

#[test]
fn committed_samples_give_a_sane_mesh_and_render() {
    check_folder(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/samples"),
        true,
    );
}

#[test]
fn portrait_folder_gives_a_sane_mesh_on_every_face_and_renders() {
    let Ok(dir) = std::env::var("MOUTHPIECE_PORTRAITS") else {
        println!("MOUTHPIECE_PORTRAITS is not set: the portrait folder suite has nothing to read");
        return;
    };
    check_folder(Path::new(&dir), true);
}

#[test]
fn a_picture_without_a_face_has_none() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/samples/coffee-no-face.png");
    let img = image::open(path).expect("sample").to_rgb8();
    assert!(analyzer()
        .analyze_all(&img)
        .expect("analysis runs")
        .is_empty());
}

#[test]
fn a_face_turned_a_quarter_turn_is_still_found() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/samples/obama.jpg");
    let img = image::open(path).expect("sample").to_rgb8();
    let turned = image::imageops::rotate90(&img);
    let face = analyzer().analyze(&turned).expect("face found");
    assert!(geometry_problems(&face, turned.width(), turned.height()).is_empty());
}

//! Draws the analysed face on each image given: `face_probe OUT_DIR IMAGE...`.
use mouthpiece_engine::face::FaceAnalyzer;
use mouthpiece_engine::models::ModelPaths;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().ok_or("OUT_DIR")?);
    std::fs::create_dir_all(&out)?;
    let analyzer = FaceAnalyzer::load(&ModelPaths::discover()?)?;
    for path in args {
        let img = image::open(&path)?.to_rgb8();
        let t = std::time::Instant::now();
        let faces = analyzer.analyze_all(&img)?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        println!(
            "{path}: {} faces in {ms:.0} ms {:?}",
            faces.len(),
            faces.first().map(|f| f.rect)
        );
        if let Some(f) = faces.first() {
            for (k, p) in f.regions.lips_inner.iter().enumerate() {
                println!("  inner lip {k}: {:.1} {:.1}", p.x, p.y);
            }
        }
        let mut canvas = img.clone();
        for f in &faces {
            let mut dot = |p: mouthpiece_engine::geometry::Point, c: [u8; 3], r: i32| {
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (x, y) = (p.x as i32 + dx, p.y as i32 + dy);
                        if x >= 0
                            && y >= 0
                            && (x as u32) < canvas.width()
                            && (y as u32) < canvas.height()
                        {
                            canvas.put_pixel(x as u32, y as u32, image::Rgb(c));
                        }
                    }
                }
            };
            for p in &f.mesh {
                dot(*p, [0, 255, 0], 0);
            }
            let r = &f.regions;
            for p in r.all_points() {
                dot(p, [255, 0, 0], 1);
            }
            for p in &r.lips_inner {
                dot(*p, [0, 0, 255], 1);
            }
            dot(r.right_iris.center, [0, 128, 255], 2);
            dot(r.left_iris.center, [0, 128, 255], 2);
        }
        let name = std::path::Path::new(&path)
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if let Some(f) = faces.first() {
            // The mouth at 4x, for looking at the lip lines.
            let m = mouthpiece_engine::geometry::Rect::bounding(&f.regions.lips_outer);
            let pad = 0.25 * m.w;
            let (x0, y0) = ((m.x - pad).max(0.0) as u32, (m.y - pad).max(0.0) as u32);
            let (wv, hv) = (
                ((m.w + 2.0 * pad) as u32).min(canvas.width() - x0),
                ((m.h + 2.0 * pad) as u32).min(canvas.height() - y0),
            );
            let mouth = image::imageops::crop_imm(&canvas, x0, y0, wv, hv).to_image();
            image::imageops::resize(&mouth, wv * 4, hv * 4, image::imageops::FilterType::Nearest)
                .save(out.join(format!("{name}_mouth.png")))?;
            let c = f.rect.center();
            let side = f.rect.w.max(f.rect.h) * 1.5;
            let x0 = (c.x - side / 2.0).max(0.0) as u32;
            let y0 = (c.y - side / 2.0).max(0.0) as u32;
            let wv = (side as u32).min(canvas.width() - x0);
            let hv = (side as u32).min(canvas.height() - y0);
            canvas = image::imageops::crop_imm(&canvas, x0, y0, wv, hv).to_image();
        }
        canvas.save(out.join(format!("{name}.png")))?;
    }
    Ok(())
}

//! Prints the rig's lip points at rest and open: `rig_probe IMAGE`.
use mouthpiece_engine::animate::FrameState;
use mouthpiece_engine::face::FaceAnalyzer;
use mouthpiece_engine::models::ModelPaths;
use mouthpiece_engine::pipeline::{prepare_portrait, Mode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("IMAGE")?;
    let analyzer = FaceAnalyzer::load(&ModelPaths::discover()?)?;
    let img = image::open(&path)?.to_rgb8();
    let p = prepare_portrait(img, Mode::Std, &analyzer)?;
    let rig = p.renderer.rig();
    let rest = rig.deform(&FrameState::default());
    let (ac, dn) = (rig.across, rig.down);
    let f =
        |q: mouthpiece_engine::geometry::Point| (q.x * ac.x + q.y * ac.y, q.x * dn.x + q.y * dn.y);
    println!("w {:.1} opening {:?}", rig.mouth_width, rig.opening);
    for i in (48..68).chain(68..80) {
        let (a, h) = f(rig.source[i]);
        let (a2, h2) = f(rest[i]);
        println!(
            "{i:3} src ({a:7.1},{h:7.1}) rest ({a2:7.1},{h2:7.1}) d=({:5.1},{:5.1})",
            a2 - a,
            h2 - h
        );
    }
    Ok(())
}

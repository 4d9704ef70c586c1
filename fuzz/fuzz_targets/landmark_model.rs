#![no_main]
//! dlib shape-predictor reader: any bytes load or fail cleanly, and a model
//! that loads can be evaluated on a small image without panicking.
use libfuzzer_sys::fuzz_target;
use mouthpiece_engine::face::landmarks::ShapePredictor;
use mouthpiece_engine::geometry::Rect;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = ShapePredictor::from_reader(data) {
        let gray = image::GrayImage::from_fn(64, 64, |x, y| image::Luma([(x * 3 + y * 5) as u8]));
        let _ = model.predict(&gray, &Rect::new(8.0, 8.0, 48.0, 48.0));
    }
});

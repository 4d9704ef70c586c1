#![no_main]
//! OpenCV Haar cascade XML reader: any text parses or fails cleanly, and a
//! cascade that parses can scan a small image.
use libfuzzer_sys::fuzz_target;
use mouthpiece_engine::face::detect::{DetectParams, HaarCascade};

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    if let Ok(cascade) = HaarCascade::from_xml_str(xml) {
        let gray = image::GrayImage::from_fn(48, 48, |x, y| image::Luma([(x * 7 ^ y * 3) as u8]));
        let _ = cascade.detect(&gray, &DetectParams::default());
    }
});

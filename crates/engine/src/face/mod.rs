//! Face analysis with real shipped models, read by our own code:
//! OpenCV Haar cascades (Debian `opencv-data`) find faces, dlib's 68-point
//! shape predictor (Debian `libdlib-data`) places the landmarks.

pub mod detect;
pub mod landmarks;

use crate::error::{EngineError, Result};
use crate::geometry::{Point, Rect};
use crate::models::ModelPaths;
use image::{GrayImage, RgbImage};

pub use detect::{DetectParams, HaarCascade};
pub use landmarks::ShapePredictor;

/// One analysed face: the detector's box and dlib's 68 landmarks (iBUG 300-W order).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Face {
    pub rect: Rect,
    pub landmarks: Vec<Point>,
}

/// Detector and landmark model, loaded once and shared (they are read-only).
pub struct FaceAnalyzer {
    cascade: HaarCascade,
    predictor: ShapePredictor,
}

impl FaceAnalyzer {
    pub fn load(models: &ModelPaths) -> Result<Self> {
        let cascade = HaarCascade::from_file(&models.face_cascade)?;
        let predictor = ShapePredictor::from_file(&models.shape_predictor)?;
        Ok(Self { cascade, predictor })
    }

    pub fn new(cascade: HaarCascade, predictor: ShapePredictor) -> Self {
        Self { cascade, predictor }
    }

    /// All faces found, largest first, each with landmarks.
    pub fn analyze_all(&self, image: &RgbImage) -> Vec<Face> {
        let gray = image::imageops::grayscale(image);
        let mut boxes = self.cascade.detect(&gray, &DetectParams::default());
        boxes.sort_by(|a, b| b.area().total_cmp(&a.area()));
        // dlib's model was trained on gray = (r + g + b) / 3.
        let dlib_gray = GrayImage::from_fn(image.width(), image.height(), |x, y| {
            let [r, g, b] = image.get_pixel(x, y).0;
            image::Luma([((u16::from(r) + u16::from(g) + u16::from(b)) / 3) as u8])
        });
        boxes
            .into_iter()
            .map(|rect| self.face_from_box(&dlib_gray, rect))
            .collect()
    }

    /// The largest face (the one we animate), or a clear error when there is none.
    pub fn analyze(&self, image: &RgbImage) -> Result<Face> {
        self.analyze_all(image)
            .into_iter()
            .next()
            .ok_or(EngineError::NoFace)
    }

    /// The grey image dlib's model reads: (r + g + b) / 3.
    pub fn dlib_gray(image: &RgbImage) -> GrayImage {
        GrayImage::from_fn(image.width(), image.height(), |x, y| {
            let [r, g, b] = image.get_pixel(x, y).0;
            image::Luma([((u16::from(r) + u16::from(g) + u16::from(b)) / 3) as u8])
        })
    }

    /// Landmarks inside a known dlib box (see `detect::to_dlib_box`), without
    /// running the detector: for following a face through video frames.
    pub fn landmarks_in_box(&self, dlib_gray: &GrayImage, dlib_box: &Rect) -> Vec<Point> {
        self.predictor.predict(dlib_gray, dlib_box)
    }

    fn face_from_box(&self, gray: &GrayImage, rect: Rect) -> Face {
        let landmarks = self.predictor.predict(gray, &detect::to_dlib_box(&rect));
        Face { rect, landmarks }
    }
}

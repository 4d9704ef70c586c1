//! Face analysis with real shipped models.
//!
//! MediaPipe's BlazeFace detectors and 478-point face mesh with irises
//! (Apache-2.0, `mesh`), run by tract; and OpenCV's Haar cascade with dlib's
//! 68-point shape predictor (non-commercial), read by our own code, which
//! stays the render default until the rig is tuned on the mesh (`models`).
//! Everything after this module reads a `Face` by its named `regions`.

pub mod detect;
pub mod landmarks;
pub mod lips;
pub mod mesh;
pub mod regions;
pub mod tflite;

use crate::error::{EngineError, Result};
use crate::geometry::{Point, Rect};
use crate::models::ModelPaths;
use image::{GrayImage, RgbImage};

pub use detect::{DetectParams, HaarCascade};
pub use landmarks::ShapePredictor;
pub use mesh::{MeshModels, Roi};
pub use regions::Regions;

/// One analysed face: its box, its named regions, and with the mesh model
/// the full mesh, its depth and its crop.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Face {
    pub rect: Rect,
    pub regions: Regions,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mesh: Vec<Point>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depth: Vec<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roi: Option<Roi>,
}

impl Face {
    fn from_mesh(image: &RgbImage, m: mesh::MeshResult) -> Option<Self> {
        let mut points = m.points;
        lips::refine_inner_lips(image, &mut points);
        let regions = Regions::from_mesh(&points)?;
        let rect = Rect::bounding(&points[..468]);
        Some(Face {
            rect,
            regions,
            mesh: points,
            depth: m.depth,
            roi: Some(m.roi),
        })
    }
}

enum Backend {
    Mesh(Box<MeshModels>),
    Dlib {
        cascade: Box<HaarCascade>,
        predictor: Box<ShapePredictor>,
    },
}

/// Detector and landmark models, loaded once and shared (read-only).
pub struct FaceAnalyzer {
    backend: Backend,
}

impl FaceAnalyzer {
    pub fn load(models: &ModelPaths) -> Result<Self> {
        let backend = match models {
            ModelPaths::MediaPipe { dir } => Backend::Mesh(Box::new(MeshModels::load(dir)?)),
            ModelPaths::Dlib {
                shape_predictor,
                face_cascade,
            } => Backend::Dlib {
                cascade: Box::new(HaarCascade::from_file(face_cascade)?),
                predictor: Box::new(ShapePredictor::from_file(shape_predictor)?),
            },
        };
        Ok(Self { backend })
    }

    /// The opt-in Haar + dlib analyser from models already read.
    pub fn new(cascade: HaarCascade, predictor: ShapePredictor) -> Self {
        Self {
            backend: Backend::Dlib {
                cascade: Box::new(cascade),
                predictor: Box::new(predictor),
            },
        }
    }

    /// True when this analyser gives the full mesh (the default model).
    pub fn has_mesh(&self) -> bool {
        matches!(self.backend, Backend::Mesh(_))
    }

    /// All faces found, largest first, each with landmarks.
    pub fn analyze_all(&self, image: &RgbImage) -> Result<Vec<Face>> {
        let mut faces = match &self.backend {
            Backend::Mesh(models) => models
                .analyze(image)?
                .into_iter()
                .filter_map(|m| Face::from_mesh(image, m))
                .collect(),
            Backend::Dlib { cascade, predictor } => {
                let gray = image::imageops::grayscale(image);
                let boxes = cascade.detect(&gray, &DetectParams::default());
                let dlib_gray = Self::dlib_gray(image);
                boxes
                    .into_iter()
                    .filter_map(|rect| {
                        let points = predictor.predict(&dlib_gray, &detect::to_dlib_box(&rect));
                        Some(Face {
                            regions: Regions::from_layout68(&points)?,
                            rect,
                            mesh: Vec::new(),
                            depth: Vec::new(),
                            roi: None,
                        })
                    })
                    .collect::<Vec<_>>()
            }
        };
        faces.sort_by(|a, b| b.rect.area().total_cmp(&a.rect.area()));
        Ok(faces)
    }

    /// The largest face (the one we animate), or a clear error when there is none.
    pub fn analyze(&self, image: &RgbImage) -> Result<Face> {
        self.analyze_all(image)?
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

    /// The face inside a known crop, without running the detector: for
    /// following a face through video frames. With the dlib fallback the
    /// crop's axis-aligned box is dlib's box.
    pub fn face_in(&self, image: &RgbImage, roi: &Roi) -> Result<Option<Face>> {
        match &self.backend {
            Backend::Mesh(models) => Ok(models
                .mesh(image, roi)?
                .and_then(|m| Face::from_mesh(image, m))),
            Backend::Dlib { predictor, .. } => {
                let b = Rect::new(
                    roi.center.x - roi.size / 2.0,
                    roi.center.y - roi.size / 2.0,
                    roi.size,
                    roi.size,
                );
                let points = predictor.predict(&Self::dlib_gray(image), &b);
                Ok(Regions::from_layout68(&points).map(|regions| Face {
                    rect: b,
                    regions,
                    mesh: Vec::new(),
                    depth: Vec::new(),
                    roi: Some(*roi),
                }))
            }
        }
    }

    /// The crop that follows a face into the next frame.
    pub fn roi_following(face: &Face) -> Option<Roi> {
        if face.mesh.is_empty() {
            // dlib's box is about the landmarks' extent.
            let b = Rect::bounding(&face.regions.layout68());
            Some(Roi {
                center: b.center(),
                size: b.w.max(b.h),
                angle: 0.0,
            })
        } else {
            MeshModels::roi_from_points(&face.mesh)
        }
    }
}

//! Where the shipped model files live. Debian packages put them in fixed
//! places; `MOUTHPIECE_SHAPE_PREDICTOR` / `MOUTHPIECE_FACE_CASCADE` override.

use crate::error::{EngineError, Result};
use std::path::{Path, PathBuf};

const SHAPE_PREDICTOR_CANDIDATES: &[&str] =
    &["/usr/share/dlib/shape_predictor_68_face_landmarks.dat"];
const FACE_CASCADE_CANDIDATES: &[&str] = &[
    "/usr/share/opencv4/haarcascades/haarcascade_frontalface_alt2.xml",
    "/usr/share/opencv/haarcascades/haarcascade_frontalface_alt2.xml",
];

#[derive(Debug, Clone)]
pub struct ModelPaths {
    pub shape_predictor: PathBuf,
    pub face_cascade: PathBuf,
}

impl ModelPaths {
    /// Finds the models from the environment or the Debian locations.
    pub fn discover() -> Result<Self> {
        Ok(Self {
            shape_predictor: find(
                "MOUTHPIECE_SHAPE_PREDICTOR",
                SHAPE_PREDICTOR_CANDIDATES,
                "install Debian's libdlib-data (scripts/setup.sh does)",
            )?,
            face_cascade: find(
                "MOUTHPIECE_FACE_CASCADE",
                FACE_CASCADE_CANDIDATES,
                "install Debian's opencv-data (scripts/setup.sh does)",
            )?,
        })
    }
}

fn find(env_var: &str, candidates: &[&str], hint: &str) -> Result<PathBuf> {
    if let Ok(p) = std::env::var(env_var) {
        let path = PathBuf::from(p);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(EngineError::ModelMissing {
                path,
                hint: format!("{env_var} points to a file that does not exist"),
            })
        };
    }
    candidates
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| EngineError::ModelMissing {
            path: PathBuf::from(candidates.first().copied().unwrap_or_default()),
            hint: hint.to_string(),
        })
}

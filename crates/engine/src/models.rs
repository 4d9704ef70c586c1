//! Where the shipped model files live.
//!
//! The default (`MOUTHPIECE_FACE_MODEL` unset or `mediapipe`): MediaPipe's
//! face detector, mesh and iris models (Apache-2.0), which
//! `scripts/setup.sh` extracts into `models/mediapipe/`;
//! `MOUTHPIECE_MODEL_DIR` points elsewhere.
//! `MOUTHPIECE_FACE_MODEL=dlib`, an opt-in fallback: the Haar cascade + dlib
//! 68-point path. dlib's model is trained on iBUG 300-W, whose terms exclude
//! commercial use (`MOUTHPIECE_SHAPE_PREDICTOR` / `MOUTHPIECE_FACE_CASCADE`
//! override its files; `MOUTHPIECE_WITH_DLIB=1 scripts/setup.sh` installs
//! them).

use crate::error::{EngineError, Result};
use crate::face::mesh;
use std::path::{Path, PathBuf};

const SHAPE_PREDICTOR_CANDIDATES: &[&str] =
    &["/usr/share/dlib/shape_predictor_68_face_landmarks.dat"];
const FACE_CASCADE_CANDIDATES: &[&str] = &[
    "/usr/share/opencv4/haarcascades/haarcascade_frontalface_alt2.xml",
    "/usr/share/opencv/haarcascades/haarcascade_frontalface_alt2.xml",
];

#[derive(Debug, Clone)]
pub enum ModelPaths {
    /// The folder holding MediaPipe's `.tflite` files.
    MediaPipe { dir: PathBuf },
    /// The non-commercial fallback.
    Dlib {
        shape_predictor: PathBuf,
        face_cascade: PathBuf,
    },
}

impl ModelPaths {
    /// Finds the models from the environment or the usual places.
    pub fn discover() -> Result<Self> {
        match std::env::var("MOUTHPIECE_FACE_MODEL").as_deref() {
            Ok("mediapipe") | Ok("") | Err(_) => Self::discover_mediapipe(),
            Ok("dlib") => Self::discover_dlib(),
            Ok(other) => Err(EngineError::ModelMissing {
                path: PathBuf::from(other),
                hint: "MOUTHPIECE_FACE_MODEL must be `mediapipe` (the default) or `dlib` \
                       (non-commercial fallback)"
                    .into(),
            }),
        }
    }

    pub fn discover_mediapipe() -> Result<Self> {
        let has_all = |d: &Path| mesh::ALL_FILES.iter().all(|f| d.join(f).is_file());
        if let Ok(dir) = std::env::var("MOUTHPIECE_MODEL_DIR") {
            let dir = PathBuf::from(dir);
            return if has_all(&dir) {
                Ok(Self::MediaPipe { dir })
            } else {
                Err(EngineError::ModelMissing {
                    path: dir,
                    hint: format!(
                        "MOUTHPIECE_MODEL_DIR must hold {}",
                        mesh::ALL_FILES.join(", ")
                    ),
                })
            };
        }
        let mut candidates: Vec<PathBuf> = Vec::new();
        // Beside a checkout's binary (target/release/mouthpiece), in the
        // working directory, the checkout this was built from, a system place.
        if let Ok(exe) = std::env::current_exe() {
            for up in exe.ancestors().skip(1).take(4) {
                candidates.push(up.join("models/mediapipe"));
            }
        }
        candidates.push(PathBuf::from("models/mediapipe"));
        candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/mediapipe"));
        candidates.push(PathBuf::from(
            "/usr/local/share/mouthpiece/models/mediapipe",
        ));
        candidates
            .iter()
            .find(|d| has_all(d))
            .map(|dir| Self::MediaPipe { dir: dir.clone() })
            .ok_or_else(|| EngineError::ModelMissing {
                path: PathBuf::from("models/mediapipe"),
                hint: "run scripts/setup.sh (it extracts the face models from the pinned mediapipe wheel) or set MOUTHPIECE_MODEL_DIR".into(),
            })
    }

    pub fn discover_dlib() -> Result<Self> {
        Ok(Self::Dlib {
            shape_predictor: find(
                "MOUTHPIECE_SHAPE_PREDICTOR",
                SHAPE_PREDICTOR_CANDIDATES,
                "install Debian's libdlib-data (MOUTHPIECE_WITH_DLIB=1 scripts/setup.sh does)",
            )?,
            face_cascade: find(
                "MOUTHPIECE_FACE_CASCADE",
                FACE_CASCADE_CANDIDATES,
                "install Debian's opencv-data (MOUTHPIECE_WITH_DLIB=1 scripts/setup.sh does)",
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

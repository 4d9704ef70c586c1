#!/usr/bin/env bash
# Installs everything Mouthpiece needs on Debian and builds it.
# Safe to run again: packages already present are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  ffmpeg            # H.264 + AAC encoding, ffprobe for tests
  python3-pip       # fetches the pinned mediapipe wheel that holds the face models
  espeak-ng         # speech synthesis with phoneme timing (TTS, test speech)
  libespeak-ng-dev  # its C library, for phoneme events
  pocketsphinx-en-us libpocketsphinx-dev  # English phone recognition
  sox               # audio conversions in tests
  fonts-dejavu-core # the text of the service's watermark (ffmpeg drawtext)
  chromium          # the web playground's browser tests (driven by playwright-core)
  jq curl           # the playground's "copy as curl" commands, run by its test
  pkg-config
)

# dlib's 68-point model and the Haar cascade: the opt-in, non-commercial
# fallback (MOUTHPIECE_FACE_MODEL=dlib); MOUTHPIECE_WITH_DLIB=1 installs them.
if [ "${MOUTHPIECE_WITH_DLIB:-0}" = 1 ]; then
  PACKAGES+=(libdlib-data opencv-data)
fi

# Node.js builds the web playground (web/): Debian's packages only when
# there is no node at all (Vite needs node >= 20.19).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Face models: MediaPipe's detector, face mesh and iris models (Apache-2.0),
# taken from the pinned `mediapipe` wheel on PyPI. Only the model files are
# kept; nothing of it runs. Checked by SHA-256, wheel and files alike.
MEDIAPIPE_WHEEL=mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
MEDIAPIPE_WHEEL_SHA256=a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4
MODEL_DIR=models/mediapipe
MODEL_SUMS="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8  face_detection_short_range.tflite
2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1  face_detection_full_range_sparse.tflite
1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814  face_landmark.tflite
d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f  iris_landmark.tflite
9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c  selfie_segmentation.tflite"
if ! (cd "$MODEL_DIR" 2>/dev/null && echo "$MODEL_SUMS" | sha256sum --check --status 2>/dev/null); then
  echo "setup: face models from ${MEDIAPIPE_WHEEL%%-cp*} (PyPI)"
  wheel_dir=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.11 --platform manylinux2014_x86_64 --implementation cp \
    -d "$wheel_dir" "mediapipe==0.10.14"
  echo "$MEDIAPIPE_WHEEL_SHA256  $wheel_dir/$MEDIAPIPE_WHEEL" | sha256sum --check --quiet
  mkdir -p "$MODEL_DIR"
  python3 - "$wheel_dir/$MEDIAPIPE_WHEEL" "$MODEL_DIR" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
wanted = {
    "mediapipe/modules/face_detection/face_detection_short_range.tflite",
    "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
    "mediapipe/modules/face_landmark/face_landmark.tflite",
    "mediapipe/modules/iris_landmark/iris_landmark.tflite",
    "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
    "mediapipe-0.10.14.dist-info/LICENSE",
}
with zipfile.ZipFile(wheel) as z:
    for name in wanted:
        with z.open(name) as src, open(os.path.join(out, os.path.basename(name)), "wb") as dst:
            dst.write(src.read())
PY
  rm -rf "$wheel_dir"
  (cd "$MODEL_DIR" && echo "$MODEL_SUMS" | sha256sum --check --quiet)
fi

if ! command -v cargo >/dev/null; then
  echo "setup: Rust is not installed; install it with rustup (https://rustup.rs) and re-run" >&2
  exit 1
fi

# The playground's assets are embedded in the binary: build them first.
node_ok=$(node -e 'const [a,b]=process.versions.node.split(".").map(Number);console.log(a>20||(a==20&&b>=19)?1:0)')
if [ "$node_ok" != 1 ]; then
  echo "setup: node $(node --version) is too old for the web playground; install node >= 20.19" >&2
  exit 1
fi
if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  echo "setup: npm ci (web/)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -f web/dist/index.html ] || [ -n "$(find web/src web/index.html web/vite.config.ts web/tsconfig.json web/package-lock.json -newer web/dist/index.html 2>/dev/null | head -1)" ]; then
  echo "setup: building the web playground (web/dist)"
  (cd web && npm run build --silent)
fi

cargo build --release --locked -q
echo "setup: ready ($(./target/release/mouthpiece --version))"

#!/usr/bin/env bash
# Installs everything Mouthpiece needs on Debian and builds it.
# Safe to run again: packages already present are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  ffmpeg            # H.264 + AAC encoding, ffprobe for tests
  libdlib-data      # dlib's 68-point face landmark model
  opencv-data       # Haar cascade face detectors
  espeak-ng         # speech synthesis with phoneme timing (TTS, test speech)
  libespeak-ng-dev  # its C library, for phoneme events
  pocketsphinx-en-us libpocketsphinx-dev  # English phone recognition
  sox               # audio conversions in tests
  fonts-dejavu-core # the text of the service's watermark (ffmpeg drawtext)
  pkg-config
)

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

if ! command -v cargo >/dev/null; then
  echo "setup: Rust is not installed; install it with rustup (https://rustup.rs) and re-run" >&2
  exit 1
fi

cargo build --release --locked -q
echo "setup: ready ($(./target/release/mouthpiece --version))"

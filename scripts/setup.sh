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
  chromium          # the web playground's browser tests (driven by playwright-core)
  jq curl           # the playground's "copy as curl" commands, run by its test
  pkg-config
)

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

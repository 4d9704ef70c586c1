#!/usr/bin/env bash
# Sets up, then runs every check and test: formatting, lints, unit and
# end-to-end tests (real models, real ffmpeg, speech from espeak-ng).
set -euo pipefail
cd "$(dirname "$0")/.."
# The dlib fallback keeps its own tests, so they get its model files.
MOUTHPIECE_WITH_DLIB="${MOUTHPIECE_WITH_DLIB:-1}" ./scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -q -- -D warnings
# The portrait suite reads a folder of portraits (any folder: set
# MOUTHPIECE_PORTRAITS yourself); the project's shared set when it is there.
if [ -z "${MOUTHPIECE_PORTRAITS:-}" ] && [ -d ../shared/portraits ]; then
  export MOUTHPIECE_PORTRAITS="$(cd ../shared/portraits && pwd)"
fi
cargo test --locked --release --workspace
# A JavaScript client of the useapi dialect (plain JSON.parse), against the
# release binary the tests above built.
node --test crates/api/tests/js/useapi_drop_in.test.mjs

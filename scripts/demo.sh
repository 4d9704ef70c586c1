#!/usr/bin/env bash
# Sets up, then renders a sample talking head with the embedded defaults:
# a committed portrait and speech made by espeak-ng. Output: out/demo.mp4
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
mkdir -p out
espeak-ng -v en-us -s 150 -w out/demo-speech.wav \
  "Hello! I am Mouthpiece. I turn one portrait and one voice into a talking video, right on your own computer."
./target/release/mouthpiece render --image assets/samples/obama.jpg --audio out/demo-speech.wav -o out/demo.mp4

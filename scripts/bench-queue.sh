#!/usr/bin/env bash
# Queue throughput with 1, 2 and 4 `mouthpiece worker` processes behind one
# `serve --no-workers` node on the local PostgreSQL (fast test render
# settings: 2 s clips at 8 fps, ultrafast x264), and claim latency.
# BENCH_TASKS sets the tasks per run (default 24); MOUTHPIECE_TEST_POSTGRES
# the server (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -p mouthpiece --test scale_out bench_queue -- --ignored --nocapture 2>&1 \
  | grep '^bench-queue:'

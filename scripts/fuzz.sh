#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZ_SECONDS each, default 60)
# on its committed corpus, which grows with what the fuzzer finds.
# Usage: scripts/fuzz.sh [--minimize] [target ...]
# --minimize: afterwards shrink each corpus to the inputs that add coverage
# (named seeds, which the tests look up by name, are always kept).
set -euo pipefail
minimize=0
if [[ "${1:-}" == "--minimize" ]]; then
  minimize=1
  shift
fi
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
# cargo-fuzz needs unstable compiler flags (sanitizers, coverage); the stable
# toolchain accepts them with this switch.
export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-60}"
# Real memory is capped at 2 GB. A single allocation may reserve up to 4 GB
# (a u32 length that the decoder then fails to fill, which costs no memory
# on Linux); anything larger could fail outright and abort the process.
malloc_mb=4200
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -O
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "fuzz: $t for ${seconds}s"
  cargo fuzz run -O "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb="$malloc_mb" -max_len=65536 -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY|Done)" || true
  # A crash leaves an artifact and a non-zero exit; fail loudly on it.
  if compgen -G "artifacts/$t/crash-*" >/dev/null || compgen -G "artifacts/$t/oom-*" >/dev/null || compgen -G "artifacts/$t/timeout-*" >/dev/null; then
    echo "fuzz: $t found a failing input: $(ls artifacts/$t)" >&2
    exit 1
  fi
done
if ((minimize)); then
  for t in "${targets[@]}"; do
    # libFuzzer names what it finds by SHA-1; anything else is a seed.
    seeds=$(mktemp -d)
    find "corpus/$t" -maxdepth 1 -type f -regextype posix-extended ! -regex '.*/[0-9a-f]{40}' -exec mv {} "$seeds/" \;
    before=$(find "corpus/$t" -type f | wc -l)
    if ! cargo fuzz cmin -O "$t" "corpus/$t" -- -rss_limit_mb=2048 -malloc_limit_mb="$malloc_mb" -timeout=10 >/dev/null 2>&1; then
      echo "fuzz: minimizing $t failed; its seeds are in $seeds" >&2
      exit 1
    fi
    mv "$seeds"/* "corpus/$t/" 2>/dev/null || true
    rmdir "$seeds"
    echo "fuzz: $t corpus $before -> $(find "corpus/$t" -type f | wc -l) inputs"
  done
fi
echo "fuzz: all targets ran ${seconds}s without a failure"

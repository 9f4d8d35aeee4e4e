#!/usr/bin/env bash
# Runs the whole test suite. As root it also runs the lab and live-capture
# tests (network namespaces); elsewhere those print why they were skipped.
# Set NAGLE_CORPUS to ../shared/captures to include the public corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${NAGLE_CORPUS:-}" ] && [ -d ../shared/captures ]; then
  export NAGLE_CORPUS="$PWD/../shared/captures"
fi
# Every crate of the workspace: nagle-analyze and its test kit.
cargo test --release --workspace --all-targets -- --test-threads=2
# The build without libpcap (features `live` and `lab` off) keeps working.
cargo test --release --no-default-features --lib --test cli -- --test-threads=2
# Fuzzer-found inputs replayed with overflow checks on (a debug build).
cargo test --test regressions

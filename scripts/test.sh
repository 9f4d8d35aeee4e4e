#!/usr/bin/env bash
# Runs the whole test suite. As root it also runs the lab and live-capture
# tests (network namespaces); elsewhere those print why they were skipped.
# Set NAGLE_CORPUS to ../shared/captures to include the public corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
# As root on Debian/Ubuntu, install what the tests need, as .ci/run and
# scripts/demo.sh do: libpcap to build, ip/ping/tcpdump for the lab and live
# tests, python3 with the duckdb package for the JSON-lines test.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  need=()
  for pkg in libpcap-dev pkg-config iproute2 iputils-ping tcpdump python3-pip; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
if ! python3 -c 'import duckdb' 2>/dev/null && command -v python3 >/dev/null; then
  python3 -m pip install -q duckdb 2>/dev/null ||
    python3 -m pip install -q --break-system-packages duckdb 2>/dev/null || true
fi
if python3 -c 'import duckdb' 2>/dev/null; then
  export NAGLE_NEED_DUCKDB=1
fi
if [ -z "${NAGLE_CORPUS:-}" ] && [ -d ../shared/captures ]; then
  export NAGLE_CORPUS="$PWD/../shared/captures"
fi
# Every crate of the workspace: nagle-analyze and its test kit.
cargo test --release --workspace --all-targets -- --test-threads=2
# The build without libpcap (features `live` and `lab` off) keeps working.
cargo test --release --no-default-features --lib --test cli -- --test-threads=2
# Fuzzer-found inputs replayed with overflow checks on (a debug build).
cargo test --test regressions

#!/usr/bin/env bash
# Runs the whole test suite. As root it also runs the lab and live-capture
# tests (network namespaces); elsewhere those print why they were skipped.
# Set NAGLE_CORPUS to ../shared/captures to include the public corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
# As root on Debian/Ubuntu, install what the tests need (the one list:
# .ci/run runs this script): libpcap to build; ip, ping and tcpdump for the
# lab and live tests; strace, python3, redis for the real-program tests;
# chromium for the report page; python3-pip for duckdb (JSON-lines test);
# time and procps (pkill) for the memory tests.
# The tests then fail, not skip, when one of them is missing
# (NAGLE_REQUIRE_TOOLS, NAGLE_NEED_DUCKDB).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  need=()
  for pkg in libpcap-dev pkg-config iproute2 iputils-ping tcpdump strace python3 \
    python3-pip redis-server redis-tools chromium time procps; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install -q duckdb 2>/dev/null ||
    python3 -m pip install -q --break-system-packages duckdb
  export NAGLE_REQUIRE_TOOLS=1 NAGLE_NEED_DUCKDB=1
elif python3 -c 'import duckdb' 2>/dev/null; then
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

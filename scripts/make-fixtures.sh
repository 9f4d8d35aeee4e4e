#!/usr/bin/env bash
# Regenerate the lab reference captures in fixtures/lab/ from real kernel TCP
# in network namespaces (needs root). Each fixture keeps capture.pcap,
# writes.jsonl and lab.json of one `nagle-analyze lab` run; the analysis
# (report.json) is not kept, it is what the fixtures test.
#
# Usage: sudo scripts/make-fixtures.sh [path/to/nagle-analyze]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-}
if [ -z "$BIN" ]; then
    cargo build --release --quiet
    BIN=target/release/nagle-analyze
fi
if [ "$(id -u)" != 0 ]; then
    echo "make-fixtures.sh: needs root (network namespaces, TUN, live capture): run with sudo" >&2
    exit 1
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DEST=fixtures/lab

run() { # name, then lab arguments
    local name=$1; shift
    echo "== $name: nagle-analyze lab $*" >&2
    "$BIN" lab "$@" --out-dir "$WORK/$name" >/dev/null
    mkdir -p "$DEST/$name"
    cp "$WORK/$name/capture.pcap" "$WORK/$name/writes.jsonl" "$WORK/$name/lab.json" "$DEST/$name/"
    local size
    size=$(stat -c %s "$DEST/$name/capture.pcap")
    if [ "$size" -gt 204800 ]; then
        echo "make-fixtures.sh: $name/capture.pcap is $size bytes (> 200 KB)" >&2
        exit 1
    fi
}

# Nagle on: 4-byte writes every 1 ms over a 20 ms RTT: ~20 writes per segment.
run nagle-on-rtt20-int1   --rtt 20ms --interval 1ms --write-count 200 --write-size 4
# The same with TCP_NODELAY: one segment per write except where cwnd binds.
run nodelay-rtt20-int1    --rtt 20ms --interval 1ms --write-count 200 --write-size 4 --nodelay
# Interval above the RTT: nothing to aggregate even with Nagle on.
run nagle-on-rtt20-int30  --rtt 20ms --interval 30ms --write-count 30 --write-size 4
# Write-write-read: 10 requests of two 100-byte writes, 200-byte replies;
# the second write waits for the receiver's delayed ACK.
run reqresp-rtt20         --rtt 20ms --interval 50ms --write-count 20 --write-size 100 --mode reqresp --reply-size 200

echo "fixtures written to $DEST" >&2

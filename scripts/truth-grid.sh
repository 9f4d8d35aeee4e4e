#!/usr/bin/env bash
# Record a ground-truth grid with the lab (root): every run captured at both
# ends (capture.pcap at the sender, capture-receiver.pcap at the receiver),
# with the sender's write log and, for write-write-read, the client's
# request latencies. Groundwork for issues 15 and 16; summarise with
# `scripts/truth-table.py DIR`.
#
#   sudo scripts/truth-grid.sh [DIR]        (default out/grid, not committed)
#
# Runs (each short: at most ~8 s of traffic):
#   small-rtt{1,40,200}-int{0.1,1,10,100}-{nagle,nodelay}
#       4-byte writes every interval, min(1000, 6 s / interval) writes
#   bulk-rtt{1,40,200}-nagle      20 writes of 64 KiB, Nagle on
#   cork-rtt{1,40,200}            4-byte writes every 1 ms, TCP_CORK
#   wwr-rtt{10,40,100}-{nagle,nodelay}
#       write-write-read (--mode reqresp): 20 requests of two 4-byte writes,
#       64-byte replies, back to back
#   lossy-rtt40-int1-{nagle,nodelay}
#       4-byte writes every 1 ms over a path dropping 2 % of packets (seed 1)
#
# Environment: BIN (default target/release/nagle-analyze), ONLY (a regex of
# run names to record, e.g. ONLY='^wwr-').
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/grid}
BIN=${BIN:-target/release/nagle-analyze}
ONLY=${ONLY:-}
if [ "$(id -u)" != 0 ]; then
    echo "truth-grid: the lab needs root: run it with sudo" >&2
    exit 1
fi
[ -x "$BIN" ] || { echo "truth-grid: no $BIN (cargo build --release first)" >&2; exit 1; }
mkdir -p "$OUT"
failed=0

# run NAME ARGS...: one lab run into $OUT/NAME, captured at both ends.
run() {
    local name=$1
    shift
    if [ -n "$ONLY" ] && ! [[ $name =~ $ONLY ]]; then
        return
    fi
    echo "truth-grid: $name" >&2
    if ! "$BIN" lab --capture-at both --out-dir "$OUT/$name" "$@" >"$OUT/$name.log" 2>&1; then
        echo "truth-grid: run $name failed (see $OUT/$name.log)" >&2
        failed=$((failed + 1))
    fi
}

for rtt in 1 40 200; do
    for iv in 0.1 1 10 100; do
        n=$(python3 -c "print(min(1000, int(6000 / $iv)))")
        run "small-rtt$rtt-int$iv-nagle" --rtt "${rtt}ms" --interval "${iv}ms" --write-count "$n" --write-size 4
        run "small-rtt$rtt-int$iv-nodelay" --rtt "${rtt}ms" --interval "${iv}ms" --write-count "$n" --write-size 4 --nodelay
    done
done
for rtt in 1 40 200; do
    run "bulk-rtt$rtt-nagle" --rtt "${rtt}ms" --interval 1ms --write-count 20 --write-size 65536
done
for rtt in 1 40 200; do
    run "cork-rtt$rtt" --rtt "${rtt}ms" --interval 1ms --write-count 1000 --write-size 4 --cork
done
for rtt in 10 40 100; do
    run "wwr-rtt$rtt-nagle" --rtt "${rtt}ms" --mode reqresp --interval 1ms --write-count 40 --write-size 4
    run "wwr-rtt$rtt-nodelay" --rtt "${rtt}ms" --mode reqresp --interval 1ms --write-count 40 --write-size 4 --nodelay
done
run lossy-rtt40-int1-nagle --rtt 40ms --interval 1ms --write-count 1000 --write-size 4 --loss 0.02 --seed 1
run lossy-rtt40-int1-nodelay --rtt 40ms --interval 1ms --write-count 1000 --write-size 4 --loss 0.02 --seed 1 --nodelay

echo "truth-grid: done in $OUT ($failed failed); summary: scripts/truth-table.py $OUT" >&2
[ "$failed" = 0 ]

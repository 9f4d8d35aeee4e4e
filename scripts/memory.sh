#!/usr/bin/env bash
# Memory benchmark (issue 8): peak RSS of `nagle-analyze --format json`
# against the number of packets (connections open at once fixed) and against
# the number of connections open at once (packets fixed), on captures made by
# the project's own generator (`nagle-testkit synth`, the test kit's
# binary).
#
# Expected: flat in packets, linear in live connections.
#
# Parameters (environment):
#   PACKETS_LIST="250000 1000000 4000000"   packets, at FLOWS_FIXED connections
#   FLOWS_FIXED=2000
#   FLOWS_LIST="1000 10000 30000 100000"    connections, at PACKETS_FIXED packets
#   PACKETS_FIXED=3000000
# The generator opens `--flows` connections over its first 100 ms; short
# runs end before all of them have started, so the table also gives the
# connections actually tracked at once (`peak_live_flows` of the report),
# which is what memory follows. The last line fits RSS = base + k * peak_live.
#   OUT=out/memory        captures are written here (and deleted after use
#                         unless KEEP=1: the largest is ~3 GB)
#   SKIP_BUILD=1          use the existing target/release binary
set -euo pipefail

cd "$(dirname "$0")/.."
PACKETS_LIST=${PACKETS_LIST:-250000 1000000 4000000}
FLOWS_FIXED=${FLOWS_FIXED:-2000}
FLOWS_LIST=${FLOWS_LIST:-1000 10000 30000 100000}
PACKETS_FIXED=${PACKETS_FIXED:-3000000}
OUT=${OUT:-out/memory}
BIN=target/release/nagle-analyze
GEN=target/release/nagle-testkit

if [[ ! -x /usr/bin/time ]]; then
    echo "memory: /usr/bin/time missing (apt-get install time)" >&2
    exit 1
fi
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    cargo build --release --quiet -p nagle-analyze -p nagle-testkit
fi
mkdir -p "$OUT"
echo "== machine: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "== date: $(date -u +%Y-%m-%dT%H:%M:%SZ)   commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
printf '%-9s %-7s %8s %11s %10s %7s %12s %12s\n' packets --flows file_MB connections peak_live wall_s peak_RSS_MB KB/live_flow

# measure PACKETS FLOWS: generate, analyze, print one row.
measure() {
    local packets=$1 flows=$2
    local cap="$OUT/mem-p$packets-f$flows.pcap"
    "$GEN" synth -o "$cap" --packets "$packets" --flows "$flows" --mix 3:1 \
        --rtt 0.2ms,40ms --loss 0.001 --seed 1 >/dev/null 2>&1
    /usr/bin/time -v -o "$OUT/time.txt" "$BIN" --format json "$cap" -o "$OUT/report.json" 2>"$OUT/err.txt" || {
        echo "memory: nagle-analyze failed on $cap, see $OUT/err.txt" >&2
        exit 1
    }
    local rss wall size conns peak
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/time.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$OUT/time.txt")
    size=$(stat -c %s "$cap")
    conns=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(len(r['flows']), r['captures'][0]['peak_live_flows'])" "$OUT/report.json")
    read -r conns peak <<<"$conns"
    awk -v p="$packets" -v f="$flows" -v s="$size" -v c="$conns" -v l="$peak" -v w="$wall" -v r="$rss" 'BEGIN{
        printf "%-9d %-7d %8.0f %11d %10d %7.2f %12.1f %12.2f\n", p, f, s / 1e6, c, l, w, r / 1024, r / l }' | tee -a "$OUT/rows.txt"
    [[ "${KEEP:-0}" == 1 ]] || rm -f "$cap"
}

rm -f "$OUT/rows.txt"
echo "-- packets grow, $FLOWS_FIXED connections open at once"
for p in $PACKETS_LIST; do measure "$p" "$FLOWS_FIXED"; done
echo "-- connections open at once grow, $PACKETS_FIXED packets"
for f in $FLOWS_LIST; do measure "$PACKETS_FIXED" "$f"; done
# Least-squares fit of peak RSS (MB) on connections tracked at once.
awk '{ x = $5; y = $7; n++; sx += x; sy += y; sxx += x * x; sxy += x * y }
    END { if (n < 2 || n * sxx == sx * sx) exit;
          k = (n * sxy - sx * sy) / (n * sxx - sx * sx); b = (sy - k * sx) / n;
          printf "fit over %d runs: peak RSS = %.1f MB + %.2f KB x connections tracked at once\n", n, b, k * 1024 }' "$OUT/rows.txt"

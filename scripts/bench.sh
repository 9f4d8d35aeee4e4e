#!/usr/bin/env bash
# Speed and memory benchmark (issue 7).
#
# Builds the release binaries, generates a deterministic capture with the
# project's own simulator (`nagle-testkit synth`, the test kit's binary),
# then times on the same file, in this one run:
#   - nagle-analyze --format json        (the full analysis)
#   - tcpdump -r FILE -w /dev/null       (the libpcap read floor)
#   - tshark -q -z conv,tcp -r FILE      (when installed)
#   - tcptrace -lr FILE                  (when installed)
# and prints wall time, packets/s, the ratio to the libpcap floor and peak
# RSS (/usr/bin/time -v).
#
# Parameters (environment):
#   PACKETS=500000 FLOWS=2000 MIX=3:1 RTT=0.2ms,40ms LOSS=0.001 SEED=1
#   OUT=out/bench            directory for the capture and logs
#   RUNS=3                   timed runs per tool (best wall time is kept)
#   BENCH_INSTALL=1          as root: apt-get install tshark tcptrace time
#   SKIP_BUILD=1             use the existing target/release binary
set -euo pipefail

cd "$(dirname "$0")/.."
PACKETS=${PACKETS:-500000}
FLOWS=${FLOWS:-2000}
MIX=${MIX:-3:1}
RTT=${RTT:-0.2ms,40ms}
LOSS=${LOSS:-0.001}
SEED=${SEED:-1}
OUT=${OUT:-out/bench}
RUNS=${RUNS:-3}
BIN=target/release/nagle-analyze
GEN=target/release/nagle-testkit

if [[ "${BENCH_INSTALL:-0}" == 1 && $(id -u) == 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q tshark tcptrace time tcpdump >/dev/null 2>&1 ||
        echo "bench: apt-get install failed; continuing with what is installed" >&2
fi
if [[ ! -x /usr/bin/time ]]; then
    echo "bench: /usr/bin/time missing (apt-get install time, or BENCH_INSTALL=1 as root)" >&2
    exit 1
fi

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    cargo build --release --quiet -p nagle-analyze -p nagle-testkit
fi
mkdir -p "$OUT"
CAP="$OUT/bench-p${PACKETS}-f${FLOWS}-s${SEED}.pcap"
echo "== machine: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "== date: $(date -u +%Y-%m-%dT%H:%M:%SZ)   commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "== generating: packets=$PACKETS flows=$FLOWS mix=$MIX rtt=$RTT loss=$LOSS seed=$SEED"
"$GEN" synth -o "$CAP" --packets "$PACKETS" --flows "$FLOWS" --mix "$MIX" \
    --rtt "$RTT" --loss "$LOSS" --seed "$SEED"
SIZE=$(stat -c %s "$CAP")
echo "== capture: $CAP, $((SIZE / 1000000)) MB, sha256 $(sha256sum "$CAP" | cut -c1-16)"
cat "$CAP" >/dev/null # warm the page cache

# run NAME CMD...: best-of-$RUNS wall seconds and the peak RSS of that run.
declare -A WALL RSS
run() {
    local name=$1
    shift
    local best="" best_rss=""
    for _ in $(seq "$RUNS"); do
        local t0 t1 w rss
        t0=$EPOCHREALTIME
        /usr/bin/time -v -o "$OUT/time.txt" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || {
            echo "bench: $name failed (exit $?), see $OUT/$name.err" >&2
            return 0
        }
        t1=$EPOCHREALTIME
        # Wall time to the millisecond (/usr/bin/time rounds to 10 ms).
        w=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}')
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/time.txt")
        if [[ -z "$best" ]] || awk "BEGIN{exit !($w < $best)}"; then
            best=$w
            best_rss=$rss
        fi
    done
    WALL[$name]=$best
    RSS[$name]=$best_rss
}

ORDER=()
run cat cat "$CAP" && ORDER+=(cat)
run libpcap tcpdump -r "$CAP" -w /dev/null && ORDER+=(libpcap)
run nagle-analyze "$BIN" --format json "$CAP" && ORDER+=(nagle-analyze)
if command -v tcptrace >/dev/null; then run tcptrace tcptrace -lr "$CAP" && ORDER+=(tcptrace); fi
if command -v tshark >/dev/null; then
    # tshark is slow: one run is enough.
    RUNS=1 run tshark tshark -q -z conv,tcp -r "$CAP" && ORDER+=(tshark)
fi

FLOOR=${WALL[libpcap]:-}
echo
printf '%-15s %9s %12s %10s %10s\n' tool wall_s packets/s x_libpcap peak_RSS_MB
for n in "${ORDER[@]}"; do
    w=${WALL[$n]:-}
    [[ -z "$w" ]] && continue
    awk -v n="$n" -v w="$w" -v p="$PACKETS" -v f="$FLOOR" -v r="${RSS[$n]}" 'BEGIN{
        pps = (w > 0) ? sprintf("%.2fM", p / w / 1e6) : "-";
        x = (f > 0) ? sprintf("%.2f", w / f) : "-";
        printf "%-15s %9.3f %12s %10s %10.1f\n", n, w, pps, x, r / 1024 }'
done
if [[ -n "${WALL[tshark]:-}" && -n "${WALL[nagle-analyze]:-}" ]]; then
    awk -v a="${WALL[tshark]}" -v b="${WALL[nagle-analyze]}" 'BEGIN{printf "nagle-analyze is %.1fx faster than tshark -z conv,tcp\n", a / b}'
fi
FLOWS_OUT=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(len(r['flows']), r['captures'][0]['tcp_segments'])" "$OUT/nagle-analyze.out" 2>/dev/null || echo "? ?")
echo "nagle-analyze: flows, tcp segments reported: $FLOWS_OUT"

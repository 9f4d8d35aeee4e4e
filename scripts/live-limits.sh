#!/usr/bin/env bash
# Limits of a long live run (issue 19), measured on this machine:
#  1. peak RSS and wall time of a 1,000,000-SYN flood (distinct sources,
#     never any data) analyzed at the default limits (--max-flows 100000),
#     against the same flood with no eviction and tcpdump's read floor;
#  2. the packet rate live capture sustains without kernel drops: a
#     capture made by the test kit's simulator is replayed with
#     `tcpreplay --pps R` into one end of a veth pair (two network
#     namespaces) while `nagle-analyze -i` captures the other end; the
#     same for `tcpdump -w /dev/null` as the reference. For each rate the
#     libpcap counters (received / dropped) are printed;
#  3. flat memory over a long run: peak RSS of a stream (standard input,
#     read as a live capture reads) of CHURN and then 4 x CHURN frames of
#     successive short connections (20 open at once, `nagle-testkit synth
#     --mix 1:0`), which must not grow with the run's length.
# Needs root, tcpreplay (apt-get install tcpreplay), tcpdump, /usr/bin/time.
# Parameters (environment):
#   FLOOD=1000000           SYNs in the flood
#   RATES="20000 50000 100000 200000 400000"   packets/s tried
#   PACKETS=200000          packets replayed per rate
#   OUT=out/live-limits     work directory
#   SKIP_FLOOD=1            only the live rate
#   CHURN=500000            frames of the shorter long-run stream (SKIP_CHURN=1 skips it)
#   SNAPLEN=N               nagle-analyze --snaplen N (default 65535)
#   SKIP_BUILD=1            use the existing target/release binaries
set -euo pipefail
cd "$(dirname "$0")/.."
FLOOD=${FLOOD:-1000000}
RATES=${RATES:-20000 50000 100000 200000 400000}
PACKETS=${PACKETS:-200000}
OUT=${OUT:-out/live-limits}
BIN=$PWD/target/release/nagle-analyze
GEN=$PWD/target/release/nagle-testkit
for t in tcpreplay tcpdump /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "live-limits: $t missing" >&2; exit 1; }
done
[[ $(id -u) == 0 ]] || { echo "live-limits: needs root (namespaces, capture)" >&2; exit 1; }
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    cargo build --release --quiet -p nagle-analyze -p nagle-testkit
fi
mkdir -p "$OUT"
echo "== machine: $(uname -srm), $(nproc) cores; date $(date -u +%Y-%m-%dT%H:%M:%SZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

# 1. The SYN flood (SKIP_FLOOD=1 skips it).
if [[ "${SKIP_FLOOD:-0}" != 1 ]]; then
python3 scripts/syn-flood.py "$OUT/flood.pcap" "$FLOOD"
/usr/bin/time -v -o "$OUT/time.txt" "$BIN" --format csv "$OUT/flood.pcap" -o /dev/null 2>/dev/null
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$OUT/time.txt")
echo "== SYN flood: $FLOOD SYNs, default limits: peak RSS $((rss / 1024)) MB, wall $wall"
# Eviction's share: the same flood with a table large enough to evict
# nothing (memory then grows with the flood), and the libpcap read floor.
/usr/bin/time -v -o "$OUT/time.txt" "$BIN" --format csv --max-flows $((FLOOD + 1)) \
    "$OUT/flood.pcap" -o /dev/null 2>/dev/null
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$OUT/time.txt")
/usr/bin/time -v -o "$OUT/time.txt" tcpdump -r "$OUT/flood.pcap" -w /dev/null 2>/dev/null
floor=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$OUT/time.txt")
echo "== SYN flood without eviction (--max-flows $((FLOOD + 1))): wall $wall; tcpdump -r: wall $floor"
rm -f "$OUT/flood.pcap"
fi

# 3. Flat memory over a long run (SKIP_CHURN=1 skips it).
if [[ "${SKIP_CHURN:-0}" != 1 ]]; then
CHURN=${CHURN:-500000}
for n in "$CHURN" $((4 * CHURN)); do
    "$GEN" synth -o /dev/stdout --format pcap --packets "$n" --flows 20 --mix 1:0 \
        --rtt 0.2ms --seed 1 2>"$OUT/churn.txt" |
        /usr/bin/time -f %M -o "$OUT/time.txt" "$BIN" --format json - -o "$OUT/churn.json" 2>/dev/null
    conns=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['flows']))" "$OUT/churn.json")
    echo "== long run: $n frames, $conns successive connections (20 at once): peak RSS $(( $(cat "$OUT/time.txt") / 1024 )) MB"
done
fi

# 2. Live drop-free rate.
"$GEN" synth --out "$OUT/replay.pcap" --format pcap --packets "$PACKETS" --flows 200 \
    --mix 3:1 --rtt 0.2ms,40ms --seed 1 >/dev/null
A=nllA$$; B=nllB$$
cleanup() { ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$A"; ip netns add "$B"
ip link add vra netns "$A" type veth peer name vrb netns "$B"
ip -n "$A" link set vra up; ip -n "$B" link set vrb up

# run TOOL RATE: replay at RATE into vra, TOOL captures vrb; prints received dropped
run() {
    local tool=$1 rate=$2
    case $tool in
    nagle-analyze)
        ip netns exec "$B" "$BIN" -i vrb ${SNAPLEN:+--snaplen $SNAPLEN} --format json -o "$OUT/live.json" 2>/dev/null &
        ;;
    tcpdump)
        ip netns exec "$B" tcpdump -i vrb -B 32768 -s 65535 -w /dev/null 2>"$OUT/tcpdump.txt" &
        ;;
    esac
    local pid=$!
    sleep 1.5
    ip netns exec "$A" tcpreplay -q -i vra --pps "$rate" "$OUT/replay.pcap" >/dev/null 2>&1
    sleep 1
    kill -INT "$pid"; wait "$pid" || true
    case $tool in
    nagle-analyze)
        python3 -c "import json,sys; l=json.load(open(sys.argv[1]))['captures'][0]['live']; print(l['received'], l['dropped'])" "$OUT/live.json"
        ;;
    tcpdump)
        awk '/received by filter/ {r=$1} /dropped by kernel/ {d=$1} END {print r, d}' "$OUT/tcpdump.txt"
        ;;
    esac
}
printf '%-14s %10s %10s %10s\n' tool pps received dropped
for rate in $RATES; do
    for tool in nagle-analyze tcpdump; do
        read -r rec drop <<<"$(run "$tool" "$rate")"
        printf '%-14s %10s %10s %10s\n' "$tool" "$rate" "$rec" "$drop"
    done
done

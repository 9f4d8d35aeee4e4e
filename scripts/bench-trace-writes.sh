#!/usr/bin/env bash
# The cost of --trace-writes to the programs it watches: nanoseconds per
# send call of a send-heavy load (`nagle-testkit sendload`: 16-byte writes
# with TCP_NODELAY on a loopback connection, one core busy writing) with
#   1. nothing watching,
#   2. nagle-analyze capturing on lo (snaplen 128),
#   3. the same with --trace-writes,
#   4. the tracer alone: --trace-writes with a capture filter that matches
#      nothing (the BPF programs run at every send; the tool sits idle),
# and the send calls the tracer recorded and lost at that rate. Root only.
# On 2 cores, columns 2 and 3 include the capturing tool's competition for
# the CPU; column 4 is the programs' own cost.
# Three rounds; compare columns within a round (the machine's speed varies
# between runs). WRITES=N sets the load size (default 300000).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-trace-writes: needs root (live capture, BPF)" >&2; exit 2; }
cargo build --release -q --workspace
bin=./target/release/nagle-analyze
kit=./target/release/nagle-testkit
n=${WRITES:-300000}
port=5899
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
load() {
  "$kit" sendload --writes "$n" --port "$port" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["ns_per_write"])'
}
watched() { # $1: report file; the rest: extra options
  local out=$1 filter=$2; shift 2
  "$bin" -i lo --snaplen 128 --filter "$filter" --format json -o "$out" "$@" 2>"$tmp/err" &
  local pid=$!
  sleep 2
  local ns; ns=$(load)
  sleep 1
  kill -INT "$pid"; wait "$pid" || true
  echo "$ns"
}
printf '%-6s %10s %11s %10s %7s %12s %7s %9s %6s\n' round "alone ns" "capture ns" "+trace ns" ratio "tracer ns" ratio recorded lost
for round in 1 2 3; do
  alone=$(load)
  cap=$(watched "$tmp/c.json" "tcp port $port")
  trace=$(watched "$tmp/t.json" "tcp port $port" --trace-writes)
  only=$(watched "$tmp/o.json" "tcp port 1" --trace-writes)
  if grep -q -- '--trace-writes:' "$tmp/err"; then cat "$tmp/err" >&2; exit 1; fi
  read -r rec lost < <(python3 -c '
import json,sys
k = json.load(open(sys.argv[1]))["captures"][0]["live"]["kernel_writes"]
print(k["recorded"], k["lost"])' "$tmp/t.json")
  ratio=$(python3 -c "print(f'{$trace / $cap:.3f}')")
  ratio_only=$(python3 -c "print(f'{$only / $alone:.3f}')")
  printf '%-6s %10s %11s %10s %7s %12s %7s %9s %6s\n' "$round" "$alone" "$cap" "$trace" "$ratio" "$only" "$ratio_only" "$rec" "$lost"
done

#!/usr/bin/env bash
# Set up on a fresh Debian/Ubuntu machine and run the main job on a bundled
# example capture: installs libpcap-dev and pkg-config when missing (needs
# root or sudo), builds the release binary, and analyzes a real kernel TCP
# capture (4-byte writes every 1 ms over a 20 ms path, Nagle on) with the
# sender's own write log.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for pkg in libpcap-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

cargo build --release --quiet
example=fixtures/lab/nagle-on-rtt20-int1
./target/release/nagle-analyze "$example/capture.pcap" --writes "$example/writes.jsonl" "$@"

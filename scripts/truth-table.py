#!/usr/bin/env python3
"""Summarise a truth grid (scripts/truth-grid.sh) against its ground truth.

    scripts/truth-table.py DIR [--bin target/release/nagle-analyze]

For every run directory under DIR (one with a lab.json), the analyzer runs
(`--format json`) on the sender-side capture (capture.pcap) and the
receiver-side one (capture-receiver.pcap), each with and without the run's
write log, and a Markdown table is printed, one row per run:

- nagle: the truth from lab.json (on, or off with TCP_NODELAY; +cork).
- verdict snd / rcv: the verdict of the sender's direction at each end,
  without the write log / with it.
- w/seg: writes per segment: the truth (write calls from the log / data
  segments the lab counted at the sender) and the analyzer's mean at each
  end without the log ("-": no write unit inferred).
- w->wire ms: median write-to-wire delay with the log: at the sender (the
  truth: sender timestamps are when segments left) and at the receiver, with
  the receiver's error against the sender.
- stalls: Nagle/delayed-ACK stalls (count/total ms, with the log) at each
  end; for write-write-read runs, "client saves" is what the client measured:
  the sum of request latencies (requests.jsonl) minus that of the
  TCP_NODELAY twin run (same RTT).

Only the standard library. Exit status 1 when no run was found.
"""
import argparse
import json
import os
import re
import subprocess
import sys

SENDER = "10.77.0.1:"


def analyze(binary, pcap, writes=None):
    """The sender's direction of the busiest flow in the report, or None."""
    if not os.path.exists(pcap):
        return None
    cmd = [binary, "--format", "json", pcap]
    if writes:
        cmd += ["--writes", writes]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0 or not p.stdout.strip():
        return None
    report = json.loads(p.stdout)
    best = None
    for f in report.get("flows", []):
        for d in f.get("directions", []):
            if d.get("from", "").startswith(SENDER):
                if best is None or d.get("data_segments", 0) > best.get("data_segments", 0):
                    best = d
    return best


def get(d, *path):
    for k in path:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def latency_sum(run_dir):
    path = os.path.join(run_dir, "requests.jsonl")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return sum(json.loads(line)["latency_ms"] for line in f if line.strip())


def truth_of(lab):
    req = lab.get("requested", {})
    t = "off" if req.get("nodelay") else "on"
    return t + ("+cork" if req.get("cork") else "")


def stall(d):
    if d is None or d.get("stalls") is None:
        return "-"
    return f"{d['stalls']['count']}/{d['stalls']['total_ms']:.0f}"


def row(binary, root, name):
    run_dir = os.path.join(root, name)
    with open(os.path.join(run_dir, "lab.json")) as f:
        lab = json.load(f)
    writes = os.path.join(run_dir, "writes.jsonl")
    snd_pcap = os.path.join(run_dir, "capture.pcap")
    rcv_pcap = os.path.join(run_dir, "capture-receiver.pcap")
    snd, snd_log = analyze(binary, snd_pcap), analyze(binary, snd_pcap, writes)
    rcv, rcv_log = analyze(binary, rcv_pcap), analyze(binary, rcv_pcap, writes)
    caps = {c.get("side"): c for c in lab.get("captures", [lab.get("capture", {})])}
    segs = get(caps, "sender", "sender_data_segments")
    calls = get(lab, "counts", "write_calls")
    truth_wps = calls / segs if calls and segs else None
    wd_s = get(snd_log, "write_delay_ms", "median")
    wd_r = get(rcv_log, "write_delay_ms", "median")
    err = "-"
    if wd_s is not None and wd_r is not None:
        # A percentage of a near-zero truth says nothing: below 1 ms, the difference.
        err = f"{(wd_r - wd_s) / wd_s * 100:+.0f}%" if wd_s >= 1.0 else f"{wd_r - wd_s:+.1f}ms"
    verdict = lambda a, b: f"{get(a, 'nagle', 'verdict') or '-'}/{get(b, 'nagle', 'verdict') or '-'}"
    saves = "-"
    if name.endswith("-nagle") and name.startswith("wwr-"):
        mine = latency_sum(run_dir)
        twin = latency_sum(os.path.join(root, name[: -len("nagle")] + "nodelay"))
        if mine is not None and twin is not None:
            saves = f"{mine - twin:.0f}"
    dl = get(lab, "path", "delay_line") or []
    late = max((x.get("late_us_p99", 0) for x in dl), default=None)
    drops = sum(get(c, "stats", "dropped") or 0 for c in caps.values())
    lost = sum(x.get("lost", 0) for x in dl)
    return [
        name,
        truth_of(lab),
        verdict(snd, snd_log),
        verdict(rcv, rcv_log),
        fmt(truth_wps, 2),
        fmt(get(snd, "writes_per_segment", "mean"), 2),
        fmt(get(rcv, "writes_per_segment", "mean"), 2),
        fmt(wd_s),
        fmt(wd_r),
        err,
        stall(snd_log),
        stall(rcv_log),
        saves,
        f"{late:.0f}" if late is not None else "-",
        f"{lost}/{drops}",
    ]


def natural(name):
    """Sort key: numbers as numbers (rtt1 < rtt40 < rtt200, int0.1 < int1)."""
    return [(0, float(p), "") if re.fullmatch(r"[0-9.]+", p) else (1, 0.0, p)
            for p in re.findall(r"[0-9]+(?:\.[0-9]+)?|[^0-9]+", name)]


HEAD = [
    "run", "nagle", "verdict snd", "verdict rcv", "w/seg truth", "w/seg snd",
    "w/seg rcv", "w->wire snd ms", "w->wire rcv ms", "rcv err", "stalls snd",
    "stalls rcv", "client saves ms", "late p99 us", "lost/pcap drop",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--bin", default="target/release/nagle-analyze")
    a = ap.parse_args()
    names = sorted(
        (n for n in os.listdir(a.dir) if os.path.exists(os.path.join(a.dir, n, "lab.json"))),
        key=natural,
    )
    if not names:
        print(f"truth-table: no run (no */lab.json) under {a.dir}", file=sys.stderr)
        return 1
    print("| " + " | ".join(HEAD) + " |")
    print("|" + "---|" * len(HEAD))
    for n in names:
        print("| " + " | ".join(row(a.bin, a.dir, n)) + " |")
    print()
    print("verdict: without the write log / with it; stalls: count/total ms with the log;")
    print("late p99: worst per-direction p99 lateness of the delay line; lost: dropped by --loss;")
    print("pcap drop: packets libpcap dropped (both captures).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

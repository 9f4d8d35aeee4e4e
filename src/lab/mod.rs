//! The lab: reproduce the Nagle experiment with real kernel TCP, so that
//! every figure the analyzer prints can be checked against the sender's own
//! record.
//!
//! One run ([`run_one`]): two fresh network namespaces ([`netns`]) joined by
//! a path with the requested RTT and optional random loss ([`delay`]: netem
//! when the kernel has it, else a user-space TUN delay line), the achieved RTT measured by ping and by
//! the TCP handshake ([`measure`]), a live libpcap capture on the sender's
//! interface saved to `capture.pcap` and/or on the receiver's saved to
//! `capture-receiver.pcap` ([`tap`], `--capture-at`), a paced sender
//! logging every write call to `writes.jsonl` (and, in request/response
//! mode, every request's latency to `requests.jsonl`) and a discard or
//! request/response receiver ([`traffic`]); then the analyzer runs on each
//! capture with the write log (`report.json`, `report-receiver.json`) and
//! the settings, requested and achieved, go to `lab.json`. Several RTTs and/or intervals make a sweep
//! ([`sweep`]): one subdirectory per run plus `sweep.csv` and `sweep.json`.
//!
//! Everything runs as threads of this process: each thread that needs a
//! namespace enters it with `setns` before opening its socket, TUN device or
//! capture. Namespaces are deleted by drop guards on every exit path, and by
//! the Ctrl-C handler on a forced exit.
//!
//! What it does not do: it does not draw charts (the charts module does) and
//! it never sends traffic outside the namespaces it created.

pub mod delay;
pub mod measure;
pub mod netns;
pub mod sweep;
pub mod tap;
pub mod traffic;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::json;

use delay::{RECEIVER_ADDR, SENDER_ADDR};
use netns::{Netns, STOP};
use traffic::TrafficSpec;

/// Parse `40ms`, `0.5ms`, `200us`, `1s`, `1.5s`, `500ns` (a bare number is ms).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mul) = if let Some(n) = s.strip_suffix("ns") {
        (n, 1e-9)
    } else if let Some(n) = s.strip_suffix("us").or_else(|| s.strip_suffix("µs")) {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1e-3)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {s:?} (e.g. 40ms, 0.5ms, 200us, 1s)"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("not a duration: {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * mul))
}

/// Parse a byte count: `65536`, `64k`, `4m`.
pub fn parse_bytes(s: &str) -> Result<u32, String> {
    let l = s.trim().to_lowercase();
    let (n, m) = if let Some(n) = l.strip_suffix('k') {
        (n, 1024)
    } else if let Some(n) = l.strip_suffix('m') {
        (n, 1024 * 1024)
    } else {
        (l.as_str(), 1)
    };
    n.parse::<u32>()
        .ok()
        .and_then(|v| v.checked_mul(m))
        .ok_or_else(|| format!("not a byte count: {s:?}"))
}

/// Parse a probability in [0, 1].
pub fn parse_probability(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("not a probability in [0, 1]: {s:?}")),
    }
}

/// Short human form of a duration for directory names and tables: `40ms`, `0.5ms`.
pub fn fmt_ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    let s = format!("{ms:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}ms")
}

/// `nagle-analyze lab`: run the Nagle experiment in network namespaces.
#[derive(Debug, Clone, clap::Args)]
pub struct LabArgs {
    /// Round-trip time of the emulated path; repeat or comma-separate for a sweep.
    #[arg(long, value_delimiter = ',', value_parser = parse_duration, default_value = "40ms")]
    pub rtt: Vec<Duration>,
    /// Time between writes (between requests with --mode reqresp); comma list for a sweep.
    #[arg(long = "interval", visible_alias = "intervals", value_delimiter = ',',
          value_parser = parse_duration, default_value = "1ms")]
    pub intervals: Vec<Duration>,
    /// Number of write calls.
    #[arg(long, default_value_t = 1000)]
    pub writes: u64,
    /// Bytes per write call.
    #[arg(long, default_value_t = 4)]
    pub size: usize,
    /// Set TCP_NODELAY on the sender (Nagle off).
    #[arg(long)]
    pub nodelay: bool,
    /// Set TCP_CORK on the sender for the whole run (released at the end).
    #[arg(long)]
    pub cork: bool,
    /// Set TCP_QUICKACK on both ends, again after every read (it is not sticky).
    #[arg(long)]
    pub quickack: bool,
    /// SO_SNDBUF of the sender, bytes (k/m suffix ok), set before connect.
    #[arg(long, value_parser = parse_bytes)]
    pub sndbuf: Option<u32>,
    /// SO_RCVBUF of both ends, bytes (k/m suffix ok), set before connect/listen.
    #[arg(long, value_parser = parse_bytes)]
    pub rcvbuf: Option<u32>,
    /// discard: the receiver reads and drops; reqresp: write-write-read requests.
    #[arg(long, default_value = "discard", value_parser = ["discard", "reqresp"])]
    pub mode: String,
    /// Reply size of the receiver in reqresp mode, bytes.
    #[arg(long, default_value_t = 64)]
    pub reply_size: usize,
    /// Receiver's think time before each reply in reqresp mode.
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    pub think_time: Duration,
    /// Where to capture: the sender's interface (capture.pcap), the
    /// receiver's (capture-receiver.pcap), or both ends of the same flow.
    #[arg(long, value_enum, default_value_t = tap::CaptureAt::Sender)]
    pub capture_at: tap::CaptureAt,
    /// Drop each packet on the path (both directions) with this probability, 0..1.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    pub loss: f64,
    /// Seed of the path's packet loss (same seed, same drop pattern).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory.
    #[arg(long, default_value = "lab-out")]
    pub out: PathBuf,
    /// RTT emulation: auto (netem if the kernel has it, else tun), netem, tun.
    #[arg(long, default_value = "auto", value_parser = ["auto", "netem", "tun"], hide = true)]
    pub delay_method: String,
    /// TCP port of the receiver.
    #[arg(long, default_value_t = 5001, hide = true)]
    pub port: u16,
}

/// Run the experiment (one run, or a sweep over `--rtt` × `--interval`).
pub fn run(args: &LabArgs) -> anyhow::Result<()> {
    netns::require_root()?;
    netns::install_ctrlc();
    if args.writes == 0 {
        bail!("--writes must be at least 1");
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let runs: Vec<(Duration, Duration)> = args
        .rtt
        .iter()
        .flat_map(|r| args.intervals.iter().map(move |i| (*r, *i)))
        .collect();
    if runs.len() == 1 {
        let (rtt, iv) = runs[0];
        run_one(args, rtt, iv, &args.out)?;
        let row = sweep::row_from_dir(&args.out, rtt, iv, args);
        sweep::print_table(&[row]);
        return interrupted(&args.out);
    }
    let mut rows = Vec::new();
    for (rtt, iv) in runs {
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        let dir = args
            .out
            .join(format!("rtt{}_int{}", fmt_ms(rtt), fmt_ms(iv)));
        eprintln!("lab: run {}", dir.display());
        if let Err(e) = run_one(args, rtt, iv, &dir) {
            eprintln!("lab: run {} failed: {e:#}", dir.display());
        }
        rows.push(sweep::row_from_dir(&dir, rtt, iv, args));
    }
    sweep::write(&args.out, &rows)?;
    sweep::print_table(&rows);
    interrupted(&args.out)
}

/// After Ctrl-C the partial results are written; still exit with an error.
fn interrupted(out: &Path) -> anyhow::Result<()> {
    if STOP.load(Ordering::Relaxed) {
        bail!(
            "interrupted: partial results are in {} (lab.json: achieved.stopped_early)",
            out.display()
        );
    }
    Ok(())
}

/// What the live parts of a run produced (namespaces already gone).
struct RunData {
    ping_ms: Vec<f64>,
    path: delay::PathInfo,
    delay_stats: Vec<delay::DirectionStats>,
    sender: traffic::SenderResult,
    receiver: traffic::ReceiverResult,
    /// The captures taken, sender side first.
    taken: Vec<tap::Taken>,
    sysctls: serde_json::Value,
}

impl RunData {
    /// The capture the lab's own counts come from: the sender side when it
    /// was taken, else the receiver side.
    fn primary(&self) -> &tap::Taken {
        &self.taken[0]
    }
}

fn spec_of(args: &LabArgs, interval: Duration) -> TrafficSpec {
    TrafficSpec {
        writes: args.writes,
        size: args.size,
        interval_ns: interval.as_nanos() as u64,
        nodelay: args.nodelay,
        cork: args.cork,
        quickack: args.quickack,
        sndbuf: args.sndbuf,
        rcvbuf: args.rcvbuf,
        mode: args.mode.clone(),
        reply_size: args.reply_size,
        think_time_ns: args.think_time.as_nanos() as u64,
        port: args.port,
    }
}

/// The sysctls that shape the flow, read in the sender's namespace.
fn read_sysctls(snd: &Netns) -> serde_json::Value {
    let mut sysctls = serde_json::Map::new();
    for k in [
        "net.ipv4.tcp_autocorking",
        "net.ipv4.tcp_congestion_control",
        "net.ipv4.tcp_timestamps",
        "net.ipv4.tcp_sack",
        "net.ipv4.tcp_wmem",
        "net.ipv4.tcp_rmem",
    ] {
        if let Ok(v) = snd.exec(&["sysctl", "-n", k]) {
            sysctls.insert(k.into(), json!(v.trim()));
        }
    }
    serde_json::Value::Object(sysctls)
}

/// Start a tap on every side `args.capture_at` asks for; on an error the
/// taps already started are stopped.
fn start_taps(
    args: &LabArgs,
    snd: &Netns,
    rcv: &Netns,
    dir: &Path,
    abort: &Arc<AtomicBool>,
) -> anyhow::Result<Vec<tap::Tap>> {
    let mut taps = Vec::new();
    for side in args.capture_at.sides() {
        let ns = match side {
            tap::Side::Sender => &snd.name,
            tap::Side::Receiver => &rcv.name,
        };
        match tap::Tap::start(*side, ns, dir, abort.clone()) {
            Ok(t) => taps.push(t),
            Err(e) => {
                abort.store(true, Ordering::SeqCst);
                for t in taps {
                    let _ = t.finish();
                }
                return Err(e);
            }
        }
    }
    Ok(taps)
}

/// Run the receiver and the sender to the end of the traffic.
fn run_traffic(
    spec: &TrafficSpec,
    snd: &Netns,
    rcv: &Netns,
    abort: &Arc<AtomicBool>,
) -> anyhow::Result<(traffic::SenderResult, traffic::ReceiverResult)> {
    let (rtx, rrx) = mpsc::channel();
    let rcv_thread = {
        let spec = spec.clone();
        let abort = abort.clone();
        netns::spawn_in("lab-receiver", &rcv.name, move || {
            traffic::run_receiver(&spec, RECEIVER_ADDR, rtx, &abort)
        })
    };
    if rrx.recv_timeout(Duration::from_secs(5)).is_err() {
        abort.store(true, Ordering::SeqCst);
        return netns::join(rcv_thread, "receiver").and_then(|_| bail!("receiver did not start"));
    }
    let snd_thread = {
        let spec = spec.clone();
        netns::spawn_in("lab-sender", &snd.name, move || {
            traffic::run_sender(&spec, RECEIVER_ADDR)
        })
    };
    let sender = netns::join(snd_thread, "sender");
    if sender.is_err() {
        abort.store(true, Ordering::SeqCst);
    }
    let receiver = netns::join(rcv_thread, "receiver");
    Ok((sender?, receiver?))
}

/// The part of a run that needs the namespaces. They are deleted when this
/// returns, whichever way.
fn live_part(
    args: &LabArgs,
    rtt: Duration,
    interval: Duration,
    dir: &Path,
) -> anyhow::Result<RunData> {
    let snd = Netns::create("snd")?;
    let rcv = Netns::create("rcv")?;
    let loss = delay::Loss {
        probability: args.loss,
        seed: args.seed,
    };
    let path = delay::build(&snd, &rcv, rtt, &args.delay_method, loss)?;
    let sysctls = read_sysctls(&snd);

    // Achieved RTT, before any TCP traffic: 20 pings 10 ms apart (the first
    // one warms up; all are reported).
    let ping_ms = measure::ping(&snd, RECEIVER_ADDR, 20, 10.0).unwrap_or_else(|e| {
        eprintln!("lab: warning: ping failed: {e:#}");
        Vec::new()
    });

    let abort = Arc::new(AtomicBool::new(false));
    let taps = start_taps(args, &snd, &rcv, dir, &abort)?;
    let traffic = run_traffic(&spec_of(args, interval), &snd, &rcv, &abort);
    // Let the last ACKs and FINs cross the path and reach the captures.
    if traffic.is_ok() {
        std::thread::sleep(rtt + Duration::from_millis(150));
    }
    abort.store(true, Ordering::SeqCst);
    let taken: Vec<anyhow::Result<tap::Taken>> = taps.into_iter().map(tap::Tap::finish).collect();
    let path_info = path.info.clone();
    let delay_stats = path.finish();
    let (sender, receiver) = traffic?;
    Ok(RunData {
        ping_ms,
        path: path_info,
        delay_stats,
        sender,
        receiver,
        taken: taken.into_iter().collect::<anyhow::Result<_>>()?,
        sysctls,
    })
}

fn kernel() -> String {
    netns::sh(&["uname", "-srvm"])
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn now_utc() -> String {
    netns::sh(&["date", "-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Write `writes.jsonl` (one line per write call) and, for `reqresp`,
/// `requests.jsonl` (one line per request, with its latency).
fn write_logs(dir: &Path, d: &RunData, reqresp: bool) -> anyhow::Result<()> {
    let writes: Vec<String> = d
        .sender
        .log
        .iter()
        .map(|r| {
            format!(
                "{{\"t\":{:.9},\"bytes\":{},\"ret\":{}}}",
                r.t, r.bytes, r.ret
            )
        })
        .collect();
    write_lines(&dir.join("writes.jsonl"), &writes)?;
    if reqresp {
        let requests: Vec<String> = d
            .sender
            .requests
            .iter()
            .map(|r| {
                format!(
                    "{{\"t\":{:.9},\"latency_ms\":{:.6},\"bytes\":{},\"reply_bytes\":{}}}",
                    r.t, r.latency_ms, r.bytes, r.reply_bytes
                )
            })
            .collect();
        write_lines(&dir.join("requests.jsonl"), &requests)?;
    }
    Ok(())
}

fn write_lines(path: &Path, lines: &[String]) -> anyhow::Result<()> {
    let f =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = std::io::BufWriter::new(f);
    for l in lines {
        writeln!(w, "{l}")?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The settings asked for, as `lab.json` records them.
fn requested_json(args: &LabArgs, rtt: Duration, interval: Duration) -> serde_json::Value {
    json!({
        "rtt_ms": rtt.as_secs_f64() * 1000.0,
        "interval_ms": interval.as_secs_f64() * 1000.0,
        "writes": args.writes,
        "size": args.size,
        "nodelay": args.nodelay,
        "cork": args.cork,
        "quickack": args.quickack,
        "sndbuf": args.sndbuf,
        "rcvbuf": args.rcvbuf,
        "mode": args.mode,
        "reply_size": args.reply_size,
        "think_time_ms": args.think_time.as_secs_f64() * 1000.0,
        "capture_at": args.capture_at,
        "loss": args.loss,
        "seed": args.seed,
    })
}

/// What was achieved: RTT, write pacing, request latencies.
fn achieved_json(d: &RunData, rtt_ms: f64) -> serde_json::Value {
    let ping = measure::summarize(&d.ping_ms);
    let gaps: Vec<f64> = d
        .sender
        .log
        .windows(2)
        .map(|w| (w[1].t - w[0].t) * 1000.0)
        .collect();
    let latencies: Vec<f64> = d.sender.requests.iter().map(|r| r.latency_ms).collect();
    json!({
        "rtt_ping_ms": ping,
        "rtt_ping_samples_ms": d.ping_ms,
        "rtt_handshake_ms": d.sender.handshake_ms,
        "rtt_error_ms": ping.as_ref().map(|p| p.median - rtt_ms),
        "write_gap_ms": measure::summarize(&gaps),
        "request_latency_ms": measure::summarize(&latencies),
        "request_latency_total_ms": latencies.iter().sum::<f64>(),
        "stopped_early": d.sender.stopped_early,
        "sender_sched_fifo": d.sender.realtime,
    })
}

/// `lab.json`: requested and achieved settings, the path, the captures and
/// the lab's own counts. `capture` is the primary capture (see
/// [`RunData::primary`]); `captures` lists every capture taken.
fn lab_json(
    args: &LabArgs,
    rtt: Duration,
    interval: Duration,
    d: &RunData,
    started: String,
) -> serde_json::Value {
    let p = d.primary();
    let mut counts = json!({
        "write_calls": d.sender.log.len(),
        "bytes_written": d.sender.bytes_written,
        "bytes_received": d.receiver.bytes_received,
        "replies": d.receiver.replies,
        "requests": d.sender.requests.len(),
        "sender_data_segments": p.segs.len(),
        "sender_payload_bytes": p.payload_bytes(),
    });
    if let Some(r) = d.taken.iter().find(|t| t.side == tap::Side::Receiver) {
        counts["receiver_side_data_segments"] = json!(r.segs.len());
        counts["receiver_side_payload_bytes"] = json!(r.payload_bytes());
    }
    json!({
        "tool": crate::report::TOOL,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "date": started,
        "kernel": kernel(),
        "requested": requested_json(args, rtt, interval),
        "achieved": achieved_json(d, rtt.as_secs_f64() * 1000.0),
        "path": {
            "method": d.path.method,
            "one_way_delay_ms": d.path.one_way_delay_ms,
            "interface": d.path.interface,
            "addresses": { "sender": SENDER_ADDR, "receiver": RECEIVER_ADDR },
            "offloads": d.path.offloads,
            "loss": d.path.loss,
            "delay_line": d.delay_stats.iter().take(2).collect::<Vec<_>>(),
        },
        "socket": d.sender.sockopts,
        "sysctls": d.sysctls,
        "capture_at": args.capture_at,
        "capture": p.to_json(),
        "captures": d.taken.iter().map(tap::Taken::to_json).collect::<Vec<_>>(),
        "counts": counts,
        // The lab's own rough reading of the primary capture, a cross-check
        // for the analyzer (not the analysis): data segments from the
        // sender, those carrying more than one write's bytes, write calls
        // per segment, and the time between data segments.
        "capture_check": {
            "data_segments": p.segs.len(),
            "segments_larger_than_one_write": p.segs.iter().filter(|s| s.1 > args.size).count(),
            "writes_per_segment": if p.segs.is_empty() { None } else { Some(d.sender.log.len() as f64 / p.segs.len() as f64) },
            "send_interval_ms": measure::summarize(&p.segs.windows(2).map(|w| (w[1].0 - w[0].0) as f64 / 1e6).collect::<Vec<_>>()),
        },
    })
}

/// One experiment into `dir`: the capture(s), writes.jsonl, requests.jsonl
/// (reqresp), lab.json, report.json (and report-receiver.json).
pub fn run_one(
    args: &LabArgs,
    rtt: Duration,
    interval: Duration,
    dir: &Path,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for f in [
        "capture.pcap",
        "capture-receiver.pcap",
        "writes.jsonl",
        "requests.jsonl",
        "lab.json",
        "report.json",
        "report-receiver.json",
    ] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let started = now_utc();
    let d = live_part(args, rtt, interval, dir)?;
    write_logs(dir, &d, args.mode == "reqresp")?;
    let mut lab = lab_json(args, rtt, interval, &d, started);
    for t in &d.taken {
        if t.stats.dropped > 0 || t.stats.if_dropped > 0 {
            eprintln!(
                "lab: WARNING: the kernel dropped {} packets during the {:?}-side capture",
                t.stats.dropped + t.stats.if_dropped,
                t.side
            );
        }
    }

    // The analysis of each capture with the write log applied.
    let mut status = serde_json::Map::new();
    let primary = d.primary().side;
    for t in &d.taken {
        let r = analyze(
            &t.file,
            &dir.join("writes.jsonl"),
            &dir.join(t.side.report_name(primary)),
        );
        if let Err(e) = &r {
            eprintln!("lab: warning: no {}: {e:#}", t.side.report_name(primary));
        }
        status.insert(
            t.side.report_name(primary).into(),
            match r {
                Ok(()) => json!("ok"),
                Err(e) => json!(format!("failed: {e:#}")),
            },
        );
    }
    // `analysis`: the primary capture's outcome, as before; per file beside it.
    lab["analysis"] = status
        .get("report.json")
        .cloned()
        .unwrap_or(json!("not run"));
    lab["analyses"] = serde_json::Value::Object(status);
    let lab_path = dir.join("lab.json");
    std::fs::write(&lab_path, serde_json::to_string_pretty(&lab)? + "\n")
        .with_context(|| format!("cannot write {}", lab_path.display()))?;
    eprintln!(
        "lab: rtt {} (ping median {}), interval {}, {} writes, {} data segments captured -> {}",
        fmt_ms(rtt),
        measure::summarize(&d.ping_ms).map_or("-".into(), |p| format!("{:.3}ms", p.median)),
        fmt_ms(interval),
        d.sender.log.len(),
        d.primary().segs.len(),
        dir.display()
    );
    Ok(())
}

/// Run the analyzer on the capture with the write log; a panic in the
/// analysis (e.g. a stage not implemented yet) becomes an error.
fn analyze(pcap: &Path, writes: &Path, out: &Path) -> anyhow::Result<()> {
    let cfg = crate::pipeline::Config {
        writes_log: Some(writes.to_path_buf()),
        ..Default::default()
    };
    let paths = [pcap.to_string_lossy().into_owned()];
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(|| crate::pipeline::analyze_files(&paths, &cfg));
    std::panic::set_hook(prev);
    let report = match r {
        Ok(r) => r?,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            bail!("the analysis panicked: {msg}");
        }
    };
    std::fs::write(out, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("40ms"), Ok(Duration::from_millis(40)));
        assert_eq!(parse_duration("0.5ms"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("200us"), Ok(Duration::from_micros(200)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_millis(2)));
        assert!(parse_duration("fast").is_err());
        assert_eq!(fmt_ms(Duration::from_micros(500)), "0.5ms");
        assert_eq!(fmt_ms(Duration::from_millis(40)), "40ms");
        assert_eq!(fmt_ms(Duration::from_micros(100)), "0.1ms");
    }

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("65536"), Ok(65536));
        assert_eq!(parse_bytes("64k"), Ok(65536));
        assert!(parse_bytes("x").is_err());
    }

    #[test]
    fn probabilities() {
        assert_eq!(parse_probability("0.02"), Ok(0.02));
        assert_eq!(parse_probability("1"), Ok(1.0));
        assert!(parse_probability("1.5").is_err());
        assert!(parse_probability("-0.1").is_err());
        assert!(parse_probability("x").is_err());
    }
}

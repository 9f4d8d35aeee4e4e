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
//! the settings, requested and achieved, go to `lab.json` (the typed
//! [`crate::lab_record::LabRecord`], built by `record`). Several RTTs and/or
//! intervals make a grid of runs ([`run_grid`]): one subdirectory per run
//! plus `sweep.csv` and `sweep.json`.
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
mod record;
pub mod run_grid;
pub mod tap;
pub mod traffic;
pub mod witness;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{bail, Context};

use delay::RECEIVER_ADDR;
use netns::{Netns, STOP};
use traffic::TrafficSpec;

pub use crate::duration::parse_duration;

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

pub use crate::lab_record::{CaptureAt, LabMode};

/// How the RTT is emulated (`--delay-method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayMethod {
    /// netem when the kernel has it, else the TUN delay line.
    Auto,
    Netem,
    Tun,
}

impl DelayMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            DelayMethod::Auto => "auto",
            DelayMethod::Netem => "netem",
            DelayMethod::Tun => "tun",
        }
    }
}

/// The settings of `nagle-analyze lab` (the command line's flags of the
/// same names, see `src/cli/lab.rs`).
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Round-trip times of the emulated path (several: a sweep).
    pub rtt: Vec<Duration>,
    /// Times between writes (between requests in reqresp mode).
    pub intervals: Vec<Duration>,
    /// Number of write calls.
    pub writes: u64,
    /// Bytes per write call.
    pub size: usize,
    /// TCP_NODELAY on the sender.
    pub nodelay: bool,
    /// TCP_CORK on the sender for the whole run.
    pub cork: bool,
    /// TCP_QUICKACK on both ends, after every read.
    pub quickack: bool,
    /// SO_SNDBUF of the sender.
    pub sndbuf: Option<u32>,
    /// SO_RCVBUF of both ends.
    pub rcvbuf: Option<u32>,
    pub mode: LabMode,
    /// Reply size of the receiver in reqresp mode, bytes.
    pub reply_size: usize,
    /// Receiver's think time before each reply in reqresp mode.
    pub think_time: Duration,
    /// Which ends of the path are captured.
    pub capture_at: CaptureAt,
    /// Probability of dropping each packet on the path, 0..1.
    pub loss: f64,
    /// Seed of the path's packet loss.
    pub seed: u64,
    /// Output directory.
    pub out: PathBuf,
    pub delay_method: DelayMethod,
    /// TCP port of the receiver.
    pub port: u16,
}

/// Run the experiment (one run, or a sweep over `--rtt` × `--interval`).
pub fn run(args: &LabConfig) -> anyhow::Result<()> {
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
        let row = run_grid::row_from_dir(&args.out, rtt, iv, args);
        run_grid::print_table(&[row]);
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
        rows.push(run_grid::row_from_dir(&dir, rtt, iv, args));
    }
    run_grid::write(&args.out, &rows)?;
    run_grid::print_table(&rows);
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
    sysctls: std::collections::BTreeMap<String, String>,
    /// The sender's writes as the kernel recorded them, or why not.
    kernel_writes: Result<Vec<crate::capture::kernel::KernelWrite>, String>,
}

impl RunData {
    /// The capture the lab's own counts come from: the sender side when it
    /// was taken, else the receiver side.
    fn primary(&self) -> &tap::Taken {
        &self.taken[0]
    }
}

fn spec_of(args: &LabConfig, interval: Duration) -> TrafficSpec {
    TrafficSpec {
        writes: args.writes,
        size: args.size,
        interval_ns: interval.as_nanos() as u64,
        nodelay: args.nodelay,
        cork: args.cork,
        quickack: args.quickack,
        sndbuf: args.sndbuf,
        rcvbuf: args.rcvbuf,
        mode: args.mode.as_str().to_string(),
        reply_size: args.reply_size,
        think_time_ns: args.think_time.as_nanos() as u64,
        port: args.port,
    }
}

/// The sysctls that shape the flow, read in the sender's namespace.
fn read_sysctls(snd: &Netns) -> std::collections::BTreeMap<String, String> {
    let mut sysctls = std::collections::BTreeMap::new();
    for k in [
        "net.ipv4.tcp_autocorking",
        "net.ipv4.tcp_congestion_control",
        "net.ipv4.tcp_timestamps",
        "net.ipv4.tcp_sack",
        "net.ipv4.tcp_wmem",
        "net.ipv4.tcp_rmem",
    ] {
        if let Ok(v) = snd.exec(&["sysctl", "-n", k]) {
            sysctls.insert(k.to_string(), v.trim().to_string());
        }
    }
    sysctls
}

/// Start a tap on every side `args.capture_at` asks for; on an error the
/// taps already started are stopped.
fn start_taps(
    args: &LabConfig,
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
    args: &LabConfig,
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
    let path = delay::build(&snd, &rcv, rtt, args.delay_method.as_str(), loss)?;
    let sysctls = read_sysctls(&snd);

    // Achieved RTT, before any TCP traffic: 20 pings 10 ms apart (the first
    // one warms up; all are reported).
    let ping_ms = measure::ping(&snd, RECEIVER_ADDR, 20, 10.0).unwrap_or_else(|e| {
        eprintln!("lab: warning: ping failed: {e:#}");
        Vec::new()
    });

    let abort = Arc::new(AtomicBool::new(false));
    let taps = start_taps(args, &snd, &rcv, dir, &abort)?;
    let witness = witness::Witness::start();
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
    let ip = |a: &str| a.parse().expect("the lab's addresses are IP addresses");
    let kernel_writes = witness.finish(ip(delay::SENDER_ADDR), ip(RECEIVER_ADDR));
    Ok(RunData {
        ping_ms,
        path: path_info,
        delay_stats,
        sender,
        receiver,
        taken: taken.into_iter().collect::<anyhow::Result<_>>()?,
        sysctls,
        kernel_writes,
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

/// One experiment into `dir`: the capture(s), writes.jsonl, requests.jsonl
/// (reqresp), lab.json, report.json (and report-receiver.json).
pub fn run_one(
    args: &LabConfig,
    rtt: Duration,
    interval: Duration,
    dir: &Path,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for f in [
        "capture.pcap",
        "capture-receiver.pcap",
        "writes.jsonl",
        "kernel-writes.jsonl",
        "requests.jsonl",
        "lab.json",
        "report.json",
        "report-receiver.json",
    ] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let started = now_utc();
    let d = live_part(args, rtt, interval, dir)?;
    write_logs(dir, &d, args.mode == LabMode::Reqresp)?;
    let mut lab = record::build(args, rtt, interval, &d, started);
    if let Ok(k) = &d.kernel_writes {
        let lines: Vec<String> = k.iter().map(crate::kernel_join::json_line).collect();
        write_lines(&dir.join("kernel-writes.jsonl"), &lines)?;
    }
    let w = witness::compare(&d.kernel_writes, &d.sender.log, args.nodelay);
    if let Some(p) = w.problem.as_deref().filter(|_| d.kernel_writes.is_ok()) {
        eprintln!("lab: WARNING: the kernel and the sender's log disagree: {p}");
    }
    lab.kernel_witness = Some(w);
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
    let mut status = std::collections::BTreeMap::new();
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
            t.side.report_name(primary).to_string(),
            match r {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("failed: {e:#}"),
            },
        );
    }
    // `analysis`: the primary capture's outcome, as before; per file beside it.
    lab.analysis = status
        .get("report.json")
        .cloned()
        .unwrap_or_else(|| "not run".to_string());
    lab.analyses = status;
    let lab_path = dir.join("lab.json");
    std::fs::write(&lab_path, lab.to_json()?)
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
        assert!(parse_duration("2").is_err(), "a bare number needs a unit");
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

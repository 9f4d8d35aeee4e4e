//! The command line: the only place that knows about flags. It turns
//! arguments into a [`pipeline::Config`], runs the library and maps the
//! outcome to an exit code.
//!
//! Exit codes: 0 success; 1 error (nothing could be analyzed: missing file,
//! not a capture, bad option value); 2 usage error (unknown flag, missing
//! argument); 3 partial: a report was printed, but an input was damaged or
//! could not be read.

mod cli;

use clap::{Args, Parser, Subcommand};
use nagle_analyze::{pipeline, render};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "nagle-analyze",
    version,
    about = "What Nagle's algorithm, delayed ACK and related socket options did to the TCP connections in a capture",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    analyze: AnalyzeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Nagle experiment in two network namespaces (root).
    #[cfg(feature = "lab")]
    Lab(cli::lab::LabArgs),
    /// Chart a write-interval sweep: aggregated segments and writes per
    /// segment against the write interval, one line per RTT.
    Sweep(SweepArgs),
}

#[derive(Args)]
struct SweepArgs {
    /// Captures, one per sweep point; `CAPTURE:LOG` adds the sender's write
    /// log (the interval is then the median gap between writes). Otherwise
    /// the interval comes from `CAPTURE.json`/`lab.json` (`interval_ms`,
    /// `rtt_ms`) or is inferred from the capture.
    #[arg(value_name = "CAPTURE", required = true)]
    captures: Vec<String>,
    /// Folder for sweep.svg / sweep.png.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Chart file format.
    #[arg(long, value_parser = cli::chart_format_parser(), default_value = "svg")]
    chart_format: render::charts::ChartFormat,
    /// Every application write is N bytes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    write_size: Option<u32>,
}

#[derive(Args)]
struct AnalyzeArgs {
    /// Capture files (pcap or pcapng); `-` reads standard input.
    #[arg(value_name = "CAPTURE")]
    inputs: Vec<String>,

    /// Output format.
    #[arg(long, value_parser = cli::format_parser(), default_value = "text")]
    format: render::Format,

    /// BPF filter expression (libpcap syntax), applied to file input too.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,

    /// Log of the sender's write calls: JSON lines {"t": secs, "bytes": n}
    /// or `strace -f -ttt -e trace=write,writev,sendto,sendmsg` output.
    #[arg(long, value_name = "FILE")]
    writes: Option<PathBuf>,

    /// With an strace log: the socket's file descriptor (default: the one
    /// with the most bytes written).
    #[arg(long, value_name = "FD")]
    writes_fd: Option<i32>,

    /// Every application write is N bytes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    write_size: Option<u32>,

    /// Write boundaries from the protocol's own framing, one message per
    /// write: auto, none, lines, tls, http1, resp, or
    /// length-prefixed:TYPE[@OFF][+ADJ] (TYPE u8, u16be, u16le, u24be,
    /// u24le, u32be, u32le; message = OFF + width + value + ADJ bytes).
    /// `PORT=NAME` applies to flows with that server (else client) port;
    /// repeatable. A write log or --write-size takes precedence; `auto`
    /// falls back to inference when it recognises nothing.
    #[arg(long, value_name = "NAME|PORT=NAME", default_value = "auto", value_parser = parse_framing)]
    framing: Vec<String>,

    /// Most connections tracked at once; beyond it the longest-idle one is
    /// finished early (and the report says so).
    #[arg(long, value_name = "N", default_value_t = nagle_analyze::flow::Limits::default().max_flows)]
    max_flows: usize,

    /// Unacknowledged segments remembered per direction of a connection
    /// (for RTT samples); beyond it the oldest are forgotten and counted.
    #[arg(long, value_name = "N", default_value_t = nagle_analyze::flow::Limits::default().max_outstanding)]
    max_outstanding: usize,

    /// A connection silent this long (capture time) is finished and
    /// reported; a later packet starts a new flow.
    #[arg(long, value_name = "TIME", value_parser = parse_duration, default_value = "4h")]
    idle_timeout: std::time::Duration,

    /// Include per-segment and per-ACK time series in the JSON report.
    #[arg(long)]
    series: bool,

    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    #[command(flatten)]
    charts: ChartArgs,

    #[command(flatten)]
    live: LiveArgs,
}

/// Live capture through libpcap (needs root or CAP_NET_RAW).
#[derive(Args)]
struct LiveArgs {
    /// Capture live on this interface (`any` for all, Linux SLL2) instead of
    /// reading files; stop with Ctrl-C, --duration or --count.
    #[arg(short = 'i', long, value_name = "IFACE")]
    interface: Option<String>,
    /// Stop after this long (e.g. 30s, 2m, 500ms).
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    duration: Option<std::time::Duration>,
    /// Stop after N packets (after the filter).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Bytes captured per packet.
    #[arg(long, value_name = "N", default_value_t = 65535)]
    snaplen: i32,
    /// Also write every captured packet to this pcap file.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// List the interfaces that can be captured and exit.
    #[arg(long)]
    list_interfaces: bool,
}

/// One `--framing` value, checked (the rules are built from all of them).
fn parse_framing(s: &str) -> Result<String, String> {
    nagle_analyze::framing::FramingRules::parse(&[s])?;
    Ok(s.to_string())
}

/// "30s", "2m", "500ms", "1.5s", "90" (seconds).
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {s} (try 30s, 2m, 500ms)"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("unknown unit in {s}: use ms, s, m or h")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("not a duration: {s}"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Charts and the HTML/Markdown report.
#[derive(Args)]
struct ChartArgs {
    /// Write charts (per flow direction with data) into DIR.
    #[arg(long, value_name = "DIR")]
    charts: Option<PathBuf>,
    /// Chart file format.
    #[arg(long, value_parser = cli::chart_format_parser(), default_value = "svg")]
    chart_format: render::charts::ChartFormat,
    /// Write a report with charts: FILE.html (self-contained) or FILE.md
    /// (chart files written next to it).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Chart only this flow: its id or an endpoint `ip:port` (repeatable).
    /// Default: the flows where Nagle or delayed ACK cost most, at most 8.
    #[arg(long = "flow", value_name = "ID|IP:PORT")]
    flows: Vec<String>,
}

impl ChartArgs {
    fn wanted(&self) -> bool {
        self.charts.is_some() || self.report.is_some()
    }

    fn write(&self, report: &nagle_analyze::report::Report) -> anyhow::Result<()> {
        use render::charts;
        let flows = charts::select_flows(report, &self.flows, charts::DEFAULT_MAX_FLOWS)?;
        if let Some(dir) = &self.charts {
            let all: Vec<charts::Chart> = charts::flow_charts(&flows)
                .into_iter()
                .flat_map(|(_, c)| c)
                .collect();
            charts::write_charts(&all, dir, self.chart_format)?;
        }
        if let Some(path) = &self.report {
            render::html::write_report(report, &flows, path, self.chart_format)?;
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(unix)]
    pipeline::exit_cleanly_on_sigbus();
    let result = match cli.command {
        #[cfg(feature = "lab")]
        Some(Command::Lab(args)) => cli::lab::run(args).map(|_| 0),
        Some(Command::Sweep(a)) => nagle_analyze::sweep_chart::run(
            &a.captures,
            a.write_size,
            &a.out,
            a.chart_format,
            &mut std::io::stdout(),
        )
        .map(|_| 0),
        None => analyze(cli.analyze),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("nagle-analyze: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn analyze(a: AnalyzeArgs) -> anyhow::Result<u8> {
    if a.live.list_interfaces {
        list_interfaces()?;
        return Ok(0);
    }
    if a.inputs.is_empty() && a.live.interface.is_none() {
        anyhow::bail!(
            "no capture given: nagle-analyze CAPTURE... or --interface IFACE (see --help)"
        );
    }
    if !a.inputs.is_empty() && a.live.interface.is_some() {
        anyhow::bail!("give capture files or --interface, not both");
    }
    let mut cfg = pipeline::Config {
        filter: a.filter.clone(),
        writes_log: a.writes.clone(),
        writes_fd: a.writes_fd,
        write_size: a.write_size,
        limits: Some(nagle_analyze::flow::Limits {
            max_flows: a.max_flows.max(1),
            idle_timeout_ns: a.idle_timeout.as_nanos().min(i64::MAX as u128) as i64,
            max_outstanding: a.max_outstanding.max(1),
            ..Default::default()
        }),
        series: a.series || a.charts.wanted(),
        progress: None,
        framing: nagle_analyze::framing::FramingRules::parse(&a.framing)
            .map_err(|e| anyhow::anyhow!(e))?,
    };
    // The bar shares the terminal with nothing: not drawn when the report
    // itself streams to that terminal.
    let report_on_terminal =
        a.output.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let progress = (a.live.interface.is_none() && !report_on_terminal)
        .then(|| Progress::start(&a.inputs))
        .flatten();
    cfg.progress = progress.as_ref().map(|p| p.counter.clone());
    // Output: a file, or standard output (where a closed pipe, `| head`,
    // is not an error worth a message).
    let stdout = std::io::stdout();
    let mut out: Box<dyn Write + Send> = match &a.output {
        Some(p) => Box::new(
            std::fs::File::create(p)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", p.display()))?,
        ),
        None => Box::new(stdout),
    };
    let quiet_pipe = |r: anyhow::Result<()>| match r {
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    };

    // Charts, report pages and live capture rank or redraw all flows: they
    // hold the report in memory. Otherwise flows are written as they finish.
    let captures = if a.charts.wanted() || a.live.interface.is_some() {
        let report = match &a.live.interface {
            Some(iface) => live(iface, &a, &cfg)?,
            None => pipeline::analyze_files(&a.inputs, &cfg)?,
        };
        if report.captures.iter().all(|c| c.error.is_some()) {
            report_problems(&report.captures);
            return Ok(1);
        }
        a.charts.write(&report)?;
        quiet_pipe(render::render(&report, a.format, &mut out))?;
        report.captures
    } else {
        let mut stream = render::FlowStream::begin(a.format, &mut out, &a.inputs)?;
        let mut pipe_closed = false;
        let captures = pipeline::stream_files(&a.inputs, &cfg, &mut |f| {
            if pipe_closed {
                return Ok(());
            }
            match stream.flow(&f) {
                Err(e) if is_broken_pipe(&e) => {
                    pipe_closed = true;
                    Ok(())
                }
                Err(e) => Err(anyhow::Error::new(pipeline::SinkError(e))),
                Ok(()) => Ok(()),
            }
        })?;
        if captures.iter().all(|c| c.error.is_some()) {
            report_problems(&captures);
            return Ok(1);
        }
        if !pipe_closed {
            quiet_pipe(stream.end(&captures))?;
        }
        captures
    };
    drop(progress);
    let _ = out.flush();
    let partial = report_problems(&captures);
    Ok(if partial { 3 } else { 0 })
}

#[cfg(feature = "live")]
fn list_interfaces() -> anyhow::Result<()> {
    for (name, desc) in nagle_analyze::capture::live::list_interfaces()? {
        println!("{name:<16} {desc}");
    }
    Ok(())
}

#[cfg(not(feature = "live"))]
fn list_interfaces() -> anyhow::Result<()> {
    anyhow::bail!("{NO_LIBPCAP}")
}

#[cfg(not(feature = "live"))]
const NO_LIBPCAP: &str = "live capture needs libpcap: this binary was built without the `live` feature (install libpcap-dev and build with default features)";

#[cfg(not(feature = "live"))]
fn live(
    _iface: &str,
    _a: &AnalyzeArgs,
    _cfg: &pipeline::Config,
) -> anyhow::Result<nagle_analyze::report::Report> {
    anyhow::bail!("{NO_LIBPCAP}")
}

/// Live capture with a live view on the terminal, until Ctrl-C, the
/// duration or the count; then the same report as for a file.
#[cfg(feature = "live")]
fn live(
    iface: &str,
    a: &AnalyzeArgs,
    cfg: &pipeline::Config,
) -> anyhow::Result<nagle_analyze::report::Report> {
    use std::io::IsTerminal;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut opts = nagle_analyze::capture::live::LiveOptions::new(iface);
    opts.filter = cfg.filter.clone();
    opts.snaplen = a.live.snaplen;
    opts.duration = a.live.duration;
    opts.count = a.live.count;
    opts.save = a.live.save.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    // A second Ctrl-C while the report is being written exits at once.
    let _ = ctrlc::set_handler(move || {
        if s2.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    let view =
        std::io::stdout().is_terminal() && a.format == render::Format::Text && a.output.is_none();
    let started = std::time::Instant::now();
    let mut drawn = false;
    let report = pipeline::analyze_live(&opts, cfg, &stop, &mut |an| {
        if view {
            let text = render::live_view(
                iface,
                started.elapsed().as_secs_f64(),
                an.tcp_segments(),
                an.live_flows(),
                &an.snapshot(8),
            );
            print!("{text}");
            let _ = std::io::stdout().flush();
            drawn = true;
        }
    })?;
    if drawn {
        print!("\x1b[H\x1b[J");
    }
    if let Some(l) = report.captures.first().and_then(|c| c.live) {
        eprintln!(
            "nagle-analyze: {} packets received by the capture, {} dropped by the kernel, {} by the interface",
            l.received, l.dropped, l.if_dropped
        );
    }
    Ok(report)
}

/// A progress bar on standard error, driven by bytes read, for inputs that
/// take more than a second; never drawn when stderr is not a terminal.
struct Progress {
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(inputs: &[String]) -> Option<Progress> {
        use std::io::IsTerminal;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        if !std::io::stderr().is_terminal() {
            return None;
        }
        // Unknown for standard input: a spinner with a byte count then.
        let total: Option<u64> = inputs
            .iter()
            .map(|p| {
                std::fs::metadata(p)
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
            })
            .sum();
        let counter = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (c, d) = (counter.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let mut bar: Option<indicatif::ProgressBar> = None;
            while !d.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if bar.is_none() && started.elapsed() >= std::time::Duration::from_secs(1) {
                    let b = match total {
                        Some(t) => indicatif::ProgressBar::new(t).with_style(
                            indicatif::ProgressStyle::with_template(
                                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                            )
                            .expect("template"),
                        ),
                        None => indicatif::ProgressBar::new_spinner(),
                    };
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    b.set_position(c.load(Ordering::Relaxed));
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        Some(Progress {
            counter,
            done,
            thread: Some(thread),
        })
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Errors and warnings of the inputs on standard error; true when an input
/// was damaged or unreadable (exit code 3).
fn report_problems(captures: &[nagle_analyze::report::CaptureSummary]) -> bool {
    let mut partial = false;
    for c in captures {
        if let Some(e) = &c.error {
            eprintln!("nagle-analyze: error: {e}");
            partial = true;
        }
        partial |= c.damaged;
        for w in &c.warnings {
            eprintln!("nagle-analyze: warning: {w}");
        }
    }
    partial
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

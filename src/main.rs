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
use nagle_analyze::duration::parse_duration;
use nagle_analyze::pipeline::{self, PipelineError};
use nagle_analyze::render::{self, ReportSink};
use nagle_analyze::report::CaptureSummary;
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
    /// Print a shell completion script: bash, zsh, fish (e.g.
    /// `nagle-analyze completions bash > /etc/bash_completion.d/nagle-analyze`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `nagle-analyze man | man -l -`.
    Man,
}

#[derive(Args)]
struct SweepArgs {
    /// Captures, one per sweep point; `CAPTURE:LOG` adds the sender's write
    /// log (the interval is then the median gap between writes). Otherwise
    /// the interval comes from `CAPTURE.json`/`lab.json` (`interval_ms`,
    /// `rtt_ms`) or is inferred from the capture.
    #[arg(value_name = "CAPTURE", required = true)]
    captures: Vec<String>,
    /// Folder for sweep.svg / sweep.png (`--out` is a deprecated alias).
    #[arg(long, value_name = "DIR", alias = "out", default_value = ".")]
    out_dir: PathBuf,
    /// Chart file format.
    #[arg(long, value_parser = cli::chart_format_parser(), default_value = "svg")]
    chart_format: render::charts::ChartFormat,
    /// Every application write is N bytes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    write_size: Option<u32>,
    /// Draw writes per segment (right panel) on a log axis. Without it the
    /// axis is linear unless the values span more than a decade and a half
    /// (e.g. 1 to 40 writes per segment), when it turns log by itself.
    #[arg(long)]
    sweep_log_y: bool,
}

#[derive(Args)]
struct AnalyzeArgs {
    /// Capture files (pcap or pcapng, maybe compressed); `-` reads standard
    /// input. After `-r FILE` the words here are a filter expression, as
    /// with tcpdump (`-r f.pcap tcp port 6379`).
    #[arg(value_name = "CAPTURE|FILTER", help_heading = "Input")]
    inputs: Vec<String>,

    /// Read this capture file (repeatable), as tcpdump/tshark -r.
    #[arg(
        short = 'r',
        long = "read",
        value_name = "FILE",
        help_heading = "Input"
    )]
    read: Vec<String>,

    /// BPF filter expression (libpcap syntax), applied to file input too.
    #[arg(long, value_name = "EXPR", help_heading = "Input")]
    filter: Option<String>,

    /// Report only this flow: its id or an endpoint `ip:port` or `:port`
    /// (repeatable); for every output. A selector that names no flow is an
    /// error (exit 1).
    #[arg(long = "flow", value_name = "ID|IP:PORT", help_heading = "Input")]
    flows: Vec<String>,

    /// Output format.
    #[arg(long, value_parser = cli::format_parser(), default_value = "text", help_heading = "Output")]
    format: render::Format,

    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE", help_heading = "Output")]
    output: Option<PathBuf>,

    /// Include per-segment and per-ACK time series in the JSON report.
    #[arg(long, help_heading = "Output")]
    series: bool,

    /// Text: full details for the N costliest flows (after the ranked table).
    #[arg(long, value_name = "N", default_value_t = 10, help_heading = "Output")]
    top: usize,

    /// Text: full details for every flow, as each finishes, and what a
    /// capture cannot show.
    #[arg(short, long, help_heading = "Output")]
    verbose: bool,

    #[command(flatten)]
    charts: ChartArgs,

    /// Log of write calls: JSON lines {"t": secs, "bytes": n, "conn":
    /// "ip:port"?} or `strace -f -ttt -yy` output (the README gives the
    /// recommended `-e trace=` list). Each direction takes only the writes
    /// that fit its bytes.
    #[arg(long, value_name = "FILE", help_heading = "Write boundaries")]
    writes: Option<PathBuf>,

    /// With an strace log: keep only this file descriptor's writes
    /// (default: every socket in the log is a candidate).
    #[arg(long, value_name = "FD", help_heading = "Write boundaries")]
    writes_fd: Option<i32>,

    /// Every application write is N bytes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..),
          help_heading = "Write boundaries")]
    write_size: Option<u32>,

    /// Write boundaries from the protocol's own framing, one message per
    /// write: auto, none, lines, tls, http1, resp, or
    /// length-prefixed:TYPE[@OFF][+ADJ] (TYPE u8, u16be, u16le, u24be,
    /// u24le, u32be, u32le; message = OFF + width + value + ADJ bytes).
    /// `PORT=NAME` applies to flows with that server (else client) port;
    /// repeatable. A write log or --write-size takes precedence; `auto`
    /// falls back to inference when it recognises nothing.
    #[arg(long, value_name = "NAME|PORT=NAME", default_value = "auto", value_parser = parse_framing,
          help_heading = "Write boundaries")]
    framing: Vec<String>,

    /// Most connections tracked at once; beyond it the longest-idle one is
    /// finished early (and the report says so).
    #[arg(long, value_name = "N", default_value_t = nagle_analyze::flow::Limits::default().max_flows,
          help_heading = "Limits")]
    max_flows: usize,

    /// Unacknowledged segments remembered per direction of a connection
    /// (for RTT samples); beyond it the oldest are forgotten and counted.
    #[arg(long, value_name = "N", default_value_t = nagle_analyze::flow::Limits::default().max_outstanding,
          help_heading = "Limits")]
    max_outstanding: usize,

    /// A connection silent this long (capture time) is finished and
    /// reported; a later packet starts a new flow.
    #[arg(long, value_name = "TIME", value_parser = parse_duration, default_value = "4h",
          help_heading = "Limits")]
    idle_timeout: std::time::Duration,

    #[command(flatten)]
    live: LiveArgs,
}

/// Live capture through libpcap (needs root or CAP_NET_RAW).
#[derive(Args)]
#[command(next_help_heading = "Live capture")]
struct LiveArgs {
    /// Capture live on this interface (`any` for all, Linux SLL2) instead of
    /// reading files; stop with Ctrl-C, --duration or --count.
    #[arg(short = 'i', long, value_name = "IFACE")]
    interface: Option<String>,
    /// Stop after this long (e.g. 30s, 1m30s, 500ms).
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    duration: Option<std::time::Duration>,
    /// Stop after N packets (after the filter).
    #[arg(short = 'c', long, value_name = "N")]
    count: Option<u64>,
    /// Bytes captured per packet.
    #[arg(short = 's', long, value_name = "N", default_value_t = 65535)]
    snaplen: i32,
    /// Kernel capture buffer: a bare number is KiB, as tcpdump -B (e.g.
    /// 4096, 64MiB); too small for the traffic, and the kernel drops.
    #[arg(short = 'B', long, value_name = "SIZE", value_parser = parse_buffer_size,
          default_value = "32MiB")]
    buffer_size: u64,
    /// Also write every captured packet to this pcap file.
    #[arg(short = 'w', long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Start a new save file when this one would pass SIZE (e.g. 100MB,
    /// 64KiB): FILE, FILE1, FILE2... as tcpdump -C.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, requires = "save")]
    save_size: Option<u64>,
    /// Start a new save file after TIME (e.g. 10m), named as --save-size's.
    #[arg(long, value_name = "TIME", value_parser = parse_duration, requires = "save")]
    save_every: Option<std::time::Duration>,
    /// With --format jsonl: a line with every active flow's running figures
    /// this often (e.g. 10s).
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    interval: Option<std::time::Duration>,
    /// List the interfaces that can be captured and exit.
    #[arg(short = 'D', long)]
    list_interfaces: bool,
    /// Take every send call's size and time, and the socket's TCP_NODELAY
    /// and TCP_CORK state, from the kernel (BPF on tracepoints; root, Linux
    /// with BTF): exact writes per segment for programs on this machine
    /// (`write_source: kernel`, `nagle.kernel`). With --save, the writes go
    /// to FILE.writes.jsonl too (read back with --writes). Frames are
    /// analyzed half a second after capture. Without kernel support, one
    /// warning says what is missing and the capture goes on.
    #[arg(long, requires = "interface", conflicts_with = "writes")]
    trace_writes: bool,
}

/// One `--framing` value, checked (the rules are built from all of them).
fn parse_framing(s: &str) -> Result<String, String> {
    nagle_analyze::framing::FramingRules::parse(&[s])?;
    Ok(s.to_string())
}

/// "100MB", "64KiB", "1G", "5000" (bytes): KB/MB/GB are powers of 1000,
/// KiB/MiB/GiB of 1024; at least 1 KB (a pcap header and a record).
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let i = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = (s[..i].trim(), &s[i..]);
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return Err(format!("not a size: {s} (try 100MB, 64KiB)")),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("not a size: {s} (try 100MB, 64KiB)"))?;
    let bytes = v * mult as f64;
    if !(1000.0..=1e18).contains(&bytes) {
        return Err(format!("size out of range: {s} (at least 1KB)"));
    }
    Ok(bytes as u64)
}

/// `--buffer-size`: a bare number is KiB (tcpdump's -B), else a size as
/// [`parse_size`]; at most 2 GiB (libpcap takes an int).
fn parse_buffer_size(s: &str) -> Result<u64, String> {
    let bytes = match s.trim().parse::<u64>() {
        Ok(kib) => kib.saturating_mul(1024),
        Err(_) => parse_size(s)?,
    };
    if !(1024..=i32::MAX as u64).contains(&bytes) {
        return Err(format!("buffer size out of range: {s} (1KiB to 2GiB)"));
    }
    Ok(bytes)
}

/// Charts and the HTML/Markdown report: of the `--flow` flows, or else of
/// the flows where Nagle or delayed ACK cost most (at most 8).
#[derive(Args)]
#[command(next_help_heading = "Output")]
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
}

impl ChartArgs {
    fn wanted(&self) -> bool {
        self.charts.is_some() || self.report.is_some()
    }

    /// A `--flow` that names no flow is a `Config` error; the rest
    /// (including a `--report` name that is neither .html nor .md, found
    /// only when writing) are `Output` errors.
    fn write(
        &self,
        report: &nagle_analyze::report::Report,
        selectors: &[String],
    ) -> Result<(), PipelineError> {
        use render::charts;
        let flows = charts::select_flows(report, selectors, charts::DEFAULT_MAX_FLOWS)
            .map_err(PipelineError::Config)?;
        if let Some(dir) = &self.charts {
            let all: Vec<charts::Chart> = charts::flow_charts(report, &flows)
                .into_iter()
                .flat_map(|(_, c)| c)
                .collect();
            charts::write_charts(&all, dir, self.chart_format).map_err(PipelineError::Output)?;
        }
        if let Some(path) = &self.report {
            render::html::write_report(report, &flows, path, self.chart_format)
                .map_err(PipelineError::Output)?;
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let cli = parse_command_line();
    #[cfg(unix)]
    pipeline::exit_cleanly_on_sigbus();
    let code = match cli.command {
        #[cfg(feature = "lab")]
        Some(Command::Lab(args)) => or_fail(cli::lab::run(args)),
        Some(Command::Sweep(a)) => or_fail(nagle_analyze::sweep_chart::run(
            &a.captures,
            a.write_size,
            &a.out_dir,
            a.chart_format,
            if a.sweep_log_y {
                render::charts::sweep::YAxis::Log
            } else {
                render::charts::sweep::YAxis::Auto
            },
            &mut std::io::stdout(),
        )),
        Some(Command::Completions { shell }) => {
            cli::completions(shell, &mut command(), &mut std::io::stdout());
            0
        }
        Some(Command::Man) => {
            or_fail(cli::man_page(command(), &mut std::io::stdout()).map_err(anyhow::Error::from))
        }
        None => {
            let mut a = cli.analyze;
            if let Err(msg) = resolve_inputs(&mut a) {
                usage_error(&msg);
            }
            analyze(a).unwrap_or_else(|e| {
                print_error(&e);
                exit_code(&e)
            })
        }
    };
    ExitCode::from(code)
}

/// A usage error in clap's words (with the usage line): exit code 2.
fn usage_error(msg: &str) -> ! {
    command()
        .error(clap::error::ErrorKind::ArgumentConflict, msg)
        .exit()
}

/// tcpdump's habits: with `-r FILE` or `-i IFACE` the positional words are
/// a filter expression; without it, a word that is no file but reads as a filter is
/// a usage error that suggests `--filter`. No input at all is a usage error.
fn resolve_inputs(a: &mut AnalyzeArgs) -> Result<(), String> {
    let live = a.live.interface.is_some();
    if live && (!a.read.is_empty() || a.inputs.iter().any(|w| std::path::Path::new(w).is_file())) {
        return Err("give capture files or --interface, not both".into());
    }
    if !a.read.is_empty() || live {
        if !a.inputs.is_empty() {
            let expr = a.inputs.join(" ");
            if a.filter.is_some() {
                return Err(format!(
                    "a filter both after the files (\"{expr}\") and in --filter: give one"
                ));
            }
            a.filter = Some(expr);
        }
        a.inputs = std::mem::take(&mut a.read);
    } else if let Some(i) = a
        .inputs
        .iter()
        .position(|w| w != "-" && !std::path::Path::new(w).exists())
    {
        let expr = a.inputs[i..].join(" ");
        if nagle_analyze::capture::looks_like_filter(&expr) {
            return Err(format!(
                "no such capture file: {}; for a filter, write --filter \"{expr}\" (or -r FILE {expr}, as with tcpdump)",
                a.inputs[i]
            ));
        }
    }
    if a.inputs.is_empty() && a.live.interface.is_none() && !a.live.list_interfaces {
        return Err(
            "no capture given: nagle-analyze CAPTURE..., -r CAPTURE [FILTER] or --interface IFACE"
                .into(),
        );
    }
    Ok(())
}

/// The command definition: `--version` from the library's one version
/// string (with the compiled features in its long form), help wrapped at
/// 100 columns with examples and exit codes. Completions and the man page
/// come from this same definition.
fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
        .version(nagle_analyze::report::VERSION)
        .long_version(cli::long_version())
        .max_term_width(100)
        .after_help(cli::AFTER_HELP)
}

/// The command line, parsed with [`command`].
fn parse_command_line() -> Cli {
    use clap::FromArgMatches;
    let mut cmd = command();
    let mut matches = cmd.clone().get_matches();
    Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.format(&mut cmd).exit())
}

/// The exit code of a run that failed (README, "Exit codes"): 1 for a bad
/// option value, for an input that cannot be read, and for a report that
/// cannot be written. (2, usage errors, is clap's; 3, a partial report, is
/// not a failure; a closed pipe never reaches here.)
fn exit_code(e: &PipelineError) -> u8 {
    match e {
        PipelineError::Config(_) => 1,
        PipelineError::Input { .. } => 1,
        PipelineError::Output(_) => 1,
    }
}

/// An error as one line on standard error, with its causes.
fn print_error(e: &dyn std::fmt::Display) {
    eprintln!("nagle-analyze: error: {e:#}");
}

/// A subcommand's outcome as an exit code (0, or 1 after the message).
fn or_fail<T>(r: anyhow::Result<T>) -> u8 {
    match r {
        Ok(_) => 0,
        Err(e) => {
            print_error(&e);
            1
        }
    }
}

fn analyze(a: AnalyzeArgs) -> Result<u8, PipelineError> {
    if a.live.list_interfaces {
        list_interfaces()?;
        return Ok(0);
    }
    if a.inputs.is_empty() && a.live.interface.is_none() {
        return Err(config_error(
            "no capture given: nagle-analyze CAPTURE... or --interface IFACE (see --help)",
        ));
    }
    if !a.inputs.is_empty() && a.live.interface.is_some() {
        return Err(config_error("give capture files or --interface, not both"));
    }
    let mut cfg = config(&a)?;
    // The bar shares the terminal with nothing: not drawn when the report
    // itself streams to that terminal.
    let report_on_terminal =
        a.output.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let progress = (a.live.interface.is_none() && !report_on_terminal)
        .then(|| Progress::start(&a.inputs))
        .flatten();
    cfg.progress = progress.as_ref().map(|p| p.counter.clone());
    let mut out = open_output(&a)?;
    // Every flow streams to the writer as it finishes; charts and report
    // pages draw from a bounded set of the flows that weigh most.
    let mut sink = CliSink::new(&a, &mut out);
    let captures = match &a.live.interface {
        Some(iface) => live(iface, &a, &cfg, &mut sink)?,
        None => pipeline::stream_files(&a.inputs, &cfg, &mut sink)?,
    };
    if let Some(held) = sink.held.take().filter(|_| !nothing_read(&captures)) {
        a.charts.write(&held.into_report(), &a.flows)?;
    }
    drop(sink);
    if nothing_read(&captures) {
        report_problems(&captures);
        return Ok(1);
    }
    drop(progress);
    let _ = out.flush();
    let partial = report_problems(&captures);
    Ok(if partial { 3 } else { 0 })
}

/// `--top` and `--verbose`.
fn text_options(a: &AnalyzeArgs) -> render::TextOptions {
    render::TextOptions {
        top: a.top,
        verbose: a.verbose,
    }
}

fn config_error(msg: &str) -> PipelineError {
    PipelineError::Config(anyhow::anyhow!("{msg}"))
}

/// The pipeline's configuration from the arguments.
fn config(a: &AnalyzeArgs) -> Result<pipeline::Config, PipelineError> {
    Ok(pipeline::Config {
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
            .map_err(|e| config_error(&e))?,
        flows: a.flows.clone(),
        trace_writes: a.live.trace_writes,
    })
}

/// Output: a file, or standard output.
fn open_output(a: &AnalyzeArgs) -> Result<Box<dyn Write + Send>, PipelineError> {
    Ok(match &a.output {
        Some(p) => Box::new(std::fs::File::create(p).map_err(|e| {
            PipelineError::Output(anyhow::anyhow!("cannot create {}: {e}", p.display()))
        })?),
        None => Box::new(std::io::stdout()),
    })
}

/// No input could be read at all: nothing is written, exit code 1.
fn nothing_read(captures: &[CaptureSummary]) -> bool {
    captures.iter().all(|c| c.error.is_some())
}

/// The command line's streaming writer: a closed pipe (`| head`) ends the
/// output quietly (and a live capture with it), and a run where no input
/// could be read writes nothing. With charts or a report page, the flows
/// that weigh most are also held for them (series included; the writer
/// gets them without series unless `--series`).
struct CliSink<'a> {
    inner: Box<dyn ReportSink + Send + 'a>,
    pipe_closed: bool,
    /// Set when the pipe closes (ends a live capture).
    stop_on_close: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    held: Option<render::held::HeldFlows>,
    series: bool,
}

impl<'a> CliSink<'a> {
    fn new(a: &AnalyzeArgs, out: &'a mut (dyn Write + Send)) -> Self {
        let live = a.live.interface.is_some();
        CliSink {
            inner: match a.format {
                render::Format::Text => render::text_writer(out, text_options(a)),
                render::Format::Jsonl if live => {
                    Box::new(render::JsonlWriter::new(out).line_flushed())
                }
                f => render::writer(f, out),
            },
            pipe_closed: false,
            stop_on_close: None,
            held: a.charts.wanted().then(|| {
                render::held::HeldFlows::new(render::held::HELD_FLOWS, !a.flows.is_empty())
            }),
            series: a.series,
        }
    }

    /// A closed pipe is no error: writing stops there.
    fn quiet(&mut self, r: std::io::Result<()>) -> std::io::Result<()> {
        match r {
            Err(e) if is_broken_pipe(&e) => {
                self.pipe_closed = true;
                if let Some(stop) = &self.stop_on_close {
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                Ok(())
            }
            other => other,
        }
    }
}

impl ReportSink for CliSink<'_> {
    fn begin(&mut self, inputs: &[String]) -> std::io::Result<()> {
        self.inner.begin(inputs)
    }

    fn flow(&mut self, mut flow: nagle_analyze::report::Flow) -> std::io::Result<()> {
        if let Some(h) = self.held.as_mut() {
            h.offer(&flow);
        }
        if self.pipe_closed {
            return Ok(());
        }
        if !self.series {
            // Series were kept for the charts: the report is the same with
            // or without them unless asked for (`--series`).
            flow.directions.iter_mut().for_each(|d| d.series = None);
        }
        let r = self.inner.flow(flow);
        self.quiet(r)
    }

    fn event(&mut self, ev: &render::LiveEvent) -> std::io::Result<()> {
        if self.pipe_closed {
            return Ok(());
        }
        let r = self.inner.event(ev);
        self.quiet(r)
    }

    fn finish(&mut self, captures: &[CaptureSummary]) -> std::io::Result<()> {
        if let Some(h) = self.held.as_mut() {
            h.finish(captures)?;
        }
        if self.pipe_closed || nothing_read(captures) {
            return Ok(());
        }
        let r = self.inner.finish(captures);
        self.quiet(r)
    }
}

fn is_broken_pipe(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

/// The interfaces libpcap can capture on (reading them is this run's input).
#[cfg(feature = "live")]
fn list_interfaces() -> Result<(), PipelineError> {
    let list = nagle_analyze::capture::live::list_interfaces()
        .map_err(|e| PipelineError::input("interfaces", e))?;
    for (name, desc) in list {
        println!("{name:<16} {desc}");
    }
    Ok(())
}

#[cfg(not(feature = "live"))]
fn list_interfaces() -> Result<(), PipelineError> {
    Err(config_error(NO_LIBPCAP))
}

#[cfg(not(feature = "live"))]
const NO_LIBPCAP: &str = "live capture needs libpcap: this binary was built without the `live` feature (install libpcap-dev and build with default features)";

#[cfg(not(feature = "live"))]
fn live(
    _iface: &str,
    _a: &AnalyzeArgs,
    _cfg: &pipeline::Config,
    _sink: &mut CliSink,
) -> Result<Vec<CaptureSummary>, PipelineError> {
    Err(config_error(NO_LIBPCAP))
}

/// Live capture with a live view on the terminal (or, with `--format
/// jsonl`, events on the output as they happen), until SIGINT, SIGTERM,
/// SIGHUP, the duration, the count or a closed output pipe; every flow is
/// written as it finishes, and the report is completed as for a file.
#[cfg(feature = "live")]
fn live(
    iface: &str,
    a: &AnalyzeArgs,
    cfg: &pipeline::Config,
    sink: &mut CliSink,
) -> Result<Vec<CaptureSummary>, PipelineError> {
    use std::io::IsTerminal;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    let opts = live_options(iface, a, cfg);
    if a.live.interval.is_some() && a.format != render::Format::Jsonl {
        return Err(config_error("--interval needs --format jsonl"));
    }
    let stop = Arc::new(AtomicBool::new(false));
    // SIGINT, SIGTERM and SIGHUP stop the capture and the report is
    // written; a second signal (not the same request) exits at once.
    let s2 = stop.clone();
    let _ = nagle_analyze::signals::on_stop_signals(
        move || s2.store(true, std::sync::atomic::Ordering::SeqCst),
        || std::process::exit(130),
    );
    sink.stop_on_close = Some(stop.clone());
    // The view takes the terminal; not with blocks written as flows end.
    let view = std::io::stdout().is_terminal()
        && a.format == render::Format::Text
        && a.output.is_none()
        && !a.verbose;
    let started = std::time::Instant::now();
    let mut drawn = false;
    let mut on_tick = |an: &pipeline::Analyzer| {
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
    };
    let run = pipeline::LiveRun {
        stop: &stop,
        events: a.format == render::Format::Jsonl,
        interval: a.live.interval,
        on_tick: &mut on_tick,
    };
    let outcome = pipeline::analyze_live(&opts, cfg, run, sink)?;
    if drawn {
        print!("\x1b[H\x1b[J");
    }
    sink.finish(&outcome.captures)
        .map_err(PipelineError::output)?;
    live_counters(&outcome);
    outcome.selection?;
    Ok(outcome.captures)
}

/// The capture's options from the arguments.
#[cfg(feature = "live")]
fn live_options(
    iface: &str,
    a: &AnalyzeArgs,
    cfg: &pipeline::Config,
) -> nagle_analyze::capture::live::LiveOptions {
    let mut opts = nagle_analyze::capture::live::LiveOptions::new(iface);
    opts.filter = cfg.filter.clone();
    opts.snaplen = a.live.snaplen;
    opts.buffer_size = a.live.buffer_size as i32;
    opts.duration = a.live.duration;
    opts.count = a.live.count;
    opts.save = a.live.save.clone();
    opts.save_size = a.live.save_size;
    opts.save_every = a.live.save_every;
    opts
}

/// libpcap's counters, and the flows the kernel's drops may touch, on
/// standard error.
#[cfg(feature = "live")]
fn live_counters(outcome: &pipeline::LiveOutcome) {
    if let Some(l) = outcome.captures.first().and_then(|c| c.live.as_ref()) {
        eprintln!(
            "nagle-analyze: {} packets received by the capture, {} dropped by the kernel, {} by the interface",
            l.received, l.dropped, l.if_dropped
        );
    }
    if outcome.flows_with_drops > 0 {
        eprintln!(
            "nagle-analyze: {} flow(s) were active while the kernel dropped packets: their figures may miss frames (see their notes)",
            outcome.flows_with_drops
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<u8, PipelineError> {
        let cli = Cli::try_parse_from(std::iter::once("nagle-analyze").chain(args.iter().copied()))
            .unwrap();
        analyze(cli.analyze)
    }

    fn fixture() -> String {
        format!(
            "{}/fixtures/lab/reqresp-rtt20/capture.pcap",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    #[test]
    fn every_failure_exits_with_1() {
        let e = || anyhow::anyhow!("x");
        assert_eq!(exit_code(&PipelineError::Config(e())), 1);
        assert_eq!(exit_code(&PipelineError::input("p", e())), 1);
        assert_eq!(exit_code(&PipelineError::Output(e())), 1);
    }

    #[test]
    fn a_full_device_is_an_output_error() {
        for format in ["text", "json", "csv"] {
            let err = run(&[&fixture(), "--format", format, "-o", "/dev/full"]).unwrap_err();
            assert!(matches!(err, PipelineError::Output(_)), "{format}: {err:?}");
            assert_eq!(exit_code(&err), 1);
        }
    }

    #[test]
    fn an_unreadable_output_file_is_an_output_error() {
        let err = run(&[&fixture(), "-o", "/dev/null/x"]).unwrap_err();
        assert!(matches!(err, PipelineError::Output(_)), "{err:?}");
        assert!(format!("{err:#}").starts_with("cannot create /dev/null/x: "));
    }

    #[test]
    fn unreadable_inputs_only_are_exit_code_1_and_config_errors_are_errors() {
        let out = std::env::temp_dir().join(format!("nagle-main-test-{}", std::process::id()));
        let o = out.to_str().unwrap();
        assert_eq!(run(&["/nonexistent/capture.pcap", "-o", o]).unwrap(), 1);
        assert_eq!(std::fs::read(&out).unwrap(), b"", "nothing written");
        assert_eq!(
            run(&[&fixture(), "/nonexistent/capture.pcap", "-o", o]).unwrap(),
            3
        );
        let err = run(&[&fixture(), "--filter", "tcp and (", "-o", o]).unwrap_err();
        assert!(matches!(err, PipelineError::Config(_)), "{err:?}");
        let err = run(&[]).unwrap_err();
        assert!(matches!(err, PipelineError::Config(_)), "{err:?}");
        let _ = std::fs::remove_file(&out);
    }
}

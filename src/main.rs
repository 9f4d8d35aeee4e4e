//! The command line: the only place that knows about flags. It turns
//! arguments into a [`pipeline::Config`], runs the library and maps the
//! outcome to an exit code.
//!
//! Exit codes: 0 success; 1 error (nothing could be analyzed: missing file,
//! not a capture, bad option value); 2 usage error (unknown flag, missing
//! argument); 3 partial: a report was printed, but an input was damaged or
//! could not be read.

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
    Lab(nagle_analyze::lab::LabArgs),
    /// Write a synthetic capture with a known truth (tests, benchmark).
    #[command(hide = true)]
    Synth(Box<nagle_analyze::synth::SynthArgs>),
}

#[derive(Args)]
struct AnalyzeArgs {
    /// Capture files (pcap or pcapng); `-` reads standard input.
    #[arg(value_name = "CAPTURE")]
    inputs: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
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

    /// Most connections tracked at once; beyond it the longest-idle one is
    /// finished early (and the report says so).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    max_flows: usize,

    /// Include per-segment and per-ACK time series in the JSON report.
    #[arg(long)]
    series: bool,

    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Lab(args)) => nagle_analyze::lab::run(&args).map(|_| 0),
        Some(Command::Synth(args)) => nagle_analyze::synth::run_cli(&args).map(|_| 0),
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
    if a.inputs.is_empty() {
        anyhow::bail!("no capture given: nagle-analyze CAPTURE... (see --help)");
    }
    let cfg = pipeline::Config {
        filter: a.filter,
        writes_log: a.writes,
        writes_fd: a.writes_fd,
        write_size: a.write_size,
        limits: Some(nagle_analyze::flow::Limits {
            max_flows: a.max_flows.max(1),
            ..Default::default()
        }),
        series: a.series,
    };
    let report = pipeline::analyze_files(&a.inputs, &cfg)?;

    let mut partial = false;
    for c in &report.captures {
        if let Some(e) = &c.error {
            eprintln!("nagle-analyze: error: {e}");
            partial = true;
        }
        if c.damaged {
            partial = true;
        }
        for w in &c.warnings {
            eprintln!("nagle-analyze: warning: {w}");
        }
    }
    if report.captures.iter().all(|c| c.error.is_some()) {
        return Ok(1);
    }
    match &a.output {
        Some(p) => {
            let mut f = std::fs::File::create(p)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", p.display()))?;
            render::render(&report, a.format, &mut f)?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            // A closed pipe (`| head`) is not an error worth a message.
            if let Err(e) = render::render(&report, a.format, &mut lock) {
                if !is_broken_pipe(&e) {
                    return Err(e);
                }
            }
            let _ = lock.flush();
        }
    }
    Ok(if partial { 3 } else { 0 })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

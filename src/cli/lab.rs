//! `nagle-analyze lab`'s flags, converted into the library's
//! [`lab::LabConfig`].

use clap::ValueEnum;
use nagle_analyze::lab::{
    self, parse_bytes, parse_duration, parse_probability, CaptureAt, DelayMethod, LabConfig,
    LabMode,
};
use std::path::PathBuf;
use std::time::Duration;

/// `--mode`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Discard,
    Reqresp,
}

/// `--capture-at`: spelled as the library's [`CaptureAt`].
#[derive(Debug, Clone, Copy, ValueEnum)]
enum CaptureAtArg {
    /// The sender's interface only (`capture.pcap`).
    Sender,
    /// The receiver's interface only (`capture-receiver.pcap`).
    Receiver,
    /// Both ends of the same flow.
    Both,
}

impl From<CaptureAtArg> for CaptureAt {
    fn from(c: CaptureAtArg) -> Self {
        match c {
            CaptureAtArg::Sender => CaptureAt::Sender,
            CaptureAtArg::Receiver => CaptureAt::Receiver,
            CaptureAtArg::Both => CaptureAt::Both,
        }
    }
}

/// `--delay-method`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum DelayMethodArg {
    Auto,
    Netem,
    Tun,
}

/// `nagle-analyze lab`: run the Nagle experiment in network namespaces.
#[derive(Debug, Clone, clap::Args)]
pub struct LabArgs {
    /// Round-trip time of the emulated path; repeat or comma-separate for a sweep.
    #[arg(long, value_delimiter = ',', value_parser = parse_duration, default_value = "40ms")]
    rtt: Vec<Duration>,
    /// Time between writes (between requests with --mode reqresp); comma list for a sweep.
    #[arg(long = "interval", visible_alias = "intervals", value_delimiter = ',',
          value_parser = parse_duration, default_value = "1ms")]
    intervals: Vec<Duration>,
    /// Number of write calls (`--writes N` is a deprecated alias: `--writes`
    /// is a write-log file elsewhere).
    #[arg(long, value_name = "N", alias = "writes", default_value_t = 1000)]
    write_count: u64,
    /// Bytes per write call (`--size` is a deprecated alias).
    #[arg(long, value_name = "N", alias = "size", default_value_t = 4)]
    write_size: usize,
    /// Set TCP_NODELAY on the sender (Nagle off).
    #[arg(long)]
    nodelay: bool,
    /// Set TCP_CORK on the sender for the whole run (released at the end).
    #[arg(long)]
    cork: bool,
    /// Set TCP_QUICKACK on both ends, again after every read (it is not sticky).
    #[arg(long)]
    quickack: bool,
    /// SO_SNDBUF of the sender, bytes (k/m suffix ok), set before connect.
    #[arg(long, value_parser = parse_bytes)]
    sndbuf: Option<u32>,
    /// SO_RCVBUF of both ends, bytes (k/m suffix ok), set before connect/listen.
    #[arg(long, value_parser = parse_bytes)]
    rcvbuf: Option<u32>,
    /// discard: the receiver reads and drops; reqresp: write-write-read requests.
    #[arg(long, value_enum, default_value = "discard")]
    mode: ModeArg,
    /// Reply size of the receiver in reqresp mode, bytes.
    #[arg(long, default_value_t = 64)]
    reply_size: usize,
    /// Receiver's think time before each reply in reqresp mode.
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    think_time: Duration,
    /// Where to capture: the sender's interface (capture.pcap), the
    /// receiver's (capture-receiver.pcap), or both ends of the same flow.
    #[arg(long, value_enum, default_value = "sender")]
    capture_at: CaptureAtArg,
    /// Drop each packet on the path (both directions) with this probability, 0..1.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    loss: f64,
    /// Seed of the path's packet loss (same seed, same drop pattern).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory (`--out` is a deprecated alias).
    #[arg(long, value_name = "DIR", alias = "out", default_value = "lab-out")]
    out_dir: PathBuf,
    /// RTT emulation: auto (netem if the kernel has it, else tun), netem, tun.
    #[arg(long, value_enum, default_value = "auto", hide = true)]
    delay_method: DelayMethodArg,
    /// TCP port of the receiver.
    #[arg(long, default_value_t = 5001, hide = true)]
    port: u16,
}

impl From<LabArgs> for LabConfig {
    fn from(a: LabArgs) -> Self {
        LabConfig {
            rtt: a.rtt,
            intervals: a.intervals,
            writes: a.write_count,
            size: a.write_size,
            nodelay: a.nodelay,
            cork: a.cork,
            quickack: a.quickack,
            sndbuf: a.sndbuf,
            rcvbuf: a.rcvbuf,
            mode: match a.mode {
                ModeArg::Discard => LabMode::Discard,
                ModeArg::Reqresp => LabMode::Reqresp,
            },
            reply_size: a.reply_size,
            think_time: a.think_time,
            capture_at: a.capture_at.into(),
            loss: a.loss,
            seed: a.seed,
            out: a.out_dir,
            delay_method: match a.delay_method {
                DelayMethodArg::Auto => DelayMethod::Auto,
                DelayMethodArg::Netem => DelayMethod::Netem,
                DelayMethodArg::Tun => DelayMethod::Tun,
            },
            port: a.port,
        }
    }
}

/// Run the lab with these flags.
pub fn run(a: LabArgs) -> anyhow::Result<()> {
    lab::run(&LabConfig::from(a))
}

//! `nagle-testkit`: the test kit's command line. `nagle-testkit synth`
//! writes a synthetic capture with a known truth (the benchmark and memory
//! scripts' input, and single scenarios with their write logs); the flags
//! are those of the former hidden `nagle-analyze synth`. `nagle-testkit
//! sendload` is a timed send-heavy load (the `--trace-writes` benchmark).
//!
//! What it does not do: analyze anything (that is `nagle-analyze`).

use clap::{Parser, Subcommand};
use nagle_testkit::synth::{
    bench_mix, client_addr, parse_duration, simulate, AckPolicy, FileSink, FlowSpec, FlowTruth,
    MixParams, Workload,
};
use std::io::{self, Write};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "nagle-testkit",
    version,
    about = "Test tooling of nagle-analyze"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a synthetic capture with a known truth (tests, benchmark).
    Synth(Box<SynthArgs>),
    /// A send-heavy load: small writes on loopback TCP connections, timed
    /// (the `--trace-writes` overhead benchmark).
    Sendload(SendloadArgs),
}

/// `nagle-testkit sendload`: connect to `--port` on 127.0.0.1 (its own
/// listener, which discards), write `--writes` times `--size` bytes with
/// TCP_NODELAY, and print `{"writes": N, "seconds": S, "ns_per_write": X}`.
#[derive(Debug, clap::Args)]
struct SendloadArgs {
    #[arg(long, default_value_t = 5899)]
    port: u16,
    #[arg(long, default_value_t = 1_000_000)]
    writes: u64,
    #[arg(long, default_value_t = 16)]
    size: usize,
}

fn sendload(a: &SendloadArgs) -> anyhow::Result<()> {
    use std::io::Read;
    let l = std::net::TcpListener::bind(("127.0.0.1", a.port))?;
    let sink = std::thread::spawn(move || -> io::Result<u64> {
        let (mut c, _) = l.accept()?;
        let (mut buf, mut n) = (vec![0u8; 1 << 16], 0u64);
        loop {
            match c.read(&mut buf)? {
                0 => return Ok(n),
                k => n += k as u64,
            }
        }
    });
    let mut c = std::net::TcpStream::connect(("127.0.0.1", a.port))?;
    c.set_nodelay(true)?;
    let data = vec![b'x'; a.size];
    let start = std::time::Instant::now();
    for _ in 0..a.writes {
        c.write_all(&data)?;
    }
    let secs = start.elapsed().as_secs_f64();
    drop(c);
    let got = sink.join().map_err(|_| anyhow::anyhow!("sink thread"))??;
    anyhow::ensure!(got == a.writes * a.size as u64, "sink got {got} bytes");
    println!(
        "{{\"writes\": {}, \"seconds\": {secs:.6}, \"ns_per_write\": {:.1}}}",
        a.writes,
        secs * 1e9 / a.writes as f64
    );
    Ok(())
}

/// `nagle-testkit synth`: write a synthetic capture.
#[derive(Debug, clap::Args)]
struct SynthArgs {
    /// Output capture file (`--out` is a deprecated alias).
    #[arg(short, long, value_name = "FILE", alias = "out")]
    output: std::path::PathBuf,
    /// Container format (default: pcapng when FILE ends in .pcapng).
    #[arg(long, value_parser = ["pcap", "pcapng"])]
    format: Option<String>,
    /// PRNG seed: the same seed and options give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Benchmark mix: stop after N frames.
    #[arg(long, default_value_t = 500_000)]
    packets: u64,
    /// Connections open at once (scenario mode: copies of the scenario).
    #[arg(long)]
    flows: Option<usize>,
    /// Benchmark mix: weights of small-write and bulk connections.
    #[arg(long, default_value = "3:1", value_name = "SMALL:BULK")]
    mix: String,
    /// Path RTTs, comma-separated (`200us`, `0.2ms`, `40ms`, `1s`).
    #[arg(long, default_value = "0.2ms,40ms")]
    rtt: String,
    /// Loss probability of the client's data segments (after the capture).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// One scenario instead of the mix: periodic, reqresp or bulk.
    #[arg(long, value_parser = ["periodic", "reqresp", "bulk"])]
    scenario: Option<String>,
    /// periodic: bytes per write.
    #[arg(long, default_value_t = 4)]
    write_size: u32,
    /// periodic: time between writes.
    #[arg(long, default_value = "5ms")]
    interval: String,
    /// periodic: number of writes (`--count` is a deprecated alias).
    #[arg(long, value_name = "N", alias = "count", default_value_t = 200)]
    write_count: u32,
    /// Nagle on the client: on or off.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    nagle: String,
    /// The server's ACK policy: `quick` or a delayed-ACK timer (`40ms`).
    #[arg(long, default_value = "quick")]
    delack: String,
    /// reqresp: request parts written back to back (bytes, comma-separated).
    #[arg(long, default_value = "50,100")]
    parts: String,
    /// reqresp: reply size in bytes.
    #[arg(long, default_value_t = 500)]
    response: u32,
    /// reqresp: number of requests.
    #[arg(long, default_value_t = 20)]
    requests: u32,
    /// reqresp: think time after each reply.
    #[arg(long, default_value = "5ms")]
    think: String,
    /// bulk: bytes to send.
    #[arg(long, default_value_t = 10_000_000)]
    bytes: u64,
    /// Scenario mode: write the client's writes as JSON lines to FILE
    /// (`{flow}` in the name: one file per connection, else the first).
    /// (`--writes-log` is a deprecated alias.)
    #[arg(long = "writes", value_name = "FILE", alias = "writes-log")]
    writes_log: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Synth(a) => synth(&a),
        Command::Sendload(a) => sendload(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nagle-testkit: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Run `synth`: the benchmark mix, or one scenario.
fn synth(a: &SynthArgs) -> anyhow::Result<()> {
    let rtts: Vec<i64> = a
        .rtt
        .split(',')
        .map(parse_duration)
        .collect::<anyhow::Result<_>>()?;
    if rtts.is_empty() {
        anyhow::bail!("--rtt: at least one RTT");
    }
    if !(0.0..1.0).contains(&a.loss) {
        anyhow::bail!("--loss must be in [0, 1)");
    }
    let ng = match a.format.as_deref() {
        Some(f) => f == "pcapng",
        None => a.output.extension().is_some_and(|e| e == "pcapng"),
    };
    let sink = FileSink::create(&a.output, ng)?;
    match a.scenario.as_deref() {
        None => mix(a, rtts, sink),
        Some(sc) => scenario(a, sc, &rtts, sink),
    }
}

/// The benchmark mix: `--flows` connections open at once until `--packets`.
fn mix(a: &SynthArgs, rtts: Vec<i64>, mut sink: FileSink) -> anyhow::Result<()> {
    let (s, b) = a
        .mix
        .split_once(':')
        .and_then(|(s, b)| Some((s.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| anyhow::anyhow!("--mix wants SMALL:BULK weights, e.g. 3:1"))?;
    let p = MixParams {
        packets: a.packets,
        flows: a.flows.unwrap_or(2000).max(1),
        small_weight: s,
        bulk_weight: b,
        rtts_ns: rtts,
        loss: a.loss,
        seed: a.seed,
    };
    let (frames, conns) = bench_mix(&p, &mut sink)?;
    sink.finish()?;
    eprintln!(
        "synth: {frames} frames, {conns} connections ({} at once) -> {}",
        p.flows,
        a.output.display()
    );
    Ok(())
}

/// The workload of `--scenario`.
fn workload(a: &SynthArgs, sc: &str) -> anyhow::Result<Workload> {
    Ok(match sc {
        "periodic" => Workload::Periodic {
            size: a.write_size.max(1),
            interval_ns: parse_duration(&a.interval)?,
            count: a.write_count,
        },
        "reqresp" => Workload::RequestResponse {
            parts: a
                .parts
                .split(',')
                .map(|p| p.trim().parse::<u32>())
                .collect::<Result<_, _>>()
                .map_err(|_| anyhow::anyhow!("--parts: comma-separated byte counts"))?,
            response: a.response.max(1),
            requests: a.requests,
            think_ns: parse_duration(&a.think)?,
        },
        _ => Workload::Bulk {
            bytes: a.bytes,
            chunk: 65_536,
        },
    })
}

/// One scenario, `--flows` copies, with the write logs and a line per flow.
fn scenario(a: &SynthArgs, sc: &str, rtts: &[i64], mut sink: FileSink) -> anyhow::Result<()> {
    let server_ack = if a.delack == "quick" {
        AckPolicy::Quick
    } else {
        AckPolicy::Delayed {
            timer_ns: parse_duration(&a.delack)?,
        }
    };
    let workload = workload(a, sc)?;
    let n = a.flows.unwrap_or(1).max(1);
    let specs: Vec<FlowSpec> = (0..n)
        .map(|i| {
            let mut s = FlowSpec::new(rtts[i % rtts.len()], workload.clone());
            s.client = client_addr(i as u64);
            s.nagle = a.nagle == "on";
            s.server_ack = server_ack;
            s.loss = a.loss;
            s.seed = a.seed.wrapping_add(i as u64);
            s
        })
        .collect();
    let truths = simulate(specs, &mut sink)?;
    sink.finish()?;
    if let Some(path) = &a.writes_log {
        write_logs(path, &truths)?;
    }
    for t in &truths {
        eprintln!(
            "synth: flow {}: {} writes, {} data segments ({} aggregated, {:.2} writes/segment), {} retransmissions, {} stalls, {} server timer ACKs, {} frames",
            t.id,
            t.writes.len(),
            t.data_segments().count(),
            t.aggregated_segments(),
            t.writes_per_segment_mean(),
            t.segments.iter().filter(|s| s.retransmission).count(),
            t.stalls,
            t.server_timer_acks,
            t.frames
        );
    }
    Ok(())
}

/// `--writes-log`: `{flow}` in the name gives one file per connection,
/// else the first connection's log only.
fn write_logs(path: &str, truths: &[FlowTruth]) -> anyhow::Result<()> {
    for t in truths {
        if !path.contains("{flow}") && t.id > 0 {
            break;
        }
        let p = path.replace("{flow}", &t.id.to_string());
        let mut w = io::BufWriter::new(
            std::fs::File::create(&p).map_err(|e| anyhow::anyhow!("cannot create {p}: {e}"))?,
        );
        t.write_log_jsonl(&mut w)?;
        w.flush()?;
    }
    Ok(())
}

//! The sweep chart (`nagle-analyze sweep`): one point per capture of a
//! write-interval sweep, drawn as aggregated writes and mean writes per
//! segment against the write interval, one line per RTT (the seed article's
//! "1000 packets through LAN/WAN" figures).
//!
//! Each capture is analyzed on its own (the normal pipeline). Its point is
//! taken from the direction that carried the most payload (the sender):
//! `aggregated_writes` and `writes_per_segment.mean`. The write interval
//! comes from, in this order:
//!
//! 1. a write log given with the capture as `CAPTURE:LOG` (JSON lines or
//!    strace, see [`crate::writes`]): the median gap between write calls.
//!    The log is also handed to the analysis, so write counts are exact;
//! 2. lab metadata next to the capture: `<capture>.json` (e.g.
//!    `a.pcap.json`), `<capture stem>.json` or `lab.json` in the same
//!    folder, an object with `interval_ms` (and optionally `rtt_ms`, which
//!    then names the line instead of the measured RTT), at the top level or
//!    as the lab's record ([`crate::lab_record::LabRecord`]) has them in
//!    `requested`;
//! 3. inferred from the capture: the time from the first to the last
//!    new-data segment divided by (writes − 1), i.e. the mean gap between
//!    writes (this assumes a steady writer, as a sweep has).
//!
//! The RTT of a line is the metadata's `rtt_ms`, else the flow's path RTT
//! (`rtt_ms.min`) rounded (0.1 ms below 1 ms, 1 ms below 20 ms, else 5 ms)
//! so that captures of one emulated RTT share a line.
//!
//! Without a log, writes per segment come from the inferred write unit
//! (`analysis::infer`: a lab sweep of fixed-size writes gives it at every
//! interval and RTT, `low` where only a few sizes were seen).
//!
//! What it does not do: it does not run the experiment (that is `lab`),
//! and it skips (with a message) captures without write boundaries.

use crate::lab_record::LabRecord;
use crate::pipeline::{self, Config};
use crate::render::charts::{self, ChartFormat, SweepPoint};
use crate::report::Direction;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Where a point's interval came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub capture: String,
    pub point: SweepPoint,
    /// `log`, `metadata` or `inferred`.
    pub interval_source: &'static str,
}

/// Split `CAPTURE:LOG` when LOG names an existing file (so paths with
/// colons still work).
fn split_arg(arg: &str) -> (String, Option<PathBuf>) {
    if let Some((cap, log)) = arg.rsplit_once(':') {
        if !cap.is_empty() && Path::new(log).is_file() && !Path::new(arg).exists() {
            return (cap.to_string(), Some(PathBuf::from(log)));
        }
    }
    (arg.to_string(), None)
}

#[derive(Default)]
struct Meta {
    interval_ms: Option<f64>,
    rtt_ms: Option<f64>,
    nodelay: bool,
}

/// A hand-written metadata file: the keys at the top level.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct TopLevel {
    interval_ms: Option<f64>,
    rtt_ms: Option<f64>,
    nodelay: Option<bool>,
}

fn metadata(capture: &Path) -> anyhow::Result<Meta> {
    let mut cands = vec![PathBuf::from(format!("{}.json", capture.display()))];
    let dir = capture.parent().unwrap_or(Path::new(""));
    if let Some(stem) = capture.file_stem() {
        cands.push(dir.join(format!("{}.json", stem.to_string_lossy())));
    }
    cands.push(dir.join("lab.json"));
    for c in cands {
        if c.is_file() {
            let text = std::fs::read_to_string(&c)
                .with_context(|| format!("cannot read {}", c.display()))?;
            serde_json::from_str::<serde_json::Value>(&text)
                .with_context(|| format!("{}: not JSON", c.display()))?;
            // Top level, or the lab's `requested` settings (a field of the
            // wrong type counts as absent, as it did when read by key). Read
            // from the text, not from the parsed value: one deserializer
            // per type in the binary, not two.
            let top: TopLevel = serde_json::from_str(&text).unwrap_or_default();
            let lab = LabRecord::from_json(&text).unwrap_or_default();
            return Ok(Meta {
                interval_ms: top.interval_ms.or(lab.requested.interval_ms),
                rtt_ms: top.rtt_ms.or(lab.requested.rtt_ms),
                nodelay: top.nodelay.unwrap_or(lab.requested.nodelay),
            });
        }
    }
    Ok(Meta::default())
}

/// Round a measured RTT so that captures of one emulated RTT share a line.
pub fn round_rtt(r: f64) -> f64 {
    if r < 1.0 {
        (r * 10.0).round() / 10.0
    } else if r < 20.0 {
        r.round()
    } else {
        (r / 5.0).round() * 5.0
    }
}

fn inferred_interval(d: &Direction) -> Option<f64> {
    let s = d.series.as_ref()?;
    let writes = d.writes.unwrap_or(d.data_segments);
    let ts = s.segments.iter().filter(|p| !p.retransmission).map(|p| p.t);
    let (lo, hi) = ts.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), t| {
        (a.min(t), b.max(t))
    });
    (writes >= 2 && hi > lo).then(|| (hi - lo) * 1000.0 / (writes - 1) as f64)
}

/// Analyze every capture and return its point (or why it has none).
pub fn points(args: &[String], write_size: Option<u32>) -> Vec<Result<Point, String>> {
    args.iter()
        .map(|arg| {
            let (cap, mut log) = split_arg(arg);
            // The lab leaves the sender's log beside the capture.
            if log.is_none() {
                let beside = Path::new(&cap).with_file_name("writes.jsonl");
                log = beside.is_file().then_some(beside);
            }
            point(&cap, log, write_size).map_err(|e| format!("{cap}: {e:#}"))
        })
        .collect()
}

fn point(cap: &str, log: Option<PathBuf>, write_size: Option<u32>) -> anyhow::Result<Point> {
    let mut interval = None;
    let mut source = "inferred";
    if let Some(l) = &log {
        let set = crate::writes::load(l, None)?;
        // The busiest socket is the sweep's sender.
        let busiest = set.sockets.iter().max_by_key(|s| s.writes.len());
        if let Some(gap) = busiest.and_then(|s| s.writes.median_gap()) {
            interval = Some(crate::report::ms(gap));
            source = "log";
        }
    }
    let meta = metadata(Path::new(cap))?;
    if interval.is_none() {
        if let Some(i) = meta.interval_ms {
            interval = Some(i);
            source = "metadata";
        }
    }
    let cfg = Config {
        writes_log: log,
        write_size,
        series: true,
        ..Default::default()
    };
    let (summary, flows) = pipeline::analyze_file(cap, &cfg)?;
    if let Some(e) = summary.error {
        anyhow::bail!("{e}");
    }
    let (flow, dir) = flows
        .iter()
        .flat_map(|f| f.directions.iter().map(move |d| (f, d)))
        .max_by_key(|(_, d)| d.payload_bytes)
        .filter(|(_, d)| d.payload_bytes > 0)
        .context("no TCP data in the capture")?;
    let wps = dir
        .writes_per_segment
        .as_ref()
        .and_then(|w| w.mean)
        .context("no write boundaries (give CAPTURE:LOG or --write-size)")?;
    let interval = match interval {
        Some(i) => i,
        None => inferred_interval(dir).context("cannot infer the write interval")?,
    };
    let rtt = meta
        .rtt_ms
        .or(flow.rtt_ms.min.map(round_rtt))
        .context("no RTT measured and none in the metadata")?;
    Ok(Point {
        capture: cap.to_string(),
        point: SweepPoint {
            rtt_ms: rtt,
            interval_ms: interval,
            aggregated: dir.aggregated_writes.unwrap_or(0),
            mean_wps: wps,
            nodelay: meta.nodelay,
        },
        interval_source: source,
    })
}

/// Run the sweep: analyze, print a table to `out`, write the chart(s) into
/// `dir`. Returns the chart files; fails when no capture gave a point.
pub fn run(
    args: &[String],
    write_size: Option<u32>,
    dir: &Path,
    format: ChartFormat,
    y_axis: charts::sweep::YAxis,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut pts = Vec::new();
    writeln!(
        out,
        "capture\trtt_ms\tinterval_ms\tinterval_source\taggregated_writes\tmean_writes_per_segment"
    )?;
    for r in points(args, write_size) {
        match r {
            Ok(p) => {
                writeln!(
                    out,
                    "{}\t{}\t{:.3}\t{}\t{}\t{:.3}",
                    p.capture,
                    p.point.rtt_ms,
                    p.point.interval_ms,
                    p.interval_source,
                    p.point.aggregated,
                    p.point.mean_wps
                )?;
                pts.push(p.point);
            }
            Err(e) => eprintln!("nagle-analyze sweep: skipped {e}"),
        }
    }
    if pts.is_empty() {
        anyhow::bail!("no capture gave a sweep point");
    }
    charts::write_charts(&[charts::sweep_chart(&pts, y_axis)], dir, format)
}

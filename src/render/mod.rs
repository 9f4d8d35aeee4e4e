//! Stage 6: the report for people and programs — text tables for the
//! terminal, JSON (the documented schema), CSV (one row per flow direction);
//! [`charts`] draws SVG/PNG charts and [`html`] writes the self-contained
//! HTML or the Markdown report with them.
//!
//! Renderers see only [`Report`]: they never read packets or re-run analysis.

pub mod charts;
pub mod html;

use crate::report::{Direction, Flow, Report};
use std::fmt::Write as _;
use std::io::Write as _;

/// Output formats of the analysis report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Csv,
}

pub fn render(report: &Report, format: Format, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    // serde_json writes token by token: buffer, or a file output costs a
    // system call per token.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, report)?;
            writeln!(out)?;
        }
        Format::Text => out.write_all(text(report).as_bytes())?,
        Format::Csv => out.write_all(csv(report).as_bytes())?,
    }
    out.flush()?;
    Ok(())
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".to_string(), |x| format!("{x:.digits$}"))
}

fn link_name(lt: u32) -> String {
    match lt {
        0 => "NULL".into(),
        1 => "EN10MB".into(),
        9 => "PPP".into(),
        12 | 14 | 101 => "RAW".into(),
        108 => "LOOP".into(),
        113 => "LINUX_SLL".into(),
        228 => "IPV4".into(),
        229 => "IPV6".into(),
        276 => "LINUX_SLL2".into(),
        other => format!("linktype {other}"),
    }
}

/// The terminal report: a verdict per direction in words first, then the
/// numbers behind it.
pub fn text(r: &Report) -> String {
    let mut s = String::new();
    for (i, c) in r.captures.iter().enumerate() {
        let flows = r.flows.iter().filter(|f| f.capture == i).count();
        if let Some(e) = &c.error {
            let _ = writeln!(s, "{}: cannot read: {e}", c.path);
            continue;
        }
        let links: Vec<String> = c.link_types.iter().map(|l| link_name(*l)).collect();
        let _ = write!(
            s,
            "{}: {} frames ({}, {}), {} TCP segments, {} TCP flows",
            c.path,
            c.frames,
            c.format.as_deref().unwrap_or("?"),
            links.join("+"),
            c.tcp_segments,
            flows
        );
        if c.frames_matched != c.frames {
            let _ = write!(s, ", {} frames matched the filter", c.frames_matched);
        }
        if !c.skipped.is_empty() {
            let sk: Vec<String> = c.skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = write!(s, "; skipped: {}", sk.join(", "));
        }
        s.push('\n');
        for w in &c.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
    }
    for f in &r.flows {
        s.push('\n');
        flow_text(&mut s, f);
    }
    s
}

fn flow_text(s: &mut String, f: &Flow) {
    let rtt = &f.rtt_ms;
    let _ = writeln!(
        s,
        "flow {}  {} ⇄ {}  {}  vantage {}  {:.3} s",
        f.id,
        f.client,
        f.server,
        if f.handshake_seen {
            "handshake seen"
        } else {
            "no handshake"
        },
        f.vantage,
        f.end_ts - f.start_ts
    );
    let _ = writeln!(
        s,
        "  path RTT {} ms ({}), handshake {} ms, data→ACK median {} ms, p90 {} ms, {} samples",
        opt(rtt.min, 3),
        rtt.source.as_deref().unwrap_or("no samples"),
        opt(rtt.handshake, 3),
        opt(rtt.median, 3),
        opt(rtt.p90, 3),
        rtt.samples
    );
    for d in &f.directions {
        if d.frames == 0 {
            continue;
        }
        direction_text(s, d);
    }
    for n in &f.notes {
        let _ = writeln!(s, "  note: {n}");
    }
}

fn direction_text(s: &mut String, d: &Direction) {
    let _ = writeln!(s, "  {}", d.summary);
    let _ = writeln!(
        s,
        "    segments: {} data ({} small) of {} frames, {} bytes, {} retransmitted, {} out of order{}",
        d.data_segments,
        d.small_segments,
        d.frames,
        d.payload_bytes,
        d.retransmissions,
        d.out_of_order,
        if d.keepalives > 0 { format!(", {} keep-alives", d.keepalives) } else { String::new() }
    );
    let _ = writeln!(
        s,
        "    MSS {} ({}), timestamps {}, window scale {}",
        d.mss.map_or("-".into(), |m| m.to_string()),
        d.mss_source.as_deref().unwrap_or("unknown"),
        if d.timestamps { "on" } else { "off" },
        d.window_scale.map_or("-".into(), |w| w.to_string())
    );
    if d.data_segments == 0 {
        return;
    }
    match (&d.write_source, &d.writes_per_segment) {
        (Some(src), Some(w)) => {
            let unit = d
                .write_unit
                .map_or(String::new(), |u| format!(", unit {u} B"));
            let hist: Vec<String> = w
                .histogram
                .iter()
                .take(12)
                .map(|(k, v)| format!("{k}:{v}"))
                .collect();
            let _ = writeln!(
                s,
                "    writes: {} ({src}{unit}, {}), per segment mean {} median {} max {}; aggregated segments {}",
                d.writes.map_or("-".into(), |w| w.to_string()),
                d.write_confidence.as_deref().unwrap_or("-"),
                opt(w.mean, 2),
                opt(w.median, 0),
                w.max.map_or("-".into(), |m| m.to_string()),
                d.aggregated_segments.unwrap_or(0)
            );
            let _ = writeln!(s, "    writes per segment histogram: {}", hist.join(" "));
        }
        _ => {
            let _ = writeln!(
                s,
                "    writes: unknown (no write log, no --write-size, and no write unit could be inferred)"
            );
        }
    }
    let _ = writeln!(
        s,
        "    send interval median {} ms, p90 {} ms ({} × RTT); ACK-clocked segments {}",
        opt(d.send_interval_ms.median, 3),
        opt(d.send_interval_ms.p90, 3),
        opt(d.send_interval_ms.rtt_ratio, 2),
        d.ack_clocked_segments
    );
    let ad = &d.ack_delay_ms;
    let _ = writeln!(
        s,
        "    peer's ACK delay median {} ms, p90 {} ms, max {} ms{}; stalls {} ({:.1} ms)",
        opt(ad.median, 3),
        opt(ad.p90, 3),
        opt(ad.max, 3),
        ad.timer_ms.map_or(String::new(), |t| format!(
            ", delayed-ACK timer ≈ {t:.1} ms ({} ACKs)",
            ad.timer_samples
        )),
        d.stalls.count,
        d.stalls.total_ms
    );
    if let Some(wd) = &d.write_delay_ms {
        let _ = writeln!(
            s,
            "    write → wire delay: median {} ms, p90 {} ms, max {} ms",
            opt(wd.median, 3),
            opt(wd.p90, 3),
            opt(wd.max, 3)
        );
    }
    if !d.coalescing_causes.is_empty() {
        let _ = writeln!(
            s,
            "    coalescing causes: {}",
            d.coalescing_causes.join(", ")
        );
    }
    for e in &d.nagle.evidence {
        let _ = writeln!(s, "    evidence: {e}");
    }
}

/// CSV columns, one row per flow direction.
pub const CSV_COLUMNS: &[&str] = &[
    "capture",
    "flow",
    "from",
    "to",
    "vantage",
    "handshake_seen",
    "rtt_min_ms",
    "rtt_handshake_ms",
    "frames",
    "data_segments",
    "payload_bytes",
    "retransmissions",
    "out_of_order",
    "mss",
    "small_segments",
    "write_source",
    "writes",
    "writes_per_segment_mean",
    "aggregated_segments",
    "send_interval_median_ms",
    "send_interval_rtt_ratio",
    "ack_clocked_segments",
    "ack_delay_median_ms",
    "stalls",
    "nagle",
];

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

pub fn csv(r: &Report) -> String {
    let mut s = CSV_COLUMNS.join(",");
    s.push('\n');
    let o = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.6}"));
    for f in &r.flows {
        let path = r.captures.get(f.capture).map_or("", |c| c.path.as_str());
        for d in &f.directions {
            let row = [
                path.to_string(),
                f.id.to_string(),
                d.from.clone(),
                d.to.clone(),
                f.vantage.clone(),
                f.handshake_seen.to_string(),
                o(f.rtt_ms.min),
                o(f.rtt_ms.handshake),
                d.frames.to_string(),
                d.data_segments.to_string(),
                d.payload_bytes.to_string(),
                d.retransmissions.to_string(),
                d.out_of_order.to_string(),
                d.mss.map_or(String::new(), |m| m.to_string()),
                d.small_segments.to_string(),
                d.write_source.clone().unwrap_or_default(),
                d.writes.map_or(String::new(), |w| w.to_string()),
                o(d.writes_per_segment.as_ref().and_then(|w| w.mean)),
                d.aggregated_segments
                    .map_or(String::new(), |a| a.to_string()),
                o(d.send_interval_ms.median),
                o(d.send_interval_ms.rtt_ratio),
                d.ack_clocked_segments.to_string(),
                o(d.ack_delay_ms.median),
                d.stalls.count.to_string(),
                d.nagle.verdict.clone(),
            ];
            let row: Vec<String> = row.iter().map(|v| csv_field(v)).collect();
            s.push_str(&row.join(","));
            s.push('\n');
        }
    }
    s
}

/// The live view: the busiest flows as they stand, one screen, redrawn in
/// place (cursor home + clear to end), never scrolling.
pub fn live_view(
    iface: &str,
    elapsed_s: f64,
    segments: u64,
    live_flows: usize,
    flows: &[Flow],
) -> String {
    let mut s = String::from("\x1b[H\x1b[J");
    let _ = writeln!(
        s,
        "nagle-analyze live on {iface}: {elapsed_s:.0} s, {segments} TCP segments, {live_flows} flows (Ctrl-C for the report)\n"
    );
    let _ = writeln!(
        s,
        "{:<47} {:>8} {:>9} {:>10} {:>9}  nagle",
        "flow direction", "segments", "writes/seg", "interval ms", "RTT ms"
    );
    for f in flows {
        for d in &f.directions {
            if d.data_segments == 0 {
                continue;
            }
            let _ = writeln!(
                s,
                "{:<47} {:>8} {:>9} {:>10} {:>9}  {}",
                format!("{} → {}", d.from, d.to),
                d.data_segments,
                opt(d.writes_per_segment.as_ref().and_then(|w| w.mean), 2),
                opt(d.send_interval_ms.median, 3),
                opt(f.rtt_ms.min, 3),
                d.nagle.verdict
            );
        }
    }
    s
}

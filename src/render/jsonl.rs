//! JSON lines (`--format jsonl`): one JSON object per line, each with a
//! `type`, so that `tail -f`, `jq` and log shippers can follow a run.
//!
//! Line types: `flow` (a finished flow: `type` then the flow's fields as in
//! the JSON report's `flows[]`), `summary` (`schema_version`, `tool`,
//! `captures`, after the last flow), and, in live capture only, the events
//! of a [`LiveEvent`]: `stall` (a Nagle × delayed-ACK stall, with its frame
//! number and cost), `verdict` (a direction's Nagle verdict changed) and
//! `interval` (every active flow's running figures, `--interval`).
//!
//! What it does not do: find events (the live pipeline does) or decide when
//! to flush beyond "every line" ([`JsonlWriter::line_flushed`]).

use super::sink::ReportSink;
use crate::report::{CaptureSummary, Direction, Flow, StallEvent, Verdict};
use std::io::{self, BufWriter, Write};

/// Something a live capture reports as it happens.
#[derive(Debug)]
pub enum LiveEvent<'a> {
    /// A flow finished (closed and idle, evicted, or at the end of the run).
    Flow(&'a Flow),
    /// A stall found in direction `dir` of `flow` (as it stands).
    Stall {
        flow: &'a Flow,
        dir: &'a Direction,
        event: &'a StallEvent,
    },
    /// The Nagle verdict of `dir` went from `previous` (none yet) to its
    /// current one.
    Verdict {
        flow: &'a Flow,
        dir: &'a Direction,
        previous: Option<Verdict>,
    },
    /// Running figures of the active flows, `elapsed_s` into the run.
    Interval {
        ts: f64,
        elapsed_s: f64,
        flows: &'a [Flow],
    },
}

/// `{"type":"<kind>",` then the fields of `v` (an object).
fn typed<T: serde::Serialize>(kind: &str, v: &T) -> io::Result<String> {
    let body = serde_json::to_string(v)?;
    let rest = body.strip_prefix('{').unwrap_or(&body);
    Ok(if rest == "}" {
        format!("{{\"type\":\"{kind}\"}}")
    } else {
        format!("{{\"type\":\"{kind}\",{rest}")
    })
}

/// The `flow` line of `f`.
pub fn flow_line(f: &Flow) -> io::Result<String> {
    typed("flow", f)
}

/// The `summary` line.
pub fn summary_line(captures: &[CaptureSummary]) -> io::Result<String> {
    typed(
        "summary",
        &serde_json::json!({
            "schema_version": crate::report::SCHEMA_VERSION,
            "tool": crate::report::TOOL,
            "captures": captures,
        }),
    )
}

/// A direction's running figures, for `interval` lines.
fn running(d: &Direction) -> serde_json::Value {
    serde_json::json!({
        "from": d.from,
        "to": d.to,
        "data_segments": d.data_segments,
        "payload_bytes": d.payload_bytes,
        "writes": d.writes,
        "writes_per_segment": d.writes_per_segment.as_ref().and_then(|w| w.mean),
        "send_interval_ms": d.send_interval_ms.median,
        "verdict": d.nagle.verdict,
        "stalls": d.stalls.count,
        "stall_ms": d.stalls.total_ms,
    })
}

/// The line of one live event.
pub fn event_line(ev: &LiveEvent) -> io::Result<String> {
    match ev {
        LiveEvent::Flow(f) => flow_line(f),
        LiveEvent::Stall { flow, dir, event } => typed(
            "stall",
            &serde_json::json!({
                "flow": flow.id, "from": dir.from, "to": dir.to,
                "frame": event.frame, "ts": event.ts, "ms": event.ms,
                "ack_delay_ms": event.ack_delay_ms,
            }),
        ),
        LiveEvent::Verdict {
            flow,
            dir,
            previous,
        } => typed(
            "verdict",
            &serde_json::json!({
                "flow": flow.id, "from": dir.from, "to": dir.to, "ts": flow.end_ts,
                "previous": previous, "verdict": dir.nagle.verdict,
                "evidence": dir.nagle.evidence,
            }),
        ),
        LiveEvent::Interval {
            ts,
            elapsed_s,
            flows,
        } => {
            let flows: Vec<serde_json::Value> = flows
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "id": f.id, "client": f.client, "server": f.server,
                        "rtt_ms": f.rtt_ms.min,
                        "directions": f.directions.iter().map(running).collect::<Vec<_>>(),
                    })
                })
                .collect();
            typed(
                "interval",
                &serde_json::json!({"ts": ts, "elapsed_s": elapsed_s, "flows": flows}),
            )
        }
    }
}

/// The JSON-lines writer: a `flow` line per flow, a `summary` line at the
/// end; [`JsonlWriter::event`] writes live events between them.
pub struct JsonlWriter<W: Write> {
    out: BufWriter<W>,
    flush_each: bool,
}

impl<W: Write> JsonlWriter<W> {
    pub fn new(out: W) -> Self {
        JsonlWriter {
            out: BufWriter::with_capacity(1 << 16, out),
            flush_each: false,
        }
    }

    /// Flush after every line (live capture: followers see lines at once).
    pub fn line_flushed(mut self) -> Self {
        self.flush_each = true;
        self
    }

    fn line(&mut self, s: &str) -> io::Result<()> {
        self.out.write_all(s.as_bytes())?;
        self.out.write_all(b"\n")?;
        if self.flush_each {
            self.out.flush()?;
        }
        Ok(())
    }

    /// One flow (by reference: see [`super::render`]).
    pub fn write_flow(&mut self, f: &Flow) -> io::Result<()> {
        self.line(&flow_line(f)?)
    }

    /// One live event.
    pub fn event(&mut self, ev: &LiveEvent) -> io::Result<()> {
        self.line(&event_line(ev)?)
    }
}

impl<W: Write> ReportSink for JsonlWriter<W> {
    fn begin(&mut self, _inputs: &[String]) -> io::Result<()> {
        Ok(())
    }

    fn flow(&mut self, flow: Flow) -> io::Result<()> {
        self.write_flow(&flow)
    }

    fn finish(&mut self, captures: &[CaptureSummary]) -> io::Result<()> {
        self.line(&summary_line(captures)?)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_lines_start_with_their_type_and_parse() {
        let s = summary_line(&[]).unwrap();
        assert!(s.starts_with("{\"type\":\"summary\","), "{s}");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["schema_version"], crate::report::SCHEMA_VERSION);
        assert_eq!(v["captures"], serde_json::json!([]));
        assert!(!s.contains('\n'));
        assert_eq!(
            typed("x", &serde_json::json!({})).unwrap(),
            "{\"type\":\"x\"}"
        );
    }
}

//! JSON lines (`--format jsonl`): one JSON object per line, each with a
//! `type`, so that `tail -f`, `jq` and log shippers can follow a run.
//!
//! Line types: `flow` (a finished flow: `type`, `capture_path`, then the
//! flow's fields as in the JSON report's `flows[]`), `summary`
//! (`schema_version`, `tool`, `captures`, `advice_groups`, after the last
//! flow), both written by [`super::JsonlWriter`], and, in live capture
//! only, the events of a [`LiveEvent`], laid out here: `stall` (a Nagle ×
//! delayed-ACK stall, with its frame number and cost), `verdict` (a
//! direction's Nagle verdict changed) and `interval` (every active flow's
//! running figures, `--interval`).
//!
//! What it does not do: find events (the live pipeline does) or write them
//! (the writer does, flushing every line in live capture).

use crate::report::{Direction, Flow, StallEvent, Verdict};
use std::io;

/// Something a live capture reports as it happens (a finished flow is not
/// an event: it goes to [`ReportSink::flow`](super::ReportSink::flow)).
#[derive(Debug)]
pub enum LiveEvent<'a> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_lines_start_with_their_type_and_parse() {
        let s = event_line(&LiveEvent::Interval {
            ts: 1.5,
            elapsed_s: 0.5,
            flows: &[],
        })
        .unwrap();
        assert!(s.starts_with("{\"type\":\"interval\","), "{s}");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["elapsed_s"], 0.5);
        assert_eq!(v["flows"], serde_json::json!([]));
        assert!(!s.contains('\n'));
        assert_eq!(
            typed("x", &serde_json::json!({})).unwrap(),
            "{\"type\":\"x\"}"
        );
    }
}

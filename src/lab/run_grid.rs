//! The lab's run grid (`lab` with several `--rtt` × `--interval`): one row
//! per run, read back from each run's `report.json` (as untyped JSON, so the
//! lab does not depend on the report's Rust types) and `lab.json` (the typed
//! [`LabRecord`]); written as `sweep.csv` and `sweep.json` and printed as a
//! table. A figure the report does not have is shown as `-` (null in JSON).
//!
//! From the report it takes, for the flow's client→server direction (the
//! `directions[]` entry whose `from` equals the flow's `client`):
//! `data_segments`, `aggregated_segments`, `writes_per_segment.mean`,
//! `send_interval_ms.median`, `nagle.verdict`; and the flow's `rtt_ms.min`.
//! When the capture holds several flows, the one whose client direction has
//! the most data segments is used. From `lab.json` it adds the lab's own
//! cross-check columns (`lab_data_segments`, `lab_aggregated`,
//! `lab_send_interval_median_ms`) and the ping RTT.
//!
//! What it does not do: no charts (the charts module draws them).

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::LabConfig;
use crate::lab_record::LabRecord;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    pub dir: String,
    pub rtt_ms: f64,
    pub interval_ms: f64,
    pub nodelay: bool,
    pub writes: Option<u64>,
    pub data_segments: Option<u64>,
    pub aggregated_segments: Option<u64>,
    pub writes_per_segment_mean: Option<f64>,
    pub send_interval_median_ms: Option<f64>,
    pub nagle_verdict: Option<String>,
    pub rtt_min_ms: Option<f64>,
    /// The lab's own count of the sender's data segments in the capture.
    pub lab_data_segments: Option<u64>,
    pub ping_rtt_median_ms: Option<f64>,
    /// The lab's own: segments carrying more than one write's bytes.
    pub lab_aggregated: Option<u64>,
    /// The lab's own: median time between the sender's data segments.
    pub lab_send_interval_median_ms: Option<f64>,
}

fn read_json(p: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}

/// The client→server direction and its flow, from a report.
pub fn client_direction(report: &Value) -> Option<(&Value, &Value)> {
    let flows = report.get("flows")?.as_array()?;
    flows
        .iter()
        .filter_map(|f| {
            let client = f.get("client")?;
            let d = f
                .get("directions")?
                .as_array()?
                .iter()
                .find(|d| d.get("from") == Some(client))?;
            Some((f, d))
        })
        .max_by_key(|(_, d)| d.get("data_segments").and_then(Value::as_u64).unwrap_or(0))
}

/// Fill a row from `report.json` and `lab.json` of a run directory.
pub fn row_from_report(row: &mut Row, report: Option<&Value>, lab: Option<&LabRecord>) {
    if let Some((flow, d)) = report.and_then(client_direction) {
        row.data_segments = d.get("data_segments").and_then(Value::as_u64);
        row.aggregated_segments = d.get("aggregated_segments").and_then(Value::as_u64);
        row.writes_per_segment_mean = d
            .pointer("/writes_per_segment/mean")
            .and_then(Value::as_f64);
        row.send_interval_median_ms = d
            .pointer("/send_interval_ms/median")
            .and_then(Value::as_f64);
        row.nagle_verdict = d
            .pointer("/nagle/verdict")
            .and_then(Value::as_str)
            .map(String::from);
        row.rtt_min_ms = flow.pointer("/rtt_ms/min").and_then(Value::as_f64);
    }
    if let Some(l) = lab {
        row.writes = Some(l.counts.write_calls);
        row.lab_data_segments = Some(l.counts.sender_data_segments);
        row.ping_rtt_median_ms = l.achieved.rtt_ping_ms.map(|p| p.median);
        if let Some(c) = &l.capture_check {
            row.lab_aggregated = Some(c.segments_larger_than_one_write);
            row.lab_send_interval_median_ms = c.send_interval_ms.map(|s| s.median);
        }
    }
}

pub fn row_from_dir(dir: &Path, rtt: Duration, interval: Duration, args: &LabConfig) -> Row {
    let mut row = Row {
        dir: dir.display().to_string(),
        rtt_ms: rtt.as_secs_f64() * 1000.0,
        interval_ms: interval.as_secs_f64() * 1000.0,
        nodelay: args.nodelay,
        ..Default::default()
    };
    let report = read_json(&dir.join("report.json"));
    let lab = std::fs::read_to_string(dir.join("lab.json"))
        .ok()
        .and_then(|t| LabRecord::from_json(&t).ok());
    row_from_report(&mut row, report.as_ref(), lab.as_ref());
    row
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or("-".into(), |x| x.to_string())
}

fn optf(v: &Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.prec$}"))
}

const HEADER: [&str; 14] = [
    "rtt_ms",
    "interval_ms",
    "nodelay",
    "writes",
    "data_segments",
    "aggregated_segments",
    "writes_per_segment_mean",
    "send_interval_median_ms",
    "nagle_verdict",
    "rtt_min_ms",
    "lab_data_segments",
    "ping_rtt_median_ms",
    "lab_aggregated",
    "lab_send_interval_median_ms",
];

fn cells(r: &Row) -> Vec<String> {
    vec![
        format!("{}", r.rtt_ms),
        format!("{}", r.interval_ms),
        r.nodelay.to_string(),
        opt(&r.writes),
        opt(&r.data_segments),
        opt(&r.aggregated_segments),
        optf(&r.writes_per_segment_mean, 2),
        optf(&r.send_interval_median_ms, 3),
        opt(&r.nagle_verdict),
        optf(&r.rtt_min_ms, 3),
        opt(&r.lab_data_segments),
        optf(&r.ping_rtt_median_ms, 3),
        opt(&r.lab_aggregated),
        optf(&r.lab_send_interval_median_ms, 3),
    ]
}

/// Write `sweep.csv` and `sweep.json` into `out`.
pub fn write(out: &Path, rows: &[Row]) -> anyhow::Result<()> {
    let mut csv = HEADER.join(",") + "\n";
    for r in rows {
        csv += &cells(r).join(",");
        csv.push('\n');
    }
    std::fs::write(out.join("sweep.csv"), csv)?;
    std::fs::write(
        out.join("sweep.json"),
        serde_json::to_string_pretty(rows)? + "\n",
    )?;
    Ok(())
}

/// Print the table to stdout.
pub fn print_table(rows: &[Row]) {
    let short: [&str; HEADER.len()] = [
        "rtt ms",
        "int ms",
        "nodelay",
        "writes",
        "data seg",
        "aggr seg",
        "wr/seg",
        "send int ms",
        "nagle",
        "rtt min",
        "lab seg",
        "ping ms",
        "lab aggr",
        "lab int ms",
    ];
    let body: Vec<Vec<String>> = rows.iter().map(cells).collect();
    let widths: Vec<usize> = (0..short.len())
        .map(|i| {
            body.iter()
                .map(|c| c[i].len())
                .chain([short[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |c: &[String]| {
        c.iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:>w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!("{}", line(&short.map(String::from)));
    for c in &body {
        println!("{}", line(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_client_direction_and_tolerates_gaps() {
        let report: Value = serde_json::from_str(
            r#"{"flows":[{"client":"10.77.0.1:40000","rtt_ms":{"min":20.1},
                "directions":[
                  {"from":"10.77.0.2:5001","data_segments":0},
                  {"from":"10.77.0.1:40000","data_segments":50,"aggregated_segments":49,
                   "writes_per_segment":{"mean":2.0},"send_interval_ms":{"median":20.3},
                   "nagle":{"verdict":"on"}}]}]}"#,
        )
        .unwrap();
        let lab = LabRecord::from_json(
            r#"{"counts":{"write_calls":100,"sender_data_segments":6},
                "capture_check":{"segments_larger_than_one_write":5,"send_interval_ms":{"median":20.2}}}"#,
        )
        .unwrap();
        let mut row = Row::default();
        row_from_report(&mut row, Some(&report), Some(&lab));
        assert_eq!(row.lab_aggregated, Some(5));
        assert_eq!(row.lab_send_interval_median_ms, Some(20.2));
        assert_eq!(row.lab_data_segments, Some(6));
        assert_eq!(row.data_segments, Some(50));
        assert_eq!(row.aggregated_segments, Some(49));
        assert_eq!(row.writes_per_segment_mean, Some(2.0));
        assert_eq!(row.nagle_verdict.as_deref(), Some("on"));
        assert_eq!(row.rtt_min_ms, Some(20.1));

        let mut row = Row::default();
        row_from_report(
            &mut row,
            Some(&serde_json::json!({"schema_version": 1})),
            None,
        );
        assert_eq!(cells(&row)[4], "-");
    }
}

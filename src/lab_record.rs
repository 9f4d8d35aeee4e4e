//! `lab.json`: the lab's record of one run, as a typed serde structure.
//! The lab writes it ([`crate::lab`], behind the `lab` feature); the lab's
//! run grid and the sweep chart ([`crate::sweep_chart`], in every build) read
//! it back through the same types.
//!
//! The JSON keys are those the lab has always written. Fields are declared
//! in alphabetical order because that is the order of the file (it was a
//! `serde_json` map, which sorts its keys), so a record read and written
//! again has the same keys in the same order. Reading is lenient, as
//! reading by key was: a missing field takes its default (`None`, 0,
//! empty), so records of older lab versions still load; fields an older lab
//! did not write (`capture.snaplen`, `capture_check`, and those of
//! `--capture-at`, `--loss` and request latencies: `capture_at`,
//! `captures`, `analyses`, `counts.requests`, ...) are left out when absent.
//!
//! What it does not do: run anything or measure anything; it is plain data.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One lab run: settings requested, achieved, path, socket, capture, counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LabRecord {
    pub achieved: Achieved,
    /// Per report file (`report.json`, `report-receiver.json`): `ok`, or
    /// `failed: <why>`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub analyses: BTreeMap<String, String>,
    /// `ok`, or `failed: <why>` when the analysis of the primary capture
    /// failed (`not run` when there was none).
    pub analysis: String,
    /// The primary capture: the sender side when taken, else the receiver
    /// side.
    pub capture: CaptureRecord,
    /// Which ends were captured (`--capture-at`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_at: Option<CaptureAt>,
    /// The lab's own rough reading of the primary capture, a cross-check
    /// for the analyzer (not the analysis).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_check: Option<CaptureCheck>,
    /// Every capture taken, sender side first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub captures: Vec<CaptureRecord>,
    /// The command line of the run.
    pub command: String,
    pub counts: Counts,
    /// Start of the run, UTC, RFC 3339.
    pub date: String,
    /// `uname -srvm`.
    pub kernel: String,
    /// The kernel's record of the sender's writes against the sender's own
    /// log (`crate::lab::witness`; absent in older records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_witness: Option<KernelWitness>,
    pub path: PathRecord,
    pub requested: Requested,
    /// Socket options of the sender, read back after connect.
    pub socket: SocketOptions,
    /// TCP sysctls of the sender's namespace, as `sysctl -n` printed them.
    pub sysctls: BTreeMap<String, String>,
    /// `nagle-analyze <version>`.
    pub tool: String,
}

/// The kernel as a second witness of the sender's writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KernelWitness {
    /// Same writes, same sizes, same order, and TCP_NODELAY as set.
    pub agrees: bool,
    /// TCP_NODELAY as the kernel had it at every call (`null` when it was
    /// not read, or not the same at every call).
    pub nodelay: Option<bool>,
    /// Why they do not agree, or why there is no witness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Writes in the sender's own log (`writes.jsonl`, bytes > 0).
    pub sender_writes: u64,
    /// Send calls the kernel recorded on the sender's connection.
    pub writes: u64,
}

/// min / median / p90 / max (and mean) of a sample, in ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    pub max: f64,
    pub mean: f64,
    pub median: f64,
    pub min: f64,
    pub n: usize,
    pub p90: f64,
}

/// What the receiver does with the data (`lab --mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabMode {
    /// The receiver reads and drops.
    #[default]
    Discard,
    /// Write-write-read requests, each answered with a reply.
    Reqresp,
}

impl LabMode {
    /// The spelling of the flag and of the record.
    pub fn as_str(self) -> &'static str {
        match self {
            LabMode::Discard => "discard",
            LabMode::Reqresp => "reqresp",
        }
    }
}

/// Which ends of the path the lab captures (`lab --capture-at`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureAt {
    /// The sender's interface only (`capture.pcap`).
    #[default]
    Sender,
    /// The receiver's interface only (`capture-receiver.pcap`).
    Receiver,
    /// Both ends of the same flow.
    Both,
}

impl CaptureAt {
    /// The sides to tap, sender first.
    pub fn sides(self) -> &'static [Side] {
        match self {
            CaptureAt::Sender => &[Side::Sender],
            CaptureAt::Receiver => &[Side::Receiver],
            CaptureAt::Both => &[Side::Sender, Side::Receiver],
        }
    }
}

/// One end of the path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    #[default]
    Sender,
    Receiver,
}

impl Side {
    /// The capture file of this side inside a run directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Side::Sender => "capture.pcap",
            Side::Receiver => "capture-receiver.pcap",
        }
    }

    /// The report file of this side's capture inside a run directory:
    /// `report.json` for the primary capture (the sender side when taken,
    /// else the receiver side), `report-receiver.json` for a receiver side
    /// taken beside the sender side.
    pub fn report_name(self, primary: Side) -> &'static str {
        if self == primary {
            "report.json"
        } else {
            "report-receiver.json"
        }
    }
}

/// The settings asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Requested {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_at: Option<CaptureAt>,
    pub cork: bool,
    /// Time between writes (between requests in reqresp mode). The lab
    /// always writes it; `None` only in a file without it.
    pub interval_ms: Option<f64>,
    /// Drop probability of the path (`--loss`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    pub mode: LabMode,
    pub nodelay: bool,
    pub quickack: bool,
    pub rcvbuf: Option<u32>,
    pub reply_size: usize,
    /// RTT of the emulated path (always written by the lab, as `interval_ms`).
    pub rtt_ms: Option<f64>,
    /// Seed of the path's packet loss (`--seed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub size: usize,
    pub sndbuf: Option<u32>,
    pub think_time_ms: f64,
    pub writes: u64,
}

/// What the run achieved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Achieved {
    /// Request latencies seen by the sender (reqresp only).
    pub request_latency_ms: Option<Summary>,
    /// Sum of the request latencies (0 without requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_latency_total_ms: Option<f64>,
    /// Median ping RTT less the requested RTT.
    pub rtt_error_ms: Option<f64>,
    pub rtt_handshake_ms: f64,
    pub rtt_ping_ms: Option<Summary>,
    pub rtt_ping_samples_ms: Vec<f64>,
    /// Whether the sender thread ran under SCHED_FIFO.
    pub sender_sched_fifo: bool,
    /// The run was interrupted (Ctrl-C) before every write was made.
    pub stopped_early: bool,
    /// Time between the sender's write calls.
    pub write_gap_ms: Option<Summary>,
}

/// The emulated path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PathRecord {
    pub addresses: Addresses,
    /// Counters of the TUN delay line, `[sender→receiver, receiver→sender]`
    /// (empty with netem).
    pub delay_line: Vec<DelayLineStats>,
    pub interface: String,
    /// Random loss of the path (`--loss`, `--seed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossRecord>,
    /// `netem` or `tun`.
    pub method: String,
    /// What was done about segmentation offloads.
    pub offloads: String,
    pub one_way_delay_ms: f64,
}

/// Addresses of the two namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Addresses {
    pub receiver: String,
    pub sender: String,
}

/// Random packet loss of the path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LossRecord {
    /// Drop probability of each packet, both directions.
    pub probability: f64,
    pub seed: u64,
}

/// Counters of one direction of the TUN delay line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DelayLineStats {
    /// How late packets left relative to their due time (µs).
    pub late_us_max: f64,
    pub late_us_mean: f64,
    pub late_us_p99: f64,
    /// Packets dropped on purpose (`--loss`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
    pub max_held: usize,
    pub overflow_drops: u64,
    pub packets: u64,
    /// Whether the forwarding thread ran under SCHED_FIFO.
    pub realtime: bool,
}

/// Socket options of the sender (getsockopt values).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SocketOptions {
    pub so_rcvbuf: i32,
    pub so_sndbuf: i32,
    pub tcp_cork: i32,
    pub tcp_maxseg: i32,
    pub tcp_nodelay: i32,
}

/// The live capture of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaptureRecord {
    /// File name inside the run's directory.
    pub file: String,
    /// BPF filter.
    pub filter: String,
    pub frames: u64,
    pub interface: String,
    pub link_type: u32,
    pub nanosecond_timestamps: bool,
    /// Data segments from the sender in this capture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_data_segments: Option<u64>,
    /// Their payload bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_payload_bytes: Option<u64>,
    /// Where the capture was taken.
    pub side: Side,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snaplen: Option<u32>,
    pub stats: CaptureStats,
    pub warnings: Vec<String>,
}

/// libpcap's counters at the end of the capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaptureStats {
    pub dropped: u64,
    pub if_dropped: u64,
    pub received: u64,
}

/// What went through the sockets and the capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub bytes_received: u64,
    pub bytes_written: u64,
    /// Data segments from the sender seen at the receiver's end (with
    /// `--capture-at both`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver_side_data_segments: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver_side_payload_bytes: Option<u64>,
    pub replies: u64,
    /// Requests made (reqresp; 0 otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    pub sender_data_segments: u64,
    pub sender_payload_bytes: u64,
    pub write_calls: u64,
}

/// The lab's own reading of the capture: data segments from the sender,
/// those carrying more than one write's bytes, write calls per segment and
/// the time between data segments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaptureCheck {
    pub data_segments: u64,
    pub segments_larger_than_one_write: u64,
    pub send_interval_ms: Option<Summary>,
    pub writes_per_segment: Option<f64>,
}

impl LabRecord {
    /// Parse a record (lenient, see the module doc).
    pub fn from_json(text: &str) -> serde_json::Result<LabRecord> {
        serde_json::from_str(text)
    }

    /// The file's text: pretty JSON and a final newline.
    pub fn to_json(&self) -> serde_json::Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every lab fixture's `lab.json` reads into the record and writes back
    /// as the file's own JSON value does: the same keys in the same order
    /// and the same numbers. (Against the file's text itself the last digit
    /// of a float can differ: serde_json's default float parser is not
    /// correctly rounded, which the writer, ryu, is.)
    #[test]
    fn fixtures_round_trip() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path().join("lab.json");
            if !p.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let rec = LabRecord::from_json(&text).unwrap();
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            let expect = serde_json::to_string_pretty(&value).unwrap() + "\n";
            assert_eq!(rec.to_json().unwrap(), expect, "{}", p.display());
            n += 1;
        }
        assert!(n >= 4, "lab fixtures missing in {}", dir.display());
    }

    #[test]
    fn older_or_partial_records_load() {
        let rec =
            LabRecord::from_json(r#"{"requested":{"interval_ms":5.0},"counts":{"write_calls":3}}"#)
                .unwrap();
        assert_eq!(rec.requested.interval_ms, Some(5.0));
        assert_eq!(rec.requested.rtt_ms, None);
        assert_eq!(rec.counts.write_calls, 3);
        assert!(rec.capture_check.is_none());
    }
}

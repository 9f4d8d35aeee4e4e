//! The lab's side of `lab.json`: one run's data ([`super::RunData`]) and
//! settings turned into the typed [`LabRecord`] (the format itself is in
//! [`crate::lab_record`]).

use std::time::Duration;

use super::delay::{DirectionStats, RECEIVER_ADDR, SENDER_ADDR};
use super::tap::{Side, Taken};
use super::{measure, LabConfig, RunData};
use crate::lab_record::{
    Achieved, Addresses, CaptureCheck, Counts, DelayLineStats, LabRecord, LossRecord, PathRecord,
    Requested, SocketOptions, Summary,
};

/// The record of a run started at `started`; `analysis` and `analyses` are
/// left empty for the caller. `capture` is the primary capture
/// ([`RunData::primary`]); `captures` lists every capture taken.
pub(super) fn build(
    args: &LabConfig,
    rtt: Duration,
    interval: Duration,
    d: &RunData,
    started: String,
) -> LabRecord {
    let rtt_ms = rtt.as_secs_f64() * 1000.0;
    LabRecord {
        tool: crate::report::TOOL.to_string(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        date: started,
        kernel: super::kernel(),
        kernel_witness: None,
        requested: requested(args, rtt_ms, interval),
        achieved: achieved(d, rtt_ms),
        path: path(d),
        socket: SocketOptions {
            so_rcvbuf: d.sender.sockopts.so_rcvbuf,
            so_sndbuf: d.sender.sockopts.so_sndbuf,
            tcp_cork: d.sender.sockopts.tcp_cork,
            tcp_maxseg: d.sender.sockopts.tcp_maxseg,
            tcp_nodelay: d.sender.sockopts.tcp_nodelay,
        },
        sysctls: d.sysctls.clone(),
        capture_at: Some(args.capture_at),
        capture: d.primary().to_record(),
        captures: d.taken.iter().map(Taken::to_record).collect(),
        counts: counts(d),
        capture_check: Some(capture_check(args, d.primary(), d.sender.log.len())),
        analysis: String::new(),
        analyses: Default::default(),
    }
}

/// The lab's own counts: sockets, and the primary capture's data segments
/// (with the receiver side's beside them when it was taken).
fn counts(d: &RunData) -> Counts {
    let p = d.primary();
    let r = d.taken.iter().find(|t| t.side == Side::Receiver);
    Counts {
        write_calls: d.sender.log.len() as u64,
        bytes_written: d.sender.bytes_written,
        bytes_received: d.receiver.bytes_received,
        replies: d.receiver.replies,
        requests: Some(d.sender.requests.len() as u64),
        sender_data_segments: p.segs.len() as u64,
        sender_payload_bytes: p.payload_bytes(),
        receiver_side_data_segments: r.map(|r| r.segs.len() as u64),
        receiver_side_payload_bytes: r.map(Taken::payload_bytes),
    }
}

fn summary(v: &[f64]) -> Option<Summary> {
    measure::summarize(v).map(|s| Summary {
        max: s.max,
        mean: s.mean,
        median: s.median,
        min: s.min,
        n: s.n,
        p90: s.p90,
    })
}

fn requested(args: &LabConfig, rtt_ms: f64, interval: Duration) -> Requested {
    Requested {
        rtt_ms: Some(rtt_ms),
        interval_ms: Some(interval.as_secs_f64() * 1000.0),
        writes: args.writes,
        size: args.size,
        nodelay: args.nodelay,
        cork: args.cork,
        quickack: args.quickack,
        sndbuf: args.sndbuf,
        rcvbuf: args.rcvbuf,
        mode: args.mode,
        reply_size: args.reply_size,
        think_time_ms: args.think_time.as_secs_f64() * 1000.0,
        capture_at: Some(args.capture_at),
        loss: Some(args.loss),
        seed: Some(args.seed),
    }
}

fn achieved(d: &RunData, rtt_ms: f64) -> Achieved {
    let ping = summary(&d.ping_ms);
    let gaps: Vec<f64> = d
        .sender
        .log
        .windows(2)
        .map(|w| (w[1].t - w[0].t) * 1000.0)
        .collect();
    let latencies: Vec<f64> = d.sender.requests.iter().map(|r| r.latency_ms).collect();
    Achieved {
        rtt_ping_ms: ping,
        rtt_ping_samples_ms: d.ping_ms.clone(),
        rtt_handshake_ms: d.sender.handshake_ms,
        rtt_error_ms: ping.map(|p| p.median - rtt_ms),
        write_gap_ms: summary(&gaps),
        request_latency_ms: summary(&latencies),
        request_latency_total_ms: Some(latencies.iter().sum::<f64>()),
        stopped_early: d.sender.stopped_early,
        sender_sched_fifo: d.sender.realtime,
    }
}

fn delay_line(s: &DirectionStats) -> DelayLineStats {
    DelayLineStats {
        late_us_max: s.late_us_max,
        late_us_mean: s.late_us_mean,
        late_us_p99: s.late_us_p99,
        lost: Some(s.lost),
        max_held: s.max_held,
        overflow_drops: s.overflow_drops,
        packets: s.packets,
        realtime: s.realtime,
    }
}

fn path(d: &RunData) -> PathRecord {
    PathRecord {
        method: d.path.method.clone(),
        one_way_delay_ms: d.path.one_way_delay_ms,
        interface: d.path.interface.clone(),
        addresses: Addresses {
            sender: SENDER_ADDR.to_string(),
            receiver: RECEIVER_ADDR.to_string(),
        },
        offloads: d.path.offloads.clone(),
        loss: Some(LossRecord {
            probability: d.path.loss.probability,
            seed: d.path.loss.seed,
        }),
        delay_line: d.delay_stats.iter().take(2).map(delay_line).collect(),
    }
}

/// The lab's rough reading of capture `p` (`write_calls` writes made).
fn capture_check(args: &LabConfig, p: &Taken, write_calls: usize) -> CaptureCheck {
    let gaps: Vec<f64> = p
        .segs
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) as f64 / 1e6)
        .collect();
    CaptureCheck {
        data_segments: p.segs.len() as u64,
        segments_larger_than_one_write: p.segs.iter().filter(|s| s.1 > args.size).count() as u64,
        writes_per_segment: if p.segs.is_empty() {
            None
        } else {
            Some(write_calls as f64 / p.segs.len() as f64)
        },
        send_interval_ms: summary(&gaps),
    }
}

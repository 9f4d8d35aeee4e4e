//! The lab's side of `lab.json`: one run's data ([`super::RunData`]) and
//! settings turned into the typed [`LabRecord`] (the format itself is in
//! [`crate::lab_record`]).

use std::time::Duration;

use super::delay::{DirectionStats, RECEIVER_ADDR, SENDER_ADDR};
use super::{measure, LabConfig, RunData};
use crate::lab_record::{
    Achieved, Addresses, CaptureCheck, CaptureRecord, CaptureStats, Counts, DelayLineStats,
    LabRecord, PathRecord, Requested, SocketOptions, Summary,
};

/// The record of a run started at `started`; `analysis` is left empty for
/// the caller.
pub(super) fn build(
    args: &LabConfig,
    rtt: Duration,
    interval: Duration,
    d: &RunData,
    started: String,
) -> LabRecord {
    let rtt_ms = rtt.as_secs_f64() * 1000.0;
    LabRecord {
        tool: format!("nagle-analyze {}", env!("CARGO_PKG_VERSION")),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        date: started,
        kernel: super::kernel(),
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
        capture: capture(d),
        counts: Counts {
            write_calls: d.sender.log.len() as u64,
            bytes_written: d.sender.bytes_written,
            bytes_received: d.receiver.bytes_received,
            replies: d.receiver.replies,
            sender_data_segments: d.segs.len() as u64,
            sender_payload_bytes: d.segs.iter().map(|s| s.1 as u64).sum::<u64>(),
        },
        capture_check: Some(capture_check(args, d)),
        analysis: String::new(),
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
    Achieved {
        rtt_ping_ms: ping,
        rtt_ping_samples_ms: d.ping_ms.clone(),
        rtt_handshake_ms: d.sender.handshake_ms,
        rtt_error_ms: ping.map(|p| p.median - rtt_ms),
        write_gap_ms: summary(&gaps),
        request_latency_ms: summary(&d.sender.request_ms),
        stopped_early: d.sender.stopped_early,
        sender_sched_fifo: d.sender.realtime,
    }
}

fn delay_line(s: &DirectionStats) -> DelayLineStats {
    DelayLineStats {
        late_us_max: s.late_us_max,
        late_us_mean: s.late_us_mean,
        late_us_p99: s.late_us_p99,
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
        delay_line: d.delay_stats.iter().take(2).map(delay_line).collect(),
    }
}

fn capture(d: &RunData) -> CaptureRecord {
    CaptureRecord {
        file: "capture.pcap".into(),
        interface: d.path.interface.clone(),
        side: "sender".into(),
        filter: "tcp".into(),
        snaplen: Some(2048),
        link_type: d.link_type,
        nanosecond_timestamps: d.nano,
        frames: d.capture_info.frames,
        stats: CaptureStats {
            received: d.capture_stats.received,
            dropped: d.capture_stats.dropped,
            if_dropped: d.capture_stats.if_dropped,
        },
        warnings: d.capture_info.warnings.clone(),
    }
}

fn capture_check(args: &LabConfig, d: &RunData) -> CaptureCheck {
    let gaps: Vec<f64> = d
        .segs
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) as f64 / 1e6)
        .collect();
    CaptureCheck {
        data_segments: d.segs.len() as u64,
        segments_larger_than_one_write: d.segs.iter().filter(|s| s.1 > args.size).count() as u64,
        writes_per_segment: if d.segs.is_empty() {
            None
        } else {
            Some(d.sender.log.len() as f64 / d.segs.len() as f64)
        },
        send_interval_ms: summary(&gaps),
    }
}

//! Builders for the rules' unit tests: a blank flow (summary, collector,
//! report) that each test fills with just the evidence its rule needs, and
//! flow events for the collector.

use super::collect::Collector;
use super::evidence::Evidence;
use crate::flow::{AckEvent, DataEvent, Dir, FlowSummary, Handshake, Pair, SegmentKind};
use crate::report::{self, AckDelay, Nagle, Rtt, SendInterval, Stalls, Stats, Vantage, Verdict};

pub const CLIENT: &str = "10.0.0.1:40000";
pub const SERVER: &str = "10.0.0.2:80";
pub const MS: i64 = 1_000_000;

/// A blank direction report: no data, verdict inconclusive.
pub fn direction(from: &str, to: &str) -> report::Direction {
    report::Direction {
        from: from.into(),
        to: to.into(),
        frames: 0,
        wire_bytes: 0,
        data_segments: 0,
        payload_bytes: 0,
        all_payload_bytes: 0,
        retransmissions: 0,
        out_of_order: 0,
        fast_retransmissions: 0,
        spurious_retransmissions: 0,
        keepalives: 0,
        zero_window: 0,
        capture_gaps: Default::default(),
        mss: Some(1448),
        mss_source: None,
        small_segments: 0,
        oversize_segments: 0,
        timestamps: false,
        window_scale: None,
        truncated_frames: 0,
        ack_rtt_ms: Stats::default(),
        write_source: None,
        write_unit: None,
        write_confidence: None,
        write_inference: None,
        writes: None,
        writes_per_segment: None,
        aggregated_segments: None,
        aggregated_writes: None,
        send_interval_ms: SendInterval {
            median: None,
            p90: None,
            rtt_ratio: None,
        },
        ack_clocked_segments: 0,
        sender_frame: report::SenderFrame {
            near_ms: 0.0,
            jitter_ms: None,
            far_ms: None,
            source: report::FrameSource::Sender,
        },
        nagle: Nagle {
            verdict: Verdict::Inconclusive,
            evidence: Vec::new(),
            small_while_unacked: 0,
            small_while_unacked_in_recovery: 0,
            release_tolerance_ms: None,
            evidence_frames: Vec::new(),
            kernel: None,
        },
        coalescing_causes: Vec::new(),
        ack_delay_ms: AckDelay {
            median: None,
            p90: None,
            max: None,
            samples: 0,
            timer_ms: None,
            timer_samples: 0,
        },
        stalls: Stalls {
            count: 0,
            total_ms: 0.0,
            events: Vec::new(),
        },
        write_delay_ms: None,
        framing: None,
        summary: String::new(),
        series: None,
    }
}

/// The three sources a rule reads, blank: a flow from [`CLIENT`] to
/// [`SERVER`] with both directions, an RTT of 10 ms, vantage unknown.
pub struct Flow {
    pub summary: FlowSummary,
    pub collected: Collector,
    pub report: report::Flow,
}

impl Flow {
    pub fn new() -> Flow {
        let summary = FlowSummary {
            id: 0,
            client: CLIENT.parse().unwrap(),
            server: SERVER.parse().unwrap(),
            handshake: Handshake::default(),
            handshake_seen: false,
            start_ts: 0,
            end_ts: 10_000 * MS,
            dirs: Pair::default(),
            mss: Pair::new(Some(1448), Some(1448)),
            evicted: false,
        };
        let report = report::Flow {
            id: 0,
            capture: 0,
            client: CLIENT.into(),
            server: SERVER.into(),
            handshake_seen: false,
            start_ts: 0.0,
            end_ts: 10.0,
            vantage: Vantage::Unknown,
            rtt_ms: Rtt {
                handshake: None,
                min: Some(10.0),
                median: None,
                p90: None,
                samples: 0,
                source: None,
            },
            directions: vec![direction(CLIENT, SERVER), direction(SERVER, CLIENT)],
            notes: Vec::new(),
            evicted: false,
            advice: Vec::new(),
            capture_drops: None,
        };
        Flow {
            summary,
            collected: Collector::default(),
            report,
        }
    }

    pub fn evidence(&self) -> Evidence<'_> {
        Evidence {
            summary: &self.summary,
            collected: &self.collected,
            flow: &self.report,
        }
    }

    /// The report's direction `d`, to fill in.
    pub fn dir(&mut self, d: Dir) -> &mut report::Direction {
        &mut self.report.directions[d.index()]
    }
}

/// A new data segment of `len` bytes in direction `d` at `ts`.
pub fn data(d: Dir, ts: i64, len: u32) -> DataEvent<'static> {
    DataEvent {
        dir: d,
        src_port: 0,
        dst_port: 0,
        payload: &[],
        ts,
        frame: 0,
        start: 0,
        len,
        kind: SegmentKind::New,
        small: len < 1448,
        mss: Some(1448),
        fin: false,
        psh: false,
        prev_small_unacked: false,
        since_prev_small_acked: None,
        prev_small_ack_wait: None,
        prev_small_acked_by_pure_ack: false,
        since_prev_send: None,
        in_recovery: false,
        in_flight: 0,
        segments_in_flight: 0,
        peer_window: None,
    }
}

/// An ACK of `newly_acked` bytes of direction `d`'s data at `ts`.
pub fn ack(d: Dir, ts: i64, newly_acked: i64) -> AckEvent {
    AckEvent {
        dir: d,
        ts,
        frame: 0,
        ack: 0,
        newly_acked,
        rtt_sample: None,
        carries_data: false,
        window: None,
        zero_window: false,
        sack: Default::default(),
    }
}

//! The observer side: what [`FlowAnalysis`](super::FlowAnalysis) records
//! per direction while the tracker streams a flow's events, in bounded
//! memory.
//!
//! Per data segment, in order: the protocol framing sees every segment (a
//! retransmission may carry new bytes); for new data only, the payload-size
//! histogram (write-unit inference), the exact writes it carries (fixed
//! write size, write log, framing), the chart series, the send interval,
//! Minshall's rule for small segments (an overlap is a violation unless
//! loss recovery, a FIN, a probe after ≥ 200 ms of silence or reordering
//! explains it; otherwise a segment after the ACK of the previous small one
//! is a release candidate), and the causes an aggregated segment may have
//! (segments in flight, a full receive window). Nothing is decided here:
//! the stages in `finish` read these records.

use super::intervals::Intervals;
use super::logs::{DirLogs, FlowOpen};
use super::series::SeriesPoints;
use super::FlowAnalysis;
use crate::flow::{AckEvent, DataEvent, FlowObserver, SegmentKind, C2S};
use crate::framing::DirFraming;
use crate::TsNs;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

/// Caps on per-direction memory.
const MAX_SIZES: usize = 4096;
const MAX_RELEASES: usize = 1 << 16;

/// A probe sent after this much silence (ns) is exempt from Minshall's rule:
/// tail loss probes wait at least 2·RTT + 200 ms with one segment out.
const PROBE_SILENCE: i64 = 200_000_000;

/// What one direction's events left behind for the stages.
#[derive(Debug, Default, Clone)]
pub(super) struct DirAnalysis {
    /// New-data payload size -> count (for write-unit inference).
    pub sizes: HashMap<u32, u64>,
    pub sizes_overflow: bool,
    /// The first new-data segment's size (write-unit inference; 0: none
    /// yet — u32s, as `agg_free`, keep the flow state small).
    pub first_len: u32,
    /// Exact writes per segment (fixed size) -> count (a log's are kept by
    /// its trial, `super::logs`).
    pub wps_size: BTreeMap<u64, u64>,
    /// Messages per segment from the protocol's framing.
    pub wps_framing: BTreeMap<u64, u64>,
    /// Boxed: most flows never use it, and the flow table holds many.
    pub framing: Box<DirFraming>,
    /// The write log's candidates for this direction (`super::logs`),
    /// chosen at its first data segment; boxed and only with a log.
    pub logs: Option<Box<DirLogs>>,
    pub send_intervals: Intervals,
    /// Small segments sent after an earlier small one, in order (capped):
    /// Minshall's rule and the releases are judged on them at the end, in
    /// the sender's frame (`minshall`).
    pub smalls: Vec<SmallSend>,
    /// Small segments not recorded because of the cap.
    pub smalls_overflow: u32,
    /// An ACK for this direction arrived since the last recorded small segment.
    ack_since_small: bool,
    /// Aggregated segments (by exact writes) sent with 2+ segments in flight.
    pub agg_in_flight: u64,
    /// Aggregated segments sent with the peer's window nearly full.
    pub agg_window_limited: u64,
    /// Small aggregated segments sent with no small segment unacknowledged
    /// (`super::causes`: those not released by an ACK did not wait).
    pub agg_free: u32,
    pub last_data_ts: Option<TsNs>,
    /// Data→ACK samples (raw) of ACKs that carried no data: the only ones
    /// a delayed-ACK timer can be read from.
    pub pure_ack_samples: PureAckSamples,
    /// Payload of the last new-data segment.
    last_len: u32,
    /// Chart points, only with `--series` (boxed and made on first use:
    /// most runs keep none, and the flow table holds many flows).
    pub series: Option<Box<SeriesPoints>>,
}

/// A small new-data segment sent after an earlier small one, as seen at
/// the capture point (judged later, in the sender's frame: `minshall`).
#[derive(Debug, Clone, Copy)]
pub(super) struct SmallSend {
    pub ts: TsNs,
    /// Frame number in its input (1-based).
    pub frame: u64,
    /// Time from the ACK of the previous small segment to this one; None
    /// when that ACK had not been seen yet.
    pub since_ack: Option<i64>,
    /// Loss recovery, a FIN, a probe or reordering: exempt from Minshall.
    pub exempt: bool,
    /// How long after the previous small segment its ACK came.
    pub ack_wait: Option<i64>,
    /// Writes it carries, when known exactly.
    pub writes: Option<u64>,
    pub len: u32,
    /// That ACK carried no data.
    pub pure_ack: bool,
    /// When the first write it carries was called (log).
    pub first_call: Option<TsNs>,
    /// A full-sized segment followed this long after, with no ACK between.
    pub next_full: Option<i64>,
}

/// Raw data→ACK samples of pure ACKs (bounded: every n-th kept; boxed and
/// made on first use, to keep the flow table's entries small).
#[derive(Debug, Clone, Default)]
pub(super) struct PureAckSamples(Option<Box<crate::thin::Thinned<i64>>>);

impl PureAckSamples {
    fn push(&mut self, v: i64) {
        self.0
            .get_or_insert_with(|| {
                Box::new(crate::thin::Thinned::new(1 << 12, crate::thin::Keep::Last))
            })
            .push(v);
    }

    /// The samples kept.
    pub fn values(&self) -> &[i64] {
        self.0.as_deref().map_or(&[], |t| t.values())
    }
}

/// Writes whose last byte lies in `(start, end]` for fixed-size writes.
pub(super) fn writes_ending_in(start: i64, end: i64, unit: u32) -> u64 {
    let u = unit.max(1) as i64;
    (end.div_euclid(u) - start.div_euclid(u)).max(0) as u64
}

impl DirAnalysis {
    fn series_mut(&mut self) -> &mut SeriesPoints {
        self.series.get_or_insert_with(Default::default)
    }

    /// Count a new-data payload size (capped number of distinct sizes).
    fn count_size(&mut self, len: u32) {
        if self.first_len == 0 {
            self.first_len = len;
        }
        if let Some(c) = self.sizes.get_mut(&len) {
            *c += 1;
        } else if self.sizes.len() < MAX_SIZES {
            self.sizes.insert(len, 1);
        } else {
            self.sizes_overflow = true;
        }
    }

    /// Fixed-size writes ending in `[start, end)`.
    fn writes_by_size(&mut self, start: i64, end: i64, size: u32) -> u64 {
        let w = writes_ending_in(start, end, size);
        *self.wps_size.entry(w).or_default() += 1;
        w
    }

    /// Record a small segment sent after an earlier small one: whether
    /// that one was acknowledged at the capture point before it, and
    /// whether loss recovery, a FIN, a probe after 200 ms of silence or
    /// reordering exempts it from Minshall's rule. Judged at the end.
    /// Returns whether it was recorded.
    fn record_small(
        &mut self,
        ev: &DataEvent,
        writes: Option<u64>,
        first_call: Option<TsNs>,
    ) -> bool {
        let since_ack = if ev.prev_small_unacked {
            None
        } else if let Some(gap) = ev.since_prev_small_acked {
            Some(gap)
        } else {
            return false;
        };
        if self.smalls.len() >= MAX_RELEASES {
            self.smalls_overflow += 1;
            return false;
        }
        let probe = ev.since_prev_send.is_some_and(|g| g >= PROBE_SILENCE);
        self.smalls.push(SmallSend {
            ts: ev.ts,
            frame: ev.frame,
            since_ack,
            exempt: ev.in_recovery || ev.fin || probe || ev.kind == SegmentKind::OutOfOrder,
            ack_wait: ev.prev_small_ack_wait,
            writes,
            len: ev.len,
            pure_ack: ev.prev_small_acked_by_pure_ack,
            first_call,
            next_full: None,
        });
        self.ack_since_small = false;
        true
    }

    /// The new-data segment after the last recorded small one: when it is
    /// full-sized and no ACK came between, the small one was not the tail
    /// of the send queue (Linux tests Nagle only on the tail).
    fn follow_small(&mut self, ev: &DataEvent) {
        let ack_between = self.ack_since_small;
        if let Some(last) = self.smalls.last_mut() {
            if last.next_full.is_none() && last.ts < ev.ts && !ack_between && !ev.small {
                last.next_full = Some(ev.ts - last.ts);
            }
        }
        // Only the first segment after a small one counts.
        self.ack_since_small = true;
    }

    /// What else may have aggregated a segment carrying 2+ writes: 2+
    /// segments in flight (cwnd), or no room in the peer's receive window
    /// for another segment of this size (rwnd).
    fn count_aggregation(&mut self, ev: &DataEvent, writes: Option<u64>) {
        let (flight, window, free) = aggregation_causes(ev, writes);
        self.agg_in_flight += flight as u64;
        self.agg_window_limited += window as u64;
        self.agg_free = self.agg_free.saturating_add(free as u32);
    }
}

/// Whether a segment carrying `writes` was aggregated with 2+ segments in
/// flight, with the peer's window nearly full, and with no small segment
/// unacknowledged.
fn aggregation_causes(ev: &DataEvent, writes: Option<u64>) -> (bool, bool, bool) {
    if writes.is_none_or(|w| w < 2) {
        return (false, false, false);
    }
    let window = ev
        .peer_window
        .is_some_and(|w| ev.in_flight as u64 + 2 * ev.len as u64 > w);
    (ev.segments_in_flight >= 2, window, !ev.prev_small_unacked)
}

impl FlowAnalysis {
    /// Exact writes carried by a new-data segment without the write log:
    /// fixed size, else framing.
    fn exact_writes(&mut self, ev: &DataEvent, framed: Option<u64>) -> Option<u64> {
        let da = &mut self.dirs[ev.dir];
        let (start, end) = (ev.start, ev.start + ev.len as i64);
        let exact = self
            .cfg
            .write_size
            .map(|n| da.writes_by_size(start, end, n));
        if let Some(w) = framed {
            *da.wps_framing.entry(w).or_default() += 1;
        }
        exact.or(framed)
    }

    /// The write log's side of a new-data segment (`super::logs`): choose
    /// the direction's candidates at its first segment, then map the
    /// segment on each, with what it means for the small segment the
    /// observer recorded for it, if any (`recorded`).
    fn log_segment(&mut self, ev: &DataEvent, recorded: bool) {
        let Some(shared) = self.cfg.log.as_ref() else {
            return;
        };
        let set = &*shared.read();
        let open = self.open.as_deref();
        let da = &mut self.dirs[ev.dir];
        let logs = da.logs.get_or_insert_with(|| {
            let ends = open.map(|o| endpoints(o, ev.dir));
            let start = open.map_or(ev.ts, |o| o.start);
            Box::new(DirLogs::select(set, ends, start, ev.ts, ev.start))
        });
        if logs.trials.is_empty() {
            return;
        }
        let end = ev.start + ev.len as i64;
        logs.push_segment(ev.ts, end, ev.small);
        for t in logs.trials.iter_mut() {
            let lw = t.map(&set.sockets[t.socket].writes, ev.ts, ev.start, end);
            let writes = lw.as_ref().map(|l| l.count);
            if recorded {
                t.smalls.push((writes, lw.and_then(|l| l.first_call)));
            }
            if ev.small {
                let (flight, window, free) = aggregation_causes(ev, writes);
                t.agg_in_flight += flight as u64;
                t.agg_window_limited += window as u64;
                t.agg_free = t.agg_free.saturating_add(free as u32);
            }
        }
    }

    /// Feed the segment to the direction's protocol framing.
    fn frame(&mut self, ev: &DataEvent) -> Option<u64> {
        let (server, client) = if ev.dir == C2S {
            (ev.dst_port, ev.src_port)
        } else {
            (ev.src_port, ev.dst_port)
        };
        let cfg = &self.cfg;
        self.dirs[ev.dir].framing.segment(
            || cfg.framing.for_ports(server, client),
            ev.start,
            ev.len,
            ev.payload,
        )
    }
}

impl FlowObserver for FlowAnalysis {
    fn on_data(&mut self, ev: &DataEvent) {
        self.advice.on_data(ev);
        // Framing sees every segment (a retransmission may carry new bytes);
        // only new data counts below.
        let framed = self.frame(ev);
        let series = self.cfg.series;
        if !matches!(ev.kind, SegmentKind::New | SegmentKind::OutOfOrder) {
            if series && ev.kind == SegmentKind::Retransmission {
                let da = &mut self.dirs[ev.dir];
                da.series_mut()
                    .segments
                    .push((ev.ts, ev.start, ev.len, None, true, ev.frame));
            }
            return;
        }
        self.dirs[ev.dir].count_size(ev.len);
        let exact_writes = self.exact_writes(ev, framed);
        let recorded = self.observe_new(ev, exact_writes);
        self.log_segment(ev, recorded);
    }

    fn on_ack(&mut self, ev: &AckEvent) {
        self.advice.on_ack(ev);
        let da = &mut self.dirs[ev.dir];
        da.ack_since_small = true;
        // A timer can only be read from a pure ACK of one segment: an ACK
        // covering two was sent because the second arrived.
        let one_segment = ev.newly_acked > 0 && ev.newly_acked <= da.last_len as i64;
        if !ev.carries_data && one_segment {
            if let Some(sample) = ev.rtt_sample {
                da.pure_ack_samples.push(sample);
            }
        }
        if self.cfg.series {
            let da = &mut self.dirs[ev.dir];
            if ev.newly_acked > 0 {
                da.series_mut().acks.push((ev.ts, ev.ack, ev.window));
            }
            if SeriesPoints::wants(da.series.as_deref(), ev) {
                da.series_mut().ack_marks(ev);
            }
        }
    }

    fn on_open(&mut self, client: SocketAddr, server: SocketAddr, start: TsNs) {
        if self.cfg.log.is_some() {
            self.open = Some(Box::new(FlowOpen {
                client,
                server,
                start,
            }));
        }
    }
}

/// Sender and receiver of direction `d`.
fn endpoints(o: &FlowOpen, d: crate::flow::Dir) -> (SocketAddr, SocketAddr) {
    if d == C2S {
        (o.client, o.server)
    } else {
        (o.server, o.client)
    }
}

impl FlowAnalysis {
    /// A new-data segment's records without the log: series, send
    /// interval, Minshall's records and aggregation causes. Returns whether
    /// a small segment was recorded for it.
    fn observe_new(&mut self, ev: &DataEvent, exact_writes: Option<u64>) -> bool {
        let da = &mut self.dirs[ev.dir];
        if self.cfg.series {
            da.series_mut()
                .segments
                .push((ev.ts, ev.start, ev.len, exact_writes, false, ev.frame));
        }
        if let Some(prev) = da.last_data_ts {
            da.send_intervals.push(ev.ts - prev);
        }
        da.last_data_ts = Some(ev.ts);
        da.last_len = ev.len;
        da.follow_small(ev);
        if !ev.small {
            return false;
        }
        let recorded = da.record_small(ev, exact_writes, None);
        da.count_aggregation(ev, exact_writes);
        recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_size_writes_ending_in_segment() {
        assert_eq!(writes_ending_in(0, 4, 4), 1);
        assert_eq!(writes_ending_in(4, 12, 4), 2);
        assert_eq!(writes_ending_in(2, 5, 4), 1);
        assert_eq!(writes_ending_in(5, 7, 4), 0);
    }

    /// A small new-data segment of 100 bytes, nothing outstanding.
    fn small() -> DataEvent<'static> {
        DataEvent {
            dir: C2S,
            src_port: 40000,
            dst_port: 80,
            payload: &[],
            ts: 1_000_000_000,
            frame: 1,
            start: 0,
            len: 100,
            kind: SegmentKind::New,
            small: true,
            mss: Some(1448),
            fin: false,
            psh: true,
            prev_small_unacked: false,
            since_prev_small_acked: None,
            prev_small_ack_wait: None,
            prev_small_acked_by_pure_ack: false,
            since_prev_send: Some(1_000_000),
            in_recovery: false,
            in_flight: 0,
            segments_in_flight: 0,
            peer_window: None,
        }
    }

    #[test]
    fn small_segments_are_recorded_with_their_exemptions() {
        let mut da = DirAnalysis::default();
        let overlap = DataEvent {
            prev_small_unacked: true,
            ..small()
        };
        da.record_small(&overlap, None, None);
        // Loss recovery, a FIN, reordering and a probe after 200 ms of
        // silence go out whatever Nagle says.
        for exempt in [
            DataEvent {
                in_recovery: true,
                ..overlap
            },
            DataEvent {
                fin: true,
                ..overlap
            },
            DataEvent {
                kind: SegmentKind::OutOfOrder,
                ..overlap
            },
            DataEvent {
                since_prev_send: Some(PROBE_SILENCE),
                ..overlap
            },
        ] {
            da.record_small(&exempt, None, None);
        }
        let flags: Vec<(Option<i64>, bool)> =
            da.smalls.iter().map(|s| (s.since_ack, s.exempt)).collect();
        assert_eq!(
            flags,
            vec![
                (None, false),
                (None, true),
                (None, true),
                (None, true),
                (None, true)
            ]
        );
        // The first small segment of a direction has nothing to be judged against.
        da.record_small(&small(), None, None);
        assert_eq!(da.smalls.len(), 5);
    }

    #[test]
    fn acknowledged_before_and_the_queue_tail() {
        let mut da = DirAnalysis::default();
        let after_ack = DataEvent {
            since_prev_small_acked: Some(50_000),
            prev_small_acked_by_pure_ack: true,
            ..small()
        };
        da.record_small(&after_ack, Some(2), Some(900_000_000));
        assert_eq!(da.smalls[0].since_ack, Some(50_000));
        assert_eq!(da.smalls[0].first_call, Some(900_000_000));
        assert!(da.smalls[0].pure_ack);
        // A full segment right after, no ACK between: not the queue's tail.
        let full = DataEvent {
            small: false,
            len: 1448,
            ts: 1_000_050_000,
            ..small()
        };
        da.follow_small(&full);
        assert_eq!(da.smalls[0].next_full, Some(50_000));
        // After an ACK the next full segment says nothing.
        da.record_small(
            &DataEvent {
                ts: 1_100_000_000,
                ..after_ack
            },
            None,
            None,
        );
        da.ack_since_small = true;
        da.follow_small(&DataEvent {
            ts: 1_100_050_000,
            ..full
        });
        assert_eq!(da.smalls[1].next_full, None);
    }

    #[test]
    fn aggregation_causes_counted_for_two_writes_or_more() {
        let mut da = DirAnalysis::default();
        let busy = DataEvent {
            segments_in_flight: 2,
            in_flight: 1000,
            peer_window: Some(1100),
            ..small()
        };
        da.count_aggregation(&busy, Some(1));
        da.count_aggregation(&busy, None);
        assert_eq!((da.agg_in_flight, da.agg_window_limited), (0, 0));
        da.count_aggregation(&busy, Some(2));
        assert_eq!((da.agg_in_flight, da.agg_window_limited), (1, 1));
        // Room for two more segments of this size: not window-limited.
        let roomy = DataEvent {
            peer_window: Some(1200),
            ..busy
        };
        da.count_aggregation(&roomy, Some(3));
        assert_eq!((da.agg_in_flight, da.agg_window_limited), (2, 1));
    }
}

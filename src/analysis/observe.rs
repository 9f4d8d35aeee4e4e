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
use super::releases::Release;
use super::series::SeriesPoints;
use super::FlowAnalysis;
use crate::flow::{AckEvent, DataEvent, FlowObserver, SegmentKind, C2S};
use crate::framing::DirFraming;
use super::logs::{DirLogs, FlowOpen};
use crate::TsNs;
use std::net::SocketAddr;
use std::collections::{BTreeMap, HashMap};

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
    /// The first new-data segment's size (write-unit inference).
    pub first_len: Option<u32>,
    /// Exact writes per segment (size or log) -> count.
    pub wps_size: BTreeMap<u64, u64>,
    pub wps_log: BTreeMap<u64, u64>,
    /// Messages per segment from the protocol's framing.
    pub wps_framing: BTreeMap<u64, u64>,
    /// Boxed: most flows never use it, and the flow table holds many.
    pub framing: Box<DirFraming>,
    /// The write log's candidates for this direction (`super::logs`),
    /// chosen at its first data segment; boxed and only with a log.
    pub logs: Option<Box<DirLogs>>,
    /// Filled at the end from the applied log only (`super::logs::apply`).
    pub write_delays: Vec<Option<i64>>,
    pub send_intervals: Intervals,
    pub releases: Vec<Release>,
    pub violations: u64,
    pub violations_recovery: u64,
    /// Aggregated segments (by exact writes) sent with 2+ segments in flight.
    pub agg_in_flight: u64,
    /// Aggregated segments sent with the peer's window nearly full.
    pub agg_window_limited: u64,
    /// Small aggregated segments sent with no small segment unacknowledged
    /// (`super::causes`: those not released by an ACK did not wait).
    pub agg_free: u64,
    pub last_data_ts: Option<TsNs>,
    /// Chart points, only with `--series` (boxed and made on first use:
    /// most runs keep none, and the flow table holds many flows).
    pub series: Option<Box<SeriesPoints>>,
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
        self.first_len.get_or_insert(len);
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

    /// Minshall's rule for a small segment: a violation when an earlier
    /// small segment is unacknowledged (exempt: loss recovery, FIN, probes,
    /// reordering), else a release candidate when that one was acknowledged.
    fn check_small(&mut self, ev: &DataEvent, writes: Option<u64>, first_call: Option<TsNs>) -> bool {
        if ev.prev_small_unacked {
            let probe = ev.since_prev_send.is_some_and(|g| g >= PROBE_SILENCE);
            if ev.in_recovery || ev.fin || probe || ev.kind == SegmentKind::OutOfOrder {
                self.violations_recovery += 1;
            } else {
                self.violations += 1;
            }
            false
        } else if let Some(gap) = ev.since_prev_small_acked {
            if self.releases.len() < MAX_RELEASES {
                self.releases.push(Release {
                    ts: ev.ts,
                    gap,
                    ack_wait: ev.prev_small_ack_wait,
                    writes,
                    len: ev.len,
                    pure_ack: ev.prev_small_acked_by_pure_ack,
                    held: first_call.map(|t| t < ev.ts - gap),
                });
                return true;
            }
            false
        } else {
            false
        }
    }

    /// What else may have aggregated a segment carrying 2+ writes: 2+
    /// segments in flight (cwnd), or no room in the peer's receive window
    /// for another segment of this size (rwnd).
    fn count_aggregation(&mut self, ev: &DataEvent, writes: Option<u64>) {
        let (flight, window, free) = aggregation_causes(ev, writes);
        self.agg_in_flight += flight as u64;
        self.agg_window_limited += window as u64;
        self.agg_free += free as u64;
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
        let exact = self.cfg.write_size.map(|n| da.writes_by_size(start, end, n));
        if let Some(w) = framed {
            *da.wps_framing.entry(w).or_default() += 1;
        }
        exact.or(framed)
    }

    /// The write log's side of a new-data segment (`super::logs`): choose
    /// the direction's candidates at its first segment, then map the
    /// segment on each, with what it means for Minshall's rule
    /// (`released`: the observer recorded a release candidate for it).
    fn log_segment(&mut self, ev: &DataEvent, released: bool) {
        let Some(set) = self.cfg.log.as_deref() else {
            return;
        };
        let open = self.open.as_deref();
        let da = &mut self.dirs[ev.dir];
        let logs = da.logs.get_or_insert_with(|| {
            let ends = open.map(|o| endpoints(o, ev.dir));
            let start = open.map_or(ev.ts, |o| o.start);
            Box::new(DirLogs::select(set, ends, start, ev.ts, ev.start))
        });
        let end = ev.start + ev.len as i64;
        logs.push_segment(ev.ts, end, ev.small);
        for t in logs.trials.iter_mut() {
            let lw = t.map(&set.sockets[t.socket].writes, ev.ts, ev.start, end);
            let writes = lw.as_ref().map(|l| l.count);
            if released {
                let gap = ev.since_prev_small_acked.unwrap_or(0);
                let held = lw.and_then(|l| l.first_call).map(|c| c < ev.ts - gap);
                t.releases.push((writes, held));
            }
            if ev.small {
                let (flight, window, free) = aggregation_causes(ev, writes);
                t.agg_in_flight += flight as u64;
                t.agg_window_limited += window as u64;
                t.agg_free += free as u64;
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
                da.series_mut().segments.push((ev.ts, ev.start, ev.len, None, true));
            }
            return;
        }
        self.dirs[ev.dir].count_size(ev.len);
        let exact_writes = self.exact_writes(ev, framed);
        let released = self.observe_new(ev, exact_writes);
        self.log_segment(ev, released);
    }

    fn on_ack(&mut self, ev: &AckEvent) {
        self.advice.on_ack(ev);
        if self.cfg.series && ev.newly_acked > 0 {
            self.dirs[ev.dir].series_mut().acks.push((ev.ts, ev.ack));
        }
    }

    fn on_open(&mut self, client: SocketAddr, server: SocketAddr, start: TsNs) {
        if self.cfg.log.is_some() {
            self.open = Some(Box::new(FlowOpen { client, server, start }));
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
    /// interval, Minshall's rule and aggregation causes. Returns whether a
    /// release candidate was recorded.
    fn observe_new(&mut self, ev: &DataEvent, exact_writes: Option<u64>) -> bool {
        let series = self.cfg.series;
        let da = &mut self.dirs[ev.dir];
        if series {
            da.series_mut().segments.push((ev.ts, ev.start, ev.len, exact_writes, false));
        }
        if let Some(prev) = da.last_data_ts {
            da.send_intervals.push(ev.ts - prev);
        }
        da.last_data_ts = Some(ev.ts);
        if !ev.small {
            return false;
        }
        let released = da.check_small(ev, exact_writes, None);
        da.count_aggregation(ev, exact_writes);
        released
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
    fn minshall_overlaps_and_their_exemptions() {
        let mut da = DirAnalysis::default();
        let overlap = DataEvent {
            prev_small_unacked: true,
            ..small()
        };
        da.check_small(&overlap, None, None);
        assert_eq!((da.violations, da.violations_recovery), (1, 0));
        // Loss recovery, a FIN, reordering and a probe after 200 ms of
        // silence go out whatever Nagle says.
        for exempt in [
            DataEvent { in_recovery: true, ..overlap },
            DataEvent { fin: true, ..overlap },
            DataEvent { kind: SegmentKind::OutOfOrder, ..overlap },
            DataEvent { since_prev_send: Some(PROBE_SILENCE), ..overlap },
        ] {
            da.check_small(&exempt, None, None);
        }
        assert_eq!((da.violations, da.violations_recovery), (1, 4));
        assert!(da.releases.is_empty());
    }

    #[test]
    fn release_candidates_and_held_writes() {
        let mut da = DirAnalysis::default();
        // Acknowledged 50 µs before: a candidate; its write was called
        // before that ACK, so the kernel held it.
        let after_ack = DataEvent {
            since_prev_small_acked: Some(50_000),
            prev_small_acked_by_pure_ack: true,
            ..small()
        };
        da.check_small(&after_ack, Some(2), Some(900_000_000));
        da.check_small(&after_ack, Some(1), Some(999_990_000));
        // Never acknowledged before: neither a violation nor a candidate.
        da.check_small(&small(), None, None);
        assert_eq!(da.releases.len(), 2);
        assert_eq!(da.releases[0].held, Some(true));
        assert_eq!(da.releases[1].held, Some(false));
        assert!(da.releases[0].pure_ack);
        assert_eq!(da.violations, 0);
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
        let roomy = DataEvent { peer_window: Some(1200), ..busy };
        da.count_aggregation(&roomy, Some(3));
        assert_eq!((da.agg_in_flight, da.agg_window_limited), (2, 1));
    }
}

//! The advice's own evidence, gathered while a flow runs.
//!
//! [`Collector`] is fed the same [`DataEvent`]s and [`AckEvent`]s as the
//! analysis and keeps, per direction, what the report does not:
//! request/response turns and the segments they carried against the
//! segments their bytes needed, bytes in flight against the peer's
//! advertised window, keep-alive and zero-window probes with the idle time
//! before them, and the first data segment of the connection.
//!
//! What it does not do: judge anything. It only counts; the rules
//! (`super::RULES`) decide. Its memory is bounded: at most
//! [`MAX_KEEPALIVES`] probe times and [`MAX_INFLIGHT`] in-flight samples
//! per direction (a [`crate::thin::Thinned`] buffer keeping the last value
//! of each stride).

use crate::flow::{AckEvent, DataEvent, Dir, Pair, SegmentKind};
use crate::thin::{Keep, Thinned};
use crate::TsNs;

/// Keep-alive probe times kept per direction.
pub const MAX_KEEPALIVES: usize = 1000;
/// In-flight samples kept per direction before thinning.
pub const MAX_INFLIGHT: u32 = 1 << 16;

/// Bytes in flight after each new segment: every `stride`-th value, the
/// stride doubling when [`MAX_INFLIGHT`] values are held.
#[derive(Debug, Clone)]
pub(super) struct InFlight(Thinned<i64>);

impl Default for InFlight {
    fn default() -> Self {
        InFlight(Thinned::new(MAX_INFLIGHT, Keep::Last))
    }
}

impl InFlight {
    pub fn push(&mut self, v: i64) {
        self.0.push(v);
    }

    /// The values kept, in the order they came.
    pub fn values(&self) -> &[i64] {
        self.0.values()
    }
}

/// What one direction's sender did, as the advice rules need it.
#[derive(Debug, Clone, Default)]
pub(super) struct DirCollect {
    /// Completed turns, segments in them, the minimum segments their bytes
    /// needed (⌈bytes / MSS⌉, at most the segments sent), and the turns
    /// that carried more segments than that (with the first frames of the
    /// first few of those).
    pub turns: u64,
    pub turn_segments: u64,
    pub turn_min_segments: u64,
    pub turns_over: u64,
    pub turns_over_frames: Vec<u64>,
    /// New data segments sent with a known peer window, and those with no
    /// room for another full segment.
    pub window_known: u64,
    pub window_limited: u64,
    /// Smallest window advertised while this direction sent data.
    pub min_window: Option<u64>,
    pub max_window_seen: u64,
    /// Largest window among the segments that filled it.
    pub pinned_window: u64,
    /// Bytes in flight after each new segment (thinned).
    pub inflight: InFlight,
    pub max_inflight: i64,
    pub first_data: Option<TsNs>,
    pub last_data: Option<TsNs>,
    /// Keep-alive probes: (ts, idle before it in ns).
    pub keepalives: Vec<(TsNs, i64)>,
    pub keepalive_count: u64,
    /// Keep-alive-shaped segments sent into a zero window (window probes).
    pub window_probes: u64,
}

impl DirCollect {
    /// Nanoseconds from the first to the last data segment, when positive.
    pub fn duration(&self) -> Option<i64> {
        match (self.first_data, self.last_data) {
            (Some(a), Some(b)) if b > a => Some(b - a),
            _ => None,
        }
    }

    /// Count a completed turn of `segs` segments carrying `bytes`.
    fn close_turn(&mut self, segs: u64, bytes: u64, mss: u32, frame: u64) {
        let min = bytes.div_ceil(mss.max(1) as u64).max(1);
        self.turns += 1;
        self.turn_segments += segs;
        self.turn_min_segments += min.min(segs);
        if segs > min {
            self.turns_over += 1;
            if self.turns_over_frames.len() < super::evidence::ADVICE_FRAMES {
                self.turns_over_frames.push(frame);
            }
        }
    }

    /// A keep-alive-shaped segment: a window probe into a zero window, else
    /// a keep-alive probe after `idle` ns without activity.
    fn probe(&mut self, ts: TsNs, peer_window: Option<u64>, idle: i64) {
        if peer_window == Some(0) {
            self.window_probes += 1;
            return;
        }
        self.keepalive_count += 1;
        if self.keepalives.len() < MAX_KEEPALIVES {
            self.keepalives.push((ts, idle));
        }
    }

    /// Bytes in flight after a new segment: the maximum, and the
    /// thinned list.
    fn push_inflight(&mut self, after: i64) {
        self.max_inflight = self.max_inflight.max(after);
        self.inflight.push(after);
    }

    /// A new segment leaving `after` bytes in flight against the peer's
    /// window `w`: count whether a full segment (`mss`) still fitted.
    fn window(&mut self, after: i64, mss: u32, w: u64) {
        self.window_known += 1;
        self.min_window = Some(self.min_window.map_or(w, |m| m.min(w)));
        self.max_window_seen = self.max_window_seen.max(w);
        if after as u64 + mss as u64 > w {
            self.window_limited += 1;
            self.pinned_window = self.pinned_window.max(w);
        }
    }
}

/// The turn in progress: a run of data segments one way.
#[derive(Debug, Clone, Copy)]
struct Turn {
    dir: Dir,
    segments: u64,
    bytes: u64,
    /// Largest MSS known during the turn.
    mss: u32,
    /// Its first segment's frame.
    frame: u64,
}

/// Evidence gathered while the flow runs (one per flow).
#[derive(Debug, Clone, Default)]
pub struct Collector {
    pub(super) dirs: Pair<DirCollect>,
    /// Current turn.
    turn: Option<Turn>,
    /// Last data or newly acknowledging ACK (not keep-alives).
    last_activity: Option<TsNs>,
    /// First data segment of the connection: direction and time …
    pub(super) first_data: Option<(Dir, TsNs)>,
    /// … and its frame number.
    pub(super) first_data_frame: u64,
}

impl Collector {
    fn close_turn(&mut self) {
        if let Some(t) = self.turn.take() {
            self.dirs[t.dir].close_turn(t.segments, t.bytes, t.mss, t.frame);
        }
    }

    /// Extend the turn of `d`, or close the other one and start it.
    fn extend_turn(&mut self, d: Dir, len: u32, mss: u32, frame: u64) {
        match &mut self.turn {
            Some(t) if t.dir == d => {
                t.segments += 1;
                t.bytes += len as u64;
                t.mss = t.mss.max(mss);
            }
            _ => {
                self.close_turn();
                self.turn = Some(Turn {
                    dir: d,
                    segments: 1,
                    bytes: len as u64,
                    mss,
                    frame,
                });
            }
        }
    }

    pub fn on_data(&mut self, ev: &DataEvent) {
        let d = ev.dir;
        match ev.kind {
            SegmentKind::KeepAlive => {
                let idle = self.last_activity.map_or(0, |t| ev.ts - t);
                self.dirs[d].probe(ev.ts, ev.peer_window, idle);
                return;
            }
            SegmentKind::Retransmission => {
                self.last_activity = Some(ev.ts);
                return;
            }
            SegmentKind::New | SegmentKind::OutOfOrder => {}
        }
        self.last_activity = Some(ev.ts);
        if self.first_data.is_none() {
            self.first_data = Some((d, ev.ts));
            self.first_data_frame = ev.frame;
        }
        let mss = ev.mss.unwrap_or(ev.len).max(1);
        self.extend_turn(d, ev.len, mss, ev.frame);
        let dc = &mut self.dirs[d];
        dc.first_data.get_or_insert(ev.ts);
        dc.last_data = Some(ev.ts);
        if ev.kind != SegmentKind::New {
            return;
        }
        let after = ev.in_flight + ev.len as i64;
        dc.push_inflight(after);
        if let Some(w) = ev.peer_window {
            dc.window(after, mss, w);
        }
    }

    pub fn on_ack(&mut self, ev: &AckEvent) {
        if ev.newly_acked > 0 {
            self.last_activity = Some(ev.ts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advice::testkit::{ack, data, MS};
    use crate::flow::{C2S, S2C};

    #[test]
    fn turns_close_when_the_other_side_sends() {
        let mut c = Collector::default();
        // Client: 3 segments for 300 bytes (1 needed); server answers.
        for t in 0..3 {
            c.on_data(&data(C2S, t * MS, 100));
        }
        c.on_data(&data(S2C, 10 * MS, 2000));
        c.on_data(&data(C2S, 20 * MS, 100));
        let dc = &c.dirs[C2S];
        assert_eq!(
            (
                dc.turns,
                dc.turn_segments,
                dc.turn_min_segments,
                dc.turns_over
            ),
            (1, 3, 1, 1)
        );
        // The server's turn closed too; the client's second is still open.
        assert_eq!((c.dirs[S2C].turns, c.dirs[S2C].turn_min_segments), (1, 1));
        assert_eq!(c.first_data, Some((C2S, 0)));
    }

    #[test]
    fn keepalives_count_idle_time_and_window_probes_apart() {
        let mut c = Collector::default();
        c.on_data(&data(C2S, 0, 100));
        c.on_ack(&ack(C2S, 5 * MS, 100));
        let mut probe = data(C2S, 65 * MS, 1);
        probe.kind = SegmentKind::KeepAlive;
        probe.peer_window = Some(65535);
        c.on_data(&probe);
        probe.peer_window = Some(0);
        c.on_data(&probe);
        let dc = &c.dirs[C2S];
        assert_eq!((dc.keepalive_count, dc.window_probes), (1, 1));
        assert_eq!(dc.keepalives, vec![(65 * MS, 60 * MS)]);
    }

    #[test]
    fn window_limited_segments_and_in_flight() {
        let mut c = Collector::default();
        for (in_flight, w) in [(0, 100_000), (60_000, 62_000), (10_000, 80_000)] {
            let mut e = data(C2S, 0, 1448);
            (e.in_flight, e.peer_window) = (in_flight, Some(w));
            c.on_data(&e);
        }
        let dc = &c.dirs[C2S];
        assert_eq!((dc.window_known, dc.window_limited), (3, 1));
        assert_eq!(
            (dc.pinned_window, dc.min_window, dc.max_window_seen),
            (62_000, Some(62_000), 100_000)
        );
        assert_eq!(dc.inflight.values(), &[1448, 61_448, 11_448]);
        assert_eq!(dc.max_inflight, 61_448);
    }

    #[test]
    fn in_flight_list_is_thinned_at_the_cap() {
        let mut dc = DirCollect::default();
        for v in 1..=MAX_INFLIGHT as i64 + 3 {
            dc.push_inflight(v);
        }
        let kept = dc.inflight.values();
        assert_eq!(kept.len(), MAX_INFLIGHT as usize / 2 + 1);
        assert_eq!(&kept[..3], &[2, 4, 6]);
        assert_eq!(kept.last(), Some(&(MAX_INFLIGHT as i64 + 2)));
        assert_eq!(dc.max_inflight, MAX_INFLIGHT as i64 + 3);
    }
}

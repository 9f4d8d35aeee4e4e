//! Which logged writes belong to a direction, and whether they fit it.
//!
//! Rule (README "Write logs"): a write log (`--writes`) is a set of sockets
//! ([`LogSet`]). When a direction's first data segment is seen, its
//! candidates are chosen: the sockets whose known endpoints allow that
//! direction (a socket whose endpoints are known and match is taken from its
//! first write; one without endpoints from its first write at or after the
//! connection's first frame, less [`CLOCK_TOLERANCE`], provided that write
//! came before the segment). Up to [`MAX_TRIALS`] candidates are mapped onto
//! the direction's byte stream while it streams (a [`Trial`] each: writes
//! per segment, each write's wait, and, per recorded small segment and
//! aggregated segment, what the log says) — apart from the figures the
//! observer keeps without the log. When the flow ends, a candidate's writes
//! are cut to the connection's lifetime (endpoint-less sockets: the writes
//! called up to the last frame plus the tolerance) and checked by
//! [`fit`]: same total as the direction's new payload bytes, small segments
//! ending on write ends, no write called after its bytes left. The first
//! that fits is applied; its figures replace the log-less ones. If none
//! fits, the log is refused for that direction with a note naming the
//! socket and the reason. A socket that fits both directions of one
//! connection goes to the one whose bytes reach the wire soonest after the
//! calls (the sender's own), and a refusal is not noted for a direction
//! whose candidate went to the other.
//!
//! What it does not do: read the log (that is `crate::writes`), or let a
//! log touch any figure of a direction it was not applied to.

use super::observe::DirAnalysis;
use super::stats::quantile;
use crate::flow::{Dir, Pair};
use crate::writes::{fit, LogSet, LogSocket, Misfit, NagleBits, WriteLog};
use crate::TsNs;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// How far the log's clock and the capture's may disagree (ns), for the
/// connection's lifetime and for writes called after their bytes left.
pub(super) const CLOCK_TOLERANCE: TsNs = 1_000_000;
/// Candidate sockets mapped at once per direction.
pub(super) const MAX_TRIALS: usize = 4;
/// New-data segments kept per direction for the fit (the rest are not
/// checked for boundaries and timing; totals always are).
const MAX_FIT_SEGMENTS: usize = 1 << 16;
/// Writes whose wait is kept per trial.
const MAX_WRITE_DELAYS: usize = 1 << 20;

/// Where a connection starts and who its ends are (from the tracker).
#[derive(Debug, Clone, Copy)]
pub(super) struct FlowOpen {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub start: TsNs,
}

/// One candidate run of logged writes, mapped onto one direction.
#[derive(Debug, Clone)]
pub(super) struct Trial {
    /// Index of the socket in the [`LogSet`].
    pub socket: usize,
    /// Its first write that belongs to this connection.
    pub first: usize,
    /// Bytes the socket wrote before `first`.
    base: u64,
    /// The direction's bytes still fit in the writes.
    pub active: bool,
    pub wps: BTreeMap<u64, u64>,
    pub write_delays: Vec<Option<i64>>,
    /// (writes, first call) of each small segment the observer recorded
    /// (`DirAnalysis::smalls`), in its order.
    pub smalls: Vec<(Option<u64>, Option<TsNs>)>,
    pub agg_in_flight: u64,
    pub agg_window_limited: u64,
    pub agg_free: u32,
}

/// What the log says of one segment.
pub(super) struct LoggedWrites {
    pub count: u64,
    /// When the first of them was called.
    pub first_call: Option<TsNs>,
}

impl Trial {
    fn new(set: &LogSet, socket: usize, first: usize, active: bool) -> Trial {
        let w = &set.sockets[socket].writes;
        Trial {
            socket,
            first,
            base: first.checked_sub(1).map_or(0, |i| w.ends[i]),
            active,
            wps: BTreeMap::new(),
            write_delays: Vec::new(),
            smalls: Vec::new(),
            agg_in_flight: 0,
            agg_window_limited: 0,
            agg_free: 0,
        }
    }

    /// Map the direction's bytes `[start, end)` onto the writes; the trial
    /// stops (and forgets its figures) once they run past the log.
    pub fn map(&mut self, log: &WriteLog, ts: TsNs, start: i64, end: i64) -> Option<LoggedWrites> {
        if self.active && self.base + end.max(0) as u64 > log.total() {
            self.active = false;
            self.wps.clear();
            self.write_delays = Vec::new();
        }
        if !(self.active && start >= 0) {
            return None;
        }
        let (s, e) = (self.base + start as u64, self.base + end as u64);
        let lo = log.ends.partition_point(|&x| x <= s);
        let hi = log.ends.partition_point(|&x| x <= e);
        let count = (hi - lo) as u64;
        *self.wps.entry(count).or_default() += 1;
        let first_call = (hi > lo).then(|| log.times[lo]);
        let keep = (hi - self.first).min(MAX_WRITE_DELAYS);
        if self.write_delays.len() < keep {
            self.write_delays.resize(keep, None);
        }
        for i in lo..hi {
            if let Some(d) = self.write_delays.get_mut(i - self.first) {
                *d = Some(ts.saturating_sub(log.times[i]));
            }
        }
        Some(LoggedWrites { count, first_call })
    }
}

/// A direction's candidates and what the fit needs.
#[derive(Debug, Clone, Default)]
pub(super) struct DirLogs {
    pub trials: Vec<Trial>,
    /// (capture time, end offset, small) of new-data segments.
    pub segments: Vec<(TsNs, u64, bool)>,
}

impl DirLogs {
    /// Choose the candidates for `from` → `to` at the direction's first
    /// data segment (`ts`, starting at offset `start`).
    pub fn select(
        set: &LogSet,
        ends: Option<(SocketAddr, SocketAddr)>,
        flow_start: TsNs,
        ts: TsNs,
        start: i64,
    ) -> DirLogs {
        let mut cands: Vec<(usize, &LogSocket)> = set
            .sockets
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.writes.is_empty() && ends.is_none_or(|(f, t)| s.id.may_send(f, t)))
            .collect();
        cands.sort_by_key(|(_, s)| !s.id.endpoints_known());
        let trials = cands
            .into_iter()
            .flat_map(|(i, s)| {
                first_writes(s, flow_start, ts)
                    .into_iter()
                    .map(move |first| (i, first))
            })
            .map(|(i, first)| Trial::new(set, i, first, start == 0))
            .take(MAX_TRIALS)
            .collect();
        DirLogs {
            trials,
            segments: Vec::new(),
        }
    }

    /// Remember a new-data segment for the fit (bounded).
    pub fn push_segment(&mut self, ts: TsNs, end: i64, small: bool) {
        if self.segments.len() < MAX_FIT_SEGMENTS && end >= 0 {
            self.segments.push((ts, end as u64, small));
        }
    }
}

/// The socket's possible first writes on a connection that started at
/// `flow_start` and sent its first data at `ts`: its first write at all
/// when its endpoints are known, else its first write from the
/// connection's start less the tolerance and, if another, from the start
/// itself (a previous connection on the descriptor may have written just
/// before). Each must precede that data. None when the socket's lifetime
/// excludes the connection.
fn first_writes(s: &LogSocket, flow_start: TsNs, ts: TsNs) -> Vec<usize> {
    let tol = CLOCK_TOLERANCE;
    if s.id.closed.is_some_and(|c| c < flow_start - tol)
        || s.id.opened.is_some_and(|o| o > ts + tol)
    {
        return Vec::new();
    }
    if s.id.endpoints_known() {
        return vec![0];
    }
    let w = &s.writes;
    let mut v: Vec<usize> = [flow_start - tol, flow_start]
        .iter()
        .map(|&from| w.times.partition_point(|&t| t < from))
        .filter(|&i| i < w.len() && w.times[i] <= ts + tol)
        .collect();
    v.dedup();
    v
}

/// The outcome for one direction.
#[derive(Debug, Clone)]
pub(super) enum Outcome {
    /// No socket of the log could have sent it.
    NoCandidate,
    /// These writes are the direction's (offsets from their first).
    Applied {
        trial: Trial,
        writes: WriteLog,
        kernel: Option<KernelStates>,
    },
    /// Candidates existed; none fitted (the first one's socket and reason).
    Refused { socket: usize, why: Misfit },
}

/// A kernel-traced socket's Nagle state over the applied writes: (index
/// among them, state from there on); empty when the kernel's field could
/// not be read.
pub(super) type KernelStates = Vec<(usize, NagleBits)>;

/// The range of `t`'s writes within the direction's lifetime: to `end_ts`,
/// its last data segment (a write called later cannot be in it).
fn cut(set: &LogSet, t: &Trial, end_ts: TsNs) -> std::ops::Range<usize> {
    let s = &set.sockets[t.socket];
    let w = &s.writes;
    let n = if s.id.endpoints_known() {
        w.len()
    } else {
        w.times
            .partition_point(|&x| x <= end_ts + CLOCK_TOLERANCE)
            .max(t.first)
    };
    t.first..n
}

/// Check a direction's trials at the end of the flow (`end_ts`: the time of
/// its last data segment): the first that fits.
pub(super) fn check(set: &LogSet, logs: DirLogs, payload_bytes: u64, end_ts: TsNs) -> Outcome {
    let mut refused = None;
    for t in logs.trials {
        let range = cut(set, &t, end_ts);
        let socket = &set.sockets[t.socket];
        let writes = socket.writes.slice(range.clone());
        let verdict =
            fit(&writes, payload_bytes, &logs.segments, CLOCK_TOLERANCE).and(if t.active {
                Ok(())
            } else {
                Err(Misfit::MidStream)
            });
        match verdict {
            Ok(()) => {
                let kernel = socket.kernel.then(|| socket.states_in(range));
                return Outcome::Applied {
                    trial: t,
                    writes,
                    kernel,
                };
            }
            Err(why) => {
                refused.get_or_insert((t.socket, why));
            }
        }
    }
    match refused {
        Some((socket, why)) => Outcome::Refused { socket, why },
        None => Outcome::NoCandidate,
    }
}

/// Median of a trial's write waits, by magnitude.
fn median_wait(t: &Trial) -> i64 {
    let mut v: Vec<i64> = t
        .write_delays
        .iter()
        .flatten()
        .map(|x| x.saturating_abs())
        .collect();
    v.sort_unstable();
    quantile(&v, 0.5).unwrap_or(i64::MAX)
}

/// One socket's writes applied to both directions: keep the direction whose
/// bytes reach the wire soonest after the calls; the other gets nothing
/// (and no note: the writes are accounted for).
pub(super) fn settle(out: &mut Pair<Outcome>) {
    let [a, b] = Dir::BOTH;
    let same = match (&out[a], &out[b]) {
        (Outcome::Applied { trial: x, .. }, Outcome::Applied { trial: y, .. }) => {
            (x.socket == y.socket && x.first == y.first).then(|| median_wait(x) <= median_wait(y))
        }
        _ => None,
    };
    if let Some(a_wins) = same {
        out[if a_wins { b } else { a }] = Outcome::NoCandidate;
    }
    for d in Dir::BOTH {
        let other = match &out[d.reverse()] {
            Outcome::Applied { trial, .. } => Some(trial.socket),
            _ => None,
        };
        if let Outcome::Refused { socket, .. } = &out[d] {
            if Some(*socket) == other {
                out[d] = Outcome::NoCandidate;
            }
        }
    }
}

/// A direction's applied log: its writes (offsets from the first), writes
/// per segment and each write's wait (kept here, not in the flow state,
/// which stays small).
#[derive(Debug, Clone)]
pub(super) struct Applied {
    pub writes: WriteLog,
    pub wps: BTreeMap<u64, u64>,
    pub delays: Vec<Option<i64>>,
    /// The writes came from the kernel, with the socket's states.
    pub kernel: Option<KernelStates>,
}

/// Put an applied log's figures in place of the log-less ones; returns
/// what the boundaries stage and the chart series read.
pub(super) fn apply(da: &mut DirAnalysis, out: Outcome) -> Option<Applied> {
    let Outcome::Applied {
        trial,
        writes,
        kernel,
    } = out
    else {
        return None;
    };
    for (s, (w, first_call)) in da.smalls.iter_mut().zip(&trial.smalls) {
        s.writes = *w;
        s.first_call = *first_call;
    }
    da.agg_in_flight = trial.agg_in_flight;
    da.agg_window_limited = trial.agg_window_limited;
    da.agg_free = trial.agg_free;
    let mut delays = trial.write_delays;
    delays.resize(writes.len().min(MAX_WRITE_DELAYS), None);
    Some(Applied {
        writes,
        wps: trial.wps,
        delays,
        kernel,
    })
}

/// The note for a refused direction.
pub(super) fn refusal_note(set: &LogSet, out: &Outcome, side: &str) -> Option<String> {
    let Outcome::Refused { socket, why } = out else {
        return None;
    };
    let who = set.sockets[*socket].id.describe();
    Some(format!("{side}: write log not applied ({who}): {why}"))
}

/// Writes whose last byte lies in the direction's `[start, start + len)`,
/// when those bytes are within the log.
pub(super) fn writes_in(log: &WriteLog, start: i64, len: u32) -> Option<u64> {
    let end = start + len as i64;
    if start < 0 || end as u64 > log.total() {
        return None;
    }
    let below = |x: i64| log.ends.partition_point(|&e| e <= x as u64);
    Some((below(end) - below(start)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writes::{LogSocket, SocketId};

    const MS: TsNs = 1_000_000;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A socket with `writes` of (time ms, bytes).
    fn socket(id: SocketId, writes: &[(i64, u64)]) -> LogSocket {
        LogSocket {
            id,
            writes: WriteLog::from_writes(writes.iter().map(|&(t, b)| (t * MS, b))),
            ..Default::default()
        }
    }

    fn fd(n: i32) -> SocketId {
        SocketId {
            fd: Some(n),
            ..Default::default()
        }
    }

    const C: &str = "10.0.0.1:40000";
    const S: &str = "10.0.0.2:6379";

    #[test]
    fn trial_maps_bytes_to_writes() {
        let set = LogSet {
            sockets: vec![socket(fd(4), &[(10, 100), (20, 100), (30, 100)])],
            skipped: 0,
        };
        let log = &set.sockets[0].writes;
        let mut t = Trial::new(&set, 0, 0, true);
        let lw = t.map(log, 50 * MS, 0, 200).unwrap();
        assert_eq!((lw.count, lw.first_call), (2, Some(10 * MS)));
        assert_eq!(t.write_delays, vec![Some(40 * MS), Some(30 * MS)]);
        // More bytes than the log holds: the trial stops and forgets.
        assert!(t.map(log, 60 * MS, 200, 400).is_none());
        assert!(!t.active && t.wps.is_empty());
        // From a later write: offsets count from it.
        let mut t = Trial::new(&set, 0, 1, true);
        assert_eq!(
            t.map(log, 50 * MS, 0, 100).unwrap().first_call,
            Some(20 * MS)
        );
    }

    #[test]
    fn an_fd_reused_across_connections_is_split_by_lifetime() {
        // redis-benchmark: three connections one after another on fd 4.
        let set = LogSet {
            sockets: vec![socket(
                fd(4),
                &[(1, 10), (2, 10), (101, 20), (102, 20), (201, 30)],
            )],
            skipped: 0,
        };
        let ends = Some((addr(C), addr(S)));
        let second = DirLogs::select(&set, ends, 100 * MS, 101 * MS, 0);
        assert_eq!((second.trials.len(), second.trials[0].first), (1, 2));
        // A previous connection's write just before this one's start: both
        // starting points are tried.
        let close = DirLogs::select(&set, ends, 2 * MS + CLOCK_TOLERANCE / 2, 101 * MS, 0);
        assert_eq!(
            close.trials.iter().map(|t| t.first).collect::<Vec<_>>(),
            vec![1, 2]
        );
        // Its writes within the connection's lifetime fit its 40 bytes.
        let mut logs = second;
        let w = &set.sockets[0].writes;
        for (ts, s, e) in [(101, 0, 20), (102, 20, 40)] {
            logs.trials[0].map(w, ts * MS, s, e);
            logs.push_segment(ts * MS, e, true);
        }
        match check(&set, logs.clone(), 40, 150 * MS) {
            Outcome::Applied { writes, .. } => assert_eq!(writes.ends, vec![20, 40]),
            o => panic!("{o:?}"),
        }
        // Cut at the wrong end (the last frame after the third's writes):
        // 70 bytes against 40, refused.
        match check(&set, logs, 40, 250 * MS) {
            Outcome::Refused {
                why: Misfit::TooManyBytes { log: 70, flow: 40 },
                ..
            } => {}
            o => panic!("{o:?}"),
        }
        // No write after the connection's start and before its data.
        assert!(DirLogs::select(&set, ends, 300 * MS, 301 * MS, 0)
            .trials
            .is_empty());
    }

    #[test]
    fn known_endpoints_pick_their_connection_only() {
        let mine = SocketId {
            local: Some(addr(C)),
            peer: Some(addr(S)),
            ..fd(4)
        };
        let other = SocketId {
            local: Some(addr("10.0.0.1:40001")),
            peer: Some(addr(S)),
            ..fd(4)
        };
        let set = LogSet {
            sockets: vec![
                socket(other, &[(1, 10)]),
                socket(mine, &[(2, 10)]),
                socket(fd(9), &[(3, 10)]),
            ],
            skipped: 0,
        };
        let l = DirLogs::select(&set, Some((addr(C), addr(S))), 0, 5 * MS, 0);
        let picked: Vec<usize> = l.trials.iter().map(|t| t.socket).collect();
        assert_eq!(
            picked,
            vec![1, 2],
            "known endpoints first, then the fd-only socket"
        );
        // The reverse direction: neither named socket sends S → C.
        let r = DirLogs::select(&set, Some((addr(S), addr(C))), 0, 5 * MS, 0);
        assert_eq!(
            r.trials.iter().map(|t| t.socket).collect::<Vec<_>>(),
            vec![2]
        );
    }

    fn applied(socket: usize, delay: i64) -> Outcome {
        let mut trial = Trial::new(
            &LogSet {
                sockets: vec![LogSocket::default()],
                skipped: 0,
            },
            0,
            0,
            true,
        );
        trial.socket = socket;
        trial.write_delays = vec![Some(delay)];
        Outcome::Applied {
            trial,
            writes: WriteLog::from_writes([(0, 1)]),
            kernel: None,
        }
    }

    #[test]
    fn one_socket_goes_to_one_direction() {
        // An echo: the same bytes both ways; the sender's writes reach the
        // wire sooner.
        let mut out = Pair::new(applied(0, 5 * MS), applied(0, 20 * MS));
        settle(&mut out);
        assert!(matches!(out[crate::flow::C2S], Outcome::Applied { .. }));
        assert!(matches!(out[crate::flow::S2C], Outcome::NoCandidate));
        // A refusal of the socket applied to the other direction is no news.
        let refused = Outcome::Refused {
            socket: 0,
            why: Misfit::MidStream,
        };
        let mut out = Pair::new(applied(0, 5 * MS), refused.clone());
        settle(&mut out);
        assert!(matches!(out[crate::flow::S2C], Outcome::NoCandidate));
        let mut out = Pair::new(applied(1, 5 * MS), refused);
        settle(&mut out);
        assert!(matches!(out[crate::flow::S2C], Outcome::Refused { .. }));
    }

    #[test]
    fn apply_replaces_the_log_less_figures() {
        use super::super::observe::SmallSend;
        let small = SmallSend {
            ts: 0,
            frame: 1,
            since_ack: Some(10),
            exempt: false,
            ack_wait: None,
            writes: None,
            len: 100,
            pure_ack: true,
            first_call: None,
            next_full: None,
        };
        let mut da = DirAnalysis::default();
        da.smalls = vec![
            small,
            SmallSend {
                writes: Some(1),
                ..small
            },
        ];
        da.agg_in_flight = 7;
        let mut out = applied(0, MS);
        if let Outcome::Applied { trial, .. } = &mut out {
            trial.smalls = vec![(Some(3), Some(-5)), (Some(1), None)];
            trial.agg_in_flight = 1;
        }
        let a = apply(&mut da, out).unwrap();
        assert_eq!((a.writes.len(), a.delays), (1, vec![Some(MS)]));
        assert_eq!(
            (da.smalls[0].writes, da.smalls[0].first_call),
            (Some(3), Some(-5))
        );
        assert_eq!(da.smalls[1].first_call, None);
        assert_eq!(da.agg_in_flight, 1);
        // Refused: nothing changes.
        assert!(apply(
            &mut da,
            Outcome::Refused {
                socket: 0,
                why: Misfit::MidStream
            }
        )
        .is_none());
        assert_eq!(da.agg_in_flight, 1);
    }

    #[test]
    fn refusal_note_names_socket_and_reason() {
        let set = LogSet {
            sockets: vec![socket(fd(4), &[(1, 10)])],
            skipped: 0,
        };
        let out = Outcome::Refused {
            socket: 0,
            why: Misfit::TooManyBytes {
                log: 41000,
                flow: 4000,
            },
        };
        assert_eq!(
            refusal_note(&set, &out, "client→server").unwrap(),
            "client→server: write log not applied (fd 4): its writes hold 41000 bytes but the direction sent 4000"
        );
    }

    #[test]
    fn writes_in_a_segment() {
        let log = WriteLog::from_writes([(0, 4), (1, 4), (2, 4)]);
        assert_eq!(writes_in(&log, 0, 8), Some(2));
        assert_eq!(writes_in(&log, 8, 4), Some(1));
        assert_eq!(writes_in(&log, 8, 8), None);
    }
}

//! Stage: the per-segment time series for charts (`--series`): each new or
//! retransmitted data segment (with its frame number) and each ACK that
//! acknowledged new bytes (with the window it advertised), in capture
//! order, evenly thinned to a bounded count (`crate::thin`, keeping the
//! first point of each stride); and, for the direction that owns the write
//! log, every write call with its stream offset and the departure of its
//! last byte (from the log mapping `observe` made), thinned the same way.
//! The peer's SACK blocks (one point per block, thinned the same way) and
//! its zero-window episodes (first zero advert to the next non-zero
//! window; at most [`MAX_ZERO_WINDOWS`], the rest counted) are kept too.
//! Times become seconds from the flow's start. Nothing here feeds a
//! finding.

use super::observe::DirAnalysis;
use crate::flow::AckEvent;
use crate::report::{self, secs};
use crate::thin::{Keep, Thinned};
use crate::writes::WriteLog;
use crate::TsNs;

/// Cap on the points kept per series; beyond it every other point is dropped.
const MAX_SERIES: u32 = 1 << 17;

/// One chart series, evenly thinned ([`Keep::First`]).
#[derive(Debug, Clone)]
pub(super) struct Points<T>(Thinned<T>);

impl<T> Default for Points<T> {
    fn default() -> Self {
        Points(Thinned::new(MAX_SERIES, Keep::First))
    }
}

impl<T> Points<T> {
    #[inline]
    pub fn push(&mut self, p: T) {
        self.0.push(p);
    }

    fn points(&self) -> &[T] {
        self.0.values()
    }

    fn stride(&self) -> u64 {
        self.0.stride()
    }
}

/// Most zero-window episodes kept per direction (later ones are counted).
const MAX_ZERO_WINDOWS: usize = 4096;

/// A zero-window episode the peer advertised: its first zero window
/// (ts, frame, cumulative ACK), how many zero adverts it had, and the
/// reopening (ts, frame) when seen.
#[derive(Debug, Clone, Copy)]
pub(super) struct ZeroWindow {
    pub ts: TsNs,
    pub frame: u64,
    pub ack: i64,
    pub adverts: u64,
    pub end: Option<(TsNs, u64)>,
}

/// A direction's chart points: segments, ACKs, SACK blocks and zero-window
/// episodes.
#[derive(Debug, Clone, Default)]
pub(super) struct SeriesPoints {
    /// (ts, offset, len, writes, retransmission, frame).
    pub segments: Points<(TsNs, i64, u32, Option<u64>, bool, u64)>,
    /// (ts, ack, advertised window).
    pub acks: Points<(TsNs, i64, Option<u64>)>,
    /// (ts, frame, start, end): one point per SACK block.
    pub sacks: Points<(TsNs, u64, i64, i64)>,
    pub zero_windows: Vec<ZeroWindow>,
    pub zero_windows_dropped: u64,
    zero_open: bool,
}

impl SeriesPoints {
    /// Whether an ACK has anything for [`SeriesPoints::ack_marks`]: SACK
    /// blocks, a zero window, or a window after a zero one.
    #[inline]
    pub fn wants(sp: Option<&SeriesPoints>, ev: &AckEvent) -> bool {
        ev.sack.n > 0 || ev.zero_window || sp.is_some_and(|s| s.zero_open)
    }

    /// Record an ACK's SACK blocks and zero-window episode edges.
    pub fn ack_marks(&mut self, ev: &AckEvent) {
        for &(lo, hi) in ev.sack.blocks() {
            self.sacks.push((ev.ts, ev.frame, lo, hi));
        }
        let open = self.zero_windows.last_mut().filter(|z| z.end.is_none());
        if ev.zero_window {
            match (self.zero_open, open) {
                (true, Some(z)) => z.adverts += 1,
                (true, None) => {}
                (false, _) => {
                    self.zero_open = true;
                    if self.zero_windows.len() < MAX_ZERO_WINDOWS {
                        self.zero_windows.push(ZeroWindow {
                            ts: ev.ts,
                            frame: ev.frame,
                            ack: ev.ack,
                            adverts: 1,
                            end: None,
                        });
                    } else {
                        self.zero_windows_dropped += 1;
                    }
                }
            }
        } else if self.zero_open && ev.window.is_some_and(|w| w > 0) {
            self.zero_open = false;
            if let Some(z) = open {
                z.end = Some((ev.ts, ev.frame));
            }
        }
    }
}

/// A direction's series, with times relative to `t0`; with the direction's
/// applied write log, each new segment's writes are the log's and the write
/// calls are listed.
pub(super) fn series(
    da: &DirAnalysis,
    t0: TsNs,
    applied: Option<&super::logs::Applied>,
) -> report::Series {
    let log = applied.map(|a| &a.writes);
    let (writes, write_stride) = applied
        .map(|a| writes(&a.writes, &a.delays, t0))
        .unwrap_or((Vec::new(), 1));
    let empty = SeriesPoints::default();
    let sp = da.series.as_deref().unwrap_or(&empty);
    report::Series {
        segments: sp
            .segments
            .points()
            .iter()
            .map(
                |&(ts, offset, len, writes, retransmission, frame)| report::SeriesSegment {
                    t: secs(ts - t0),
                    offset,
                    len,
                    writes: match log {
                        Some(l) if !retransmission => super::logs::writes_in(l, offset, len),
                        _ => writes,
                    },
                    retransmission,
                    frame,
                },
            )
            .collect(),
        acks: sp
            .acks
            .points()
            .iter()
            .map(|&(ts, ack, win)| report::SeriesAck {
                t: secs(ts - t0),
                ack,
                win,
            })
            .collect(),
        segment_stride: sp.segments.stride(),
        ack_stride: sp.acks.stride(),
        writes,
        write_stride,
        sacks: sp
            .sacks
            .points()
            .iter()
            .map(|&(ts, frame, start, end)| report::SeriesSack {
                t: secs(ts - t0),
                frame,
                start,
                end,
            })
            .collect(),
        sack_stride: sp.sacks.stride(),
        zero_windows: sp
            .zero_windows
            .iter()
            .map(|z| report::SeriesZeroWindow {
                t: secs(z.ts - t0),
                frame: z.frame,
                ack: z.ack,
                adverts: z.adverts,
                t_end: z.end.map(|e| secs(e.0 - t0)),
                frame_end: z.end.map(|e| e.1),
            })
            .collect(),
        zero_windows_dropped: sp.zero_windows_dropped,
    }
}

/// The log's write calls, every `stride`-th (so at most [`MAX_SERIES`]),
/// each with the departure of its last byte when it was seen.
fn writes(log: &WriteLog, delays: &[Option<i64>], t0: TsNs) -> (Vec<report::SeriesWrite>, u64) {
    let stride = log.len().div_ceil(MAX_SERIES as usize).max(1);
    let out = (0..log.len())
        .step_by(stride)
        .map(|i| {
            let call = log.times[i];
            let delay = delays.get(i).copied().flatten();
            report::SeriesWrite {
                t_call: secs(call - t0),
                offset_end: log.ends[i],
                t_departure: delay.map(|d| secs(call + d - t0)),
            }
        })
        .collect();
    (out, stride as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(ts: TsNs, frame: u64, window: u64) -> AckEvent {
        AckEvent {
            dir: crate::flow::C2S,
            ts,
            frame,
            ack: 0,
            newly_acked: 0,
            rtt_sample: None,
            carries_data: false,
            window: Some(window),
            zero_window: window == 0,
            sack: Default::default(),
        }
    }

    #[test]
    fn zero_window_episodes_run_to_the_next_open_window() {
        let mut sp = SeriesPoints::default();
        for (ts, frame, w) in [
            (10, 1, 100),
            (20, 2, 0),
            (30, 3, 0),
            (40, 4, 50),
            (50, 5, 0),
        ] {
            let ev = ack(ts, frame, w);
            if SeriesPoints::wants(Some(&sp), &ev) {
                sp.ack_marks(&ev);
            }
        }
        let z: Vec<_> = sp
            .zero_windows
            .iter()
            .map(|z| (z.ts, z.frame, z.adverts, z.end))
            .collect();
        assert_eq!(z, vec![(20, 2, 2, Some((40, 4))), (50, 5, 1, None)]);
        let mut ev = ack(60, 6, 10);
        ev.sack = crate::flow::Sack {
            blocks: [(5, 9), (12, 20), (0, 0), (0, 0)],
            n: 2,
        };
        sp.ack_marks(&ev);
        assert_eq!(sp.sacks.points(), &[(60, 6, 5, 9), (60, 6, 12, 20)]);
        assert_eq!(sp.zero_windows[1].end, Some((60, 6)));
    }

    #[test]
    fn thinning_keeps_first_and_every_other() {
        let mut t = Points::default();
        for i in 0..MAX_SERIES as u64 + 3 {
            t.push(i);
        }
        assert_eq!(t.stride(), 2);
        assert_eq!(t.points()[0], 0);
        assert!(t.points().iter().all(|p| p % 2 == 0));
    }
}

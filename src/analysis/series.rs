//! Stage: the per-segment time series for charts (`--series`): each new or
//! retransmitted data segment (with its frame number) and each ACK that
//! acknowledged new bytes (with the window it advertised), in capture
//! order, evenly thinned to a bounded count (`crate::thin`, keeping the
//! first point of each stride); and, for the direction that owns the write
//! log, every write call with its stream offset and the departure of its
//! last byte (from the log mapping `observe` made), thinned the same way.
//! Times become seconds from the flow's start. Nothing here feeds a
//! finding.

use super::observe::DirAnalysis;
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

/// A direction's chart points: segments and ACKs.
#[derive(Debug, Clone, Default)]
pub(super) struct SeriesPoints {
    /// (ts, offset, len, writes, retransmission, frame).
    pub segments: Points<(TsNs, i64, u32, Option<u64>, bool, u64)>,
    /// (ts, ack, advertised window).
    pub acks: Points<(TsNs, i64, Option<u64>)>,
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

//! Stage: the per-segment time series for charts (`--series`): each new or
//! retransmitted data segment and each ACK that acknowledged new bytes, in
//! capture order, evenly thinned to a bounded count (`crate::thin`,
//! keeping the first point of each stride). Times become seconds
//! from the flow's start. Nothing here feeds a finding.

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
    /// (ts, offset, len, writes, retransmission).
    pub segments: Points<(TsNs, i64, u32, Option<u64>, bool)>,
    pub acks: Points<(TsNs, i64)>,
}

/// A direction's series, with times relative to `t0`; with the direction's
/// applied write log, each new segment's writes are the log's.
pub(super) fn series(da: &DirAnalysis, t0: TsNs, log: Option<&WriteLog>) -> report::Series {
    let empty = SeriesPoints::default();
    let sp = da.series.as_deref().unwrap_or(&empty);
    report::Series {
        segments: sp
            .segments
            .points()
            .iter()
            .map(|&(ts, offset, len, writes, retransmission)| report::SeriesSegment {
                t: secs(ts - t0),
                offset,
                len,
                writes: match log {
                    Some(l) if !retransmission => super::logs::writes_in(l, offset, len),
                    _ => writes,
                },
                retransmission,
            })
            .collect(),
        acks: sp
            .acks
            .points()
            .iter()
            .map(|&(ts, ack)| report::SeriesAck {
                t: secs(ts - t0),
                ack,
            })
            .collect(),
        segment_stride: sp.segments.stride(),
        ack_stride: sp.acks.stride(),
    }
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

//! Stage: the per-segment time series for charts (`--series`): each new or
//! retransmitted data segment and each ACK that acknowledged new bytes, in
//! capture order, evenly thinned to a bounded count. Times become seconds
//! from the flow's start. Nothing here feeds a finding.

use super::observe::DirAnalysis;
use crate::report::{self, secs};
use crate::TsNs;

/// Cap on the points kept per series; beyond it every other point is dropped.
const MAX_SERIES: usize = 1 << 17;

/// A bounded, evenly thinned list of points.
#[derive(Debug, Default, Clone)]
pub(super) struct Thinned<T> {
    points: Vec<T>,
    seen: u64,
    stride: u64,
}

impl<T> Thinned<T> {
    pub fn push(&mut self, p: T) {
        if self.stride == 0 {
            self.stride = 1;
        }
        self.seen += 1;
        if (self.seen - 1).is_multiple_of(self.stride) {
            self.points.push(p);
            if self.points.len() >= MAX_SERIES {
                let mut i = 0;
                self.points.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
        }
    }
}

/// A direction's series, with times relative to `t0`.
pub(super) fn series(da: &DirAnalysis, t0: TsNs) -> report::Series {
    report::Series {
        segments: da
            .series_segments
            .points
            .iter()
            .map(|&(ts, offset, len, writes, retransmission)| report::SeriesSegment {
                t: secs(ts - t0),
                offset,
                len,
                writes,
                retransmission,
            })
            .collect(),
        acks: da
            .series_acks
            .points
            .iter()
            .map(|&(ts, ack)| report::SeriesAck {
                t: secs(ts - t0),
                ack,
            })
            .collect(),
        segment_stride: da.series_segments.stride.max(1),
        ack_stride: da.series_acks.stride.max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_first_and_every_other() {
        let mut t = Thinned::default();
        for i in 0..MAX_SERIES as u64 + 3 {
            t.push(i);
        }
        assert_eq!(t.stride, 2);
        assert_eq!(t.points[0], 0);
        assert!(t.points.iter().all(|p| p % 2 == 0));
    }
}

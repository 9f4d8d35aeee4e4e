//! Stage: send intervals. The gaps between a direction's new-data
//! segments, compared with the path RTT, and whether writes were spaced
//! wider than the RTT.
//!
//! Rule: `rtt_ratio` is the median send interval over the path RTT. Writes
//! are spaced wider than the RTT when the write log's median gap between
//! calls exceeds it (for the direction that owns the log), else when the
//! median send interval exceeds 1.2 × RTT; Nagle then never had to hold
//! anything, or held data only when an ACK came late.

use super::stats::quantile;
use crate::report::{self, ms};
use crate::thin::{Keep, Thinned};

/// Intervals kept per direction before thinning to every other one.
const MAX_INTERVALS: u32 = 1 << 16;

/// A direction's send intervals (ns), evenly thinned ([`Keep::Last`]).
#[derive(Debug, Clone)]
pub(super) struct Intervals(Thinned<i64>);

impl Default for Intervals {
    fn default() -> Self {
        Intervals(Thinned::new(MAX_INTERVALS, Keep::Last))
    }
}

impl Intervals {
    #[inline]
    pub fn push(&mut self, v: i64) {
        self.0.push(v);
    }
}

/// The report's `send_interval_ms`.
pub(super) fn send_interval(intervals: &Intervals, rtt: Option<i64>) -> report::SendInterval {
    let mut iv = intervals.0.values().to_vec();
    iv.sort_unstable();
    let median = quantile(&iv, 0.5);
    report::SendInterval {
        median: median.map(ms),
        p90: quantile(&iv, 0.9).map(ms),
        rtt_ratio: match (median, rtt) {
            (Some(m), Some(r)) if r > 0 => Some(m as f64 / r as f64),
            _ => None,
        },
    }
}

/// The median gap (ms) between writes when they were spaced wider than the
/// RTT: from the log's `log_gap` when this direction owns the log, else
/// from the send intervals (20 % margin).
pub(super) fn wide_writes(
    log_gap: Option<i64>,
    rtt: Option<i64>,
    interval: &report::SendInterval,
) -> Option<f64> {
    match (log_gap, rtt) {
        (Some(g), Some(r)) => (g > r).then(|| ms(g)),
        _ => interval
            .rtt_ratio
            .is_some_and(|x| x > 1.2)
            .then(|| interval.median.unwrap_or(0.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intervals(v: &[i64]) -> Intervals {
        let mut iv = Intervals::default();
        v.iter().for_each(|&x| iv.push(x));
        iv
    }

    #[test]
    fn ratio_against_the_rtt() {
        let s = send_interval(
            &intervals(&[10_000_000, 20_000_000, 30_000_000]),
            Some(20_000_000),
        );
        assert_eq!(s.median, Some(20.0));
        assert_eq!(s.rtt_ratio, Some(1.0));
        assert_eq!(send_interval(&intervals(&[1]), Some(0)).rtt_ratio, None);
    }

    #[test]
    fn wide_writes_from_log_else_intervals() {
        let paced = |ratio: f64| report::SendInterval {
            median: Some(30.0),
            p90: None,
            rtt_ratio: Some(ratio),
        };
        // The log decides when it has a gap, whatever the intervals say.
        assert_eq!(
            wide_writes(Some(30_000_000), Some(20_000_000), &paced(1.0)),
            Some(30.0)
        );
        assert_eq!(
            wide_writes(Some(10_000_000), Some(20_000_000), &paced(2.0)),
            None
        );
        // Without a log: 20 % margin over the RTT.
        assert_eq!(wide_writes(None, Some(20_000_000), &paced(1.2)), None);
        assert_eq!(wide_writes(None, Some(20_000_000), &paced(1.5)), Some(30.0));
    }

    #[test]
    fn intervals_thin_to_every_other() {
        let iv = intervals(&vec![7; MAX_INTERVALS as usize + 10]);
        assert_eq!(iv.0.stride(), 2);
        assert!(iv.0.values().len() < MAX_INTERVALS as usize);
    }
}

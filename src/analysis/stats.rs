//! Small numeric helpers shared by the stages: quantiles of sorted samples,
//! the report's millisecond statistics, and the writes-per-segment summary.
//!
//! They hold no analysis rule of their own; each stage decides what it
//! feeds them.

use crate::report::{self, ms};
use std::collections::BTreeMap;

/// The `q` quantile of sorted samples, by nearest rank (None when empty).
pub(super) fn quantile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(idx.min(sorted.len() - 1)).copied()
}

/// Min, median, p90 and max of nanosecond samples, in milliseconds;
/// `count` is how many samples there were before any thinning.
pub(super) fn stats_ms(values: &[i64], count: u64) -> report::Stats {
    let mut v = values.to_vec();
    v.sort_unstable();
    report::Stats {
        min: v.first().map(|&x| ms(x)),
        median: quantile(&v, 0.5).map(ms),
        p90: quantile(&v, 0.9).map(ms),
        max: v.last().map(|&x| ms(x)),
        samples: count,
    }
}

pub(super) fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Mean, median and maximum of a writes-per-segment histogram.
pub(super) fn hist_summary(h: &BTreeMap<u64, u64>) -> report::WritesPerSegment {
    let n: u64 = h.values().sum();
    let total: u64 = h.iter().map(|(w, c)| w * c).sum();
    let mut median = None;
    let mut acc = 0;
    for (w, c) in h {
        acc += c;
        if median.is_none() && acc * 2 >= n {
            median = Some(*w as f64);
        }
    }
    report::WritesPerSegment {
        mean: (n > 0).then(|| total as f64 / n as f64),
        median,
        max: h.keys().next_back().copied(),
        histogram: h.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_summary() {
        let mut h = BTreeMap::new();
        h.insert(1, 2);
        h.insert(3, 2);
        let s = hist_summary(&h);
        assert_eq!(s.mean, Some(2.0));
        assert_eq!(s.max, Some(3));
        assert_eq!(s.median, Some(1.0));
    }

    #[test]
    fn quantile_by_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[1, 2, 3, 4, 5], 0.5), Some(3));
        assert_eq!(quantile(&[1, 2, 3, 4, 5], 0.9), Some(5));
        assert_eq!(quantile(&[7], 0.9), Some(7));
    }
}

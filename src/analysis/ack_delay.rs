//! Stage: the ACK delay of a direction's receiver, and its timer.
//!
//! Rule (README "Path RTT" and "Delayed ACK and stalls"): each data→ACK
//! sample brought to the full path (raw sample + the capture → sender →
//! capture part) less the path RTT is an ACK delay (floored at 0). The
//! timer is a cluster that stands apart: the most populated 1 ms bin above
//! 1 ms, widened to ±25 %, when it holds at least 3 ACKs and a tenth of the
//! delays above 1 ms (≈ 40 ms on Linux, 200 ms on Windows — found, not
//! assumed).

use super::stats::quantile;
use crate::report::{self, ms};
use std::collections::BTreeMap;

/// A direction's ACK delays and the timer found in them.
#[derive(Debug, Clone)]
pub(super) struct AckDelays {
    /// Median (ms) and size of the timer cluster, when one stands apart.
    pub timer: Option<(f64, u64)>,
    pub report: report::AckDelay,
}

/// The ACK delays of raw data→ACK `samples`; none unless both the near
/// part and the path RTT are known.
pub(super) fn ack_delays(samples: &[i64], near: Option<i64>, rtt: Option<i64>) -> AckDelays {
    let mut delays: Vec<i64> = match (near, rtt) {
        (Some(n), Some(r)) => samples.iter().map(|v| (v + n - r).max(0)).collect(),
        _ => Vec::new(),
    };
    delays.sort_unstable();
    let timer = timer_cluster(&delays);
    AckDelays {
        timer,
        report: report::AckDelay {
            median: quantile(&delays, 0.5).map(ms),
            p90: quantile(&delays, 0.9).map(ms),
            max: delays.last().map(|&x| ms(x)),
            samples: delays.len() as u64,
            timer_ms: timer.map(|c| c.0),
            timer_samples: timer.map_or(0, |c| c.1),
        },
    }
}

/// A timer-like cluster in ACK delays: the most populated 1 ms bin above
/// 1 ms, widened to ±25 %, if it holds at least 3 samples and a tenth of the
/// delays above 1 ms. Returns its median (ms) and size.
pub(super) fn timer_cluster(delays: &[i64]) -> Option<(f64, u64)> {
    let long: Vec<i64> = delays.iter().copied().filter(|&d| d > 1_000_000).collect();
    if long.len() < 3 {
        return None;
    }
    let mut bins: BTreeMap<i64, u64> = BTreeMap::new();
    for d in &long {
        *bins.entry(d / 1_000_000).or_default() += 1;
    }
    let (&bin, _) = bins.iter().max_by_key(|(b, c)| (**c, -**b))?;
    let center = (bin as f64 + 0.5) * 1e6;
    let mut members: Vec<i64> = long
        .iter()
        .copied()
        .filter(|&d| (d as f64 - center).abs() <= 0.25 * center)
        .collect();
    if members.len() < 3 || members.len() * 10 < long.len() {
        return None;
    }
    members.sort_unstable();
    Some((ms(quantile(&members, 0.5)?), members.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_cluster_found_near_40ms() {
        let mut d: Vec<i64> = (0..20).map(|i| 39_000_000 + i * 100_000).collect();
        d.extend([100_000, 200_000, 5_000_000]);
        let (t, n) = timer_cluster(&d).unwrap();
        assert!((39.0..41.0).contains(&t), "{t}");
        assert_eq!(n, 20);
        assert!(timer_cluster(&[100_000, 200_000]).is_none());
    }

    #[test]
    fn timer_cluster_needs_three_and_a_tenth() {
        // Two ACKs at 40 ms are chance, three a timer.
        assert!(timer_cluster(&[40_000_000, 40_100_000]).is_none());
        assert!(timer_cluster(&[40_000_000, 40_100_000, 40_200_000]).is_some());
        // Three at 40 ms among 40 spread delays above 1 ms: not a tenth.
        let mut spread: Vec<i64> = (0..40).map(|i| 2_000_000 + i * 7_000_000).collect();
        spread.retain(|d| (d / 1_000_000 - 40).abs() > 12);
        spread.extend([40_000_000, 40_100_000, 40_200_000]);
        assert!(spread.len() > 30);
        assert!(timer_cluster(&spread).is_none());
        // Delays of a millisecond or less (scheduling noise) never make one.
        assert!(timer_cluster(&[500_000; 10]).is_none());
    }

    #[test]
    fn ack_delay_is_sample_on_full_path_less_rtt() {
        let a = ack_delays(&[20_000_000, 60_000_000, 5_000_000], Some(0), Some(20_000_000));
        assert_eq!(a.report.samples, 3);
        assert_eq!(a.report.median, Some(0.0));
        assert_eq!(a.report.max, Some(40.0));
        // Unknown near part: no delays.
        assert_eq!(ack_delays(&[20_000_000], None, Some(1)).report.samples, 0);
    }
}

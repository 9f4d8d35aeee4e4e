//! Stage: the ACK delay of a direction's receiver, and its timer.
//!
//! Rule (README "Path RTT" and "Delayed ACK and stalls"): each data→ACK
//! sample brought to the full path (raw sample + the capture → sender →
//! capture part) less the path RTT is an ACK delay (floored at 0); the
//! report's median/p90/max cover every sample.
//!
//! The delayed-ACK *timer* is read only from pure ACKs (an ACK that rides
//! on the receiver's own data shows when the application answered, not a
//! timer), and only from a cluster that stands apart:
//! - the most populated 1 ms bin of pure-ACK delays of at least
//!   [`TIMER_FLOOR`] (5 ms: scheduling noise on a loaded host gives ACK
//!   delays of a millisecond or two; every stack's timer is far above it —
//!   Linux 40 ms minimum, others up to 200 ms), widened to ±25 %;
//! - with at least [`TIMER_MIN_ACKS`] members (5) and a tenth of the pure
//!   ACKs above the floor;
//! - clear of the bulk: the delays within 25–50 % beyond either edge of the
//!   cluster are fewer than a quarter of its members (a timer is a peak, not
//!   part of a spread of delays);
//!
//! Only ACKs of a single segment are read (`observe`): an ACK that covers
//! two was sent because the second arrived, and shows the sender's spacing,
//! not a timer.
//!
//! Otherwise `timer_ms` is absent.

use super::stats::quantile;
use crate::report::{self, ms};
use std::collections::BTreeMap;

/// Pure-ACK delays below this are not a timer (ns).
pub const TIMER_FLOOR: i64 = 5_000_000;
/// A timer needs at least this many pure ACKs in its cluster.
pub const TIMER_MIN_ACKS: usize = 5;

/// A direction's ACK delays and the timer found in them.
#[derive(Debug, Clone)]
pub(super) struct AckDelays {
    /// Median (ms) and size of the timer cluster, when one stands apart.
    pub timer: Option<(f64, u64)>,
    pub report: report::AckDelay,
}

/// The samples as ACK delays (full path less the path RTT), sorted.
fn to_delays(samples: &[i64], near: Option<i64>, rtt: Option<i64>) -> Vec<i64> {
    let mut delays: Vec<i64> = match (near, rtt) {
        (Some(n), Some(r)) => samples.iter().map(|v| (v + n - r).max(0)).collect(),
        _ => Vec::new(),
    };
    delays.sort_unstable();
    delays
}

/// The ACK delays of raw data→ACK `samples` (all ACKs) and the timer from
/// `pure` (pure ACKs of one segment); none unless both the near part and
/// the path RTT are known.
pub(super) fn ack_delays(
    samples: &[i64],
    pure: &[i64],
    near: Option<i64>,
    rtt: Option<i64>,
) -> AckDelays {
    let delays = to_delays(samples, near, rtt);
    let timer = timer_cluster(&to_delays(pure, near, rtt));
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

/// The timer cluster of the module docs in sorted pure-ACK `delays`:
/// its median (ms) and size.
pub(super) fn timer_cluster(delays: &[i64]) -> Option<(f64, u64)> {
    let long: Vec<i64> = delays
        .iter()
        .copied()
        .filter(|&d| d >= TIMER_FLOOR)
        .collect();
    if long.len() < TIMER_MIN_ACKS {
        return None;
    }
    let mut bins: BTreeMap<i64, u64> = BTreeMap::new();
    for d in &long {
        *bins.entry(d / 1_000_000).or_default() += 1;
    }
    let (&bin, _) = bins.iter().max_by_key(|(b, c)| (**c, -**b))?;
    let center = (bin as f64 + 0.5) * 1e6;
    let within = |lo: f64, hi: f64| {
        long.iter()
            .filter(|&&d| (d as f64) >= lo && (d as f64) <= hi)
            .count()
    };
    let members: Vec<i64> = long
        .iter()
        .copied()
        .filter(|&d| (d as f64 - center).abs() <= 0.25 * center)
        .collect();
    let shoulders =
        within(0.5 * center, 0.75 * center - 1.0) + within(1.25 * center + 1.0, 1.5 * center);
    if members.len() < TIMER_MIN_ACKS
        || members.len() * 10 < long.len()
        || shoulders * 4 >= members.len()
    {
        return None;
    }
    Some((ms(quantile(&members, 0.5)?), members.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_cluster_found_near_40ms() {
        let mut d: Vec<i64> = (0..20).map(|i| 39_000_000 + i * 100_000).collect();
        d.extend([100_000, 200_000, 5_000_000]);
        d.sort_unstable();
        let (t, n) = timer_cluster(&d).unwrap();
        assert!((39.0..41.0).contains(&t), "{t}");
        assert_eq!(n, 20);
        assert!(timer_cluster(&[100_000, 200_000]).is_none());
    }

    #[test]
    fn timer_needs_five_acks_above_the_noise_floor() {
        assert!(timer_cluster(&[40_000_000; 4]).is_none());
        assert!(timer_cluster(&[40_000_000; 5]).is_some());
        // Scheduling noise of 1.4–1.6 ms is never a timer.
        let noise: Vec<i64> = (0..14).map(|i| 1_400_000 + i * 15_000).collect();
        assert!(timer_cluster(&noise).is_none());
    }

    #[test]
    fn timer_must_stand_clear_of_the_bulk() {
        // A spread of delays from 5 to 60 ms: its busiest bin is no timer.
        let spread: Vec<i64> = (0..56).map(|i| 5_000_000 + i * 1_000_000).collect();
        assert!(timer_cluster(&spread).is_none());
        // The same peak with a few stragglers beside it still is one.
        let mut peak = vec![40_000_000; 12];
        peak.extend([25_000_000, 55_000_000]);
        peak.sort_unstable();
        assert!(timer_cluster(&peak).is_some());
    }

    #[test]
    fn ack_delay_is_sample_on_full_path_less_rtt() {
        let a = ack_delays(
            &[20_000_000, 60_000_000, 5_000_000],
            &[],
            Some(0),
            Some(20_000_000),
        );
        assert_eq!(a.report.samples, 3);
        assert_eq!(a.report.median, Some(0.0));
        assert_eq!(a.report.max, Some(40.0));
        assert_eq!(a.timer, None);
        // Unknown near part: no delays.
        assert_eq!(
            ack_delays(&[20_000_000], &[], None, Some(1)).report.samples,
            0
        );
        // The timer comes from the pure ACKs only.
        let pure = [60_000_000; 6];
        let t = ack_delays(&[20_000_000], &pure, Some(0), Some(20_000_000));
        assert_eq!(t.timer.map(|x| x.1), Some(6));
    }
}

//! Stage: Nagle × delayed-ACK stalls.
//!
//! Rule (README "Delayed ACK and stalls"): a stall is a small segment
//! released by a pure ACK (so Nagle held it) whose releasing ACK the peer
//! had delayed by at least max(2 ms, half the path RTT) and, when a timer
//! cluster was found, by at least half that timer. The delay is the
//! segment's wait for its ACK brought to the full path, less the path RTT.
//! Flows with verdict `off` have no stalls: with Nagle off a late ACK holds
//! nothing back.

use super::releases::Release;
use super::stats::quantile;
use crate::report::{self, ms, secs, Verdict};

/// At most this many stall events are listed per direction.
const MAX_STALL_EVENTS: usize = 1000;

/// The stalls of one direction.
#[derive(Debug, Clone, Default)]
pub(super) struct Stalls {
    pub count: u64,
    /// Sum of the ACK delays (ns).
    pub total: i64,
    /// Median ACK delay of a stall (ms).
    pub median_ms: Option<f64>,
    pub events: Vec<report::StallEvent>,
}

/// The smallest ACK delay (ns) that makes a stall: max(2 ms, RTT / 2,
/// timer / 2).
pub(super) fn threshold(rtt: i64, timer_ms: Option<f64>) -> i64 {
    let mut t = (rtt / 2).max(2_000_000);
    if let Some(timer) = timer_ms {
        t = t.max((timer * 1e6 / 2.0) as i64);
    }
    t
}

/// The stalls among the pure-ACK releases; `near` is the capture → sender
/// → capture time (0 when unknown). None without a path RTT.
pub(super) fn stalls(by_pure_ack: &[Release], near: i64, rtt: Option<i64>, timer_ms: Option<f64>) -> Stalls {
    let mut s = Stalls::default();
    let Some(r) = rtt else {
        return s;
    };
    let threshold = threshold(r, timer_ms);
    let mut delays: Vec<i64> = Vec::new();
    for rel in by_pure_ack {
        let Some(w) = rel.ack_wait else { continue };
        let delay = w.saturating_add(near).saturating_sub(r);
        if delay < threshold {
            continue;
        }
        s.count += 1;
        s.total = s.total.saturating_add(delay);
        delays.push(delay);
        if s.events.len() < MAX_STALL_EVENTS {
            s.events.push(report::StallEvent {
                ts: secs(rel.ts),
                ms: ms(delay),
            });
        }
    }
    delays.sort_unstable();
    s.median_ms = quantile(&delays, 0.5).map(ms);
    s
}

impl Stalls {
    /// A stall is Nagle holding data: with Nagle off there is none, only a
    /// slow ACK. The median stays: the verdict has already read it.
    pub fn drop_unless_nagle(&mut self, verdict: Verdict) {
        if verdict == Verdict::Off {
            self.count = 0;
            self.total = 0;
            self.events.clear();
        }
    }

    pub fn report(self) -> report::Stalls {
        report::Stalls {
            count: self.count,
            total_ms: ms(self.total),
            events: self.events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::releases::tests::release;
    use super::*;

    #[test]
    fn stall_threshold() {
        // LAN: the 2 ms floor.
        assert_eq!(threshold(100_000, None), 2_000_000);
        // WAN: half the path RTT.
        assert_eq!(threshold(40_000_000, None), 20_000_000);
        // A 200 ms timer: half of it.
        assert_eq!(threshold(1_000_000, Some(200.0)), 100_000_000);
    }

    #[test]
    fn stalls_are_waits_beyond_the_threshold() {
        let rtt = 20_000_000;
        let wait = |w| Release {
            ack_wait: Some(w),
            ..release(1_000, Some(1))
        };
        // 60 ms wait on a 20 ms path: 40 ms delayed ACK, a stall; 25 ms
        // wait: 5 ms of delay, below the 10 ms threshold.
        let s = stalls(&[wait(60_000_000), wait(25_000_000)], 0, Some(rtt), None);
        assert_eq!(s.count, 1);
        assert_eq!(s.total, 40_000_000);
        assert_eq!(s.median_ms, Some(40.0));
        // The near part counts toward the wait.
        assert_eq!(stalls(&[wait(25_000_000)], 5_000_000, Some(rtt), None).count, 1);
        // No path RTT: nothing to measure against.
        assert_eq!(stalls(&[wait(60_000_000)], 0, None, None).count, 0);
        let mut off = stalls(&[wait(60_000_000)], 0, Some(rtt), None);
        off.drop_unless_nagle(Verdict::Off);
        assert_eq!((off.count, off.total, off.events.len()), (0, 0, 0));
    }
}

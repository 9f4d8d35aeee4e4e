//! Stage: Nagle × delayed-ACK stalls, and what they cost.
//!
//! Rule (README "Delayed ACK and stalls"): a stall is a small segment that
//! an ACK released (a pure-ACK release, `releases`) where the peer had
//! delayed that ACK: its ACK delay (the previous small segment's data→ACK
//! time brought to the full path, less the path RTT) is at least half the
//! peer's delayed-ACK timer when one was found, else at least
//! [`STALL_MIN_DELAY`] (5 ms, above scheduling noise and below every
//! stack's timer). The ratio of that delay to the RTT does not matter: a
//! Linux peer delays ~40 ms on a 1 ms path and on a 200 ms one alike.
//!
//! Cost: the latency the held data lost to Nagle, i.e. beyond what
//! TCP_NODELAY would have cost — from when it could have left to when it
//! left, in the sender's frame. With a write log "could have left" is its
//! first write's call (departure at the capture point less the capture's
//! one-way distance from the sender, less the call time); without one it is
//! the departure of the small segment ahead of it (the held segment's
//! capture time less that one's: the ACK delay *and* the round trip the
//! held data waited for, about RTT + 40 ms on Linux, which is what a
//! client measures).

use super::path::SenderFrame;
use super::releases::Release;
use super::stats::quantile;
use crate::report::{self, ms, secs, Verdict};

/// Cap on the stall events listed in the report (all are counted).
const MAX_STALL_EVENTS: usize = 1000;

/// Without a timer, an ACK delayed at least this much (ns) makes a stall.
pub const STALL_MIN_DELAY: i64 = 5_000_000;

/// A direction's stalls.
#[derive(Debug, Clone, Default)]
pub(super) struct Stalls {
    pub count: u64,
    /// Latency lost over all stalls (ns).
    pub total: i64,
    /// Median ACK delay behind the stalls (ms).
    pub median_ms: Option<f64>,
    pub events: Vec<report::StallEvent>,
}

/// The least ACK delay (ns) that makes a stall: half the timer, else 5 ms.
pub(super) fn threshold(timer_ms: Option<f64>) -> i64 {
    timer_ms.map_or(STALL_MIN_DELAY, |t| {
        ((t * 1e6 / 2.0) as i64).max(STALL_MIN_DELAY)
    })
}

/// The latency one stall cost (ns): see the module docs.
fn cost(rel: &Release, ack_wait: i64, frame: &SenderFrame) -> i64 {
    let cost = match rel.first_call {
        Some(call) => rel.ts - frame.half() - call,
        None => rel.raw_gap.saturating_add(ack_wait),
    };
    cost.max(0)
}

/// The stalls among the pure-ACK releases of a direction seen through
/// `frame`; none without a path RTT.
pub(super) fn stalls(
    by_pure_ack: &[Release],
    frame: &SenderFrame,
    rtt: Option<i64>,
    timer_ms: Option<f64>,
) -> Stalls {
    let mut s = Stalls::default();
    let Some(r) = rtt else {
        return s;
    };
    let threshold = threshold(timer_ms);
    let mut delays: Vec<i64> = Vec::new();
    for rel in by_pure_ack {
        let Some(w) = rel.ack_wait else { continue };
        let delay = w.saturating_add(frame.near).saturating_sub(r);
        if delay < threshold {
            continue;
        }
        let lost = cost(rel, w, frame);
        s.count += 1;
        s.total = s.total.saturating_add(lost);
        delays.push(delay);
        if s.events.len() < MAX_STALL_EVENTS {
            s.events.push(report::StallEvent {
                ts: secs(rel.ts),
                ms: ms(lost),
                ack_delay_ms: ms(delay),
                frame: rel.frame,
            });
        }
    }
    delays.sort_unstable();
    s.median_ms = quantile(&delays, 0.5).map(ms);
    s
}

impl Stalls {
    /// A stall is Nagle holding data: with Nagle off there is none, only a
    /// slow ACK.
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
    use crate::report::FrameSource;

    fn at(near: i64) -> SenderFrame {
        SenderFrame {
            near,
            jitter: None,
            source: FrameSource::Handshake,
        }
    }

    #[test]
    fn stall_threshold_ignores_the_rtt() {
        assert_eq!(threshold(None), 5_000_000);
        assert_eq!(threshold(Some(40.0)), 20_000_000);
        assert_eq!(threshold(Some(200.0)), 100_000_000);
    }

    #[test]
    fn a_stall_costs_the_ack_delay_and_the_round_trip() {
        // At the sender of a 40 ms path: the previous small segment was
        // acknowledged after 80 ms (40 ms RTT + 40 ms delayed ACK) and this
        // one left 0.05 ms after that ACK: it lost 80.05 ms.
        let rtt = 40_000_000;
        let rel = Release {
            ack_wait: Some(80_000_000),
            raw_gap: 50_000,
            ..release(50_000, Some(1))
        };
        let s = stalls(&[rel], &at(0), Some(rtt), None);
        assert_eq!(s.count, 1);
        assert_eq!(s.total, 80_050_000);
        assert_eq!(s.median_ms, Some(40.0));
        assert_eq!(s.events[0].ack_delay_ms, 40.0);
        // At the receiver: the ACK left 40 ms after the data, the held
        // segment arrived one RTT after that: the same 80 ms lost.
        let rcv = Release {
            ack_wait: Some(40_000_000),
            raw_gap: 40_100_000,
            ..release(100_000, Some(1))
        };
        let s = stalls(&[rcv], &at(40_000_000), Some(rtt), None);
        assert_eq!((s.count, s.total), (1, 80_100_000));
        // With a log: from the write call to the departure at the sender.
        let logged = Release {
            first_call: Some(rcv.ts - 100_000_000),
            ..rcv
        };
        let s = stalls(&[logged], &at(40_000_000), Some(rtt), None);
        assert_eq!(s.total, 80_000_000);
    }

    #[test]
    fn stalls_at_every_rtt() {
        // 100 ms and 1 ms paths, 40 ms delayed ACK: one stall each.
        for rtt in [100_000_000, 1_000_000] {
            let rel = Release {
                ack_wait: Some(rtt + 40_000_000),
                ..release(10_000, Some(1))
            };
            assert_eq!(
                stalls(&[rel], &at(0), Some(rtt), Some(40.0)).count,
                1,
                "rtt {rtt}"
            );
        }
        // A 2 ms wait beyond the path is noise, not a delayed ACK.
        let quick = Release {
            ack_wait: Some(42_000_000),
            ..release(10_000, Some(1))
        };
        assert_eq!(stalls(&[quick], &at(0), Some(40_000_000), None).count, 0);
        assert_eq!(stalls(&[quick], &at(0), None, None).count, 0);
        let mut off = stalls(
            &[Release {
                ack_wait: Some(90_000_000),
                ..quick
            }],
            &at(0),
            Some(40_000_000),
            None,
        );
        assert_eq!(off.count, 1);
        off.drop_unless_nagle(Verdict::Off);
        assert_eq!((off.count, off.total, off.events.len()), (0, 0, 0));
    }
}

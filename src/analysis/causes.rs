//! Stage: other causes of coalescing (`coalescing_causes`).
//!
//! Rule (README "Other causes of coalescing"): `nagle` when the verdict is
//! on, there are aggregated segments and data waited (an aggregated
//! segment released by a pure ACK whose writes were not called after it, or
//! a write held by the kernel per the log); `application` when, with
//! message or logged-write boundaries, small segments carrying several of
//! them left with no small segment unacknowledged and not right after a
//! pure ACK (nothing of theirs waited: the application batched them);
//! `cwnd` when aggregated segments
//! left with two or more segments in flight while Nagle was not on; `rwnd`
//! when they left with no room in the peer's window for another segment of
//! that size (or, client→server, when both sides advertised a zero window);
//! `tso` when segments exceed the MSS. Several causes may apply.

use super::releases::Release;
use crate::report::{CoalescingCause, Verdict};

/// What the causes are decided from, for one direction.
#[derive(Debug, Clone, Copy)]
pub(super) struct CauseInput {
    pub verdict: Verdict,
    /// Segments carrying two or more writes (None: boundaries unknown).
    pub aggregated: Option<u64>,
    /// Aggregated segments sent with 2+ segments in flight.
    pub agg_in_flight: u64,
    /// Aggregated segments sent with the peer's window nearly full.
    pub agg_window_limited: u64,
    /// Client→server, and both sides advertised a zero window.
    pub zero_window_both: bool,
    pub oversize_segments: u64,
    /// Aggregated segments that waited for an ACK ([`waited`]), and writes
    /// held by the kernel (log).
    pub waited: u64,
    pub held: u64,
    /// Small aggregated segments that left with no small segment
    /// unacknowledged, when boundaries are messages or logged writes.
    pub free: Option<u64>,
}

/// Aggregated releases that waited: released within `tol` by a pure ACK,
/// carrying 2+ writes (exact, or `unit`-long when inferred), and not shown
/// by the log to be called after that ACK.
pub(super) fn waited(releases: &[Release], tol: i64, unit: Option<u32>) -> u64 {
    let multi = |r: &Release| match r.writes {
        Some(w) => w >= 2,
        None => unit.is_some_and(|u| r.len >= 2 * u),
    };
    releases
        .iter()
        .filter(|r| r.gap <= tol && r.pure_ack && r.held != Some(false) && multi(r))
        .count() as u64
}

pub(super) fn coalescing_causes(c: &CauseInput) -> Vec<CoalescingCause> {
    let mut causes = Vec::new();
    let aggregated = c.aggregated.unwrap_or(0) > 0;
    if c.verdict == Verdict::On && aggregated && (c.waited > 0 || c.held > 0) {
        causes.push(CoalescingCause::Nagle);
    }
    if aggregated && c.free.is_some_and(|f| f > c.waited) {
        causes.push(CoalescingCause::Application);
    }
    if c.agg_in_flight > 0 && c.verdict != Verdict::On {
        causes.push(CoalescingCause::Cwnd);
    }
    if c.agg_window_limited > 0 || c.zero_window_both {
        causes.push(CoalescingCause::Rwnd);
    }
    if c.oversize_segments > 0 {
        causes.push(CoalescingCause::Tso);
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use CoalescingCause::*;

    #[test]
    fn coalescing_cause_rules() {
        let base = CauseInput {
            verdict: Verdict::Inconclusive,
            aggregated: None,
            agg_in_flight: 0,
            agg_window_limited: 0,
            zero_window_both: false,
            oversize_segments: 0,
            waited: 0,
            held: 0,
            free: None,
        };
        assert!(coalescing_causes(&base).is_empty());
        // Nagle needs the verdict, aggregated segments and data that waited.
        let on = CauseInput {
            verdict: Verdict::On,
            aggregated: Some(3),
            waited: 1,
            ..base
        };
        assert_eq!(coalescing_causes(&on), vec![Nagle]);
        assert!(coalescing_causes(&CauseInput { waited: 0, ..on }).is_empty());
        assert_eq!(
            coalescing_causes(&CauseInput {
                waited: 0,
                held: 2,
                ..on
            }),
            vec![Nagle]
        );
        assert!(coalescing_causes(&CauseInput {
            aggregated: Some(0),
            ..on
        })
        .is_empty());
        // Segments in flight explain aggregation only when Nagle does not.
        let flight = CauseInput {
            agg_in_flight: 2,
            ..base
        };
        assert_eq!(coalescing_causes(&flight), vec![Cwnd]);
        assert_eq!(
            coalescing_causes(&CauseInput {
                agg_in_flight: 2,
                ..on
            }),
            vec![Nagle]
        );
        // Window and TSO add up with the others.
        let all = CauseInput {
            zero_window_both: true,
            oversize_segments: 1,
            ..flight
        };
        assert_eq!(coalescing_causes(&all), vec![Cwnd, Rwnd, Tso]);
        let window = CauseInput {
            agg_window_limited: 1,
            ..base
        };
        assert_eq!(coalescing_causes(&window), vec![Rwnd]);
    }

    #[test]
    fn messages_that_did_not_wait_are_the_applications_batching() {
        let base = CauseInput {
            verdict: Verdict::Inconclusive,
            aggregated: Some(16),
            agg_in_flight: 0,
            agg_window_limited: 0,
            zero_window_both: false,
            oversize_segments: 0,
            waited: 0,
            held: 0,
            free: Some(16),
        };
        assert_eq!(coalescing_causes(&base), vec![Application]);
        // Even with Nagle on: only the segments that waited are Nagle's.
        let on = CauseInput {
            verdict: Verdict::On,
            waited: 4,
            ..base
        };
        assert_eq!(coalescing_causes(&on), vec![Nagle, Application]);
        // All of them waited: Nagle only.
        assert_eq!(
            coalescing_causes(&CauseInput { waited: 16, ..on }),
            vec![Nagle]
        );
        // Inferred or fixed-size boundaries say nothing of batching.
        assert!(coalescing_causes(&CauseInput { free: None, ..base }).is_empty());
    }

    #[test]
    fn waited_releases() {
        use super::super::releases::tests::release;
        let answered = Release {
            pure_ack: false,
            ..release(10, Some(2))
        };
        let called_after = Release {
            held: Some(false),
            ..release(10, Some(2))
        };
        let late = release(1_000_000, Some(2));
        let rs = [
            release(10, Some(2)),
            release(10, Some(1)),
            answered,
            called_after,
            late,
        ];
        assert_eq!(waited(&rs, 250_000, None), 1);
        // Inferred: two units long.
        assert_eq!(waited(&[release(10, None)], 250_000, Some(50)), 1);
        assert_eq!(waited(&[release(10, None)], 250_000, Some(60)), 0);
    }
}

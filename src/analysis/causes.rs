//! Stage: other causes of coalescing (`coalescing_causes`).
//!
//! Rule (README "Other causes of coalescing"): `nagle` when the verdict is
//! on and there are aggregated segments; `cwnd` when aggregated segments
//! left with two or more segments in flight while Nagle was not on; `rwnd`
//! when they left with no room in the peer's window for another segment of
//! that size (or, client→server, when both sides advertised a zero window);
//! `tso` when segments exceed the MSS. Several causes may apply.

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
}

pub(super) fn coalescing_causes(c: &CauseInput) -> Vec<CoalescingCause> {
    let mut causes = Vec::new();
    if c.verdict == Verdict::On && c.aggregated.unwrap_or(0) > 0 {
        causes.push(CoalescingCause::Nagle);
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
        };
        assert!(coalescing_causes(&base).is_empty());
        // Nagle needs the verdict and aggregated segments.
        let on = CauseInput {
            verdict: Verdict::On,
            aggregated: Some(3),
            ..base
        };
        assert_eq!(coalescing_causes(&on), vec![Nagle]);
        assert!(coalescing_causes(&CauseInput { aggregated: Some(0), ..on }).is_empty());
        // Segments in flight explain aggregation only when Nagle does not.
        let flight = CauseInput { agg_in_flight: 2, ..base };
        assert_eq!(coalescing_causes(&flight), vec![Cwnd]);
        assert_eq!(coalescing_causes(&CauseInput { agg_in_flight: 2, ..on }), vec![Nagle]);
        // Window and TSO add up with the others.
        let all = CauseInput {
            zero_window_both: true,
            oversize_segments: 1,
            ..flight
        };
        assert_eq!(coalescing_causes(&all), vec![Cwnd, Rwnd, Tso]);
        let window = CauseInput { agg_window_limited: 1, ..base };
        assert_eq!(coalescing_causes(&window), vec![Rwnd]);
    }
}

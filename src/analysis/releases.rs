//! Stage: releases. Which small segments an ACK released, and which of
//! those count as evidence for Nagle.
//!
//! Rule (README "ACK-clocked segments"): a small segment is ACK-clocked
//! when, in the sender's frame (`minshall`), it left within a tolerance
//! after the ACK of the previous small segment arrived; the tolerance is
//! max(0.25 ms, 10 % of the path RTT) plus the frame's margin (0 at the
//! sender).
//! As evidence only releases by a pure ACK count (a segment that follows an
//! ACK carrying the peer's data is the application answering); among them,
//! those carrying two or more writes are aggregated releases, and with a
//! write log those whose writes were called before the ACK were held.

use crate::TsNs;

/// A small segment sent after the ACK of the previous small segment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Release {
    pub ts: TsNs,
    /// Frame number in its input (1-based).
    pub frame: u64,
    /// Time from that ACK to this segment in the sender's frame.
    pub gap: i64,
    /// The same at the capture point.
    pub raw_gap: i64,
    /// How long the previous small segment waited for its ACK (raw).
    pub ack_wait: Option<i64>,
    /// Writes carried, when known exactly (size or log).
    pub writes: Option<u64>,
    pub len: u32,
    /// The ACK that released it carried no data.
    pub pure_ack: bool,
    /// With a write log: a write it carries was called before that ACK
    /// arrived, i.e. the kernel held it.
    pub held: Option<bool>,
    /// When the first write it carries was called (log).
    pub first_call: Option<TsNs>,
}

/// The release tolerance (ns): the sender frame's `margin` plus
/// max(0.25 ms, 10 % of the path RTT).
pub(super) fn tolerance(margin: i64, rtt: Option<i64>) -> i64 {
    margin + (rtt.unwrap_or(0) / 10).max(250_000)
}

/// What the releases of one direction amount to.
#[derive(Debug, Clone, Default)]
pub(super) struct Releases {
    pub tolerance: i64,
    /// Small segments released within the tolerance (ACK-clocked).
    pub ack_clocked: u64,
    /// Those released by a pure ACK, in capture order.
    pub by_pure_ack: Vec<Release>,
    /// Pure-ACK releases carrying 2+ exact writes.
    pub aggregated: u64,
    /// Pure-ACK releases at least two inferred write units long.
    pub aggregated_inferred: u64,
    /// Releases whose writes were called before the releasing ACK (log).
    pub held: u64,
    /// At least half of all release candidates came after a pure ACK.
    pub pure_share_ok: bool,
}

/// Sort a direction's release candidates (gaps in the sender's frame) by
/// the rules above; `margin` is the frame's, `unit` the inferred write
/// unit when claims may rest on it.
pub(super) fn releases(candidates: &[Release], margin: i64, rtt: Option<i64>, unit: Option<u32>) -> Releases {
    let tol = tolerance(margin, rtt);
    let released: Vec<&Release> = candidates.iter().filter(|r| r.gap <= tol).collect();
    let by_pure_ack: Vec<Release> = released.iter().filter(|r| r.pure_ack).map(|r| **r).collect();
    let aggregated = by_pure_ack
        .iter()
        .filter(|r| r.writes.is_some_and(|w| w >= 2))
        .count() as u64;
    let aggregated_inferred =
        unit.map_or(0, |u| by_pure_ack.iter().filter(|r| r.len >= 2 * u).count() as u64);
    Releases {
        tolerance: tol,
        ack_clocked: released.len() as u64,
        aggregated,
        aggregated_inferred,
        held: released.iter().filter(|r| r.held == Some(true)).count() as u64,
        pure_share_ok: by_pure_ack.len() * 2 >= candidates.len(),
        by_pure_ack,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A release `gap` ns after a pure ACK, carrying `writes`.
    pub(in crate::analysis) fn release(gap: i64, writes: Option<u64>) -> Release {
        Release {
            ts: 1_000_000_000,
            frame: 1,
            gap,
            raw_gap: gap,
            ack_wait: Some(40_000_000),
            writes,
            len: 100,
            pure_ack: true,
            held: None,
            first_call: None,
        }
    }

    #[test]
    fn tolerance_is_margin_plus_a_tenth_of_the_rtt() {
        assert_eq!(tolerance(0, None), 250_000);
        assert_eq!(tolerance(0, Some(1_000_000)), 250_000);
        assert_eq!(tolerance(1_000, Some(40_000_000)), 4_001_000);
    }

    #[test]
    fn only_pure_ack_releases_within_tolerance_are_evidence() {
        let late = release(300_000, Some(2));
        let answer = Release {
            pure_ack: false,
            ..release(10_000, Some(3))
        };
        let held = Release {
            held: Some(true),
            len: 200,
            ..release(10_000, Some(2))
        };
        let r = releases(&[late, answer, held, release(20_000, Some(1))], 0, None, Some(100));
        assert_eq!(r.tolerance, 250_000);
        assert_eq!(r.ack_clocked, 3);
        assert_eq!(r.by_pure_ack.len(), 2);
        assert_eq!(r.aggregated, 1);
        assert_eq!(r.aggregated_inferred, 1);
        assert_eq!(r.held, 1);
        assert!(r.pure_share_ok);
        // Most candidates answered the peer's data: not paced by pure ACKs.
        let answers = vec![answer; 5];
        assert!(!releases(&answers, 0, None, None).pure_share_ok);
    }
}

//! Stage: releases. Which small segments an ACK released, and which of
//! those count as evidence for Nagle.
//!
//! Rule (README "ACK-clocked segments"): a small segment is ACK-clocked
//! when, in the sender's frame (`minshall`), it left within a tolerance
//! after the ACK of the previous small segment arrived. The kernel sends
//! held data while it processes that ACK (57–115 µs after it at the sender
//! in the lab's captures, 0–0.3 ms in the sender's frame at the receiver of
//! a 40 ms path), so the tolerance is 1 ms for the sending host's
//! scheduling plus 2 % of the capture → sender → capture time for the
//! path's jitter. A wider window would catch segments that left then by
//! chance; the verdict also weighs the releases against chance
//! ([`Releases::coincidences`]).
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

/// Frame numbers an evidence sentence quotes, at most.
pub(super) const EVIDENCE_FRAMES: usize = 5;

/// The frames of the first [`EVIDENCE_FRAMES`] releases that pass `keep`.
fn first_frames<'a>(
    r: impl Iterator<Item = &'a Release>,
    keep: impl Fn(&Release) -> bool,
) -> Vec<u64> {
    r.filter(|r| keep(r))
        .take(EVIDENCE_FRAMES)
        .map(|r| r.frame)
        .collect()
}

/// The release tolerance (ns) for a capture point `near` (capture →
/// sender → capture) from the sender: 1 ms + 2 % of `near`.
pub(super) fn tolerance(near: i64) -> i64 {
    1_000_000 + near / 50
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
    /// Frames of the first held and of the first aggregated releases (at
    /// most [`EVIDENCE_FRAMES`] each), for the verdict's evidence.
    pub held_frames: Vec<u64>,
    pub aggregated_frames: Vec<u64>,
    /// At least half of all release candidates came after a pure ACK.
    pub pure_share_ok: bool,
    /// Release candidates in all.
    pub candidates: u64,
}

impl Releases {
    /// How many candidates would land within the tolerance after an ACK by
    /// chance, when segments leave `spacing` (ns, median) apart regardless
    /// of ACKs.
    pub fn coincidences(&self, spacing: Option<i64>) -> f64 {
        match spacing {
            Some(s) if s > 0 => {
                self.candidates as f64 * (self.tolerance as f64 / s as f64).min(1.0)
            }
            _ => 0.0,
        }
    }
}

/// Sort a direction's release candidates (gaps in the sender's frame) by
/// the rules above; `near` is the frame's capture → sender → capture time,
/// `unit` the inferred write unit when claims may rest on it.
pub(super) fn releases(candidates: &[Release], near: i64, unit: Option<u32>) -> Releases {
    let tol = tolerance(near);
    let released: Vec<&Release> = candidates.iter().filter(|r| r.gap <= tol).collect();
    let by_pure_ack: Vec<Release> = released
        .iter()
        .filter(|r| r.pure_ack)
        .map(|r| **r)
        .collect();
    let aggregated = by_pure_ack
        .iter()
        .filter(|r| r.writes.is_some_and(|w| w >= 2))
        .count() as u64;
    let aggregated_inferred = unit.map_or(0, |u| {
        by_pure_ack.iter().filter(|r| r.len >= 2 * u).count() as u64
    });
    let aggregated_frames = first_frames(by_pure_ack.iter(), |r| {
        r.writes.is_some_and(|w| w >= 2) || unit.is_some_and(|u| r.len >= 2 * u)
    });
    Releases {
        tolerance: tol,
        held_frames: first_frames(released.iter().copied(), |r| r.held == Some(true)),
        aggregated_frames,
        ack_clocked: released.len() as u64,
        aggregated,
        aggregated_inferred,
        held: released.iter().filter(|r| r.held == Some(true)).count() as u64,
        pure_share_ok: by_pure_ack.len() * 2 >= candidates.len(),
        candidates: candidates.len() as u64,
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
    fn tolerance_is_a_millisecond_plus_the_paths_jitter() {
        assert_eq!(tolerance(0), 1_000_000);
        assert_eq!(tolerance(40_000_000), 1_800_000);
    }

    #[test]
    fn only_pure_ack_releases_within_tolerance_are_evidence() {
        let late = release(1_300_000, Some(2));
        let answer = Release {
            pure_ack: false,
            ..release(10_000, Some(3))
        };
        let held = Release {
            held: Some(true),
            len: 200,
            ..release(10_000, Some(2))
        };
        let r = releases(
            &[late, answer, held, release(20_000, Some(1))],
            0,
            Some(100),
        );
        assert_eq!(r.tolerance, 1_000_000);
        assert_eq!(r.candidates, 4);
        assert!((r.coincidences(Some(10_000_000)) - 0.4).abs() < 1e-9);
        assert_eq!(r.ack_clocked, 3);
        assert_eq!(r.by_pure_ack.len(), 2);
        assert_eq!(r.aggregated, 1);
        assert_eq!(r.aggregated_inferred, 1);
        assert_eq!(r.held, 1);
        assert!(r.pure_share_ok);
        // Most candidates answered the peer's data: not paced by pure ACKs.
        let answers = vec![answer; 5];
        assert!(!releases(&answers, 0, None).pure_share_ok);
    }
}

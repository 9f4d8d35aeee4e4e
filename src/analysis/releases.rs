//! Stage: releases. Which small segments an ACK released, and which of
//! those count as evidence for Nagle.
//!
//! Rule (README "ACK-clocked segments"): a small segment is ACK-clocked
//! when, in the sender's frame (`minshall`), it left within a tolerance
//! after the ACK of the previous small segment arrived. The kernel sends
//! held data while it processes that ACK (57–115 µs after it at the sender
//! in the lab's captures, 0–0.3 ms in the sender's frame at the receiver of
//! a 40 ms path), so the tolerance is 1 ms for the sending host's
//! scheduling plus 2 % of the capture → sender → capture time (`near`) for
//! the path's jitter — or, when more, [`JITTER_K`] (4) times the delay
//! variation of that trip measured from this capture point
//! (`SenderFrame::jitter`, the mean absolute deviation of the near samples,
//! as RFC 6298's RTTVAR).
//!
//! Why: away from the sender a release is seen one trip capture → sender →
//! capture after its ACK, and the frame takes off the *smallest* such trip;
//! a path whose trips vary (a loaded delay line, a busy link) delays some
//! releases by several times its typical variation. RFC 6298 bounds a
//! round trip at SRTT + 4 × RTTVAR before calling it lost; the same K
//! bounds how late a release may be seen. It is per flow (no per-packet
//! cost), nothing at the sender (ACK and departure seen at one place,
//! nothing to vary), and it never reaches past the frame's margin,
//! max(0.1 ms, near/10): the bound the early side (`minshall`) already
//! allows an event to stray by. The cap matters where the capture point is
//! next to the sender: there the near samples' spread is the sender's own
//! ACK latency (an ssh host answering keystrokes: 1.8 ms of "jitter" on a
//! 0.02 ms trip), not the path. The early side itself is left alone: a
//! wider one would let segments sent *before* the ACK count as released.
//! And it admits stragglers only: the wider window applies when most of
//! the segments in it left within the 1 ms + 2 % one ([`releases`]), i.e.
//! when the direction's releases do follow their ACKs at once and a few
//! came late. A sender that leaves a fixed time after each ACK (a
//! TCP_NODELAY timer of 83 ms behind 40 ms + a 40 ms delayed ACK, phase
//! locked 3 ms after it) has none within 1 ms + 2 % and gets no wider
//! window: the jitter never moves a whole population into the window.
//! A wider window would catch segments that left then by chance: the
//! verdict weighs ACK-clocked pacing and stalls against chance with the
//! same tolerance ([`Releases::coincidences`]), so a TCP_NODELAY sender's
//! departures that a jittery path lets into the window count for no more
//! than chance; and a held release needs its write called before the ACK,
//! which a TCP_NODELAY segment leaving after the ACK never had.
//! As evidence only releases by a pure ACK count (a segment that follows an
//! ACK carrying the peer's data is the application answering); among them,
//! those carrying two or more writes are aggregated releases, and with a
//! write log those whose writes were called before the ACK were held.

use super::path::SenderFrame;
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
    /// arrived (by more than `minshall::held_lead`), i.e. the kernel held it.
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

/// Multiple of the path's delay variation a release may be late by.
pub(super) const JITTER_K: i64 = 4;

/// The release tolerance (ns) without jitter: 1 ms + 2 % of `near`
/// (capture → sender → capture).
fn base_tolerance(frame: &SenderFrame) -> i64 {
    1_000_000 + frame.near / 50
}

/// The widest release tolerance (ns) in a sender's `frame`: the base, or
/// [`JITTER_K`] × its measured jitter when that is more, up to the frame's
/// margin (what the early side allows).
pub(super) fn tolerance(frame: &SenderFrame) -> i64 {
    let jitter = frame.jitter.unwrap_or(0).saturating_mul(JITTER_K);
    base_tolerance(frame).max(jitter.min(frame.margin()))
}

/// The tolerance that applies to `candidates`: the widest when most of
/// the segments within it are within the base (late stragglers of releases
/// that follow their ACKs), else the base.
fn applied_tolerance(candidates: &[Release], frame: &SenderFrame) -> i64 {
    let (base, wide) = (base_tolerance(frame), tolerance(frame));
    let within = |t: i64| candidates.iter().filter(|r| r.gap <= t).count();
    if 2 * within(base) > within(wide) {
        wide
    } else {
        base
    }
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
    /// Releases whose writes were called before the releasing ACK, by more
    /// than the frame's uncertainty (log; `minshall::held_lead`).
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

/// Sort a direction's release candidates (gaps in the sender's `frame`)
/// by the rules above; `unit` is the inferred write unit when claims may
/// rest on it.
pub(super) fn releases(candidates: &[Release], frame: &SenderFrame, unit: Option<u32>) -> Releases {
    let tol = applied_tolerance(candidates, frame);
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

    /// A frame `near` ns from the sender, its trips varying by `jitter`.
    fn at(near: i64, jitter: Option<i64>) -> SenderFrame {
        SenderFrame {
            near,
            jitter,
            source: crate::report::FrameSource::Samples,
        }
    }

    #[test]
    fn tolerance_is_a_millisecond_plus_the_paths_jitter() {
        assert_eq!(tolerance(&at(0, None)), 1_000_000);
        assert_eq!(tolerance(&at(40_000_000, None)), 1_800_000);
        // A quiet path (0.1 ms variation): the floor.
        assert_eq!(tolerance(&at(40_000_000, Some(100_000))), 1_800_000);
        // A jittery one (0.63 ms, the CI capture that lost a stall to a
        // release 2.2 ms late): 4 × its variation.
        assert_eq!(tolerance(&at(40_000_000, Some(630_000))), 2_520_000);
        // Never past the margin (near/10): 4 ms here, 0.1 ms next to the
        // sender, where the spread is the sender's ACK latency.
        assert_eq!(tolerance(&at(40_000_000, Some(3_000_000))), 4_000_000);
        assert_eq!(tolerance(&at(20_000, Some(1_800_000))), 1_000_400);
    }

    #[test]
    fn a_jittery_path_widens_only_the_late_side_and_only_by_k() {
        // Release candidates at the receiver of a 40 ms path whose trips
        // vary by 0.63 ms: a release seen 2.2 ms late is taken; a departure
        // 3 ms after the ACK (beyond 4 × 0.63 ms) is not.
        let frame = at(40_000_000, Some(630_000));
        let prompt = [release(200_000, Some(1)), release(300_000, Some(1))];
        let mut c = prompt.to_vec();
        c.extend([release(2_200_000, Some(1)), release(3_000_000, Some(1))]);
        let r = releases(&c, &frame, None);
        assert_eq!(r.tolerance, 2_520_000);
        assert_eq!(r.ack_clocked, 3);
        // Quiet path: neither is.
        let quiet = releases(&c, &at(40_000_000, Some(100_000)), None);
        assert_eq!(quiet.ack_clocked, 2);
        // Chance grows with the window: candidates × tolerance / spacing.
        assert!(r.coincidences(Some(10_000_000)) > quiet.coincidences(Some(10_000_000)));
        // A TCP_NODELAY sender phase-locked 2–2.4 ms behind each (delayed)
        // ACK: none within 1.8 ms, so no wider window, no release, no stall.
        let locked: Vec<Release> = (0..20)
            .map(|i| release(2_000_000 + i * 20_000, Some(1)))
            .collect();
        let n = releases(&locked, &frame, None);
        assert_eq!((n.tolerance, n.ack_clocked), (1_800_000, 0));
        let s = super::super::stalls::stalls(&n.by_pure_ack, &frame, Some(40_000_000), None);
        assert_eq!(s.count, 0);
        // Half prompt, half late: not a tail, the base applies.
        let half = [prompt.to_vec(), locked[..2].to_vec()].concat();
        assert_eq!(releases(&half, &frame, None).tolerance, 1_800_000);
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
            &at(0, None),
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
        assert!(!releases(&answers, &at(0, None), None).pure_share_ok);
    }
}

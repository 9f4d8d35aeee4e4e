//! Stage: the Nagle verdict of one direction, with its evidence rule by
//! rule (README "The Nagle verdict").
//!
//! Linux implements Minshall's variant: a small segment is held only while
//! an earlier small segment is unacknowledged. So the verdict is `off` as
//! soon as two small segments were unacknowledged at once (twice, or once
//! with no aggregated release); `on` on a held write, aggregated releases
//! (one with exact write boundaries, two otherwise), ACK-clocked pacing at
//! 0.7–1.5 × RTT, or two stalls; otherwise `inconclusive` with the reason.
//! Overlaps inside loss recovery, FINs and probes are listed, not counted.

use crate::report::{FrameSource, Verdict};

/// What the Nagle verdict is decided from (see [`nagle_verdict`]).
#[derive(Debug, Clone, Default)]
pub(super) struct VerdictInput {
    pub data_segments: u64,
    pub small_segments: u64,
    /// Small segments sent while an earlier one was unacknowledged, outside
    /// loss recovery, FINs and probes.
    pub violations: u64,
    /// Such overlaps inside loss recovery, with a FIN, or probes.
    pub violations_recovery: u64,
    /// Overlaps by a segment that was not the tail of the send queue.
    pub mid_queue: u64,
    /// Where the sender's frame came from (the timings' footing); None
    /// in tests that do not care.
    pub frame: Option<FrameSource>,
    /// Releases whose writes were called before the releasing ACK, by more
    /// than the frame's uncertainty (log; `minshall::held_lead`).
    pub released_held: u64,
    /// Releases by a pure ACK carrying two or more writes.
    pub released_aggregated: u64,
    /// Write boundaries are exact (a write log or `--write-size`), not
    /// protocol messages or inferred: one message is not always one write
    /// (a TLS library may emit several records per write), so without exact
    /// boundaries one aggregated release is not enough.
    pub writes_exact: bool,
    /// Small segments released by a pure ACK.
    pub clocked_pure: u64,
    /// At least half of the releases came after a pure ACK.
    pub pure_share_ok: bool,
    pub rtt_ratio: Option<f64>,
    /// How many release candidates would fall within the release tolerance
    /// after an ACK by chance alone (candidates × tolerance / median send
    /// interval): ACK-clocked pacing and stalls count only well above it.
    pub coincidences: f64,
    pub stalls: u64,
    pub stall_median_ms: Option<f64>,
    /// The median gap between writes when it exceeds the RTT.
    pub wide_writes_ms: Option<f64>,
    pub rtt_ms: Option<f64>,
    pub tolerance_ms: f64,
    /// Frame numbers (1-based, as Wireshark) of the first segments behind
    /// each rule, quoted in its evidence sentence: overlaps, held and
    /// aggregated releases, pure-ACK releases, stalls.
    pub frames: EvidenceFrames,
}

/// The frames each rule's evidence quotes (a few first ones each).
#[derive(Debug, Clone, Default)]
pub(super) struct EvidenceFrames {
    pub violations: Vec<u64>,
    pub held: Vec<u64>,
    pub aggregated: Vec<u64>,
    pub clocked: Vec<u64>,
    pub stalls: Vec<u64>,
}

/// " (frames 12, 15, …)": the frames of an evidence sentence, `more` when
/// the count exceeds them; empty without frames.
pub(crate) fn frames_text(frames: &[u64], count: u64) -> String {
    if frames.is_empty() {
        return String::new();
    }
    let list: Vec<String> = frames.iter().map(|f| f.to_string()).collect();
    let more = if count > frames.len() as u64 {
        ", …"
    } else {
        ""
    };
    let word = if frames.len() == 1 && count <= 1 {
        "frame"
    } else {
        "frames"
    };
    format!(" ({word} {}{more})", list.join(", "))
}

fn none_overlapped() -> String {
    "no small segment was sent while another small segment was unacknowledged".to_string()
}

/// The verdict and its evidence: the deciding rule, then the wide-writes
/// remark on an `on`, then the overlaps that were not counted.
pub(super) fn nagle_verdict(e: &VerdictInput) -> (Verdict, Vec<String>) {
    let (verdict, mut evidence) = decide(e);
    if verdict == Verdict::On {
        if let Some(gap) = e.wide_writes_ms {
            evidence.push(format!(
                "writes were spaced wider than the RTT (median {gap:.2} ms apart, RTT {:.2} ms): Nagle held data only when an ACK came late",
                e.rtt_ms.unwrap_or(0.0)
            ));
        }
    }
    if e.violations_recovery > 0 {
        evidence.push(format!(
            "{} small segment(s) overlapped inside loss recovery, carried a FIN, or were probes (not counted)",
            e.violations_recovery
        ));
    }
    if e.mid_queue > 0 {
        evidence.push(format!(
            "{} small segment(s) overlapped an unacknowledged one but a full-sized segment followed at once: not the tail of the send queue, the only segment Linux holds back (not counted)",
            e.mid_queue
        ));
    }
    if e.frame == Some(FrameSource::Unknown) && e.data_segments > 0 {
        evidence.push(
            "where the capture point sits on the path is unknown (no handshake, or one direction only): timings are taken as seen, as if at the sender".to_string(),
        );
    }
    (verdict, evidence)
}

/// The frames the deciding rule of `verdict` rests on (the ones its first
/// evidence sentence quotes); empty when no rule quotes frames.
pub(super) fn deciding_frames(e: &VerdictInput, verdict: Verdict) -> Vec<u64> {
    let f = &e.frames;
    match verdict {
        Verdict::Off => f.violations.clone(),
        Verdict::On if e.released_held >= 1 => f.held.clone(),
        Verdict::On if aggregated(e) => f.aggregated.clone(),
        Verdict::On if paced(e) => f.clocked.clone(),
        Verdict::On => f.stalls.clone(),
        Verdict::Inconclusive => Vec::new(),
    }
}

/// The first rule that applies, in the order of the README.
fn decide(e: &VerdictInput) -> (Verdict, Vec<String>) {
    let v = e.violations;
    if e.data_segments == 0 {
        (
            Verdict::Inconclusive,
            vec!["no data sent in this direction".to_string()],
        )
    } else if e.small_segments == 0 {
        let why = "no segment below the MSS: Nagle only holds small segments";
        (Verdict::Inconclusive, vec![why.to_string()])
    } else if v >= 2 || (v == 1 && e.released_aggregated == 0) {
        (Verdict::Off, vec![format!(
            "{v} small segment(s) were sent while an earlier small segment was still unacknowledged (outside loss recovery){}; Nagle's algorithm forbids that",
            frames_text(&e.frames.violations, v)
        )])
    } else if let Some(evidence) = on_evidence(e) {
        (Verdict::On, evidence)
    } else if let Some(gap) = e.wide_writes_ms {
        (Verdict::Inconclusive, vec![format!(
            "writes were spaced wider than the RTT (median {gap:.2} ms apart, RTT {:.2} ms): Nagle never had to hold anything",
            e.rtt_ms.unwrap_or(0.0)
        )])
    } else {
        (Verdict::Inconclusive, vec![too_little(e)])
    }
}

/// More than three times what chance alone would give: releases right
/// after an ACK by segments that would have left then anyway.
fn beyond_chance(count: u64, coincidences: f64) -> bool {
    count as f64 > 3.0 * coincidences
}

/// Why neither `on` nor `off`, with the counts it rests on.
fn too_little(e: &VerdictInput) -> String {
    if e.clocked_pure == 0 {
        format!(
            "{} small segment(s): none was sent while another was unacknowledged, and none waited for an ACK: every write left at once, so Nagle had nothing to hold",
            e.small_segments
        )
    } else {
        format!(
            "{} small segment(s): none was sent while another was unacknowledged; {} left right after a pure ACK, too few (or not paced at the RTT) to show Nagle holding them",
            e.small_segments, e.clocked_pure
        )
    }
}

/// Enough aggregated releases: one with exact write boundaries, two
/// otherwise.
fn aggregated(e: &VerdictInput) -> bool {
    e.released_aggregated >= if e.writes_exact { 1 } else { 2 }
}

/// Pacing by pure ACKs at about one RTT, well beyond chance.
fn paced(e: &VerdictInput) -> bool {
    e.clocked_pure >= 3
        && beyond_chance(e.clocked_pure, e.coincidences)
        && e.rtt_ratio.is_some_and(|x| (0.7..=1.5).contains(&x))
        && e.pure_share_ok
}

/// The evidence for `on`, when one of its rules applies: a held write,
/// aggregated releases, pacing by pure ACKs at about one RTT, or stalls.
fn on_evidence(e: &VerdictInput) -> Option<Vec<String>> {
    if e.released_held >= 1 {
        Some(vec![format!(
            "{} segment(s){} carried writes that were called before the ACK of the previous small segment and left within {:.2} ms of that ACK: the kernel held them",
            e.released_held, frames_text(&e.frames.held, e.released_held), e.tolerance_ms
        ), none_overlapped()])
    } else if aggregated(e) {
        Some(vec![format!(
            "{} segment(s){} carrying 2 or more writes left within {:.2} ms of the ACK of the previous small segment",
            e.released_aggregated, frames_text(&e.frames.aggregated, e.released_aggregated), e.tolerance_ms
        ), none_overlapped()])
    } else if paced(e) {
        Some(vec![format!(
            "{} small segments{} left right after a pure ACK of the previous one, and sends are paced at {:.2} × RTT",
            e.clocked_pure,
            frames_text(&e.frames.clocked, e.clocked_pure),
            e.rtt_ratio.unwrap_or(0.0)
        )])
    } else if e.stalls >= 2 && beyond_chance(e.stalls, e.coincidences) {
        Some(vec![format!(
            "{} small segment(s){} waited for an ACK the peer delayed (pure ACK after {:.1} ms on median) and left right after it: the write-write-read stall of Nagle with delayed ACK",
            e.stalls,
            frames_text(&e.frames.stalls, e.stalls),
            e.stall_median_ms.unwrap_or(0.0)
        ), none_overlapped()])
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> VerdictInput {
        VerdictInput {
            data_segments: 100,
            small_segments: 100,
            tolerance_ms: 0.25,
            rtt_ms: Some(40.0),
            ..Default::default()
        }
    }

    #[test]
    fn verdict_rules() {
        // Two small segments unacknowledged at once: off, whatever else.
        let off = VerdictInput {
            violations: 2,
            released_held: 5,
            ..input()
        };
        assert_eq!(nagle_verdict(&off).0, Verdict::Off);
        // One overlap but an aggregated release: not enough for off.
        let one = VerdictInput {
            violations: 1,
            released_aggregated: 1,
            writes_exact: true,
            ..input()
        };
        assert_eq!(nagle_verdict(&one).0, Verdict::On);
        // Without exact write boundaries (protocol messages, inference), one
        // aggregated release may be one write of several messages: two are
        // needed.
        let messages = |n| VerdictInput {
            released_aggregated: n,
            ..input()
        };
        assert_eq!(nagle_verdict(&messages(1)).0, Verdict::Inconclusive);
        assert_eq!(nagle_verdict(&messages(2)).0, Verdict::On);
        // A single held write is enough for on.
        assert_eq!(
            nagle_verdict(&VerdictInput {
                released_held: 1,
                ..input()
            })
            .0,
            Verdict::On
        );
    }

    #[test]
    fn evidence_quotes_the_first_frames() {
        let held = VerdictInput {
            released_held: 7,
            frames: EvidenceFrames {
                held: vec![4, 6, 9],
                ..Default::default()
            },
            ..input()
        };
        let (v, ev) = nagle_verdict(&held);
        assert_eq!(v, Verdict::On);
        assert!(
            ev[0].starts_with("7 segment(s) (frames 4, 6, 9, …) carried"),
            "{ev:?}"
        );
        let off = VerdictInput {
            violations: 2,
            frames: EvidenceFrames {
                violations: vec![11, 12],
                ..Default::default()
            },
            ..input()
        };
        assert!(nagle_verdict(&off).1[0].contains("(frames 11, 12)"));
        assert_eq!(frames_text(&[3], 1), " (frame 3)");
        assert_eq!(frames_text(&[], 4), "");
    }

    #[test]
    fn verdict_rules_pacing_stalls_wide_writes_bulk() {
        // Pacing needs three pure-ACK releases at about one RTT.
        let paced = VerdictInput {
            clocked_pure: 3,
            pure_share_ok: true,
            rtt_ratio: Some(1.0),
            ..input()
        };
        assert_eq!(nagle_verdict(&paced).0, Verdict::On);
        let slow = VerdictInput {
            rtt_ratio: Some(2.0),
            ..paced.clone()
        };
        assert_eq!(nagle_verdict(&slow).0, Verdict::Inconclusive);
        // One stall could be chance; two are a pattern.
        assert_eq!(
            nagle_verdict(&VerdictInput {
                stalls: 1,
                ..input()
            })
            .0,
            Verdict::Inconclusive
        );
        assert_eq!(
            nagle_verdict(&VerdictInput {
                stalls: 2,
                ..input()
            })
            .0,
            Verdict::On
        );
        // Wide writes: inconclusive with that reason, or a note on an on.
        let wide = VerdictInput {
            wide_writes_ms: Some(50.0),
            ..input()
        };
        let (v, ev) = nagle_verdict(&wide);
        assert_eq!(v, Verdict::Inconclusive);
        assert!(ev[0].contains("Nagle never had to hold anything"));
        let (v, ev) = nagle_verdict(&VerdictInput {
            released_held: 3,
            ..wide
        });
        assert_eq!(v, Verdict::On);
        assert!(ev.last().unwrap().contains("only when an ACK came late"));
        // Bulk: no small segments.
        let bulk = VerdictInput {
            small_segments: 0,
            violations: 9,
            ..input()
        };
        assert_eq!(nagle_verdict(&bulk).0, Verdict::Inconclusive);
    }

    #[test]
    fn uncounted_overlaps_are_listed_last() {
        let e = VerdictInput {
            violations_recovery: 4,
            released_held: 1,
            wide_writes_ms: Some(50.0),
            ..input()
        };
        let (v, ev) = nagle_verdict(&e);
        assert_eq!(v, Verdict::On);
        assert!(ev[2].contains("only when an ACK came late"));
        assert!(ev[3].starts_with("4 small segment(s) overlapped inside loss recovery"));
        // They never make an off.
        let only = VerdictInput {
            violations_recovery: 9,
            ..input()
        };
        assert_eq!(nagle_verdict(&only).0, Verdict::Inconclusive);
    }
}

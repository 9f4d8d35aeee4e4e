//! Rules 1a–1c: what Nagle's holds cost.
//!
//! - [`nagle_stalls`] and [`quickack`] fire on a direction whose stalls (a
//!   small segment held until a pure ACK the peer delayed, as the analysis
//!   counts them) cost at least [`STALL_MIN_MS`] in all: TCP_NODELAY on the
//!   writer, or TCP_QUICKACK on its peer. Both save the stall total.
//! - [`nagle_held`] fires where Nagle held writes without stalls (the
//!   peer ACKed at once, so each hold lasted up to one RTT): the Nagle
//!   verdict is `on`, a write log gives each write's wait from the call to
//!   the wire, and those waits add up to at least [`NAGLE_HELD_MIN_MS`]
//!   with a mean of at least [`NAGLE_HELD_MIN_MEAN_MS`]. Saving: that wait.
//!
//! None fires where the verdict says Nagle is off: a TCP_NODELAY socket's
//! waits are the congestion or receive window's, not Nagle's.
//!
//! What they do not do: recount stalls or waits; they quote the analysis'
//! findings. Without a write log a hold's start (the write call) is not in
//! the packets, so a cost is stated only where it was measured.

use super::evidence::{receiver, sender, Draft, Evidence};
use super::thresholds::{NAGLE_HELD_MIN_MEAN_MS, NAGLE_HELD_MIN_MS, STALL_MIN_MS};
use crate::analysis::frames_text;
use crate::flow::Dir;
use crate::report::{self, Verdict};

/// The evidence both rules give, and the median stall in ms.
fn stall_evidence(ev: &Evidence, dir: &report::Direction) -> (Vec<String>, f64) {
    let mut per: Vec<f64> = dir.stalls.events.iter().map(|e| e.ms).collect();
    per.sort_by(|a, b| a.total_cmp(b));
    let median = per.get(per.len() / 2).copied().unwrap_or(0.0);
    let mut out = vec![
        format!(
            "{} small segment(s) from {}{} waited for an ACK that {} delayed, {:.1} ms in all (median {:.1} ms per stall)",
            dir.stalls.count, dir.from, frames_text(&stall_frames(dir), dir.stalls.count), dir.to, dir.stalls.total_ms, median
        ),
        format!("Nagle verdict for this direction: {}", dir.nagle.verdict),
    ];
    if let Some(t) = dir.ack_delay_ms.timer_ms {
        out.push(format!(
            "the receiver's ACK delay clusters at {t:.1} ms ({} samples): a delayed-ACK timer",
            dir.ack_delay_ms.timer_samples
        ));
    }
    if let Some(w) = dir.write_delay_ms.as_ref().and_then(|w| w.mean) {
        out.push(format!(
            "with the write log: writes waited {w:.1} ms on average from the call to the wire"
        ));
    }
    out.push(ev.seen_sentence());
    (out, median)
}

/// The frames of the first stalls' held segments.
fn stall_frames(dir: &report::Direction) -> Vec<u64> {
    dir.stalls.events.iter().take(5).map(|e| e.frame).collect()
}

/// The direction `d` when its stalls are material (and Nagle not off).
fn stalled<'a>(ev: &Evidence<'a>, d: Dir) -> Option<&'a report::Direction> {
    ev.direction(d).filter(|x| {
        x.stalls.count > 0 && x.stalls.total_ms >= STALL_MIN_MS && x.nagle.verdict != Verdict::Off
    })
}

/// TCP_NODELAY on the writer of a direction with stalls.
pub(super) fn nagle_stalls(ev: &Evidence, d: Dir) -> Option<Draft> {
    let dir = stalled(ev, d)?;
    let (evidence, median) = stall_evidence(ev, dir);
    let side = sender(d);
    let draft = Draft::new(
        side,
        format!(
            "set TCP_NODELAY on the {side} socket ({}), or send each request with one write (writev, or TCP_CORK around the writes)",
            ev.address(side)
        ),
        evidence,
        format!(
            "{:.1} ms of stall time in this capture ({} stall(s), {:.1} ms each on median)",
            dir.stalls.total_ms, dir.stalls.count, median
        ),
    );
    Some(
        draft
            .ms(Some(dir.stalls.total_ms))
            .frames(stall_frames(dir)),
    )
}

/// TCP_QUICKACK on the receiver of a direction with stalls.
pub(super) fn quickack(ev: &Evidence, d: Dir) -> Option<Draft> {
    let dir = stalled(ev, d)?;
    let (evidence, _) = stall_evidence(ev, dir);
    let side = receiver(d);
    let draft = Draft::new(
        side,
        format!(
            "alternative to TCP_NODELAY on the writer: set TCP_QUICKACK on the {side} socket ({}) after every recv (Linux clears it), so it ACKs at once",
            ev.address(side)
        ),
        evidence,
        format!(
            "the same {:.1} ms, at the price of one more pure ACK per stall ({} packets)",
            dir.stalls.total_ms, dir.stalls.count
        ),
    );
    Some(
        draft
            .ms(Some(dir.stalls.total_ms))
            .frames(stall_frames(dir)),
    )
}

/// Writes Nagle held in direction `d` (no stalls: [`nagle_stalls`] covers
/// those): their count, total and mean wait in ms, when material.
fn held_writes(ev: &Evidence, d: Dir) -> Option<(usize, f64, f64)> {
    let dir = ev.direction(d)?;
    if dir.nagle.verdict != Verdict::On || stalled(ev, d).is_some() {
        return None;
    }
    let waits: Vec<f64> = dir.write_delay_ms.as_ref()?.waits().collect();
    let total: f64 = waits.iter().sum();
    let mean = total / waits.len().max(1) as f64;
    (total >= NAGLE_HELD_MIN_MS && mean >= NAGLE_HELD_MIN_MEAN_MS).then_some((
        waits.len(),
        total,
        mean,
    ))
}

/// TCP_NODELAY on the writer of a direction where Nagle held writes for a
/// measured, material time.
pub(super) fn nagle_held(ev: &Evidence, d: Dir) -> Option<Draft> {
    let (n, total, mean) = held_writes(ev, d)?;
    let dir = ev.direction(d)?;
    let frames = &dir.nagle.evidence_frames;
    let mut evidence = vec![
        format!(
            "{n} writes from {} waited {mean:.1} ms on average from the call to the wire, {total:.1} ms in all (write log)",
            dir.from
        ),
        format!(
            "Nagle verdict for this direction: {}; {} small segment(s) left on the ACK of the previous one{}",
            dir.nagle.verdict,
            dir.ack_clocked_segments,
            frames_text(frames, dir.ack_clocked_segments)
        ),
    ];
    if let Some(r) = ev.rtt_ms() {
        evidence.push(format!(
            "path RTT {r:.3} ms: Nagle holds a small write until the previous small segment is acknowledged, up to one RTT"
        ));
    }
    evidence.push(ev.seen_sentence());
    let side = sender(d);
    let draft = Draft::new(
        side,
        format!(
            "set TCP_NODELAY on the {side} socket ({}), or gather each message into one write (writev, or TCP_CORK around the writes) so Nagle has nothing to hold",
            ev.address(side)
        ),
        evidence,
        format!(
            "up to {total:.1} ms of write wait in this capture ({mean:.1} ms per write on average; the congestion window may still hold some)"
        ),
    );
    Some(draft.ms(Some(total)).frames(frames.iter().copied()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advice::testkit::Flow;
    use crate::flow::{C2S, S2C};
    use crate::report::{Side, StallEvent};

    fn with_stalls(ms: &[f64]) -> Flow {
        let mut f = Flow::new();
        let s = &mut f.dir(C2S).stalls;
        s.count = ms.len() as u64;
        s.total_ms = ms.iter().sum();
        s.events = ms
            .iter()
            .map(|&ms| StallEvent {
                ts: 0.0,
                ms,
                ack_delay_ms: ms,
                frame: 1,
            })
            .collect();
        f
    }

    #[test]
    fn silent_without_stalls() {
        let f = Flow::new();
        for d in [C2S, S2C] {
            assert!(nagle_stalls(&f.evidence(), d).is_none());
            assert!(quickack(&f.evidence(), d).is_none());
        }
    }

    #[test]
    fn nodelay_on_the_writer_with_the_stall_total() {
        let f = with_stalls(&[40.0, 80.0, 41.0]);
        let a = nagle_stalls(&f.evidence(), C2S).unwrap();
        assert_eq!(a.side, Side::Client);
        assert_eq!(a.saving_ms, Some(161.0));
        assert!(
            a.evidence[0].contains("3 small segment(s)"),
            "{:?}",
            a.evidence
        );
        assert!(a.evidence[0].contains("median 41.0 ms"), "{:?}", a.evidence);
        assert!(a
            .action
            .contains("TCP_NODELAY on the client socket (10.0.0.1:40000)"));
        assert!(nagle_stalls(&f.evidence(), S2C).is_none());
    }

    #[test]
    fn stalls_below_the_threshold_or_with_nagle_off_give_nothing() {
        let f = with_stalls(&[STALL_MIN_MS / 2.0]);
        assert!(nagle_stalls(&f.evidence(), C2S).is_none());
        assert!(quickack(&f.evidence(), C2S).is_none());
        let mut f = with_stalls(&[40.0]);
        f.dir(C2S).nagle.verdict = Verdict::Off;
        assert!(nagle_stalls(&f.evidence(), C2S).is_none());
        let f = with_stalls(&[40.0, 41.0]);
        assert_eq!(nagle_stalls(&f.evidence(), C2S).unwrap().frames, vec![1, 1]);
    }

    /// `n` logged writes that waited `wait` ms each, Nagle `verdict`.
    fn held(n: usize, wait: f64, verdict: Verdict) -> Flow {
        let mut f = Flow::new();
        let d = f.dir(C2S);
        d.nagle.verdict = verdict;
        d.nagle.evidence_frames = vec![5, 7];
        d.write_delay_ms = Some(report::WriteDelay {
            median: Some(wait),
            p90: Some(wait),
            max: Some(wait),
            mean: Some(wait),
            per_write: vec![Some(wait); n],
        });
        f
    }

    #[test]
    fn nodelay_where_nagle_held_writes_with_the_measured_wait() {
        let f = held(200, 9.8, Verdict::On);
        let a = nagle_held(&f.evidence(), C2S).unwrap();
        assert_eq!(a.side, Side::Client);
        assert!((a.saving_ms.unwrap() - 1960.0).abs() < 1e-6);
        assert!(
            a.evidence[0].contains("200 writes from"),
            "{:?}",
            a.evidence
        );
        assert!(a.evidence[0].contains("9.8 ms on average"));
        assert_eq!(a.frames, vec![5, 7]);
        assert!(a.action.contains("TCP_NODELAY on the client socket"));
    }

    #[test]
    fn no_held_advice_when_off_inconclusive_immaterial_or_stalled() {
        assert!(nagle_held(&held(200, 9.8, Verdict::Off).evidence(), C2S).is_none());
        assert!(nagle_held(&held(200, 9.8, Verdict::Inconclusive).evidence(), C2S).is_none());
        let below = NAGLE_HELD_MIN_MS / 4.0;
        assert!(nagle_held(&held(2, below, Verdict::On).evidence(), C2S).is_none());
        assert!(nagle_held(&held(1000, 0.01, Verdict::On).evidence(), C2S).is_none());
        let mut f = held(200, 9.8, Verdict::On);
        let s = &mut f.dir(C2S).stalls;
        (s.count, s.total_ms) = (1, 40.0);
        assert!(
            nagle_held(&f.evidence(), C2S).is_none(),
            "the stall rule covers it"
        );
    }

    #[test]
    fn quickack_on_the_peer_with_the_same_saving() {
        let mut f = with_stalls(&[40.0]);
        f.dir(C2S).ack_delay_ms.timer_ms = Some(40.0);
        let a = quickack(&f.evidence(), C2S).unwrap();
        assert_eq!(a.side, Side::Server);
        assert_eq!(a.saving_ms, Some(40.0));
        assert!(a.action.contains("the server socket (10.0.0.2:80)"));
        assert!(a.evidence.iter().any(|e| e.contains("delayed-ACK timer")));
    }
}

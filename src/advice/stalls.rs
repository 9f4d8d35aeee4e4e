//! Rules 1a and 1b: Nagle × delayed-ACK stalls.
//!
//! Both fire on a direction with at least one stall (a small segment held
//! until a pure ACK the peer delayed, as the analysis counts them): TCP_NODELAY
//! on the writer, or TCP_QUICKACK on its peer. Both save the stall total.
//!
//! What they do not do: recount stalls; they quote the analysis' findings.

use super::evidence::{receiver, sender, Draft, Evidence};
use crate::flow::Dir;
use crate::report;

/// The evidence both rules give, and the median stall in ms.
fn stall_evidence(ev: &Evidence, dir: &report::Direction) -> (Vec<String>, f64) {
    let mut per: Vec<f64> = dir.stalls.events.iter().map(|e| e.ms).collect();
    per.sort_by(|a, b| a.total_cmp(b));
    let median = per.get(per.len() / 2).copied().unwrap_or(0.0);
    let mut out = vec![
        format!(
            "{} small segment(s) from {} waited for an ACK that {} delayed, {:.1} ms in all (median {:.1} ms per stall)",
            dir.stalls.count, dir.from, dir.to, dir.stalls.total_ms, median
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

/// TCP_NODELAY on the writer of a direction with stalls.
pub(super) fn nagle_stalls(ev: &Evidence, d: Dir) -> Option<Draft> {
    let dir = ev.direction(d).filter(|x| x.stalls.count > 0)?;
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
    Some(draft.ms(Some(dir.stalls.total_ms)))
}

/// TCP_QUICKACK on the receiver of a direction with stalls.
pub(super) fn quickack(ev: &Evidence, d: Dir) -> Option<Draft> {
    let dir = ev.direction(d).filter(|x| x.stalls.count > 0)?;
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
    Some(draft.ms(Some(dir.stalls.total_ms)))
}

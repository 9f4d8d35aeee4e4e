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

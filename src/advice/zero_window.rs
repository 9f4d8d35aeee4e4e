//! Rule 6: zero-window stalls.
//!
//! Fires on a direction whose sender advertised a zero window at least
//! once (the tracker counts episodes: from the first zero window to the
//! next non-zero one; one still open at the end of the capture runs to the
//! flow's end). The advice goes to that side's application: it reads too
//! slowly. Saving: the total zero-window time.
//!
//! What it does not do: advise a larger SO_RCVBUF (it only postpones the
//! stall), or say why the application was slow.

use super::evidence::{reverse, sender, Draft, Evidence};
use crate::flow::Dir;
use crate::report::ms;

/// The side sending `d` closed its window (it receives the other way).
pub(super) fn zero_window(ev: &Evidence, d: Dir) -> Option<Draft> {
    let dir = ev.direction(d)?;
    let st = ev.stats(d);
    if st.zero_window_episodes == 0 {
        return None;
    }
    let open = st
        .zero_window_since
        .map_or(0, |t| (ev.summary.end_ts - t).max(0));
    let total = st.zero_window_ns.saturating_add(open);
    let probes = ev.collect(reverse(d)).window_probes;
    let mut evidence = vec![format!(
        "{} advertised a zero window {} time(s) in {} episode(s), {:.1} ms in all{}",
        dir.from,
        st.zero_window,
        st.zero_window_episodes,
        ms(total),
        if open > 0 {
            " (the last one still open at the end of the capture)"
        } else {
            ""
        }
    )];
    if probes > 0 {
        evidence.push(format!("{} sent {probes} zero-window probe(s)", dir.to));
    }
    let side = sender(d);
    let draft = Draft::new(
        side,
        format!(
            "the application on the {side} ({}) reads too slowly: read sooner or in a separate thread; a larger SO_RCVBUF only postpones the stall",
            ev.address(side)
        ),
        evidence,
        format!("{:.1} ms of zero-window stall in this capture", ms(total)),
    );
    Some(draft.ms(Some(ms(total))))
}

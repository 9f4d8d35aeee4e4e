//! Rule 6: zero-window stalls.
//!
//! Fires on a direction whose sender advertised a zero window at least
//! once (the tracker counts episodes: from the first zero window to the
//! next non-zero one; one still open at the end of the capture runs to the
//! flow's end) for at least [`ZERO_WINDOW_MIN_MS`] in all. The advice goes to that side's application: it reads too
//! slowly. Saving: the total zero-window time.
//!
//! What it does not do: advise a larger SO_RCVBUF (it only postpones the
//! stall), or say why the application was slow.

use super::evidence::{sender, Draft, Evidence};
use super::thresholds::ZERO_WINDOW_MIN_MS;
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
    if ms(total) < ZERO_WINDOW_MIN_MS {
        return None;
    }
    let probes = ev.collect(d.reverse()).window_probes;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advice::testkit::{Flow, MS};
    use crate::flow::{C2S, S2C};
    use crate::report::Side;

    fn closed(episodes: u64, since: Option<i64>) -> Flow {
        let mut f = Flow::new();
        let st = &mut f.summary.dirs[S2C];
        (st.zero_window, st.zero_window_episodes) = (3, episodes);
        st.zero_window_ns = 50 * MS;
        st.zero_window_since = since;
        f
    }

    #[test]
    fn fires_on_the_side_that_closed_its_window() {
        let mut f = closed(1, None);
        f.collected.dirs[C2S].window_probes = 2;
        let a = zero_window(&f.evidence(), S2C).unwrap();
        assert_eq!(a.side, Side::Server);
        assert_eq!(a.saving_ms, Some(50.0));
        assert!(a.evidence[1].contains("sent 2 zero-window probe(s)"));
        assert!(zero_window(&f.evidence(), C2S).is_none());
    }

    #[test]
    fn an_open_episode_runs_to_the_end_of_the_flow() {
        let f = closed(1, Some(f_end() - 10 * MS));
        let a = zero_window(&f.evidence(), S2C).unwrap();
        assert_eq!(a.saving_ms, Some(60.0));
        assert!(a.evidence[0].contains("still open"));
    }

    fn f_end() -> i64 {
        Flow::new().summary.end_ts
    }

    #[test]
    fn silent_without_a_zero_window() {
        assert!(zero_window(&closed(0, None).evidence(), S2C).is_none());
    }
}

//! Rule 8: listen backlog (`listen()` backlog, `net.core.somaxconn`,
//! `tcp_max_syn_backlog`).
//!
//! On a connection whose SYN was seen, fires when the client's SYN was
//! retransmitted (answered late, with RST, or never), or the server's
//! SYN/ACK was (after the client's ACK was seen, Linux's sign of a full
//! accept queue); a SYN/ACK that drops the window-scale and SACK options
//! the SYN offered (consistent with SYN cookies) is added to that evidence.
//! Saving: the set-up time those retries cost.
//!
//! What it does not do: tell a full queue from loss on the path (both give
//! the same packets, so the advice says "consistent with"), or see the
//! backlog length itself.

use super::evidence::{secs_text, Draft, Evidence};
use crate::flow::{DirStats, FlowSummary, C2S, S2C};
use crate::report::{ms, Side};

/// Evidence sentences and the set-up time (ns) they cost.
#[derive(Default)]
struct Trouble {
    evidence: Vec<String>,
    cost: i64,
}

/// The client sent its SYN more than once: how the server answered.
fn syn_retries(s: &FlowSummary, t: &mut Trouble) {
    let (c_st, s_st) = (&s.dirs[C2S], &s.dirs[S2C]);
    if c_st.syns <= 1 {
        return;
    }
    let first = c_st.first_syn_ts.unwrap_or(s.start_ts);
    let last = c_st.last_syn_ts.unwrap_or(first);
    t.evidence.push(format!(
        "the client sent its SYN {} times over {}",
        c_st.syns,
        secs_text(last - first)
    ));
    match s_st.first_syn_ts {
        Some(sa) => {
            t.cost = (sa - first).max(0);
            t.evidence.push(format!(
                "the first SYN/ACK came {} after the first SYN",
                secs_text(t.cost)
            ));
        }
        None if s_st.rst => t.evidence.push("the server answered with RST: nothing listening, or a full queue with tcp_abort_on_overflow".into()),
        None => {
            t.cost = (last - first).max(0);
            t.evidence.push("no SYN/ACK was seen: the connection never opened".into());
        }
    }
}

/// The server sent its SYN/ACK more than once.
fn synack_retries(s: &FlowSummary, t: &mut Trouble) {
    let s_st = &s.dirs[S2C];
    if s_st.syns <= 1 {
        return;
    }
    let acked = s.handshake.ack.is_some();
    t.evidence.push(format!(
        "the server sent its SYN/ACK {} times{}",
        s_st.syns,
        if acked {
            " although the client's ACK was seen: Linux ignores that ACK when the accept queue is full and resends the SYN/ACK"
        } else {
            ""
        }
    ));
    if let (Some(a), Some(b)) = (s_st.first_syn_ts, s_st.last_syn_ts) {
        t.cost = t.cost.max(b - a);
    }
}

/// The SYN offered window scaling and SACK and the SYN/ACK dropped both.
fn cookies(c_st: &DirStats, s_st: &DirStats) -> bool {
    s_st.syns > 0
        && c_st.window_scale.is_some()
        && c_st.sack_permitted
        && s_st.window_scale.is_none()
        && !s_st.sack_permitted
}

/// A larger backlog on the server of a connection with SYN trouble.
pub(super) fn listen_backlog(ev: &Evidence) -> Option<Draft> {
    let s = ev.summary;
    if !(s.handshake_seen && s.dirs[C2S].syns > 0) {
        return None;
    }
    let mut t = Trouble::default();
    syn_retries(s, &mut t);
    synack_retries(s, &mut t);
    if t.evidence.is_empty() {
        return None;
    }
    if cookies(&s.dirs[C2S], &s.dirs[S2C]) {
        t.evidence.push("the SYN offered window scaling and SACK, the SYN/ACK dropped both: consistent with SYN cookies (a full SYN queue), or a server that disabled them".into());
    }
    t.evidence.push("packet loss on the path gives the same packets; several flows to one server showing it at once point to the backlog".into());
    let saving = if t.cost > 0 {
        format!("{:.0} ms of connection set-up in this flow", ms(t.cost))
    } else {
        "connection set-up time (not measurable here)".into()
    };
    let draft = Draft::new(
        Side::Server,
        format!(
            "on the server ({}): raise the listen() backlog and net.core.somaxconn / net.ipv4.tcp_max_syn_backlog, and accept() faster",
            ev.address(Side::Server)
        ),
        t.evidence,
        saving,
    );
    Some(draft.ms((t.cost > 0).then(|| ms(t.cost))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advice::testkit::{Flow, MS};

    fn syns(client: u32, server: u32) -> Flow {
        let mut f = Flow::new();
        f.summary.handshake_seen = true;
        let c = &mut f.summary.dirs[C2S];
        c.syns = client;
        (c.first_syn_ts, c.last_syn_ts) = (Some(0), Some(3000 * MS));
        let s = &mut f.summary.dirs[S2C];
        s.syns = server;
        if server > 0 {
            (s.first_syn_ts, s.last_syn_ts) = (Some(3000 * MS), Some(4000 * MS));
        }
        f
    }

    #[test]
    fn silent_on_a_clean_handshake() {
        assert!(listen_backlog(&syns(1, 1).evidence()).is_none());
        let mut f = syns(3, 1);
        f.summary.handshake_seen = false;
        assert!(listen_backlog(&f.evidence()).is_none());
    }

    #[test]
    fn retransmitted_syn_costs_the_wait_for_the_syn_ack() {
        let a = listen_backlog(&syns(3, 1).evidence()).unwrap();
        assert_eq!(a.side, Side::Server);
        assert_eq!(a.saving_ms, Some(3000.0));
        assert!(a.evidence[0].contains("SYN 3 times over 3.0 s"));
    }

    #[test]
    fn unanswered_syns_and_resent_syn_acks() {
        let a = listen_backlog(&syns(2, 0).evidence()).unwrap();
        assert!(a.evidence[1].contains("never opened"));
        assert_eq!(a.saving_ms, Some(3000.0));
        let mut f = syns(1, 2);
        f.summary.handshake.ack = Some(3001 * MS);
        let a = listen_backlog(&f.evidence()).unwrap();
        assert!(a.evidence[0].contains("accept queue is full"));
        assert_eq!(a.saving_ms, Some(1000.0));
    }

    #[test]
    fn syn_cookies_only_add_to_other_evidence() {
        let mut f = syns(1, 1);
        f.summary.dirs[C2S].window_scale = Some(7);
        f.summary.dirs[C2S].sack_permitted = true;
        assert!(listen_backlog(&f.evidence()).is_none());
        f.summary.dirs[C2S].syns = 2;
        let a = listen_backlog(&f.evidence()).unwrap();
        assert!(a.evidence.iter().any(|e| e.contains("SYN cookies")));
    }
}

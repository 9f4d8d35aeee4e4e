//! Stage 4b: from evidence to advice — which socket option to turn.
//!
//! [`Collector`] rides along with the analysis (it is fed the same flow
//! events, bounded memory) and gathers what the per-direction report does
//! not keep: request/response turns and their segment counts, bytes in
//! flight against the peer's window, keep-alive probe times and the idle
//! time before them, and the first data after the handshake. [`advise`]
//! then walks the rule table ([`rules`]) over the tracker's `FlowSummary`,
//! the collector and the typed findings of the finished [`report::Flow`]
//! (verdicts, stalls, RTT, vantage: enums and numbers, never the report's
//! strings), and returns the flow's advice, most costly first (time the
//! pattern cost in this capture, then packets, then bytes; advice without
//! a saving last; ties keep the table's order).
//!
//! Each rule is one function with one job, in its own file, with unit
//! tests beside it. A rule looks either at one direction (run for
//! client→server, then server→client: the sender of client→server data is
//! the client) or at the whole connection. The table, in order (the README
//! repeats it under "Advice"):
//!
//! | rule | option, side | trigger and threshold |
//! |---|---|---|
//! | `nagle_stalls` | TCP_NODELAY, writer | the direction has Nagle × delayed-ACK stalls (a small segment held until a pure ACK the peer delayed, see `analysis`) costing ≥ 5 ms, Nagle not `off`; saving: the stall total (and the median per stall) |
//! | `quickack` | TCP_QUICKACK, its peer | the same stalls, the same saving (walked with `nagle_stalls`: each direction's TCP_QUICKACK follows its TCP_NODELAY) |
//! | `nagle_held` | TCP_NODELAY, writer | Nagle verdict `on`, no stall advice, a write log: the writes' waits from call to wire ≥ 5 ms in all and ≥ 0.1 ms on average; saving: that wait |
//! | `cork` | TCP_CORK / MSG_MORE, writer | request/response exchange (both sides completed a turn: a run of data segments one way until the other side sends data); the direction's ≥ 2 turns carried ≥ 2 segments more than their bytes need (⌈bytes / MSS⌉), at least half a segment per turn; saving: packets and header bytes |
//! | `tinygrams` | TCP_CORK (or leave Nagle on), writer | Nagle verdict "off", ≥ 20 small segments, median send interval below the path RTT, ≥ 10 segments beyond max(⌈bytes / MSS⌉, duration / RTT); saving: those segments and their headers |
//! | `defer_accept` | TCP_DEFER_ACCEPT, server | handshake seen complete, the third packet a pure ACK and the client's first data ≥ 1 ms after it; saving: one packet per connection. When the server speaks first (a banner protocol): do not set it |
//! | `rcvbuf` | SO_RCVBUF, receiver | bulk direction (≥ 64 KiB, ≥ 20 new segments with a known window), ≥ 30 % of new segments left no room for another full segment in the advertised window, no zero window from the receiver, rate × RTT ≥ ¼ of the pinned window; advice: twice the pinned window; saving: up to half the transfer time if the path has room |
//! | `sndbuf` | SO_SNDBUF, sender | bulk direction not window-limited (walked with `rcvbuf`) and not application-limited (< 2 request/response turns), no retransmission, ≥ 50 in-flight samples, bytes in flight plateau (90th percentile within 10 % of the maximum) below 60 % of the smallest advertised window |
//! | `zero_window` | SO_RCVBUF (read faster), the side that advertised it | a zero window for ≥ 1 ms in all, episodes and their total time (from the first zero window to the next non-zero one); saving: that time |
//! | `keepalive` | SO_KEEPALIVE, prober | keep-alive probes (0 or 1 byte at next sequence − 1 into an open window): idle before the first, median interval, against Linux's 7200 s / 75 s / 9; not a saving |
//! | `listen_backlog` | listen backlog, server | SYN seen; the client's SYN retransmitted, or the server's SYN/ACK retransmitted (after the client's ACK: a full accept queue on Linux); a SYN/ACK dropping window scale and SACK is added as "consistent with SYN cookies"; saving: the set-up time |
//!
//! The figures are the constants of [`thresholds`]. Each advice carries
//! its rule's name and the frames its evidence rests on; [`group`] gathers
//! every flow's advice by endpoint for the reports.
//!
//! What it does not do: guess options a capture cannot show ([`CANNOT_SHOW`]
//! lists them, and the renderers print it once per report), say "is" where
//! loss on the path gives the same packets (it says "consistent with"), or
//! re-read packets: it sees only the events the tracker emits.

use crate::flow::{Dir, FlowSummary};
use crate::report::{self, Advice, AdviceOption};

mod accept;
mod backlog;
mod buffers;
mod collect;
mod cork;
mod evidence;
pub mod group;
mod keepalive;
mod stalls;
#[cfg(test)]
mod testkit;

/// A blank report flow for other modules' unit tests (see `testkit`).
#[cfg(test)]
pub(crate) fn blank_flow() -> crate::report::Flow {
    testkit::Flow::new().report
}
pub mod thresholds;
mod zero_window;

pub use accept::DEFER_ACCEPT_MIN_GAP_NS;
pub use collect::Collector;
pub use keepalive::KEEPALIVE_DEFAULTS;

use evidence::{Draft, Evidence};

/// Socket options and settings a capture cannot reveal.
pub const CANNOT_SHOW: &[&str] = &[
    "SO_REUSEPORT / SO_REUSEADDR: how listening sockets share a port leaves no trace in the packets of one connection",
    "the backlog length and net.core.somaxconn themselves: only their symptoms (retransmitted SYNs or SYN/ACKs) show",
    "the SO_SNDBUF / SO_RCVBUF values set: only the advertised window and the bytes in flight show, and Linux autotuning changes them",
    "TCP_NODELAY when no small segment ever met an unacknowledged one: Nagle had nothing to hold, so on and off look the same",
    "TCP_CORK versus autocorking or an application that buffers its writes: all coalesce bytes the same way",
    "TCP_KEEPCNT unless the probes go unanswered; keep-alive settings of a side that sent no probe",
    "TCP_USER_TIMEOUT, SO_LINGER (beyond an RST at close), the congestion control algorithm, and options of hosts behind a proxy that answers for them",
];

/// How a rule is walked.
#[derive(Clone, Copy)]
enum Scope {
    /// Looks at the whole connection; runs once.
    Flow(fn(&Evidence) -> Option<Draft>),
    /// Looks at one direction; runs for client→server, then server→client.
    Direction(fn(&Evidence, Dir) -> Option<Draft>),
    /// Like `Direction`, in the same pass as the row above: each
    /// direction's advice directly follows that row's for the same
    /// direction (TCP_QUICKACK after TCP_NODELAY, SO_SNDBUF after
    /// SO_RCVBUF), the order the advice always had.
    WithAbove(fn(&Evidence, Dir) -> Option<Draft>),
}

/// One row of the rule table.
struct Rule {
    name: &'static str,
    option: AdviceOption,
    scope: Scope,
}

/// The rules, in the order their advice is listed before sorting (module
/// doc: triggers and thresholds).
#[rustfmt::skip]
const RULES: &[Rule] = &[
    Rule { name: "nagle_stalls", option: AdviceOption::TcpNodelay, scope: Scope::Direction(stalls::nagle_stalls) },
    Rule { name: "quickack", option: AdviceOption::TcpQuickack, scope: Scope::WithAbove(stalls::quickack) },
    Rule { name: "nagle_held", option: AdviceOption::TcpNodelay, scope: Scope::Direction(stalls::nagle_held) },
    Rule { name: "cork", option: AdviceOption::TcpCork, scope: Scope::Direction(cork::cork) },
    Rule { name: "tinygrams", option: AdviceOption::TcpCork, scope: Scope::Direction(cork::tinygrams) },
    Rule { name: "defer_accept", option: AdviceOption::TcpDeferAccept, scope: Scope::Flow(accept::defer_accept) },
    Rule { name: "rcvbuf", option: AdviceOption::SoRcvbuf, scope: Scope::Direction(buffers::rcvbuf) },
    Rule { name: "sndbuf", option: AdviceOption::SoSndbuf, scope: Scope::WithAbove(buffers::sndbuf) },
    Rule { name: "zero_window", option: AdviceOption::SoRcvbuf, scope: Scope::Direction(zero_window::zero_window) },
    Rule { name: "keepalive", option: AdviceOption::SoKeepalive, scope: Scope::Direction(keepalive::keepalive) },
    Rule { name: "listen_backlog", option: AdviceOption::ListenBacklog, scope: Scope::Flow(backlog::listen_backlog) },
];

/// The rule table: each rule's name and the option it advises, in order.
pub fn rules() -> impl Iterator<Item = (&'static str, AdviceOption)> {
    RULES.iter().map(|r| (r.name, r.option))
}

/// Apply the rules (module docs) to a finished flow.
pub fn advise(s: &FlowSummary, c: &Collector, f: &report::Flow) -> Vec<Advice> {
    let ev = Evidence {
        summary: s,
        collected: c,
        flow: f,
    };
    let mut out = Vec::new();
    for pass in RULES.chunk_by(|_, next| matches!(next.scope, Scope::WithAbove(_))) {
        walk(&ev, pass, &mut out);
    }
    sort_by_cost(&mut out);
    out
}

/// Run one pass of the table: a flow rule once, or direction rules
/// direction by direction.
fn walk(ev: &Evidence, pass: &[Rule], out: &mut Vec<Advice>) {
    if let Scope::Flow(check) = pass[0].scope {
        out.extend(check(ev).map(|d| finish(ev, &pass[0], d)));
        return;
    }
    for dir in Dir::BOTH {
        for rule in pass {
            let (Scope::Direction(check) | Scope::WithAbove(check)) = rule.scope else {
                continue;
            };
            out.extend(check(ev, dir).map(|d| finish(ev, rule, d)));
        }
    }
}

/// A rule's draft as advice: the table's option, the side's address.
fn finish(ev: &Evidence, rule: &Rule, d: Draft) -> Advice {
    Advice {
        option: rule.option,
        side: d.side,
        address: ev.address(d.side).to_string(),
        action: d.action,
        evidence: d.evidence,
        estimated_saving: d.saving,
        saving_ms: d.saving_ms,
        saving_packets: d.saving_packets,
        saving_bytes: d.saving_bytes,
        frames: d.frames,
        rule: rule.name,
    }
}

/// Most costly first: time, then packets, then bytes; informational last.
/// The sort is stable: ties keep the table's order.
fn sort_by_cost(out: &mut [Advice]) {
    out.sort_by(|a, b| {
        b.saving_ms
            .unwrap_or(-1.0)
            .total_cmp(&a.saving_ms.unwrap_or(-1.0))
            .then(b.saving_packets.cmp(&a.saving_packets))
            .then(b.saving_bytes.cmp(&a.saving_bytes))
    });
}

#[cfg(test)]
mod tests {
    use super::testkit::Flow;
    use super::*;
    use crate::flow::{C2S, S2C};
    use crate::report::{Side, StallEvent};

    #[test]
    fn rule_names_are_unique_and_passes_start_with_a_direction_or_flow_rule() {
        let mut names: Vec<_> = rules().map(|r| r.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RULES.len());
        assert!(!matches!(RULES[0].scope, Scope::WithAbove(_)));
    }

    #[test]
    fn a_quiet_flow_gets_no_advice() {
        let f = Flow::new();
        assert!(advise(&f.summary, &f.collected, &f.report).is_empty());
    }

    /// Equal stalls both ways: the sort ties, so the table's walk decides:
    /// each direction's TCP_QUICKACK right after its TCP_NODELAY.
    #[test]
    fn ties_keep_the_walk_order() {
        let mut f = Flow::new();
        for d in [C2S, S2C] {
            let s = &mut f.dir(d).stalls;
            (s.count, s.total_ms) = (1, 40.0);
            s.events = vec![StallEvent {
                ts: 0.0,
                ms: 40.0,
                ack_delay_ms: 40.0,
                frame: 1,
            }];
        }
        f.collected.dirs[S2C].keepalive_count = 1;
        let out = advise(&f.summary, &f.collected, &f.report);
        let got: Vec<(AdviceOption, Side, &str)> = out
            .iter()
            .map(|a| (a.option, a.side, a.address.as_str()))
            .collect();
        use AdviceOption::*;
        assert_eq!(
            got,
            vec![
                (TcpNodelay, Side::Client, super::testkit::CLIENT),
                (TcpQuickack, Side::Server, super::testkit::SERVER),
                (TcpNodelay, Side::Server, super::testkit::SERVER),
                (TcpQuickack, Side::Client, super::testkit::CLIENT),
                (SoKeepalive, Side::Server, super::testkit::SERVER),
            ]
        );
    }

    #[test]
    fn most_costly_first() {
        let mut f = Flow::new();
        let s = &mut f.dir(S2C).stalls;
        (s.count, s.total_ms) = (1, 40.0);
        let st = &mut f.summary.dirs[C2S];
        (st.zero_window_episodes, st.zero_window_ns) = (1, 500_000_000);
        let out = advise(&f.summary, &f.collected, &f.report);
        let got: Vec<_> = out.iter().map(|a| (a.option, a.saving_ms)).collect();
        assert_eq!(
            got,
            vec![
                (AdviceOption::SoRcvbuf, Some(500.0)),
                (AdviceOption::TcpNodelay, Some(40.0)),
                (AdviceOption::TcpQuickack, Some(40.0)),
            ]
        );
    }
}

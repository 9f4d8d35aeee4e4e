//! Advice across flows: one entry per (endpoint, rule, side), ranked by
//! what it saves in all.
//!
//! A browsing capture holds many connections to one server, and each gets
//! the same advice; a reader wants it once: "server 10.0.0.2:80, 13
//! connections: TCP_CORK …, 26 packets in all". A rule's advice not to
//! act (no saving: "do not set TCP_DEFER_ACCEPT") is grouped apart from
//! its advice to act. [`Grouper`] is fed finished
//! flows (streaming writers feed it as flows finish; memory follows the
//! number of groups, not of flows) and returns [`AdviceGroup`]s: the
//! endpoint is the server's `ip:port`, or the client's address without its
//! port (a client's ports change per connection); savings are summed; the
//! costliest flow's advice stands as the example. Ranked by time saved,
//! then packets, then connections (informational advice last).
//!
//! What it does not do: change per-flow advice (JSON keeps it as it is), or
//! sum figures that do not add up (a buffer size is not a saving).

use crate::report::{Advice, AdviceGroup, Flow, Side};
use std::collections::HashMap;

/// Flow ids a group lists, at most.
pub const GROUP_FLOW_IDS: usize = 20;

/// Groups advice as flows arrive.
#[derive(Debug, Default)]
pub struct Grouper {
    groups: HashMap<(&'static str, Side, String, bool), Entry>,
}

/// A group being built, with its example's own figures.
#[derive(Debug)]
struct Entry {
    group: AdviceGroup,
    example_ms: Option<f64>,
    example_packets: Option<u64>,
    example_saving: String,
}

/// The endpoint advice is grouped by: the server's `ip:port`, the client's
/// address without the port.
pub fn endpoint(a: &Advice) -> String {
    match a.side {
        Side::Server => a.address.clone(),
        Side::Client => a
            .address
            .rsplit_once(':')
            .map_or(a.address.as_str(), |(ip, _)| ip)
            .to_string(),
    }
}

/// `x` + `y` where either may be missing.
fn add<T: std::ops::Add<Output = T>>(x: Option<T>, y: Option<T>) -> Option<T> {
    match (x, y) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// Time, then packets: how `a` compares in cost with `b`.
fn costlier(a: (Option<f64>, Option<u64>), b: (Option<f64>, Option<u64>)) -> bool {
    let ms = a.0.unwrap_or(-1.0).total_cmp(&b.0.unwrap_or(-1.0));
    ms.then(a.1.cmp(&b.1)).is_gt()
}

impl Grouper {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every piece of advice of `f`.
    pub fn add(&mut self, f: &Flow) {
        for a in &f.advice {
            self.add_one(f.id, a);
        }
    }

    fn add_one(&mut self, flow: u64, a: &Advice) {
        // A rule's "do not" (no saving) stays apart from its advice to act.
        let acts = a.saving_ms.is_some() || a.saving_packets.is_some();
        let key = (a.rule, a.side, endpoint(a), acts);
        let e = self.groups.entry(key).or_insert_with(|| start(flow, a));
        if e.group.connections > 0
            && costlier(
                (a.saving_ms, a.saving_packets),
                (e.example_ms, e.example_packets),
            )
        {
            set_example(e, flow, a);
        }
        let g = &mut e.group;
        if g.connections > 0 {
            g.saving_ms = add(g.saving_ms, a.saving_ms);
            g.saving_packets = add(g.saving_packets, a.saving_packets);
        }
        g.connections += 1;
        if g.flows.len() < GROUP_FLOW_IDS {
            g.flows.push(flow);
        }
    }

    /// The groups, most saving first, each with its saving in words.
    pub fn finish(self) -> Vec<AdviceGroup> {
        let mut v: Vec<AdviceGroup> = self
            .groups
            .into_values()
            .map(|mut e| {
                e.group.flows.sort_unstable();
                e.group.estimated_saving = saving_words(&e.group, &e.example_saving);
                e.group
            })
            .collect();
        v.sort_by(|a, b| {
            let ms = b
                .saving_ms
                .unwrap_or(-1.0)
                .total_cmp(&a.saving_ms.unwrap_or(-1.0));
            ms.then(b.saving_packets.cmp(&a.saving_packets))
                .then(b.connections.cmp(&a.connections))
                .then(a.flows.first().cmp(&b.flows.first()))
                .then(a.rule.cmp(b.rule))
                // Groups alike in all of that (two ends of one flow) came
                // out in hash order: the endpoint and action decide.
                .then_with(|| a.endpoint.cmp(&b.endpoint))
                .then_with(|| a.action.cmp(&b.action))
        });
        v
    }
}

/// The groups of `flows` (in memory: [`crate::report::Report::new`]).
pub fn group(flows: &[Flow]) -> Vec<AdviceGroup> {
    let mut g = Grouper::new();
    for f in flows {
        g.add(f);
    }
    g.finish()
}

/// A new group from its first advice (counted by the caller).
fn start(flow: u64, a: &Advice) -> Entry {
    let group = AdviceGroup {
        option: a.option,
        rule: a.rule,
        side: a.side,
        endpoint: endpoint(a),
        connections: 0,
        flows: Vec::new(),
        saving_ms: a.saving_ms,
        saving_packets: a.saving_packets,
        estimated_saving: String::new(),
        example_flow: flow,
        action: String::new(),
        evidence: Vec::new(),
        frames: Vec::new(),
    };
    let mut e = Entry {
        group,
        example_ms: None,
        example_packets: None,
        example_saving: String::new(),
    };
    set_example(&mut e, flow, a);
    e
}

/// `a` of `flow` becomes the group's example.
fn set_example(e: &mut Entry, flow: u64, a: &Advice) {
    let g = &mut e.group;
    g.example_flow = flow;
    g.action = a.action.clone();
    g.evidence = a.evidence.clone();
    g.frames = a.frames.clone();
    e.example_saving = a.estimated_saving.clone();
    e.example_ms = a.saving_ms;
    e.example_packets = a.saving_packets;
}

/// The group's saving in words: the sums over its connections, and the
/// example flow's own words.
fn saving_words(g: &AdviceGroup, example_saving: &str) -> String {
    if g.connections <= 1 {
        return example_saving.to_string();
    }
    let mut sums = Vec::new();
    if let Some(ms) = g.saving_ms {
        sums.push(format!("{ms:.1} ms"));
    }
    if let Some(p) = g.saving_packets {
        sums.push(format!("{p} packets"));
    }
    if sums.is_empty() {
        return format!(
            "{} connections; flow {}: {}",
            g.connections, g.example_flow, example_saving
        );
    }
    format!(
        "{} in all over {} connections (flow {}, the costliest: {})",
        sums.join(" and "),
        g.connections,
        g.example_flow,
        example_saving
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::AdviceOption;

    fn advice(rule: &'static str, side: Side, address: &str, ms: Option<f64>) -> Advice {
        Advice {
            option: AdviceOption::TcpCork,
            side,
            address: address.to_string(),
            action: format!("act on {address}"),
            evidence: vec![format!("seen {ms:?}")],
            estimated_saving: format!("{ms:?}"),
            saving_ms: ms,
            saving_packets: Some(2),
            saving_bytes: Some(100),
            frames: vec![3],
            rule,
        }
    }

    fn flow(id: u64, advice: Vec<Advice>) -> Flow {
        let mut f = crate::advice::testkit::Flow::new().report;
        f.id = id;
        f.advice = advice;
        f
    }

    #[test]
    fn one_group_per_server_endpoint_and_rule_summed_and_ranked() {
        let srv = "10.0.0.2:80";
        let flows: Vec<Flow> = (0..13)
            .map(|i| {
                let ms = Some(1.0 + i as f64);
                flow(i, vec![advice("cork", Side::Server, srv, ms)])
            })
            .chain([flow(
                13,
                vec![advice(
                    "nagle_stalls",
                    Side::Client,
                    "10.0.0.1:4000",
                    Some(500.0),
                )],
            )])
            .chain([flow(
                14,
                vec![advice(
                    "nagle_stalls",
                    Side::Client,
                    "10.0.0.1:4001",
                    Some(1.0),
                )],
            )])
            .collect();
        let g = group(&flows);
        assert_eq!(g.len(), 2, "{g:#?}");
        // 13 × 1..13 ms = 91 ms; the client's two connections 501 ms.
        assert_eq!((g[0].endpoint.as_str(), g[0].connections), ("10.0.0.1", 2));
        assert_eq!(g[0].saving_ms, Some(501.0));
        assert_eq!((g[0].example_flow, g[0].flows.clone()), (13, vec![13, 14]));
        assert_eq!((g[1].endpoint.as_str(), g[1].connections), (srv, 13));
        assert_eq!(g[1].saving_ms, Some(91.0));
        assert_eq!(g[1].saving_packets, Some(26));
        assert_eq!(g[1].example_flow, 12, "the costliest flow is the example");
        assert!(
            g[1].estimated_saving
                .starts_with("91.0 ms and 26 packets in all over 13 connections"),
            "{}",
            g[1].estimated_saving
        );
    }

    #[test]
    fn advice_not_to_act_is_grouped_apart() {
        let srv = "10.0.0.2:22";
        let g = group(&[
            flow(
                1,
                vec![advice("defer_accept", Side::Server, srv, Some(1.0))],
            ),
            flow(
                2,
                vec![advice("defer_accept", Side::Server, srv, Some(2.0))],
            ),
            flow(
                3,
                vec![Advice {
                    saving_packets: None,
                    ..advice("defer_accept", Side::Server, srv, None)
                }],
            ),
        ]);
        let got: Vec<(u64, Option<u64>)> = g
            .iter()
            .map(|g| (g.connections, g.saving_packets))
            .collect();
        assert_eq!(got, vec![(2, Some(4)), (1, None)]);
    }

    #[test]
    fn a_single_connection_keeps_its_own_words_and_ipv6_clients_drop_the_port() {
        let g = group(&[flow(
            1,
            vec![advice("cork", Side::Client, "[2001:db8::1]:5000", None)],
        )]);
        assert_eq!(g[0].endpoint, "[2001:db8::1]");
        assert_eq!(g[0].estimated_saving, "None");
        assert_eq!(g[0].saving_ms, None);
    }
}

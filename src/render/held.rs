//! The flows charts and report pages are drawn from, held in memory within
//! a bound, while every flow streams on to the text, JSON or CSV writer.
//!
//! Charts go to the flows where Nagle or delayed ACK cost most, and the
//! report page's summary table lists the costliest flow directions (at most
//! 500 rows): neither needs every flow of an hour-long live capture or a
//! capture of a million connections. [`HeldFlows`] is a [`ReportSink`]
//! that keeps the [`HELD_FLOWS`] flows that weigh most in chart order
//! ([`charts::weightier`]), lets the others go (counting their directions
//! with data, which the page's table reports as not listed), and groups
//! every flow's advice as it passes. Without `--flow`, flows without data
//! are not held at all (they have no charts and no table row); with it,
//! every flow reaching the sink was selected and is held.
//!
//! Because the table's top 500 rows belong to flows of weight at least
//! theirs, holding the 1,000 weightiest flows keeps the table, the charted
//! flows and the advice exactly what holding every flow gives.
//!
//! What it does not do: draw charts or write pages ([`charts`],
//! [`super::html`]), or choose which flows a sink sees (the pipeline's
//! `--flow` selection).

use super::charts;
use super::sink::ReportSink;
use crate::advice::group::Grouper;
use crate::report::{CaptureSummary, Flow, Report};
use std::io;

/// Flows held for charts and report pages, at most.
pub const HELD_FLOWS: usize = 1_000;

/// A bounded [`ReportSink`] for charts and report pages; its report
/// ([`HeldFlows::into_report`]) has the held flows in id order.
#[derive(Debug)]
pub struct HeldFlows {
    flows: Vec<Flow>,
    cap: usize,
    /// Flows without data are held too (`--flow` chose them).
    selected: bool,
    directions_not_held: u64,
    advice: Grouper,
    captures: Vec<CaptureSummary>,
}

impl HeldFlows {
    /// Holds at most `cap` flows; `selected`: the flows reaching it were
    /// chosen by `--flow` (held with or without data).
    pub fn new(cap: usize, selected: bool) -> Self {
        HeldFlows {
            flows: Vec::new(),
            cap: cap.max(1),
            selected,
            directions_not_held: 0,
            advice: Grouper::new(),
            captures: Vec::new(),
        }
    }

    /// Take in `f` (copied when it may be held).
    pub fn offer(&mut self, f: &Flow) {
        self.advice.add(f);
        if !self.selected && !has_data(f) {
            return;
        }
        self.flows.push(f.clone());
        if self.flows.len() >= 2 * self.cap {
            self.trim();
        }
    }

    /// Keep the `cap` weightiest flows.
    fn trim(&mut self) {
        if self.flows.len() <= self.cap {
            return;
        }
        self.flows.sort_by(charts::weightier);
        for f in self.flows.drain(self.cap..) {
            self.directions_not_held += data_directions(&f);
        }
    }

    /// The report of the held flows, with every flow's advice groups.
    pub fn into_report(mut self) -> Report {
        self.trim();
        self.flows.sort_by_key(|f| f.id);
        let mut report = Report::new(self.captures, self.flows);
        report.advice_groups = self.advice.finish();
        report.directions_not_held = self.directions_not_held;
        report
    }
}

fn has_data(f: &Flow) -> bool {
    data_directions(f) > 0
}

fn data_directions(f: &Flow) -> u64 {
    f.directions.iter().filter(|d| d.data_segments > 0).count() as u64
}

impl ReportSink for HeldFlows {
    fn begin(&mut self, _inputs: &[String]) -> io::Result<()> {
        Ok(())
    }

    fn flow(&mut self, flow: Flow) -> io::Result<()> {
        self.offer(&flow);
        Ok(())
    }

    fn finish(&mut self, captures: &[CaptureSummary]) -> io::Result<()> {
        self.captures = captures.to_vec();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Advice, AdviceOption, Side};

    /// Flow `id` whose client → server direction carries `segments` data
    /// segments (none: no data) and stalled `stall_ms`, with one piece of
    /// advice to the server.
    fn flow(id: u64, segments: u64, stall_ms: f64) -> Flow {
        let mut f = crate::advice::blank_flow();
        f.id = id;
        let d = &mut f.directions[0];
        d.data_segments = segments;
        d.stalls.total_ms = stall_ms;
        d.small_segments = segments;
        f.advice.push(Advice {
            option: AdviceOption::TcpNodelay,
            side: Side::Server,
            address: f.server.clone(),
            action: "set it".into(),
            evidence: Vec::new(),
            estimated_saving: format!("{stall_ms} ms"),
            saving_ms: Some(stall_ms),
            saving_packets: None,
            saving_bytes: None,
            frames: Vec::new(),
            rule: "nagle_stalls",
        });
        f
    }

    /// 3,000 flows of scattered weights (ties included), a third without data.
    fn flows() -> Vec<Flow> {
        (0..3000)
            .map(|i| {
                let segments = if i % 3 == 0 { 0 } else { 1 + i % 7 };
                flow(i, segments, ((i * 7919) % 1013) as f64 / 4.0)
            })
            .collect()
    }

    fn held(flows: &[Flow], cap: usize, selected: bool) -> Report {
        let mut h = HeldFlows::new(cap, selected);
        for f in flows {
            h.flow(f.clone()).unwrap();
        }
        h.finish(&[]).unwrap();
        h.into_report()
    }

    #[test]
    fn holds_the_weightiest_flows_with_data_and_counts_the_rest() {
        let all = flows();
        let r = held(&all, HELD_FLOWS, false);
        assert_eq!(r.flows.len(), HELD_FLOWS);
        assert!(r.flows.windows(2).all(|w| w[0].id < w[1].id));
        assert!(r.flows.iter().all(has_data));
        let mut with_data: Vec<&Flow> = all.iter().filter(|f| has_data(f)).collect();
        with_data.sort_by(|a, b| charts::weightier(a, b));
        let lightest_held = r
            .flows
            .iter()
            .min_by(|a, b| charts::weightier(b, a))
            .unwrap();
        assert_eq!(lightest_held.id, with_data[HELD_FLOWS - 1].id);
        assert_eq!(r.directions_not_held, (with_data.len() - HELD_FLOWS) as u64);
        // Advice of every flow, held or not: one group, 3,000 connections.
        assert_eq!(r.advice_groups.len(), 1);
        assert_eq!(r.advice_groups[0].connections, 3000);
    }

    #[test]
    fn the_page_and_the_charted_flows_are_those_of_the_whole_report() {
        let all = flows();
        let whole = Report::new(Vec::new(), all.clone());
        let r = held(&all, HELD_FLOWS, false);
        let pick = |r: &Report| -> Vec<u64> {
            charts::select_flows(r, &[], charts::DEFAULT_MAX_FLOWS)
                .unwrap()
                .iter()
                .map(|f| f.id)
                .collect()
        };
        assert_eq!(pick(&r), pick(&whole));
        let page = |r: &Report| {
            let flows = charts::select_flows(r, &[], 0).unwrap();
            super::super::html::html(r, &flows).unwrap()
        };
        assert!(page(&whole).contains("more flow directions are not listed"));
        assert_eq!(page(&r), page(&whole));
    }

    #[test]
    fn selected_flows_are_held_with_or_without_data() {
        let few: Vec<Flow> = (0..10).map(|i| flow(i, i % 2, 1.0)).collect();
        assert_eq!(held(&few, HELD_FLOWS, true).flows.len(), 10);
        assert_eq!(held(&few, HELD_FLOWS, false).flows.len(), 5);
        let r = held(&few, 3, true);
        assert_eq!(r.flows.len(), 3);
        assert!(
            r.flows.iter().all(has_data),
            "the weightiest are held first"
        );
    }
}

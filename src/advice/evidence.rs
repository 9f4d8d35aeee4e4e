//! What a rule reads and what it returns.
//!
//! [`Evidence`] bundles the three sources a rule may read: the tracker's
//! [`FlowSummary`] (SYNs, zero-window episodes), the advice's own
//! [`Collector`] and the typed findings of the finished [`report::Flow`]
//! (verdicts, stalls, RTT, vantage). Directions are [`Dir`]s: the sender of
//! client→server data is the client, the sender of server→client data the
//! server, so a rule names the side it advises without comparing
//! addresses. A rule returns a [`Draft`]: the side, the words and the
//! figures; the rule table adds the option and the side's address.
//!
//! What it does not do: decide anything, or read report strings other than
//! to quote them in the advice's sentences.

use super::collect::{Collector, DirCollect};
use crate::flow::{Dir, DirStats, FlowSummary, C2S};
use crate::report::{self, Side, Vantage};

/// The side that sends `d`'s data.
pub(super) fn sender(d: Dir) -> Side {
    if d == C2S {
        Side::Client
    } else {
        Side::Server
    }
}

/// The side that receives `d`'s data (and advertises its window).
pub(super) fn receiver(d: Dir) -> Side {
    sender(d.reverse())
}

/// Everything a rule may read about one finished flow.
pub(super) struct Evidence<'a> {
    pub summary: &'a FlowSummary,
    pub collected: &'a Collector,
    pub flow: &'a report::Flow,
}

impl<'a> Evidence<'a> {
    /// The report's findings for direction `d`, when the flow has them.
    pub fn direction(&self, d: Dir) -> Option<&'a report::Direction> {
        self.flow.directions.get(d.index())
    }

    /// The collector's counts for direction `d`.
    pub fn collect(&self, d: Dir) -> &'a DirCollect {
        &self.collected.dirs[d]
    }

    /// The tracker's counters for direction `d`.
    pub fn stats(&self, d: Dir) -> &'a DirStats {
        &self.summary.dirs[d]
    }

    /// The path RTT in ms, when known.
    pub fn rtt_ms(&self) -> Option<f64> {
        self.flow.rtt_ms.min
    }

    /// The `ip:port` of `side`.
    pub fn address(&self, side: Side) -> &'a str {
        match side {
            Side::Client => &self.flow.client,
            Side::Server => &self.flow.server,
        }
    }

    /// Where the capture was taken, in words (for evidence sentences).
    pub fn seen(&self) -> &'static str {
        match self.flow.vantage {
            Vantage::Client => "captured at the client",
            Vantage::Server => "captured at the server",
            Vantage::Middle => "captured between the hosts",
            Vantage::Unknown => "capture point unknown",
            Vantage::Local => "captured on the host of both ends",
        }
    }

    /// The evidence sentence naming the capture point.
    pub fn seen_sentence(&self) -> String {
        format!("{} ({})", self.seen(), self.flow.vantage)
    }
}

/// A rule's advice before the table adds the option and the address.
#[derive(Debug, Clone)]
pub(super) struct Draft {
    pub side: Side,
    /// What to do, in words.
    pub action: String,
    /// Sentences with counts and times.
    pub evidence: Vec<String>,
    /// What it would save, in words.
    pub saving: String,
    pub saving_ms: Option<f64>,
    pub saving_packets: Option<u64>,
    pub saving_bytes: Option<u64>,
    /// Frames (1-based, as Wireshark) of the first packets the evidence
    /// rests on.
    pub frames: Vec<u64>,
}

/// Frames an advice quotes, at most.
pub(super) const ADVICE_FRAMES: usize = 5;

impl Draft {
    pub fn new(side: Side, action: String, evidence: Vec<String>, saving: String) -> Draft {
        Draft {
            side,
            action,
            evidence,
            saving,
            saving_ms: None,
            saving_packets: None,
            saving_bytes: None,
            frames: Vec::new(),
        }
    }

    /// The first [`ADVICE_FRAMES`] of `frames` (zeros, unknown, dropped).
    pub fn frames(mut self, frames: impl IntoIterator<Item = u64>) -> Draft {
        self.frames = frames
            .into_iter()
            .filter(|&f| f > 0)
            .take(ADVICE_FRAMES)
            .collect();
        self
    }

    pub fn ms(mut self, ms: Option<f64>) -> Draft {
        self.saving_ms = ms;
        self
    }

    pub fn packets(mut self, packets: u64) -> Draft {
        self.saving_packets = Some(packets);
        self
    }

    pub fn bytes(mut self, bytes: u64) -> Draft {
        self.saving_bytes = Some(bytes);
        self
    }
}

/// Seconds, one decimal below 100 s.
pub(super) fn secs_text(ns: i64) -> String {
    let s = ns as f64 / 1e9;
    if s >= 100.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// Bytes, KiB or MiB.
pub(super) fn bytes_text(b: f64) -> String {
    if b >= 1048576.0 {
        format!("{:.1} MiB", b / 1048576.0)
    } else if b >= 1024.0 {
        format!("{:.0} KiB", b / 1024.0)
    } else {
        format!("{b:.0} bytes")
    }
}

/// Mean header bytes per frame of a direction (wire bytes less payload).
pub(super) fn header_per_frame(d: &report::Direction) -> f64 {
    if d.frames > 0 {
        d.wire_bytes.saturating_sub(d.all_payload_bytes) as f64 / d.frames as f64
    } else {
        0.0
    }
}

//! Stage: the one-sentence summary of a direction (the text report's first
//! line per direction): endpoints, verdict, writes per segment, pacing
//! against the RTT, write waits from a log, stall cost, the TCP_NODELAY
//! remark on an `on`, and where the capture saw it from. It only formats
//! findings made by the other stages.

use crate::flow::{Dir, C2S, S2C};
use crate::report::{self, ms, Vantage, Verdict};

/// What the summary sentence says.
pub(super) struct SummaryInput<'a> {
    /// Where the capture saw this direction from, when known.
    pub seen_at: Option<&'a str>,
    pub from: &'a str,
    pub to: &'a str,
    pub verdict: Verdict,
    pub writes_per_segment: Option<&'a report::WritesPerSegment>,
    /// The boundaries are protocol messages, not writes.
    pub messages: bool,
    pub rtt_ratio: Option<f64>,
    /// Path RTT (ms).
    pub rtt: Option<f64>,
    pub write_delay: Option<&'a report::WriteDelay>,
    pub stalls: u64,
    /// Total stall time (ns).
    pub stall_ns: i64,
    pub data_segments: u64,
}

/// Where the capture point sits relative to direction `d`'s sender.
pub(super) fn seen_at(vantage: Vantage, d: Dir) -> Option<&'static str> {
    match (vantage, d) {
        (Vantage::Client, C2S) | (Vantage::Server, S2C) => Some("seen at the sender"),
        (Vantage::Client, _) | (Vantage::Server, _) => {
            Some("seen at the receiver: send timings include the path")
        }
        (Vantage::Middle, _) => Some("seen between the hosts"),
        _ => None,
    }
}

pub(super) fn direction_summary(i: &SummaryInput) -> String {
    let mut s = format!("{} → {}: ", i.from, i.to);
    if i.data_segments == 0 {
        s.push_str("no data");
        return s;
    }
    s.push_str(match i.verdict {
        Verdict::On => "Nagle ON",
        Verdict::Off => "Nagle OFF",
        Verdict::Inconclusive => "Nagle inconclusive",
    });
    if let Some(m) = i.writes_per_segment.and_then(|w| w.mean) {
        let what = if i.messages { "messages" } else { "writes" };
        s.push_str(&format!(", {m:.1} {what} per segment on average"));
    }
    if let (Some(x), Some(r)) = (i.rtt_ratio, i.rtt) {
        let digits = if r < 1.0 { 3 } else { 1 };
        s.push_str(&format!(", sends paced at {x:.2} × RTT ({r:.digits$} ms)"));
    }
    if let Some(d) = i.write_delay {
        if let (Some(mean), n) = (d.mean, d.per_write.len()) {
            s.push_str(&format!("; {n} writes waited {mean:.1} ms on average"));
        }
    }
    if i.stalls > 0 {
        s.push_str(&format!(
            "; {} Nagle/delayed-ACK stall(s) cost {:.0} ms",
            i.stalls,
            ms(i.stall_ns)
        ));
    }
    if i.verdict == Verdict::On {
        s.push_str("; setting TCP_NODELAY would remove that wait");
    }
    if let Some(v) = i.seen_at {
        s.push_str(&format!(" ({v})"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SummaryInput<'static> {
        SummaryInput {
            seen_at: Some("seen at the sender"),
            from: "10.0.0.1:5000",
            to: "10.0.0.2:80",
            verdict: Verdict::On,
            writes_per_segment: None,
            messages: false,
            rtt_ratio: Some(1.0),
            rtt: Some(0.25),
            write_delay: None,
            stalls: 2,
            stall_ns: 80_000_000,
            data_segments: 10,
        }
    }

    #[test]
    fn summary_sentence() {
        assert_eq!(
            direction_summary(&input()),
            "10.0.0.1:5000 → 10.0.0.2:80: Nagle ON, sends paced at 1.00 × RTT (0.250 ms); 2 Nagle/delayed-ACK stall(s) cost 80 ms; setting TCP_NODELAY would remove that wait (seen at the sender)"
        );
        let idle = SummaryInput { data_segments: 0, ..input() };
        assert_eq!(direction_summary(&idle), "10.0.0.1:5000 → 10.0.0.2:80: no data");
    }

    #[test]
    fn seen_at_from_vantage() {
        assert_eq!(seen_at(Vantage::Client, C2S), Some("seen at the sender"));
        assert_eq!(seen_at(Vantage::Server, S2C), Some("seen at the sender"));
        assert!(seen_at(Vantage::Server, C2S).unwrap().starts_with("seen at the receiver"));
        assert_eq!(seen_at(Vantage::Unknown, C2S), None);
    }
}

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
    pub seen_at: Option<String>,
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

/// Where the capture point sits relative to direction `d`'s sender, and
/// the frame its timings are given in (`near_ms`: capture → sender →
/// capture).
pub(super) fn seen_at(vantage: Vantage, d: Dir, near_ms: f64) -> Option<String> {
    let moved = |place: &str| {
        format!("{place}: timings moved into the sender's frame, {near_ms:.1} ms from the capture point and back")
    };
    match (vantage, d) {
        (Vantage::Client, C2S) | (Vantage::Server, S2C) => Some("seen at the sender".to_string()),
        (Vantage::Client, _) | (Vantage::Server, _) => Some(moved("seen at the receiver")),
        (Vantage::Middle, _) => Some(moved("seen between the hosts")),
        (Vantage::Local, _) => Some("both ends on the capturing host".to_string()),
        (Vantage::Unknown, _) => None,
    }
}

/// Writes per segment in words: "N writes per segment on average", or
/// "each write spans N segments" when writes are larger than a segment.
fn per_segment_words(mean: f64, messages: bool) -> String {
    let (what, one) = if messages {
        ("messages", "message")
    } else {
        ("writes", "write")
    };
    if mean > 0.0 && mean < 0.95 {
        format!(", each {one} spans {:.1} segments on average", 1.0 / mean)
    } else {
        format!(", {mean:.1} {what} per segment on average")
    }
}

/// Pacing in words: bound to the RTT at 0.7–1.5 × RTT, else how far apart.
fn pacing_words(ratio: f64, rtt: f64) -> String {
    let digits = if rtt < 1.0 { 3 } else { 1 };
    if (0.7..=1.5).contains(&ratio) {
        format!(", sends paced at the RTT ({ratio:.2} × {rtt:.digits$} ms)")
    } else {
        let apart = ratio * rtt;
        let d2 = if apart < 1.0 { 3 } else { 1 };
        format!(", sends {apart:.d2$} ms apart on median ({ratio:.2} × the {rtt:.digits$} ms RTT)")
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
        s.push_str(&per_segment_words(m, i.messages));
    }
    if let (Some(x), Some(r)) = (i.rtt_ratio, i.rtt) {
        s.push_str(&pacing_words(x, r));
    }
    if let Some(d) = i.write_delay {
        if let (Some(mean), n) = (d.mean, d.per_write.len()) {
            s.push_str(&format!("; {n} writes waited {mean:.1} ms on average"));
        }
    }
    if i.stalls > 0 {
        s.push_str(&format!(
            "; {} Nagle/delayed-ACK stall(s) cost {:.0} ms of latency",
            i.stalls,
            ms(i.stall_ns)
        ));
    }
    let waited = i.stalls > 0 || i.write_delay.and_then(|d| d.mean).is_some_and(|m| m >= 1.0);
    if i.verdict == Verdict::On && waited {
        s.push_str("; setting TCP_NODELAY would remove that wait");
    }
    if let Some(v) = &i.seen_at {
        s.push_str(&format!(" ({v})"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SummaryInput<'static> {
        SummaryInput {
            seen_at: Some("seen at the sender".to_string()),
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
            "10.0.0.1:5000 → 10.0.0.2:80: Nagle ON, sends paced at the RTT (1.00 × 0.250 ms); 2 Nagle/delayed-ACK stall(s) cost 80 ms of latency; setting TCP_NODELAY would remove that wait (seen at the sender)"
        );
        let idle = SummaryInput {
            data_segments: 0,
            ..input()
        };
        assert_eq!(
            direction_summary(&idle),
            "10.0.0.1:5000 → 10.0.0.2:80: no data"
        );
        // No wait measured: no TCP_NODELAY remark.
        let quiet = SummaryInput {
            stalls: 0,
            ..input()
        };
        assert!(!direction_summary(&quiet).contains("TCP_NODELAY"));
    }

    #[test]
    fn words_for_big_writes_and_slow_sends() {
        assert_eq!(
            per_segment_words(0.02, false),
            ", each write spans 50.0 segments on average"
        );
        assert_eq!(
            per_segment_words(4.0, false),
            ", 4.0 writes per segment on average"
        );
        assert_eq!(
            per_segment_words(3.0, true),
            ", 3.0 messages per segment on average"
        );
        assert_eq!(
            pacing_words(1237.69, 40.0),
            ", sends 49507.6 ms apart on median (1237.69 × the 40.0 ms RTT)"
        );
    }

    #[test]
    fn seen_at_from_vantage() {
        assert_eq!(
            seen_at(Vantage::Client, C2S, 0.0).as_deref(),
            Some("seen at the sender")
        );
        assert_eq!(
            seen_at(Vantage::Server, S2C, 0.0).as_deref(),
            Some("seen at the sender")
        );
        let rcv = seen_at(Vantage::Server, C2S, 40.2).unwrap();
        assert!(
            rcv.starts_with("seen at the receiver") && rcv.contains("40.2 ms"),
            "{rcv}"
        );
        assert_eq!(
            seen_at(Vantage::Local, C2S, 0.0).as_deref(),
            Some("both ends on the capturing host")
        );
        assert_eq!(seen_at(Vantage::Unknown, C2S, 0.0), None);
    }
}

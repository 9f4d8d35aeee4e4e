//! Stage: the flow's notes, where the capture cannot tell everything: no
//! handshake, where the capture was taken, a middlebox answering for the far
//! end (handshake over 1 ms and over 10 × the path RTT), TSO/GRO-merged
//! segments, snaplen-cut frames, capture gaps, and unacknowledged segments
//! forgotten at the outstanding-data limit. The per-direction framing notes come from
//! the framing stage and go between the first note and these.

use super::path::PathTiming;
use crate::flow::FlowSummary;
use crate::report::{ms, Vantage};

/// The note that opens the list: no handshake seen.
pub(super) fn handshake_note(f: &FlowSummary) -> Option<String> {
    (!f.handshake_seen).then(|| {
        "no handshake seen: client is the first sender, MSS and window scale may be unknown"
            .to_string()
    })
}

/// The notes about the capture point and the capture itself, in order.
pub(super) fn capture_notes(f: &FlowSummary, timing: &PathTiming) -> Vec<String> {
    let mut notes: Vec<String> = Vec::new();
    notes.extend(vantage_note(timing.vantage).map(str::to_string));
    notes.extend(middlebox_note(
        f.handshake.split().map(|(a, b)| a + b),
        timing.rtt,
    ));
    if f.dirs.iter().any(|d| d.oversize_segments > 0) {
        notes.push("segments larger than the MSS: TSO/GSO or GRO merged segments at the capture point, so segment counts are lower than on the wire".into());
    }
    if f.dirs.iter().any(|d| d.truncated_frames > 0) {
        notes.push("some frames were cut by the snaplen: lengths come from the IP header".into());
    }
    notes.extend(capture_gap_note(f));
    let forgotten: u64 = f.dirs.iter().map(|d| d.outstanding_overflow).sum();
    if forgotten > 0 {
        notes.push(format!(
            "{forgotten} unacknowledged segments were forgotten (outstanding-data limit, --max-outstanding): no RTT samples from them"
        ));
    }
    notes
}

/// Sequence ranges acknowledged but never captured, and the figures that
/// rest on them.
fn capture_gap_note(f: &FlowSummary) -> Option<String> {
    let gaps: u64 = f.dirs.iter().map(|d| u64::from(d.capture_gaps.count)).sum();
    let (ranges, were, them) = if gaps == 1 {
        ("range", "was", "it")
    } else {
        ("ranges", "were", "them")
    };
    (gaps > 0).then(|| format!(
        "{gaps} sequence {ranges} {were} acknowledged but never captured (capture loss): writes per segment, segment counts and RTT samples around {them} are incomplete"
    ))
}

fn vantage_note(v: Vantage) -> Option<&'static str> {
    match v {
        Vantage::Server => Some(
            "captured at the server: client→server timings are seen after the path, at the receiver, and are moved into the client's frame (sender_frame) before Nagle's rules are applied",
        ),
        Vantage::Middle => Some(
            "captured between the hosts: each side's timing is seen part-way, and is moved into its sender's frame (sender_frame) before Nagle's rules are applied",
        ),
        Vantage::Local => Some("both ends are on the capturing host: every timing is the sender's own"),
        _ => None,
    }
}

/// A handshake much slower than the data's ACKs: something near the
/// capture point answers for the far end.
fn middlebox_note(handshake: Option<i64>, rtt: Option<i64>) -> Option<String> {
    let (h, r) = (handshake?, rtt?);
    (h > 1_000_000 && h > 10 * r).then(|| format!(
        "the handshake took {:.1} ms but data is acknowledged within {:.3} ms: a middlebox (NAT, proxy) near the capture point is probably answering for the far end",
        ms(h),
        ms(r)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn middlebox_when_handshake_dwarfs_the_rtt() {
        assert!(middlebox_note(Some(30_000_000), Some(1_000_000)).is_some());
        assert!(middlebox_note(Some(30_000_000), Some(3_000_000)).is_none());
        // Below 1 ms a handshake proves nothing.
        assert!(middlebox_note(Some(900_000), Some(1_000)).is_none());
        assert!(middlebox_note(None, Some(1)).is_none());
    }

    #[test]
    fn vantage_notes_only_off_the_client() {
        assert!(vantage_note(Vantage::Client).is_none());
        assert!(vantage_note(Vantage::Unknown).is_none());
        assert!(vantage_note(Vantage::Server)
            .unwrap()
            .starts_with("captured at the server"));
        assert!(vantage_note(Vantage::Middle).is_some());
    }
}

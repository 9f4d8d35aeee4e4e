//! Stage: Minshall's rule and the ACK releases, judged in the sender's frame.
//!
//! Linux's Nagle (Minshall's variant, RFC 896 as refined in Minshall's
//! draft and `tcp_nagle_check`) holds a sub-MSS segment only while an
//! earlier sub-MSS segment is unacknowledged, and only at the tail of the
//! send queue (`tcp_write_xmit` passes `TCP_NAGLE_PUSH` for every other
//! segment). Both questions — "was the previous small segment still
//! unacknowledged when this one left?" and "did this one leave right after
//! that ACK arrived?" — are about the *sender's* clock. At the capture point
//! a data segment seen at `t` left the sender at `t − near/2`, and an ACK
//! seen at `t` reached it at `t + near/2` (`near`: capture → sender →
//! capture, [`SenderFrame`]). So with `gap` = this segment's time less the
//! previous small segment's ACK time, both at the capture point, the gap in
//! the sender's frame is `gap − near`:
//!
//! - below `−margin` (or the ACK not yet seen at the capture point): sent
//!   while the previous small segment was unacknowledged — a violation of
//!   Minshall's rule, proof that Nagle was off, unless loss recovery, a FIN,
//!   a probe after 200 ms of silence or reordering explains it, or the
//!   segment was not the tail of the queue (a full-sized segment followed
//!   it at once with no ACK between);
//! - otherwise a release candidate (the `releases` stage decides which left
//!   right after the ACK).
//!
//! At the sender `near` is 0 and nothing changes; at the receiver, where
//! every ACK leaves right after the data it acknowledges, the shift by one
//! RTT is what keeps a TCP_NODELAY sender from looking ACK-clocked.
//! The margin is 0 at the sender and max(0.1 ms, near/10) elsewhere.

use super::observe::SmallSend;
use super::path::SenderFrame;
use super::releases::{Release, EVIDENCE_FRAMES};
use crate::TsNs;

/// A segment followed at once by a full one (within this, or 1/20 of the
/// RTT) was mid-queue.
const MID_QUEUE_GAP: i64 = 1_000_000;

/// What Minshall's rule found in one direction.
#[derive(Debug, Clone, Default)]
pub(super) struct Minshall {
    /// Small segments sent while an earlier one was unacknowledged at the
    /// sender, at the tail of the queue, outside recovery: Nagle was off.
    pub violations: u64,
    /// Frames of the first of them (at most `EVIDENCE_FRAMES`).
    pub violation_frames: Vec<u64>,
    /// The same, explained by recovery, a FIN, a probe or reordering.
    pub violations_recovery: u64,
    /// Overlaps of a segment that was not the tail of the send queue.
    pub mid_queue: u64,
    /// Every other small segment, its gap in the sender's frame.
    pub candidates: Vec<Release>,
}

/// Judge the recorded small segments in the sender's `frame`.
pub(super) fn minshall(smalls: &[SmallSend], frame: &SenderFrame, rtt: Option<i64>) -> Minshall {
    let mut m = Minshall::default();
    let mid_gap = MID_QUEUE_GAP.max(rtt.unwrap_or(0) / 20);
    for s in smalls {
        let gap = s.since_ack.map(|g| g - frame.near);
        if gap.is_some_and(|g| g >= -frame.margin()) {
            m.candidates.push(release(s, gap.unwrap_or(0), frame));
        } else if s.exempt {
            m.violations_recovery += 1;
        } else if s.next_full.is_some_and(|g| g <= mid_gap) {
            m.mid_queue += 1;
        } else {
            m.violations += 1;
            if m.violation_frames.len() < EVIDENCE_FRAMES {
                m.violation_frames.push(s.frame);
            }
        }
    }
    m
}

/// A release candidate: `gap` in the sender's frame; its writes "held" when
/// the first was called longer before the ACK reached the sender than
/// [`held_lead`].
fn release(s: &SmallSend, gap: i64, frame: &SenderFrame) -> Release {
    let ack_at_sender: Option<TsNs> = s.since_ack.map(|g| s.ts - g + frame.half());
    let lead = held_lead(frame);
    Release {
        ts: s.ts,
        frame: s.frame,
        gap,
        raw_gap: s.since_ack.unwrap_or(0),
        ack_wait: s.ack_wait,
        writes: s.writes,
        len: s.len,
        pure_ack: s.pure_ack,
        held: s.first_call.zip(ack_at_sender).map(|(c, a)| a - c > lead),
        first_call: s.first_call,
    }
}

/// How long before the releasing ACK a write must have been called to
/// count as held: more than the frame can misplace a departure (the release
/// tolerance, or the early margin when wider). A TCP_NODELAY write leaves
/// within microseconds of its call, so a candidate (which left no earlier
/// than the margin before the ACK) whose write came that early waited for
/// the ACK; one whose write came just before the ACK did not wait: the ACK
/// arrived while the send call ran (the kernel processes it when the call
/// releases the socket, after the segment left), or the frame put the
/// departure on the wrong side of the ACK. Either of those alone once gave
/// a TCP_NODELAY sender a "held" write, which is enough for `on`.
pub(super) fn held_lead(frame: &SenderFrame) -> i64 {
    super::releases::tolerance(frame).max(frame.margin())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::FrameSource;

    fn small(since_ack: Option<i64>) -> SmallSend {
        SmallSend {
            ts: 1_000_000_000,
            frame: 7,
            since_ack,
            exempt: false,
            ack_wait: Some(40_000_000),
            writes: Some(1),
            len: 4,
            pure_ack: true,
            first_call: None,
            next_full: None,
        }
    }

    fn at(near: i64) -> SenderFrame {
        SenderFrame {
            near,
            jitter: None,
            source: FrameSource::Handshake,
        }
    }

    #[test]
    fn at_the_sender_the_capture_is_the_frame() {
        let m = minshall(
            &[small(None), small(Some(10_000))],
            &at(0),
            Some(40_000_000),
        );
        assert_eq!(m.violations, 1);
        assert_eq!(m.candidates.len(), 1);
        assert_eq!(m.candidates[0].gap, 10_000);
    }

    #[test]
    fn at_the_receiver_one_rtt_is_taken_off() {
        // 200 ms path, captured at the receiver. A Nagle sender's segment
        // arrives one RTT after the ACK of the previous one left: a release.
        // A TCP_NODELAY sender's, 10 ms after: sent while unacknowledged.
        let frame = at(200_000_000);
        let m = minshall(
            &[small(Some(200_300_000)), small(Some(10_000_000))],
            &frame,
            Some(200_000_000),
        );
        assert_eq!(m.violations, 1);
        assert_eq!(m.candidates.len(), 1);
        assert_eq!(m.candidates[0].gap, 300_000);
        // Within the margin (near/10) either side is still a release.
        assert_eq!(
            minshall(&[small(Some(185_000_000))], &frame, None)
                .candidates
                .len(),
            1
        );
    }

    #[test]
    fn exemptions_and_the_queue_tail() {
        let exempt = SmallSend {
            exempt: true,
            ..small(None)
        };
        let mid = SmallSend {
            next_full: Some(50_000),
            ..small(None)
        };
        let tail = SmallSend {
            next_full: Some(30_000_000),
            ..small(None)
        };
        let m = minshall(&[exempt, mid, tail], &at(0), Some(40_000_000));
        assert_eq!(
            (m.violations, m.violations_recovery, m.mid_queue),
            (1, 1, 1)
        );
    }

    #[test]
    fn held_writes_in_the_senders_frame() {
        // Receiver side, near 40 ms: the ACK left the capture point 40.1 ms
        // before the segment, so it reached the sender 20 ms later, at
        // ts − 20.1 ms. A write called 25 ms before ts was held; one called
        // 15 ms before was not.
        let frame = at(40_000_000);
        let ts = 1_000_000_000;
        let w = |call: i64| SmallSend {
            first_call: Some(ts - call),
            ..small(Some(40_100_000))
        };
        let m = minshall(&[w(25_000_000), w(15_000_000)], &frame, Some(40_000_000));
        assert_eq!(m.candidates[0].held, Some(true));
        assert_eq!(m.candidates[1].held, Some(false));
    }

    #[test]
    fn a_write_called_just_before_the_ack_was_not_held() {
        // At the sender: the ACK seen 20 µs before the segment. A write
        // called 30 µs before the segment (the ACK came in while the send
        // call ran, TCP_NODELAY) did not wait; one called 5 ms before did.
        let ts = 1_000_000_000;
        let w = |call: i64| SmallSend {
            first_call: Some(ts - call),
            ..small(Some(20_000))
        };
        let m = minshall(&[w(30_000), w(5_000_000)], &at(0), Some(40_000_000));
        assert_eq!(m.candidates[0].held, Some(false));
        assert_eq!(m.candidates[1].held, Some(true));
        // At the receiver of a 40 ms path: a TCP_NODELAY segment that left
        // 3 ms before the ACK reached the sender (in the frame; within the
        // 4 ms margin, so a candidate) had its write called 10 µs before
        // it left: not held. Called 6 ms before the ACK: held.
        let frame = at(40_000_000);
        let w = |call_before_ack: i64| SmallSend {
            first_call: Some(ts - 20_000_000 + 3_000_000 - call_before_ack),
            ..small(Some(40_000_000 - 3_000_000))
        };
        let m = minshall(&[w(3_010_000), w(6_000_000)], &frame, Some(40_000_000));
        assert_eq!(m.candidates.len(), 2, "{m:?}");
        assert_eq!(m.candidates[0].held, Some(false));
        assert_eq!(m.candidates[1].held, Some(true));
    }
}

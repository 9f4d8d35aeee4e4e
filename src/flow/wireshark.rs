//! Wireshark's sequence analysis, per direction: which frames tshark flags
//! `tcp.analysis.retransmission`, `fast_retransmission`,
//! `spurious_retransmission` and `out_of_order`, with Wireshark 4.0's rules
//! (`tcp_analyze_sequence_number` in `packet-tcp.c`), so that the counts in
//! the report are the ones a user sees in Wireshark.
//!
//! It works on raw 32-bit sequence numbers, as Wireshark does (0 means
//! "not seen yet", as there), and keeps only what those rules read: the
//! highest sequence number sent and when, the last ACK sent and when, the
//! last window and the duplicate-ACK count. It does not decide anything the
//! analysis uses: the tracker's own [`super::SegmentKind`] (new data or
//! bytes seen before) stays what the Nagle analysis counts on; this is only
//! the label Wireshark would put on the frame.
//!
//! The rules, in the order Wireshark applies them to a segment carrying
//! data, SYN or FIN that is not a keep-alive:
//! - *spurious retransmission*: it carries data the peer's last ACK
//!   already acknowledged;
//! - *fast retransmission*: it starts below the highest sequence number
//!   sent, the peer sent ≥ 2 duplicate ACKs, its last ACK asked for exactly
//!   this sequence number, and that ACK came less than 20 ms ago;
//! - *out-of-order*: it starts below the highest sequence number sent, does
//!   not end exactly there (counting a SYN or FIN), and arrives less than
//!   the out-of-order threshold (the handshake RTT, else 3 ms) after the
//!   highest one was sent;
//! - *retransmission*: any other segment starting below the highest
//!   sequence number sent.
//!
//! A data segment at exactly one below the highest sequence number is not
//! below it (a zero-window probe went first), and a 1-byte segment at the
//! highest sequence number while the peer's window is 0 is a zero-window
//! probe, which does not move the highest sequence number.

use crate::decode::{flags, Segment};
use crate::TsNs;

/// A fast retransmission must follow the peer's duplicate ACK within this.
const FAST_RETRANSMISSION_NS: i64 = 20_000_000;

/// The label Wireshark puts on a segment that does not advance the
/// sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsClass {
    /// `tcp.analysis.retransmission` alone.
    Retransmission,
    /// `tcp.analysis.fast_retransmission` (tshark also flags it a
    /// retransmission).
    FastRetransmission,
    /// `tcp.analysis.spurious_retransmission` (also a retransmission).
    SpuriousRetransmission,
    /// `tcp.analysis.out_of_order`.
    OutOfOrder,
}

/// Wireshark's per-direction sequence state (`tcp_analyze_seq_flow_info_t`
/// and the window), for the frames this side sends.
#[derive(Debug, Default, Clone, Copy)]
pub struct WsSeq {
    /// Highest sequence number sent + 1 (SYN and FIN count), 0 before any.
    nextseq: u32,
    nextseq_ts: TsNs,
    /// Acknowledgement field of this side's last frame, and its time.
    lastack: u32,
    lastack_ts: TsNs,
    /// Window field of this side's last frame.
    window: u16,
    /// Duplicate ACKs this side sent in a row.
    dupacks: u32,
}

#[inline]
fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl WsSeq {
    /// Analyze a frame of this side (`self`); `peer` is the other side's
    /// state. Returns the label of a segment that does not advance the
    /// sequence, and updates this side's state as Wireshark does.
    pub fn frame(&mut self, peer: &WsSeq, seg: &Segment, ooo_threshold_ns: i64) -> Option<WsClass> {
        let len = seg.payload_len;
        let syn_fin = seg.flags & (flags::SYN | flags::FIN) != 0;
        let ctl = seg.flags & (flags::SYN | flags::FIN | flags::RST) != 0;
        let zero_window_probe = len == 1 && seg.seq == self.nextseq && peer.window == 0;
        let keepalive =
            !zero_window_probe && len <= 1 && seg.seq == self.nextseq.wrapping_sub(1) && !ctl;
        if !zero_window_probe && self.is_dupack(seg, ctl) {
            self.dupacks += 1;
        }
        if seg.ack != self.lastack {
            self.dupacks = 0;
        }
        let class = if (len > 0 || syn_fin) && !keepalive {
            self.classify(peer, seg, syn_fin, ooo_threshold_ns)
        } else {
            None
        };
        let mut next = seg.seq.wrapping_add(len);
        if syn_fin {
            next = next.wrapping_add(1);
        }
        if (lt(self.nextseq, next) || self.nextseq == 0) && !zero_window_probe {
            self.nextseq = next;
            self.nextseq_ts = seg.ts_ns;
        }
        self.window = seg.window;
        self.lastack = seg.ack;
        self.lastack_ts = seg.ts_ns;
        class
    }

    /// A pure ACK repeating this side's last ACK, window and sequence.
    fn is_dupack(&self, seg: &Segment, ctl: bool) -> bool {
        seg.payload_len == 0
            && seg.window != 0
            && seg.window == self.window
            && seg.seq == self.nextseq
            && seg.ack == self.lastack
            && !ctl
    }

    /// Spurious, fast, out-of-order or plain retransmission
    /// (see the module doc), or None for a segment that advances.
    fn classify(&self, peer: &WsSeq, seg: &Segment, syn_fin: bool, ooo_ns: i64) -> Option<WsClass> {
        let (seq, len) = (seg.seq, seg.payload_len);
        let mut not_advanced = self.nextseq != 0 && lt(seq, self.nextseq);
        if len > 1 && self.nextseq.wrapping_sub(1) == seq {
            not_advanced = false;
        }
        let end = seq.wrapping_add(len);
        if len > 0 && peer.lastack != 0 && !lt(peer.lastack, end) {
            return Some(WsClass::SpuriousRetransmission);
        }
        // Wireshark takes these differences unsigned: a frame stamped
        // before the reference is never "within" it.
        let within = |t0: TsNs, limit: i64| (0..limit).contains(&seg.ts_ns.saturating_sub(t0));
        if not_advanced
            && peer.dupacks >= 2
            && peer.lastack == seq
            && within(peer.lastack_ts, FAST_RETRANSMISSION_NS)
        {
            return Some(WsClass::FastRetransmission);
        }
        if not_advanced
            && within(self.nextseq_ts, ooo_ns)
            && self.nextseq != seq.wrapping_add(len).wrapping_add(u32::from(syn_fin))
        {
            return Some(WsClass::OutOfOrder);
        }
        not_advanced.then_some(WsClass::Retransmission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(ts_ms: i64, seq: u32, ack: u32, fl: u8, len: u32) -> Segment<'static> {
        crate::flow::test_segment(
            "10.0.0.1:1",
            "10.0.0.2:2",
            ts_ms * 1_000_000,
            seq,
            ack,
            fl,
            len,
        )
    }

    const A: u8 = flags::ACK;
    const THR: i64 = 3_000_000;

    /// Sender sends 100..400 in three segments; the receiver ACKs 200
    /// three times (two duplicates); `resend` is then sent at `at_ms`.
    fn after_dupacks(resend: (u32, u32), at_ms: i64) -> Option<WsClass> {
        let (mut tx, mut rx) = (WsSeq::default(), WsSeq::default());
        for (t, s) in [(0, 100), (1, 200), (2, 300)] {
            assert_eq!(tx.frame(&rx, &seg(t, s, 1, A, 100), THR), None);
        }
        for t in [10, 11, 12] {
            assert_eq!(rx.frame(&tx, &seg(t, 1, 200, A, 0), THR), None);
        }
        assert_eq!(rx.dupacks, 2);
        tx.frame(&rx, &seg(at_ms, resend.0, 1, A, resend.1), THR)
    }

    #[test]
    fn fast_retransmission_needs_the_asked_for_sequence_within_20_ms() {
        assert_eq!(
            after_dupacks((200, 100), 13),
            Some(WsClass::FastRetransmission)
        );
        assert_eq!(after_dupacks((200, 100), 40), Some(WsClass::Retransmission));
        assert_eq!(after_dupacks((300, 100), 13), Some(WsClass::Retransmission));
    }

    #[test]
    fn acknowledged_data_again_is_spurious() {
        assert_eq!(
            after_dupacks((100, 100), 13),
            Some(WsClass::SpuriousRetransmission)
        );
    }

    #[test]
    fn soon_after_the_highest_segment_is_out_of_order() {
        let (mut tx, rx) = (WsSeq::default(), WsSeq::default());
        tx.frame(&rx, &seg(0, 100, 1, A, 100), THR);
        tx.frame(&rx, &seg(1, 300, 1, A, 100), THR);
        assert_eq!(
            tx.frame(&rx, &seg(2, 200, 1, A, 100), THR),
            Some(WsClass::OutOfOrder)
        );
        // Ending exactly at the highest sequence: a retransmission.
        assert_eq!(
            tx.frame(&rx, &seg(3, 300, 1, A, 100), THR),
            Some(WsClass::Retransmission)
        );
    }
}

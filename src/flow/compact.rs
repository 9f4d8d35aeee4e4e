//! Compact state of a connection that has carried no data yet.
//!
//! A SYN flood, a port scan or a busy server's half-open connections make
//! many connections that never carry a byte. The full per-connection state
//! (two endpoints and the analysis observer, a few KB) is then what bounds
//! memory. Until a connection's first segment that is more than a header,
//! the tracker keeps only this record: the connection's id and its
//! header-only segments (SYN, SYN/ACK, pure ACKs: at most [`MAX_SEGMENTS`]),
//! about 100 bytes for a lone SYN.
//!
//! The record is promoted to the full state by *replaying* its segments
//! through it, in order, exactly as if they had been tracked in full from
//! the start: every report is the same with or without this record. It
//! takes no segment whose effect on the tracker's own decisions (a flow
//! ending, closing) it cannot answer by itself: data, FIN, RST, a second SYN
//! without ACK (a retransmitted SYN or a new connection on the same ports),
//! or one more than [`MAX_SEGMENTS`]. For those the tracker promotes first.
//!
//! It does not analyze anything, and it knows nothing of the observer.

use crate::decode::{flags, Segment, TcpOptions};
use crate::TsNs;
use std::net::SocketAddr;

/// Header-only segments kept before a connection is promoted regardless
/// (a SYN and five SYN/ACK retransmissions of a half-open connection fit).
pub const MAX_SEGMENTS: usize = 8;

/// One header-only segment, without its addresses (the connection's key
/// has them; `from_low` says which way it went).
#[derive(Debug, Clone, Copy)]
struct HeaderSeg {
    frame: u64,
    ts_ns: TsNs,
    seq: u32,
    ack: u32,
    wire_len: u32,
    window: u16,
    flags: u8,
    /// Sent by the lower address of the connection key.
    from_low: bool,
    truncated: bool,
    options: HeaderOptions,
}

/// The TCP options of a header-only segment: everything but SACK blocks
/// (a segment carrying any is not kept here: SACK reports data).
#[derive(Debug, Clone, Copy)]
struct HeaderOptions {
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamps: Option<(u32, u32)>,
    options_len: u8,
}

impl HeaderOptions {
    fn of(o: &TcpOptions) -> Self {
        HeaderOptions {
            mss: o.mss,
            window_scale: o.window_scale,
            sack_permitted: o.sack_permitted,
            timestamps: o.timestamps,
            options_len: o.options_len,
        }
    }

    fn tcp(&self) -> TcpOptions {
        TcpOptions {
            mss: self.mss,
            window_scale: self.window_scale,
            sack_permitted: self.sack_permitted,
            timestamps: self.timestamps,
            options_len: self.options_len,
            ..Default::default()
        }
    }
}

/// A connection that has carried no data yet (see the module doc).
#[derive(Debug)]
pub struct Compact {
    /// The flow id given at the first segment.
    pub id: u64,
    /// Latest timestamp seen (as [`super::Flow`]'s `last_ts`).
    pub last_ts: TsNs,
    first: HeaderSeg,
    more: Vec<HeaderSeg>,
}

/// A segment this record can hold: no payload, no FIN, no RST, no SACK
/// blocks.
fn header_only(seg: &Segment) -> bool {
    seg.payload_len == 0
        && seg.payload.is_empty()
        && !seg.has(flags::FIN | flags::RST)
        && seg.options.sack_blocks == 0
}

impl Compact {
    /// A record for a connection whose first segment is `seg`, when `seg`
    /// carries nothing but a header; `low` is the lower address of the key.
    pub fn start(id: u64, seg: &Segment, low: SocketAddr) -> Option<Box<Compact>> {
        header_only(seg).then(|| {
            Box::new(Compact {
                id,
                last_ts: seg.ts_ns,
                first: HeaderSeg::of(seg, low),
                more: Vec::new(),
            })
        })
    }

    /// Whether `seg`, the next segment of this connection, can be added
    /// (else the connection must be promoted first).
    pub fn takes(&self, seg: &Segment) -> bool {
        let syn_only = seg.has(flags::SYN) && !seg.has(flags::ACK);
        header_only(seg) && !syn_only && self.more.len() + 1 < MAX_SEGMENTS
    }

    /// Add `seg` (one that [`Compact::takes`]).
    pub fn push(&mut self, seg: &Segment, low: SocketAddr) {
        debug_assert!(self.takes(seg));
        self.last_ts = self.last_ts.max(seg.ts_ns);
        self.more.push(HeaderSeg::of(seg, low));
    }

    /// Frames seen.
    pub fn frames(&self) -> u64 {
        1 + self.more.len() as u64
    }

    /// Silent longer than the idle timeout before `seg`: `seg` starts a new
    /// connection (the only way one ends before `seg`, since the record
    /// holds no FIN or RST and no second SYN).
    pub fn ended_before(&self, seg: &Segment, idle_timeout_ns: i64) -> bool {
        let gap = seg.ts_ns.saturating_sub(self.last_ts);
        gap > idle_timeout_ns && gap <= super::MAX_PLAUSIBLE_GAP_NS
    }

    /// The segments held, in order, for replay into the full state.
    pub fn segments(&self, key: (SocketAddr, SocketAddr)) -> Vec<Segment<'static>> {
        std::iter::once(&self.first)
            .chain(&self.more)
            .map(|h| h.segment(key))
            .collect()
    }
}

impl HeaderSeg {
    fn of(seg: &Segment, low: SocketAddr) -> HeaderSeg {
        HeaderSeg {
            frame: seg.frame,
            ts_ns: seg.ts_ns,
            seq: seg.seq,
            ack: seg.ack,
            wire_len: seg.wire_len,
            window: seg.window,
            flags: seg.flags,
            from_low: seg.src == low,
            truncated: seg.truncated,
            options: HeaderOptions::of(&seg.options),
        }
    }

    fn segment(&self, (low, high): (SocketAddr, SocketAddr)) -> Segment<'static> {
        let (src, dst) = if self.from_low {
            (low, high)
        } else {
            (high, low)
        };
        Segment {
            frame: self.frame,
            ts_ns: self.ts_ns,
            src,
            dst,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            options: self.options.tcp(),
            payload_len: 0,
            payload: &[],
            truncated: self.truncated,
            wire_len: self.wire_len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::test_segment;

    #[test]
    fn sack_blocks_are_not_kept_in_the_compact_record() {
        let low: SocketAddr = "10.0.0.1:1000".parse().unwrap();
        let syn = test_segment("10.0.0.1:1000", "10.0.0.2:80", 0, 1, 0, flags::SYN, 0);
        let c = Compact::start(0, &syn, low).expect("a SYN is header-only");
        // Its options come back whole on replay.
        assert_eq!(c.first.options.tcp(), syn.options);
        let mut ack = test_segment("10.0.0.2:80", "10.0.0.1:1000", 1, 1, 2, flags::ACK, 0);
        assert!(header_only(&ack));
        ack.options.sack_blocks = 1;
        ack.options.sack = [(5, 9), (0, 0), (0, 0), (0, 0)];
        assert!(!header_only(&ack), "SACK blocks report data: promote");
    }
}

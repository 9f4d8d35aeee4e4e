//! Holes in one direction's sequence space, and the capture gaps they
//! become.
//!
//! A hole is a range of sequence offsets that a later segment skipped over
//! without the range ever being seen. Data seen later (a retransmission, or
//! a segment the network reordered) fills it, wholly or in part. When the
//! peer's cumulative ACK passes a part that was never filled, the receiver
//! had those bytes but the capture did not: that part is a *capture gap*
//! (tcpdump dropped the packet), not network loss, which the sender would
//! have had to retransmit. At the end of a flow whose ACKs were never seen
//! (a one-sided capture), the holes still open count as gaps too.
//!
//! Bounded: at most [`MAX_HOLES`] open holes; beyond that the oldest is
//! forgotten and counted in [`CaptureGaps::untracked`]. It knows nothing of
//! segments, ACK fields or time: the endpoint hands it offsets.

use std::collections::VecDeque;

/// Open holes kept per direction.
pub const MAX_HOLES: usize = 256;

/// Sequence ranges of a direction missing from the capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureGaps {
    /// Holes acknowledged (or left open in a one-sided capture) without
    /// their data ever being seen.
    pub count: u32,
    /// Holes forgotten because more than [`MAX_HOLES`] were open at once
    /// (their fate is unknown).
    pub untracked: u32,
    /// Bytes in the holes counted.
    pub bytes: u64,
}

/// One hole: `[start, end)`, and whether part of it was already counted.
#[derive(Debug, Clone, Copy)]
struct Hole {
    start: i64,
    end: i64,
    counted: bool,
}

/// The open holes of a direction, in sequence order. The gaps they become
/// are counted into the caller's [`CaptureGaps`] (kept in the direction's
/// stats, so that they are not kept twice).
#[derive(Debug, Default)]
pub struct Holes {
    open: VecDeque<Hole>,
}

impl Holes {
    /// A segment starting at `start` was sent while the highest sequence
    /// seen was `next`: `[next, start)` is a hole (nothing when `start <=
    /// next`).
    pub fn skip(&mut self, next: i64, start: i64, gaps: &mut CaptureGaps) {
        if start <= next {
            return;
        }
        if self.open.len() >= MAX_HOLES {
            self.open.pop_front();
            gaps.untracked = gaps.untracked.saturating_add(1);
        }
        self.open.push_back(Hole {
            start: next,
            end: start,
            counted: false,
        });
    }

    /// Data `[start, end)` was seen: take it out of every hole it overlaps.
    /// True when it lay entirely inside one hole (the bytes were never seen
    /// before).
    pub fn fill(&mut self, start: i64, end: i64) -> bool {
        let mut inside = false;
        let mut i = 0;
        while i < self.open.len() {
            let h = self.open[i];
            if h.end <= start {
                i += 1;
                continue;
            }
            if h.start >= end {
                break;
            }
            inside |= h.start <= start && end <= h.end;
            self.open.remove(i);
            if h.start < start {
                self.open.insert(i, Hole { end: start, ..h });
                i += 1;
            }
            if end < h.end {
                self.open.insert(i, Hole { start: end, ..h });
                i += 1;
            }
        }
        inside
    }

    /// The peer acknowledged everything below `ack`: the unfilled parts of
    /// holes below it are capture gaps.
    pub fn ack(&mut self, ack: i64, gaps: &mut CaptureGaps) {
        while let Some(h) = self.open.front_mut() {
            if h.start >= ack {
                break;
            }
            let upto = h.end.min(ack);
            gaps.bytes += (upto - h.start) as u64;
            if !h.counted {
                gaps.count = gaps.count.saturating_add(1);
                h.counted = true;
            }
            if upto < h.end {
                h.start = upto;
                break;
            }
            self.open.pop_front();
        }
    }

    /// `gaps` as they stand at the end of the flow; `acks_seen` false (no
    /// ACK of this direction was ever seen) counts the open holes too.
    pub fn at_end(&self, gaps: CaptureGaps, acks_seen: bool) -> CaptureGaps {
        let mut g = gaps;
        if !acks_seen {
            for h in &self.open {
                g.bytes += (h.end - h.start) as u64;
                g.count = g.count.saturating_add(u32::from(!h.counted));
            }
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acked_hole_is_a_gap_filled_one_is_not() {
        let mut h = Holes::default();
        let mut g = CaptureGaps::default();
        h.skip(100, 200, &mut g);
        h.skip(300, 350, &mut g);
        assert!(h.fill(300, 350));
        h.ack(400, &mut g);
        assert_eq!(
            h.at_end(g, true),
            CaptureGaps {
                count: 1,
                untracked: 0,
                bytes: 100
            }
        );
    }

    #[test]
    fn partial_fill_and_partial_ack() {
        let mut h = Holes::default();
        let mut g = CaptureGaps::default();
        h.skip(0, 100, &mut g);
        assert!(!h.fill(50, 150)); // overlaps seen data: not inside
        h.ack(20, &mut g);
        h.ack(60, &mut g);
        assert_eq!(
            h.at_end(g, true),
            CaptureGaps {
                count: 1,
                untracked: 0,
                bytes: 50
            }
        );
        assert!(h.open.is_empty());
    }

    #[test]
    fn open_holes_count_only_without_acks() {
        let mut h = Holes::default();
        let mut g = CaptureGaps::default();
        h.skip(0, 10, &mut g);
        assert_eq!(h.at_end(g, true).count, 0);
        assert_eq!(
            h.at_end(g, false),
            CaptureGaps {
                count: 1,
                untracked: 0,
                bytes: 10
            }
        );
    }

    #[test]
    fn bounded() {
        let mut h = Holes::default();
        let mut g = CaptureGaps::default();
        for i in 0..(MAX_HOLES as i64 + 5) {
            h.skip(i * 10, i * 10 + 5, &mut g);
        }
        assert_eq!(h.open.len(), MAX_HOLES);
        assert_eq!(h.at_end(g, true).untracked, 5);
    }
}

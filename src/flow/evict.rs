//! The flow table's eviction order: which live connection to finish early
//! when the table is full.
//!
//! The victim is the connection of least [`EvictRank`]: closed ones first,
//! then the one idle the longest (the oldest last frame), ties broken by
//! the lower connection key. It is found exactly, in O(log n) amortized per
//! eviction (n: live connections), without any work per segment:
//!
//! - a min-heap holds `(rank, key)` entries, each stamped with the rank
//!   its connection had when the entry was made: one when a connection
//!   starts and one when it closes (the only change that lowers a rank; a
//!   frame only raises it, since `last_ts` is a running maximum);
//! - so every live connection has an entry no higher than its current
//!   rank, and the least entry whose stamp is still its connection's
//!   current rank is the least rank of all: the victim. An entry popped
//!   with a stale stamp is put back with the current rank (once per
//!   connection touched since: paid for by its frames) or dropped (the
//!   connection is gone, or its closing made a lower entry).
//!
//! Nothing is kept while the table has never been full: the heap is built
//! by one scan at the first eviction, then kept as connections start and
//! close, and rebuilt by a scan whenever dead entries make up a third of it
//! (amortized O(1) per dead entry), so it holds at most 1.5 entries per live
//! connection (80 bytes each).
//!
//! It does not finish connections (the tracker does) and knows nothing of
//! their state beyond the ranks it is given.

use crate::TsNs;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Eviction order: closed flows (`false`) first, then the longest idle.
pub type EvictRank = (bool, TsNs);

/// Dead entries tolerated beyond half the live connections before a rebuild.
const SLACK: usize = 1024;

/// The eviction candidates (see the module doc). `K` is the connection key.
pub struct EvictOrder<K> {
    heap: BinaryHeap<Reverse<(EvictRank, K)>>,
    /// Built (the table has been full once): entries are kept from then on.
    active: bool,
    /// Work done: entries popped plus connections scanned by rebuilds. The
    /// tracker's tests bound it per eviction (no timing in unit tests).
    pub steps: u64,
}

impl<K: Ord + Copy> EvictOrder<K> {
    pub fn new() -> Self {
        EvictOrder {
            heap: BinaryHeap::new(),
            active: false,
            steps: 0,
        }
    }

    /// Whether the order has been built (it must be before [`Self::victim`]).
    pub fn active(&self) -> bool {
        self.active
    }

    /// Connection `k` started, or closed, and now ranks `rank`.
    pub fn note(&mut self, k: K, rank: EvictRank) {
        if self.active {
            self.heap.push(Reverse((rank, k)));
        }
    }

    /// Whether dead entries make a rebuild due, with `live` connections.
    pub fn bloated(&self, live: usize) -> bool {
        self.active && self.heap.len() > live + live / 2 + SLACK
    }

    /// Replace every entry by the current `(rank, key)` of each live
    /// connection (O(n)), and keep the order from now on.
    pub fn rebuild(&mut self, live: impl Iterator<Item = (EvictRank, K)>) {
        let entries: Vec<_> = live.map(Reverse).collect();
        self.steps += entries.len() as u64;
        self.heap = BinaryHeap::from(entries);
        self.active = true;
    }

    /// The key of the connection to evict, its entry taken out; `rank_of`
    /// gives a key's current rank (`None`: no live connection under it).
    pub fn victim(&mut self, mut rank_of: impl FnMut(&K) -> Option<EvictRank>) -> Option<K> {
        debug_assert!(self.active, "rebuild before the first victim");
        while let Some(Reverse((stamp, k))) = self.heap.pop() {
            self.steps += 1;
            match rank_of(&k) {
                Some(now) if now == stamp => return Some(k),
                Some(now) if now > stamp => self.heap.push(Reverse((now, k))),
                _ => {} // gone, or closed since: a lower entry stands for it
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn victim_is_the_least_current_rank() {
        let mut o = EvictOrder::<u32>::new();
        let mut ranks = vec![(true, 10), (true, 20), (true, 30)];
        o.rebuild(ranks.iter().enumerate().map(|(k, r)| (*r, k as u32)));
        // Key 0 touched (now the newest), key 2 closed.
        ranks[0] = (true, 40);
        ranks[2] = (false, 30);
        o.note(2, ranks[2]);
        let rank_of = |ranks: &Vec<(bool, i64)>, k: &u32| ranks.get(*k as usize).copied();
        assert_eq!(o.victim(|k| rank_of(&ranks, k)), Some(2), "closed first");
        ranks[2] = (true, i64::MAX); // finished (key reused by a newer flow)
        assert_eq!(o.victim(|k| rank_of(&ranks, k)), Some(1), "then the oldest");
        assert_eq!(o.victim(|k| rank_of(&ranks, k)), Some(0));
    }

    #[test]
    fn ties_go_to_the_lower_key_and_dead_entries_are_dropped() {
        let mut o = EvictOrder::<u32>::new();
        o.rebuild([((true, 5), 7), ((true, 5), 3), ((true, 1), 9)].into_iter());
        // Key 9 is gone: its entry is dropped, not returned.
        let live = |k: &u32| (*k != 9).then_some((true, 5));
        assert_eq!(o.victim(live), Some(3));
        assert_eq!(o.victim(live), Some(7));
        assert_eq!(o.victim(live), None);
        assert!(!o.bloated(0), "empty");
    }
}

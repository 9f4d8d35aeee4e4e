//! One bounded, evenly thinned sample buffer.
//!
//! A long capture can produce millions of RTT samples, send intervals or
//! chart points per direction; the report only needs their distribution (or
//! an even subset of a series). [`Thinned`] keeps every `stride`-th value
//! pushed: it starts with stride 1 (every value), and each time the buffer
//! reaches its capacity it drops every other value it holds and doubles the
//! stride, so the values kept are always evenly spaced over the whole input
//! and memory stays below the capacity. It counts every value pushed.
//!
//! What it does not do: it keeps no statistics of its own (a caller that
//! needs the exact minimum, like [`crate::flow::Samples`], keeps it beside
//! the buffer), it never sorts, and it does not remember which input
//! positions the kept values came from beyond what `seen` and `stride` say.
//!
//! Two parameters make the four buffers the tool grew over time one type,
//! without changing any output:
//! - the capacity (the length at which the buffer halves);
//! - [`Keep`]: which value of each stride is kept, the first
//!   (`(n - 1) % stride == 0`, 1-based `n`: values 1, 1 + s, 1 + 2s, …) or
//!   the last (`n % stride == 0`: values s, 2s, 3s, …). On halving, the
//!   values that stay are exactly those the doubled stride would have kept
//!   (the 1st, 3rd, … held value for `First`; the 2nd, 4th, … for `Last`).
//!
//! How the existing copies map onto it (the ones not migrated yet keep their
//! own code until the analysis and advice are moved over; their behaviour is
//! exactly this type's with the parameters given):
//! - `flow::Samples` (data→ACK and TSval/TSecr RTT samples): migrated;
//!   capacity [`crate::flow::MAX_SAMPLES`] (2^16), [`Keep::Last`], plus an
//!   exact minimum kept by `Samples` itself.
//! - `analysis::Thinned` (chart series of segments and ACKs): capacity
//!   `MAX_SERIES` (2^17), [`Keep::First`]; its `points` / `seen` / `stride`
//!   are [`Thinned::values`] / [`Thinned::seen`] / [`Thinned::stride`]
//!   (the report's `segment_stride` / `ack_stride` is `stride`).
//! - `analysis::DirAnalysis::push_interval` (send intervals):
//!   capacity 2^16, [`Keep::Last`]; `send_intervals` /
//!   `send_interval_count` / `send_interval_stride` are `values` / `seen` /
//!   `stride`.
//! - `advice::DirCollect`'s in-flight list (bytes in flight after each new
//!   segment): capacity `MAX_INFLIGHT` (2^16), [`Keep::Last`]; `inflight` /
//!   `inflight_count` / `inflight_stride` are `values` / `seen` / `stride`.

/// Which value of each stride a [`Thinned`] buffer keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The first of each stride: values 1, 1 + s, 1 + 2s, … (1-based).
    First,
    /// The last of each stride: values s, 2s, 3s, … (1-based).
    Last,
}

/// A bounded list that keeps every `stride`-th value pushed; see the
/// module doc for the rule.
#[derive(Debug, Clone)]
pub struct Thinned<T> {
    values: Vec<T>,
    /// Values pushed so far (kept or not).
    seen: u64,
    /// Always a power of two.
    stride: u64,
    cap: u32,
    keep: Keep,
}

impl<T> Thinned<T> {
    /// An empty buffer that halves when it holds `cap` values (`cap` ≥ 2).
    pub const fn new(cap: u32, keep: Keep) -> Self {
        assert!(cap >= 2, "a thinning buffer needs room for two values");
        Thinned {
            values: Vec::new(),
            seen: 0,
            stride: 1,
            cap,
            keep,
        }
    }

    /// Count `v`, and keep it when its position falls on the stride.
    #[inline]
    pub fn push(&mut self, v: T) {
        self.seen += 1;
        // The stride is a power of two: `& (stride - 1)` is `% stride`.
        let phase = match self.keep {
            Keep::First => self.seen - 1,
            Keep::Last => self.seen,
        };
        if phase & (self.stride - 1) == 0 {
            self.values.push(v);
            if self.values.len() >= self.cap as usize {
                self.halve();
            }
        }
    }

    /// Drop every other value held (keeping those the doubled stride would
    /// have kept) and double the stride.
    #[cold]
    fn halve(&mut self) {
        let keep_odd = self.keep == Keep::Last;
        let mut i = 0usize;
        self.values.retain(|_| {
            let odd = i % 2 == 1;
            i += 1;
            odd == keep_odd
        });
        self.stride *= 2;
    }

    /// The values kept, in the order they were pushed.
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// Every value pushed so far, kept or not.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// One value in `stride` is kept (1 until the first halving).
    pub fn stride(&self) -> u64 {
        self.stride
    }

    /// The values kept, by value.
    pub fn into_values(self) -> Vec<T> {
        self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule each copy used before, written out naively: keep the value
    /// at 1-based position `n` when `(n - offset) % stride == 0`; at the cap
    /// retain 1-based positions with `i % 2 == parity`, double the stride.
    fn reference(n: u64, cap: usize, keep: Keep) -> (Vec<u64>, u64) {
        let (offset, parity) = match keep {
            Keep::First => (1, 1),
            Keep::Last => (0, 0),
        };
        let (mut values, mut stride) = (Vec::new(), 1u64);
        for v in 1..=n {
            if (v - offset).is_multiple_of(stride) {
                values.push(v);
                if values.len() >= cap {
                    let mut i = 0;
                    values.retain(|_| {
                        i += 1;
                        i % 2 == parity
                    });
                    stride *= 2;
                }
            }
        }
        (values, stride)
    }

    fn run(n: u64, cap: u32, keep: Keep) -> Thinned<u64> {
        let mut t = Thinned::new(cap, keep);
        for v in 1..=n {
            t.push(v);
        }
        t
    }

    #[test]
    fn keeps_everything_below_the_cap() {
        let t = run(7, 8, Keep::Last);
        assert_eq!(t.values(), &[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!((t.seen(), t.stride()), (7, 1));
    }

    #[test]
    fn halves_at_the_cap_keeping_the_last_of_each_stride() {
        let t = run(8, 8, Keep::Last);
        assert_eq!(t.values(), &[2, 4, 6, 8]);
        assert_eq!(t.stride(), 2);
        let t = run(13, 8, Keep::Last);
        assert_eq!(t.values(), &[2, 4, 6, 8, 10, 12]);
        assert_eq!(t.seen(), 13);
    }

    #[test]
    fn halves_at_the_cap_keeping_the_first_of_each_stride() {
        let t = run(8, 8, Keep::First);
        assert_eq!(t.values(), &[1, 3, 5, 7]);
        assert_eq!(t.stride(), 2);
        let t = run(13, 8, Keep::First);
        assert_eq!(t.values(), &[1, 3, 5, 7, 9, 11, 13]);
    }

    #[test]
    fn stays_evenly_spaced_and_bounded_over_many_halvings() {
        for keep in [Keep::First, Keep::Last] {
            let t = run(10_000, 16, keep);
            assert!(t.values().len() < 16);
            let s = t.stride();
            assert_eq!(s, 1024);
            assert!(t.values().windows(2).all(|w| w[1] - w[0] == s));
        }
    }

    #[test]
    fn matches_the_rule_of_the_old_copies() {
        for keep in [Keep::First, Keep::Last] {
            for cap in [2u32, 3, 4, 7, 64] {
                for n in [0u64, 1, 5, 63, 64, 65, 1000, 4099] {
                    let t = run(n, cap, keep);
                    let (values, stride) = reference(n, cap as usize, keep);
                    assert_eq!(t.values(), &values[..], "{keep:?} cap {cap} n {n}");
                    assert_eq!(t.stride(), stride);
                    assert_eq!(t.seen(), n);
                }
            }
        }
    }
}

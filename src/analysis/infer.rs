//! Inferring the write size from segment sizes alone, with a stated chance.
//!
//! With no write log, no `--write-size` and no protocol framing, the only
//! trace of the application's writes is the sizes of the small (sub-MSS)
//! segments: when an application writes `u` bytes at a time and the kernel
//! coalesces writes (Nagle, cork, a full window), every small segment carries
//! a whole number of writes, so every size is a multiple of `u`.
//!
//! The rule. Let `g` be the greatest common divisor of the small sizes seen,
//! and `k` the number of *distinct* sizes (a size seen a thousand times is one
//! piece of evidence for divisibility, not a thousand). If the sizes were
//! unrelated to any unit, the chance that `k` of them all share a divisor as
//! large as `g` is about `g^-(k-1)` (the gcd of two random numbers is `g` or
//! more with probability about `0.6/g`; each further size is divisible with
//! probability `1/g`). That figure, `chance`, decides:
//!
//! | chance | confidence | used for |
//! |---|---|---|
//! | ≤ 1e-6 | `high` | writes per segment, aggregation, Nagle evidence |
//! | ≤ 1e-3 | `medium` | the same |
//! | ≤ 0.02 | `low` | writes per segment only: no aggregation or Nagle claim |
//! | above | — | no unit |
//!
//! The unit must also appear on its own: some small segment is exactly `g`
//! bytes. Under the write model that is certain (the first data segment,
//! and any after an idle moment, carries one write); under protocol
//! alignment it is rare (SSH, X11, Kafka and TLS pad their records to 2, 4, 8
//! or 16 bytes, so every size shares that divisor without any write of that
//! size). Without it the divisibility route gives no unit.
//!
//! A second route covers constant writes that are rarely coalesced (TCP_NODELAY,
//! writes slower than the RTT): from 10 small segments, when segments of
//! exactly one unit are at least half of them and fewer than a tenth carry
//! more than four units, the unit is `medium` (`high` from 20 segments with
//! a four-fifths share). Every small segment of one size (`k = 1`, the
//! limiting case) gives that size as the unit, one write per segment: `low`
//! from 3 segments, `medium` from 5, `high` from 20. Fewer than 3 small
//! segments give no unit.
//!
//! A last route, the first write: a writer of small units over a long path
//! may leave only a handful of sizes (`4`, then `16` and `20`, or `4` then
//! one `1100` and full segments), whose chance stays above 0.02 however
//! right the unit is (`4^-2` = 1/16). When the direction's first data
//! segment — a write that left alone, nothing being in flight — is exactly
//! `g` bytes and at least 3 data segments were seen, the unit is given as
//! `low`: writes per segment, no aggregation or Nagle claim.
//!
//! What it cannot do: tell a 16-byte message from four 4-byte writes. A
//! request written as 10 then 100 bytes gives sizes 10, 100 and 110: unit 10
//! at chance 0.01, `low`, so no claim rests on it; with only 10 and 100 seen
//! the chance is 0.1 and no unit is given.

use super::stats::gcd;
pub use crate::report::InferenceRule;
use crate::report::{WriteConfidence, WriteInference};
use std::collections::HashMap;

/// Confidence thresholds on `chance` (module docs).
pub const CHANCE_HIGH: f64 = 1e-6;
pub const CHANCE_MEDIUM: f64 = 1e-3;
pub const CHANCE_LOW: f64 = 0.02;
/// Fewer small segments give no unit.
const MIN_SEGMENTS: u64 = 3;
/// The dominant-unit route needs this many small segments.
const DOMINANT_MIN_SEGMENTS: u64 = 10;

/// An inferred write size and what it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Inference {
    pub unit: u32,
    pub confidence: WriteConfidence,
    pub rule: InferenceRule,
    /// Chance that unrelated sizes share the unit (`g^-(k-1)`).
    pub chance: f64,
    /// Small segments and distinct small sizes the rule saw.
    pub segments: u64,
    pub distinct_sizes: u64,
}

impl Inference {
    /// Whether aggregation and Nagle claims may rest on this unit.
    pub fn supports_claims(&self) -> bool {
        self.confidence != WriteConfidence::Low
    }

    /// The report's `write_inference`.
    pub fn report(&self) -> WriteInference {
        WriteInference {
            rule: self.rule,
            chance: self.chance,
            segments: self.segments,
            distinct_sizes: self.distinct_sizes,
        }
    }
}

/// The rule of the module docs over a histogram of data segment sizes
/// (size → count); sizes at or above `mss` are ignored. (Tests: `infer`
/// without the first segment.)
#[cfg(test)]
pub fn infer_unit(sizes: &HashMap<u32, u64>, mss: Option<u32>) -> Option<Inference> {
    infer(sizes, mss, None)
}

/// The rule of the module docs over a histogram of data segment sizes
/// (size → count; sizes at or above `mss` are ignored), knowing the size of
/// the direction's first data segment (`first`) for the first-write route.
pub fn infer(sizes: &HashMap<u32, u64>, mss: Option<u32>, first: Option<u32>) -> Option<Inference> {
    let mut small: Vec<(u32, u64)> = sizes
        .iter()
        .filter(|(s, c)| **s > 0 && **c > 0 && mss.is_none_or(|m| **s < m))
        .map(|(s, c)| (*s, *c))
        .collect();
    small.sort_unstable();
    let n: u64 = small.iter().map(|x| x.1).sum();
    let all: u64 = sizes.values().sum();
    if n < 2 || all < MIN_SEGMENTS {
        return None;
    }
    let k = small.len() as u64;
    let g = small.iter().fold(0u64, |g, (s, _)| gcd(g, *s as u64));
    let base = Inference {
        unit: g as u32,
        confidence: WriteConfidence::Low,
        rule: InferenceRule::Divisibility,
        chance: (g as f64).powi(-((k - 1) as i32)),
        segments: n,
        distinct_sizes: k,
    };
    let by_sizes = if n >= MIN_SEGMENTS {
        by_sizes(&small, base.clone())
    } else {
        None
    };
    by_sizes.or_else(|| {
        // The first-write route: the direction's first segment is one write.
        (first == Some(g as u32) && g >= 2 && k >= 2).then_some(Inference {
            rule: InferenceRule::FirstWrite,
            ..base
        })
    })
}

/// The single-size, dominant-unit and divisibility routes over the small
/// sizes (sorted), `base` holding their gcd and chance.
fn by_sizes(small: &[(u32, u64)], base: Inference) -> Option<Inference> {
    let (g, n) = (base.unit as u64, base.segments);
    if base.distinct_sizes == 1 {
        let confidence = match n {
            20.. => WriteConfidence::High,
            5.. => WriteConfidence::Medium,
            _ => WriteConfidence::Low,
        };
        return Some(Inference {
            rule: InferenceRule::SingleSize,
            chance: 1.0,
            confidence,
            ..base
        });
    }
    if let Some(c) = dominant_unit(small, g, n) {
        return Some(Inference {
            rule: InferenceRule::DominantUnit,
            confidence: c,
            ..base
        });
    }
    let confidence = if base.chance <= CHANCE_HIGH {
        WriteConfidence::High
    } else if base.chance <= CHANCE_MEDIUM {
        WriteConfidence::Medium
    } else if base.chance <= CHANCE_LOW {
        WriteConfidence::Low
    } else {
        return None;
    };
    // The unit must appear on its own (module docs: protocol alignment).
    let alone = small.iter().any(|(s, _)| *s as u64 == g);
    (g >= 2 && alone).then_some(Inference { confidence, ..base })
}

/// The second route: one-unit segments are most, large multiples rare.
fn dominant_unit(small: &[(u32, u64)], g: u64, n: u64) -> Option<WriteConfidence> {
    let ones: u64 = small
        .iter()
        .filter(|(s, _)| *s as u64 == g)
        .map(|x| x.1)
        .sum();
    let big: u64 = small
        .iter()
        .filter(|(s, _)| *s as u64 > 4 * g)
        .map(|x| x.1)
        .sum();
    if n < DOMINANT_MIN_SEGMENTS || ones * 2 < n || big * 10 >= n {
        return None;
    }
    Some(if n >= 20 && ones * 5 >= n * 4 {
        WriteConfidence::High
    } else {
        WriteConfidence::Medium
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(pairs: &[(u32, u64)]) -> HashMap<u32, u64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn classic_heavy_aggregation_gives_the_unit() {
        // 1000 × 4-byte writes every 1 ms over 40 ms: one 4-byte segment,
        // then ~25 segments of 27..52 writes.
        let mut h = vec![(4, 1)];
        h.extend((27..52).map(|m| (4 * m, 1)));
        let i = infer_unit(&hist(&h), Some(1448)).unwrap();
        assert_eq!(i.unit, 4);
        assert_eq!(i.confidence, WriteConfidence::High);
        assert_eq!(i.rule, InferenceRule::Divisibility);
    }

    #[test]
    fn steady_aggregation_is_low_but_right() {
        // Every 10 ms over 40 ms: 4 writes a segment, a few 3s and 5s.
        let i = infer_unit(&hist(&[(4, 1), (12, 3), (16, 240), (20, 3)]), Some(1448)).unwrap();
        assert_eq!(i.unit, 4);
        assert_eq!(i.confidence, WriteConfidence::Low);
        assert!(!i.supports_claims());
    }

    #[test]
    fn alternating_message_sizes_make_no_claim() {
        assert_eq!(infer_unit(&hist(&[(10, 50), (100, 50)]), Some(1448)), None);
        let i = infer_unit(&hist(&[(10, 40), (100, 40), (110, 10)]), Some(1448)).unwrap();
        assert_eq!(i.unit, 10);
        assert!(!i.supports_claims(), "{i:?}");
    }

    #[test]
    fn nodelay_constant_writes_use_the_dominant_unit() {
        let i = infer_unit(&hist(&[(4, 900), (8, 50)]), Some(1448)).unwrap();
        assert_eq!(
            (i.unit, i.confidence, i.rule),
            (4, WriteConfidence::High, InferenceRule::DominantUnit)
        );
        let i = infer_unit(&hist(&[(4, 1000)]), Some(1448)).unwrap();
        assert_eq!((i.unit, i.rule), (4, InferenceRule::SingleSize));
    }

    #[test]
    fn the_first_write_gives_a_low_unit_where_sizes_are_few() {
        // 4-byte writes every 10 ms over 40 ms, and every 100 µs over 200 ms.
        let h = hist(&[(4, 1), (16, 136), (20, 11)]);
        assert_eq!(infer_unit(&h, Some(1448)), None);
        let i = infer(&h, Some(1448), Some(4)).unwrap();
        assert_eq!(
            (i.unit, i.rule, i.confidence),
            (4, InferenceRule::FirstWrite, WriteConfidence::Low)
        );
        assert!((i.chance - 1.0 / 16.0).abs() < 1e-12);
        let h = hist(&[(4, 1), (1100, 1), (1448, 2)]);
        assert_eq!(infer(&h, Some(1448), Some(4)).unwrap().unit, 4);
        // A first segment that is not the gcd says nothing.
        assert_eq!(
            infer(&hist(&[(12, 2), (20, 3), (28, 1)]), Some(1448), Some(12)),
            None
        );
        // Two segments in all: nothing.
        assert_eq!(infer(&hist(&[(4, 1), (8, 1)]), Some(1448), Some(4)), None);
    }

    #[test]
    fn protocol_alignment_is_not_a_unit() {
        // SSH records: all multiples of 4, none of them 4 bytes.
        let ssh = hist(&[(12, 2), (20, 3), (28, 1), (156, 1), (268, 1), (284, 1)]);
        assert_eq!(infer_unit(&ssh, Some(1448)), None);
        // X11 requests, likewise.
        let x11 = hist(&[(472, 1), (480, 1), (668, 2), (676, 2), (1148, 1)]);
        assert_eq!(infer_unit(&x11, Some(1448)), None);
    }

    #[test]
    fn too_few_segments_give_no_unit_or_a_weak_one() {
        // Two BGP messages (19 and 57 bytes): too few for any claim.
        assert_eq!(infer_unit(&hist(&[(19, 1), (57, 1)]), Some(1460)), None);
        // Three, but two sizes sharing 19 has a chance of 1/19: no unit.
        assert_eq!(infer_unit(&hist(&[(19, 2), (57, 1)]), Some(1460)), None);
        let i = infer_unit(&hist(&[(120, 3)]), Some(1460)).unwrap();
        assert_eq!(
            (i.rule, i.confidence),
            (InferenceRule::SingleSize, WriteConfidence::Low)
        );
        assert_eq!(
            infer_unit(&hist(&[(120, 30)]), None).unwrap().confidence,
            WriteConfidence::High
        );
    }

    #[test]
    fn unrelated_sizes_give_no_unit() {
        assert_eq!(
            infer_unit(&hist(&[(517, 1), (230, 1), (1203, 2), (31, 1)]), Some(1448)),
            None
        );
        // Sizes with a large common divisor by luck (chance 1/150): no
        // segment of 150 bytes, no unit.
        assert_eq!(infer_unit(&hist(&[(300, 1), (450, 2)]), Some(1448)), None);
        let i = infer_unit(&hist(&[(150, 1), (300, 1), (450, 1)]), Some(1448)).unwrap();
        assert!((i.chance - 1.0 / 150.0 / 150.0).abs() < 1e-12);
        // Full-size segments do not count.
        assert_eq!(infer_unit(&hist(&[(1448, 100), (7, 1)]), Some(1448)), None);
    }

    #[test]
    fn false_unit_rate_on_random_sizes_is_small() {
        // A deterministic generator of "HTTP/TLS-like" sizes: 2..12 small
        // segments of 40..1400 bytes. A unit that supports claims must be rare.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut claims, mut any, trials) = (0, 0, 10_000);
        for _ in 0..trials {
            let k = 2 + next() % 11;
            let h: HashMap<u32, u64> = (0..k).map(|_| (40 + (next() % 1360) as u32, 1)).collect();
            if let Some(i) = infer_unit(&h, Some(1448)) {
                any += 1;
                claims += i.supports_claims() as u32;
            }
        }
        assert!(
            any * 100 < trials * 2,
            "{any} of {trials} random flows got a unit"
        );
        assert!(
            claims * 1000 < trials * 2,
            "{claims} of {trials} supported claims"
        );
    }
}

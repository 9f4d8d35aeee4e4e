//! Stage: write boundaries. How many application writes each segment of a
//! direction carries, and how that is known.
//!
//! Rule (README "Writes per segment"): boundaries come, in order of
//! preference, from a write log (exact; matched to the direction whose
//! byte count it fits), a fixed write size (exact), the protocol's framing
//! (one message per boundary: these are messages, not writes), or
//! inference (`super::infer`: the small segments' sizes share a unit, with
//! the chance that they would by luck; a `low` unit gives writes per
//! segment but no aggregation evidence). A write log is the direction's only
//! when `super::logs` applied it. A segment carries the writes whose last byte it carries;
//! an aggregated segment carries the ends of two or more. With a log, each
//! write's delay is from its call to the capture of its last byte.

use super::infer::{infer, Inference};
use super::logs::Applied;
use super::observe::DirAnalysis;
use super::stats::{hist_summary, quantile};
use crate::framing::DirFraming;
use crate::report::{self, ms, WriteConfidence, WriteSource};
#[cfg(test)]
use crate::writes::WriteLog;
use std::collections::{BTreeMap, HashMap};

/// The write boundaries of one direction.
#[derive(Debug, Clone, Default)]
pub(super) struct WriteBoundaries {
    pub source: Option<WriteSource>,
    /// The write size, fixed (`--write-size`) or inferred.
    pub unit: Option<u32>,
    pub confidence: Option<WriteConfidence>,
    pub writes: Option<u64>,
    /// Writes per segment -> segments.
    pub per_segment: Option<BTreeMap<u64, u64>>,
    /// With a write log: each write's wait until the wire.
    pub delay: Option<report::WriteDelay>,
    /// What an inferred unit rests on.
    pub inference: Option<Inference>,
}

/// What the boundaries of one direction are decided from.
pub(super) struct BoundaryInput<'a> {
    /// The write log, when it was applied to this direction.
    pub log: Option<&'a Applied>,
    pub write_size: Option<u32>,
    /// The direction's framing, when it gives the boundaries.
    pub framing: Option<&'a DirFraming>,
    pub data_segments: u64,
    pub payload_bytes: u64,
    pub mss: Option<u32>,
    pub da: &'a DirAnalysis,
}

/// Log > size > framing > inferred.
pub(super) fn write_boundaries(i: &BoundaryInput) -> WriteBoundaries {
    if let Some(log) = i.log {
        from_log(log)
    } else if let Some(n) = i.write_size {
        WriteBoundaries {
            source: Some(WriteSource::Size),
            unit: Some(n),
            confidence: Some(WriteConfidence::Exact),
            writes: Some(i.payload_bytes / n.max(1) as u64),
            per_segment: Some(i.da.wps_size.clone()),
            delay: None,
            inference: None,
        }
    } else if let Some(fr) = i.framing {
        WriteBoundaries {
            source: fr.framing.map(|f| WriteSource::Framing(f.to_string())),
            confidence: Some(WriteConfidence::Protocol),
            writes: Some(fr.messages),
            per_segment: Some(i.da.wps_framing.clone()),
            ..Default::default()
        }
    } else if i.data_segments > 0 {
        inferred(
            &i.da.sizes,
            i.mss,
            (i.da.first_len > 0).then_some(i.da.first_len),
        )
        .unwrap_or_default()
    } else {
        WriteBoundaries::default()
    }
}

fn from_log(log: &Applied) -> WriteBoundaries {
    WriteBoundaries {
        source: Some(if log.kernel.is_some() {
            WriteSource::Kernel
        } else {
            WriteSource::Log
        }),
        confidence: Some(WriteConfidence::Exact),
        writes: Some(log.writes.len() as u64),
        per_segment: Some(log.wps.clone()),
        delay: Some(write_delay(&log.delays)),
        unit: None,
        inference: None,
    }
}

/// Each write's wait from its call to the wire, and their statistics.
fn write_delay(per_write: &[Option<i64>]) -> report::WriteDelay {
    let mut v: Vec<i64> = per_write.iter().flatten().copied().collect();
    v.sort_unstable();
    // Summed in i128: log times are the user's and may be anywhere in i64.
    let mean = (!v.is_empty())
        .then(|| ms((v.iter().map(|&x| x as i128).sum::<i128>() / v.len() as i128) as i64));
    report::WriteDelay {
        median: quantile(&v, 0.5).map(ms),
        p90: quantile(&v, 0.9).map(ms),
        max: v.last().map(|&x| ms(x)),
        mean,
        per_write: per_write.iter().map(|x| x.map(ms)).collect(),
    }
}

/// Writes a new-data segment of `len` bytes carries under an inferred
/// write `unit`: len / unit, rounded, at least one (the rule the report's
/// inferred `writes` and the charts' inferred write marks share).
pub fn inferred_writes(len: u32, unit: u32) -> u64 {
    ((len as f64 / unit.max(1) as f64).round() as u64).max(1)
}

/// Boundaries from the inferred write unit (`super::infer`): each payload
/// size counts as size / unit writes, rounded, at least one.
fn inferred(
    sizes: &HashMap<u32, u64>,
    mss: Option<u32>,
    first: Option<u32>,
) -> Option<WriteBoundaries> {
    let inf = infer(sizes, mss, first)?;
    let unit = inf.unit;
    let mut h = BTreeMap::new();
    for (size, c) in sizes {
        *h.entry(inferred_writes(*size, unit)).or_default() += c;
    }
    Some(WriteBoundaries {
        source: Some(WriteSource::Inferred),
        unit: Some(unit),
        confidence: Some(inf.confidence),
        writes: Some(h.iter().map(|(w, c)| w * c).sum()),
        per_segment: Some(h),
        delay: None,
        inference: Some(inf),
    })
}

impl WriteBoundaries {
    /// The report's `writes_per_segment`.
    pub fn summary(&self) -> Option<report::WritesPerSegment> {
        self.per_segment.as_ref().map(hist_summary)
    }

    /// Segments carrying the ends of two or more writes.
    pub fn aggregated_segments(&self) -> Option<u64> {
        let h = self.per_segment.as_ref()?;
        Some(h.iter().filter(|(w, _)| **w >= 2).map(|(_, c)| c).sum())
    }

    /// Writes beyond the first in those segments.
    pub fn aggregated_writes(&self) -> Option<u64> {
        let h = self.per_segment.as_ref()?;
        Some(
            h.iter()
                .filter(|(w, _)| **w >= 2)
                .map(|(w, c)| (w - 1) * c)
                .sum(),
        )
    }

    /// From a write log or `--write-size`, not messages or inference.
    pub fn exact(&self) -> bool {
        self.source.as_ref().is_some_and(WriteSource::is_exact)
    }

    /// Whether aggregation may be used as evidence: not from a
    /// low-confidence inferred unit (`super::infer`).
    pub fn supports_claims(&self) -> bool {
        self.inference
            .as_ref()
            .is_none_or(Inference::supports_claims)
    }

    /// The boundaries are protocol messages, not writes.
    pub fn messages(&self) -> bool {
        matches!(self.source, Some(WriteSource::Framing(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::framed::tests::lines;
    use super::*;
    use crate::framing::Outcome;

    fn analysis() -> DirAnalysis {
        let mut da = DirAnalysis::default();
        da.sizes.insert(100, 10);
        da.wps_size.insert(1, 7);
        da.wps_framing.insert(3, 2);
        da
    }

    #[test]
    fn boundary_precedence_log_size_framing_inferred() {
        let da = analysis();
        let log = Applied {
            writes: WriteLog::from_writes([(0, 100), (1, 100)]),
            wps: BTreeMap::from([(2, 1)]),
            delays: vec![Some(5), None],
            kernel: None,
        };
        let fr = lines(4, 10, Outcome::Active);
        let all = BoundaryInput {
            log: Some(&log),
            write_size: Some(50),
            framing: Some(&fr),
            data_segments: 10,
            payload_bytes: 1000,
            mss: Some(1448),
            da: &da,
        };
        let b = write_boundaries(&all);
        assert_eq!((b.source, b.writes), (Some(WriteSource::Log), Some(2)));
        assert!(b.delay.is_some());
        let b = write_boundaries(&BoundaryInput { log: None, ..all });
        assert_eq!(
            (b.source, b.unit, b.writes),
            (Some(WriteSource::Size), Some(50), Some(20))
        );
        let b = write_boundaries(&BoundaryInput {
            log: None,
            write_size: None,
            ..all
        });
        assert_eq!(b.source, Some(WriteSource::Framing("lines".into())));
        assert_eq!(b.aggregated_segments(), Some(2));
        assert_eq!(b.aggregated_writes(), Some(4));
        assert!(!b.exact());
        let none = BoundaryInput {
            log: None,
            write_size: None,
            framing: None,
            ..all
        };
        let b = write_boundaries(&none);
        assert_eq!(
            (b.source, b.unit, b.writes),
            (Some(WriteSource::Inferred), Some(100), Some(10))
        );
        let b = write_boundaries(&BoundaryInput {
            data_segments: 0,
            ..none
        });
        assert!(b.source.is_none() && b.per_segment.is_none());
    }
}

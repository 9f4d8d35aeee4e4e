//! Stage 4: what a flow's events mean.
//!
//! [`FlowAnalysis`] observes one connection's [`DataEvent`]s and
//! [`AckEvent`]s (streaming, bounded memory) and, when the flow is finished,
//! turns them with the tracker's [`FlowSummary`] into a [`report::Flow`]:
//! path RTT and vantage point, writes per segment, aggregated segments, send
//! intervals against the RTT, ACK-clocked releases, delayed-ACK timing,
//! Nagle × delayed-ACK stalls and the Nagle verdict with its evidence.
//!
//! What it does not do: parse bytes (that is `decode`) or print anything
//! (that is `render`). Every rule is written down next to the code that
//! applies it, and the README repeats them in a paragraph each.

use crate::flow::{AckEvent, DataEvent, Dir, FlowObserver, FlowSummary, SegmentKind, C2S, S2C};
use crate::framing::{DirFraming, FramingRules, Outcome};
use crate::report::{
    self, ms, secs, CoalescingCause, FramingState, MssSource, RttSource, Vantage, Verdict,
    WriteConfidence, WriteSource,
};
use crate::writes::WriteLog;
use crate::TsNs;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Caps on per-direction memory.
const MAX_SIZES: usize = 4096;
const MAX_RELEASES: usize = 1 << 16;
const MAX_STALL_EVENTS: usize = 1000;
const MAX_WRITE_DELAYS: usize = 1 << 20;

/// How write boundaries are known.
#[derive(Debug, Clone, Default)]
pub struct AnalysisConfig {
    /// Every write is this many bytes (`--write-size`).
    pub write_size: Option<u32>,
    /// The sender's write log (`--writes`).
    pub log: Option<Arc<WriteLog>>,
    /// Keep per-segment time series for charts.
    pub series: bool,
    /// Write boundaries from the protocol's framing (`--framing`).
    pub framing: FramingRules,
}

/// Cap on the points kept per series; beyond it every other point is dropped.
const MAX_SERIES: usize = 1 << 17;

/// A bounded, evenly thinned list of points.
#[derive(Debug, Default, Clone)]
struct Thinned<T> {
    points: Vec<T>,
    seen: u64,
    stride: u64,
}

impl<T> Thinned<T> {
    fn push(&mut self, p: T) {
        if self.stride == 0 {
            self.stride = 1;
        }
        self.seen += 1;
        if (self.seen - 1).is_multiple_of(self.stride) {
            self.points.push(p);
            if self.points.len() >= MAX_SERIES {
                let mut i = 0;
                self.points.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
        }
    }
}

/// Per-flow analysis state; one per connection, fed by the tracker.
#[derive(Debug, Clone)]
pub struct FlowAnalysis {
    cfg: Arc<AnalysisConfig>,
    dirs: [DirAnalysis; 2],
    advice: Box<crate::advice::Collector>,
}

impl FlowAnalysis {
    pub fn new(cfg: Arc<AnalysisConfig>) -> Self {
        FlowAnalysis {
            cfg,
            dirs: [DirAnalysis::default(), DirAnalysis::default()],
            advice: Default::default(),
        }
    }
}

/// A small segment sent after the ACK of the previous small segment.
#[derive(Debug, Clone, Copy)]
struct Release {
    ts: TsNs,
    /// Capture time from that ACK to this segment.
    gap: i64,
    /// How long the previous small segment waited for its ACK (raw).
    ack_wait: Option<i64>,
    /// Writes carried, when known exactly (size or log).
    writes: Option<u64>,
    len: u32,
    /// The ACK that released it carried no data.
    pure_ack: bool,
    /// With a write log: a write it carries was called before that ACK
    /// arrived, i.e. the kernel held it.
    held: Option<bool>,
}

#[derive(Debug, Default, Clone)]
struct DirAnalysis {
    /// New-data payload size -> count (for write-unit inference).
    sizes: HashMap<u32, u64>,
    sizes_overflow: bool,
    /// Exact writes per segment (size or log) -> count.
    wps_size: BTreeMap<u64, u64>,
    wps_log: BTreeMap<u64, u64>,
    /// Messages per segment from the protocol's framing.
    wps_framing: BTreeMap<u64, u64>,
    /// Boxed: most flows never use it, and the flow table holds many.
    framing: Box<DirFraming>,
    /// The log is still consistent with this direction's bytes.
    log_active: bool,
    log_started: bool,
    write_delays: Vec<Option<i64>>,
    send_intervals: Vec<i64>,
    send_interval_stride: u64,
    send_interval_count: u64,
    releases: Vec<Release>,
    violations: u64,
    violations_recovery: u64,
    /// Aggregated segments (by exact writes) sent with 2+ segments in flight.
    agg_in_flight: u64,
    /// Aggregated segments sent with the peer's window nearly full.
    agg_window_limited: u64,
    last_data_ts: Option<TsNs>,
    /// (ts, offset, len, writes, retransmission) when series are kept.
    series_segments: Thinned<(TsNs, i64, u32, Option<u64>, bool)>,
    series_acks: Thinned<(TsNs, i64)>,
}

impl DirAnalysis {
    fn push_interval(&mut self, v: i64) {
        self.send_interval_count += 1;
        if self.send_interval_stride == 0 {
            self.send_interval_stride = 1;
        }
        if self
            .send_interval_count
            .is_multiple_of(self.send_interval_stride)
        {
            self.send_intervals.push(v);
            if self.send_intervals.len() >= 1 << 16 {
                let mut i = 0;
                self.send_intervals.retain(|_| {
                    i += 1;
                    i % 2 == 0
                });
                self.send_interval_stride *= 2;
            }
        }
    }
}

/// Writes whose last byte lies in `(start, end]` for fixed-size writes.
fn writes_ending_in(start: i64, end: i64, unit: u32) -> u64 {
    let u = unit.max(1) as i64;
    (end.div_euclid(u) - start.div_euclid(u)).max(0) as u64
}

impl FlowObserver for FlowAnalysis {
    fn on_data(&mut self, ev: &DataEvent) {
        self.advice.on_data(ev);
        let cfg = &self.cfg;
        let da = &mut self.dirs[ev.dir];
        // Framing sees every segment (a retransmission may carry new bytes);
        // only new data counts below.
        let (server, client) = if ev.dir == C2S {
            (ev.dst_port, ev.src_port)
        } else {
            (ev.src_port, ev.dst_port)
        };
        let framed = da.framing.segment(
            || cfg.framing.for_ports(server, client),
            ev.start,
            ev.len,
            ev.payload,
        );
        if !matches!(ev.kind, SegmentKind::New | SegmentKind::OutOfOrder) {
            if cfg.series && ev.kind == SegmentKind::Retransmission {
                da.series_segments
                    .push((ev.ts, ev.start, ev.len, None, true));
            }
            return;
        }
        let start = ev.start;
        let end = ev.start + ev.len as i64;

        // Size histogram for inference.
        if let Some(c) = da.sizes.get_mut(&ev.len) {
            *c += 1;
        } else if da.sizes.len() < MAX_SIZES {
            da.sizes.insert(ev.len, 1);
        } else {
            da.sizes_overflow = true;
        }

        // Exact writes per segment.
        let mut exact_writes = None;
        let mut first_write_call: Option<TsNs> = None;
        if let Some(n) = cfg.write_size {
            let w = writes_ending_in(start, end, n);
            *da.wps_size.entry(w).or_default() += 1;
            exact_writes = Some(w);
        }
        if let Some(log) = &cfg.log {
            if !da.log_started {
                da.log_started = true;
                da.log_active = start == 0;
                if da.log_active {
                    da.write_delays = vec![None; log.len().min(MAX_WRITE_DELAYS)];
                }
            }
            if da.log_active && end as u64 > log.total() {
                // More bytes than the log holds: not the logged direction.
                da.log_active = false;
                da.write_delays = Vec::new();
                da.wps_log.clear();
            }
            if da.log_active && start >= 0 {
                let lo = log.ends.partition_point(|&e| e <= start as u64);
                let hi = log.ends.partition_point(|&e| e <= end as u64);
                let w = (hi - lo) as u64;
                *da.wps_log.entry(w).or_default() += 1;
                if hi > lo {
                    first_write_call = log.times.get(lo).copied();
                }
                for i in lo..hi.min(da.write_delays.len()) {
                    da.write_delays[i] = Some(ev.ts.saturating_sub(log.times[i]));
                }
                exact_writes = Some(w);
            }
        }
        if let Some(w) = framed {
            *da.wps_framing.entry(w).or_default() += 1;
            exact_writes = exact_writes.or(Some(w));
        }

        if cfg.series {
            da.series_segments
                .push((ev.ts, start, ev.len, exact_writes, false));
        }
        if let Some(prev) = da.last_data_ts {
            da.push_interval(ev.ts - prev);
        }
        da.last_data_ts = Some(ev.ts);

        if !ev.small {
            return;
        }
        // Minshall's rule: a small segment while an earlier small one is
        // unacknowledged. Loss recovery, FIN and probes after a long silence
        // (tail loss probes wait at least 2·RTT + 200 ms with one segment
        // out) are exempt: the kernel sends those whatever Nagle says.
        if ev.prev_small_unacked {
            let probe = ev.since_prev_send.is_some_and(|g| g >= 200_000_000);
            if ev.in_recovery || ev.fin || probe || ev.kind == SegmentKind::OutOfOrder {
                da.violations_recovery += 1;
            } else {
                da.violations += 1;
            }
        } else if let Some(gap) = ev.since_prev_small_acked {
            if da.releases.len() < MAX_RELEASES {
                da.releases.push(Release {
                    ts: ev.ts,
                    gap,
                    ack_wait: ev.prev_small_ack_wait,
                    writes: exact_writes,
                    len: ev.len,
                    pure_ack: ev.prev_small_acked_by_pure_ack,
                    held: first_write_call.map(|t| t < ev.ts - gap),
                });
            }
        }
        if exact_writes.is_some_and(|w| w >= 2) {
            if ev.segments_in_flight >= 2 {
                da.agg_in_flight += 1;
            }
            // No room left in the peer's receive window for another segment
            // of this size: the window held the data back.
            if let Some(w) = ev.peer_window {
                if ev.in_flight as u64 + 2 * ev.len as u64 > w {
                    da.agg_window_limited += 1;
                }
            }
        }
    }

    fn on_ack(&mut self, ev: &AckEvent) {
        self.advice.on_ack(ev);
        if self.cfg.series && ev.newly_acked > 0 {
            self.dirs[ev.dir].series_acks.push((ev.ts, ev.ack));
        }
    }
}

fn quantile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(idx.min(sorted.len() - 1)).copied()
}

fn stats_ms(values: &[i64], count: u64) -> report::Stats {
    let mut v = values.to_vec();
    v.sort_unstable();
    report::Stats {
        min: v.first().map(|&x| ms(x)),
        median: quantile(&v, 0.5).map(ms),
        p90: quantile(&v, 0.9).map(ms),
        max: v.last().map(|&x| ms(x)),
        samples: count,
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn hist_summary(h: &BTreeMap<u64, u64>) -> report::WritesPerSegment {
    let n: u64 = h.values().sum();
    let total: u64 = h.iter().map(|(w, c)| w * c).sum();
    let mut median = None;
    let mut acc = 0;
    for (w, c) in h {
        acc += c;
        if median.is_none() && acc * 2 >= n {
            median = Some(*w as f64);
        }
    }
    report::WritesPerSegment {
        mean: (n > 0).then(|| total as f64 / n as f64),
        median,
        max: h.keys().next_back().copied(),
        histogram: h.clone(),
    }
}

/// The write unit inferred from payload sizes: the greatest common divisor
/// of the small segments' sizes, trusted as far as the share of small
/// segments that are exactly one unit long (the first segment after an
/// idle period is usually one write).
fn infer_unit(sizes: &HashMap<u32, u64>, mss: Option<u32>) -> Option<(u32, WriteConfidence)> {
    let small: Vec<(u32, u64)> = sizes
        .iter()
        .filter(|(s, _)| mss.is_none_or(|m| **s < m))
        .map(|(s, c)| (*s, *c))
        .collect();
    let n: u64 = small.iter().map(|x| x.1).sum();
    if n < 3 {
        return None;
    }
    let g = small.iter().fold(0u64, |g, (s, _)| gcd(g, *s as u64)) as u32;
    let ones: u64 = small.iter().filter(|(s, _)| *s == g).map(|x| x.1).sum();
    let share = ones as f64 / n as f64;
    if g == 0 || (g == 1 && share < 0.5) {
        return None;
    }
    let conf = if share >= 0.5 {
        WriteConfidence::High
    } else if share >= 0.2 {
        WriteConfidence::Medium
    } else {
        WriteConfidence::Low
    };
    if share < 0.05 {
        return None;
    }
    Some((g, conf))
}

/// Path RTT, vantage and the capture→sender part of the path per direction.
struct PathTiming {
    rtt: Option<i64>,
    rtt_source: Option<RttSource>,
    vantage: Vantage,
    /// near[d]: capture → sender of `d` → capture (ns).
    near: [Option<i64>; 2],
}

fn path_timing(f: &FlowSummary) -> PathTiming {
    let split = f.handshake.split().filter(|(a, b)| *a >= 0 && *b >= 0);
    let far = |d: Dir| -> Option<(i64, RttSource)> {
        let a = f.dirs[d].ack_rtt.min.map(|v| (v, RttSource::DataAck));
        let t = f.dirs[d].ts_rtt.min.map(|v| (v, RttSource::Timestamps));
        match (a, t) {
            (Some(a), Some(t)) => Some(if t.0 < a.0 { t } else { a }),
            (a, t) => a.or(t),
        }
    };
    let vantage = match split {
        Some((a, b)) if a + b > 0 => {
            let total = (a + b) as f64;
            if (b as f64) <= 0.1 * total {
                Vantage::Client
            } else if (a as f64) <= 0.1 * total {
                Vantage::Server
            } else {
                Vantage::Middle
            }
        }
        _ => Vantage::Unknown,
    };
    // near(sender of C2S = client) = capture→client→capture.
    let mut near = [None, None];
    for d in [C2S, S2C] {
        let from_samples = far(1 - d).map(|x| x.0);
        let from_handshake = split.map(|(a, b)| if d == C2S { b } else { a });
        near[d] = match (from_samples, from_handshake) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        if near[d].is_none() {
            // The capture was taken at the sender: nothing between.
            let at_sender = (d == C2S && vantage == Vantage::Client) || (d == S2C && vantage == Vantage::Server);
            if at_sender {
                near[d] = Some(0);
            }
        }
    }
    let mut best: Option<(i64, RttSource)> = split.map(|(a, b)| (a + b, RttSource::Handshake));
    for d in [C2S, S2C] {
        if let (Some((fv, src)), Some(n)) = (far(d), near[d]) {
            let cand = fv + n;
            if best.is_none_or(|b| cand < b.0) {
                best = Some((cand, src));
            }
        }
    }
    if best.is_none() {
        // One side only, capture point unknown: the far part is all we have.
        for d in [C2S, S2C] {
            if let Some((fv, src)) = far(d) {
                if best.is_none_or(|b| fv < b.0) {
                    best = Some((fv, src));
                }
            }
        }
    }
    PathTiming {
        rtt: best.map(|b| b.0),
        rtt_source: best.map(|b| b.1),
        vantage,
        near,
    }
}

/// A timer-like cluster in ACK delays: the most populated 1 ms bin above
/// 1 ms, widened to ±25 %, if it holds at least 3 samples and a tenth of the
/// delays above 1 ms.
fn timer_cluster(delays: &[i64]) -> Option<(f64, u64)> {
    let long: Vec<i64> = delays.iter().copied().filter(|&d| d > 1_000_000).collect();
    if long.len() < 3 {
        return None;
    }
    let mut bins: BTreeMap<i64, u64> = BTreeMap::new();
    for d in &long {
        *bins.entry(d / 1_000_000).or_default() += 1;
    }
    let (&bin, _) = bins.iter().max_by_key(|(b, c)| (**c, -**b))?;
    let center = (bin as f64 + 0.5) * 1e6;
    let mut members: Vec<i64> = long
        .iter()
        .copied()
        .filter(|&d| (d as f64 - center).abs() <= 0.25 * center)
        .collect();
    if members.len() < 3 || members.len() * 10 < long.len() {
        return None;
    }
    members.sort_unstable();
    Some((ms(quantile(&members, 0.5)?), members.len() as u64))
}

fn addr(a: &std::net::SocketAddr) -> String {
    a.to_string()
}

/// Turn a finished flow into its report entry.
pub fn finish(f: &FlowSummary, an: FlowAnalysis) -> report::Flow {
    let timing = path_timing(f);
    let rtt = timing.rtt;
    let mut notes = Vec::new();
    if !f.handshake_seen {
        notes.push(
            "no handshake seen: client is the first sender, MSS and window scale may be unknown"
                .to_string(),
        );
    }
    let FlowAnalysis { cfg, dirs, advice } = an;

    // Full-path samples: raw data→ACK + the capture→sender part.
    let mut full: Vec<i64> = Vec::new();
    let mut full_count = 0;
    for d in [C2S, S2C] {
        if let Some(n) = timing.near[d] {
            full.extend(f.dirs[d].ack_rtt.values.iter().map(|v| v + n));
            full_count += f.dirs[d].ack_rtt.count;
        }
    }
    full.sort_unstable();
    let rtt_ms = report::Rtt {
        handshake: f.handshake.split().map(|(a, b)| ms(a + b)),
        min: rtt.map(ms),
        median: quantile(&full, 0.5).map(ms),
        p90: quantile(&full, 0.9).map(ms),
        samples: full_count,
        source: timing.rtt_source,
    };

    // Which direction does the write log belong to? The one whose bytes
    // match the log's total exactly, else the one that came closest; on a
    // tie, the one where writes reach the wire soonest (the sender's own
    // log precedes its segments by microseconds to an RTT, the peer's
    // stream follows a request/response turn later).
    let log_dir: Option<Dir> = cfg.log.as_ref().and_then(|log| {
        let fits = |d: Dir| dirs[d].log_active && f.dirs[d].payload_bytes > 0;
        let median_delay = |d: Dir| {
            let mut v: Vec<i64> = dirs[d]
                .write_delays
                .iter()
                .flatten()
                .map(|x| x.saturating_abs())
                .collect();
            v.sort_unstable();
            quantile(&v, 0.5).unwrap_or(i64::MAX)
        };
        [C2S, S2C]
            .into_iter()
            .filter(|&d| fits(d))
            .max_by_key(|&d| {
                (
                    f.dirs[d].payload_bytes == log.total(),
                    f.dirs[d].payload_bytes,
                    std::cmp::Reverse(median_delay(d)),
                )
            })
    });
    // The median gap between write calls, for the direction that owns the log.
    let log_write_gap: Option<i64> = cfg.log.as_ref().and_then(|log| log.median_gap());

    let mut directions = Vec::new();
    for (d, da) in dirs.into_iter().enumerate() {
        let st = &f.dirs[d];
        let (from, to) = if d == C2S {
            (f.client, f.server)
        } else {
            (f.server, f.client)
        };
        let mss = f.mss[d];
        let mss_source = mss.map(|_| {
            if st.mss_option.is_some() || f.dirs[1 - d].mss_option.is_some() {
                MssSource::Syn
            } else {
                MssSource::LargestPayload
            }
        });

        // Framing: used when it decoded at least one message over at least
        // half of this direction's data segments; else the note says why
        // not and inference takes over.
        let fr = &da.framing;
        let dir_name = if d == C2S {
            "client→server"
        } else {
            "server→client"
        };
        let framing_used = fr.framing.is_some()
            && fr.messages > 0
            && fr.segments * 2 >= st.data_segments
            && st.data_segments > 0;
        let framing_status = framing_status(fr, framing_used, st.data_segments);
        if let Some(why) = framing_note(fr, framing_used, st.data_segments) {
            notes.push(format!("{dir_name}: {why}"));
        }

        // Write boundaries: log > size > framing > inferred.
        let mut write_source = None;
        let mut write_unit = None;
        let mut confidence = None;
        let mut wps: Option<BTreeMap<u64, u64>> = None;
        let mut write_delay = None;
        let mut writes = None;
        if log_dir == Some(d) {
            let log = cfg.log.as_ref().expect("log");
            write_source = Some(WriteSource::Log);
            confidence = Some(WriteConfidence::Exact);
            writes = Some(log.len() as u64);
            wps = Some(da.wps_log.clone());
            let mut v: Vec<i64> = da.write_delays.iter().flatten().copied().collect();
            v.sort_unstable();
            // Summed in i128: log times are the user's and may be anywhere in i64.
            let mean = (!v.is_empty())
                .then(|| ms((v.iter().map(|&x| x as i128).sum::<i128>() / v.len() as i128) as i64));
            write_delay = Some(report::WriteDelay {
                median: quantile(&v, 0.5).map(ms),
                p90: quantile(&v, 0.9).map(ms),
                max: v.last().map(|&x| ms(x)),
                mean,
                per_write: da.write_delays.iter().map(|x| x.map(ms)).collect(),
            });
        } else if let Some(n) = cfg.write_size {
            write_source = Some(WriteSource::Size);
            write_unit = Some(n);
            confidence = Some(WriteConfidence::Exact);
            wps = Some(da.wps_size.clone());
            writes = Some(st.payload_bytes / n.max(1) as u64);
        } else if framing_used {
            write_source = fr.framing.map(|f| WriteSource::Framing(f.to_string()));
            confidence = Some(WriteConfidence::Protocol);
            writes = Some(fr.messages);
            wps = Some(da.wps_framing.clone());
        } else if st.data_segments > 0 {
            if let Some((unit, conf)) = infer_unit(&da.sizes, mss) {
                write_source = Some(WriteSource::Inferred);
                write_unit = Some(unit);
                confidence = Some(conf);
                let mut h = BTreeMap::new();
                for (size, c) in &da.sizes {
                    let w = ((*size as f64 / unit as f64).round() as u64).max(1);
                    *h.entry(w).or_default() += c;
                }
                writes = Some(h.iter().map(|(w, c)| w * c).sum());
                wps = Some(h);
            }
        }
        let wps_summary = wps.as_ref().map(hist_summary);
        let aggregated = wps.as_ref().map(|h| {
            h.iter()
                .filter(|(w, _)| **w >= 2)
                .map(|(_, c)| c)
                .sum::<u64>()
        });
        let aggregated_writes = wps.as_ref().map(|h| {
            h.iter()
                .filter(|(w, _)| **w >= 2)
                .map(|(w, c)| (w - 1) * c)
                .sum::<u64>()
        });

        // Send intervals.
        let mut iv = da.send_intervals.clone();
        iv.sort_unstable();
        let iv_median = quantile(&iv, 0.5);
        let send_interval = report::SendInterval {
            median: iv_median.map(ms),
            p90: quantile(&iv, 0.9).map(ms),
            rtt_ratio: match (iv_median, rtt) {
                (Some(m), Some(r)) if r > 0 => Some(m as f64 / r as f64),
                _ => None,
            },
        };

        // ACK delay of this direction's receiver: full sample - path RTT.
        let mut ack_delays: Vec<i64> = Vec::new();
        if let (Some(n), Some(r)) = (timing.near[d], rtt) {
            ack_delays = st
                .ack_rtt
                .values
                .iter()
                .map(|v| (v + n - r).max(0))
                .collect();
        }
        ack_delays.sort_unstable();
        let cluster = timer_cluster(&ack_delays);
        let ack_delay = report::AckDelay {
            median: quantile(&ack_delays, 0.5).map(ms),
            p90: quantile(&ack_delays, 0.9).map(ms),
            max: ack_delays.last().map(|&x| ms(x)),
            samples: ack_delays.len() as u64,
            timer_ms: cluster.map(|c| c.0),
            timer_samples: cluster.map_or(0, |c| c.1),
        };

        // Released by an ACK: the small segment left within the tolerance
        // after the ACK of the previous small segment reached the capture
        // point. Tolerance = the capture→sender→capture time (0 at the
        // sender) + max(0.25 ms, 10 % of the path RTT): the sender's kernel
        // releases held data within microseconds of processing the ACK, and
        // the margin absorbs scheduling noise on a busy host.
        let near = timing.near[d].unwrap_or(0);
        let tol = near + (rtt.unwrap_or(0) / 10).max(250_000);
        let released: Vec<&Release> = da.releases.iter().filter(|r| r.gap <= tol).collect();
        let ack_clocked = released.len() as u64;
        // As evidence only releases by a pure ACK count: a segment that
        // follows an ACK carrying the peer's data is the application
        // answering (request/response), not the kernel releasing held data.
        let by_pure_ack: Vec<&&Release> = released.iter().filter(|r| r.pure_ack).collect();
        let clocked_pure = by_pure_ack.len() as u64;
        let released_agg = by_pure_ack
            .iter()
            .filter(|r| r.writes.is_some_and(|w| w >= 2))
            .count() as u64;
        let released_held = released.iter().filter(|r| r.held == Some(true)).count() as u64;
        let released_agg_inferred = write_unit.map_or(0, |u| {
            by_pure_ack.iter().filter(|r| r.len >= 2 * u).count() as u64
        });

        // Stalls: a small segment released by an ACK that the peer had
        // delayed by at least max(2 ms, half the path RTT) and, when a timer
        // cluster was found, by at least half that timer.
        let mut stall_events = Vec::new();
        let mut stall_count = 0u64;
        let mut stall_total = 0i64;
        let mut stall_delays: Vec<i64> = Vec::new();
        if let Some(r) = rtt {
            let mut threshold = (r / 2).max(2_000_000);
            if let Some((t, _)) = cluster {
                threshold = threshold.max((t * 1e6 / 2.0) as i64);
            }
            for rel in released.iter().filter(|r| r.pure_ack) {
                if let Some(w) = rel.ack_wait {
                    let delay = w.saturating_add(near).saturating_sub(r);
                    if delay >= threshold {
                        stall_count += 1;
                        stall_total = stall_total.saturating_add(delay);
                        stall_delays.push(delay);
                        if stall_events.len() < MAX_STALL_EVENTS {
                            stall_events.push(report::StallEvent {
                                ts: secs(rel.ts),
                                ms: ms(delay),
                            });
                        }
                    }
                }
            }
        }

        stall_delays.sort_unstable();
        let stall_median_ms = quantile(&stall_delays, 0.5).map(ms);

        // Writes spaced wider than the RTT: from the log when it is this
        // direction's, else from the send intervals (20 % margin).
        let wide_writes = match (log_dir == Some(d), log_write_gap, rtt) {
            (true, Some(g), Some(r)) => (g > r).then(|| ms(g)),
            _ => send_interval
                .rtt_ratio
                .is_some_and(|x| x > 1.2)
                .then(|| send_interval.median.unwrap_or(0.0)),
        };

        // The verdict.
        let rtt_ms_f = rtt.map(ms);
        let (verdict, mut evidence) = nagle_verdict(&VerdictInput {
            data_segments: st.data_segments,
            small_segments: st.small_segments,
            violations: da.violations,
            released_held,
            released_aggregated: released_agg.max(released_agg_inferred),
            writes_exact: write_source.as_ref().is_some_and(WriteSource::is_exact),
            clocked_pure,
            pure_share_ok: by_pure_ack.len() * 2 >= da.releases.len(),
            rtt_ratio: send_interval.rtt_ratio,
            stalls: stall_count,
            stall_median_ms,
            wide_writes_ms: wide_writes,
            rtt_ms: rtt_ms_f,
            tolerance_ms: ms(tol),
        });
        if da.violations_recovery > 0 {
            evidence.push(format!(
                "{} small segment(s) overlapped inside loss recovery, carried a FIN, or were probes (not counted)",
                da.violations_recovery
            ));
        }

        // A stall is Nagle holding data: with Nagle off there is none, only
        // a slow ACK.
        if verdict == Verdict::Off {
            stall_count = 0;
            stall_total = 0;
            stall_events.clear();
        }

        // Other causes of coalescing.
        let mut causes = Vec::new();
        if verdict == Verdict::On && aggregated.unwrap_or(0) > 0 {
            causes.push(CoalescingCause::Nagle);
        }
        if da.agg_in_flight > 0 && verdict != Verdict::On {
            causes.push(CoalescingCause::Cwnd);
        }
        if da.agg_window_limited > 0
            || st.zero_window > 0 && d == C2S && f.dirs[S2C].zero_window > 0
        {
            causes.push(CoalescingCause::Rwnd);
        }
        if st.oversize_segments > 0 {
            causes.push(CoalescingCause::Tso);
        }

        let seen_at = match (timing.vantage, d) {
            (Vantage::Client, C2S) | (Vantage::Server, S2C) => Some("seen at the sender"),
            (Vantage::Client, _) | (Vantage::Server, _) => {
                Some("seen at the receiver: send timings include the path")
            }
            (Vantage::Middle, _) => Some("seen between the hosts"),
            _ => None,
        };
        let summary = direction_summary(
            seen_at,
            &from.to_string(),
            &to.to_string(),
            verdict,
            wps_summary.as_ref(),
            send_interval.rtt_ratio,
            rtt_ms_f,
            write_delay.as_ref(),
            stall_count,
            stall_total,
            st.data_segments,
        );

        directions.push(report::Direction {
            from: addr(&from),
            to: addr(&to),
            frames: st.frames,
            wire_bytes: st.wire_bytes,
            data_segments: st.data_segments,
            payload_bytes: st.payload_bytes,
            all_payload_bytes: st.all_payload_bytes,
            retransmissions: st.retransmissions,
            out_of_order: st.out_of_order,
            keepalives: st.keepalives,
            zero_window: st.zero_window,
            mss,
            mss_source,
            small_segments: st.small_segments,
            oversize_segments: st.oversize_segments,
            timestamps: st.timestamps,
            window_scale: st.window_scale,
            truncated_frames: st.truncated_frames,
            ack_rtt_ms: stats_ms(&st.ack_rtt.values, st.ack_rtt.count),
            write_source,
            write_unit,
            write_confidence: confidence,
            writes,
            writes_per_segment: wps_summary,
            aggregated_segments: aggregated,
            aggregated_writes,
            send_interval_ms: send_interval,
            ack_clocked_segments: ack_clocked,
            nagle: report::Nagle {
                verdict,
                evidence,
                small_while_unacked: da.violations,
                small_while_unacked_in_recovery: da.violations_recovery,
                release_tolerance_ms: Some(ms(tol)),
            },
            coalescing_causes: causes,
            ack_delay_ms: ack_delay,
            stalls: report::Stalls {
                count: stall_count,
                total_ms: ms(stall_total),
                events: stall_events,
            },
            write_delay_ms: write_delay,
            framing: framing_status,
            summary,
            series: cfg.series.then(|| {
                let t0 = f.start_ts;
                report::Series {
                    segments: da
                        .series_segments
                        .points
                        .iter()
                        .map(
                            |&(ts, offset, len, writes, retransmission)| report::SeriesSegment {
                                t: secs(ts - t0),
                                offset,
                                len,
                                writes,
                                retransmission,
                            },
                        )
                        .collect(),
                    acks: da
                        .series_acks
                        .points
                        .iter()
                        .map(|&(ts, ack)| report::SeriesAck {
                            t: secs(ts - t0),
                            ack,
                        })
                        .collect(),
                    segment_stride: da.series_segments.stride.max(1),
                    ack_stride: da.series_acks.stride.max(1),
                }
            }),
        });
    }

    match timing.vantage {
        Vantage::Server => notes.push(
            "captured at the server: client→server timings are seen after the path, at the receiver".into(),
        ),
        Vantage::Middle => notes.push("captured between the hosts: each side's timing is seen part-way".into()),
        _ => {}
    }
    if let (Some(h), Some(r)) = (f.handshake.split().map(|(a, b)| a + b), rtt) {
        if h > 1_000_000 && h > 10 * r {
            notes.push(format!(
                "the handshake took {:.1} ms but data is acknowledged within {:.3} ms: a middlebox (NAT, proxy) near the capture point is probably answering for the far end",
                ms(h),
                ms(r)
            ));
        }
    }
    if f.dirs.iter().any(|d| d.oversize_segments > 0) {
        notes.push("segments larger than the MSS: TSO/GSO or GRO merged segments at the capture point, so segment counts are lower than on the wire".into());
    }
    if f.dirs.iter().any(|d| d.truncated_frames > 0) {
        notes.push("some frames were cut by the snaplen: lengths come from the IP header".into());
    }
    let forgotten: u64 = f.dirs.iter().map(|d| d.outstanding_overflow).sum();
    if forgotten > 0 {
        notes.push(format!(
            "{forgotten} unacknowledged segments were forgotten (outstanding-data limit, --max-outstanding): no RTT samples from them"
        ));
    }

    let mut flow = report::Flow {
        id: f.id,
        capture: 0,
        client: addr(&f.client),
        server: addr(&f.server),
        handshake_seen: f.handshake_seen,
        start_ts: secs(f.start_ts),
        end_ts: secs(f.end_ts),
        vantage: timing.vantage,
        rtt_ms,
        directions,
        notes,
        evicted: f.evicted,
        advice: Vec::new(),
    };
    flow.advice = crate::advice::advise(f, &advice, &flow);
    flow
}

/// What the Nagle verdict is decided from (see [`nagle_verdict`]).
#[derive(Debug, Clone, Default)]
struct VerdictInput {
    data_segments: u64,
    small_segments: u64,
    /// Small segments sent while an earlier one was unacknowledged, outside
    /// loss recovery, FINs and probes.
    violations: u64,
    /// Releases whose writes were called before the releasing ACK (log).
    released_held: u64,
    /// Releases by a pure ACK carrying two or more writes.
    released_aggregated: u64,
    /// Write boundaries are exact (a write log or `--write-size`), not
    /// protocol messages or inferred: one message is not always one write
    /// (a TLS library may emit several records per write), so without exact
    /// boundaries one aggregated release is not enough.
    writes_exact: bool,
    /// Small segments released by a pure ACK.
    clocked_pure: u64,
    /// At least half of the releases came after a pure ACK.
    pure_share_ok: bool,
    rtt_ratio: Option<f64>,
    stalls: u64,
    stall_median_ms: Option<f64>,
    /// The median gap between writes when it exceeds the RTT.
    wide_writes_ms: Option<f64>,
    rtt_ms: Option<f64>,
    tolerance_ms: f64,
}

/// The Nagle verdict and its evidence, rule by rule (README "The Nagle
/// verdict"): `off` as soon as two small segments were unacknowledged at
/// once; `on` on held writes, aggregated releases, ACK-clocked pacing or
/// repeated stalls; otherwise `inconclusive` with the reason.
fn nagle_verdict(e: &VerdictInput) -> (Verdict, Vec<String>) {
    let mut evidence = Vec::new();
    let none_overlapped =
        || "no small segment was sent while another small segment was unacknowledged".to_string();
    let v = e.violations;
    let verdict = if e.data_segments == 0 {
        evidence.push("no data sent in this direction".to_string());
        Verdict::Inconclusive
    } else if e.small_segments == 0 {
        evidence.push("no segment below the MSS: Nagle only holds small segments".to_string());
        Verdict::Inconclusive
    } else if v >= 2 || (v == 1 && e.released_aggregated == 0) {
        evidence.push(format!(
            "{v} small segment(s) were sent while an earlier small segment was still unacknowledged (outside loss recovery); Nagle's algorithm forbids that"
        ));
        Verdict::Off
    } else if e.released_held >= 1 {
        evidence.push(format!(
            "{} segment(s) carried writes that were called before the ACK of the previous small segment and left within {:.2} ms of that ACK: the kernel held them",
            e.released_held, e.tolerance_ms
        ));
        evidence.push(none_overlapped());
        Verdict::On
    } else if e.released_aggregated >= if e.writes_exact { 1 } else { 2 } {
        evidence.push(format!(
            "{} segment(s) carrying 2 or more writes left within {:.2} ms of the ACK of the previous small segment",
            e.released_aggregated, e.tolerance_ms
        ));
        evidence.push(none_overlapped());
        Verdict::On
    } else if e.clocked_pure >= 3
        && e.rtt_ratio.is_some_and(|x| (0.7..=1.5).contains(&x))
        && e.pure_share_ok
    {
        evidence.push(format!(
            "{} small segments left right after a pure ACK of the previous one, and sends are paced at {:.2} × RTT",
            e.clocked_pure,
            e.rtt_ratio.unwrap_or(0.0)
        ));
        Verdict::On
    } else if e.stalls >= 2 {
        evidence.push(format!(
            "{} small segment(s) waited for an ACK the peer delayed (pure ACK after {:.1} ms on median) and left right after it: the write-write-read stall of Nagle with delayed ACK",
            e.stalls,
            e.stall_median_ms.unwrap_or(0.0)
        ));
        evidence.push(none_overlapped());
        Verdict::On
    } else if let Some(gap) = e.wide_writes_ms {
        evidence.push(format!(
            "writes were spaced wider than the RTT (median {gap:.2} ms apart, RTT {:.2} ms): Nagle never had to hold anything",
            e.rtt_ms.unwrap_or(0.0)
        ));
        Verdict::Inconclusive
    } else {
        evidence.push("too little evidence either way".to_string());
        Verdict::Inconclusive
    };
    if verdict == Verdict::On {
        if let Some(gap) = e.wide_writes_ms {
            evidence.push(format!(
                "writes were spaced wider than the RTT (median {gap:.2} ms apart, RTT {:.2} ms): Nagle held data only when an ACK came late",
                e.rtt_ms.unwrap_or(0.0)
            ));
        }
    }
    (verdict, evidence)
}

/// The report's `framing` object of a direction (None when framing was off).
fn framing_status(
    fr: &DirFraming,
    used: bool,
    data_segments: u64,
) -> Option<report::FramingStatus> {
    let status = match (&fr.outcome, used) {
        (Outcome::Off, _) => return None,
        (Outcome::NotRecognised, _) => FramingState::NotRecognised,
        (Outcome::Active, true) => FramingState::Used,
        (Outcome::Stopped(_), true) => FramingState::Partial,
        (_, false) => FramingState::NotUsed,
    };
    Some(report::FramingStatus {
        protocol: fr.framing.map(|f| f.to_string()),
        status,
        messages: fr.messages,
        segments: fr.segments,
        data_segments,
        gaps: fr.gaps,
        stopped: match &fr.outcome {
            Outcome::Stopped(why) => Some(why.clone()),
            _ => None,
        },
    })
}

/// A flow note when framing stopped or could not be applied.
fn framing_note(fr: &DirFraming, used: bool, data_segments: u64) -> Option<String> {
    let name = fr.source().unwrap_or_else(|| "framing".to_string());
    match (&fr.outcome, used) {
        (Outcome::Stopped(why), true) => Some(format!(
            "{name} stopped ({why}): writes per segment cover the first {} of {data_segments} data segments",
            fr.segments
        )),
        (Outcome::Stopped(why), false) => Some(format!(
            "{name} could not be applied ({why}); write boundaries come from the other sources"
        )),
        (Outcome::Active, false) if fr.framing.is_some() && data_segments > 0 => Some(format!(
            "{name} found {} message end(s) in {} segment(s): not used",
            fr.messages, fr.segments
        )),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn direction_summary(
    seen_at: Option<&str>,
    from: &str,
    to: &str,
    verdict: Verdict,
    wps: Option<&report::WritesPerSegment>,
    ratio: Option<f64>,
    rtt: Option<f64>,
    delay: Option<&report::WriteDelay>,
    stalls: u64,
    stall_ms: i64,
    data_segments: u64,
) -> String {
    let mut s = format!("{from} → {to}: ");
    if data_segments == 0 {
        s.push_str("no data");
        return s;
    }
    s.push_str(match verdict {
        Verdict::On => "Nagle ON",
        Verdict::Off => "Nagle OFF",
        Verdict::Inconclusive => "Nagle inconclusive",
    });
    if let Some(m) = wps.and_then(|w| w.mean) {
        s.push_str(&format!(", {m:.1} writes per segment on average"));
    }
    if let (Some(x), Some(r)) = (ratio, rtt) {
        let digits = if r < 1.0 { 3 } else { 1 };
        s.push_str(&format!(", sends paced at {x:.2} × RTT ({r:.digits$} ms)"));
    }
    if let Some(d) = delay {
        if let (Some(mean), n) = (d.mean, d.per_write.len()) {
            s.push_str(&format!("; {n} writes waited {mean:.1} ms on average"));
        }
    }
    if stalls > 0 {
        s.push_str(&format!(
            "; {stalls} Nagle/delayed-ACK stall(s) cost {:.0} ms",
            ms(stall_ms)
        ));
    }
    if verdict == Verdict::On {
        s.push_str("; setting TCP_NODELAY would remove that wait");
    }
    if let Some(v) = seen_at {
        s.push_str(&format!(" ({v})"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_size_writes_ending_in_segment() {
        assert_eq!(writes_ending_in(0, 4, 4), 1);
        assert_eq!(writes_ending_in(4, 12, 4), 2);
        assert_eq!(writes_ending_in(2, 5, 4), 1);
        assert_eq!(writes_ending_in(5, 7, 4), 0);
    }

    #[test]
    fn unit_inference() {
        let mut s = HashMap::new();
        s.insert(4, 10);
        s.insert(8, 5);
        s.insert(12, 2);
        assert_eq!(infer_unit(&s, Some(1448)), Some((4, WriteConfidence::High)));
        let mut t = HashMap::new();
        t.insert(37, 3);
        t.insert(52, 3);
        t.insert(100, 3);
        assert_eq!(infer_unit(&t, Some(1448)), None);
    }

    #[test]
    fn timer_cluster_found_near_40ms() {
        let mut d: Vec<i64> = (0..20).map(|i| 39_000_000 + i * 100_000).collect();
        d.extend([100_000, 200_000, 5_000_000]);
        let (t, n) = timer_cluster(&d).unwrap();
        assert!((39.0..41.0).contains(&t), "{t}");
        assert_eq!(n, 20);
        assert!(timer_cluster(&[100_000, 200_000]).is_none());
    }

    #[test]
    fn histogram_summary() {
        let mut h = BTreeMap::new();
        h.insert(1, 2);
        h.insert(3, 2);
        let s = hist_summary(&h);
        assert_eq!(s.mean, Some(2.0));
        assert_eq!(s.max, Some(3));
        assert_eq!(s.median, Some(1.0));
    }

    fn input() -> VerdictInput {
        VerdictInput {
            data_segments: 100,
            small_segments: 100,
            tolerance_ms: 0.25,
            rtt_ms: Some(40.0),
            ..Default::default()
        }
    }

    #[test]
    fn verdict_rules() {
        // Two small segments unacknowledged at once: off, whatever else.
        let off = VerdictInput {
            violations: 2,
            released_held: 5,
            ..input()
        };
        assert_eq!(nagle_verdict(&off).0, Verdict::Off);
        // One overlap but an aggregated release: not enough for off.
        let one = VerdictInput {
            violations: 1,
            released_aggregated: 1,
            writes_exact: true,
            ..input()
        };
        assert_eq!(nagle_verdict(&one).0, Verdict::On);
        // Without exact write boundaries (protocol messages, inference), one
        // aggregated release may be one write of several messages: two are
        // needed.
        let messages = |n| VerdictInput {
            released_aggregated: n,
            ..input()
        };
        assert_eq!(nagle_verdict(&messages(1)).0, Verdict::Inconclusive);
        assert_eq!(nagle_verdict(&messages(2)).0, Verdict::On);
        // A single held write is enough for on.
        assert_eq!(
            nagle_verdict(&VerdictInput {
                released_held: 1,
                ..input()
            })
            .0,
            Verdict::On
        );
        // Pacing needs three pure-ACK releases at about one RTT.
        let paced = VerdictInput {
            clocked_pure: 3,
            pure_share_ok: true,
            rtt_ratio: Some(1.0),
            ..input()
        };
        assert_eq!(nagle_verdict(&paced).0, Verdict::On);
        let slow = VerdictInput {
            rtt_ratio: Some(2.0),
            ..paced.clone()
        };
        assert_eq!(nagle_verdict(&slow).0, Verdict::Inconclusive);
        // One stall could be chance; two are a pattern.
        assert_eq!(
            nagle_verdict(&VerdictInput {
                stalls: 1,
                ..input()
            })
            .0,
            Verdict::Inconclusive
        );
        assert_eq!(
            nagle_verdict(&VerdictInput {
                stalls: 2,
                ..input()
            })
            .0,
            Verdict::On
        );
        // Wide writes: inconclusive with that reason, or a note on an on.
        let wide = VerdictInput {
            wide_writes_ms: Some(50.0),
            ..input()
        };
        let (v, ev) = nagle_verdict(&wide);
        assert_eq!(v, Verdict::Inconclusive);
        assert!(ev[0].contains("Nagle never had to hold anything"));
        let (v, ev) = nagle_verdict(&VerdictInput {
            released_held: 3,
            ..wide
        });
        assert_eq!(v, Verdict::On);
        assert!(ev.last().unwrap().contains("only when an ACK came late"));
        // Bulk: no small segments.
        let bulk = VerdictInput {
            small_segments: 0,
            violations: 9,
            ..input()
        };
        assert_eq!(nagle_verdict(&bulk).0, Verdict::Inconclusive);
    }
}

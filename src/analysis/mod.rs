//! Stage 4: what a flow's events mean.
//!
//! [`FlowAnalysis`] observes one connection's [`DataEvent`]s and
//! [`AckEvent`]s (streaming, bounded memory: `observe`) and, when the flow
//! is finished, [`finish`] turns those records with the tracker's
//! [`FlowSummary`] into a [`report::Flow`] through named stages, each with
//! one job and a small typed result:
//!
//! 1. `path` — path RTT, vantage point, capture→sender part per direction;
//! 2. `framed` — whether the protocol framing gives the write boundaries;
//! 3. `boundaries` — write boundaries (log > size > framing > inferred):
//!    source, unit, confidence, writes per segment, write delays;
//! 4. `intervals` — send intervals against the RTT, wide writes;
//! 5. `ack_delay` — the receiver's ACK delays and their timer cluster;
//! 6. `releases` — ACK-clocked segments, by pure ACK, held, aggregated;
//! 7. `stalls` — Nagle × delayed-ACK stalls;
//! 8. `verdict` — the Nagle verdict and its evidence;
//! 9. `causes` — other causes of coalescing;
//! 10. `notes` and `summary` — the flow's notes, each direction's sentence;
//!
//! then `series` (chart points) and the advice (`crate::advice::advise`).
//!
//! What it does not do: parse bytes (that is `decode`; application payload
//! is read only by `crate::framing`), track sequence numbers (that is
//! `flow`), give advice (that is `advice`) or print anything (that is
//! `render`). Every rule is written down next to the code that applies it,
//! and the README ("How the numbers are made") repeats them in a paragraph
//! each.

mod ack_delay;
mod boundaries;
pub use boundaries::inferred_writes;
mod causes;
mod framed;
mod infer;
mod intervals;
mod kernel;
mod logs;
mod minshall;
mod notes;
mod observe;
mod path;
mod releases;
mod series;
mod stalls;
mod stats;
mod summary;
mod verdict;

pub(crate) use verdict::frames_text;

#[cfg(doc)]
use crate::flow::{AckEvent, DataEvent};
use crate::flow::{Dir, DirStats, FlowSummary, Pair, C2S, S2C};
use crate::framing::FramingRules;
use crate::report::{self, ms, secs, MssSource};
use crate::writes::SharedLog;
use observe::DirAnalysis;
use path::PathTiming;
use std::sync::Arc;

/// How write boundaries are known.
#[derive(Debug, Clone, Default)]
pub struct AnalysisConfig {
    /// Every write is this many bytes (`--write-size`).
    pub write_size: Option<u32>,
    /// The write log (`--writes`): every socket it shows; each direction
    /// takes the writes that fit it (`logs`).
    pub log: Option<SharedLog>,
    /// Keep per-segment time series for charts.
    pub series: bool,
    /// Write boundaries from the protocol's framing (`--framing`).
    pub framing: FramingRules,
}

/// Per-flow analysis state; one per connection, fed by the tracker.
#[derive(Debug, Clone)]
pub struct FlowAnalysis {
    cfg: Arc<AnalysisConfig>,
    dirs: Pair<DirAnalysis>,
    advice: Box<crate::advice::Collector>,
    /// The connection's ends and start, kept only with a write log.
    open: Option<Box<logs::FlowOpen>>,
}

impl FlowAnalysis {
    pub fn new(cfg: Arc<AnalysisConfig>) -> Self {
        FlowAnalysis {
            cfg,
            dirs: Pair::default(),
            advice: Default::default(),
            open: None,
        }
    }
}

/// What every direction of a flow is analysed against.
struct FlowContext<'a> {
    f: &'a FlowSummary,
    cfg: &'a AnalysisConfig,
    timing: PathTiming,
    /// Each direction's applied write log.
    logs: Pair<Option<logs::Applied>>,
    /// The client's and the server's address as the report writes them,
    /// formatted once per flow (a flood finishes a million of them).
    client: String,
    server: String,
}

/// Turn a finished flow into its report entry.
pub fn finish(f: &FlowSummary, an: FlowAnalysis) -> report::Flow {
    let FlowAnalysis {
        cfg,
        mut dirs,
        advice,
        ..
    } = an;
    let mut notes: Vec<String> = notes::handshake_note(f).into_iter().collect();
    let applied = resolve_logs(f, &cfg, &mut dirs, &mut notes);
    let ctx = FlowContext {
        f,
        cfg: &cfg,
        timing: path::path_timing(f),
        logs: applied,
        client: f.client.to_string(),
        server: f.server.to_string(),
    };
    let mut directions = Vec::new();
    for (d, da) in dirs.into_iter_dirs() {
        let (direction, framing_note) = direction(&ctx, d, &da);
        notes.extend(framing_note);
        directions.push(direction);
    }
    notes.extend(notes::capture_notes(f, &ctx.timing));
    let mut flow = report::Flow {
        id: f.id,
        capture: 0,
        client: ctx.client,
        server: ctx.server,
        handshake_seen: f.handshake_seen,
        start_ts: secs(f.start_ts),
        end_ts: secs(f.end_ts),
        vantage: ctx.timing.vantage,
        rtt_ms: path::rtt_report(f, &ctx.timing),
        directions,
        notes,
        evicted: f.evicted,
        advice: Vec::new(),
        capture_drops: None,
    };
    flow.advice = crate::advice::advise(f, &advice, &flow);
    flow
}

/// Stage 3a (`logs`): check each direction's candidate writes, apply the
/// one that fits, and note the refusals.
fn resolve_logs(
    f: &FlowSummary,
    cfg: &AnalysisConfig,
    dirs: &mut Pair<DirAnalysis>,
    notes: &mut Vec<String>,
) -> Pair<Option<logs::Applied>> {
    let mut applied = Pair::<Option<logs::Applied>>::default();
    let Some(shared) = cfg.log.as_ref() else {
        return applied;
    };
    let set = &*shared.read();
    let mut out = Pair::from_fn(|d| match dirs[d].logs.take() {
        Some(l) => {
            let last = dirs[d].last_data_ts.unwrap_or(f.end_ts);
            logs::check(set, *l, f.dirs[d].payload_bytes, last)
        }
        None => logs::Outcome::NoCandidate,
    });
    logs::settle(&mut out);
    for (d, o) in out.into_iter_dirs() {
        notes.extend(logs::refusal_note(set, &o, side(d)));
        applied[d] = logs::apply(&mut dirs[d], o);
    }
    applied
}

fn side(d: Dir) -> &'static str {
    if d == C2S {
        "client→server"
    } else {
        "server→client"
    }
}

/// What was measured in one direction (stages 2–7).
struct Measured {
    framing: framed::FramingUse,
    bounds: boundaries::WriteBoundaries,
    writes_per_segment: Option<report::WritesPerSegment>,
    send_interval: report::SendInterval,
    /// Median gap between writes (ms) when wider than the RTT.
    wide_writes: Option<f64>,
    ack_delay: ack_delay::AckDelays,
    minshall: minshall::Minshall,
    releases: releases::Releases,
    stalls: stalls::Stalls,
}

/// What was concluded from it (stages 8–10).
struct Judged {
    nagle: report::Nagle,
    causes: Vec<report::CoalescingCause>,
    summary: String,
}

/// One direction's report entry, and its framing note if any.
fn direction(ctx: &FlowContext, d: Dir, da: &DirAnalysis) -> (report::Direction, Vec<String>) {
    let mut m = measure(ctx, d, da);
    let judged = judge(ctx, d, da, &mut m);
    let mut note: Vec<String> = m
        .framing
        .note
        .take()
        .map(|why| format!("{}: {why}", side(d)))
        .into_iter()
        .collect();
    if da.smalls_overflow > 0 {
        note.push(format!(
            "{}: {} small segments past the first {} were not judged by Minshall's rule or as releases (memory cap)",
            side(d),
            da.smalls_overflow,
            da.smalls.len()
        ));
    }
    let series = ctx
        .cfg
        .series
        .then(|| series::series(da, ctx.f.start_ts, ctx.logs[d].as_ref()));
    let report = direction_report(ctx, d, m, judged, series);
    if let Some(k) = &report.nagle.kernel {
        note.extend(kernel::disagreement_note(k, report.nagle.verdict, side(d)));
    }
    (report, note)
}

/// Stages 2–7 for direction `d`, in order.
fn measure(ctx: &FlowContext, d: Dir, da: &DirAnalysis) -> Measured {
    let (st, rtt) = (&ctx.f.dirs[d], ctx.timing.rtt);
    let near = ctx.timing.near[d];
    let log = ctx.logs[d].as_ref();
    let framing = framed::framing_use(&da.framing, st.data_segments);
    let bounds = boundaries::write_boundaries(&boundaries::BoundaryInput {
        log,
        write_size: ctx.cfg.write_size,
        framing: framing.used.then_some(&*da.framing),
        data_segments: st.data_segments,
        payload_bytes: st.payload_bytes,
        mss: ctx.f.mss[d],
        da,
    });
    let send_interval = intervals::send_interval(&da.send_intervals, rtt);
    let log_gap = log.and_then(|log| log.writes.median_gap());
    let wide_writes = intervals::wide_writes(log_gap, rtt, &send_interval);
    let frame = &ctx.timing.frame[d];
    let pure = da.pure_ack_samples.values();
    let ack_delay = ack_delay::ack_delays(st.ack_rtt.values(), pure, near, rtt);
    let minshall = minshall::minshall(&da.smalls, frame, rtt);
    // A low-confidence unit gives writes per segment, never evidence.
    let claim_unit = bounds.unit.filter(|_| bounds.supports_claims());
    let releases = releases::releases(&minshall.candidates, frame, claim_unit);
    let timer_ms = ack_delay.timer.map(|t| t.0);
    let stalls = stalls::stalls(&releases.by_pure_ack, frame, rtt, timer_ms);
    let mut bounds = bounds;
    bounds.delay = bounds.delay.map(|w| path::in_sender_frame(w, frame));
    Measured {
        framing,
        writes_per_segment: bounds.summary(),
        bounds,
        send_interval,
        wide_writes,
        ack_delay,
        minshall,
        releases,
        stalls,
    }
}

/// Stages 8–10: the verdict (which also clears the stalls of an `off`),
/// the causes of coalescing and the summary sentence.
fn judge(ctx: &FlowContext, d: Dir, da: &DirAnalysis, m: &mut Measured) -> Judged {
    let (f, st) = (ctx.f, &ctx.f.dirs[d]);
    let nagle = nagle(ctx, d, st, m);
    m.stalls.drop_unless_nagle(nagle.verdict);
    let claim_unit = m.bounds.unit.filter(|_| m.bounds.supports_claims());
    let batched = m.bounds.messages()
        || matches!(
            m.bounds.source,
            Some(report::WriteSource::Log | report::WriteSource::Kernel)
        );
    let causes = causes::coalescing_causes(&causes::CauseInput {
        verdict: nagle.verdict,
        aggregated: m
            .bounds
            .aggregated_segments()
            .filter(|_| m.bounds.supports_claims()),
        agg_in_flight: da.agg_in_flight,
        agg_window_limited: da.agg_window_limited,
        zero_window_both: st.zero_window > 0 && d == C2S && f.dirs[S2C].zero_window > 0,
        oversize_segments: st.oversize_segments,
        waited: causes::waited(&m.minshall.candidates, m.releases.tolerance, claim_unit),
        held: m.releases.held,
        free: batched.then_some(da.agg_free as u64),
    });
    let (from, to) = endpoints(ctx, d);
    let summary = summary::direction_summary(&summary::SummaryInput {
        seen_at: summary::seen_at(ctx.timing.vantage, d, ms(ctx.timing.frame[d].near)),
        from,
        to,
        verdict: nagle.verdict,
        writes_per_segment: m.writes_per_segment.as_ref(),
        messages: m.bounds.messages(),
        rtt_ratio: m.send_interval.rtt_ratio,
        rtt: ctx.timing.rtt.map(ms),
        write_delay: m.bounds.delay.as_ref(),
        stalls: m.stalls.count,
        stall_ns: m.stalls.total,
        data_segments: st.data_segments,
    });
    Judged {
        nagle,
        causes,
        summary,
    }
}

/// The report's `nagle` object: the verdict from the measured findings.
fn nagle(ctx: &FlowContext, d: Dir, st: &DirStats, m: &Measured) -> report::Nagle {
    let r = &m.releases;
    let input = verdict::VerdictInput {
        data_segments: st.data_segments,
        small_segments: st.small_segments,
        violations: m.minshall.violations,
        violations_recovery: m.minshall.violations_recovery,
        mid_queue: m.minshall.mid_queue,
        frame: Some(ctx.timing.frame[d].source),
        released_held: r.held,
        released_aggregated: r.aggregated.max(r.aggregated_inferred),
        writes_exact: m.bounds.exact(),
        clocked_pure: r.by_pure_ack.len() as u64,
        pure_share_ok: r.pure_share_ok,
        rtt_ratio: m.send_interval.rtt_ratio,
        coincidences: r.coincidences(m.send_interval.median.map(|x| (x * 1e6) as i64)),
        stalls: m.stalls.count,
        stall_median_ms: m.stalls.median_ms,
        wide_writes_ms: m.wide_writes,
        rtt_ms: ctx.timing.rtt.map(ms),
        tolerance_ms: ms(r.tolerance),
        frames: verdict::EvidenceFrames {
            violations: m.minshall.violation_frames.clone(),
            held: r.held_frames.clone(),
            aggregated: r.aggregated_frames.clone(),
            clocked: r
                .by_pure_ack
                .iter()
                .take(releases::EVIDENCE_FRAMES)
                .map(|x| x.frame)
                .collect(),
            stalls: m
                .stalls
                .events
                .iter()
                .take(releases::EVIDENCE_FRAMES)
                .map(|x| x.frame)
                .collect(),
        },
    };
    let (verdict, evidence) = verdict::nagle_verdict(&input);
    report::Nagle {
        verdict,
        evidence,
        small_while_unacked: m.minshall.violations,
        small_while_unacked_in_recovery: m.minshall.violations_recovery,
        release_tolerance_ms: Some(ms(r.tolerance)),
        evidence_frames: verdict::deciding_frames(&input, verdict),
        kernel: kernel::kernel_nagle(ctx.logs[d].as_ref(), verdict),
    }
}

/// Sender and receiver of direction `d`.
fn endpoints<'c>(ctx: &'c FlowContext, d: Dir) -> (&'c str, &'c str) {
    if d == C2S {
        (&ctx.client, &ctx.server)
    } else {
        (&ctx.server, &ctx.client)
    }
}

/// Where the MSS came from: a SYN's option (either side's), else the
/// largest payload seen.
fn mss_source(f: &FlowSummary, d: Dir) -> Option<MssSource> {
    f.mss[d].map(|_| {
        if f.dirs[d].mss_option.is_some() || f.dirs[d.reverse()].mss_option.is_some() {
            MssSource::Syn
        } else {
            MssSource::LargestPayload
        }
    })
}

/// Assemble the report entry of direction `d` from the tracker's counters
/// and the findings.
fn direction_report(
    ctx: &FlowContext,
    d: Dir,
    m: Measured,
    j: Judged,
    series: Option<report::Series>,
) -> report::Direction {
    let st = &ctx.f.dirs[d];
    let (from, to) = endpoints(ctx, d);
    report::Direction {
        from: from.to_owned(),
        to: to.to_owned(),
        frames: st.frames,
        wire_bytes: st.wire_bytes,
        data_segments: st.data_segments,
        payload_bytes: st.payload_bytes,
        all_payload_bytes: st.all_payload_bytes,
        retransmissions: st.retransmissions,
        out_of_order: st.out_of_order,
        fast_retransmissions: st.fast_retransmissions.into(),
        spurious_retransmissions: st.spurious_retransmissions.into(),
        keepalives: st.keepalives,
        zero_window: st.zero_window,
        capture_gaps: report::CaptureGaps {
            count: st.capture_gaps.count.into(),
            bytes: st.capture_gaps.bytes,
            untracked: st.capture_gaps.untracked.into(),
        },
        mss: ctx.f.mss[d],
        mss_source: mss_source(ctx.f, d),
        small_segments: st.small_segments,
        oversize_segments: st.oversize_segments,
        timestamps: st.timestamps,
        window_scale: st.window_scale,
        truncated_frames: st.truncated_frames,
        ack_rtt_ms: stats::stats_ms(st.ack_rtt.values(), st.ack_rtt.count()),
        aggregated_segments: m.bounds.aggregated_segments(),
        aggregated_writes: m.bounds.aggregated_writes(),
        write_source: m.bounds.source,
        write_unit: m.bounds.unit,
        write_confidence: m.bounds.confidence,
        write_inference: m.bounds.inference.as_ref().map(|i| i.report()),
        writes: m.bounds.writes,
        writes_per_segment: m.writes_per_segment,
        send_interval_ms: m.send_interval,
        ack_clocked_segments: m.releases.ack_clocked,
        sender_frame: ctx.timing.frame[d].report(ctx.timing.rtt),
        nagle: j.nagle,
        coalescing_causes: j.causes,
        ack_delay_ms: m.ack_delay.report,
        stalls: m.stalls.report(),
        write_delay_ms: m.bounds.delay,
        framing: m.framing.status,
        summary: j.summary,
        series,
    }
}

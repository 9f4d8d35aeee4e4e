//! Stage 1, path timing: the path RTT, the vantage point, and how far the
//! capture point is from each sender.
//!
//! Rules (README "Path RTT" and "Vantage point"): the vantage is `client`
//! when the client's ACK follows the SYN/ACK within 10 % of the handshake
//! time, `server` when the SYN/ACK follows the SYN within 10 %, otherwise
//! `middle`, and `unknown` without a handshake. The capture → sender →
//! capture part of each direction ("near") is the smallest sample of the
//! other direction or the handshake split, whichever is smaller. The path
//! RTT is the smallest of the handshake RTT and each direction's smallest
//! sample (data→ACK or timestamp echo) plus its near part.
//!
//! Away from the sender each direction's frame also carries the path's
//! delay variation as seen from the capture point (`jitter`): the mean
//! absolute deviation, as RFC 6298's RTTVAR, of the near samples — the
//! other direction's data→ACK samples, each one trip capture → sender →
//! capture plus the sender's ACK latency. Only the samples within
//! [`STALL_MIN_DELAY`] (5 ms) of their median count: a sample further out
//! shows the sender's delayed-ACK timer or its application, not the path
//! (the stall rule draws the same line). At least [`MIN_JITTER_SAMPLES`] of
//! them are needed; otherwise, and at the sender or on one host, there is
//! none.
//! Timestamp echoes are left out on purpose: at the receiver a sender's
//! next segment echoes the TSval of the ACK before it, so those samples
//! include the very ACK → departure gaps the release rule judges.
//! This stage does not look at the analysis' per-segment records.

use super::stalls::STALL_MIN_DELAY;
use super::stats::quantile;
use crate::flow::{Dir, FlowSummary, Pair, C2S, S2C};
use crate::report::{self, ms, FrameSource, RttSource, Vantage};

/// Path RTT, vantage and the capture→sender part of the path per direction.
pub(super) struct PathTiming {
    pub rtt: Option<i64>,
    pub rtt_source: Option<RttSource>,
    pub vantage: Vantage,
    /// near[d]: capture → sender of `d` → capture (ns).
    pub near: Pair<Option<i64>>,
    /// Each direction's sender frame (see [`SenderFrame`]).
    pub frame: Pair<SenderFrame>,
}

/// Where the capture point sits for one direction: every event is moved
/// into the sender's frame by it. A data segment seen at time t left the
/// sender at t − near/2; an ACK seen at t reached the sender at t + near/2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct SenderFrame {
    /// Capture → sender → capture (ns); 0 when unknown (taken as seen).
    pub near: i64,
    /// The delay variation of that trip (ns, module docs); None at the
    /// sender, on one host, or when not measured.
    pub jitter: Option<i64>,
    pub source: FrameSource,
}

/// Near samples needed for a delay variation: fewer are not a spread.
pub(super) const MIN_JITTER_SAMPLES: usize = 5;

/// The delay variation of near samples (raw, ns): the mean absolute
/// deviation from their mean of those within [`STALL_MIN_DELAY`] of the
/// median; None with fewer than [`MIN_JITTER_SAMPLES`] of them.
pub(super) fn jitter(samples: &[i64]) -> Option<i64> {
    let mut v = samples.to_vec();
    v.sort_unstable();
    let median = quantile(&v, 0.5)?;
    v.retain(|s| (s - median).abs() < STALL_MIN_DELAY);
    if v.len() < MIN_JITTER_SAMPLES {
        return None;
    }
    let n = v.len() as i128;
    let mean = (v.iter().map(|&s| s as i128).sum::<i128>() / n) as i64;
    let dev: i128 = v.iter().map(|&s| (s - mean).abs() as i128).sum();
    Some((dev / n) as i64)
}

impl SenderFrame {
    /// How far an event may stray from the sender's frame: nothing at the
    /// sender; a tenth of the near part (at least 0.1 ms) otherwise, for the
    /// path's jitter and the estimate's error.
    pub fn margin(&self) -> i64 {
        if self.near == 0 {
            0
        } else {
            (self.near / 10).max(100_000)
        }
    }

    /// Half the near part: the capture point's one-way distance from the sender.
    pub fn half(&self) -> i64 {
        self.near / 2
    }

    pub fn report(&self, rtt: Option<i64>) -> report::SenderFrame {
        report::SenderFrame {
            near_ms: ms(self.near),
            far_ms: rtt.map(|r| ms((r - self.near).max(0))),
            jitter_ms: self.jitter.map(ms),
            source: self.source,
        }
    }
}

/// Write waits moved into the sender's frame: a segment seen at the
/// capture point left the sender `near/2` earlier (floored at 0).
pub(super) fn in_sender_frame(
    mut w: report::WriteDelay,
    frame: &SenderFrame,
) -> report::WriteDelay {
    if frame.near == 0 {
        return w;
    }
    let half = ms(frame.half());
    let shift = |x: f64| (x - half).max(0.0);
    w.median = w.median.map(shift);
    w.p90 = w.p90.map(shift);
    w.max = w.max.map(shift);
    w.mean = w.mean.map(shift);
    for x in w.per_write.iter_mut().flatten() {
        *x = shift(*x);
    }
    w
}

/// Both ends on one host: loopback, or the same address.
fn local(f: &FlowSummary) -> bool {
    let (c, s) = (f.client.ip().to_canonical(), f.server.ip().to_canonical());
    c == s || (c.is_loopback() && s.is_loopback())
}

/// The sender frame of `d` from its near part, how it was found, and the
/// near samples' variation (`jitter`, used only away from the sender).
fn sender_frame(
    d: Dir,
    split: Option<(i64, i64)>,
    vantage: Vantage,
    near: Option<i64>,
    jitter: Option<i64>,
) -> SenderFrame {
    let at_sender =
        (d == C2S && vantage == Vantage::Client) || (d == S2C && vantage == Vantage::Server);
    let from_handshake = split.map(|(a, b)| if d == C2S { b } else { a });
    let source = match near {
        _ if vantage == Vantage::Local => FrameSource::Local,
        None => FrameSource::Unknown,
        Some(_) if at_sender => FrameSource::Sender,
        Some(n) if Some(n) == from_handshake => FrameSource::Handshake,
        Some(_) => FrameSource::Samples,
    };
    // At the sender nothing lies between: what the samples add there is
    // the sender's own processing, not path.
    let near = if matches!(source, FrameSource::Sender | FrameSource::Local) {
        0
    } else {
        near.unwrap_or(0).max(0)
    };
    let jitter = jitter.filter(|_| near > 0);
    SenderFrame {
        near,
        jitter,
        source,
    }
}

/// The handshake split, when both parts are non-negative.
fn plausible_split(f: &FlowSummary) -> Option<(i64, i64)> {
    f.handshake.split().filter(|(a, b)| *a >= 0 && *b >= 0)
}

/// Direction `d`'s smallest sample (capture → receiver → capture plus the
/// receiver's ACK delay) and where it came from; timestamps win a tie.
fn far(f: &FlowSummary, d: Dir) -> Option<(i64, RttSource)> {
    let a = f.dirs[d].ack_rtt.min().map(|v| (v, RttSource::DataAck));
    let t = f.dirs[d].ts_rtt.min().map(|v| (v, RttSource::Timestamps));
    match (a, t) {
        (Some(a), Some(t)) => Some(if t.0 < a.0 { t } else { a }),
        (a, t) => a.or(t),
    }
}

/// The vantage point from the handshake split (capture→server→capture,
/// capture→client→capture): at an end when its part is within 10 %.
pub(super) fn vantage(split: Option<(i64, i64)>) -> Vantage {
    match split {
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
    }
}

/// The capture → sender of `d` → capture time: the smaller of the other
/// direction's smallest sample and the handshake part; 0 when nothing is
/// known but the capture was taken at that sender.
fn near(f: &FlowSummary, d: Dir, split: Option<(i64, i64)>, vantage: Vantage) -> Option<i64> {
    if vantage == Vantage::Local {
        // Both senders are on the capturing host.
        return Some(0);
    }
    let from_samples = far(f, d.reverse()).map(|x| x.0);
    let from_handshake = split.map(|(a, b)| if d == C2S { b } else { a });
    let n = match (from_samples, from_handshake) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    // The capture was taken at the sender: nothing between.
    let at_sender =
        (d == C2S && vantage == Vantage::Client) || (d == S2C && vantage == Vantage::Server);
    n.or(at_sender.then_some(0))
}

/// The smallest full-path estimate: the handshake RTT, or a direction's
/// smallest sample plus its near part; with neither, the smallest sample.
fn best_rtt(
    f: &FlowSummary,
    split: Option<(i64, i64)>,
    near: &Pair<Option<i64>>,
) -> Option<(i64, RttSource)> {
    let mut best: Option<(i64, RttSource)> = split.map(|(a, b)| (a + b, RttSource::Handshake));
    for d in [C2S, S2C] {
        if let (Some((fv, src)), Some(n)) = (far(f, d), near[d]) {
            let cand = fv + n;
            if best.is_none_or(|b| cand < b.0) {
                best = Some((cand, src));
            }
        }
    }
    if best.is_none() {
        // One side only, capture point unknown: the far part is all we have.
        for d in [C2S, S2C] {
            if let Some((fv, src)) = far(f, d) {
                if best.is_none_or(|b| fv < b.0) {
                    best = Some((fv, src));
                }
            }
        }
    }
    best
}

pub(super) fn path_timing(f: &FlowSummary) -> PathTiming {
    let split = plausible_split(f);
    let vantage = if local(f) {
        Vantage::Local
    } else {
        vantage(split)
    };
    let near = Pair::from_fn(|d| near(f, d, split, vantage));
    let best = best_rtt(f, split, &near);
    let frame = Pair::from_fn(|d| {
        let samples = f.dirs[d.reverse()].ack_rtt.values();
        sender_frame(d, split, vantage, near[d], jitter(samples))
    });
    PathTiming {
        rtt: best.map(|b| b.0),
        rtt_source: best.map(|b| b.1),
        vantage,
        near,
        frame,
    }
}

/// The flow's `rtt_ms`: the path RTT, and the data→ACK samples brought to
/// the full path (raw sample + the capture→sender part).
pub(super) fn rtt_report(f: &FlowSummary, timing: &PathTiming) -> report::Rtt {
    let mut full: Vec<i64> = Vec::new();
    let mut full_count = 0;
    for d in [C2S, S2C] {
        if let Some(n) = timing.near[d] {
            full.extend(f.dirs[d].ack_rtt.values().iter().map(|v| v + n));
            full_count += f.dirs[d].ack_rtt.count();
        }
    }
    full.sort_unstable();
    report::Rtt {
        handshake: f.handshake.split().map(|(a, b)| ms(a + b)),
        min: timing.rtt.map(ms),
        median: quantile(&full, 0.5).map(ms),
        p90: quantile(&full, 0.9).map(ms),
        samples: full_count,
        source: timing.rtt_source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vantage_from_the_handshake_split() {
        // SYN/ACK 20 ms after the SYN, ACK 0.1 ms after: at the client.
        assert_eq!(vantage(Some((20_000_000, 100_000))), Vantage::Client);
        // SYN/ACK right after the SYN: at the server.
        assert_eq!(vantage(Some((100_000, 20_000_000))), Vantage::Server);
        // Exactly 10 % still counts as at the end.
        assert_eq!(vantage(Some((9, 1))), Vantage::Client);
        assert_eq!(vantage(Some((6, 4))), Vantage::Middle);
        assert_eq!(vantage(Some((0, 0))), Vantage::Unknown);
        assert_eq!(vantage(None), Vantage::Unknown);
    }

    fn flow(syn: i64, syn_ack: i64, ack: i64) -> FlowSummary {
        FlowSummary {
            id: 0,
            client: "10.0.0.1:40000".parse().unwrap(),
            server: "10.0.0.2:80".parse().unwrap(),
            handshake: crate::flow::Handshake {
                syn: Some(syn),
                syn_ack: Some(syn_ack),
                ack: Some(ack),
            },
            handshake_seen: true,
            start_ts: syn,
            end_ts: ack,
            dirs: Default::default(),
            mss: Pair::default(),
            evicted: false,
        }
    }

    #[test]
    fn path_rtt_combines_the_directions() {
        // Captured at the client of a 20 ms path (handshake 20.1 ms): the
        // client's data is acknowledged after 20 ms, the server's after
        // 0.05 ms. Near part of the client: 0.05 ms; of the server: 20 ms.
        let mut f = flow(0, 20_100_000, 20_200_000);
        f.dirs[C2S].ack_rtt.push(20_000_000);
        f.dirs[S2C].ack_rtt.push(50_000);
        let t = path_timing(&f);
        assert_eq!(t.vantage, Vantage::Client);
        assert_eq!(t.near, Pair::new(Some(50_000), Some(20_000_000)));
        assert_eq!(t.rtt, Some(20_050_000));
        assert_eq!(t.rtt_source, Some(RttSource::DataAck));
        // No samples: the handshake; at the sender the near part is 0.
        let t = path_timing(&flow(0, 20_000_000, 20_000_000));
        assert_eq!(
            (t.rtt, t.rtt_source),
            (Some(20_000_000), Some(RttSource::Handshake))
        );
        assert_eq!(t.near, Pair::new(Some(0), Some(20_000_000)));
        assert_eq!(t.frame[C2S].source, FrameSource::Sender);
        assert_eq!(t.frame[S2C].source, FrameSource::Handshake);
        assert_eq!(t.frame[S2C].margin(), 2_000_000);
        assert_eq!(t.frame[C2S].margin(), 0);
        // Both ends on one host: nothing between the capture and a sender.
        let mut lo = flow(0, 100_000, 200_000);
        lo.client = "127.0.0.1:40000".parse().unwrap();
        lo.server = "127.0.0.1:80".parse().unwrap();
        let t = path_timing(&lo);
        assert_eq!(t.vantage, Vantage::Local);
        assert_eq!(t.near, Pair::new(Some(0), Some(0)));
        assert_eq!(t.frame[S2C].source, FrameSource::Local);
    }

    #[test]
    fn jitter_is_the_spread_of_the_near_samples_around_their_median() {
        let ms = |x: f64| (x * 1e6) as i64;
        // Too few samples: no measure.
        assert_eq!(jitter(&[ms(40.0); 4]), None);
        assert_eq!(jitter(&[ms(40.0); 5]), Some(0));
        // A quick ACK at 40 ms among replies acknowledged 20 ms later (the
        // client's think time): only the cluster around the median counts.
        let mut v = vec![ms(40.1)];
        v.extend([60.8, 60.9, 61.0, 60.9, 60.8, 61.0].map(ms));
        assert_eq!(jitter(&v), Some(66_666));
        // Delayed ACKs 40 ms out do not inflate it either.
        v.extend([100.9, 101.0].map(ms));
        assert_eq!(jitter(&v), Some(66_666));
    }

    #[test]
    fn jitter_only_away_from_the_sender() {
        // At the client of a 20 ms path, the server's data acknowledged
        // after 20 ms ± 1 ms, the client's at once: the client's direction
        // (captured at its sender) gets none, the server's gets 1 ms.
        let mut f = flow(0, 20_100_000, 20_200_000);
        for i in 0..10 {
            let wobble = if i % 2 == 0 { 1_000_000 } else { -1_000_000 };
            f.dirs[S2C].ack_rtt.push(50_000);
            f.dirs[C2S].ack_rtt.push(21_000_000 + wobble);
        }
        let t = path_timing(&f);
        assert_eq!(t.frame[C2S].jitter, None);
        assert_eq!(t.frame[S2C].near, 20_000_000);
        assert_eq!(t.frame[S2C].jitter, Some(1_000_000));
        assert_eq!(t.frame[S2C].report(t.rtt).jitter_ms, Some(1.0));
    }

    #[test]
    fn write_waits_move_into_the_senders_frame() {
        let w = report::WriteDelay {
            median: Some(40.0),
            p90: Some(41.0),
            max: Some(50.0),
            mean: Some(40.5),
            per_write: vec![Some(40.0), None, Some(10.0)],
        };
        let frame = SenderFrame {
            near: 40_000_000,
            jitter: None,
            source: FrameSource::Handshake,
        };
        let v = in_sender_frame(w, &frame);
        assert_eq!(
            (v.median, v.max, v.mean),
            (Some(20.0), Some(30.0), Some(20.5))
        );
        assert_eq!(v.per_write, vec![Some(20.0), None, Some(0.0)]);
    }
}

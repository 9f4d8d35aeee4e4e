//! Stage 4b: from evidence to advice — which socket option to turn.
//!
//! [`Collector`] rides along with the analysis (it is fed the same
//! [`DataEvent`]s and [`AckEvent`]s, bounded memory) and gathers what the
//! per-direction report does not keep: request/response turns and their
//! segment counts, bytes in flight against the peer's window, keep-alive
//! probe times and the idle time before them, and the first data after the
//! handshake. [`advise`] then applies the rules below to the tracker's
//! [`FlowSummary`], the collector and the finished [`report::Flow`], and
//! returns the flow's advice, most costly first (time the pattern cost in
//! this capture, then packets).
//!
//! The rules, each with the packet pattern it looks for (the README repeats
//! them under "Advice"):
//!
//! 1. **TCP_NODELAY** on a writer / **TCP_QUICKACK** on its peer: the
//!    direction has Nagle × delayed-ACK stalls (a small segment held until
//!    a pure ACK that the peer delayed, see `analysis`). Saving: the stall
//!    total (and the median per stall).
//! 2. **TCP_CORK / MSG_MORE**: in a request/response exchange (at least 2
//!    turns: a turn is a run of data segments one way until the other side
//!    sends data), a turn carried more segments than its bytes need
//!    (⌈bytes / MSS⌉), on average at least half a segment more per turn.
//!    Saving: packets per transaction and their header bytes.
//!    **Tinygrams** (also `TCP_CORK`; TCP_NODELAY set where it need not be): the Nagle
//!    verdict is "off", at least 20 small segments, sent faster than the
//!    path RTT outside a request/response exchange; with Nagle at most one
//!    small segment per RTT would leave. Saving: the segments beyond
//!    max(⌈bytes / MSS⌉, duration / RTT) and their headers.
//! 3. **TCP_DEFER_ACCEPT** (server) / client-side TCP_DEFER_ACCEPT or
//!    TCP_QUICKACK=0: the handshake's third packet was a pure ACK and the
//!    client's request followed it at least 1 ms later (the client spoke
//!    first; a request right behind the ACK leaves nothing to defer). Saving: the
//!    pure ACK (one packet per connection) and an accept() that returns
//!    before the request is there. When the server speaks first (a banner
//!    protocol), the advice is the opposite: do not set it.
//! 4. **SO_RCVBUF** on the receiver: a bulk direction (≥ 64 KiB, ≥ 20
//!    segments) where at least 30 % of new segments were sent with no room
//!    left in the peer's advertised window for another full segment (bytes
//!    in flight pinned at the window). The measured rate × path RTT is the
//!    BDP the window allowed; advice: a buffer of at least twice the largest
//!    window seen, or target-rate × RTT. Saving: up to half the transfer
//!    time if the path has room (the capture cannot show whether it has).
//! 5. **SO_SNDBUF** on the sender (or the application): a bulk direction
//!    whose bytes in flight plateau (90th percentile within 10 % of the
//!    maximum) below 60 % of the smallest window the peer advertised during
//!    the transfer, with no retransmission (loss would explain a congestion
//!    window limit instead).
//! 6. **Zero window**: the receiver advertised a window of 0; episodes and
//!    their total time (from the first zero window to the next non-zero
//!    one). The application reads too slowly; SO_RCVBUF only postpones it.
//!    Saving: the total zero-window time.
//! 7. **SO_KEEPALIVE** (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT):
//!    keep-alive probes (0 or 1 byte at next sequence − 1, while the peer's
//!    window is open; with a zero window the same segment is a window
//!    probe and is not counted): idle time before the first probe, interval
//!    between probes, compared with Linux's 7200 s / 75 s / 9.
//! 8. **listen backlog** (`listen()` backlog, `net.core.somaxconn`,
//!    `tcp_max_syn_backlog`): the client's SYN retransmitted (answered late
//!    or never), or the server's SYN/ACK retransmitted after the client's
//!    ACK was seen (Linux drops that ACK when the accept queue is full), or
//!    a SYN/ACK that drops the window-scale and SACK options the SYN
//!    offered (consistent with SYN cookies). Loss on the path gives the same
//!    packets: the advice says "consistent with", never "is".
//!
//! What it does not do: guess options a capture cannot show. [`CANNOT_SHOW`]
//! lists them, and the renderers print it once per report.

use crate::flow::{AckEvent, DataEvent, Dir, FlowSummary, Pair, SegmentKind, C2S, S2C};
use crate::report::{self, ms, Advice, AdviceOption, Side, Vantage, Verdict};
use crate::TsNs;

/// Socket options and settings a capture cannot reveal.
pub const CANNOT_SHOW: &[&str] = &[
    "SO_REUSEPORT / SO_REUSEADDR: how listening sockets share a port leaves no trace in the packets of one connection",
    "the backlog length and net.core.somaxconn themselves: only their symptoms (retransmitted SYNs or SYN/ACKs) show",
    "the SO_SNDBUF / SO_RCVBUF values set: only the advertised window and the bytes in flight show, and Linux autotuning changes them",
    "TCP_NODELAY when no small segment ever met an unacknowledged one: Nagle had nothing to hold, so on and off look the same",
    "TCP_CORK versus autocorking or an application that buffers its writes: all coalesce bytes the same way",
    "TCP_KEEPCNT unless the probes go unanswered; keep-alive settings of a side that sent no probe",
    "TCP_USER_TIMEOUT, SO_LINGER (beyond an RST at close), the congestion control algorithm, and options of hosts behind a proxy that answers for them",
];

/// TCP_DEFER_ACCEPT is advised when the client's first data came at least
/// this long after its handshake ACK (1 ms).
const DEFER_ACCEPT_MIN_GAP_NS: i64 = 1_000_000;
const MAX_KEEPALIVES: usize = 1000;
const MAX_INFLIGHT: usize = 1 << 16;

/// Keep-alive defaults on Linux (`tcp_keepalive_time`, `_intvl`, `_probes`).
pub const KEEPALIVE_DEFAULTS: (f64, f64, u32) = (7200.0, 75.0, 9);

#[derive(Debug, Clone, Default)]
struct DirCollect {
    /// Completed turns, segments in them, and the minimum segments their
    /// bytes needed.
    turns: u64,
    turn_segments: u64,
    turn_min_segments: u64,
    turns_over: u64,
    /// New data segments sent with a known peer window, and those with no
    /// room for another full segment.
    window_known: u64,
    window_limited: u64,
    /// Smallest window advertised while this direction sent data.
    min_window: Option<u64>,
    max_window_seen: u64,
    /// Largest window among the segments that filled it.
    pinned_window: u64,
    /// Bytes in flight after each new segment (thinned).
    inflight: Vec<i64>,
    inflight_stride: u64,
    inflight_count: u64,
    max_inflight: i64,
    first_data: Option<TsNs>,
    last_data: Option<TsNs>,
    /// Keep-alive probes: (ts, idle before it in ns).
    keepalives: Vec<(TsNs, i64)>,
    keepalive_count: u64,
    window_probes: u64,
}

/// Evidence gathered while the flow runs (one per flow).
#[derive(Debug, Clone, Default)]
pub struct Collector {
    dirs: Pair<DirCollect>,
    /// Current turn: direction, segments, bytes, MSS.
    turn: Option<(Dir, u64, u64, u32)>,
    /// Last data or newly acknowledging ACK (not keep-alives).
    last_activity: Option<TsNs>,
    /// First data segment of the connection: direction and time.
    first_data: Option<(Dir, TsNs)>,
}

impl Collector {
    fn close_turn(&mut self) {
        if let Some((d, segs, bytes, mss)) = self.turn.take() {
            let dc = &mut self.dirs[d];
            let min = bytes.div_ceil(mss.max(1) as u64).max(1);
            dc.turns += 1;
            dc.turn_segments += segs;
            dc.turn_min_segments += min.min(segs);
            if segs > min {
                dc.turns_over += 1;
            }
        }
    }

    pub fn on_data(&mut self, ev: &DataEvent) {
        let d = ev.dir;
        match ev.kind {
            SegmentKind::KeepAlive => {
                let dc = &mut self.dirs[d];
                if ev.peer_window == Some(0) {
                    dc.window_probes += 1;
                } else {
                    dc.keepalive_count += 1;
                    if dc.keepalives.len() < MAX_KEEPALIVES {
                        let idle = self.last_activity.map_or(0, |t| ev.ts - t);
                        dc.keepalives.push((ev.ts, idle));
                    }
                }
                return;
            }
            SegmentKind::Retransmission => {
                self.last_activity = Some(ev.ts);
                return;
            }
            SegmentKind::New | SegmentKind::OutOfOrder => {}
        }
        self.last_activity = Some(ev.ts);
        if self.first_data.is_none() {
            self.first_data = Some((d, ev.ts));
        }
        // Turns.
        let mss = ev.mss.unwrap_or(ev.len).max(1);
        match &mut self.turn {
            Some((td, segs, bytes, m)) if *td == d => {
                *segs += 1;
                *bytes += ev.len as u64;
                *m = (*m).max(mss);
            }
            _ => {
                self.close_turn();
                self.turn = Some((d, 1, ev.len as u64, mss));
            }
        }
        let dc = &mut self.dirs[d];
        dc.first_data.get_or_insert(ev.ts);
        dc.last_data = Some(ev.ts);
        if ev.kind != SegmentKind::New {
            return;
        }
        let after = ev.in_flight + ev.len as i64;
        dc.max_inflight = dc.max_inflight.max(after);
        dc.inflight_count += 1;
        if dc.inflight_stride == 0 {
            dc.inflight_stride = 1;
        }
        if dc.inflight_count.is_multiple_of(dc.inflight_stride) {
            dc.inflight.push(after);
            if dc.inflight.len() >= MAX_INFLIGHT {
                let mut i = 0;
                dc.inflight.retain(|_| {
                    i += 1;
                    i % 2 == 0
                });
                dc.inflight_stride *= 2;
            }
        }
        if let Some(w) = ev.peer_window {
            dc.window_known += 1;
            dc.min_window = Some(dc.min_window.map_or(w, |m| m.min(w)));
            dc.max_window_seen = dc.max_window_seen.max(w);
            if after as u64 + mss as u64 > w {
                dc.window_limited += 1;
                dc.pinned_window = dc.pinned_window.max(w);
            }
        }
    }

    pub fn on_ack(&mut self, ev: &AckEvent) {
        if ev.newly_acked > 0 {
            self.last_activity = Some(ev.ts);
        }
    }
}

fn side_of(f: &report::Flow, addr: &str) -> Side {
    if addr == f.client {
        Side::Client
    } else {
        Side::Server
    }
}

fn advice(
    f: &report::Flow,
    option: AdviceOption,
    addr: &str,
    action: String,
    evidence: Vec<String>,
    estimated_saving: String,
) -> Advice {
    Advice {
        option,
        side: side_of(f, addr),
        address: addr.to_string(),
        action,
        evidence,
        estimated_saving,
        saving_ms: None,
        saving_packets: None,
        saving_bytes: None,
    }
}

fn secs_text(ns: i64) -> String {
    let s = ns as f64 / 1e9;
    if s >= 100.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

fn bytes_text(b: f64) -> String {
    if b >= 1048576.0 {
        format!("{:.1} MiB", b / 1048576.0)
    } else if b >= 1024.0 {
        format!("{:.0} KiB", b / 1024.0)
    } else {
        format!("{b:.0} bytes")
    }
}

/// Apply the rules (module docs) to a finished flow.
pub fn advise(s: &FlowSummary, c: &Collector, f: &report::Flow) -> Vec<Advice> {
    let mut out = Vec::new();
    let rtt_ms = f.rtt_ms.min;
    let seen = match f.vantage {
        Vantage::Client => "captured at the client",
        Vantage::Server => "captured at the server",
        Vantage::Middle => "captured between the hosts",
        Vantage::Unknown => "capture point unknown",
    };

    // Rule 1: Nagle × delayed-ACK stalls.
    for d in &f.directions {
        if d.stalls.count == 0 {
            continue;
        }
        let mut per: Vec<f64> = d.stalls.events.iter().map(|e| e.ms).collect();
        per.sort_by(|a, b| a.total_cmp(b));
        let median = per.get(per.len() / 2).copied();
        let mut ev = vec![format!(
            "{} small segment(s) from {} waited for an ACK that {} delayed, {:.1} ms in all (median {:.1} ms per stall)",
            d.stalls.count,
            d.from,
            d.to,
            d.stalls.total_ms,
            median.unwrap_or(0.0)
        )];
        ev.push(format!(
            "Nagle verdict for this direction: {}",
            d.nagle.verdict
        ));
        if let Some(t) = d.ack_delay_ms.timer_ms {
            ev.push(format!(
                "the receiver's ACK delay clusters at {t:.1} ms ({} samples): a delayed-ACK timer",
                d.ack_delay_ms.timer_samples
            ));
        }
        if let Some(w) = d.write_delay_ms.as_ref().and_then(|w| w.mean) {
            ev.push(format!(
                "with the write log: writes waited {w:.1} ms on average from the call to the wire"
            ));
        }
        ev.push(format!("{seen} ({})", f.vantage));
        let mut a = advice(
            f,
            AdviceOption::TcpNodelay,
            &d.from,
            format!(
                "set TCP_NODELAY on the {} socket ({}), or send each request with one write (writev, or TCP_CORK around the writes)",
                side_of(f, &d.from),
                d.from
            ),
            ev.clone(),
            format!(
                "{:.1} ms of stall time in this capture ({} stall(s), {:.1} ms each on median)",
                d.stalls.total_ms,
                d.stalls.count,
                median.unwrap_or(0.0)
            ),
        );
        a.saving_ms = Some(d.stalls.total_ms);
        out.push(a);
        let mut q = advice(
            f,
            AdviceOption::TcpQuickack,
            &d.to,
            format!(
                "alternative to TCP_NODELAY on the writer: set TCP_QUICKACK on the {} socket ({}) after every recv (Linux clears it), so it ACKs at once",
                side_of(f, &d.to),
                d.to
            ),
            ev,
            format!(
                "the same {:.1} ms, at the price of one more pure ACK per stall ({} packets)",
                d.stalls.total_ms, d.stalls.count
            ),
        );
        q.saving_ms = Some(d.stalls.total_ms);
        out.push(q);
    }

    // Rule 2: small segments per transaction that could be corked.
    let exchange = c.dirs[C2S].turns >= 1 && c.dirs[S2C].turns >= 1;
    for (i, d) in Dir::BOTH.into_iter().zip(&f.directions) {
        let dc = &c.dirs[i];
        let extra = dc.turn_segments.saturating_sub(dc.turn_min_segments);
        if !exchange || dc.turns < 2 || extra < 2 || extra * 2 < dc.turns {
            continue;
        }
        let per_turn = extra as f64 / dc.turns as f64;
        let header = if d.frames > 0 {
            d.wire_bytes.saturating_sub(d.all_payload_bytes) as f64 / d.frames as f64
        } else {
            0.0
        };
        let mut ev = vec![format!(
            "{} transaction turn(s) from {} carried {} segments where their bytes needed {} ({:.2} extra per turn, {} turn(s) with extra segments)",
            dc.turns, d.from, dc.turn_segments, dc.turn_min_segments, per_turn, dc.turns_over
        )];
        ev.push(format!(
            "Nagle verdict {}; {} of {} data segments below the MSS",
            d.nagle.verdict, d.small_segments, d.data_segments
        ));
        let mut a = advice(
            f,
            AdviceOption::TcpCork,
            &d.from,
            format!(
                "on the {} ({}), build each message before sending: TCP_CORK around the writes (uncork to send), MSG_MORE on all but the last, or one writev",
                side_of(f, &d.from),
                d.from
            ),
            ev,
            format!(
                "{per_turn:.2} packets per transaction, {extra} packets and about {} of headers in this capture",
                bytes_text(extra as f64 * header)
            ),
        );
        a.saving_packets = Some(extra);
        a.saving_bytes = Some((extra as f64 * header).round() as u64);
        out.push(a);
    }

    // Rule 2b: Nagle off on a stream of tinygrams (not a request/response
    // exchange, which rule 2 covers): many small segments sent faster than
    // the RTT. With Nagle, at most one small segment per RTT would have left.
    for (i, d) in Dir::BOTH.into_iter().zip(&f.directions) {
        let dc = &c.dirs[i];
        let (Some(r), Some(iv)) = (rtt_ms, d.send_interval_ms.median) else {
            continue;
        };
        if d.nagle.verdict != Verdict::Off || d.small_segments < 20 || iv >= r || r <= 0.0 {
            continue;
        }
        let dur = match (dc.first_data, dc.last_data) {
            (Some(a), Some(b)) if b > a => ms(b - a),
            _ => continue,
        };
        let mss = d.mss.unwrap_or(1448).max(1) as u64;
        let needed = (d.payload_bytes.div_ceil(mss)).max((dur / r).ceil() as u64);
        let extra = d.data_segments.saturating_sub(needed);
        if extra < 10 {
            continue;
        }
        let header = if d.frames > 0 {
            d.wire_bytes.saturating_sub(d.all_payload_bytes) as f64 / d.frames as f64
        } else {
            0.0
        };
        let mut a = advice(
            f,
            AdviceOption::TcpCork,
            &d.from,
            format!(
                "Nagle is off on the {} ({}) and it sends tinygrams: batch the writes (TCP_CORK, MSG_MORE, one write per message), or, if per-write latency does not matter here, leave Nagle on (do not set TCP_NODELAY)",
                side_of(f, &d.from),
                d.from
            ),
            vec![
                format!(
                    "{} of {} data segments below the MSS, sent {:.3} ms apart on median against a path RTT of {r:.3} ms",
                    d.small_segments, d.data_segments, iv
                ),
                d.nagle.evidence.first().cloned().unwrap_or_default(),
                format!(
                    "coalescing to one small segment per RTT (or full segments) would need about {needed} segments"
                ),
            ],
            format!(
                "{extra} packets and about {} of headers, at the price of up to one RTT ({r:.3} ms) of delay per write",
                bytes_text(extra as f64 * header)
            ),
        );
        a.saving_packets = Some(extra);
        a.saving_bytes = Some((extra as f64 * header).round() as u64);
        out.push(a);
    }

    // Rule 3: TCP_DEFER_ACCEPT.
    if let (Some(ack), Some((first_dir, first_ts))) = (s.handshake.ack, c.first_data) {
        if s.handshake.complete() && s.handshake_seen {
            // A request right behind the ACK (most clients send it within
            // microseconds) leaves nothing worth deferring: only a gap of
            // at least DEFER_ACCEPT_MIN_GAP_NS, an accepted connection
            // sitting idle, is advice.
            if first_dir == C2S && first_ts.saturating_sub(ack) >= DEFER_ACCEPT_MIN_GAP_NS {
                let gap = first_ts - ack;
                let mut a = advice(
                    f,
                    AdviceOption::TcpDeferAccept,
                    &f.server,
                    format!(
                        "set TCP_DEFER_ACCEPT on the listening socket ({}) so accept() returns when the request is there; on the client, TCP_DEFER_ACCEPT (or TCP_QUICKACK=0 before connect) lets the request ride on the third handshake packet",
                        f.server
                    ),
                    vec![
                        "the client's third handshake packet was a pure ACK".into(),
                        format!(
                            "the client spoke first: its first data followed that ACK {:.3} ms later",
                            ms(gap)
                        ),
                        format!("{seen} ({})", f.vantage),
                    ],
                    format!(
                        "one packet per connection (the pure ACK), and a server that wakes once per connection instead of accepting {:.3} ms before the request arrives",
                        ms(gap)
                    ),
                );
                a.saving_packets = Some(1);
                out.push(a);
            } else if first_dir == S2C {
                out.push(advice(
                    f,
                    AdviceOption::TcpDeferAccept,
                    &f.server,
                    "do not set TCP_DEFER_ACCEPT on this server: it speaks first (a banner protocol), so deferring accept would stall every connection until the timeout".into(),
                    vec!["the server sent the first data of the connection".into()],
                    "none".into(),
                ));
            }
        }
    }

    // Rules 4 and 5: window- or send-buffer-limited bulk transfers.
    for (i, d) in Dir::BOTH.into_iter().zip(&f.directions) {
        let dc = &c.dirs[i];
        let receiver = &d.to;
        if d.payload_bytes < 65536 || dc.window_known < 20 {
            continue;
        }
        let dur = match (dc.first_data, dc.last_data) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => continue,
        };
        let rate = d.payload_bytes as f64 / (dur as f64 / 1e9); // bytes/s
        let bdp = rtt_ms.map(|r| rate * r / 1000.0);
        let frac = dc.window_limited as f64 / dc.window_known as f64;
        // A receiver that closed its window reads too slowly (rule 6), and a
        // rate far below window / RTT means something else held the sender.
        let zero = s.dirs[i.reverse()].zero_window_episodes > 0;
        let consistent = bdp.is_none_or(|b| b >= 0.25 * dc.pinned_window as f64);
        if frac >= 0.3 && !zero && consistent {
            let mut ev = vec![
                format!(
                    "{} of {} new segments ({:.0} %) left no room in {}'s advertised window for another full segment",
                    dc.window_limited, dc.window_known, frac * 100.0, receiver
                ),
                format!(
                    "bytes in flight reached {}; the window was pinned at up to {} (largest advertised {})",
                    bytes_text(dc.max_inflight as f64),
                    bytes_text(dc.pinned_window as f64),
                    bytes_text(dc.max_window_seen as f64)
                ),
            ];
            if let (Some(b), Some(r)) = (bdp, rtt_ms) {
                ev.push(format!(
                    "{} in {:.3} s = {:.2} Mbit/s; × path RTT {r:.3} ms = {} in flight (the BDP this window allowed)",
                    bytes_text(d.payload_bytes as f64),
                    dur as f64 / 1e9,
                    rate * 8.0 / 1e6,
                    bytes_text(b)
                ));
            }
            let want = 2 * dc.pinned_window.max(dc.max_inflight as u64);
            let per_gbit = rtt_ms.map(|r| 125_000_000.0 * r / 1000.0);
            let mut a = advice(
                f,
                AdviceOption::SoRcvbuf,
                receiver,
                format!(
                    "raise the receive buffer of the {} ({}) to at least {} (twice the window it was pinned at{}); or let autotuning grow it (net.ipv4.tcp_rmem max)",
                    side_of(f, receiver),
                    receiver,
                    bytes_text(want as f64),
                    per_gbit.map_or(String::new(), |g| format!(
                        "; each 1 Gbit/s of path needs {} at this RTT",
                        bytes_text(g)
                    ))
                ),
                ev,
                format!(
                    "up to {:.0} ms (half the {:.0} ms transfer) if the path has room for twice the rate; the capture cannot show the path's capacity",
                    ms(dur) / 2.0,
                    ms(dur)
                ),
            );
            a.saving_ms = Some(ms(dur) / 2.0);
            a.saving_bytes = Some(want);
            out.push(a);
        } else if d.retransmissions == 0 && dc.inflight.len() >= 50 {
            let mut v = dc.inflight.clone();
            v.sort_unstable();
            let p90 = v[(v.len() * 9 / 10).min(v.len() - 1)];
            let minw = dc.min_window.unwrap_or(0);
            if dc.max_inflight > 0
                && p90 as f64 >= 0.9 * dc.max_inflight as f64
                && (dc.max_inflight as f64) < 0.6 * minw as f64
            {
                let mut ev = vec![format!(
                    "bytes in flight plateaued at {} (90th percentile {}), below 60 % of the smallest window {} advertised ({}), with no retransmission",
                    bytes_text(dc.max_inflight as f64),
                    bytes_text(p90 as f64),
                    receiver,
                    bytes_text(minw as f64)
                )];
                if let (Some(b), Some(r)) = (bdp, rtt_ms) {
                    ev.push(format!(
                        "{:.2} Mbit/s × path RTT {r:.3} ms = {}",
                        rate * 8.0 / 1e6,
                        bytes_text(b)
                    ));
                }
                let want = (2 * dc.max_inflight as u64).min(minw);
                let mut a = advice(
                    f,
                    AdviceOption::SoSndbuf,
                    &d.from,
                    format!(
                        "raise the send buffer of the {} ({}) towards {} (or check that the application writes fast enough: an application-limited sender looks the same)",
                        side_of(f, &d.from),
                        d.from,
                        bytes_text(want as f64)
                    ),
                    ev,
                    format!(
                        "up to {:.0} ms of the {:.0} ms transfer if the sender, not the application, was the limit",
                        ms(dur) * (1.0 - dc.max_inflight as f64 / want.max(1) as f64),
                        ms(dur)
                    ),
                );
                a.saving_ms = Some(ms(dur) * (1.0 - dc.max_inflight as f64 / want.max(1) as f64));
                a.saving_bytes = Some(want);
                out.push(a);
            }
        }
    }

    // Rule 6: zero-window stalls (advertised by side i, which receives).
    for (i, d) in Dir::BOTH.into_iter().zip(&f.directions) {
        let st = &s.dirs[i];
        if st.zero_window_episodes == 0 {
            continue;
        }
        let open = st.zero_window_since.map_or(0, |t| (s.end_ts - t).max(0));
        let total = st.zero_window_ns.saturating_add(open);
        let probes = c.dirs[i.reverse()].window_probes;
        let mut ev = vec![format!(
            "{} advertised a zero window {} time(s) in {} episode(s), {:.1} ms in all{}",
            d.from,
            st.zero_window,
            st.zero_window_episodes,
            ms(total),
            if open > 0 {
                " (the last one still open at the end of the capture)"
            } else {
                ""
            }
        )];
        if probes > 0 {
            ev.push(format!("{} sent {probes} zero-window probe(s)", d.to));
        }
        let mut a = advice(
            f,
            AdviceOption::SoRcvbuf,
            &d.from,
            format!(
                "the application on the {} ({}) reads too slowly: read sooner or in a separate thread; a larger SO_RCVBUF only postpones the stall",
                side_of(f, &d.from),
                d.from
            ),
            ev,
            format!("{:.1} ms of zero-window stall in this capture", ms(total)),
        );
        a.saving_ms = Some(ms(total));
        out.push(a);
    }

    // Rule 7: keep-alive probes.
    for (i, d) in Dir::BOTH.into_iter().zip(&f.directions) {
        let dc = &c.dirs[i];
        if dc.keepalive_count == 0 {
            continue;
        }
        let first_idle = dc.keepalives.first().map_or(0, |k| k.1);
        let mut gaps: Vec<i64> = dc.keepalives.windows(2).map(|w| w[1].0 - w[0].0).collect();
        gaps.sort_unstable();
        let interval = gaps.get(gaps.len() / 2).copied();
        let (di, dv, dn) = KEEPALIVE_DEFAULTS;
        let mut ev = vec![format!(
            "{} keep-alive probe(s) from {}; the first after {} idle",
            dc.keepalive_count,
            d.from,
            secs_text(first_idle)
        )];
        if let Some(g) = interval {
            ev.push(format!(
                "probes {} apart on median (answered probes recur every idle period; unanswered ones every TCP_KEEPINTVL)",
                secs_text(g)
            ));
        }
        ev.push(format!(
            "Linux defaults: idle {di:.0} s, interval {dv:.0} s, {dn} probes before giving up"
        ));
        let idle_s = first_idle as f64 / 1e9;
        let verdict = if idle_s < di * 0.9 {
            format!(
                "keep-alive is on with an idle time of about {} (shorter than the {di:.0} s default: TCP_KEEPIDLE or an application-level setting)",
                secs_text(first_idle)
            )
        } else {
            "keep-alive is on with about the default idle time".to_string()
        };
        let per_hour = interval.map(|g| 3600.0 / (g as f64 / 1e9).max(1e-3));
        out.push(advice(
            f,
            AdviceOption::SoKeepalive,
            &d.from,
            format!(
                "{verdict}; keep TCP_KEEPIDLE below the idle timeout of any NAT or load balancer on the path, and set TCP_KEEPINTVL/TCP_KEEPCNT for how soon a dead peer must be noticed"
            ),
            ev,
            match per_hour {
                Some(n) => format!(
                    "not a saving: about {n:.0} probe(s) and their ACKs per idle hour; a dead peer is found after idle + interval × count"
                ),
                None => "not a saving: detection of a dead peer after idle + interval × count".into(),
            },
        ));
    }

    // Rule 8: listen backlog / SYN trouble.
    let (c_st, s_st) = (&s.dirs[C2S], &s.dirs[S2C]);
    if s.handshake_seen && c_st.syns > 0 {
        let first = c_st.first_syn_ts.unwrap_or(s.start_ts);
        let mut ev = Vec::new();
        let mut cost = 0i64;
        if c_st.syns > 1 {
            ev.push(format!(
                "the client sent its SYN {} times over {}",
                c_st.syns,
                secs_text(c_st.last_syn_ts.unwrap_or(first) - first)
            ));
            match s_st.first_syn_ts {
                Some(sa) => {
                    cost = (sa - first).max(0);
                    ev.push(format!(
                        "the first SYN/ACK came {} after the first SYN",
                        secs_text(cost)
                    ));
                }
                None if s_st.rst => ev.push("the server answered with RST: nothing listening, or a full queue with tcp_abort_on_overflow".into()),
                None => {
                    cost = (c_st.last_syn_ts.unwrap_or(first) - first).max(0);
                    ev.push("no SYN/ACK was seen: the connection never opened".into());
                }
            }
        }
        if s_st.syns > 1 {
            let acked = s.handshake.ack.is_some();
            ev.push(format!(
                "the server sent its SYN/ACK {} times{}",
                s_st.syns,
                if acked {
                    " although the client's ACK was seen: Linux ignores that ACK when the accept queue is full and resends the SYN/ACK"
                } else {
                    ""
                }
            ));
            if let (Some(a), Some(b)) = (s_st.first_syn_ts, s_st.last_syn_ts) {
                cost = cost.max(b - a);
            }
        }
        let cookies = s_st.syns > 0
            && c_st.window_scale.is_some()
            && c_st.sack_permitted
            && s_st.window_scale.is_none()
            && !s_st.sack_permitted;
        if cookies && !ev.is_empty() {
            ev.push("the SYN offered window scaling and SACK, the SYN/ACK dropped both: consistent with SYN cookies (a full SYN queue), or a server that disabled them".into());
        }
        if !ev.is_empty() {
            ev.push("packet loss on the path gives the same packets; several flows to one server showing it at once point to the backlog".into());
            let mut a = advice(
                f,
                AdviceOption::ListenBacklog,
                &f.server,
                format!(
                    "on the server ({}): raise the listen() backlog and net.core.somaxconn / net.ipv4.tcp_max_syn_backlog, and accept() faster",
                    f.server
                ),
                ev,
                if cost > 0 {
                    format!("{:.0} ms of connection set-up in this flow", ms(cost))
                } else {
                    "connection set-up time (not measurable here)".into()
                },
            );
            a.saving_ms = (cost > 0).then(|| ms(cost));
            out.push(a);
        }
    }

    // Most costly first: time, then packets, then bytes; informational last.
    out.sort_by(|a, b| {
        b.saving_ms
            .unwrap_or(-1.0)
            .total_cmp(&a.saving_ms.unwrap_or(-1.0))
            .then(b.saving_packets.cmp(&a.saving_packets))
            .then(b.saving_bytes.cmp(&a.saving_bytes))
    });
    out
}

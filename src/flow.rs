//! Stage 3: the TCP connection tracker.
//!
//! Takes decoded [`Segment`]s in capture order and keeps, per connection and
//! per direction: the ISN and relative sequence offsets (64-bit, unwrapped
//! across 32-bit wraparound), retransmission / out-of-order / keep-alive
//! classification, the outstanding (sent, unacknowledged) segments, RTT
//! samples from data→ACK (Karn's rule: none from a retransmitted segment) and
//! from TSval/TSecr echo, the handshake timing, MSS, window scale and
//! timestamp options from the SYNs.
//!
//! For every data segment and every ACK it calls a per-flow
//! [`FlowObserver`] with a [`DataEvent`] or [`AckEvent`]; the analysis stage
//! implements that trait. The tracker itself draws no conclusions about
//! Nagle or delayed ACK.
//!
//! Memory is bounded: at most `max_flows` live connections (the oldest idle
//! one is finished early when the table is full), at most
//! [`MAX_OUTSTANDING`] outstanding segments and [`MAX_SAMPLES`] RTT samples
//! per direction. A connection is finished and handed to the sink when it
//! closes (FIN both ways or RST) and is then idle, or at the end of input.
//!
//! Rules, in the words the README repeats:
//! - *retransmission*: a segment carrying data (or SYN/FIN) that starts below
//!   the highest sequence number already seen in its direction, arriving
//!   more than the out-of-order threshold after the highest one was sent
//!   (Wireshark's rule; the threshold is the handshake RTT, else 3 ms);
//! - *out-of-order*: the same, but arriving within the threshold;
//! - *keep-alive*: 0 or 1 byte at exactly one below the next sequence number.

use crate::decode::{flags, Segment};
use crate::TsNs;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;

/// Default of [`Limits::max_outstanding`] (`--max-outstanding`): at most this
/// many outstanding (unacknowledged) segments are remembered per direction;
/// older ones are forgotten (and counted).
pub const MAX_OUTSTANDING: usize = 1 << 16;
/// At most this many RTT samples are kept per direction for percentiles;
/// beyond that every other sample is dropped (the min stays exact).
pub const MAX_SAMPLES: usize = 1 << 16;
const MAX_TS_PENDING: usize = 4096;
const MAX_HOLES: usize = 256;
/// A gap between two packets longer than this (30 days) is a broken
/// timestamp, not idleness: it neither ends a connection nor triggers the
/// idle sweep.
pub const MAX_PLAUSIBLE_GAP_NS: i64 = 30 * 24 * 3_600_000_000_000;
/// Closed connections kept around for late packets before they are finished
/// regardless of `closed_linger_ns`.
pub const MAX_CLOSED_LINGERING: usize = 1024;
const DEFAULT_OOO_THRESHOLD_NS: i64 = 3_000_000;
/// RTT samples outside `0..=MAX_RTT_NS` come from timestamps that jumped
/// (merged or damaged captures) and are dropped.
pub const MAX_RTT_NS: i64 = 300_000_000_000;
/// Segment timestamps are clamped to `-MAX_TS_NS..=MAX_TS_NS` (2^62 - 1 ns, about 146
/// years either side of 1970; every pcap timestamp fits) on entry, so that
/// the difference of any two timestamps fits in an `i64` here and in the
/// analysis (hostile pcapng `if_tsoffset`/`if_tsresol` reach the ends of the
/// i64 range).
pub const MAX_TS_NS: i64 = (1 << 62) - 1;

fn plausible(rtt: i64) -> bool {
    (0..=MAX_RTT_NS).contains(&rtt)
}

/// Direction within a connection: 0 = client→server, 1 = server→client.
pub type Dir = usize;
pub const C2S: Dir = 0;
pub const S2C: Dir = 1;

/// Limits of the tracker.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Live connections kept at once.
    pub max_flows: usize,
    /// A closed connection idle this long is finished (nanoseconds).
    pub closed_linger_ns: i64,
    /// Any connection idle this long is finished (nanoseconds).
    pub idle_timeout_ns: i64,
    /// Unacknowledged segments remembered per direction (for RTT samples
    /// and in-flight counts); beyond it the oldest are forgotten.
    pub max_outstanding: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_flows: 100_000,
            closed_linger_ns: 60_000_000_000,
            // Above the 2 h default keep-alive idle time, so that keep-alive
            // probes stay in their connection.
            idle_timeout_ns: 4 * 3_600_000_000_000,
            max_outstanding: MAX_OUTSTANDING,
        }
    }
}

/// How a data-carrying segment relates to what was sent before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    /// New data, in order.
    New,
    /// New data, but arrived after a gap was filled later or before earlier
    /// data (capture-point reordering or loss before the capture point).
    OutOfOrder,
    /// Data sent before.
    Retransmission,
    /// A keep-alive probe (0/1 byte at next_seq - 1).
    KeepAlive,
}

/// A segment with payload, as the analysis sees it.
#[derive(Debug, Clone, Copy)]
pub struct DataEvent<'a> {
    pub dir: Dir,
    /// Source and destination ports of the segment.
    pub src_port: u16,
    pub dst_port: u16,
    /// The captured payload bytes: shorter than `len` when the snaplen cut
    /// the frame (valid only during the observer call).
    pub payload: &'a [u8],
    pub ts: TsNs,
    pub frame: u64,
    /// Offset of the first payload byte from the direction's first data byte.
    pub start: i64,
    pub len: u32,
    pub kind: SegmentKind,
    /// Payload below the effective MSS known at the time.
    pub small: bool,
    /// Effective MSS known at the time (None before any SYN or data).
    pub mss: Option<u32>,
    pub fin: bool,
    pub psh: bool,
    /// An earlier small segment of new data was still unacknowledged when
    /// this one was sent (what Nagle's algorithm, Minshall's variant, forbids).
    pub prev_small_unacked: bool,
    /// Time since the ACK that acknowledged the previous small segment, when
    /// that ACK came before this segment.
    pub since_prev_small_acked: Option<i64>,
    /// The previous small segment's ACK, when it was seen: how long after
    /// that segment it came (raw, at the capture point).
    pub prev_small_ack_wait: Option<i64>,
    /// That ACK carried no data (a delayed-ACK timer or a window update,
    /// not the peer's response).
    pub prev_small_acked_by_pure_ack: bool,
    /// Time since the previous data segment of this direction.
    pub since_prev_send: Option<i64>,
    /// Inside loss recovery (a retransmission is outstanding).
    pub in_recovery: bool,
    /// Bytes sent and not yet acknowledged just before this segment.
    pub in_flight: i64,
    /// Segments outstanding just before this segment.
    pub segments_in_flight: u32,
    /// The peer's last advertised receive window (scaled), when known.
    pub peer_window: Option<u64>,
}

/// An ACK (from the opposite side) for the data of direction `dir`.
#[derive(Debug, Clone, Copy)]
pub struct AckEvent {
    /// The direction whose data is acknowledged.
    pub dir: Dir,
    pub ts: TsNs,
    /// Acknowledged offset in `dir`'s sequence space.
    pub ack: i64,
    /// Bytes newly acknowledged (0 for a duplicate).
    pub newly_acked: i64,
    /// Data→ACK sample (Karn's rule) in nanoseconds, raw at the capture point.
    pub rtt_sample: Option<i64>,
    /// The ACK carried data of its own (piggybacked).
    pub carries_data: bool,
}

/// Receives a flow's events. The analysis stage implements it.
pub trait FlowObserver {
    fn on_data(&mut self, ev: &DataEvent<'_>);
    fn on_ack(&mut self, ev: &AckEvent);
}

/// A no-op observer (flow statistics only).
impl FlowObserver for () {
    fn on_data(&mut self, _: &DataEvent<'_>) {}
    fn on_ack(&mut self, _: &AckEvent) {}
}

/// Per-direction counters and options, as the report shows them.
#[derive(Debug, Clone, Default)]
pub struct DirStats {
    /// Every frame of this direction (pure ACKs included).
    pub frames: u64,
    /// Sum of wire lengths (link header included), as `-z conv,tcp` counts.
    pub wire_bytes: u64,
    /// Sum of TCP payload lengths over every frame (retransmissions included).
    pub all_payload_bytes: u64,
    /// Segments with new payload (retransmissions and keep-alives excluded).
    pub data_segments: u64,
    /// Payload bytes of `data_segments`.
    pub payload_bytes: u64,
    pub retransmissions: u64,
    pub retransmitted_bytes: u64,
    pub out_of_order: u64,
    pub keepalives: u64,
    /// Data segments below the effective MSS.
    pub small_segments: u64,
    /// Data segments larger than the effective MSS (TSO/GSO/GRO at the
    /// capture point).
    pub oversize_segments: u64,
    pub max_payload: u32,
    /// Frames cut by the snaplen inside the TCP payload.
    pub truncated_frames: u64,
    pub zero_window: u64,
    /// Zero-window episodes: from the first zero-window advertisement to
    /// the next non-zero window of this side.
    pub zero_window_episodes: u64,
    /// Total time of the closed episodes (ns).
    pub zero_window_ns: i64,
    /// Start of an episode still open (closed by the advice stage at the
    /// flow's end).
    pub zero_window_since: Option<TsNs>,
    /// Largest window this side advertised (scaled).
    pub max_window: u64,
    pub syn: bool,
    /// Frames with the SYN flag this way (SYNs for the client, SYN/ACKs for
    /// the server): more than one means retransmitted SYNs.
    pub syns: u32,
    /// First and last of those frames.
    pub first_syn_ts: Option<TsNs>,
    pub last_syn_ts: Option<TsNs>,
    pub fin: bool,
    pub rst: bool,
    /// MSS option of this side's SYN.
    pub mss_option: Option<u16>,
    /// Window scale of this side's SYN.
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// Timestamps option seen on this side's segments.
    pub timestamps: bool,
    /// Smallest TCP options length over this direction's data segments.
    pub min_data_options_len: Option<u8>,
    /// Outstanding segments forgotten because of [`Limits::max_outstanding`].
    pub outstanding_overflow: u64,
    /// Data→ACK samples (raw, ns) for this direction's data.
    pub ack_rtt: Samples,
    /// TSval→TSecr echo samples (raw, ns) for this direction's segments.
    pub ts_rtt: Samples,
}

/// A bounded sample set that keeps the exact minimum.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub values: Vec<i64>,
    pub count: u64,
    pub min: Option<i64>,
    stride: u64,
}

impl Samples {
    pub fn push(&mut self, v: i64) {
        self.count += 1;
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        if self.stride == 0 {
            self.stride = 1;
        }
        if self.count.is_multiple_of(self.stride) {
            self.values.push(v);
            if self.values.len() >= MAX_SAMPLES {
                // Keep every other sample and halve the rate from now on.
                let mut i = 0;
                self.values.retain(|_| {
                    i += 1;
                    i % 2 == 0
                });
                self.stride *= 2;
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    start: i64,
    end: i64,
    ts: TsNs,
    retx: bool,
}

#[derive(Debug, Default)]
struct DirState {
    stats: DirStats,
    /// Raw sequence number of offset 0 (ISN + 1 when the SYN was seen).
    base: Option<u32>,
    /// Last unwrapped absolute sequence (for wraparound).
    last_abs: i64,
    isn_abs: Option<i64>,
    /// Highest sequence offset sent + 1 (exclusive end).
    next: Option<i64>,
    next_ts: TsNs,
    /// Highest offset acknowledged by the peer.
    una: Option<i64>,
    outstanding: VecDeque<Sent>,
    recovery_point: Option<i64>,
    last_send_ts: Option<TsNs>,
    last_small_end: Option<i64>,
    last_small_ts: TsNs,
    last_small_acked_at: Option<TsNs>,
    /// Last advertised window of this side (scaled), applying to the peer's data.
    window: Option<u64>,
    /// Whether the ACK of the last small segment carried no data.
    last_small_acked_pure: bool,
    /// The peer sent data after that ACK: what follows is an answer to it,
    /// not a release of held data.
    peer_data_after_small_ack: bool,
    /// Sequence ranges skipped over (data never seen): a later segment
    /// filling one is out-of-order (or a retransmission of data lost before
    /// the capture point), one overlapping seen data is a retransmission.
    holes: VecDeque<(i64, i64)>,
    ts_pending: VecDeque<(u32, TsNs)>,
    last_tsval: Option<u32>,
}

impl DirState {
    /// Remove `[start, end)` from the holes; true when it lay entirely in
    /// one (the bytes were never seen before).
    fn fill_hole(&mut self, start: i64, end: i64) -> bool {
        let Some(i) = self.holes.iter().position(|&(a, b)| a <= start && end <= b) else {
            return false;
        };
        let (a, b) = self.holes[i];
        self.holes.remove(i);
        if end < b {
            self.holes.insert(i, (end, b));
        }
        if a < start {
            self.holes.insert(i, (a, start));
        }
        true
    }

    /// Unwrap a raw 32-bit sequence number into this direction's offsets.
    fn offset(&mut self, raw: u32) -> Option<i64> {
        let base = self.base?;
        let rel = raw.wrapping_sub(base);
        let last = self.last_abs;
        let delta = (rel.wrapping_sub(last as u32)) as i32 as i64;
        let abs = last + delta;
        self.last_abs = abs;
        Some(abs)
    }

    /// The effective MSS: the smaller MSS option of the two SYNs, less the
    /// options every data segment carries; else the largest payload seen.
    fn effective_mss(&self, peer: &DirStats) -> Option<u32> {
        let opt = match (self.stats.mss_option, peer.mss_option) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match opt {
            Some(m) => {
                let opts = self.stats.min_data_options_len.map(u32::from).unwrap_or(
                    if self.stats.timestamps && peer.timestamps {
                        12
                    } else {
                        0
                    },
                );
                Some((m as u32).saturating_sub(opts).max(1))
            }
            None if self.stats.max_payload > 0 => Some(self.stats.max_payload),
            None => None,
        }
    }
}

/// Handshake timestamps, as seen at the capture point.
#[derive(Debug, Clone, Copy, Default)]
pub struct Handshake {
    pub syn: Option<TsNs>,
    pub syn_ack: Option<TsNs>,
    pub ack: Option<TsNs>,
}

impl Handshake {
    pub fn complete(&self) -> bool {
        self.syn.is_some() && self.syn_ack.is_some() && self.ack.is_some()
    }
    /// Capture→server→capture and capture→client→capture, in ns.
    /// None when either part is implausible (timestamps out of order).
    pub fn split(&self) -> Option<(i64, i64)> {
        let (a, b) = (self.syn_ack? - self.syn?, self.ack? - self.syn_ack?);
        (plausible(a) && plausible(b)).then_some((a, b))
    }
}

/// Everything the tracker knows about a finished connection.
#[derive(Debug, Clone)]
pub struct FlowSummary {
    /// 0-based, in order of the connection's first frame.
    pub id: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub handshake: Handshake,
    /// Client→server was decided by a SYN (else: first sender).
    pub handshake_seen: bool,
    pub start_ts: TsNs,
    pub end_ts: TsNs,
    pub dirs: [DirStats; 2],
    /// Effective MSS per direction.
    pub mss: [Option<u32>; 2],
    /// The flow was finished early because the flow table was full.
    pub evicted: bool,
}

struct Flow<O> {
    summary_id: u64,
    client: SocketAddr,
    server: SocketAddr,
    handshake: Handshake,
    syn_decided: bool,
    start_ts: TsNs,
    last_ts: TsNs,
    dirs: [DirState; 2],
    closed: bool,
    observer: O,
}

/// The connection tracker. `O` is the per-flow observer (analysis).
pub struct Tracker<O> {
    /// Boxed: the table's spare capacity then costs a pointer per slot,
    /// not a whole flow state.
    flows: HashMap<(SocketAddr, SocketAddr), Box<Flow<O>>, BuildHasherDefault<FlowKeyHasher>>,
    next_id: u64,
    limits: Limits,
    new_observer: Box<dyn FnMut() -> O>,
    last_sweep: TsNs,
    /// Segments pushed since the last sweep (a sweep costs O(flows): it is
    /// done at most once per `flows / 64` segments, so that timestamps
    /// stepping a second per segment cannot make the tracker quadratic).
    pushed_since_sweep: usize,
    /// Eviction candidates, oldest last: the `(rank, key)` of the oldest
    /// 1/64 of the table when it was last scanned, so that a full table
    /// costs O(64) per new flow rather than a scan of every flow.
    evict_queue: Vec<(EvictRank, FlowKey)>,
    /// Flows finished early because the table was full.
    pub evicted: u64,
    /// Most connections tracked at once so far.
    pub peak_flows: usize,
    /// Closed connections in order of closing (key, flow id).
    closed: VecDeque<((SocketAddr, SocketAddr), u64)>,
}

/// A fast multiplicative hasher for connection keys (FxHash's mixing).
/// SipHash's protection against chosen keys is not worth its cost here: a
/// hostile capture can at worst slow one analysis down, and the flow table
/// is capped.
#[derive(Default)]
pub struct FlowKeyHasher(u64);

impl Hasher for FlowKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut v = [0u8; 8];
            v[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(v));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i as u64);
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}
type FlowKey = (SocketAddr, SocketAddr);
/// Eviction order: closed flows first, then the longest idle.
type EvictRank = (bool, TsNs);

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl<O: FlowObserver> Tracker<O> {
    pub fn new(limits: Limits, new_observer: Box<dyn FnMut() -> O>) -> Self {
        Tracker {
            flows: HashMap::default(),
            next_id: 0,
            limits,
            new_observer,
            last_sweep: i64::MIN,
            pushed_since_sweep: 0,
            evict_queue: Vec::new(),
            evicted: 0,
            peak_flows: 0,
            closed: VecDeque::new(),
        }
    }

    pub fn live_flows(&self) -> usize {
        self.flows.len()
    }

    /// Feed one segment; finished flows go to `sink`.
    pub fn push(&mut self, seg: &Segment, sink: &mut dyn FnMut(FlowSummary, O)) {
        let clamped;
        let seg = if (-MAX_TS_NS..=MAX_TS_NS).contains(&seg.ts_ns) {
            seg
        } else {
            clamped = Segment {
                ts_ns: seg.ts_ns.clamp(-MAX_TS_NS, MAX_TS_NS),
                ..seg.clone()
            };
            &clamped
        };
        let k = key(seg.src, seg.dst);
        let syn_only = seg.has(flags::SYN) && !seg.has(flags::ACK);

        // Port reuse: a new SYN on a closed connection, or with another ISN
        // than the one we saw, starts a new connection.
        if syn_only {
            if let Some(f) = self.flows.get(&k) {
                let same_isn = f.client == seg.src
                    && f.dirs[C2S].base == Some(seg.seq.wrapping_add(1))
                    && f.dirs[C2S].stats.syn;
                // A new SYN after the old connection closed, or a client SYN
                // with another ISN than the one seen: port reuse.
                let reused = f.client == seg.src && f.dirs[C2S].stats.syn;
                if !same_isn && (f.closed || reused) {
                    let f = self.flows.remove(&k).expect("present");
                    Self::finish(*f, false, sink);
                }
            }
        }

        // A connection silent longer than the idle timeout is over: a late
        // packet starts a new flow (the sweep below only sees other flows).
        if self.flows.get(&k).is_some_and(|f| {
            let gap = seg.ts_ns.saturating_sub(f.last_ts);
            gap > self.limits.idle_timeout_ns && gap <= MAX_PLAUSIBLE_GAP_NS
        }) {
            let f = self.flows.remove(&k).expect("present");
            Self::finish(*f, false, sink);
        }

        if !self.flows.contains_key(&k) {
            if self.flows.len() >= self.limits.max_flows {
                self.evict_oldest(sink);
            }
            let (client, server) = if seg.has(flags::SYN) && seg.has(flags::ACK) {
                (seg.dst, seg.src)
            } else {
                (seg.src, seg.dst)
            };
            let flow = Flow {
                summary_id: self.next_id,
                client,
                server,
                handshake: Handshake::default(),
                syn_decided: seg.has(flags::SYN),
                start_ts: seg.ts_ns,
                last_ts: seg.ts_ns,
                dirs: [DirState::default(), DirState::default()],
                closed: false,
                observer: (self.new_observer)(),
            };
            self.next_id += 1;
            self.flows.insert(k, Box::new(flow));
            self.peak_flows = self.peak_flows.max(self.flows.len());
        }
        let flow = self.flows.get_mut(&k).expect("inserted");
        let was_closed = flow.closed;
        flow.update(seg, self.limits.max_outstanding.max(1));
        if flow.closed && !was_closed {
            self.closed.push_back((k, flow.summary_id));
        }
        // Closed connections linger (late retransmissions of the FIN still
        // belong to them), but at most MAX_CLOSED_LINGERING at a time: on a
        // compressed or very busy capture the oldest closed ones are
        // finished first, so memory follows the open connections.
        while self.closed.len() > MAX_CLOSED_LINGERING {
            let (ck, id) = self.closed.pop_front().expect("non-empty");
            if self
                .flows
                .get(&ck)
                .is_some_and(|f| f.summary_id == id && f.closed)
            {
                let f = self.flows.remove(&ck).expect("present");
                Self::finish(*f, false, sink);
            }
        }

        // Time-driven sweep of idle flows, at most once per capture second
        // and once per `flows / 64` segments.
        self.pushed_since_sweep += 1;
        // A timestamp that leaps more than MAX_PLAUSIBLE_GAP_NS ahead is
        // broken (merged or damaged captures), not time passing: it must not
        // finish every flow as idle.
        let leap = self.last_sweep != i64::MIN
            && seg.ts_ns.saturating_sub(self.last_sweep) > MAX_PLAUSIBLE_GAP_NS;
        if !leap
            && seg.ts_ns > self.last_sweep.saturating_add(1_000_000_000)
            && self.pushed_since_sweep >= self.flows.len() / 64
        {
            self.last_sweep = seg.ts_ns;
            self.pushed_since_sweep = 0;
            self.sweep(seg.ts_ns, sink);
        }
    }

    fn sweep(&mut self, now: TsNs, sink: &mut dyn FnMut(FlowSummary, O)) {
        let limits = self.limits;
        let done: Vec<_> = self
            .flows
            .iter()
            .filter(|(_, f)| {
                let idle = now.saturating_sub(f.last_ts);
                (f.closed && idle > limits.closed_linger_ns) || idle > limits.idle_timeout_ns
            })
            .map(|(k, _)| *k)
            .collect();
        for k in done {
            if let Some(f) = self.flows.remove(&k) {
                Self::finish(*f, false, sink);
            }
        }
    }

    fn evict_oldest(&mut self, sink: &mut dyn FnMut(FlowSummary, O)) {
        // Prefer a closed flow, else the one idle the longest: taken from the
        // candidate queue, rebuilt from a scan when it runs out. A candidate
        // that was touched since the scan (its rank changed) is passed over.
        while !self.flows.is_empty() {
            if self.evict_queue.is_empty() {
                let mut all: Vec<(EvictRank, FlowKey)> = self
                    .flows
                    .iter()
                    .map(|(k, f)| ((!f.closed, f.last_ts), *k))
                    .collect();
                let n = (all.len() / 64).max(1);
                all.select_nth_unstable(n - 1);
                all.truncate(n);
                all.sort_unstable_by(|a, b| b.cmp(a));
                self.evict_queue = all;
            }
            let Some((rank, k)) = self.evict_queue.pop() else {
                return;
            };
            if self
                .flows
                .get(&k)
                .is_some_and(|f| (!f.closed, f.last_ts) == rank)
            {
                let f = self.flows.remove(&k).expect("present");
                self.evicted += 1;
                Self::finish(*f, true, sink);
                return;
            }
        }
    }

    /// Finish every live flow (end of input), in order of flow id.
    pub fn finish_all(&mut self, sink: &mut dyn FnMut(FlowSummary, O)) {
        let mut flows: Vec<_> = self.flows.drain().map(|(_, f)| f).collect();
        flows.sort_by_key(|f| f.summary_id);
        for f in flows {
            Self::finish(*f, false, sink);
        }
    }

    fn finish(f: Flow<O>, evicted: bool, sink: &mut dyn FnMut(FlowSummary, O)) {
        let summary = f.summary(evicted);
        sink(summary, f.observer);
    }

    /// The `n` busiest live flows (by frames), as they stand now, for a
    /// live view. The flows keep running.
    pub fn snapshot(&self, n: usize) -> Vec<(FlowSummary, &O)> {
        let mut v: Vec<&Flow<O>> = self.flows.values().map(|b| &**b).collect();
        v.sort_by_key(|f| std::cmp::Reverse(f.dirs[C2S].stats.frames + f.dirs[S2C].stats.frames));
        v.truncate(n);
        v.into_iter()
            .map(|f| (f.summary(false), &f.observer))
            .collect()
    }
}

impl<O> Flow<O> {
    fn summary(&self, evicted: bool) -> FlowSummary {
        FlowSummary {
            id: self.summary_id,
            client: self.client,
            server: self.server,
            handshake: self.handshake,
            handshake_seen: self.syn_decided,
            start_ts: self.start_ts,
            end_ts: self.last_ts,
            dirs: [self.dirs[C2S].stats.clone(), self.dirs[S2C].stats.clone()],
            mss: [
                self.dirs[C2S].effective_mss(&self.dirs[S2C].stats),
                self.dirs[S2C].effective_mss(&self.dirs[C2S].stats),
            ],
            evicted,
        }
    }
}

impl<O: FlowObserver> Flow<O> {
    fn update(&mut self, seg: &Segment, max_outstanding: usize) {
        let d: Dir = if seg.src == self.client { C2S } else { S2C };
        let ts = seg.ts_ns;
        self.last_ts = self.last_ts.max(ts);
        let syn = seg.has(flags::SYN);
        let ack_flag = seg.has(flags::ACK);
        let fin = seg.has(flags::FIN);

        // Handshake timing.
        // The handshake RTT runs from the last SYN before the SYN/ACK: a
        // retransmitted SYN restarts it.
        if syn && !ack_flag && d == C2S && self.handshake.syn_ack.is_none() {
            self.handshake.syn = Some(ts);
        } else if syn && ack_flag && d == S2C && self.handshake.syn_ack.is_none() {
            self.handshake.syn_ack = Some(ts);
        } else if !syn
            && ack_flag
            && d == C2S
            && self.handshake.syn_ack.is_some()
            && self.handshake.ack.is_none()
        {
            self.handshake.ack = Some(ts);
        }

        {
            let st = &mut self.dirs[d].stats;
            st.frames += 1;
            st.wire_bytes += seg.wire_len as u64;
            st.all_payload_bytes += seg.payload_len as u64;
            if seg.truncated {
                st.truncated_frames += 1;
            }
            if seg.has(flags::RST) {
                st.rst = true;
                self.closed = true;
            }
            if fin {
                st.fin = true;
            }
            if seg.options.timestamps.is_some() {
                st.timestamps = true;
            }
            if syn {
                st.syn = true;
                st.syns = st.syns.saturating_add(1);
                st.first_syn_ts.get_or_insert(ts);
                st.last_syn_ts = Some(ts);
                st.mss_option = seg.options.mss.or(st.mss_option);
                st.window_scale = seg.options.window_scale.or(st.window_scale);
                st.sack_permitted |= seg.options.sack_permitted;
            }
        }
        if self.dirs[C2S].stats.fin && self.dirs[S2C].stats.fin {
            self.closed = true;
        }

        // Sequence space of this direction.
        {
            let ds = &mut self.dirs[d];
            if syn {
                if ds.base.is_none() || ds.next.unwrap_or(0) <= 0 {
                    ds.base = Some(seg.seq.wrapping_add(1));
                    ds.last_abs = 0;
                    ds.isn_abs = Some(-1);
                    ds.next = Some(0);
                    ds.next_ts = ts;
                }
            } else if ds.base.is_none() {
                ds.base = Some(seg.seq);
                ds.last_abs = 0;
                ds.next = Some(0);
                ds.next_ts = ts;
            }
        }

        // Window advertised by this side (applies to the peer's data).
        {
            let scale = if self.dirs[C2S].stats.window_scale.is_some()
                && self.dirs[S2C].stats.window_scale.is_some()
                && !syn
            {
                self.dirs[d].stats.window_scale.unwrap_or(0).min(14)
            } else {
                0
            };
            let w = (seg.window as u64) << scale;
            self.dirs[d].window = Some(w);
            let st = &mut self.dirs[d].stats;
            st.max_window = st.max_window.max(w);
            if seg.window == 0 && !syn && !seg.has(flags::RST) {
                st.zero_window += 1;
                if st.zero_window_since.is_none() {
                    st.zero_window_since = Some(ts);
                    st.zero_window_episodes += 1;
                }
            } else if seg.window > 0 {
                if let Some(t0) = st.zero_window_since.take() {
                    st.zero_window_ns = st.zero_window_ns.saturating_add((ts - t0).max(0));
                }
            }
        }

        // Timestamps: remember when each new TSval was first seen; an echo
        // from the other side gives a sample.
        if let Some((tsval, tsecr)) = seg.options.timestamps {
            let ds = &mut self.dirs[d];
            let newer = ds
                .last_tsval
                .is_none_or(|l| tsval.wrapping_sub(l) as i32 > 0);
            if newer {
                ds.last_tsval = Some(tsval);
                if ds.ts_pending.len() >= MAX_TS_PENDING {
                    ds.ts_pending.pop_front();
                }
                ds.ts_pending.push_back((tsval, ts));
            }
            if ack_flag && tsecr != 0 {
                let other = &mut self.dirs[1 - d];
                while let Some(&(v, t0)) = other.ts_pending.front() {
                    let diff = v.wrapping_sub(tsecr) as i32;
                    if diff < 0 {
                        other.ts_pending.pop_front();
                    } else {
                        if diff == 0 && plausible(ts - t0) {
                            other.stats.ts_rtt.push(ts - t0);
                            other.ts_pending.pop_front();
                        }
                        break;
                    }
                }
            }
        }

        // ACK for the other direction's data (processed before this
        // segment's own data: a piggybacked ACK was generated first).
        if ack_flag {
            self.process_ack(1 - d, seg);
        }

        if seg.payload_len > 0 || fin || syn {
            self.process_data(d, seg, max_outstanding);
        } else if !seg.has(flags::RST) {
            self.zero_byte_keepalive(d, seg);
        }
    }

    fn process_ack(&mut self, data_dir: Dir, seg: &Segment) {
        let ts = seg.ts_ns;
        let ds = &mut self.dirs[data_dir];
        let Some(ack) = ds.offset(seg.ack) else {
            return;
        };
        // Ignore ACKs for data never seen (capture started mid-way, or bogus).
        let next = ds.next.unwrap_or(0);
        if ack > next + 1 && !ds.outstanding.is_empty() {
            return;
        }
        let una = ds.una.unwrap_or(i64::MIN);
        let newly = if ack > una && ds.una.is_some() {
            ack - una
        } else {
            0
        };
        let mut sample = None;
        if ack > una {
            ds.una = Some(ack);
            let mut last_covered: Option<Sent> = None;
            while let Some(s) = ds.outstanding.front() {
                if s.end <= ack {
                    last_covered = ds.outstanding.pop_front();
                } else {
                    break;
                }
            }
            if let Some(s) = last_covered {
                let v = ts - s.ts;
                if !s.retx && plausible(v) {
                    ds.stats.ack_rtt.push(v);
                    sample = Some(v);
                }
            }
            if let Some(rp) = ds.recovery_point {
                if ack >= rp {
                    ds.recovery_point = None;
                }
            }
            if let Some(end) = ds.last_small_end {
                if ack >= end && ds.last_small_acked_at.is_none() {
                    ds.last_small_acked_at = Some(ts);
                    ds.last_small_acked_pure = seg.payload_len == 0;
                    ds.peer_data_after_small_ack = false;
                }
            }
        }
        let ev = AckEvent {
            dir: data_dir,
            ts,
            ack,
            newly_acked: newly,
            rtt_sample: sample,
            carries_data: seg.payload_len > 0,
        };
        self.observer.on_ack(&ev);
    }

    /// A segment without payload at one below the next sequence number: a
    /// keep-alive (Linux sends them with 0 bytes) or a zero-window probe.
    fn zero_byte_keepalive(&mut self, d: Dir, seg: &Segment) {
        let peer_window = self.dirs[1 - d].window;
        let own = &mut self.dirs[d];
        let Some(next) = own.next else { return };
        if next <= 0 || own.offset(seg.seq) != Some(next - 1) {
            return;
        }
        own.stats.keepalives += 1;
        let ev = DataEvent {
            dir: d,
            ts: seg.ts_ns,
            frame: seg.frame,
            start: next - 1,
            len: 0,
            kind: SegmentKind::KeepAlive,
            small: true,
            mss: None,
            fin: false,
            psh: seg.has(flags::PSH),
            prev_small_unacked: false,
            since_prev_small_acked: None,
            prev_small_ack_wait: None,
            prev_small_acked_by_pure_ack: false,
            since_prev_send: own.last_send_ts.map(|t| seg.ts_ns - t),
            in_recovery: own.recovery_point.is_some(),
            in_flight: own.una.map_or(0, |u| (next - u).max(0)),
            segments_in_flight: own.outstanding.len() as u32,
            peer_window,
            src_port: seg.src.port(),
            dst_port: seg.dst.port(),
            payload: &[],
        };
        self.observer.on_data(&ev);
    }

    fn process_data(&mut self, d: Dir, seg: &Segment, max_outstanding: usize) {
        let ts = seg.ts_ns;
        if seg.payload_len > 0 && self.dirs[1 - d].last_small_acked_at.is_some() {
            self.dirs[1 - d].peer_data_after_small_ack = true;
        }
        let ooo_threshold = self
            .handshake
            .split()
            .map(|(a, b)| (a + b).max(1))
            .unwrap_or(DEFAULT_OOO_THRESHOLD_NS);
        let peer_window = self.dirs[1 - d].window;
        let (peer_stats, own) = if d == C2S {
            let (a, b) = self.dirs.split_at_mut(1);
            (&b[0].stats, &mut a[0])
        } else {
            let (a, b) = self.dirs.split_at_mut(1);
            (&a[0].stats, &mut b[0])
        };
        let Some(mut start) = own.offset(seg.seq) else {
            return;
        };
        let syn = seg.has(flags::SYN);
        let fin = seg.has(flags::FIN);
        if syn {
            start += 1; // the SYN occupies the sequence number before offset 0
        }
        let len = seg.payload_len as i64;
        let end = start + len + if fin { 1 } else { 0 };
        let next = own.next.unwrap_or(start);

        if len == 0 {
            // SYN or FIN without data: only advance.
            if end > next {
                own.next = Some(end);
                own.next_ts = ts;
            }
            return;
        }

        if seg.options.options_len > 0 || own.stats.min_data_options_len.is_some() {
            let o = seg.options.options_len;
            own.stats.min_data_options_len =
                Some(own.stats.min_data_options_len.map_or(o, |m| m.min(o)));
        } else {
            own.stats.min_data_options_len = Some(0);
        }

        let kind = if len <= 1 && start == next - 1 && !syn && !fin {
            SegmentKind::KeepAlive
        } else if start < next {
            // Below the highest sequence seen: out-of-order only if it fills
            // a gap never seen and arrives within the threshold (Wireshark's
            // timing rule); bytes seen before are always a retransmission.
            let fills_hole = own.fill_hole(start, start + len);
            if fills_hole && ts - own.next_ts < ooo_threshold {
                SegmentKind::OutOfOrder
            } else {
                SegmentKind::Retransmission
            }
        } else {
            if start > next {
                if own.holes.len() >= MAX_HOLES {
                    own.holes.pop_front();
                }
                own.holes.push_back((next, start));
            }
            SegmentKind::New
        };

        let payload = seg.payload_len;
        match kind {
            SegmentKind::KeepAlive => own.stats.keepalives += 1,
            SegmentKind::Retransmission => {
                own.stats.retransmissions += 1;
                own.stats.retransmitted_bytes += payload as u64;
                own.recovery_point = Some(next);
                for s in own.outstanding.iter_mut() {
                    if s.start < end && s.end > start {
                        s.retx = true;
                    }
                }
            }
            SegmentKind::OutOfOrder | SegmentKind::New => {
                own.stats.data_segments += 1;
                own.stats.payload_bytes += payload as u64;
                own.stats.max_payload = own.stats.max_payload.max(payload);
                if kind == SegmentKind::OutOfOrder {
                    own.stats.out_of_order += 1;
                }
            }
        }

        // Effective MSS at this moment.
        let mss = own.effective_mss(peer_stats);
        let small = mss.is_some_and(|m| payload < m);
        if let Some(m) = mss {
            if payload > m && kind != SegmentKind::KeepAlive {
                own.stats.oversize_segments += 1;
            }
            if small && matches!(kind, SegmentKind::New | SegmentKind::OutOfOrder) {
                own.stats.small_segments += 1;
            }
        }

        let una = own.una.unwrap_or(i64::MIN);
        let in_flight = if own.una.is_some() {
            (next - una).max(0)
        } else {
            0
        };
        let prev_small_unacked = own.una.is_some() && own.last_small_end.is_some_and(|e| e > una);
        let since_prev_small_acked = own.last_small_acked_at.map(|t| ts - t);
        let prev_small_ack_wait = own.last_small_acked_at.map(|t| t - own.last_small_ts);
        let since_prev_send = own.last_send_ts.map(|t| ts - t);

        let ev = DataEvent {
            dir: d,
            src_port: seg.src.port(),
            dst_port: seg.dst.port(),
            payload: seg.payload.get(..payload as usize).unwrap_or(seg.payload),
            ts,
            frame: seg.frame,
            start,
            len: payload,
            kind,
            small,
            mss,
            fin,
            psh: seg.has(flags::PSH),
            prev_small_unacked,
            since_prev_small_acked,
            prev_small_ack_wait,
            prev_small_acked_by_pure_ack: own.last_small_acked_pure
                && !own.peer_data_after_small_ack,
            since_prev_send,
            in_recovery: own.recovery_point.is_some(),
            in_flight,
            segments_in_flight: own.outstanding.len() as u32,
            peer_window,
        };

        if matches!(kind, SegmentKind::New | SegmentKind::OutOfOrder) {
            if own.outstanding.len() >= max_outstanding {
                own.outstanding.pop_front();
                own.stats.outstanding_overflow += 1;
            }
            if kind == SegmentKind::New {
                own.outstanding.push_back(Sent {
                    start,
                    end,
                    ts,
                    retx: false,
                });
            }
            if small {
                own.last_small_end = Some(end);
                own.last_small_ts = ts;
                own.last_small_acked_at = None;
            }
            own.last_send_ts = Some(ts);
        }
        if end > next {
            own.next = Some(end);
            own.next_ts = ts;
        }
        self.observer.on_data(&ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Segment, TcpOptions};

    #[derive(Default)]
    struct Log {
        data: Vec<DataEvent<'static>>,
        acks: Vec<AckEvent>,
    }
    impl FlowObserver for Log {
        fn on_data(&mut self, ev: &DataEvent<'_>) {
            self.data.push(DataEvent {
                payload: &[],
                ..*ev
            });
        }
        fn on_ack(&mut self, ev: &AckEvent) {
            self.acks.push(*ev);
        }
    }

    const C: &str = "10.0.0.1:40000";
    const S: &str = "10.0.0.2:80";

    fn seg(
        from_client: bool,
        ts_us: i64,
        seq: u32,
        ack: u32,
        fl: u8,
        len: u32,
    ) -> Segment<'static> {
        let (src, dst) = if from_client { (C, S) } else { (S, C) };
        Segment {
            frame: 0,
            ts_ns: ts_us * 1000,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            seq,
            ack,
            flags: fl,
            window: 1000,
            options: TcpOptions {
                mss: if fl & flags::SYN != 0 {
                    Some(1460)
                } else {
                    None
                },
                ..Default::default()
            },
            payload_len: len,
            payload: &[],
            truncated: false,
            wire_len: 54 + len,
        }
    }

    fn run(segs: &[Segment]) -> Vec<(FlowSummary, Log)> {
        let mut t: Tracker<Log> = Tracker::new(Limits::default(), Box::new(Log::default));
        let mut out = vec![];
        for s in segs {
            t.push(s, &mut |f, o| out.push((f, o)));
        }
        t.finish_all(&mut |f, o| out.push((f, o)));
        out
    }

    const SYN: u8 = flags::SYN;
    const ACK: u8 = flags::ACK;
    const SA: u8 = flags::SYN | flags::ACK;
    const PA: u8 = flags::PSH | flags::ACK;

    #[test]
    fn handshake_data_ack_and_rtt() {
        let isn_c = 1000;
        let isn_s = 5000;
        let out = run(&[
            seg(true, 0, isn_c, 0, SYN, 0),
            seg(false, 10_000, isn_s, isn_c + 1, SA, 0),
            seg(true, 10_050, isn_c + 1, isn_s + 1, ACK, 0),
            seg(true, 20_000, isn_c + 1, isn_s + 1, PA, 4),
            seg(false, 30_000, isn_s + 1, isn_c + 5, ACK, 0),
        ]);
        assert_eq!(out.len(), 1);
        let (f, log) = &out[0];
        assert!(f.handshake_seen);
        assert_eq!(f.client, C.parse().unwrap());
        assert_eq!(f.handshake.split(), Some((10_000_000, 50_000)));
        assert_eq!(f.dirs[C2S].data_segments, 1);
        assert_eq!(f.dirs[C2S].payload_bytes, 4);
        assert_eq!(f.dirs[C2S].ack_rtt.min, Some(10_000_000));
        assert_eq!(f.mss[C2S], Some(1460));
        assert_eq!(log.data[0].start, 0);
        assert!(log.data[0].small);
        let last = log.acks.last().unwrap();
        assert_eq!((last.ack, last.newly_acked), (4, 4));
    }

    #[test]
    fn sequence_wraparound_keeps_offsets_monotonic() {
        let isn = u32::MAX - 5;
        let out = run(&[
            seg(true, 0, isn, 0, SYN, 0),
            seg(false, 1, 7, isn.wrapping_add(1), SA, 0),
            seg(true, 2, isn.wrapping_add(1), 8, PA, 100),
            seg(true, 3, isn.wrapping_add(101), 8, PA, 100),
            seg(false, 4, 8, isn.wrapping_add(201), ACK, 0),
        ]);
        let (f, log) = &out[0];
        assert_eq!(f.dirs[C2S].data_segments, 2);
        assert_eq!(f.dirs[C2S].retransmissions, 0);
        assert_eq!(log.data[1].start, 100);
        assert_eq!(log.acks.last().unwrap().ack, 200);
    }

    #[test]
    fn retransmission_excluded_and_karn() {
        let out = run(&[
            seg(true, 0, 0, 0, SYN, 0),
            seg(false, 100, 0, 1, SA, 0),
            seg(true, 200, 1, 1, ACK, 0),
            seg(true, 1_000, 1, 1, PA, 10),
            seg(true, 300_000, 1, 1, PA, 10), // RTO retransmission
            seg(false, 300_100, 1, 11, ACK, 0),
        ]);
        let (f, _) = &out[0];
        assert_eq!(f.dirs[C2S].data_segments, 1);
        assert_eq!(f.dirs[C2S].retransmissions, 1);
        assert_eq!(f.dirs[C2S].payload_bytes, 10);
        assert_eq!(f.dirs[C2S].all_payload_bytes, 20);
        // Karn: no sample from the retransmitted segment.
        assert_eq!(f.dirs[C2S].ack_rtt.count, 0);
    }

    #[test]
    fn out_of_order_within_threshold() {
        let out = run(&[
            seg(true, 0, 0, 0, PA, 100),
            seg(true, 10, 200, 0, PA, 100), // gap: 100..200 missing
            seg(true, 20, 100, 0, PA, 100), // fills it 10 µs later
        ]);
        let (f, _) = &out[0];
        assert_eq!(f.dirs[C2S].out_of_order, 1);
        assert_eq!(f.dirs[C2S].retransmissions, 0);
        assert_eq!(f.dirs[C2S].data_segments, 3);
        assert!(!f.handshake_seen);
    }

    #[test]
    fn port_reuse_with_new_syn_is_a_new_flow() {
        let out = run(&[
            seg(true, 0, 100, 0, SYN, 0),
            seg(false, 1, 900, 101, SA, 0),
            seg(true, 2, 101, 901, flags::RST, 0),
            seg(true, 3, 777_777, 0, SYN, 0),
            seg(false, 4, 55, 777_778, SA, 0),
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].0.id, 0);
        assert_eq!(out[1].0.id, 1);
    }

    #[test]
    fn small_segment_unacked_is_flagged() {
        let out = run(&[
            seg(true, 0, 0, 0, SYN, 0),
            seg(false, 100, 0, 1, SA, 0),
            seg(true, 200, 1, 1, ACK, 0),
            seg(true, 1_000, 1, 1, PA, 4),
            seg(true, 2_000, 5, 1, PA, 4), // Nagle off: second small while first unacked
            seg(false, 3_000, 1, 9, ACK, 0),
            seg(true, 3_010, 9, 1, PA, 8), // released right after the ACK
        ]);
        let log = &out[0].1;
        assert!(!log.data[0].prev_small_unacked);
        assert!(log.data[1].prev_small_unacked);
        assert!(!log.data[2].prev_small_unacked);
        assert_eq!(log.data[2].since_prev_small_acked, Some(10_000));
    }

    #[test]
    fn keepalive_is_not_data() {
        let out = run(&[
            seg(true, 0, 0, 0, SYN, 0),
            seg(false, 1, 0, 1, SA, 0),
            seg(true, 2, 1, 1, PA, 10),
            seg(false, 3, 1, 11, ACK, 0),
            seg(true, 7_200_000_000, 10, 1, ACK, 1),
        ]);
        let f = &out[0].0;
        assert_eq!(f.dirs[C2S].keepalives, 1);
        assert_eq!(f.dirs[C2S].data_segments, 1);
        assert_eq!(f.dirs[C2S].retransmissions, 0);
    }

    #[test]
    fn broken_timestamp_leap_does_not_end_a_connection() {
        // 1 h idle timeout; the second segment claims to come 100 years
        // later (a damaged timestamp), the third a normal 1 ms after the first.
        let mut t: Tracker<Log> = Tracker::new(
            Limits {
                idle_timeout_ns: 3_600_000_000_000,
                ..Limits::default()
            },
            Box::new(Log::default),
        );
        let mut out = vec![];
        for s in [
            seg(true, 0, 0, 0, PA, 10),
            seg(true, 3_155_760_000_000_000, 10, 0, PA, 10),
            seg(true, 1_000, 20, 0, PA, 10),
        ] {
            t.push(&s, &mut |f, o| out.push((f, o)));
        }
        t.finish_all(&mut |f, o| out.push((f, o)));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0.dirs[C2S].data_segments, 3);
    }

    #[test]
    fn flow_table_limit_evicts() {
        let mut t: Tracker<()> = Tracker::new(
            Limits {
                max_flows: 2,
                ..Limits::default()
            },
            Box::new(|| ()),
        );
        let mut done = vec![];
        for p in 0..5u16 {
            let mut s = seg(true, p as i64, 0, 0, SYN, 0);
            s.src.set_port(1000 + p);
            t.push(&s, &mut |f, _| done.push(f));
        }
        assert_eq!(t.live_flows(), 2);
        assert_eq!(t.evicted, 3);
        assert!(done.iter().all(|f| f.evicted));
    }
}
#[cfg(test)]
mod size_guard {
    /// Live-flow memory is what bounds a SYN flood: keep the per-flow state
    /// small (measured: ~4.7 KB RSS per live flow, of which this is ~1.8 KB).
    #[test]
    fn flow_state_stays_small() {
        let size = std::mem::size_of::<super::Flow<crate::analysis::FlowAnalysis>>();
        assert!(size <= 2048, "Flow state grew to {size} bytes");
    }
}

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
//! Nagle or delayed ACK, never reads payload bytes (it hands them on), and
//! never reassembles the byte stream.
//!
//! # Design: directions, pairs and endpoints
//! A connection has two directions, [`Dir::ClientToServer`] ([`C2S`]) and
//! [`Dir::ServerToClient`] ([`S2C`]); the client is the side that sent the
//! SYN, else the first sender. Everything kept per direction lives in a
//! [`Pair`], indexed by a [`Dir`]; `d.reverse()` is the other way. Nothing
//! here does arithmetic on direction numbers.
//!
//! Each direction's state is an `Endpoint` (the model is Zeek's
//! `TCP_Endpoint`): the sending side of that direction, owning its sequence
//! space and everything that follows from it. Its methods are the steps of
//! the tracker, each one job: `count_frame` (counters and SYN options),
//! `start_sequence` (ISN from the SYN, else the first sequence number seen),
//! `offset` (unwrapping a raw sequence number), `advertise_window` (the
//! window this side offers the peer, scaled, and zero-window episodes),
//! `note_tsval` / `echo` (TSval remembered, a peer's TSecr matched to it),
//! `on_ack` (the peer acknowledging this side's outstanding data: RTT
//! sample, recovery and small-segment bookkeeping), `send` (classify a data
//! segment, count it, describe it, remember it as outstanding) and
//! `keepalive_probe`. `Flow::update` only routes a segment to its two
//! endpoints in that order and hands the resulting events to the observer.
//!
//! Memory is bounded: at most `max_flows` live connections (the oldest idle
//! one is finished early when the table is full, found in O(log n) by
//! `flow/evict.rs`); a connection that has
//! carried no data is held as a compact record of its header-only segments
//! until its first data (`flow/compact.rs`: a SYN flood costs ~0.3 KB per
//! connection, not the full state's ~4.7 KB); at most
//! [`MAX_OUTSTANDING`] outstanding segments and [`MAX_SAMPLES`] RTT samples
//! per direction (thinned by [`crate::thin::Thinned`]). A connection is
//! finished and handed to the sink when it closes (FIN both ways or RST) and
//! is then idle, or at the end of input.
//!
//! Rules, in the words the README repeats:
//! - *new data / retransmitted bytes* (the tracker's own [`SegmentKind`],
//!   what the analysis counts on): a segment below the highest sequence
//!   number seen repeats bytes seen before unless it lies inside a range
//!   never seen (a hole, `flow/gaps.rs`), which it fills; filling one within the
//!   out-of-order threshold (the handshake RTT, else 3 ms) is out-of-order
//!   new data;
//! - *Wireshark's labels* (the report's `retransmissions`,
//!   `fast_retransmissions`, `spurious_retransmissions`, `out_of_order`):
//!   Wireshark 4.0's rules, frame by frame, in `flow/wireshark.rs`;
//! - *capture gap*: a hole the peer's cumulative ACK passes unfilled
//!   (received, but never captured), see `flow/gaps.rs`;
//! - *keep-alive*: 0 or 1 byte at exactly one below the next sequence number.
//!
//! Every [`DataEvent`] and [`AckEvent`] carries the 1-based number of its
//! frame in its input, as Wireshark shows it.

mod compact;
mod evict;
mod gaps;
mod wireshark;

use crate::decode::{flags, Segment};
use crate::thin::{Keep, Thinned};
use crate::TsNs;
use compact::Compact;
pub use compact::MAX_SEGMENTS as MAX_COMPACT_SEGMENTS;
use evict::{EvictOrder, EvictRank};
pub use gaps::CaptureGaps;
use gaps::Holes;
use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::ops::{Index, IndexMut};
pub use wireshark::WsClass;
use wireshark::WsSeq;

/// Default of [`Limits::max_outstanding`] (`--max-outstanding`): at most this
/// many outstanding (unacknowledged) segments are remembered per direction;
/// older ones are forgotten (and counted).
pub const MAX_OUTSTANDING: usize = 1 << 16;
/// At most this many RTT samples are kept per direction for percentiles;
/// beyond that every other sample is dropped (the min stays exact).
pub const MAX_SAMPLES: usize = 1 << 16;
const MAX_TS_PENDING: usize = 4096;
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

/// Direction within a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// From the client (the SYN's sender, else the first sender) to the server.
    ClientToServer,
    /// From the server to the client.
    ServerToClient,
}

/// Short names for the two directions.
pub use Dir::{ClientToServer as C2S, ServerToClient as S2C};

impl Dir {
    /// Both directions, client→server first (the order of every report).
    pub const BOTH: [Dir; 2] = [C2S, S2C];

    /// The other direction.
    #[inline]
    pub fn reverse(self) -> Dir {
        match self {
            C2S => S2C,
            S2C => C2S,
        }
    }

    /// 0 for client→server, 1 for server→client.
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One value per direction, indexed by [`Dir`]; iterates client→server first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pair<T>([T; 2]);

impl<T> Pair<T> {
    pub fn new(c2s: T, s2c: T) -> Self {
        Pair([c2s, s2c])
    }

    /// The pair of `f(C2S)` and `f(S2C)`.
    pub fn from_fn(mut f: impl FnMut(Dir) -> T) -> Self {
        Pair([f(C2S), f(S2C)])
    }

    /// The client→server value.
    pub fn c2s(&self) -> &T {
        &self.0[0]
    }

    /// The server→client value.
    pub fn s2c(&self) -> &T {
        &self.0[1]
    }

    /// Both values, client→server first.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.0.iter_mut()
    }

    /// `(direction, value)`, client→server first.
    pub fn iter_dirs(&self) -> impl Iterator<Item = (Dir, &T)> {
        Dir::BOTH.into_iter().zip(&self.0)
    }

    /// `(direction, value)` by value, client→server first.
    pub fn into_iter_dirs(self) -> impl Iterator<Item = (Dir, T)> {
        Dir::BOTH.into_iter().zip(self.0)
    }

    /// The value of `d` to change and the other one's.
    #[inline]
    pub fn split_mut(&mut self, d: Dir) -> (&mut T, &mut T) {
        let [a, b] = &mut self.0;
        match d {
            C2S => (a, b),
            S2C => (b, a),
        }
    }
}

impl<T> Index<Dir> for Pair<T> {
    type Output = T;
    #[inline]
    fn index(&self, d: Dir) -> &T {
        &self.0[d.index()]
    }
}

impl<T> IndexMut<Dir> for Pair<T> {
    #[inline]
    fn index_mut(&mut self, d: Dir) -> &mut T {
        &mut self.0[d.index()]
    }
}

impl<T> IntoIterator for Pair<T> {
    type Item = T;
    type IntoIter = std::array::IntoIter<T, 2>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Pair<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

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

impl SegmentKind {
    /// New data, in order or not.
    fn is_new_data(self) -> bool {
        matches!(self, SegmentKind::New | SegmentKind::OutOfOrder)
    }
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
    /// 1-based number of the ACK's frame in its input (as Wireshark shows it).
    pub frame: u64,
    /// Acknowledged offset in `dir`'s sequence space.
    pub ack: i64,
    /// Bytes newly acknowledged (0 for a duplicate).
    pub newly_acked: i64,
    /// Data→ACK sample (Karn's rule) in nanoseconds, raw at the capture point.
    pub rtt_sample: Option<i64>,
    /// The ACK carried data of its own (piggybacked).
    pub carries_data: bool,
    /// The receive window the ACKing side advertised in it (scaled), when known.
    pub window: Option<u64>,
    /// The ACKing side advertised a zero window (counted as `zero_window`:
    /// not on a SYN or RST).
    pub zero_window: bool,
    /// SACK blocks the ACK carried, as offsets in `dir`'s sequence space.
    pub sack: Sack,
}

/// Up to four SACK blocks, `[start, end)` offsets of bytes the peer holds
/// above its cumulative ACK.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sack {
    pub blocks: [(i64, i64); 4],
    pub n: u8,
}

impl Sack {
    /// The valid blocks.
    pub fn blocks(&self) -> &[(i64, i64)] {
        &self.blocks[..(self.n as usize).min(4)]
    }
}

/// Receives a flow's events. The analysis stage implements it.
pub trait FlowObserver {
    /// The connection was seen for the first time: its client, server and
    /// first frame's time (called once, before any other event).
    fn on_open(&mut self, _client: SocketAddr, _server: SocketAddr, _start: TsNs) {}
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
    /// Frames Wireshark flags `tcp.analysis.retransmission` (fast and
    /// spurious ones included), see [`WsClass`].
    pub retransmissions: u64,
    /// Of those, `tcp.analysis.fast_retransmission`.
    pub fast_retransmissions: u32,
    /// Of those, `tcp.analysis.spurious_retransmission`.
    pub spurious_retransmissions: u32,
    /// Payload of segments resending bytes seen before (the tracker's own
    /// [`SegmentKind::Retransmission`]).
    pub retransmitted_bytes: u64,
    /// Frames Wireshark flags `tcp.analysis.out_of_order`.
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
    /// Sequence ranges missing from the capture (see [`CaptureGaps`]).
    pub capture_gaps: CaptureGaps,
    /// Data→ACK samples (raw, ns) for this direction's data.
    pub ack_rtt: Samples,
    /// TSval→TSecr echo samples (raw, ns) for this direction's segments.
    pub ts_rtt: Samples,
}

/// RTT samples: at most [`MAX_SAMPLES`] kept evenly thinned (the last of
/// each stride, see [`crate::thin`]), with the exact minimum and count.
#[derive(Debug, Clone)]
pub struct Samples {
    thin: Thinned<i64>,
    min: Option<i64>,
}

impl Default for Samples {
    fn default() -> Self {
        Samples {
            thin: Thinned::new(MAX_SAMPLES as u32, Keep::Last),
            min: None,
        }
    }
}

impl Samples {
    #[inline]
    pub fn push(&mut self, v: i64) {
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        self.thin.push(v);
    }

    /// The samples kept (an even subset once there were more than the cap).
    pub fn values(&self) -> &[i64] {
        self.thin.values()
    }

    /// Every sample pushed, kept or not.
    pub fn count(&self) -> u64 {
        self.thin.seen()
    }

    /// The smallest sample pushed (exact).
    pub fn min(&self) -> Option<i64> {
        self.min
    }
}

/// An optional sequence offset or timestamp in 8 bytes (an `Option<i64>`
/// takes 16): `i64::MIN` is "none", which no offset (unwrapped from 32 bits
/// step by step) and no clamped timestamp ([`MAX_TS_NS`]) reaches. Keeps the
/// per-flow state under its size guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Opt64(i64);

impl Opt64 {
    const NONE: Opt64 = Opt64(i64::MIN);

    #[inline]
    fn some(v: i64) -> Opt64 {
        debug_assert!(v != i64::MIN);
        Opt64(v)
    }

    #[inline]
    fn get(self) -> Option<i64> {
        (self != Self::NONE).then_some(self.0)
    }
}

impl Default for Opt64 {
    fn default() -> Self {
        Self::NONE
    }
}

/// A segment of new data still unacknowledged.
#[derive(Debug, Clone, Copy)]
struct Sent {
    start: i64,
    end: i64,
    ts: TsNs,
    retx: bool,
}

/// Where a data segment lies in its direction's sequence space.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// Offset of the first payload byte.
    start: i64,
    /// Payload bytes.
    len: i64,
    /// Exclusive end, counting a FIN's sequence number.
    end: i64,
}

/// What a segment of new data says about the endpoint's small segments
/// and window (the part of a [`DataEvent`] that the endpoint's state,
/// not the segment, decides).
#[derive(Debug, Clone, Copy)]
struct Judged {
    kind: SegmentKind,
    small: bool,
    mss: Option<u32>,
}

/// The sending side of one direction: its sequence space, the data it has
/// outstanding, what it advertised to the peer and its counters.
#[derive(Debug, Default)]
struct Endpoint {
    stats: DirStats,
    /// Raw sequence number of offset 0 (ISN + 1 when the SYN was seen).
    base: Option<u32>,
    /// Last unwrapped absolute sequence (for wraparound).
    last_abs: i64,
    /// Highest sequence offset sent + 1 (exclusive end).
    next: Opt64,
    next_ts: TsNs,
    /// Highest offset acknowledged by the peer.
    una: Opt64,
    outstanding: VecDeque<Sent>,
    recovery_point: Opt64,
    last_send_ts: Opt64,
    last_small_end: Opt64,
    last_small_ts: TsNs,
    last_small_acked_at: Opt64,
    /// Last advertised window of this side (scaled), applying to the peer's data.
    window: Option<u64>,
    /// Whether the ACK of the last small segment carried no data.
    last_small_acked_pure: bool,
    /// The peer sent data after that ACK: what follows is an answer to it,
    /// not a release of held data.
    peer_data_after_small_ack: bool,
    /// Sequence ranges skipped over (data never seen): a later segment
    /// filling one is out-of-order (or a retransmission of data lost before
    /// the capture point), one overlapping seen data is a retransmission;
    /// one the peer acknowledges unfilled is a capture gap.
    holes: Holes,
    /// Wireshark's view of this side's sequence numbers.
    ws: WsSeq,
    ts_pending: VecDeque<(u32, TsNs)>,
    last_tsval: Option<u32>,
}

/// Counting, sequence space, window and timestamps.
impl Endpoint {
    /// Count a frame of this direction and take the SYN's options.
    fn count_frame(&mut self, seg: &Segment) {
        let st = &mut self.stats;
        st.frames += 1;
        st.wire_bytes += seg.wire_len as u64;
        st.all_payload_bytes += seg.payload_len as u64;
        if seg.truncated {
            st.truncated_frames += 1;
        }
        if seg.has(flags::RST) {
            st.rst = true;
        }
        if seg.has(flags::FIN) {
            st.fin = true;
        }
        if seg.options.timestamps.is_some() {
            st.timestamps = true;
        }
        if seg.has(flags::SYN) {
            st.syn = true;
            st.syns = st.syns.saturating_add(1);
            st.first_syn_ts.get_or_insert(seg.ts_ns);
            st.last_syn_ts = Some(seg.ts_ns);
            st.mss_option = seg.options.mss.or(st.mss_option);
            st.window_scale = seg.options.window_scale.or(st.window_scale);
            st.sack_permitted |= seg.options.sack_permitted;
        }
    }

    /// Fix offset 0 of the sequence space: one past the SYN's ISN (a later
    /// SYN with another ISN restarts it while no data was sent), else the
    /// first sequence number seen (capture started mid-connection).
    fn start_sequence(&mut self, seg: &Segment) {
        let base = if seg.has(flags::SYN) {
            if self.base.is_some() && self.next.get().unwrap_or(0) > 0 {
                return;
            }
            seg.seq.wrapping_add(1)
        } else if self.base.is_none() {
            seg.seq
        } else {
            return;
        };
        self.base = Some(base);
        self.last_abs = 0;
        self.next = Opt64::some(0);
        self.next_ts = seg.ts_ns;
    }

    /// Unwrap a raw 32-bit sequence number into this direction's offsets:
    /// the offset nearest the last one seen (within 2^31 either way).
    #[inline]
    fn offset(&mut self, raw: u32) -> Option<i64> {
        let base = self.base?;
        let rel = raw.wrapping_sub(base);
        let last = self.last_abs;
        let delta = (rel.wrapping_sub(last as u32)) as i32 as i64;
        let abs = last + delta;
        self.last_abs = abs;
        Some(abs)
    }

    /// The window this side advertises (applies to the peer's data): scaled
    /// by this side's SYN option when both SYNs agreed on scaling (never on
    /// a SYN itself), and the zero-window episodes it opens and closes.
    fn advertise_window(&mut self, seg: &Segment, scaling_agreed: bool) {
        let syn = seg.has(flags::SYN);
        let scale = if scaling_agreed && !syn {
            self.stats.window_scale.unwrap_or(0).min(14)
        } else {
            0
        };
        let w = (seg.window as u64) << scale;
        self.window = Some(w);
        let st = &mut self.stats;
        st.max_window = st.max_window.max(w);
        if seg.window == 0 && !syn && !seg.has(flags::RST) {
            st.zero_window += 1;
            if st.zero_window_since.is_none() {
                st.zero_window_since = Some(seg.ts_ns);
                st.zero_window_episodes += 1;
            }
        } else if seg.window > 0 {
            if let Some(t0) = st.zero_window_since.take() {
                st.zero_window_ns = st.zero_window_ns.saturating_add((seg.ts_ns - t0).max(0));
            }
        }
    }

    /// Wireshark's label for this side's frame `seg`, counted.
    fn wireshark_class(&mut self, seg: &Segment, peer: &WsSeq, ooo_threshold: i64) {
        let st = &mut self.stats;
        match self.ws.frame(peer, seg, ooo_threshold) {
            None => {}
            Some(WsClass::OutOfOrder) => st.out_of_order += 1,
            Some(c) => {
                st.retransmissions += 1;
                let (fast, spurious) = (
                    &mut st.fast_retransmissions,
                    &mut st.spurious_retransmissions,
                );
                *fast = fast.saturating_add(u32::from(c == WsClass::FastRetransmission));
                *spurious =
                    spurious.saturating_add(u32::from(c == WsClass::SpuriousRetransmission));
            }
        }
    }

    /// Remember when a TSval newer than any before was first seen.
    fn note_tsval(&mut self, tsval: u32, ts: TsNs) {
        let newer = self
            .last_tsval
            .is_none_or(|l| tsval.wrapping_sub(l) as i32 > 0);
        if newer {
            self.last_tsval = Some(tsval);
            if self.ts_pending.len() >= MAX_TS_PENDING {
                self.ts_pending.pop_front();
            }
            self.ts_pending.push_back((tsval, ts));
        }
    }

    /// The peer echoed `tsecr` at `ts`: older TSvals are forgotten, and
    /// the one echoed gives a TSval→TSecr sample.
    fn echo(&mut self, tsecr: u32, ts: TsNs) {
        while let Some(&(v, t0)) = self.ts_pending.front() {
            let diff = v.wrapping_sub(tsecr) as i32;
            if diff < 0 {
                self.ts_pending.pop_front();
            } else {
                if diff == 0 && plausible(ts - t0) {
                    self.stats.ts_rtt.push(ts - t0);
                    self.ts_pending.pop_front();
                }
                break;
            }
        }
    }

    /// The counters as the report shows them: the stats with the capture
    /// gaps as they stand (open holes count when no ACK was ever seen).
    fn final_stats(&self) -> DirStats {
        DirStats {
            capture_gaps: self
                .holes
                .at_end(self.stats.capture_gaps, self.una.get().is_some()),
            ..self.stats.clone()
        }
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

/// Acknowledgements of this side's data.
impl Endpoint {
    /// The peer's ACK `seg` for this side's data (direction `dir`): move
    /// `una`, retire the outstanding segments it covers (the last one gives
    /// an RTT sample unless it was retransmitted: Karn's rule), end loss
    /// recovery, and note when the last small segment was acknowledged.
    /// None for an ACK of data never seen.
    fn on_ack(&mut self, dir: Dir, seg: &Segment) -> Option<AckEvent> {
        let ts = seg.ts_ns;
        let ack = self.offset(seg.ack)?;
        // Ignore ACKs for data never seen (capture started mid-way, or bogus).
        if ack > self.next.get().unwrap_or(0) + 1 && !self.outstanding.is_empty() {
            return None;
        }
        let newly_acked = match self.una.get() {
            Some(una) if ack > una => ack - una,
            _ => 0,
        };
        let mut rtt_sample = None;
        if self.una.get().is_none_or(|una| ack > una) {
            self.una = Opt64::some(ack);
            self.holes.ack(ack, &mut self.stats.capture_gaps);
            rtt_sample = self.retire_acked(ack, ts);
            if self.recovery_point.get().is_some_and(|rp| ack >= rp) {
                self.recovery_point = Opt64::NONE;
            }
            if self.last_small_end.get().is_some_and(|end| ack >= end)
                && self.last_small_acked_at.get().is_none()
            {
                self.last_small_acked_at = Opt64::some(ts);
                self.last_small_acked_pure = seg.payload_len == 0;
                self.peer_data_after_small_ack = false;
            }
        }
        Some(AckEvent {
            dir,
            ts,
            frame: seg.frame,
            ack,
            newly_acked,
            rtt_sample,
            carries_data: seg.payload_len > 0,
            window: None,
            zero_window: false,
            sack: if seg.options.sack_blocks > 0 {
                self.sack(&seg.options)
            } else {
                Sack::default()
            },
        })
    }

    /// A segment's SACK blocks as offsets of this direction (unwrapped
    /// near the last offset seen, without moving it).
    fn sack(&self, o: &crate::decode::TcpOptions) -> Sack {
        let Some(base) = self.base else {
            return Sack::default();
        };
        let at = |raw: u32| {
            let rel = raw.wrapping_sub(base);
            let last = self.last_abs;
            last + (rel.wrapping_sub(last as u32)) as i32 as i64
        };
        let mut out = Sack::default();
        for &(l, r) in o.sack.iter().take(o.sack_blocks as usize) {
            let (lo, hi) = (at(l), at(r));
            if hi > lo {
                out.blocks[out.n as usize] = (lo, hi);
                out.n += 1;
            }
        }
        out
    }

    /// Drop the outstanding segments that end at or below `ack`; the data→ACK
    /// sample of the last of them, unless it was retransmitted.
    fn retire_acked(&mut self, ack: i64, ts: TsNs) -> Option<i64> {
        let mut last_covered: Option<Sent> = None;
        while let Some(s) = self.outstanding.front() {
            if s.end > ack {
                break;
            }
            last_covered = self.outstanding.pop_front();
        }
        let s = last_covered?;
        let v = ts - s.ts;
        if s.retx || !plausible(v) {
            return None;
        }
        self.stats.ack_rtt.push(v);
        Some(v)
    }

    /// The peer sent data: after the ACK of this side's last small segment,
    /// what this side sends next answers it rather than being released.
    fn peer_sent_data(&mut self) {
        if self.last_small_acked_at.get().is_some() {
            self.peer_data_after_small_ack = true;
        }
    }
}

/// Sending: classifying, counting and describing this side's segments.
impl Endpoint {
    /// A segment without payload at one below the next sequence number: a
    /// keep-alive (Linux sends them with 0 bytes) or a zero-window probe.
    fn keepalive_probe<'a>(
        &mut self,
        dir: Dir,
        seg: &Segment<'a>,
        peer_window: Option<u64>,
    ) -> Option<DataEvent<'a>> {
        let next = self.next.get()?;
        if next <= 0 || self.offset(seg.seq) != Some(next - 1) {
            return None;
        }
        self.stats.keepalives += 1;
        Some(self.event(dir, seg, next, peer_window))
    }

    /// A segment with SYN, FIN or payload from this side: classify and count
    /// it, and for payload describe it and remember it as outstanding.
    /// `ooo_threshold` separates out-of-order from retransmission.
    fn send<'a>(
        &mut self,
        dir: Dir,
        seg: &Segment<'a>,
        peer: &Endpoint,
        ooo_threshold: i64,
        max_outstanding: usize,
    ) -> Option<DataEvent<'a>> {
        let ts = seg.ts_ns;
        let span = self.span(seg)?;
        let next = self.next.get().unwrap_or(span.start);
        if span.len == 0 {
            // SYN or FIN without data: only advance (a FIN beyond the
            // highest sequence leaves a hole).
            self.holes
                .skip(next, span.start, &mut self.stats.capture_gaps);
            self.advance(span.end, next, ts);
            return None;
        }
        self.note_options_len(seg.options.options_len);
        let plain = !seg.has(flags::SYN) && !seg.has(flags::FIN);
        let kind = self.classify(span, next, plain, ts, ooo_threshold);
        self.count_data(kind, span, next, seg.payload_len);
        let judged = self.judge_size(kind, seg.payload_len, &peer.stats);
        let ev = self.data_event(dir, seg, span.start, next, judged, peer.window);
        self.record_sent(judged, span, ts, max_outstanding);
        self.advance(span.end, next, ts);
        Some(ev)
    }

    /// The segment's place in the sequence space (a SYN occupies the
    /// sequence number before offset 0, a FIN the one after its payload).
    fn span(&mut self, seg: &Segment) -> Option<Span> {
        let mut start = self.offset(seg.seq)?;
        if seg.has(flags::SYN) {
            start += 1;
        }
        let len = seg.payload_len as i64;
        let end = start + len + i64::from(seg.has(flags::FIN));
        Some(Span { start, len, end })
    }

    /// Move the highest sequence sent to `end` when it is beyond `next`.
    fn advance(&mut self, end: i64, next: i64, ts: TsNs) {
        if end > next {
            self.next = Opt64::some(end);
            self.next_ts = ts;
        }
    }

    /// Keep the smallest TCP options length over data segments.
    fn note_options_len(&mut self, o: u8) {
        let m = &mut self.stats.min_data_options_len;
        *m = Some(m.map_or(o, |m| m.min(o)));
    }

    /// Keep-alive, retransmission, out-of-order or new (see the module doc);
    /// `plain` is false for a segment with SYN or FIN.
    fn classify(
        &mut self,
        span: Span,
        next: i64,
        plain: bool,
        ts: TsNs,
        ooo_threshold: i64,
    ) -> SegmentKind {
        let Span { start, len, .. } = span;
        if len <= 1 && start == next - 1 && plain {
            SegmentKind::KeepAlive
        } else if start < next {
            // Below the highest sequence seen: out-of-order only if it fills
            // a gap never seen and arrives within the threshold (Wireshark's
            // timing rule); bytes seen before are always a retransmission.
            let fills_hole = self.holes.fill(start, start + len);
            if fills_hole && ts - self.next_ts < ooo_threshold {
                SegmentKind::OutOfOrder
            } else {
                SegmentKind::Retransmission
            }
        } else {
            self.holes.skip(next, start, &mut self.stats.capture_gaps);
            SegmentKind::New
        }
    }

    /// Count a classified data segment; a retransmission starts loss
    /// recovery and taints the outstanding segments it overlaps (Karn).
    fn count_data(&mut self, kind: SegmentKind, span: Span, next: i64, payload: u32) {
        let st = &mut self.stats;
        match kind {
            SegmentKind::KeepAlive => st.keepalives += 1,
            SegmentKind::Retransmission => {
                st.retransmitted_bytes += payload as u64;
                self.recovery_point = Opt64::some(next);
                for s in self.outstanding.iter_mut() {
                    if s.start < span.end && s.end > span.start {
                        s.retx = true;
                    }
                }
            }
            SegmentKind::OutOfOrder | SegmentKind::New => {
                st.data_segments += 1;
                st.payload_bytes += payload as u64;
                st.max_payload = st.max_payload.max(payload);
            }
        }
    }

    /// The effective MSS now, whether `payload` is below it, and the small
    /// and oversize counts.
    fn judge_size(&mut self, kind: SegmentKind, payload: u32, peer: &DirStats) -> Judged {
        let mss = self.effective_mss(peer);
        let small = mss.is_some_and(|m| payload < m);
        if let Some(m) = mss {
            if payload > m && kind != SegmentKind::KeepAlive {
                self.stats.oversize_segments += 1;
            }
            if small && kind.is_new_data() {
                self.stats.small_segments += 1;
            }
        }
        Judged { kind, small, mss }
    }

    /// The event for a segment of this side with nothing in it yet but what
    /// the endpoint knows: a zero-length keep-alive at `next - 1`, with the
    /// bytes and segments in flight and the time since the last send.
    fn event<'a>(
        &self,
        dir: Dir,
        seg: &Segment<'a>,
        next: i64,
        peer_window: Option<u64>,
    ) -> DataEvent<'a> {
        DataEvent {
            dir,
            src_port: seg.src.port(),
            dst_port: seg.dst.port(),
            payload: &[],
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
            since_prev_send: self.last_send_ts.get().map(|t| seg.ts_ns - t),
            in_recovery: self.recovery_point.get().is_some(),
            in_flight: self.una.get().map_or(0, |u| (next - u).max(0)),
            segments_in_flight: self.outstanding.len() as u32,
            peer_window,
        }
    }

    /// The event for a payload segment at `start`: the common part, the
    /// segment's own fields and what became of the previous small segment.
    fn data_event<'a>(
        &self,
        dir: Dir,
        seg: &Segment<'a>,
        start: i64,
        next: i64,
        judged: Judged,
        peer_window: Option<u64>,
    ) -> DataEvent<'a> {
        let ts = seg.ts_ns;
        let len = seg.payload_len;
        let Judged { kind, small, mss } = judged;
        DataEvent {
            payload: seg.payload.get(..len as usize).unwrap_or(seg.payload),
            start,
            len,
            kind,
            small,
            mss,
            fin: seg.has(flags::FIN),
            prev_small_unacked: self
                .una
                .get()
                .is_some_and(|una| self.last_small_end.get().is_some_and(|e| e > una)),
            since_prev_small_acked: self.last_small_acked_at.get().map(|t| ts - t),
            prev_small_ack_wait: self
                .last_small_acked_at
                .get()
                .map(|t| t - self.last_small_ts),
            prev_small_acked_by_pure_ack: self.last_small_acked_pure
                && !self.peer_data_after_small_ack,
            ..self.event(dir, seg, next, peer_window)
        }
    }

    /// Remember new data as outstanding (forgetting the oldest beyond
    /// `max_outstanding`), and a small one as the last small segment.
    fn record_sent(&mut self, judged: Judged, span: Span, ts: TsNs, max_outstanding: usize) {
        if !judged.kind.is_new_data() {
            return;
        }
        if self.outstanding.len() >= max_outstanding {
            self.outstanding.pop_front();
            self.stats.outstanding_overflow += 1;
        }
        if judged.kind == SegmentKind::New {
            self.outstanding.push_back(Sent {
                start: span.start,
                end: span.end,
                ts,
                retx: false,
            });
        }
        if judged.small {
            self.last_small_end = Opt64::some(span.end);
            self.last_small_ts = ts;
            self.last_small_acked_at = Opt64::NONE;
        }
        self.last_send_ts = Opt64::some(ts);
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

    /// Take the time of a segment that belongs to the handshake. The
    /// handshake RTT runs from the last SYN before the SYN/ACK: a
    /// retransmitted SYN restarts it.
    fn observe(&mut self, d: Dir, seg: &Segment) {
        if self.syn_ack.is_some() && self.ack.is_some() {
            return;
        }
        let (syn, ack) = (seg.has(flags::SYN), seg.has(flags::ACK));
        let ts = Some(seg.ts_ns);
        match (d, syn, ack) {
            (C2S, true, false) if self.syn_ack.is_none() => self.syn = ts,
            (S2C, true, true) if self.syn_ack.is_none() => self.syn_ack = ts,
            (C2S, false, true) if self.syn_ack.is_some() => self.ack = ts,
            _ => {}
        }
    }
}

/// Wireshark's "initial RTT" (`tcp.analysis.initial_rtt`): from the most
/// recent SYN to the first frame with ACK and without SYN after it. Its
/// out-of-order threshold is that, else 3 ms; unlike [`Handshake::split`]
/// a SYN retransmitted after the SYN/ACK restarts it.
#[derive(Debug, Clone, Copy)]
struct WsFirstRtt {
    /// Time of the most recent SYN, `NONE` before any.
    mru_syn: TsNs,
    /// The RTT, `NONE` until known.
    rtt: i64,
}

impl WsFirstRtt {
    /// "Not yet" (no timestamp is clamped this low, see [`MAX_TS_NS`]).
    const NONE: i64 = i64::MIN;

    fn observe(&mut self, seg: &Segment) {
        match (seg.has(flags::SYN), seg.has(flags::ACK)) {
            (true, false) => self.mru_syn = seg.ts_ns,
            (false, true) if self.rtt == Self::NONE && self.mru_syn != Self::NONE => {
                // Wireshark keeps a zero RTT as "none" (3 ms), and takes a
                // negative one unsigned: a threshold nothing exceeds.
                let r = seg.ts_ns.saturating_sub(self.mru_syn);
                if r != 0 {
                    self.rtt = r;
                }
            }
            _ => {}
        }
    }

    fn threshold(&self) -> i64 {
        match self.rtt {
            Self::NONE => DEFAULT_OOO_THRESHOLD_NS,
            r if r < 0 => i64::MAX,
            r => r,
        }
    }
}

impl Default for WsFirstRtt {
    fn default() -> Self {
        WsFirstRtt {
            mru_syn: Self::NONE,
            rtt: Self::NONE,
        }
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
    pub dirs: Pair<DirStats>,
    /// Effective MSS per direction.
    pub mss: Pair<Option<u32>>,
    /// The flow was finished early because the flow table was full.
    pub evicted: bool,
}

struct Flow<O> {
    summary_id: u64,
    client: SocketAddr,
    server: SocketAddr,
    handshake: Handshake,
    /// Wireshark's out-of-order threshold (see [`Flow::note_first_rtt`]).
    ws_rtt: WsFirstRtt,
    syn_decided: bool,
    start_ts: TsNs,
    last_ts: TsNs,
    ends: Pair<Endpoint>,
    closed: bool,
    observer: O,
}

/// A live connection: compact until its first data (see `flow/compact.rs`),
/// then full. Boxed: the table's spare capacity then costs two words per
/// slot, not a whole flow state.
enum Slot<O> {
    Compact(Box<Compact>),
    Full(Box<Flow<O>>),
}

impl<O> Slot<O> {
    fn id(&self) -> u64 {
        match self {
            Slot::Compact(c) => c.id,
            Slot::Full(f) => f.summary_id,
        }
    }

    /// Eviction rank: closed first, then the longest idle. A compact
    /// connection is never closed (it holds no FIN or RST).
    fn rank(&self) -> EvictRank {
        match self {
            Slot::Compact(c) => (true, c.last_ts),
            Slot::Full(f) => (!f.closed, f.last_ts),
        }
    }

    fn frames(&self) -> u64 {
        match self {
            Slot::Compact(c) => c.frames(),
            Slot::Full(f) => f.ends.iter().map(|e| e.stats.frames).sum(),
        }
    }

    fn ended_before(&self, seg: &Segment, idle_timeout_ns: i64) -> bool {
        match self {
            Slot::Compact(c) => c.ended_before(seg, idle_timeout_ns),
            Slot::Full(f) => f.ended_before(seg, idle_timeout_ns),
        }
    }
}

/// The connection tracker. `O` is the per-flow observer (analysis).
pub struct Tracker<O> {
    flows: HashMap<(SocketAddr, SocketAddr), Slot<O>, BuildHasherDefault<FlowKeyHasher>>,
    next_id: u64,
    limits: Limits,
    new_observer: Box<dyn Fn() -> O>,
    last_sweep: TsNs,
    /// Segments pushed since the last sweep (a sweep costs O(flows): it is
    /// done at most once per `flows / 64` segments, so that timestamps
    /// stepping a second per segment cannot make the tracker quadratic).
    pushed_since_sweep: usize,
    /// Which flow a full table finishes early (`flow/evict.rs`): O(log n)
    /// per eviction, nothing per segment.
    evict_order: EvictOrder<FlowKey>,
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
/// Where finished flows go: the tracker's summary and the flow's observer.
pub type Sink<'s, O> = &'s mut dyn FnMut(FlowSummary, O);

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl<O: FlowObserver> Tracker<O> {
    pub fn new(limits: Limits, new_observer: Box<dyn Fn() -> O>) -> Self {
        Tracker {
            flows: HashMap::default(),
            next_id: 0,
            limits,
            new_observer,
            last_sweep: i64::MIN,
            pushed_since_sweep: 0,
            evict_order: EvictOrder::new(),
            evicted: 0,
            peak_flows: 0,
            closed: VecDeque::new(),
        }
    }

    pub fn live_flows(&self) -> usize {
        self.flows.len()
    }

    /// Feed one segment; finished flows go to `sink`.
    pub fn push(&mut self, seg: &Segment, sink: Sink<'_, O>) {
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
        if self.ended_before(k, seg) {
            self.finish_key(k, sink);
        }
        let max_outstanding = self.limits.max_outstanding.max(1);
        if let Some(flow) = self.slot_for(k, seg, sink) {
            let was_closed = flow.closed;
            flow.update(seg, max_outstanding);
            if flow.closed && !was_closed {
                let (id, last_ts) = (flow.summary_id, flow.last_ts);
                self.closed.push_back((k, id));
                self.evict_order.note(k, (false, last_ts));
            }
        }
        if self.evict_order.bloated(self.flows.len()) {
            self.rebuild_evict_order();
        }
        self.finish_lingering(sink);
        self.maybe_sweep(seg.ts_ns, sink);
    }

    /// Whether the live connection under `k` ended before `seg` (which
    /// then starts a new one). A compact connection that cannot take `seg`
    /// as it is becomes a full one first.
    fn ended_before(&mut self, k: FlowKey, seg: &Segment) -> bool {
        let Some(slot) = self.flows.get_mut(&k) else {
            return false;
        };
        if let Slot::Compact(c) = slot {
            if !c.takes(seg) {
                let full = Self::promote(&*self.new_observer, self.limits, k, c);
                *slot = Slot::Full(Box::new(full));
            }
        }
        slot.ended_before(seg, self.limits.idle_timeout_ns)
    }

    /// The full state of compact connection `c`: its segments replayed.
    fn promote(new_observer: &dyn Fn() -> O, limits: Limits, k: FlowKey, c: &Compact) -> Flow<O> {
        let segs = c.segments(k);
        let mut flow = Flow::new(c.id, &segs[0], new_observer());
        flow.observer
            .on_open(flow.client, flow.server, flow.start_ts);
        for s in &segs {
            flow.update(s, limits.max_outstanding.max(1));
        }
        flow
    }

    /// Give `seg` to the live connection under `k`, or start one with it
    /// (making room in a full table first). Returns the connection when it
    /// is (or became) a full one and `seg` is still to be applied to it;
    /// `None` when a compact record took `seg`.
    fn slot_for(&mut self, k: FlowKey, seg: &Segment, sink: Sink<'_, O>) -> Option<&mut Flow<O>> {
        if self.flows.len() >= self.limits.max_flows && !self.flows.contains_key(&k) {
            self.evict_oldest(sink);
        }
        let live = self.flows.len();
        match self.flows.entry(k) {
            Entry::Occupied(e) => match e.into_mut() {
                Slot::Compact(c) => {
                    c.push(seg, k.0);
                    None
                }
                Slot::Full(f) => Some(&mut **f),
            },
            Entry::Vacant(e) => {
                let id = self.next_id;
                self.next_id += 1;
                self.peak_flows = self.peak_flows.max(live + 1);
                self.evict_order.note(k, (true, seg.ts_ns));
                if let Some(c) = Compact::start(id, seg, k.0) {
                    e.insert(Slot::Compact(c));
                    return None;
                }
                let mut flow = Flow::new(id, seg, (self.new_observer)());
                flow.observer
                    .on_open(flow.client, flow.server, flow.start_ts);
                let Slot::Full(f) = e.insert(Slot::Full(Box::new(flow))) else {
                    return None;
                };
                Some(&mut **f)
            }
        }
    }

    /// Closed connections linger (late retransmissions of the FIN still
    /// belong to them), but at most MAX_CLOSED_LINGERING at a time: on a
    /// compressed or very busy capture the oldest closed ones are finished
    /// first, so memory follows the open connections.
    fn finish_lingering(&mut self, sink: Sink<'_, O>) {
        while self.closed.len() > MAX_CLOSED_LINGERING {
            let (ck, id) = self.closed.pop_front().expect("non-empty");
            if self
                .flows
                .get(&ck)
                .is_some_and(|f| matches!(f, Slot::Full(f) if f.summary_id == id && f.closed))
            {
                self.finish_key(ck, sink);
            }
        }
    }

    /// Time-driven sweep of idle flows, at most once per capture second
    /// and once per `flows / 64` segments.
    fn maybe_sweep(&mut self, now: TsNs, sink: Sink<'_, O>) {
        self.pushed_since_sweep += 1;
        // A timestamp that leaps more than MAX_PLAUSIBLE_GAP_NS ahead is
        // broken (merged or damaged captures), not time passing: it must not
        // finish every flow as idle.
        let leap = self.last_sweep != i64::MIN
            && now.saturating_sub(self.last_sweep) > MAX_PLAUSIBLE_GAP_NS;
        if !leap
            && now > self.last_sweep.saturating_add(1_000_000_000)
            && self.pushed_since_sweep >= self.flows.len() / 64
        {
            self.last_sweep = now;
            self.pushed_since_sweep = 0;
            self.sweep(now, sink);
        }
    }

    fn sweep(&mut self, now: TsNs, sink: Sink<'_, O>) {
        let limits = self.limits;
        let done: Vec<_> = self
            .flows
            .iter()
            .filter(|(_, f)| {
                let (open, last_ts) = f.rank();
                let idle = now.saturating_sub(last_ts);
                (!open && idle > limits.closed_linger_ns) || idle > limits.idle_timeout_ns
            })
            .map(|(k, _)| *k)
            .collect();
        for k in done {
            self.finish_key(k, sink);
        }
    }

    /// Finish the flow of least rank (closed first, then the longest
    /// idle, then the lower key) early, to make room (see `flow/evict.rs`).
    fn evict_oldest(&mut self, sink: Sink<'_, O>) {
        if !self.evict_order.active() {
            self.rebuild_evict_order();
        }
        let flows = &self.flows;
        let Some(k) = self.evict_order.victim(|k| flows.get(k).map(Slot::rank)) else {
            return;
        };
        let f = self.flows.remove(&k).expect("the victim is live");
        self.evicted += 1;
        self.finish(k, f, true, sink);
    }

    /// The eviction order built afresh from the live flows (O(flows)).
    fn rebuild_evict_order(&mut self) {
        let live = self.flows.iter().map(|(k, f)| (f.rank(), *k));
        self.evict_order.rebuild(live);
    }

    /// Finish every live flow (end of input), in order of flow id.
    pub fn finish_all(&mut self, sink: Sink<'_, O>) {
        let mut flows: Vec<_> = self.flows.drain().collect();
        flows.sort_by_key(|(_, f)| f.id());
        for (k, f) in flows {
            self.finish(k, f, false, sink);
        }
    }

    /// Finish the live flow under `k`, if any.
    fn finish_key(&mut self, k: FlowKey, sink: Sink<'_, O>) {
        if let Some(f) = self.flows.remove(&k) {
            self.finish(k, f, false, sink);
        }
    }

    /// Hand a connection to `sink` (a compact one in its full state).
    fn finish(&mut self, k: FlowKey, f: Slot<O>, evicted: bool, sink: Sink<'_, O>) {
        let f = match f {
            Slot::Full(f) => *f,
            Slot::Compact(c) => Self::promote(&*self.new_observer, self.limits, k, &c),
        };
        let summary = f.summary(evicted);
        sink(summary, f.observer);
    }

    /// The `n` busiest live flows (by frames) among those `want(id,
    /// end_ts)` accepts, as they stand now, for a live view. The flows keep
    /// running; a compact one is shown in its full state (made for the
    /// occasion).
    pub fn snapshot(
        &self,
        n: usize,
        want: &mut dyn FnMut(u64, TsNs) -> bool,
    ) -> Vec<(FlowSummary, Cow<'_, O>)>
    where
        O: Clone,
    {
        let mut v: Vec<(&FlowKey, &Slot<O>)> = self
            .flows
            .iter()
            .filter(|(_, f)| want(f.id(), f.rank().1))
            .collect();
        v.sort_by_key(|(_, f)| std::cmp::Reverse(f.frames()));
        v.truncate(n);
        let (new_observer, limits) = (&*self.new_observer, self.limits);
        v.into_iter()
            .map(|(k, f)| match f {
                Slot::Full(f) => (f.summary(false), Cow::Borrowed(&f.observer)),
                Slot::Compact(c) => {
                    let f = Self::promote(new_observer, limits, *k, c);
                    (f.summary(false), Cow::Owned(f.observer))
                }
            })
            .collect()
    }
}

impl<O> Flow<O> {
    /// A connection whose first segment is `seg`. The client is the
    /// SYN/ACK's receiver, else the sender of this segment.
    fn new(summary_id: u64, seg: &Segment, observer: O) -> Self {
        let (client, server) = if seg.has(flags::SYN) && seg.has(flags::ACK) {
            (seg.dst, seg.src)
        } else {
            (seg.src, seg.dst)
        };
        Flow {
            summary_id,
            client,
            server,
            handshake: Handshake::default(),
            ws_rtt: WsFirstRtt::default(),
            syn_decided: seg.has(flags::SYN),
            start_ts: seg.ts_ns,
            last_ts: seg.ts_ns,
            ends: Pair::default(),
            closed: false,
            observer,
        }
    }

    /// `seg` starts a new connection on this one's addresses: a new SYN
    /// after this one closed, or a client SYN with another ISN than the one
    /// seen (port reuse); or this one was silent longer than the idle
    /// timeout (a late packet starts a new flow; the sweep only sees other
    /// flows).
    fn ended_before(&self, seg: &Segment, idle_timeout_ns: i64) -> bool {
        if seg.has(flags::SYN) && !seg.has(flags::ACK) {
            let client_syn = self.client == seg.src && self.ends[C2S].stats.syn;
            let same_isn = client_syn && self.ends[C2S].base == Some(seg.seq.wrapping_add(1));
            if !same_isn && (self.closed || client_syn) {
                return true;
            }
        }
        let gap = seg.ts_ns.saturating_sub(self.last_ts);
        gap > idle_timeout_ns && gap <= MAX_PLAUSIBLE_GAP_NS
    }

    fn summary(&self, evicted: bool) -> FlowSummary {
        FlowSummary {
            id: self.summary_id,
            client: self.client,
            server: self.server,
            handshake: self.handshake,
            handshake_seen: self.syn_decided,
            start_ts: self.start_ts,
            end_ts: self.last_ts,
            dirs: Pair::from_fn(|d| self.ends[d].final_stats()),
            mss: Pair::from_fn(|d| self.ends[d].effective_mss(&self.ends[d.reverse()].stats)),
            evicted,
        }
    }
}

impl<O: FlowObserver> Flow<O> {
    /// One segment of this connection: the handshake, then the sending
    /// endpoint's counters, sequence space, window and timestamps, then the
    /// ACK it carries for the other direction's data (a piggybacked ACK was
    /// generated before the data), then its own data.
    fn update(&mut self, seg: &Segment, max_outstanding: usize) {
        let d = if seg.src == self.client { C2S } else { S2C };
        self.last_ts = self.last_ts.max(seg.ts_ns);
        self.handshake.observe(d, seg);
        self.ws_rtt.observe(seg);
        let (own, peer) = self.ends.split_mut(d);
        own.count_frame(seg);
        own.wireshark_class(seg, &peer.ws, self.ws_rtt.threshold());
        if seg.has(flags::RST) || (own.stats.fin && peer.stats.fin) {
            self.closed = true;
        }
        own.start_sequence(seg);
        let scaling = own.stats.window_scale.is_some() && peer.stats.window_scale.is_some();
        own.advertise_window(seg, scaling);
        if let Some((tsval, tsecr)) = seg.options.timestamps {
            own.note_tsval(tsval, seg.ts_ns);
            if seg.has(flags::ACK) && tsecr != 0 {
                peer.echo(tsecr, seg.ts_ns);
            }
        }
        if seg.has(flags::ACK) {
            if let Some(mut ev) = self.ends[d.reverse()].on_ack(d.reverse(), seg) {
                ev.window = self.ends[d].window;
                ev.zero_window = seg.window == 0 && !seg.has(flags::SYN) && !seg.has(flags::RST);
                self.observer.on_ack(&ev);
            }
        }
        if seg.payload_len > 0 || seg.has(flags::FIN) || seg.has(flags::SYN) {
            self.process_data(d, seg, max_outstanding);
        } else if !seg.has(flags::RST) {
            let peer_window = self.ends[d.reverse()].window;
            if let Some(ev) = self.ends[d].keepalive_probe(d, seg, peer_window) {
                self.observer.on_data(&ev);
            }
        }
    }

    /// Out-of-order vs retransmission: the handshake RTT (SYN to the ACK
    /// of the SYN/ACK), else 3 ms, as Wireshark.
    fn ooo_threshold(&self) -> i64 {
        self.handshake
            .split()
            .map(|(a, b)| (a + b).max(1))
            .unwrap_or(DEFAULT_OOO_THRESHOLD_NS)
    }

    /// A segment of `d` with SYN, FIN or payload.
    fn process_data(&mut self, d: Dir, seg: &Segment, max_outstanding: usize) {
        if seg.payload_len > 0 {
            self.ends[d.reverse()].peer_sent_data();
        }
        let ooo_threshold = self.ooo_threshold();
        let (own, peer) = self.ends.split_mut(d);
        if let Some(ev) = own.send(d, seg, peer, ooo_threshold, max_outstanding) {
            self.observer.on_data(&ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Segment;

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
        super::test_segment(src, dst, ts_us * 1000, seq, ack, fl, len)
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
        assert_eq!(f.dirs[C2S].ack_rtt.min(), Some(10_000_000));
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
        assert_eq!(f.dirs[C2S].ack_rtt.count(), 0);
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

    /// Connections that carry no data are held compact (header-only
    /// segments replayed at the end): a retransmitted SYN stays in its
    /// connection, a SYN with another ISN starts a new one, and the
    /// summary counts every frame and the handshake as in full tracking.
    #[test]
    fn dataless_connections_finish_with_every_frame() {
        let mut segs = vec![
            seg(true, 0, 100, 0, SYN, 0),
            seg(true, 1_000_000, 100, 0, SYN, 0),
            seg(false, 1_000_100, 900, 101, SA, 0),
            seg(true, 1_000_200, 101, 901, ACK, 0),
        ];
        // Pure ACKs beyond the compact record's capacity: promoted on the way.
        for i in 0..MAX_COMPACT_SEGMENTS as i64 {
            segs.push(seg(false, 1_001_000 + i, 901, 101, ACK, 0));
        }
        segs.push(seg(true, 3_000_000, 555, 0, SYN, 0));
        let out = run(&segs);
        assert_eq!(out.len(), 2);
        let (first, second) = (&out[0].0, &out[1].0);
        assert_eq!(first.dirs[C2S].frames, 3);
        assert_eq!(first.dirs[C2S].syns, 2);
        assert_eq!(first.dirs[S2C].frames, 1 + MAX_COMPACT_SEGMENTS as u64);
        assert!(first.handshake.complete());
        assert_eq!(first.handshake.split(), Some((100_000, 100_000)));
        assert_eq!((second.id, second.dirs[C2S].frames), (1, 1));
        assert_eq!(second.start_ts, 3_000_000_000);
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

    /// A SYN from `10.x.y.z:1000` (one address per `i`) at `ts_us`.
    fn flood_syn(i: u32, ts_us: i64) -> Segment<'static> {
        let src = std::net::Ipv4Addr::from(0x0a00_0000 + i);
        super::test_segment(&format!("{src}:1000"), S, ts_us * 1000, i, 0, SYN, 0)
    }

    /// Eviction work is counted, not timed: entries examined plus flows
    /// scanned. Under a flood each eviction must cost O(1) of them (one
    /// scan builds the order at the first eviction); a scan per eviction
    /// (quadratic) or per 1/64 of the table would exceed the bound many
    /// times over.
    #[test]
    fn eviction_under_a_flood_does_constant_work_per_flow() {
        const MAX: usize = 1000;
        const N: u32 = 50_000;
        let limits = Limits {
            max_flows: MAX,
            ..Limits::default()
        };
        let mut t: Tracker<()> = Tracker::new(limits, Box::new(|| ()));
        let mut ids = vec![];
        for i in 0..N {
            t.push(&flood_syn(i, i as i64), &mut |f, _| ids.push(f.id));
        }
        assert_eq!(t.evicted, (N as usize - MAX) as u64);
        assert_eq!(t.live_flows(), MAX);
        // The oldest first, in order; one entry examined per eviction (a
        // rescan of the table per 1/64 of it would be 64 per eviction).
        assert!(ids.iter().enumerate().all(|(n, id)| *id == n as u64));
        let steps = t.evict_order.steps;
        assert!(
            steps <= 2 * t.evicted + MAX as u64,
            "{steps} steps for {} evictions",
            t.evicted
        );
    }

    /// With busy flows in a full table, the work stays bounded by the
    /// frames seen (a touched flow's entry is re-filed once), and the victim
    /// is still the longest idle.
    #[test]
    fn eviction_among_busy_flows_is_paid_by_their_frames() {
        const MAX: usize = 500;
        let limits = Limits {
            max_flows: MAX,
            ..Limits::default()
        };
        let mut t: Tracker<()> = Tracker::new(limits, Box::new(|| ()));
        let mut done = vec![];
        let (mut ts, mut frames) = (0, 0u64);
        for i in 0..20_000u32 {
            // Each new flow, then an ACK on each of the 100 newest flows
            // (they keep their place; the older ones go idle).
            ts += 1;
            t.push(&flood_syn(i, ts), &mut |f, _| done.push(f.id));
            for j in i.saturating_sub(99)..=i {
                ts += 1;
                let mut a = flood_syn(j, ts);
                (a.src, a.dst, a.flags) = (a.dst, a.src, SA);
                t.push(&a, &mut |f, _| done.push(f.id));
            }
            frames += 1 + (i - i.saturating_sub(99) + 1) as u64;
        }
        // The 19,500 oldest (never touched after their last ACK) went first.
        assert_eq!(done, (0..19_500).collect::<Vec<u64>>());
        let steps = t.evict_order.steps;
        assert!(
            steps <= 2 * t.evicted + frames / 50 + 3 * MAX as u64,
            "{steps} steps for {} evictions and {frames} frames",
            t.evicted
        );
    }

    /// Closed flows go first, then the one idle the longest (a flow
    /// touched later is younger, whatever its age).
    #[test]
    fn eviction_prefers_closed_then_longest_idle() {
        let limits = Limits {
            max_flows: 3,
            ..Limits::default()
        };
        let mut t: Tracker<()> = Tracker::new(limits, Box::new(|| ()));
        let mut done = vec![];
        let mut push = |t: &mut Tracker<()>, s: Segment| t.push(&s, &mut |f, _| done.push(f.id));
        push(&mut t, flood_syn(0, 1));
        push(&mut t, flood_syn(1, 2));
        push(&mut t, flood_syn(2, 3));
        push(&mut t, flood_syn(3, 4)); // the table is full: flow 0 goes
        let mut ack = flood_syn(1, 5); // flow 1 touched: now the youngest
        (ack.src, ack.dst, ack.flags) = (ack.dst, ack.src, SA);
        push(&mut t, ack);
        let mut rst = flood_syn(3, 6); // flow 3 closed
        (rst.src, rst.dst, rst.flags) = (rst.dst, rst.src, flags::RST);
        push(&mut t, rst);
        push(&mut t, flood_syn(4, 7)); // flow 3 (closed) goes
        push(&mut t, flood_syn(5, 8)); // then flow 2 (idle since 3)
        push(&mut t, flood_syn(6, 9)); // then flow 1 (idle since 5)
        assert_eq!(done, vec![0, 3, 2, 1]);
    }
}
/// A data-less test segment `src` → `dst` (window 1000, an MSS option of
/// 1460 on a SYN), for the tracker's unit tests and its submodules'.
#[cfg(test)]
pub(crate) fn test_segment(
    src: &str,
    dst: &str,
    ts_ns: TsNs,
    seq: u32,
    ack: u32,
    fl: u8,
    len: u32,
) -> Segment<'static> {
    let mss = (fl & flags::SYN != 0).then_some(1460);
    Segment {
        frame: 0,
        ts_ns,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        seq,
        ack,
        flags: fl,
        window: 1000,
        options: crate::decode::TcpOptions {
            mss,
            ..Default::default()
        },
        payload_len: len,
        payload: &[],
        truncated: false,
        wire_len: 54 + len,
    }
}

/// The direction types and each step of an [`Endpoint`] on its own.
#[cfg(test)]
mod endpoint_tests {
    use super::*;

    fn seg(seq: u32, ack: u32, fl: u8, len: u32, ts: TsNs) -> Segment<'static> {
        super::test_segment("10.0.0.1:40000", "10.0.0.2:80", ts, seq, ack, fl, len)
    }

    /// An endpoint whose offset 0 is the raw sequence number `base`.
    fn at(base: u32) -> Endpoint {
        let mut e = Endpoint::default();
        e.start_sequence(&seg(base, 0, flags::ACK, 0, 0));
        e
    }

    #[test]
    fn dir_and_pair() {
        assert_eq!(C2S.reverse(), S2C);
        assert_eq!(S2C.reverse(), C2S);
        assert_eq!((C2S.index(), S2C.index()), (0, 1));
        let mut p = Pair::new("c", "s");
        assert_eq!((p[C2S], p[S2C]), ("c", "s"));
        assert_eq!((*p.c2s(), *p.s2c()), ("c", "s"));
        let (own, other) = p.split_mut(S2C);
        assert_eq!((*own, *other), ("s", "c"));
        *own = "S";
        assert_eq!(p.iter().copied().collect::<Vec<_>>(), ["c", "S"]);
        let by_dir: Vec<_> = p.into_iter_dirs().collect();
        assert_eq!(by_dir, [(C2S, "c"), (S2C, "S")]);
        assert_eq!(Pair::from_fn(Dir::index), Pair::new(0, 1));
    }

    #[test]
    fn offsets_unwrap_across_wraparound() {
        let mut e = at(u32::MAX - 10);
        assert_eq!(e.offset(u32::MAX - 10), Some(0));
        assert_eq!(e.offset(u32::MAX), Some(10));
        assert_eq!(e.offset(5), Some(16)); // wrapped
        assert_eq!(e.offset(u32::MAX - 2), Some(8)); // a step back, before the wrap
        assert_eq!(e.offset(100), Some(111));
        // Far past 2^32 bytes the offsets keep growing.
        let mut e = at(0);
        let mut raw = 0u32;
        for i in 1..=5i64 {
            raw = raw.wrapping_add(1 << 30);
            assert_eq!(e.offset(raw), Some(i << 30));
        }
        // No offsets before the sequence space has a start.
        assert_eq!(Endpoint::default().offset(7), None);
    }

    #[test]
    fn syn_fixes_the_isn_until_data_is_sent() {
        let mut e = Endpoint::default();
        e.start_sequence(&seg(1000, 0, flags::SYN, 0, 5));
        assert_eq!((e.base, e.next.get(), e.next_ts), (Some(1001), Some(0), 5));
        // A retransmitted SYN with another ISN before any data restarts it.
        e.start_sequence(&seg(2000, 0, flags::SYN, 0, 6));
        assert_eq!(e.base, Some(2001));
        // Once data was sent, a SYN no longer moves it, nor does plain data.
        e.next = Opt64::some(50);
        e.start_sequence(&seg(3000, 0, flags::SYN, 0, 7));
        e.start_sequence(&seg(4000, 0, flags::ACK, 0, 8));
        assert_eq!(e.base, Some(2001));
        // Without a SYN the first sequence number seen is offset 0.
        let e = at(77);
        assert_eq!((e.base, e.next.get()), (Some(77), Some(0)));
    }

    #[test]
    fn window_is_scaled_only_when_both_syns_agreed() {
        let mut e = Endpoint::default();
        e.stats.window_scale = Some(4);
        let mut s = seg(0, 0, flags::ACK, 0, 0);
        e.advertise_window(&s, false);
        assert_eq!(e.window, Some(1000));
        e.advertise_window(&s, true);
        assert_eq!(e.window, Some(16_000));
        assert_eq!(e.stats.max_window, 16_000);
        // Never on a SYN; at most a shift of 14.
        s.flags = flags::SYN | flags::ACK;
        e.advertise_window(&s, true);
        assert_eq!(e.window, Some(1000));
        e.stats.window_scale = Some(20);
        s.flags = flags::ACK;
        e.advertise_window(&s, true);
        assert_eq!(e.window, Some(1000 << 14));
    }

    #[test]
    fn sack_blocks_become_offsets_across_wraparound() {
        let base = u32::MAX - 99;
        let mut e = at(base);
        let mut s = seg(
            base.wrapping_add(1),
            base.wrapping_add(51),
            flags::ACK,
            0,
            0,
        );
        s.options.sack_blocks = 2;
        s.options.sack[0] = (base.wrapping_add(200), base.wrapping_add(300));
        s.options.sack[1] = (base.wrapping_add(400), base.wrapping_add(400)); // empty
        let ev = e.on_ack(C2S, &s).unwrap();
        // Offsets from the first data byte (`base`), past the wrap at 2^32.
        assert_eq!(ev.sack.blocks(), &[(200, 300)]);
        s.options.sack_blocks = 0;
        assert_eq!(e.on_ack(C2S, &s).unwrap().sack.n, 0);
    }

    #[test]
    fn zero_window_episodes() {
        let mut e = Endpoint::default();
        let mut s = seg(0, 0, flags::ACK, 0, 100);
        s.window = 0;
        e.advertise_window(&s, false);
        s.ts_ns = 150;
        e.advertise_window(&s, false);
        s.window = 10;
        s.ts_ns = 400;
        e.advertise_window(&s, false);
        let st = &e.stats;
        assert_eq!((st.zero_window, st.zero_window_episodes), (2, 1));
        assert_eq!((st.zero_window_ns, st.zero_window_since), (300, None));
    }

    #[test]
    fn ack_retires_outstanding_ranges_with_karn() {
        let mut e = at(0);
        let peer = Endpoint {
            window: Some(1 << 20),
            ..Default::default()
        };
        for (i, ts) in [(0, 1_000), (1, 2_000), (2, 3_000)] {
            let ev = e.send(C2S, &seg(i * 100, 0, flags::ACK, 100, ts), &peer, 1, 16);
            assert_eq!(ev.map(|ev| ev.kind), Some(SegmentKind::New));
        }
        assert_eq!(e.outstanding.len(), 3);
        // The first ACK covers two segments: the sample is from the second.
        let ev = e.on_ack(C2S, &seg(0, 200, flags::ACK, 0, 10_000)).unwrap();
        assert_eq!((ev.ack, ev.rtt_sample), (200, Some(8_000)));
        assert_eq!(e.outstanding.len(), 1);
        // A duplicate acknowledges nothing new.
        let ev = e.on_ack(C2S, &seg(0, 200, flags::ACK, 0, 11_000)).unwrap();
        assert_eq!((ev.newly_acked, ev.rtt_sample), (0, None));
        // A retransmission of the last segment: its ACK gives no sample.
        let ev = e.send(C2S, &seg(200, 0, flags::ACK, 100, 50_000), &peer, 1, 16);
        assert_eq!(ev.map(|ev| ev.kind), Some(SegmentKind::Retransmission));
        assert!(e.recovery_point.get().is_some());
        let ev = e.on_ack(C2S, &seg(0, 300, flags::ACK, 0, 60_000)).unwrap();
        assert_eq!((ev.newly_acked, ev.rtt_sample), (100, None));
        assert!(e.outstanding.is_empty() && e.recovery_point.get().is_none());
        assert_eq!(e.stats.ack_rtt.count(), 1);
        // An ACK beyond anything sent is ignored while data is outstanding.
        e.send(C2S, &seg(300, 0, flags::ACK, 100, 70_000), &peer, 1, 16);
        assert!(e
            .on_ack(C2S, &seg(0, 9_999, flags::ACK, 0, 80_000))
            .is_none());
    }

    #[test]
    fn small_segment_ack_is_remembered() {
        let mut e = at(0);
        let mut peer = Endpoint::default();
        peer.stats.mss_option = Some(1000);
        e.send(C2S, &seg(0, 0, flags::ACK, 10, 1_000), &peer, 1, 16);
        assert_eq!(e.last_small_end.get(), Some(10));
        e.on_ack(C2S, &seg(0, 10, flags::ACK, 0, 5_000));
        assert_eq!(e.last_small_acked_at.get(), Some(5_000));
        assert!(e.last_small_acked_pure);
        e.peer_sent_data();
        let ev = e
            .send(C2S, &seg(10, 0, flags::ACK, 10, 6_000), &peer, 1, 16)
            .unwrap();
        assert!(ev.small && !ev.prev_small_unacked);
        assert_eq!(ev.since_prev_small_acked, Some(1_000));
        assert_eq!(ev.prev_small_ack_wait, Some(4_000));
        assert!(!ev.prev_small_acked_by_pure_ack); // the peer answered since
    }

    #[test]
    fn timestamp_echo_gives_samples() {
        let mut e = Endpoint::default();
        e.note_tsval(10, 1_000);
        e.note_tsval(10, 1_500); // not newer: the first sighting counts
        e.note_tsval(9, 1_600); // older
        e.note_tsval(11, 2_000);
        e.note_tsval(12, 3_000);
        assert_eq!(e.ts_pending.len(), 3);
        // Echo of 11: 10 is dropped unmatched, 11 gives a sample.
        e.echo(11, 7_000);
        assert_eq!(e.stats.ts_rtt.values(), &[5_000]);
        assert_eq!(e.ts_pending.front(), Some(&(12, 3_000)));
        // An echo of something older than any pending TSval gives nothing.
        e.echo(5, 8_000);
        assert_eq!(e.stats.ts_rtt.count(), 1);
        // TSvals compare across 32-bit wraparound.
        let mut e = Endpoint::default();
        e.note_tsval(u32::MAX, 0);
        e.note_tsval(2, 10);
        e.echo(2, 110);
        assert_eq!(e.stats.ts_rtt.min(), Some(100));
    }

    #[test]
    fn samples_keep_the_exact_minimum_and_count() {
        let mut s = Samples::default();
        for v in (0..(MAX_SAMPLES as i64 + 10)).rev() {
            s.push(v + 5);
        }
        assert_eq!(s.min(), Some(5));
        assert_eq!(s.count(), MAX_SAMPLES as u64 + 10);
        assert!(s.values().len() < MAX_SAMPLES);
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

    /// A connection that never carried data costs its table slot and this
    /// record (a SYN flood at the default 100,000 flows: ~74 MB peak RSS
    /// for 1,000,000 SYNs, scripts/live-limits.sh).
    #[test]
    fn compact_state_stays_small() {
        let size = std::mem::size_of::<super::Compact>();
        assert!(size <= 112, "compact record grew to {size} bytes");
        let slot = std::mem::size_of::<super::Slot<crate::analysis::FlowAnalysis>>();
        assert!(slot <= 16, "table slot grew to {slot} bytes");
    }

    /// The eviction order holds up to 1.5 entries per live flow once the
    /// table has been full (`flow/evict.rs`): 8 MB at the default 100,000.
    #[test]
    fn eviction_entry_stays_small() {
        let size = std::mem::size_of::<(super::EvictRank, super::FlowKey)>();
        assert!(size <= 80, "eviction entry grew to {size} bytes");
    }
}

//! Synthetic traffic: a deterministic simulator of TCP connections with a
//! known truth, producing the frames a capture taken *at the sender* (the
//! client) would hold.
//!
//! What it models, per connection (two endpoints, client = capture point):
//! - three-way handshake (MSS 1460, window scale 7, timestamps: every
//!   segment carries TSval/TSecr, so the effective MSS is 1448), FIN close;
//! - the application: a list or a periodic schedule of writes
//!   ([`Workload::Periodic`], [`Workload::Writes`]), write-write-read
//!   request/response ([`Workload::RequestResponse`]) or bulk transfer
//!   ([`Workload::Bulk`]);
//! - the sender: Nagle on/off with Linux's (Minshall's) rule — a sub-MSS
//!   segment is held while an earlier small segment is unacknowledged and,
//!   when released, carries all queued bytes up to the MSS; full segments
//!   always go; the FIN pushes held data (Linux sends the FIN with Nagle
//!   off); a congestion window in segments (initial 10, slow start while
//!   cwnd-limited, capped); RTO retransmission of the first unacknowledged
//!   segment (200 ms + RTT, doubling) and fast retransmit on 3 duplicate
//!   ACKs;
//! - the receiver: in-order delivery with an out-of-order buffer,
//!   immediate ACK for out-of-order or duplicate data, and either quick ACK
//!   (every segment) or delayed ACK (ACK once more than one full segment is
//!   unacknowledged, i.e. every 2nd full segment, else when the timer, for
//!   example 40 ms, fires; a reply from the application piggybacks it);
//! - the path: a fixed RTT split evenly both ways, per-endpoint link
//!   serialization at a fixed rate, and optional random loss of data
//!   segments sent by the client (the capture still holds them: it is at
//!   the sender).
//!
//! Many connections run interleaved in one event queue ([`Sim`]); for the
//! benchmark, [`bench_mix`] keeps a fixed number of connections open, starts
//! a new one as one closes, and stops after a given number of frames.
//!
//! Ground truth ([`FlowTruth`]): the client's writes (time, bytes), every
//! client data segment captured (offset, length, writes whose last byte it
//! carries, retransmission, held by Nagle), Nagle×delayed-ACK stalls and the
//! server's timer-driven ACKs.
//!
//! What it does not model: receive-window limits, SACK, tail loss probes,
//! TSO/GSO, autocorking and TCP_CORK, Linux's adaptive delayed-ACK timeout
//! (`ato`) and pingpong/quickack heuristics (the ACK policy is a parameter
//! instead), jitter, loss of ACKs or of server data. It is deterministic:
//! the same specs and seed give byte-identical output.

use crate::flags;
use crate::linktype;
use crate::writer::{tcp_frame, TcpSpec};
use crate::TsNs;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Capture times start here (2023-11-14T22:13:20Z), in ns since the epoch.
pub const EPOCH_BASE_NS: TsNs = 1_700_000_000_000_000_000;
/// MSS option sent in both SYNs.
pub const MSS_OPTION: u16 = 1460;
/// Effective MSS: the option less the 12 bytes of timestamps every segment carries.
pub const MSS: u32 = 1448;
const WSCALE: u8 = 7;
const WINDOW_FIELD: u16 = 0x7fff;
const MIN_RTO_NS: i64 = 200_000_000;

/// A small deterministic PRNG (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi] (inclusive).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next_u64() % v.len() as u64) as usize]
    }
}

/// How a receiver acknowledges data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AckPolicy {
    /// ACK every data segment at once.
    Quick,
    /// ACK once more than one full segment is unacknowledged (every 2nd full
    /// segment), else when this timer (ns) fires after the first unacked byte.
    Delayed { timer_ns: i64 },
}

/// What the client's application does.
#[derive(Debug, Clone)]
pub enum Workload {
    /// `count` writes of `size` bytes, one every `interval_ns`, the first at
    /// connection establishment + `interval_ns`.
    Periodic {
        size: u32,
        interval_ns: i64,
        count: u32,
    },
    /// Writes at given offsets (ns after establishment), sizes in bytes.
    Writes(Vec<(i64, u32)>),
    /// `requests` times: write each of `parts` at once (write-write), wait
    /// for a `response`-byte reply from the server (read), think `think_ns`.
    RequestResponse {
        parts: Vec<u32>,
        response: u32,
        requests: u32,
        think_ns: i64,
    },
    /// Write `bytes` at once, in `chunk`-byte writes, at establishment.
    Bulk { bytes: u64, chunk: u32 },
}

/// One connection to simulate.
#[derive(Debug, Clone)]
pub struct FlowSpec {
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// When the client sends its SYN (ns since the epoch).
    pub start_ns: TsNs,
    /// Path RTT (ns), split evenly both ways.
    pub rtt_ns: i64,
    pub workload: Workload,
    /// Nagle on the client (false = TCP_NODELAY).
    pub nagle: bool,
    /// Nagle on the server (its replies).
    pub server_nagle: bool,
    /// The server's ACK policy for the client's data.
    pub server_ack: AckPolicy,
    /// The client's ACK policy for the server's data.
    pub client_ack: AckPolicy,
    /// Probability that a client data segment is lost after the capture point.
    pub loss: f64,
    /// Initial and maximum congestion window, in segments.
    pub init_cwnd: u32,
    pub max_cwnd: u32,
    /// Link rate of each endpoint (bits/s) for serialization delay; 0 = none.
    pub link_bps: u64,
    /// Seed of the flow's own PRNG (loss decisions, ISNs).
    pub seed: u64,
}

impl FlowSpec {
    /// A client at 10.0.0.1, server 10.1.0.1:5001, start at [`EPOCH_BASE_NS`],
    /// Nagle on, quick ACK both ways, no loss, 1 Gbit/s links.
    pub fn new(rtt_ns: i64, workload: Workload) -> Self {
        FlowSpec {
            client: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000),
            server: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)), 5001),
            start_ns: EPOCH_BASE_NS,
            rtt_ns,
            workload,
            nagle: true,
            server_nagle: true,
            server_ack: AckPolicy::Quick,
            client_ack: AckPolicy::Quick,
            loss: 0.0,
            init_cwnd: 10,
            max_cwnd: 1000,
            link_bps: 1_000_000_000,
            seed: 1,
        }
    }
}

/// One client data segment as captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegTruth {
    pub ts: TsNs,
    /// Offset of the first payload byte in the client's stream.
    pub start: u64,
    pub len: u32,
    /// Writes whose last byte this segment carries (0 for a retransmission).
    pub writes: u64,
    pub retransmission: bool,
    /// Some of its bytes waited because Nagle held them.
    pub held: bool,
    pub fin: bool,
}

/// What really happened on one connection.
#[derive(Debug, Clone, Default)]
pub struct FlowTruth {
    pub id: usize,
    pub client: Option<SocketAddr>,
    pub server: Option<SocketAddr>,
    pub rtt_ns: i64,
    /// Client write calls: (time ns since the epoch, bytes).
    pub writes: Vec<(TsNs, u32)>,
    /// Client data segments in capture order (retransmissions included).
    pub segments: Vec<SegTruth>,
    /// Held small segments released by an ACK that the server's delayed-ACK
    /// timer sent (Nagle × delayed-ACK stalls).
    pub stalls: u64,
    /// ACKs the server sent because its delayed-ACK timer fired.
    pub server_timer_acks: u64,
    /// Frames of this connection in the capture.
    pub frames: u64,
    /// Both sides closed.
    pub closed: bool,
}

impl FlowTruth {
    /// New-data segments (retransmissions excluded).
    pub fn data_segments(&self) -> impl Iterator<Item = &SegTruth> {
        self.segments.iter().filter(|s| !s.retransmission)
    }
    /// New-data segments carrying the end of two or more writes.
    pub fn aggregated_segments(&self) -> u64 {
        self.data_segments().filter(|s| s.writes >= 2).count() as u64
    }
    pub fn writes_per_segment_mean(&self) -> f64 {
        let (n, w) = self
            .data_segments()
            .fold((0u64, 0u64), |(n, w), s| (n + 1, w + s.writes));
        if n == 0 {
            0.0
        } else {
            w as f64 / n as f64
        }
    }
    /// Writes-per-segment histogram over new-data segments.
    pub fn writes_histogram(&self) -> BTreeMap<u64, u64> {
        let mut h = BTreeMap::new();
        for s in self.data_segments() {
            *h.entry(s.writes).or_default() += 1;
        }
        h
    }
    /// The write log as JSON lines `{"t": epoch_seconds, "bytes": n}`.
    pub fn write_log_jsonl(&self, w: &mut dyn Write) -> io::Result<()> {
        for (t, b) in &self.writes {
            writeln!(
                w,
                "{{\"t\": {}.{:09}, \"bytes\": {}}}",
                t.div_euclid(1_000_000_000),
                t.rem_euclid(1_000_000_000),
                b
            )?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- engine

const CLIENT: usize = 0;
const SERVER: usize = 1;

#[derive(Debug, Clone, Copy)]
struct Pkt {
    flags: u8,
    /// Data offset of the first byte (or of the FIN) in the sender's stream.
    start: u64,
    len: u32,
    /// Cumulative ACK offset in the receiver's stream (FIN counts 1).
    ack: u64,
    tsval: u32,
    tsecr: u32,
    /// This ACK was sent by the delayed-ACK timer.
    timer_ack: bool,
    retx: bool,
    held: bool,
}

#[derive(Debug, Clone, Copy)]
enum EvKind {
    Syn,
    /// The client application's next write(s) / request.
    App,
    /// A packet leaves endpoint `ep`'s NIC (captured if ep = client).
    Depart(Pkt),
    /// A packet reaches endpoint `ep`.
    Arrive(Pkt),
    DelAck(u64),
    Rto(u64),
}

#[derive(Debug, Clone, Copy)]
struct Ev {
    t: TsNs,
    seq: u64,
    flow: u32,
    ep: u8,
    kind: EvKind,
}

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        (self.t, self.seq) == (o.t, o.seq)
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.t, self.seq).cmp(&(o.t, o.seq))
    }
}

#[derive(Debug, Clone, Copy)]
struct Out {
    start: u64,
    len: u32,
    fin: bool,
}

#[derive(Debug, Default)]
struct Endpoint {
    isn: u32,
    ts_base: u32,
    nagle: bool,
    ack_policy: Option<AckPolicy>,
    link_free: TsNs,
    established: bool,
    // sender
    app_end: u64,
    snd_una: u64,
    snd_nxt: u64,
    /// End of the last small segment sent.
    snd_sml: Option<u64>,
    outstanding: VecDeque<Out>,
    cwnd: u32,
    max_cwnd: u32,
    rto_gen: u64,
    rto_armed: bool,
    backoff: u32,
    dupacks: u32,
    nagle_blocked: bool,
    close_pending: bool,
    fin_sent: bool,
    fin_acked: bool,
    // receiver
    rcv_nxt: u64,
    ooo: BTreeMap<u64, u64>,
    fin_at: Option<u64>,
    fin_rcvd: bool,
    unacked_bytes: u64,
    ack_pending: bool,
    delack_gen: u64,
    delack_armed: bool,
    ts_recent: u32,
    delivered: u64,
}

impl Endpoint {
    fn ack_off(&self) -> u64 {
        self.rcv_nxt + self.fin_rcvd as u64
    }
}

#[derive(Debug)]
struct FlowState {
    spec: FlowSpec,
    ep: [Endpoint; 2],
    rng: Rng,
    /// App progress: next write index / request number.
    app_idx: u64,
    /// A request is scheduled (request/response).
    app_scheduled: bool,
    /// Cumulative ends of the client's writes (for truth).
    write_ends: Vec<u64>,
    truth: FlowTruth,
    keep_truth: bool,
    done: bool,
}

/// The event-driven simulator for any number of interleaved connections.
pub struct Sim {
    queue: BinaryHeap<Reverse<Ev>>,
    seq: u64,
    flows: Vec<Option<FlowState>>,
    truths: Vec<FlowTruth>,
    keep_truth: bool,
    /// Frames captured so far.
    pub frames: u64,
    /// Connections started so far.
    pub started: u64,
    /// Connections currently open.
    pub live: usize,
    /// Connections with at least one frame in the capture.
    pub seen: u64,
    link_type: u32,
}

/// Where captured frames go.
pub trait FrameSink {
    fn frame(&mut self, ts_ns: TsNs, data: &[u8]) -> io::Result<()>;
}

impl<W: Write> FrameSink for crate::writer::PcapWriter<W> {
    fn frame(&mut self, ts_ns: TsNs, data: &[u8]) -> io::Result<()> {
        self.write(ts_ns, data, data.len() as u32)
    }
}

impl<W: Write> FrameSink for crate::writer::PcapngWriter<W> {
    fn frame(&mut self, ts_ns: TsNs, data: &[u8]) -> io::Result<()> {
        self.write(0, ts_ns, data, data.len() as u32)
    }
}

/// Collects frames in memory (tests).
impl FrameSink for Vec<(TsNs, Vec<u8>)> {
    fn frame(&mut self, ts_ns: TsNs, data: &[u8]) -> io::Result<()> {
        self.push((ts_ns, data.to_vec()));
        Ok(())
    }
}

impl Sim {
    /// `keep_truth`: keep per-flow truth (writes, segments) in memory.
    pub fn new(keep_truth: bool) -> Self {
        Sim {
            queue: BinaryHeap::new(),
            seq: 0,
            flows: Vec::new(),
            truths: Vec::new(),
            keep_truth,
            frames: 0,
            started: 0,
            live: 0,
            seen: 0,
            link_type: linktype::ETHERNET,
        }
    }

    fn push(&mut self, t: TsNs, flow: usize, ep: usize, kind: EvKind) {
        self.seq += 1;
        self.queue.push(Reverse(Ev {
            t,
            seq: self.seq,
            flow: flow as u32,
            ep: ep as u8,
            kind,
        }));
    }

    /// Add a connection; returns its id (index into the truths).
    pub fn add(&mut self, spec: FlowSpec) -> usize {
        let id = self.flows.len();
        let mut rng = Rng::new(spec.seed ^ (id as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mk = |rng: &mut Rng, nagle: bool, ack: AckPolicy, spec: &FlowSpec| Endpoint {
            isn: rng.next_u64() as u32,
            ts_base: rng.next_u64() as u32,
            nagle,
            ack_policy: Some(ack),
            cwnd: spec.init_cwnd.max(1),
            max_cwnd: spec.max_cwnd.max(spec.init_cwnd).max(1),
            ..Default::default()
        };
        let c = mk(&mut rng, spec.nagle, spec.client_ack, &spec);
        let s = mk(&mut rng, spec.server_nagle, spec.server_ack, &spec);
        let truth = FlowTruth {
            id,
            client: Some(spec.client),
            server: Some(spec.server),
            rtt_ns: spec.rtt_ns,
            ..Default::default()
        };
        let start = spec.start_ns;
        self.flows.push(Some(FlowState {
            spec,
            ep: [c, s],
            rng,
            app_idx: 0,
            app_scheduled: false,
            write_ends: Vec::new(),
            truth,
            keep_truth: self.keep_truth,
            done: false,
        }));
        self.truths.push(FlowTruth::default());
        self.push(start, id, CLIENT, EvKind::Syn);
        self.started += 1;
        self.live += 1;
        id
    }

    /// Run until no event is left, or `max_frames` frames were captured.
    /// `on_close(sim, now)` is called whenever a connection closes (it may
    /// add new ones).
    pub fn run(
        &mut self,
        sink: &mut dyn FrameSink,
        max_frames: Option<u64>,
        on_close: &mut dyn FnMut(&mut Sim, TsNs),
    ) -> io::Result<()> {
        while let Some(Reverse(ev)) = self.queue.pop() {
            if max_frames.is_some_and(|m| self.frames >= m) {
                break;
            }
            let fi = ev.flow as usize;
            let Some(mut f) = self.flows[fi].take() else {
                continue;
            };
            let mut out = Vec::new();
            self.step(&mut f, ev, &mut out, sink)?;
            for (t, ep, k) in out {
                self.push(t, fi, ep, k);
            }
            if f.done {
                self.live -= 1;
                let FlowState {
                    mut truth,
                    write_ends,
                    ..
                } = f;
                truth.closed = true;
                finish_truth(&mut truth, &write_ends);
                if self.keep_truth {
                    self.truths[fi] = truth;
                }
                on_close(self, ev.t);
            } else {
                self.flows[fi] = Some(f);
            }
        }
        // Connections still open at the end.
        for (i, f) in self.flows.iter_mut().enumerate() {
            if let Some(f) = f.take() {
                if self.keep_truth {
                    let mut t = f.truth;
                    finish_truth(&mut t, &f.write_ends);
                    self.truths[i] = t;
                }
            }
        }
        Ok(())
    }

    /// The truth of every connection, by id (empty unless `keep_truth`).
    pub fn into_truths(self) -> Vec<FlowTruth> {
        self.truths
    }

    fn step(
        &mut self,
        f: &mut FlowState,
        ev: Ev,
        out: &mut Vec<(TsNs, usize, EvKind)>,
        sink: &mut dyn FrameSink,
    ) -> io::Result<()> {
        let now = ev.t;
        let ep = ev.ep as usize;
        match ev.kind {
            EvKind::Syn => {
                let p = f.mk_pkt(CLIENT, now, flags::SYN, 0, 0);
                f.send(CLIENT, now, p, out);
            }
            EvKind::App => f.app(now, out),
            EvKind::Depart(p) => {
                let owd = f.spec.rtt_ns / 2;
                let mut lost = false;
                if ep == CLIENT {
                    self.capture(f, CLIENT, now, &p, sink)?;
                    if p.len > 0 && f.spec.loss > 0.0 && f.rng.f64() < f.spec.loss {
                        lost = true;
                    }
                }
                if !lost {
                    let back = if ep == CLIENT {
                        owd
                    } else {
                        f.spec.rtt_ns - owd
                    };
                    out.push((now + back, 1 - ep, EvKind::Arrive(p)));
                }
            }
            EvKind::Arrive(p) => {
                if ep == CLIENT {
                    self.capture(f, SERVER, now, &p, sink)?;
                }
                f.arrive(ep, now, p, out);
            }
            EvKind::DelAck(gen) => {
                let e = &mut f.ep[ep];
                if e.delack_armed && e.delack_gen == gen {
                    e.delack_armed = false;
                    if e.ack_pending {
                        let mut p = f.mk_pkt(ep, now, flags::ACK, f.ep[ep].snd_nxt, 0);
                        p.timer_ack = true;
                        if ep == SERVER {
                            f.truth.server_timer_acks += 1;
                        }
                        f.send(ep, now, p, out);
                    }
                }
            }
            EvKind::Rto(gen) => {
                let e = &mut f.ep[ep];
                if e.rto_armed && e.rto_gen == gen {
                    e.rto_armed = false;
                    if let Some(o) = e.outstanding.front().copied() {
                        e.backoff = (e.backoff + 1).min(6);
                        e.cwnd = 1;
                        e.dupacks = 0;
                        f.retransmit(ep, now, o, out);
                    }
                }
            }
        }
        f.check_done();
        Ok(())
    }

    fn capture(
        &mut self,
        f: &mut FlowState,
        from: usize,
        ts: TsNs,
        p: &Pkt,
        sink: &mut dyn FrameSink,
    ) -> io::Result<()> {
        let (src, dst) = if from == CLIENT {
            (f.spec.client, f.spec.server)
        } else {
            (f.spec.server, f.spec.client)
        };
        let me = &f.ep[from];
        let peer = &f.ep[1 - from];
        let syn = p.flags & flags::SYN != 0;
        let seq = if syn {
            me.isn
        } else {
            me.isn.wrapping_add(1).wrapping_add(p.start as u32)
        };
        let ack = if p.flags & flags::ACK != 0 {
            peer.isn.wrapping_add(1).wrapping_add(p.ack as u32)
        } else {
            0
        };
        let spec = TcpSpec {
            src,
            dst,
            seq,
            ack,
            flags: p.flags,
            window: if syn { 65535 } else { WINDOW_FIELD },
            mss: syn.then_some(MSS_OPTION),
            wscale: syn.then_some(WSCALE),
            sack_permitted: false,
            timestamps: Some((p.tsval, p.tsecr)),
            payload: vec![0u8; p.len as usize],
            vlan: None,
        };
        let frame = tcp_frame(self.link_type, &spec);
        sink.frame(ts, &frame)?;
        self.frames += 1;
        if f.truth.frames == 0 {
            self.seen += 1;
        }
        f.truth.frames += 1;
        if from == CLIENT && (p.len > 0) && f.keep_truth {
            f.truth.segments.push(SegTruth {
                ts,
                start: p.start,
                len: p.len,
                writes: 0,
                retransmission: p.retx,
                held: p.held,
                fin: p.flags & flags::FIN != 0,
            });
        }
        Ok(())
    }
}

/// Fill each new segment's `writes` from the write ends.
fn finish_truth(t: &mut FlowTruth, ends: &[u64]) {
    for s in t.segments.iter_mut() {
        if s.retransmission {
            continue;
        }
        let lo = ends.partition_point(|&e| e <= s.start);
        let hi = ends.partition_point(|&e| e <= s.start + s.len as u64);
        s.writes = (hi - lo) as u64;
    }
}

impl FlowState {
    fn mk_pkt(&self, ep: usize, now: TsNs, fl: u8, start: u64, len: u32) -> Pkt {
        let e = &self.ep[ep];
        Pkt {
            flags: fl,
            start,
            len,
            ack: e.ack_off(),
            tsval: e.ts_base.wrapping_add((now / 1_000_000) as u32),
            tsecr: e.ts_recent,
            timer_ack: false,
            retx: false,
            held: false,
        }
    }

    /// Hand a packet to the endpoint's NIC; any ACK it carries clears the
    /// pending delayed ACK.
    fn send(&mut self, ep: usize, now: TsNs, p: Pkt, out: &mut Vec<(TsNs, usize, EvKind)>) {
        let e = &mut self.ep[ep];
        if p.flags & flags::ACK != 0 {
            e.ack_pending = false;
            e.unacked_bytes = 0;
            e.delack_armed = false;
            e.delack_gen += 1;
        }
        let frame_len = 14 + 20 + 32 + p.len as u64;
        let tx = (frame_len * 8 * 1_000_000_000)
            .checked_div(self.spec.link_bps)
            .unwrap_or(0) as i64;
        let t = e.link_free.max(now) + tx;
        e.link_free = t;
        out.push((t, ep, EvKind::Depart(p)));
    }

    fn rto_ns(&self, ep: usize) -> i64 {
        (MIN_RTO_NS + self.spec.rtt_ns) << self.ep[ep].backoff
    }

    fn arm_rto(&mut self, ep: usize, now: TsNs, out: &mut Vec<(TsNs, usize, EvKind)>) {
        let d = self.rto_ns(ep);
        let e = &mut self.ep[ep];
        e.rto_gen += 1;
        e.rto_armed = true;
        out.push((now + d, ep, EvKind::Rto(e.rto_gen)));
    }

    fn retransmit(&mut self, ep: usize, now: TsNs, o: Out, out: &mut Vec<(TsNs, usize, EvKind)>) {
        let mut fl = flags::ACK;
        if o.len > 0 {
            fl |= flags::PSH;
        }
        if o.fin {
            fl |= flags::FIN;
        }
        let mut p = self.mk_pkt(ep, now, fl, o.start, o.len);
        p.retx = true;
        self.send(ep, now, p, out);
        self.arm_rto(ep, now, out);
    }

    /// The client application's scheduled action.
    fn app(&mut self, now: TsNs, out: &mut Vec<(TsNs, usize, EvKind)>) {
        self.app_scheduled = false;
        let i = self.app_idx;
        self.app_idx += 1;
        match self.spec.workload.clone() {
            Workload::Periodic {
                size,
                interval_ns,
                count,
            } => {
                if i < count as u64 {
                    self.write(now, size);
                    if i + 1 < count as u64 {
                        out.push((now + interval_ns, CLIENT, EvKind::App));
                    } else {
                        self.ep[CLIENT].close_pending = true;
                    }
                }
            }
            Workload::Writes(ws) => {
                if let Some(&(_, b)) = ws.get(i as usize) {
                    self.write(now, b);
                    match ws.get(i as usize + 1) {
                        Some(&(t, _)) => {
                            let base = now - ws[i as usize].0;
                            out.push(((base + t).max(now), CLIENT, EvKind::App));
                        }
                        None => self.ep[CLIENT].close_pending = true,
                    }
                }
            }
            Workload::RequestResponse {
                parts, requests, ..
            } => {
                if i >= requests as u64 {
                    return;
                }
                for p in parts {
                    self.write(now, p);
                    // Each write call pushes what it can (Nagle permitting).
                    self.try_send(CLIENT, now, false, out);
                }
            }
            Workload::Bulk { bytes, chunk } => {
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(chunk.max(1) as u64) as u32;
                    self.write(now, n);
                    left -= n as u64;
                }
                self.ep[CLIENT].close_pending = true;
            }
        }
        self.try_send(CLIENT, now, false, out);
    }

    fn write(&mut self, now: TsNs, bytes: u32) {
        let e = &mut self.ep[CLIENT];
        e.app_end += bytes as u64;
        self.write_ends.push(e.app_end);
        if self.keep_truth {
            self.truth.writes.push((now, bytes));
        }
    }

    /// Send what Nagle and the congestion window allow. `timer_ack`: this
    /// happens while processing an ACK the peer's delayed-ACK timer sent.
    fn try_send(
        &mut self,
        ep: usize,
        now: TsNs,
        timer_ack: bool,
        out: &mut Vec<(TsNs, usize, EvKind)>,
    ) {
        if !self.ep[ep].established {
            return;
        }
        loop {
            let e = &self.ep[ep];
            let avail = e.app_end - e.snd_nxt;
            if avail == 0 || e.fin_sent {
                break;
            }
            if e.outstanding.len() as u32 >= e.cwnd {
                break;
            }
            let len = avail.min(MSS as u64) as u32;
            let small = len < MSS;
            // The FIN pushes everything (Linux sends it with Nagle off).
            let closing = e.close_pending && avail == len as u64;
            if small
                && e.nagle
                && !closing
                && !e.outstanding.is_empty()
                && e.snd_sml.is_some_and(|s| s > e.snd_una)
            {
                self.ep[ep].nagle_blocked = true;
                break;
            }
            let start = e.snd_nxt;
            let held = std::mem::take(&mut self.ep[ep].nagle_blocked) && small;
            let mut fl = flags::ACK;
            if avail == len as u64 {
                fl |= flags::PSH;
            }
            if closing {
                fl |= flags::FIN;
            }
            let mut p = self.mk_pkt(ep, now, fl, start, len);
            p.held = held;
            if held && timer_ack && ep == CLIENT {
                self.truth.stalls += 1;
            }
            let e = &mut self.ep[ep];
            e.snd_nxt += len as u64;
            if small {
                e.snd_sml = Some(e.snd_nxt);
            }
            if closing {
                e.fin_sent = true;
            }
            e.outstanding.push_back(Out {
                start,
                len,
                fin: closing,
            });
            let arm = !e.rto_armed;
            self.send(ep, now, p, out);
            if arm {
                self.arm_rto(ep, now, out);
            }
        }
        // A bare FIN once everything is sent.
        let e = &self.ep[ep];
        if e.close_pending && !e.fin_sent && e.snd_nxt == e.app_end {
            let p = self.mk_pkt(ep, now, flags::FIN | flags::ACK, e.snd_nxt, 0);
            let e = &mut self.ep[ep];
            e.fin_sent = true;
            e.outstanding.push_back(Out {
                start: e.snd_nxt,
                len: 0,
                fin: true,
            });
            let arm = !e.rto_armed;
            self.send(ep, now, p, out);
            if arm {
                self.arm_rto(ep, now, out);
            }
        }
    }

    fn arrive(&mut self, ep: usize, now: TsNs, p: Pkt, out: &mut Vec<(TsNs, usize, EvKind)>) {
        let syn = p.flags & flags::SYN != 0;
        self.ep[ep].ts_recent = p.tsval;
        if syn {
            if p.flags & flags::ACK == 0 {
                // Server: SYN -> SYN/ACK.
                let q = self.mk_pkt(ep, now, flags::SYN | flags::ACK, 0, 0);
                self.send(ep, now, q, out);
            } else {
                // Client: SYN/ACK -> ACK, established; the application starts.
                self.ep[ep].established = true;
                let q = self.mk_pkt(ep, now, flags::ACK, 0, 0);
                self.send(ep, now, q, out);
                let first = match &self.spec.workload {
                    Workload::Periodic { interval_ns, .. } => now + interval_ns,
                    Workload::Writes(ws) => now + ws.first().map_or(0, |w| w.0),
                    _ => now,
                };
                out.push((first, CLIENT, EvKind::App));
            }
            return;
        }
        if !self.ep[ep].established {
            // Server: the handshake's ACK (or first data) establishes.
            self.ep[ep].established = true;
        }
        // ACK processing (for this endpoint's data).
        if p.flags & flags::ACK != 0 {
            self.on_ack(ep, now, &p, out);
        }
        // Data (or FIN) for this endpoint.
        let fin = p.flags & flags::FIN != 0;
        if p.len > 0 || fin {
            self.on_data(ep, now, &p, out);
        }
    }

    fn on_ack(&mut self, ep: usize, now: TsNs, p: &Pkt, out: &mut Vec<(TsNs, usize, EvKind)>) {
        let e = &mut self.ep[ep];
        let ack = p.ack;
        let fin_end = e.app_end + 1;
        if ack > e.snd_una {
            let data_acked = ack.min(e.snd_nxt);
            let mut acked_segs = 0;
            while let Some(o) = e.outstanding.front() {
                if o.start + o.len as u64 + o.fin as u64 <= ack {
                    e.outstanding.pop_front();
                    acked_segs += 1;
                } else {
                    break;
                }
            }
            let cwnd_limited = e.outstanding.len() as u32 + acked_segs >= e.cwnd;
            e.snd_una = data_acked;
            if e.fin_sent && ack >= fin_end {
                e.fin_acked = true;
            }
            if cwnd_limited {
                e.cwnd = (e.cwnd + acked_segs).min(e.max_cwnd);
            }
            e.dupacks = 0;
            e.backoff = 0;
            if e.outstanding.is_empty() {
                e.rto_armed = false;
                e.rto_gen += 1;
            } else {
                self.arm_rto(ep, now, out);
            }
            self.try_send(ep, now, p.timer_ack, out);
        } else if ack == e.snd_una
            && p.len == 0
            && p.flags & flags::FIN == 0
            && !e.outstanding.is_empty()
        {
            e.dupacks += 1;
            if e.dupacks == 3 {
                let o = *e.outstanding.front().expect("nonempty");
                e.cwnd = (e.cwnd / 2).max(2);
                self.retransmit(ep, now, o, out);
            }
        }
    }

    fn on_data(&mut self, ep: usize, now: TsNs, p: &Pkt, out: &mut Vec<(TsNs, usize, EvKind)>) {
        let fin = p.flags & flags::FIN != 0;
        let end = p.start + p.len as u64;
        let e = &mut self.ep[ep];
        if fin {
            e.fin_at = Some(end);
        }
        let mut ack_now = false;
        let before = e.rcv_nxt;
        if p.start <= e.rcv_nxt && end > e.rcv_nxt {
            let had_hole = !e.ooo.is_empty();
            e.rcv_nxt = end;
            // Pull in buffered out-of-order data.
            while let Some((&s, &x)) = e.ooo.iter().next() {
                if s <= e.rcv_nxt {
                    e.rcv_nxt = e.rcv_nxt.max(x);
                    e.ooo.remove(&s);
                } else {
                    break;
                }
            }
            ack_now |= had_hole;
        } else if p.start > e.rcv_nxt {
            let x = e.ooo.entry(p.start).or_insert(end);
            *x = (*x).max(end);
            ack_now = true;
        } else if p.len > 0 {
            ack_now = true; // duplicate
        }
        let newly = e.rcv_nxt - before;
        e.unacked_bytes += newly;
        e.delivered += newly;
        if let Some(fa) = e.fin_at {
            if e.rcv_nxt >= fa && !e.fin_rcvd {
                e.fin_rcvd = true;
                ack_now = true;
                // Close our side at once.
                e.close_pending = true;
            }
        }
        if newly > 0 || ack_now {
            e.ack_pending = true;
        }
        match e.ack_policy.unwrap_or(AckPolicy::Quick) {
            AckPolicy::Quick => ack_now |= e.ack_pending,
            AckPolicy::Delayed { timer_ns } => {
                if e.unacked_bytes > MSS as u64 {
                    ack_now = true;
                } else if e.ack_pending && !e.delack_armed {
                    e.delack_armed = true;
                    e.delack_gen += 1;
                    out.push((now + timer_ns, ep, EvKind::DelAck(e.delack_gen)));
                }
            }
        }
        // The application reads; a reply piggybacks the ACK.
        self.app_read(ep, now, out);
        self.try_send(ep, now, false, out);
        let e = &self.ep[ep];
        if ack_now && e.ack_pending {
            let q = self.mk_pkt(ep, now, flags::ACK, e.snd_nxt, 0);
            self.send(ep, now, q, out);
        }
    }

    /// Request/response logic on delivered bytes.
    fn app_read(&mut self, ep: usize, now: TsNs, out: &mut Vec<(TsNs, usize, EvKind)>) {
        let Workload::RequestResponse {
            parts,
            response,
            requests,
            think_ns,
        } = &self.spec.workload
        else {
            return;
        };
        let req: u64 = parts.iter().map(|&p| p as u64).sum();
        let (requests, response, think_ns) = (*requests as u64, *response as u64, *think_ns);
        if ep == SERVER {
            // Answer every complete request not yet answered.
            let e = &mut self.ep[SERVER];
            let answered = e.app_end / response.max(1);
            let complete = e.delivered / req.max(1);
            if complete > answered {
                e.app_end += (complete - answered) * response;
            }
        } else {
            let e = &self.ep[CLIENT];
            let got = e.delivered / response.max(1);
            // Next request once the reply to the last one is in.
            if got == self.app_idx
                && got < requests
                && !self.app_scheduled
                && !self.ep[CLIENT].close_pending
            {
                out.push((now + think_ns, CLIENT, EvKind::App));
                self.app_scheduled = true;
            }
            if got >= requests && !self.ep[CLIENT].close_pending {
                self.ep[CLIENT].close_pending = true;
                self.try_send(CLIENT, now, false, out);
            }
        }
    }

    fn check_done(&mut self) {
        let c = &self.ep[CLIENT];
        let s = &self.ep[SERVER];
        if c.fin_acked && s.fin_acked && c.fin_rcvd && s.fin_rcvd {
            self.done = true;
        }
    }
}

/// Simulate connections one after another's events interleaved; write the
/// capture to `sink` and return each connection's truth.
pub fn simulate(specs: Vec<FlowSpec>, sink: &mut dyn FrameSink) -> io::Result<Vec<FlowTruth>> {
    let mut sim = Sim::new(true);
    for s in specs {
        sim.add(s);
    }
    sim.run(sink, None, &mut |_, _| {})?;
    Ok(sim.into_truths())
}

// ---------------------------------------------------------------- benchmark mix

/// Parameters of the benchmark capture.
#[derive(Debug, Clone)]
pub struct MixParams {
    /// Stop after this many frames.
    pub packets: u64,
    /// Connections open at once.
    pub flows: usize,
    /// Relative weights of small-write (periodic and request/response) and
    /// bulk connections.
    pub small_weight: u32,
    pub bulk_weight: u32,
    /// Path RTTs (ns) to choose from.
    pub rtts_ns: Vec<i64>,
    pub loss: f64,
    pub seed: u64,
}

impl Default for MixParams {
    fn default() -> Self {
        MixParams {
            packets: 500_000,
            flows: 2000,
            small_weight: 3,
            bulk_weight: 1,
            rtts_ns: vec![200_000, 40_000_000],
            loss: 0.001,
            seed: 1,
        }
    }
}

/// Client address of connection `n`: 10.0.0.0/8 hosts, 50,000 ports each.
pub fn client_addr(n: u64) -> SocketAddr {
    let host = n / 50_000;
    let ip = Ipv4Addr::new(10, (host >> 8) as u8 & 0x7f, host as u8, 1 + (n % 7) as u8);
    SocketAddr::new(IpAddr::V4(ip), 10_000 + (n % 50_000) as u16)
}

/// A random connection for the benchmark mix.
pub fn random_flow(rng: &mut Rng, p: &MixParams, n: u64, start_ns: TsNs) -> FlowSpec {
    let rtt = *rng.pick(&p.rtts_ns);
    let total = (p.small_weight + p.bulk_weight).max(1) as u64;
    let bulk = rng.range(0, total - 1) >= p.small_weight as u64;
    let workload = if bulk {
        Workload::Bulk {
            bytes: rng.range(50_000, 1_500_000),
            chunk: 65_536,
        }
    } else if rng.f64() < 0.7 {
        let size = *rng.pick(&[4u32, 16, 64, 200, 512]);
        let frac = *rng.pick(&[0.05f64, 0.2, 0.5, 2.0]);
        Workload::Periodic {
            size,
            interval_ns: ((rtt as f64 * frac) as i64).max(50_000),
            count: rng.range(20, 300) as u32,
        }
    } else {
        Workload::RequestResponse {
            parts: vec![rng.range(20, 200) as u32, rng.range(20, 400) as u32],
            response: rng.range(100, 3000) as u32,
            requests: rng.range(3, 20) as u32,
            think_ns: rng.range(1, 20) as i64 * 1_000_000,
        }
    };
    let server_ack = if rng.f64() < 0.5 {
        AckPolicy::Delayed {
            timer_ns: 40_000_000,
        }
    } else {
        AckPolicy::Quick
    };
    FlowSpec {
        client: client_addr(n),
        server: SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 200, (n % 200) as u8, 1)),
            if bulk { 5001 } else { 8080 },
        ),
        start_ns,
        rtt_ns: rtt,
        workload,
        nagle: rng.f64() < 0.5,
        server_nagle: true,
        server_ack,
        client_ack: AckPolicy::Delayed {
            timer_ns: 40_000_000,
        },
        loss: p.loss,
        init_cwnd: 10,
        max_cwnd: 64,
        link_bps: 1_000_000_000,
        seed: p.seed.wrapping_mul(0x100_0000_01b3) ^ n,
    }
}

/// Write the benchmark capture: `flows` connections open at once (starts
/// spread over the first 100 ms), each replaced by a new one when it closes,
/// until `packets` frames were written. Returns (frames, connections with
/// at least one frame).
pub fn bench_mix(p: &MixParams, sink: &mut dyn FrameSink) -> io::Result<(u64, u64)> {
    let mut rng = Rng::new(p.seed);
    let mut sim = Sim::new(false);
    for n in 0..p.flows as u64 {
        let start = EPOCH_BASE_NS + rng.range(0, 100_000_000) as i64;
        let spec = random_flow(&mut rng, p, n, start);
        sim.add(spec);
    }
    let params = p.clone();
    let mut on_close = move |sim: &mut Sim, now: TsNs| {
        if sim.frames < params.packets {
            let n = sim.started;
            let start = now + rng.range(0, 10_000_000) as i64;
            let spec = random_flow(&mut rng, &params, n, start);
            sim.add(spec);
        }
    };
    sim.run(sink, Some(p.packets), &mut on_close)?;
    Ok((sim.frames, sim.seen))
}

// ---------------------------------------------------------------- files

/// A duration in the analyzer's one grammar (`40ms`, `0.2ms`, `200us`,
/// `1m30s`; a bare number is an error) to nanoseconds.
pub fn parse_duration(s: &str) -> anyhow::Result<i64> {
    let d = crate::duration::parse_duration(s).map_err(|e| anyhow::anyhow!(e))?;
    i64::try_from(d.as_nanos()).map_err(|_| anyhow::anyhow!("duration out of range: {s:?}"))
}

type FileW = io::BufWriter<std::fs::File>;

/// A capture file being written by `nagle-testkit synth` or a test.
pub enum FileSink {
    Pcap(crate::writer::PcapWriter<FileW>),
    Pcapng(crate::writer::PcapngWriter<FileW>),
}

impl FrameSink for FileSink {
    fn frame(&mut self, ts_ns: TsNs, data: &[u8]) -> io::Result<()> {
        match self {
            FileSink::Pcap(w) => w.frame(ts_ns, data),
            FileSink::Pcapng(w) => w.frame(ts_ns, data),
        }
    }
}

impl FileSink {
    /// Create `path` (pcapng when `pcapng`), Ethernet, ns timestamps.
    pub fn create(path: &std::path::Path, pcapng: bool) -> anyhow::Result<Self> {
        use crate::writer::{Endian, PcapWriter, PcapngWriter, TsPrecision};
        let f = std::fs::File::create(path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        let w = io::BufWriter::with_capacity(1 << 20, f);
        Ok(if pcapng {
            let mut w = PcapngWriter::new(w)?;
            w.add_interface(linktype::ETHERNET, 262_144, Some(9))?;
            FileSink::Pcapng(w)
        } else {
            FileSink::Pcap(PcapWriter::new(
                w,
                linktype::ETHERNET,
                262_144,
                Endian::Little,
                TsPrecision::Nano,
            )?)
        })
    }

    /// Flush everything to the file.
    pub fn finish(self) -> io::Result<()> {
        match self {
            FileSink::Pcap(w) => w.into_inner().flush(),
            FileSink::Pcapng(w) => w.into_inner().flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(spec: FlowSpec) -> (Vec<(TsNs, Vec<u8>)>, FlowTruth) {
        let mut frames = Vec::new();
        let mut t = simulate(vec![spec], &mut frames).unwrap();
        (frames, t.remove(0))
    }

    #[test]
    fn nagle_on_aggregates_rtt_over_interval() {
        let spec = FlowSpec::new(
            40_000_000,
            Workload::Periodic {
                size: 4,
                interval_ns: 5_000_000,
                count: 200,
            },
        );
        let (frames, t) = run(spec);
        assert!(t.closed);
        assert_eq!(t.writes.len(), 200);
        let mean = t.writes_per_segment_mean();
        assert!((6.0..=9.0).contains(&mean), "{mean}");
        // Timestamps non-decreasing.
        assert!(frames.windows(2).all(|w| w[0].0 <= w[1].0));
        let total: u64 = t.data_segments().map(|s| s.len as u64).sum();
        assert_eq!(total, 800);
    }

    #[test]
    fn nagle_off_one_write_per_segment() {
        let mut spec = FlowSpec::new(
            40_000_000,
            Workload::Periodic {
                size: 4,
                interval_ns: 5_000_000,
                count: 100,
            },
        );
        spec.nagle = false;
        let (_, t) = run(spec);
        assert_eq!(t.aggregated_segments(), 0);
        assert_eq!(t.data_segments().count(), 100);
    }

    #[test]
    fn request_response_stalls_on_delayed_ack() {
        let mut spec = FlowSpec::new(
            1_000_000,
            Workload::RequestResponse {
                parts: vec![50, 100],
                response: 500,
                requests: 10,
                think_ns: 5_000_000,
            },
        );
        spec.server_ack = AckPolicy::Delayed {
            timer_ns: 40_000_000,
        };
        let (_, t) = run(spec);
        assert!(t.closed);
        assert_eq!(t.stalls, 10);
        let mut spec2 = FlowSpec::new(
            1_000_000,
            Workload::RequestResponse {
                parts: vec![50, 100],
                response: 500,
                requests: 10,
                think_ns: 5_000_000,
            },
        );
        spec2.nagle = false;
        spec2.server_ack = AckPolicy::Delayed {
            timer_ns: 40_000_000,
        };
        let (_, t2) = run(spec2);
        assert_eq!(t2.stalls, 0);
    }

    #[test]
    fn bulk_with_loss_completes() {
        let mut spec = FlowSpec::new(
            10_000_000,
            Workload::Bulk {
                bytes: 2_000_000,
                chunk: 65536,
            },
        );
        spec.loss = 0.01;
        spec.max_cwnd = 64;
        spec.server_ack = AckPolicy::Delayed {
            timer_ns: 40_000_000,
        };
        let (_, t) = run(spec);
        assert!(t.closed);
        let new: u64 = t.data_segments().map(|s| s.len as u64).sum();
        assert_eq!(new, 2_000_000);
        assert!(t.segments.iter().any(|s| s.retransmission));
    }

    #[test]
    fn deterministic_mix() {
        let p = MixParams {
            packets: 3000,
            flows: 20,
            ..Default::default()
        };
        let mut a = Vec::new();
        let mut b = Vec::new();
        bench_mix(&p, &mut a).unwrap();
        bench_mix(&p, &mut b).unwrap();
        assert_eq!(a.len(), 3000);
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0].0 <= w[1].0));
    }
}

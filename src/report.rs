//! Stage 5: the result as plain data.
//!
//! These serde structs are the only thing the renderers see, and their JSON
//! form is the documented, versioned schema (`schema_version`, see
//! `docs/json-schema.md`). Field names are part of the interface: users'
//! scripts depend on them. New fields may be added; existing ones are not
//! renamed or removed without bumping `schema_version`.
//!
//! Times are in milliseconds (floats) unless the name says otherwise;
//! timestamps (`*_ts`) are seconds since the Unix epoch (floats).

use serde::Serialize;
use std::collections::BTreeMap;

pub const SCHEMA_VERSION: u32 = 1;

// --- Values with a fixed set of meanings ------------------------------------
//
// Each serialises to exactly the JSON string documented in
// docs/json-schema.md; `as_str` gives the same spelling for the text and CSV
// renderers.

/// Declares a fieldless enum whose JSON form and `as_str` are the given
/// strings.
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $variant),+
        }
        impl $name {
            /// The spelling used in JSON, CSV and text.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        /// Compares with the JSON spelling (handy in tests and scripts).
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

string_enum! {
    /// The Nagle verdict of one direction.
    Verdict { On = "on", Off = "off", Inconclusive = "inconclusive" }
}

string_enum! {
    /// Where the capture was taken, from the handshake split.
    Vantage {
        Client = "client",
        Server = "server",
        Middle = "middle",
        Unknown = "unknown",
        /// Both ends on the capturing host (loopback, or one address).
        Local = "local",
    }
}

string_enum! {
    /// Where a direction's capture → sender → capture time came from.
    FrameSource {
        /// Captured at the sender itself (nothing between).
        Sender = "sender",
        /// Both ends on the capturing host.
        Local = "local",
        /// The handshake split (SYN → SYN/ACK → ACK).
        Handshake = "handshake",
        /// The peer's smallest data→ACK or timestamp sample.
        Samples = "samples",
        /// Not known: timings are taken as seen, as if at the sender.
        Unknown = "unknown",
    }
}

string_enum! {
    /// One end of a connection.
    Side { Client = "client", Server = "server" }
}

string_enum! {
    /// How sure the write boundaries are.
    WriteConfidence {
        /// A write log or `--write-size`.
        Exact = "exact",
        /// Protocol messages (`--framing`).
        Protocol = "protocol",
        High = "high",
        Medium = "medium",
        Low = "low",
    }
}

string_enum! {
    /// Which route of the inference rule gave a write unit.
    InferenceRule {
        /// All distinct small sizes share the unit (`chance` says how
        /// unlikely that is by luck).
        Divisibility = "divisibility",
        /// Most small segments are exactly one unit.
        DominantUnit = "dominant-unit",
        /// Every small segment had the same size.
        SingleSize = "single-size",
        /// The first data segment was exactly the unit (low only).
        FirstWrite = "first-write",
    }
}

/// What an inferred write unit rests on (`write_source: inferred`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WriteInference {
    pub rule: InferenceRule,
    /// Chance that unrelated sizes would share the unit: `g^-(k-1)` for
    /// `k` distinct small sizes whose greatest common divisor is `g`.
    pub chance: f64,
    /// Small segments and distinct small sizes the rule saw.
    pub segments: u64,
    pub distinct_sizes: u64,
}

string_enum! {
    /// Where a direction's MSS came from.
    MssSource { Syn = "syn", LargestPayload = "largest-payload" }
}

string_enum! {
    /// Where the path RTT came from.
    RttSource { Handshake = "handshake", DataAck = "data-ack", Timestamps = "timestamps" }
}

string_enum! {
    /// What the protocol framing did in one direction.
    FramingState {
        Used = "used",
        Partial = "partial",
        NotUsed = "not-used",
        NotRecognised = "not-recognised",
    }
}

string_enum! {
    /// Why writes were coalesced into fewer segments.
    CoalescingCause {
        Nagle = "nagle",
        Cwnd = "cwnd",
        Rwnd = "rwnd",
        Tso = "tso",
        /// Several messages or writes in a segment that left without
        /// waiting for any ACK: the application's own batching.
        Application = "application",
    }
}

string_enum! {
    /// The socket option (or setting) a piece of advice is about.
    AdviceOption {
        TcpNodelay = "TCP_NODELAY",
        TcpQuickack = "TCP_QUICKACK",
        TcpCork = "TCP_CORK",
        TcpDeferAccept = "TCP_DEFER_ACCEPT",
        SoRcvbuf = "SO_RCVBUF",
        SoSndbuf = "SO_SNDBUF",
        SoKeepalive = "SO_KEEPALIVE",
        ListenBacklog = "listen backlog",
    }
}

/// Where a direction's write boundaries came from. JSON: `log`, `size`,
/// `inferred`, or `framing:<name>` (for example `framing:tls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteSource {
    Log,
    /// Send calls traced in the kernel (`--trace-writes`, or its saved log).
    Kernel,
    Size,
    Inferred,
    /// Protocol messages, with the framing's name (`tls`, `resp`, ...).
    Framing(String),
}

impl WriteSource {
    /// Exact write boundaries: a log or a known write size.
    pub fn is_exact(&self) -> bool {
        matches!(
            self,
            WriteSource::Log | WriteSource::Kernel | WriteSource::Size
        )
    }
}

impl std::fmt::Display for WriteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteSource::Log => f.write_str("log"),
            WriteSource::Kernel => f.write_str("kernel"),
            WriteSource::Size => f.write_str("size"),
            WriteSource::Inferred => f.write_str("inferred"),
            WriteSource::Framing(name) => write!(f, "framing:{name}"),
        }
    }
}

impl Serialize for WriteSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The tool's version (Cargo's package version): the one place it is read,
/// for `--version`, the reports' `tool` field, report pages and `lab.json`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `tool` field of every report: `nagle-analyze VERSION`.
pub const TOOL: &str = concat!("nagle-analyze ", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: String,
    pub captures: Vec<CaptureSummary>,
    pub flows: Vec<Flow>,
    /// Every flow's advice grouped by endpoint, rule and side, most saving
    /// first (see `advice::group`).
    pub advice_groups: Vec<AdviceGroup>,
    /// Flow directions with data that the report saw but does not hold
    /// (the charts' bounded set let them go, see `render::held`): pages
    /// count them among the rows not listed. Not part of the JSON.
    #[serde(skip)]
    pub directions_not_held: u64,
}

impl Report {
    pub fn new(captures: Vec<CaptureSummary>, flows: Vec<Flow>) -> Self {
        let advice_groups = crate::advice::group::group(&flows);
        Report {
            schema_version: SCHEMA_VERSION,
            tool: TOOL.to_string(),
            captures,
            flows,
            advice_groups,
            directions_not_held: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CaptureSummary {
    pub path: String,
    /// `pcap`, `pcapng` or `live`; null when the file could not be read.
    pub format: Option<String>,
    /// `gzip` or `zstd` when the input was compressed; null when plain.
    pub compression: Option<String>,
    pub link_types: Vec<u32>,
    pub frames: u64,
    /// Frames that passed the BPF filter.
    pub frames_matched: u64,
    pub tcp_segments: u64,
    /// Most connections tracked at once (what memory follows).
    pub peak_live_flows: u64,
    /// Why frames gave no TCP segment (reason -> count).
    pub skipped: BTreeMap<String, u64>,
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
    pub warnings: Vec<String>,
    /// Reading stopped early: the file is damaged or cut.
    pub damaged: bool,
    /// Why nothing could be read (missing file, not a capture).
    pub error: Option<String>,
    /// Live capture only: libpcap's counters at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveCounters>,
}

/// libpcap's packet counters for a live capture.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveCounters {
    /// Packets the kernel handed to the capture.
    pub received: u64,
    /// Dropped because the capture buffer was full.
    pub dropped: u64,
    /// Dropped by the interface or its driver.
    pub if_dropped: u64,
    /// Send calls the kernel tracer saw (`--trace-writes`; absent without).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_writes: Option<KernelWriteCounters>,
    /// When the drops happened: libpcap's counters are read about once a
    /// second; each entry is a stretch of time in which they grew.
    pub drop_intervals: Vec<DropSpan>,
}

/// Packets the kernel dropped within a stretch of a live capture (wall
/// clock, the clock of the frame timestamps).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct DropSpan {
    pub start_ts: f64,
    pub end_ts: f64,
    /// Dropped because the buffer was full.
    pub dropped: u64,
    /// Dropped by the interface or its driver.
    pub if_dropped: u64,
}

/// A live flow that was active (its first frame before the end of a
/// [`DropSpan`], its last after the start) while the kernel dropped
/// packets: some of its frames may be missing.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct CaptureDrops {
    /// Drop spans the flow was active in.
    pub intervals: u64,
    /// Packets dropped in those spans (any flow's: an upper bound on this
    /// flow's).
    pub packets: u64,
}

/// What the kernel write tracer saw during a live capture.
#[cfg(all(feature = "live", target_os = "linux"))]
pub type KernelWriteCounters = crate::kernel_join::KernelCounters;
/// What the kernel write tracer saw during a live capture.
#[cfg(not(all(feature = "live", target_os = "linux")))]
pub type KernelWriteCounters = ();

impl CaptureSummary {
    pub fn unreadable(path: &str, error: String) -> Self {
        CaptureSummary {
            path: path.to_string(),
            format: None,
            compression: None,
            link_types: Vec::new(),
            frames: 0,
            frames_matched: 0,
            tcp_segments: 0,
            peak_live_flows: 0,
            skipped: BTreeMap::new(),
            first_ts: None,
            last_ts: None,
            warnings: Vec::new(),
            damaged: false,
            error: Some(error),
            live: None,
        }
    }
}

/// Summary statistics of a set of durations, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub min: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub max: Option<f64>,
    pub samples: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rtt {
    /// SYN -> SYN/ACK -> ACK as seen at the capture point.
    pub handshake: Option<f64>,
    /// The path RTT: the smallest of the handshake RTT and the per-direction
    /// minimum samples combined across the capture point.
    pub min: Option<f64>,
    /// Data->ACK samples brought to the full path (path RTT + ACK delay).
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub samples: u64,
    /// Where `min` came from: `handshake`, `data-ack`, `timestamps`.
    pub source: Option<RttSource>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    pub id: u64,
    /// Index into `captures` of the input this flow came from.
    pub capture: usize,
    pub client: String,
    pub server: String,
    pub handshake_seen: bool,
    pub start_ts: f64,
    pub end_ts: f64,
    /// `client`, `server`, `middle` or `unknown`.
    pub vantage: Vantage,
    pub rtt_ms: Rtt,
    pub directions: Vec<Direction>,
    /// Plain-language notes on how far the figures can be trusted.
    pub notes: Vec<String>,
    /// The flow was finished early because the flow table was full.
    pub evicted: bool,
    /// Socket options to turn, most costly first (see `advice`).
    pub advice: Vec<Advice>,
    /// Live capture only, and only when the kernel dropped packets while
    /// this flow was active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_drops: Option<CaptureDrops>,
}

/// One piece of advice: an option, the side it applies to, the evidence
/// and what it would save.
#[derive(Debug, Clone, Serialize)]
pub struct Advice {
    /// `TCP_NODELAY`, `TCP_QUICKACK`, `TCP_CORK`, `TCP_DEFER_ACCEPT`,
    /// `SO_RCVBUF`, `SO_SNDBUF`, `SO_KEEPALIVE`, `listen backlog`.
    pub option: AdviceOption,
    /// `client` or `server`.
    pub side: Side,
    /// That side's `ip:port`.
    pub address: String,
    /// What to do, in words.
    pub action: String,
    /// Sentences with counts and times.
    pub evidence: Vec<String>,
    /// What it would save, in words.
    pub estimated_saving: String,
    /// The same in figures, when known: time (ms), packets, bytes.
    pub saving_ms: Option<f64>,
    pub saving_packets: Option<u64>,
    pub saving_bytes: Option<u64>,
    /// Frame numbers (1-based, as Wireshark) of the first packets the
    /// evidence rests on (at most 5; empty when the rule has none).
    pub frames: Vec<u64>,
    /// The rule that gave it (`nagle_stalls`, `nagle_held`, `cork`, …;
    /// README "Advice").
    pub rule: &'static str,
}

/// One endpoint's advice of one rule, over every flow that got it: what
/// the text and HTML reports list instead of repeating a paragraph per
/// connection.
#[derive(Debug, Clone, Serialize)]
pub struct AdviceGroup {
    pub option: AdviceOption,
    pub rule: &'static str,
    pub side: Side,
    /// The server's `ip:port`; the client's address without the port
    /// (its ports change from connection to connection).
    pub endpoint: String,
    /// Flows (connections) that got this advice.
    pub connections: u64,
    /// Their ids, the first 20 in report order.
    pub flows: Vec<u64>,
    /// Savings summed over those flows (null when none had one).
    pub saving_ms: Option<f64>,
    pub saving_packets: Option<u64>,
    /// What it would save, in words, for the whole group.
    pub estimated_saving: String,
    /// The costliest flow's advice, as an example: its id, action,
    /// evidence and frames.
    pub example_flow: u64,
    pub action: String,
    pub evidence: Vec<String>,
    pub frames: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WritesPerSegment {
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub max: Option<u64>,
    /// writes carried -> number of segments ("1": 12, "2": 40, ...).
    pub histogram: BTreeMap<u64, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WriteDelay {
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    /// Per write, in log order: ms from the write call to the capture of
    /// the segment that carried its last byte (null when not seen).
    pub per_write: Vec<Option<f64>>,
}

impl WriteDelay {
    /// The waits of the writes seen on the wire, in log order (ms).
    pub fn waits(&self) -> impl Iterator<Item = f64> + '_ {
        self.per_write.iter().flatten().copied()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Nagle {
    /// `on`, `off` or `inconclusive`.
    pub verdict: Verdict,
    /// One sentence per piece of evidence, with counts.
    pub evidence: Vec<String>,
    /// Small segments sent while an earlier small one was unacknowledged,
    /// outside loss recovery (what Nagle forbids).
    pub small_while_unacked: u64,
    /// The same inside loss recovery or as probes (not counted as evidence).
    pub small_while_unacked_in_recovery: u64,
    /// Tolerance used for "released by an ACK", ms.
    pub release_tolerance_ms: Option<f64>,
    /// Frame numbers (1-based, as Wireshark) of the first segments the
    /// deciding evidence rests on (at most 5; empty when inconclusive).
    pub evidence_frames: Vec<u64>,
    /// What the socket's own setting was, from kernel-traced writes
    /// (absent without them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelNagle>,
}

string_enum! {
    /// Nagle as the sending socket had it at its send calls.
    KernelSetting {
        /// TCP_NODELAY clear at every call.
        On = "on",
        /// TCP_NODELAY set at every call.
        Off = "off",
        /// Set at some calls, clear at others.
        Changed = "changed",
        /// The kernel's `nonagle` field could not be read.
        Unknown = "unknown",
    }
}

/// `nagle.kernel`: the ground truth beside the verdict from packets.
#[derive(Debug, Clone, Serialize)]
pub struct KernelNagle {
    pub setting: KernelSetting,
    /// Each change of TCP_NODELAY or TCP_CORK between two send calls: the
    /// first call with the new state.
    pub changes: Vec<KernelChange>,
    /// Send calls made with TCP_CORK set.
    pub corked_writes: u64,
    /// The verdict from packets contradicts the setting (`on` with
    /// TCP_NODELAY at every call, or `off` with Nagle on at every call and
    /// no cork): a rule of the tool is wrong or the capture misses
    /// something.
    pub disagrees: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelChange {
    /// The call's time, seconds since the epoch.
    pub ts: f64,
    /// Its number among the direction's writes (1-based).
    pub write: u64,
    pub nodelay: bool,
    pub cork: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AckDelay {
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub max: Option<f64>,
    pub samples: u64,
    /// A timer-like cluster of ACK delays (for example about 40 ms on Linux).
    pub timer_ms: Option<f64>,
    pub timer_samples: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StallEvent {
    /// When the held segment left (seconds since the epoch, at the capture point).
    pub ts: f64,
    /// The latency the stall cost, ms: how long the held data waited beyond
    /// what TCP_NODELAY would have cost — from when it could have left (its
    /// write call, with a log; else the departure of the small segment
    /// ahead of it) to its departure, in the sender's frame.
    pub ms: f64,
    /// How long the peer delayed the ACK that released it, ms.
    pub ack_delay_ms: f64,
    /// The held segment's frame number in its input (1-based, as Wireshark).
    pub frame: u64,
}

/// The sender's frame of a direction: where the capture point sits on the
/// path, so that "unacknowledged", "released by an ACK" and write waits are
/// judged as the sender saw them.
#[derive(Debug, Clone, Serialize)]
pub struct SenderFrame {
    /// Capture point → sender → capture point, ms (0 at the sender).
    pub near_ms: f64,
    /// Capture point → receiver → capture point, ms (path RTT less near).
    pub far_ms: Option<f64>,
    /// The delay variation of the near part, ms (mean absolute deviation of
    /// the near samples); absent at the sender, on one host, or with fewer
    /// than 5 near samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<f64>,
    /// Where `near_ms` came from.
    pub source: FrameSource,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stalls {
    pub count: u64,
    pub total_ms: f64,
    pub events: Vec<StallEvent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SendInterval {
    pub median: Option<f64>,
    pub p90: Option<f64>,
    /// median / path RTT.
    pub rtt_ratio: Option<f64>,
}

/// Data the receiver acknowledged but the capture never showed (packets
/// the capture dropped, not network loss).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CaptureGaps {
    /// Sequence ranges missing.
    pub count: u64,
    /// Bytes in them.
    pub bytes: u64,
    /// Ranges whose fate is unknown: more were open at once than the
    /// tracker keeps.
    pub untracked: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Direction {
    pub from: String,
    pub to: String,
    /// Every frame sent this way (pure ACKs included).
    pub frames: u64,
    /// Sum of the frames' wire lengths.
    pub wire_bytes: u64,
    /// Segments with new payload (retransmissions and keep-alives excluded).
    pub data_segments: u64,
    pub payload_bytes: u64,
    /// TCP payload of every frame, retransmissions included.
    pub all_payload_bytes: u64,
    /// Frames Wireshark flags `tcp.analysis.retransmission` (fast and
    /// spurious retransmissions included).
    pub retransmissions: u64,
    /// Frames Wireshark flags `tcp.analysis.out_of_order`.
    pub out_of_order: u64,
    /// Of `retransmissions`, `tcp.analysis.fast_retransmission`.
    pub fast_retransmissions: u64,
    /// Of `retransmissions`, `tcp.analysis.spurious_retransmission`.
    pub spurious_retransmissions: u64,
    pub keepalives: u64,
    pub zero_window: u64,
    /// Sequence ranges acknowledged by the peer but never in the capture.
    pub capture_gaps: CaptureGaps,
    /// Effective MSS (SYN MSS less per-segment options), else the largest
    /// payload seen; null when unknown.
    pub mss: Option<u32>,
    /// `syn` or `largest-payload`.
    pub mss_source: Option<MssSource>,
    pub small_segments: u64,
    /// Segments larger than the MSS (TSO/GSO/GRO at the capture point).
    pub oversize_segments: u64,
    pub timestamps: bool,
    pub window_scale: Option<u8>,
    /// Frames whose payload the snaplen cut.
    pub truncated_frames: u64,
    /// Raw data->ACK samples at the capture point for this direction's data.
    pub ack_rtt_ms: Stats,

    // --- Nagle analysis ---
    /// `log`, `kernel`, `size`, `inferred`, `framing:NAME`, or null when no
    /// write boundaries are known.
    pub write_source: Option<WriteSource>,
    /// The write size used (`size`) or inferred (`inferred`).
    pub write_unit: Option<u32>,
    /// `exact`, `high`, `medium`, `low`.
    pub write_confidence: Option<WriteConfidence>,
    /// With an inferred unit: the rule and its figures (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_inference: Option<WriteInference>,
    pub writes: Option<u64>,
    pub writes_per_segment: Option<WritesPerSegment>,
    /// Data segments carrying the end of two or more writes.
    pub aggregated_segments: Option<u64>,
    /// Writes that shared a segment with an earlier write (the seed
    /// article's "aggregated packets"): writes minus segments that carry
    /// the end of at least one write.
    pub aggregated_writes: Option<u64>,
    pub send_interval_ms: SendInterval,
    /// Small segments that left right after the ACK of the previous small
    /// segment (the Nagle release).
    pub ack_clocked_segments: u64,
    /// The frame the timings of this direction are judged in.
    pub sender_frame: SenderFrame,
    pub nagle: Nagle,
    pub coalescing_causes: Vec<CoalescingCause>,
    /// ACK delay of the receiver of this direction's data.
    pub ack_delay_ms: AckDelay,
    pub stalls: Stalls,
    pub write_delay_ms: Option<WriteDelay>,
    /// Write boundaries from the protocol's framing (`--framing`): null when
    /// framing was off for this direction.
    pub framing: Option<FramingStatus>,
    /// One-line verdict in words.
    pub summary: String,
    /// Per-segment and per-ACK time series for charts (only when asked for:
    /// `--charts`, `--report`, or `--series`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Series>,
}

/// Time series of one direction, downsampled to a bounded size: every
/// `stride`-th point is kept (stride doubles each time the cap is reached).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Series {
    /// Data segments (new data, out-of-order and retransmissions).
    pub segments: Vec<SeriesSegment>,
    /// ACKs from the peer that acknowledged new data of this direction.
    pub acks: Vec<SeriesAck>,
    pub segment_stride: u64,
    pub ack_stride: u64,
    /// Write calls of the direction's write log (empty without a log for
    /// this direction), in log order; every `write_stride`-th kept.
    pub writes: Vec<SeriesWrite>,
    pub write_stride: u64,
    /// SACK blocks in the peer's ACKs, one point per block, in capture
    /// order; every `sack_stride`-th kept.
    pub sacks: Vec<SeriesSack>,
    pub sack_stride: u64,
    /// Zero-window episodes the peer advertised for this direction's data
    /// (at most 4096; `zero_windows_dropped` counts later ones).
    pub zero_windows: Vec<SeriesZeroWindow>,
    pub zero_windows_dropped: u64,
}

/// One SACK block of a peer's ACK.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesSack {
    /// Seconds since the flow's first frame.
    pub t: f64,
    /// The ACK's frame number (1-based).
    pub frame: u64,
    /// First byte the block covers (offset, 0 = first data byte).
    pub start: i64,
    /// Offset just past its last byte.
    pub end: i64,
}

/// A zero-window episode: from the peer's first zero window to the next
/// non-zero one.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesZeroWindow {
    /// Seconds since the flow's first frame, of the first zero window.
    pub t: f64,
    /// Its frame number (1-based).
    pub frame: u64,
    /// The cumulative ACK it carried (offset).
    pub ack: i64,
    /// Zero-window ACKs in the episode.
    pub adverts: u64,
    /// When (and in which frame) the window reopened; null when it did not.
    pub t_end: Option<f64>,
    pub frame_end: Option<u64>,
}

/// One write call of the log, mapped onto the direction's stream.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesWrite {
    /// When the write was called, seconds since the flow's first frame.
    pub t_call: f64,
    /// Stream offset just past the write's last byte.
    pub offset_end: u64,
    /// When the segment carrying its last byte was captured (null when not seen).
    pub t_departure: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeriesSegment {
    /// Seconds since the flow's first frame.
    pub t: f64,
    /// Sequence offset of the first byte (0 = first data byte).
    pub offset: i64,
    pub len: u32,
    /// Writes ending in this segment, when write boundaries are known exactly.
    pub writes: Option<u64>,
    pub retransmission: bool,
    /// The segment's frame number in its input (1-based, as Wireshark).
    pub frame: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeriesAck {
    pub t: f64,
    pub ack: i64,
    /// The peer's advertised receive window with this ACK (bytes, scaled),
    /// when known.
    pub win: Option<u64>,
}

/// Nanoseconds to milliseconds.
pub fn ms(ns: i64) -> f64 {
    ns as f64 / 1e6
}

/// Nanoseconds since the epoch to seconds.
pub fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

/// What the protocol framing (`--framing`) did in one direction.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FramingStatus {
    /// The decoder (`tls`, `http1`, ...), null when `auto` recognised nothing.
    pub protocol: Option<String>,
    /// `used`, `partial` (stopped, used for the segments before),
    /// `not-used` (stopped too early or found no message end),
    /// `not-recognised` (`auto` only).
    pub status: FramingState,
    /// Message ends found.
    pub messages: u64,
    /// Data segments whose bytes were decoded.
    pub segments: u64,
    pub data_segments: u64,
    /// Gaps the decoder carried over (`lines` only).
    pub gaps: u64,
    /// Why decoding stopped (missing bytes, snaplen, not the protocol).
    pub stopped: Option<String>,
}

/// Values joined with ", " in their JSON spelling (text and HTML lists).
pub fn join<T: std::fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod version_tests {
    #[test]
    fn tool_names_the_version() {
        assert_eq!(super::TOOL, format!("nagle-analyze {}", super::VERSION));
    }
}

//! Wires the stages together: capture -> decode -> flow -> analysis -> report.
//!
//! Each input is read in one streaming pass with its own flow table; flows
//! finished early (closed and idle, or evicted by the table limit) are turned
//! into report entries at once, so memory follows the number of live flows,
//! not the size of the capture.
//!
//! A file goes through three threads (read + decode, track + analyze,
//! finish + write; see `stream_file`); live capture runs on one.
//!
//! The output boundary is [`ReportSink`] (in `render`): [`stream_files`]
//! calls its `begin` with the inputs, its `flow` with every flow as soon as
//! it is finished (ids numbered across inputs, on the writing thread), and
//! its `finish` with the capture summaries. The streaming text, JSON and CSV
//! writers are sinks; so is [`Collector`], which [`analyze_files`] uses to
//! return the whole [`Report`].
//!
//! Errors are a [`PipelineError`]: a bad option (`Config`: the write log,
//! the BPF filter) fails the run; an input that cannot be read at all
//! (`Input`, with its path) fails only that input in [`stream_files`] (its
//! summary carries the error) and the call in [`analyze_file`]; a sink that
//! cannot write (`Output`) stops the run.
//!
//! What this module does not do: parse anything itself (that is `capture`,
//! `decode`, `flow`, `analysis`), format output (`render`, through the
//! sink), or decide what an error means to the user (exit codes and quiet
//! closed pipes are `main.rs`'s).

use crate::analysis::{self, AnalysisConfig, FlowAnalysis};
use crate::capture::{self, CaptureInfo, Frame};
use crate::decode;
use crate::flow::{Limits, Tracker};
use crate::render::{Collector, ReportSink};
use crate::report::{self, CaptureSummary, Report};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Everything the analysis needs to know, built by `main.rs` from the command
/// line (or by the lab).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// BPF expression applied to every frame (file input too).
    pub filter: Option<String>,
    /// A log of the sender's write calls (`--writes FILE`).
    pub writes_log: Option<std::path::PathBuf>,
    /// File descriptor to take from an strace log (`--writes-fd`).
    pub writes_fd: Option<i32>,
    /// Every write is this many bytes (`--write-size N`).
    pub write_size: Option<u32>,
    /// Flow table limits (`None` = defaults).
    pub limits: Option<Limits>,
    /// Keep per-segment time series in the report (for charts).
    pub series: bool,
    /// Bytes of input read so far, for a progress bar drawn elsewhere.
    pub progress: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// Write boundaries from protocol framing (`--framing`; default `auto`).
    pub framing: crate::framing::FramingRules,
    /// `--flow`: report only the flows these select (a flow id, `ip:port`,
    /// `[v6]:port` or `:port`); empty: every flow. A selector that names no
    /// flow is a [`PipelineError::Config`] once every input is read.
    pub flows: Vec<String>,
    /// Live capture: take exact writes from the kernel (`--trace-writes`).
    pub trace_writes: bool,
}

/// Which flows `--flow` selects, and which selectors matched something.
#[derive(Debug)]
pub struct FlowSelection<'a> {
    selectors: &'a [String],
    matched: Vec<bool>,
}

impl<'a> FlowSelection<'a> {
    pub fn new(selectors: &'a [String]) -> Self {
        FlowSelection {
            selectors,
            matched: vec![false; selectors.len()],
        }
    }

    /// Is `f` selected (every flow is, without selectors)? Without
    /// remembering it (for what is said of live flows).
    pub fn selects(&self, f: &report::Flow) -> bool {
        self.selectors.is_empty()
            || self
                .selectors
                .iter()
                .any(|s| crate::render::charts::flow_matches(f, s))
    }

    /// Is `f` selected (every flow is, without selectors)? Remembers which
    /// selectors matched.
    pub fn keep(&mut self, f: &report::Flow) -> bool {
        if self.selectors.is_empty() {
            return true;
        }
        let mut keep = false;
        for (s, m) in self.selectors.iter().zip(&mut self.matched) {
            if crate::render::charts::flow_matches(f, s) {
                *m = true;
                keep = true;
            }
        }
        keep
    }

    /// An error naming the selectors that matched no flow.
    pub fn check(&self) -> Result<(), PipelineError> {
        let missing: Vec<&str> = self
            .selectors
            .iter()
            .zip(&self.matched)
            .filter(|(_, m)| !**m)
            .map(|(s, _)| s.as_str())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(PipelineError::Config(anyhow::anyhow!(
            "--flow {}: no flow has this id or endpoint",
            missing.join(", --flow ")
        )))
    }
}

impl Config {
    fn analysis_config(&self) -> Result<AnalysisConfig, PipelineError> {
        let log = match &self.writes_log {
            Some(p) => Some(crate::writes::SharedLog::new(
                crate::writes::load(p, self.writes_fd).map_err(PipelineError::Config)?,
            )),
            None => None,
        };
        Ok(AnalysisConfig {
            write_size: self.write_size,
            log,
            series: self.series,
            framing: self.framing.clone(),
        })
    }
}

/// Decodes frames and feeds the tracker: the part of the pipeline shared by
/// file and live input.
pub struct Analyzer {
    tracker: Tracker<FlowAnalysis>,
    /// Connections finished and not yet taken.
    flows: Vec<Finished>,
    tcp_segments: u64,
    skipped: BTreeMap<String, u64>,
    warned_link_types: Vec<u32>,
    warnings: Vec<String>,
    last_ts: Option<crate::TsNs>,
    backwards: u64,
    /// Outstanding segments forgotten (`Limits::max_outstanding`) in finished flows.
    outstanding_overflow: u64,
    max_outstanding: usize,
}

impl Analyzer {
    pub fn new(cfg: &Config) -> Result<Self, PipelineError> {
        Ok(Self::with(cfg, Arc::new(cfg.analysis_config()?)))
    }

    /// With an analysis configuration already loaded (a write log is read
    /// once for all inputs).
    pub fn with(cfg: &Config, acfg: Arc<AnalysisConfig>) -> Self {
        Analyzer {
            tracker: Tracker::new(
                cfg.limits.unwrap_or_default(),
                Box::new(move || FlowAnalysis::new(acfg.clone())),
            ),
            flows: Vec::new(),
            tcp_segments: 0,
            skipped: BTreeMap::new(),
            warned_link_types: Vec::new(),
            warnings: Vec::new(),
            last_ts: None,
            backwards: 0,
            outstanding_overflow: 0,
            max_outstanding: cfg.limits.unwrap_or_default().max_outstanding,
        }
    }

    /// Flows finished so far (closed and idle, or evicted), taken out so
    /// that they can be written and dropped: memory then follows the live
    /// flows, not the capture. [`analysis::finish`] makes their report entries.
    pub fn take_finished(&mut self) -> Vec<Finished> {
        std::mem::take(&mut self.flows)
    }

    fn has_finished(&self) -> bool {
        !self.flows.is_empty()
    }

    /// One frame through decode and the flow tracker.
    pub fn frame(&mut self, frame: &Frame) {
        self.note_time(frame.ts_ns);
        match decode::decode(frame) {
            Ok(seg) => self.segment(&seg),
            Err(skip) => self.skipped(skip),
        }
    }

    /// Every frame's timestamp, in capture order (counts steps backwards).
    fn note_time(&mut self, ts_ns: crate::TsNs) {
        if self.last_ts.is_some_and(|t| ts_ns < t) {
            self.backwards += 1;
        }
        self.last_ts = Some(ts_ns);
    }

    /// A decoded TCP segment into the flow tracker.
    fn segment(&mut self, seg: &decode::Segment) {
        self.tcp_segments += 1;
        let (flows, ov) = (&mut self.flows, &mut self.outstanding_overflow);
        self.tracker
            .push(seg, &mut |f, an| report_flow(flows, ov, f, an));
    }

    /// A frame that is not a TCP segment: counted under its reason.
    fn skipped(&mut self, skip: decode::Skip) {
        if let decode::Skip::UnsupportedLinkType(lt) = skip {
            // One warning per link type for the first 8; hostile pcapng
            // files can name thousands (the skipped counts still list each
            // one).
            if self.warned_link_types.len() <= 8 && !self.warned_link_types.contains(&lt) {
                self.warned_link_types.push(lt);
                self.warnings.push(if self.warned_link_types.len() <= 8 {
                    format!("link type {lt} is not supported: its frames are skipped")
                } else {
                    "more unsupported link types: their frames are skipped (see the skipped counts)"
                        .to_string()
                });
            }
        }
        *self.skipped.entry(skip.reason()).or_default() += 1;
    }

    /// Flows currently tracked.
    pub fn live_flows(&self) -> usize {
        self.tracker.live_flows()
    }

    /// Frames decoded to TCP so far.
    pub fn tcp_segments(&self) -> u64 {
        self.tcp_segments
    }

    /// The `n` busiest live flows analyzed as they stand (for a live view).
    pub fn snapshot(&self, n: usize) -> Vec<report::Flow> {
        self.tracker
            .snapshot(n, &mut |_, _| true)
            .into_iter()
            .map(|(f, an)| analysis::finish(&f, an.into_owned()))
            .collect()
    }

    /// Finish every flow and build the capture summary.
    pub fn finish(self, info: CaptureInfo) -> (CaptureSummary, Vec<report::Flow>) {
        let (summary, flows) = self.finish_raw(info);
        let flows = flows
            .into_iter()
            .map(|(f, an)| analysis::finish(&f, an))
            .collect();
        (summary, flows)
    }

    /// [`Analyzer::finish`], leaving the flows' report entries to be made
    /// by the caller (on another thread).
    pub fn finish_raw(self, info: CaptureInfo) -> (CaptureSummary, Vec<Finished>) {
        let mut flows = Vec::new();
        let summary = self.finish_streamed(info, &mut |f| flows.push(f));
        (summary, flows)
    }

    /// [`Analyzer::finish_raw`], handing the flows to `emit` one at a time
    /// in order of flow id: the live ones are made into their full state
    /// only as their turn comes, so that finishing a full flow table (a SYN
    /// flood's compact connections) does not hold every flow's state at
    /// once.
    pub fn finish_streamed(
        mut self,
        info: CaptureInfo,
        emit: &mut dyn FnMut(Finished),
    ) -> CaptureSummary {
        let mut pending = std::mem::take(&mut self.flows);
        pending.sort_by_key(|(f, _)| f.id);
        let mut pending = pending.into_iter().peekable();
        let ov = &mut self.outstanding_overflow;
        self.tracker.finish_all(&mut |f, an| {
            while let Some(p) = pending.next_if(|(p, _)| p.id < f.id) {
                emit(p);
            }
            *ov += f.dirs.iter().map(|d| d.outstanding_overflow).sum::<u64>();
            emit((f, an));
        });
        pending.for_each(&mut *emit);
        self.summary(info)
    }

    /// The capture summary once every flow is finished.
    fn summary(self, info: CaptureInfo) -> CaptureSummary {
        let mut warnings = info.warnings;
        warnings.extend(self.warnings);
        if self.backwards > 0 {
            warnings.push(format!(
                "timestamps went backwards {} time(s) (merged or damaged capture): timings across those points are unreliable, implausible RTT samples were dropped",
                self.backwards
            ));
        }
        if self.outstanding_overflow > 0 {
            warnings.push(format!(
                "outstanding-data limit ({} segments per direction) reached: {} unacknowledged segments were forgotten, no RTT sample from them (raise --max-outstanding)",
                self.max_outstanding,
                self.outstanding_overflow
            ));
        }
        if self.tracker.evicted > 0 {
            warnings.push(format!(
                "flow table full: {} flows were finished early (raise --max-flows)",
                self.tracker.evicted
            ));
        }
        CaptureSummary {
            path: info.path,
            format: info.format.map(|f| {
                match f {
                    capture::Format::Pcap => "pcap",
                    capture::Format::Pcapng => "pcapng",
                    capture::Format::Live => "live",
                }
                .to_string()
            }),
            compression: info.compression.map(|c| c.name().to_string()),
            link_types: info.link_types,
            frames: info.frames,
            frames_matched: info.frames_matched,
            tcp_segments: self.tcp_segments,
            peak_live_flows: self.tracker.peak_flows as u64,
            skipped: self.skipped,
            first_ts: info.first_ts_ns.map(report::secs),
            last_ts: info.last_ts_ns.map(report::secs),
            warnings,
            damaged: info.damaged,
            error: None,
            live: None,
        }
    }
}

/// A connection the tracker has finished, with its analysis state; its
/// report entry is `analysis::finish(&summary, analysis)`.
pub type Finished = (crate::flow::FlowSummary, FlowAnalysis);

/// A finished flow is kept for its report entry; its forgotten outstanding
/// segments are counted for the capture's warning.
fn report_flow(
    flows: &mut Vec<Finished>,
    outstanding_overflow: &mut u64,
    f: crate::flow::FlowSummary,
    an: FlowAnalysis,
) {
    *outstanding_overflow += f.dirs.iter().map(|d| d.outstanding_overflow).sum::<u64>();
    flows.push((f, an));
}

/// Why a run (or one input) failed. `main.rs` turns it into an exit code by
/// its variant; its message is the inner error's (`{:#}` adds the causes).
#[derive(Debug)]
pub enum PipelineError {
    /// A bad option value (the write log, the BPF filter, a `--flow`
    /// selection): nothing is analyzed.
    Config(anyhow::Error),
    /// An input that cannot be read at all (missing, empty, not a capture;
    /// an interface that cannot be opened). The message names it too.
    Input { path: String, source: anyhow::Error },
    /// The report cannot be written (full device, closed pipe, a file that
    /// cannot be created).
    Output(anyhow::Error),
}

impl PipelineError {
    /// A sink's write error.
    pub fn output(e: std::io::Error) -> Self {
        PipelineError::Output(anyhow::Error::new(e))
    }

    /// An input that cannot be read.
    pub fn input(path: &str, source: anyhow::Error) -> Self {
        PipelineError::Input {
            path: path.to_string(),
            source,
        }
    }

    /// A capture reader's error: the filter is the user's option, the rest
    /// is the input's.
    fn read(path: &str, e: capture::ReadError) -> Self {
        match e {
            capture::ReadError::Filter(f) => PipelineError::Config(anyhow::Error::new(f)),
            capture::ReadError::Input(source) => Self::input(path, source),
        }
    }

    fn inner(&self) -> &anyhow::Error {
        match self {
            PipelineError::Config(e) | PipelineError::Output(e) => e,
            PipelineError::Input { source, .. } => source,
        }
    }
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.alternate() {
            write!(f, "{:#}", self.inner())
        } else {
            write!(f, "{}", self.inner())
        }
    }
}

impl std::error::Error for PipelineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner().source()
    }
}

/// Takes each finished flow of one input, on the writing thread.
type FlowSink<'s> = dyn FnMut(report::Flow) -> std::io::Result<()> + Send + 's;

/// Analyze one capture file (`-` = standard input), all flows in memory. A
/// file that cannot be read at all is an `Input` error.
pub fn analyze_file(
    path: &str,
    cfg: &Config,
) -> Result<(CaptureSummary, Vec<report::Flow>), PipelineError> {
    let mut flows = Vec::new();
    let summary = stream_file(path, cfg, Arc::new(cfg.analysis_config()?), &mut |f| {
        flows.push(f);
        Ok(())
    })?;
    flows.sort_by_key(|f| f.id);
    Ok((summary, flows))
}

/// Analyze one capture file, handing each flow to `sink` as soon as it is
/// finished (in order of finishing; at the end of input, in order of id).
///
/// Three threads: `reader` reads and decodes (page faults or system calls,
/// decompression, the BPF filter, link/IP/TCP headers) and hands decoded
/// segments over in batches of 2,048; this one tracks connections and
/// analyzes them; `writer` turns finished connections into report entries
/// and gives them to `sink`, in order. A regular, uncompressed pcap or
/// pcapng file is memory-mapped: frames are then never copied, and a
/// segment's payload is read in place by the analysis (framing) only if it
/// looks at it. Memory is bounded by the channels (4 batches of segments and
/// 8 chunks of at most 64 finished connections in flight) and the flow
/// table.
fn stream_file(
    path: &str,
    cfg: &Config,
    acfg: Arc<AnalysisConfig>,
    sink: &mut FlowSink,
) -> Result<CaptureSummary, PipelineError> {
    let map = map_capture(path);
    let mapped: &[u8] = map.as_deref().unwrap_or(&[]);
    let an = Analyzer::with(cfg, acfg);
    let (tx, rx) = std::sync::mpsc::sync_channel::<SegmentBatch>(4);
    // Emptied batches go back to the reader: no reallocation, no page faults.
    let (back_tx, back_rx) = std::sync::mpsc::channel::<SegmentBatch>();
    // Finished flows go to the writing thread (see `send_finished`).
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<Vec<Finished>>(8);
    let (filter, progress) = (cfg.filter.as_deref(), cfg.progress.clone());
    let input = match &map {
        Some(m) => Input::Mapped(m),
        None => Input::Stream,
    };
    let (info, written) = std::thread::scope(|scope| {
        let spawn_err =
            |e| PipelineError::input(path, anyhow::anyhow!("cannot start a thread: {e}"));
        let reader = std::thread::Builder::new()
            .name("reader".into())
            .spawn_scoped(scope, move || {
                read_in_batches(path, input, filter, progress, tx, back_rx)
            })
            .map_err(spawn_err)?;
        let writer = std::thread::Builder::new()
            .name("writer".into())
            .spawn_scoped(scope, move || write_finished(done_rx, sink))
            .map_err(spawn_err)?;
        let an = analyze_batches(an, rx, mapped, &back_tx, &done_tx);
        let info = reader
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("{path}: the reading thread panicked").into()));
        let summary = match info {
            Ok(info) => Ok(finish_in_chunks(an, info, &done_tx)),
            Err(e) => Err(PipelineError::read(path, e)),
        };
        drop(done_tx);
        let written = match writer.join() {
            Ok(w) => w.map_err(PipelineError::output),
            Err(_) => Err(PipelineError::input(
                path,
                anyhow::anyhow!("the writing thread panicked"),
            )),
        };
        Ok((summary, written))
    })?;
    written?;
    info
}

/// The writing thread: report entries of the finished flows, to `sink` in
/// order; stops at the first output error (the channel then closes).
fn write_finished(
    done: std::sync::mpsc::Receiver<Vec<Finished>>,
    sink: &mut FlowSink,
) -> std::io::Result<()> {
    for flows in done {
        for (f, fa) in flows {
            sink(analysis::finish(&f, fa))?;
        }
    }
    Ok(())
}

/// The analyzing thread's loop: every batch of decoded frames through the
/// tracker, finished flows on to the writing thread. Once the writer has
/// stopped (an output error), the rest of the input is only drained.
fn analyze_batches(
    mut an: Analyzer,
    rx: std::sync::mpsc::Receiver<SegmentBatch>,
    mapped: &[u8],
    back_tx: &std::sync::mpsc::Sender<SegmentBatch>,
    done_tx: &std::sync::mpsc::SyncSender<Vec<Finished>>,
) -> Analyzer {
    let mut writing = true;
    for mut batch in rx {
        if !writing {
            continue; // drain: the output failed, nothing more is analyzed
        }
        for item in batch.items.drain(..) {
            match item {
                Item::Segment(seg, at) => {
                    an.note_time(seg.ts_ns);
                    let payload = match at {
                        Payload::Mapped(s, n) => mapped.get(s..s + n as usize),
                        Payload::Copied(s, n) => batch.data.get(s..s + n as usize),
                    };
                    an.segment(&decode::Segment {
                        payload: payload.unwrap_or(&[]),
                        ..seg
                    });
                }
                Item::Skipped(skip, ts_ns) => {
                    an.note_time(ts_ns);
                    an.skipped(skip);
                }
            }
        }
        batch.data.clear();
        let _ = back_tx.send(batch);
        if an.has_finished() {
            // A closed channel: the writer stopped on an output error.
            writing = send_finished(done_tx, an.take_finished());
        }
    }
    an
}

/// Finish every flow at the end of the input, sending them to the writing
/// thread in chunks as they are made (see [`Analyzer::finish_streamed`]).
fn finish_in_chunks(
    an: Analyzer,
    info: CaptureInfo,
    tx: &std::sync::mpsc::SyncSender<Vec<Finished>>,
) -> CaptureSummary {
    let mut chunk = Vec::new();
    let mut writing = true;
    let summary = an.finish_streamed(info, &mut |f| {
        chunk.push(f);
        if chunk.len() >= FLOWS_PER_SEND {
            let full = std::mem::take(&mut chunk);
            // Once the writer stopped (an output error) they are dropped.
            writing = writing && send_finished(tx, full);
        }
    });
    if writing {
        send_finished(tx, chunk);
    }
    summary
}

/// Flows per message to the writing thread.
const FLOWS_PER_SEND: usize = 64;

/// Hand finished flows to the writing thread in chunks of at most 64 (the
/// channel holds 8): a SYN flood that ends a flow with nearly every segment
/// must not queue thousands of flow states. False when the writer stopped.
fn send_finished(tx: &std::sync::mpsc::SyncSender<Vec<Finished>>, flows: Vec<Finished>) -> bool {
    let mut flows = flows.into_iter().peekable();
    while flows.peek().is_some() {
        if tx
            .send(flows.by_ref().take(FLOWS_PER_SEND).collect())
            .is_err()
        {
            return false;
        }
    }
    true
}

/// Memory-map `path` when it is a regular, uncompressed capture file (not
/// standard input, a pipe or a compressed file); `None` means: read it as a
/// stream.
///
/// Mapping saves the copy from the page cache into a buffer (a fifth of the
/// time on a cached file). A file truncated by another process while it is
/// being read faults (see [`exit_cleanly_on_sigbus`]); a capture still being
/// appended to is read up to its size when it was opened.
fn map_capture(path: &str) -> Option<memmap2::Mmap> {
    if path == "-" {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() < 4 || usize::try_from(meta.len()).is_err() {
        return None;
    }
    let mut head = [0u8; 4];
    std::io::Read::read_exact(&mut &file, &mut head).ok()?;
    if !capture::file::is_capture_magic(&head) {
        return None;
    }
    // SAFETY: the map is only read, through slices that live no longer than
    // the map; the file is opened read-only. Another process truncating the
    // file while it is read would raise SIGBUS (see the doc above).
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Some(map)
}

/// A mapped file that another process truncates while it is read raises
/// SIGBUS on the first access past the new end. Make that a clear one-line
/// error and exit code 1 instead of a crash (called once by `main`; only
/// async-signal-safe calls in the handler).
#[cfg(unix)]
pub fn exit_cleanly_on_sigbus() {
    extern "C" fn on_sigbus(_: libc::c_int) {
        const MSG: &[u8] = b"nagle-analyze: error: an input file shrank while it was being read (another process truncated or rewrote it); the report is incomplete: run again on a copy that is not being written\n";
        // SAFETY: write(2) and _exit(2) are async-signal-safe.
        unsafe {
            libc::write(2, MSG.as_ptr().cast(), MSG.len());
            libc::_exit(1);
        }
    }
    // SAFETY: a plain handler installed with an empty mask; `sa` is fully
    // initialised by zeroing and sigemptyset.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigbus as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
    }
}

/// Where the reading thread takes frames from.
#[derive(Clone, Copy)]
enum Input<'m> {
    /// The file's bytes, memory-mapped.
    Mapped(&'m memmap2::Mmap),
    /// `path` opened as a stream (standard input, pipes, compressed files).
    Stream,
}

/// A frame as the reading thread hands it to the analyzing one.
enum Item {
    /// A TCP segment (its `payload` left empty: see the [`Payload`]).
    Segment(decode::Segment<'static>, Payload),
    /// A frame that is not one, and its timestamp.
    Skipped(decode::Skip, crate::TsNs),
}

/// Where a segment's captured payload is: (start, length).
#[derive(Clone, Copy)]
enum Payload {
    /// In the memory-mapped file.
    Mapped(usize, u32),
    /// In the batch's `data`.
    Copied(usize, u32),
}

/// Decoded frames passed from the reading thread to the analyzing one.
#[derive(Default)]
struct SegmentBatch {
    items: Vec<Item>,
    /// Payloads of segments that are not in a mapped file.
    data: Vec<u8>,
    /// End of the last frame taken from the mapped file (0 if none): once
    /// the batch is analyzed, no one looks at the map before this offset.
    mapped_end: usize,
}

impl SegmentBatch {
    const MAX_ITEMS: usize = 2048;
    const MAX_BYTES: usize = 1 << 20;

    fn fresh() -> Self {
        SegmentBatch {
            items: Vec::with_capacity(Self::MAX_ITEMS),
            data: Vec::with_capacity(Self::MAX_BYTES + 65536),
            mapped_end: 0,
        }
    }

    /// Decode `f` and add it; `mapped` is the mapped file (empty if none).
    fn push(&mut self, f: &Frame, mapped: &[u8]) {
        if let Some(at) = offset_in(mapped, f.data) {
            self.mapped_end = at + f.data.len();
        }
        match decode::decode(f) {
            Ok(seg) => {
                let len = seg.payload.len() as u32;
                let at = match offset_in(mapped, seg.payload) {
                    Some(start) => Payload::Mapped(start, len),
                    None => {
                        let start = self.data.len();
                        self.data.extend_from_slice(seg.payload);
                        Payload::Copied(start, len)
                    }
                };
                self.items.push(Item::Segment(
                    decode::Segment {
                        payload: &[],
                        ..seg
                    },
                    at,
                ));
            }
            Err(skip) => self.items.push(Item::Skipped(skip, f.ts_ns)),
        }
    }

    fn full(&self) -> bool {
        self.items.len() >= Self::MAX_ITEMS || self.data.len() >= Self::MAX_BYTES
    }
}

/// Where `part` starts within `whole`, if it lies inside it.
fn offset_in(whole: &[u8], part: &[u8]) -> Option<usize> {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    (p >= w && p + part.len() <= w + whole.len() && !whole.is_empty()).then(|| p - w)
}

/// The reading thread: read and decode the whole input, sending segments in
/// batches. A closed channel (the analysis stopped) only discards what
/// follows.
fn read_in_batches(
    path: &str,
    input: Input,
    filter: Option<&str>,
    progress: Option<Arc<std::sync::atomic::AtomicU64>>,
    tx: std::sync::mpsc::SyncSender<SegmentBatch>,
    recycled: std::sync::mpsc::Receiver<SegmentBatch>,
) -> Result<CaptureInfo, capture::ReadError> {
    let map = match input {
        Input::Mapped(m) => Some(m),
        Input::Stream => None,
    };
    let mapped: &[u8] = map.map_or(&[], |m| &m[..]);
    let mut window = MapWindow::default();
    let mut counted = 0usize;
    let mut batch = SegmentBatch::fresh();
    let mut spare: Vec<SegmentBatch> = Vec::new();
    let mut on_frame = |f: &Frame| {
        batch.push(f, mapped);
        if batch.full() {
            if let Some(counter) = &progress {
                // The counter adds up every input: add what was read since.
                if batch.mapped_end > counted {
                    let new = (batch.mapped_end - counted) as u64;
                    counter.fetch_add(new, std::sync::atomic::Ordering::Relaxed);
                    counted = batch.mapped_end;
                }
            }
            // Batches come back in the order they were sent, analyzed.
            while let Ok(done) = recycled.try_recv() {
                if let Some(m) = map {
                    window.release(m, done.mapped_end);
                }
                spare.push(done);
            }
            let next = spare.pop().unwrap_or_else(SegmentBatch::fresh);
            let _ = tx.send(std::mem::replace(&mut batch, next));
        }
    };
    let info = match (input, progress.clone()) {
        (Input::Mapped(m), _) => capture::file::read_bytes(path, m, filter, &mut on_frame)?,
        (Input::Stream, Some(counter)) => {
            let reader = capture::file::CountingReader {
                inner: capture::file::open_input(path)?,
                counter,
            };
            capture::file::read_reader(path, reader, filter, &mut on_frame)?
        }
        (Input::Stream, None) => capture::file::read_path(path, filter, &mut on_frame)?,
    };
    if !batch.items.is_empty() {
        let _ = tx.send(batch);
    }
    if let (Some(counter), Input::Mapped(m)) = (&progress, input) {
        let rest = m.len().saturating_sub(counted) as u64;
        counter.fetch_add(rest, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(info)
}

/// The part of a mapped file already analyzed is handed back as reading
/// goes on, so that resident memory does not grow with the file (the pages
/// stay in the page cache; only this process's mapping of them is dropped).
///
/// Asking for the pages ahead of the reader (`MADV_POPULATE_READ`, 4 MiB at
/// a time) was tried: 40 % fewer page faults, but 9 % more CPU time and no
/// gain in wall time, so the kernel's fault-around does that job.
#[derive(Default)]
struct MapWindow {
    /// Everything below this was handed back.
    released: usize,
}

impl MapWindow {
    const STEP: usize = 2 << 20;

    /// Release the map below `end` (rounded down to whole steps).
    fn release(&mut self, map: &memmap2::Mmap, end: usize) {
        let end = end / Self::STEP * Self::STEP;
        if end > self.released {
            // SAFETY: the map is read-only and shared: dropping its pages
            // loses nothing (they are read again from the file if touched);
            // and nothing before `end` is read again (every batch up to
            // `end` was analyzed and returned).
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    self.released,
                    end - self.released,
                )
            };
            self.released = end;
        }
    }
}

/// Analyze one or more capture files, streaming, into `sink`: `begin` with
/// `paths`, `flow` with every flow as soon as it is finished (ids are
/// unique across inputs, `capture` indexes the summaries), `finish` with the
/// summaries, which are also returned. A file that cannot be read at all
/// gets a summary with its `error`; the others are still analyzed. A bad
/// configuration (write log, BPF filter) or a sink that cannot write fails
/// the call, and so does a `--flow` selector that named no flow (after
/// `finish`: the report of the selected flows is complete).
pub fn stream_files(
    paths: &[String],
    cfg: &Config,
    sink: &mut (dyn ReportSink + Send),
) -> Result<Vec<CaptureSummary>, PipelineError> {
    let acfg = Arc::new(cfg.analysis_config()?);
    sink.begin(paths).map_err(PipelineError::output)?;
    let mut captures = Vec::new();
    let mut emitted = 0u64;
    let mut sel = FlowSelection::new(&cfg.flows);
    for (i, path) in paths.iter().enumerate() {
        let base = emitted;
        let result = stream_file(path, cfg, acfg.clone(), &mut |mut f| {
            f.id += base;
            f.capture = i;
            emitted += 1;
            if sel.keep(&f) {
                sink.flow(f)
            } else {
                Ok(())
            }
        });
        match result {
            Ok(summary) => captures.push(summary),
            Err(PipelineError::Input { path, source }) => {
                captures.push(CaptureSummary::unreadable(&path, format!("{source:#}")))
            }
            Err(e) => return Err(e),
        }
    }
    sink.finish(&captures).map_err(PipelineError::output)?;
    if captures.iter().any(|c| c.error.is_none()) {
        sel.check()?;
    }
    Ok(captures)
}

/// Analyze one or more capture files into one report held in memory (for
/// charts and report pages, which rank all flows): [`stream_files`] into a
/// [`Collector`].
pub fn analyze_files(paths: &[String], cfg: &Config) -> Result<Report, PipelineError> {
    let mut collector = Collector::new();
    stream_files(paths, cfg, &mut collector)?;
    Ok(collector.into_report())
}

/// How a live capture runs and reports as it goes.
#[cfg(feature = "live")]
pub struct LiveRun<'a> {
    /// Set (by a signal handler, say) to end the capture: every flow is
    /// then finished and the report completed.
    pub stop: &'a std::sync::atomic::AtomicBool,
    /// Send stalls and changed verdicts to [`ReportSink::event`] as they are
    /// found (looked for about every [`LiveRun::CHECK`]).
    pub events: bool,
    /// Also an `interval` event with the active flows' running figures
    /// this often.
    pub interval: Option<std::time::Duration>,
    /// Called about once a second of wall time with the analyzer (a live view).
    pub on_tick: &'a mut dyn FnMut(&Analyzer),
}

#[cfg(feature = "live")]
impl LiveRun<'_> {
    /// How often finished flows are taken, and live flows looked at for
    /// new stalls and verdicts.
    pub const CHECK: std::time::Duration = std::time::Duration::from_millis(200);
}

/// What a live capture leaves once its flows are all in the sink.
#[cfg(feature = "live")]
#[derive(Debug)]
pub struct LiveOutcome {
    /// The capture's summary (with `live` counters), for
    /// [`ReportSink::finish`].
    pub captures: Vec<CaptureSummary>,
    /// Flows active while the kernel dropped packets (`capture_drops`).
    pub flows_with_drops: u64,
    /// A `--flow` selector that named no flow: a [`PipelineError::Config`]
    /// to return once the report is finished.
    pub selection: Result<(), PipelineError>,
}

/// The live run's side of the sink: what has been said of each live flow,
/// the finished flows waiting for the drop counters to cover their end,
/// and what the summary needs of the flows already written.
#[cfg(feature = "live")]
struct LiveWatch<'c> {
    /// Per live flow id: last frame's timestamp looked at, per direction
    /// the last stall frame reported and the last verdict.
    seen: std::collections::HashMap<u64, Watched>,
    /// Finished, waiting until libpcap's counters were read after their end.
    pending: std::collections::VecDeque<report::Flow>,
    sel: FlowSelection<'c>,
    /// Flows whose Nagle verdict the kernel contradicts (for the warning).
    disagreeing: Vec<u64>,
    flows_with_drops: u64,
    /// The first write error: nothing more goes to the sink after it.
    failed: Option<std::io::Error>,
}

#[cfg(feature = "live")]
#[derive(Default)]
struct Watched {
    end_ts: crate::TsNs,
    last_stall: [u64; 2],
    verdict: [Option<report::Verdict>; 2],
}

#[cfg(feature = "live")]
impl<'c> LiveWatch<'c> {
    fn new(selectors: &'c [String]) -> Self {
        LiveWatch {
            seen: Default::default(),
            pending: Default::default(),
            sel: FlowSelection::new(selectors),
            disagreeing: Vec::new(),
            flows_with_drops: 0,
            failed: None,
        }
    }

    /// New stalls and changed verdicts of `flow` as events.
    fn events(&mut self, flow: &report::Flow, sink: &mut dyn ReportSink) {
        if !self.sel.selects(flow) {
            return;
        }
        let w = self.seen.entry(flow.id).or_default();
        let mut lines = Vec::new();
        for (i, dir) in flow.directions.iter().enumerate().take(2) {
            for event in dir
                .stalls
                .events
                .iter()
                .filter(|e| e.frame > w.last_stall[i])
            {
                lines.push(crate::render::LiveEvent::Stall { flow, dir, event });
            }
            if let Some(last) = dir.stalls.events.iter().map(|e| e.frame).max() {
                w.last_stall[i] = w.last_stall[i].max(last);
            }
            let now = dir.nagle.verdict;
            let previous = w.verdict[i];
            if previous != Some(now) && (previous.is_some() || now != report::Verdict::Inconclusive)
            {
                lines.push(crate::render::LiveEvent::Verdict {
                    flow,
                    dir,
                    previous,
                });
            }
            w.verdict[i] = Some(now);
        }
        for ev in &lines {
            self.write(|s| s.event(ev), sink);
        }
    }

    /// `out` on the sink unless an earlier write failed.
    fn write(
        &mut self,
        out: impl FnOnce(&mut dyn ReportSink) -> std::io::Result<()>,
        sink: &mut dyn ReportSink,
    ) {
        if self.failed.is_none() {
            if let Err(e) = out(sink) {
                self.failed = Some(e);
            }
        }
    }

    /// Finished flows out of the analyzer (their last events said, then
    /// held for the drop counters); with `events`, the live ones that saw
    /// frames since the last look.
    fn check(&mut self, an: &mut Analyzer, events: bool, sink: &mut dyn ReportSink) {
        for (f, fa) in an.take_finished() {
            let flow = analysis::finish(&f, fa);
            if events {
                self.events(&flow, sink);
            }
            self.seen.remove(&flow.id);
            self.pending.push_back(flow);
        }
        if !events {
            return;
        }
        let seen = &self.seen;
        let mut changed =
            |id, end_ts| seen.get(&id).map_or(crate::TsNs::default(), |w| w.end_ts) != end_ts;
        for (f, fa) in an.tracker.snapshot(usize::MAX, &mut changed) {
            self.seen.entry(f.id).or_default().end_ts = f.end_ts;
            let flow = analysis::finish(&f, fa.into_owned());
            self.events(&flow, sink);
        }
    }

    /// The finished flows that ended before libpcap's counters were last
    /// read: marked with the drops they may miss,
    /// then written.
    fn release(&mut self, drops: &capture::live::DropsSoFar, sink: &mut dyn ReportSink) {
        let until = report::secs(drops.read_ns);
        let mut spans = None;
        while let Some(f) = self.pending.front() {
            if f.end_ts > until {
                break;
            }
            let mut flow = self.pending.pop_front().expect("front was there");
            let spans = spans
                .get_or_insert_with(|| drops.intervals.iter().map(drop_span).collect::<Vec<_>>());
            if self.sel.keep(&flow) {
                self.written(flow_with_drops(&mut flow, spans), &flow);
                self.write(|s| s.flow(flow), sink);
            }
        }
    }

    /// Counts for the summary of a flow about to be written.
    fn written(&mut self, dropped: bool, flow: &report::Flow) {
        self.flows_with_drops += u64::from(dropped);
        let disagrees = flow
            .directions
            .iter()
            .any(|d| d.nagle.kernel.as_ref().is_some_and(|k| k.disagrees));
        if disagrees && self.disagreeing.len() < 100 {
            self.disagreeing.push(flow.id);
        }
    }

    /// An `interval` event with every live flow as it stands.
    fn interval(&mut self, an: &Analyzer, elapsed: std::time::Duration, sink: &mut dyn ReportSink) {
        let mut flows = an.snapshot(usize::MAX);
        flows.retain(|f| self.sel.selects(f));
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let ev = crate::render::LiveEvent::Interval {
            ts,
            elapsed_s: elapsed.as_secs_f64(),
            flows: &flows,
        };
        self.write(|s| s.event(&ev), sink);
    }
}

/// `flow` marked with the drop spans it overlaps; whether it overlaps any.
#[cfg(feature = "live")]
fn flow_with_drops(flow: &mut report::Flow, spans: &[report::DropSpan]) -> bool {
    mark_drops(std::slice::from_mut(flow), spans);
    flow.capture_drops.is_some()
}

/// Capture live until `run.stop`, the duration or the count, analyzing as
/// it goes: `sink.begin` with the interface's name, then every flow into
/// `sink` as it finishes (within half a second of its end, once
/// libpcap's drop counters cover it; the rest when the capture ends), so
/// memory follows the live flows, not the length of the run; with
/// `run.events`, stalls and verdicts go to [`ReportSink::event`] as they
/// are found. The caller calls `sink.finish` with the outcome's summaries
/// (after clearing a live view). A write error on the sink stops the
/// capture, and is returned unless it is a closed pipe.
#[cfg(feature = "live")]
pub fn analyze_live(
    opts: &capture::live::LiveOptions,
    cfg: &Config,
    run: LiveRun,
    sink: &mut dyn ReportSink,
) -> Result<LiveOutcome, PipelineError> {
    use std::time::{Duration, Instant};
    let (mut an, mut join) = live_analyzer(opts, cfg)?;
    let iface = |e| PipelineError::input(&opts.interface, e);
    let live = capture::live::open_live(opts).map_err(iface)?;
    sink.begin(std::slice::from_ref(&opts.interface))
        .map_err(PipelineError::output)?;
    let started = Instant::now();
    let (mut last_tick, mut last_check, mut last_interval) = (started, started, started);
    let mut watch = LiveWatch::new(&cfg.flows);
    let (stop, on_tick) = (run.stop, run.on_tick);
    let (mut info, stats) = live
        .run_ticking(stop, &mut |f, drops| {
            match (f, join.as_mut()) {
                (Some(f), Some(j)) => j.hold(f),
                (Some(f), None) => an.frame(f),
                (None, _) => {}
            }
            if let Some(j) = join.as_mut() {
                j.pump(&mut an, now_ns(), false);
            }
            if due(&mut last_tick, Duration::from_secs(1)) {
                on_tick(&an);
            }
            if due(&mut last_check, LiveRun::CHECK) {
                watch.check(&mut an, run.events, sink);
                watch.release(drops, sink);
            }
            if run.interval.is_some_and(|i| due(&mut last_interval, i)) {
                watch.interval(&an, started.elapsed(), sink);
            }
            if watch.failed.is_some() {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        })
        .map_err(iface)?;
    let kernel = join.map(|j| {
        let (counters, warnings) = j.finish(&mut an, now_ns());
        info.warnings.extend(warnings);
        counters
    });
    let ended = Ended {
        info,
        stats,
        kernel,
    };
    end_live(an, ended, watch, run.events, sink)
}

/// Whether `every` has passed since `*last` (which then becomes now).
#[cfg(feature = "live")]
fn due(last: &mut std::time::Instant, every: std::time::Duration) -> bool {
    let due = last.elapsed() >= every;
    if due {
        *last = std::time::Instant::now();
    }
    due
}

/// Flows finished at the end of a live capture written per batch.
#[cfg(feature = "live")]
const END_BATCH: usize = 256;

/// What the capture left when it stopped: its info, libpcap's counters and
/// the kernel tracer's.
#[cfg(feature = "live")]
struct Ended {
    info: CaptureInfo,
    stats: capture::live::LiveStats,
    kernel: Option<report::KernelWriteCounters>,
}

/// The end of a live capture: every flow still held or live finished into
/// the sink (every drop is known now), and the summary with its counters.
#[cfg(feature = "live")]
fn end_live(
    mut an: Analyzer,
    Ended {
        info,
        stats,
        kernel,
    }: Ended,
    mut watch: LiveWatch,
    events: bool,
    sink: &mut dyn ReportSink,
) -> Result<LiveOutcome, PipelineError> {
    let drops = capture::live::DropsSoFar {
        read_ns: i64::MAX,
        intervals: &stats.drop_intervals,
    };
    watch.check(&mut an, events, sink);
    watch.release(&drops, sink);
    let mut summary = an.finish_streamed(info, &mut |(f, fa)| {
        let flow = analysis::finish(&f, fa);
        if events {
            watch.events(&flow, sink);
        }
        watch.pending.push_back(flow);
        // In batches: the drop spans are made once per batch.
        if watch.pending.len() >= END_BATCH {
            watch.release(&drops, sink);
        }
    });
    watch.release(&drops, sink);
    if let Some(e) = watch.failed.take() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(PipelineError::output(e));
        }
    }
    summary
        .warnings
        .extend(kernel_disagreements(&watch.disagreeing));
    summary.live = Some(report::LiveCounters {
        received: stats.received,
        dropped: stats.dropped,
        if_dropped: stats.if_dropped,
        kernel_writes: kernel,
        drop_intervals: stats.drop_intervals.iter().map(drop_span).collect(),
    });
    Ok(LiveOutcome {
        captures: vec![summary],
        flows_with_drops: watch.flows_with_drops,
        selection: watch.sel.check(),
    })
}

/// One warning naming the flows whose Nagle verdict the kernel's own
/// socket state contradicts (`nagle.kernel.disagrees`), if any.
#[cfg(feature = "live")]
fn kernel_disagreements(ids: &[u64]) -> Option<String> {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    (!ids.is_empty()).then(|| {
        format!(
            "the kernel's TCP_NODELAY state contradicts the Nagle verdict from packets in flow(s) {}: see their notes",
            ids.join(", ")
        )
    })
}

/// The wall clock, ns since the epoch (the capture's clock).
#[cfg(feature = "live")]
fn now_ns() -> crate::TsNs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as crate::TsNs)
}

/// The analyzer of a live capture, and with `--trace-writes` the kernel
/// tracer joined to it (or a warning on standard error saying why not).
#[cfg(feature = "live")]
fn live_analyzer(
    opts: &capture::live::LiveOptions,
    cfg: &Config,
) -> Result<(Analyzer, Option<crate::kernel_join::KernelJoin>), PipelineError> {
    if !cfg.trace_writes {
        return Ok((Analyzer::new(cfg)?, None));
    }
    if cfg.writes_log.is_some() {
        return Err(PipelineError::Config(anyhow::anyhow!(
            "--trace-writes and --writes both give the write log: use one"
        )));
    }
    let log = crate::writes::SharedLog::default();
    let mut acfg = cfg.analysis_config()?;
    acfg.log = Some(log.clone());
    let an = Analyzer::with(cfg, Arc::new(acfg));
    match crate::kernel_join::KernelJoin::start(log, opts.save.as_deref()) {
        Ok(j) => Ok((an, Some(j))),
        Err(why) => {
            eprintln!("warning: {why}");
            Ok((an, None))
        }
    }
}

#[cfg(feature = "live")]
fn drop_span(d: &capture::live::DropInterval) -> report::DropSpan {
    report::DropSpan {
        start_ts: report::secs(d.start_ns),
        end_ts: report::secs(d.end_ns),
        dropped: d.dropped,
        if_dropped: d.if_dropped,
    }
}

/// Mark the flows active (first frame before a span's end, last frame after
/// its start) while the kernel dropped packets: `capture_drops` and a note.
pub fn mark_drops(flows: &mut [report::Flow], spans: &[report::DropSpan]) {
    for f in flows {
        let hit = spans
            .iter()
            .filter(|s| s.start_ts <= f.end_ts && s.end_ts >= f.start_ts);
        let (intervals, packets) =
            hit.fold((0, 0), |(n, p), s| (n + 1, p + s.dropped + s.if_dropped));
        if intervals == 0 {
            continue;
        }
        f.capture_drops = Some(report::CaptureDrops { intervals, packets });
        f.notes.push(format!(
            "the kernel dropped {packets} packets while this flow was active ({intervals} interval(s), see the capture's live.drop_intervals): frames of this flow may be missing, and its figures may rest on an incomplete capture"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{self, Format};

    fn fixture(name: &str) -> String {
        format!(
            "{}/fixtures/lab/{name}/capture.pcap",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    /// Two inputs, so that flow ids and `capture` are numbered across them.
    fn inputs() -> Vec<String> {
        vec![fixture("reqresp-rtt20"), fixture("nagle-on-rtt20-int1")]
    }

    /// The streamed document of `format` for `paths`.
    fn streamed(paths: &[String], format: Format) -> Vec<u8> {
        let mut out = Vec::new();
        let mut sink = render::writer(format, &mut out);
        stream_files(paths, &Config::default(), &mut *sink).unwrap();
        drop(sink);
        out
    }

    #[test]
    fn streamed_json_is_the_collected_report() {
        let paths = inputs();
        let report = analyze_files(&paths, &Config::default()).unwrap();
        assert!(report.flows.len() >= 2, "{} flows", report.flows.len());
        assert_eq!(report.captures.len(), 2);
        let got: serde_json::Value =
            serde_json::from_slice(&streamed(&paths, Format::Json)).unwrap();
        // Through text both ways: floats then parse alike.
        let mut want: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
        want["advice_cannot_show"] = serde_json::to_value(crate::advice::CANNOT_SHOW).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn streamed_text_and_csv_equal_the_collected_report_rendered() {
        let paths = inputs();
        let report = analyze_files(&paths, &Config::default()).unwrap();
        for format in [Format::Text, Format::Json, Format::Csv, Format::Jsonl] {
            let mut whole = Vec::new();
            render::render(&report, format, &mut whole).unwrap();
            assert_eq!(
                String::from_utf8(streamed(&paths, format)).unwrap(),
                String::from_utf8(whole).unwrap(),
                "{format:?}"
            );
        }
    }

    #[test]
    fn a_full_device_is_an_output_error() {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let mut sink = render::writer(Format::Json, full);
        let err = stream_files(&inputs(), &Config::default(), &mut *sink).unwrap_err();
        assert!(matches!(err, PipelineError::Output(_)), "{err:?}");
        assert_eq!(format!("{err:#}"), "No space left on device (os error 28)");
    }

    #[test]
    fn an_unreadable_input_is_an_input_error_with_its_path() {
        let path = "/nonexistent/capture.pcap";
        match analyze_file(path, &Config::default()) {
            Err(PipelineError::Input { path: p, source }) => {
                assert_eq!(p, path);
                assert!(
                    format!("{source:#}").starts_with("cannot open /nonexistent/capture.pcap: ")
                );
            }
            other => panic!("{:?}", other.map(|(s, _)| s)),
        }
        // Among several inputs, it only fails its own summary.
        let paths = vec![path.to_string(), fixture("reqresp-rtt20")];
        let report = analyze_files(&paths, &Config::default()).unwrap();
        let err = report.captures[0].error.as_deref().unwrap();
        assert!(
            err.starts_with("cannot open /nonexistent/capture.pcap: "),
            "{err}"
        );
        assert!(report.captures[1].error.is_none());
        assert!(report.flows.iter().all(|f| f.capture == 1));
    }

    #[test]
    fn a_bad_filter_or_write_log_is_a_config_error() {
        let cfg = Config {
            filter: Some("tcp and (".into()),
            ..Default::default()
        };
        let err = analyze_files(&inputs(), &cfg).unwrap_err();
        assert!(matches!(err, PipelineError::Config(_)), "{err:?}");
        assert!(format!("{err:#}").contains("\"tcp and (\""), "{err:#}");
        let cfg = Config {
            writes_log: Some("/nonexistent/writes.jsonl".into()),
            ..Default::default()
        };
        let err = analyze_files(&inputs(), &cfg).unwrap_err();
        assert!(matches!(err, PipelineError::Config(_)), "{err:?}");
    }

    #[test]
    fn the_message_is_the_inner_errors_through_anyhow_too() {
        let inner = anyhow::anyhow!("root cause").context("cannot open x");
        let want = format!("{inner:#}");
        let err = PipelineError::input("x", inner);
        assert_eq!(format!("{err:#}"), want);
        assert_eq!(format!("{err}"), "cannot open x");
        assert_eq!(format!("{:#}", anyhow::Error::new(err)), want);
    }
}

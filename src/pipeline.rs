//! Wires the stages together: capture -> decode -> flow -> analysis -> report.
//!
//! Each input is read in one streaming pass with its own flow table; flows
//! finished early (closed and idle, or evicted by the table limit) are turned
//! into report entries at once, so memory follows the number of live flows,
//! not the size of the capture.

use crate::analysis::{self, AnalysisConfig, FlowAnalysis};
use crate::capture::{self, CaptureInfo, Frame};
use crate::decode;
use crate::flow::{Limits, Tracker};
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
}

impl Config {
    fn analysis_config(&self) -> anyhow::Result<AnalysisConfig> {
        let log = match &self.writes_log {
            Some(p) => Some(Arc::new(crate::writes::load(p, self.writes_fd)?)),
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
    flows: Vec<report::Flow>,
    tcp_segments: u64,
    skipped: BTreeMap<String, u64>,
    warned_link_types: Vec<u32>,
    warnings: Vec<String>,
    last_ts: Option<crate::TsNs>,
    backwards: u64,
    /// Outstanding segments forgotten (flow::MAX_OUTSTANDING) in finished flows.
    outstanding_overflow: u64,
}

impl Analyzer {
    pub fn new(cfg: &Config) -> anyhow::Result<Self> {
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
        }
    }

    /// Flows finished so far (closed and idle, or evicted), taken out so
    /// that they can be written and dropped: memory then follows the live
    /// flows, not the capture.
    pub fn take_finished(&mut self) -> Vec<report::Flow> {
        std::mem::take(&mut self.flows)
    }

    fn has_finished(&self) -> bool {
        !self.flows.is_empty()
    }

    /// One frame through decode and the flow tracker.
    pub fn frame(&mut self, frame: &Frame) {
        if self.last_ts.is_some_and(|t| frame.ts_ns < t) {
            self.backwards += 1;
        }
        self.last_ts = Some(frame.ts_ns);
        match decode::decode(frame) {
            Ok(seg) => {
                self.tcp_segments += 1;
                let (flows, ov) = (&mut self.flows, &mut self.outstanding_overflow);
                self.tracker
                    .push(&seg, &mut |f, an| report_flow(flows, ov, f, an));
            }
            Err(skip) => {
                if let decode::Skip::UnsupportedLinkType(lt) = skip {
                    // One warning per link type for the first 8; hostile
                    // pcapng files can name thousands (the skipped counts
                    // still list each one).
                    if self.warned_link_types.len() <= 8 && !self.warned_link_types.contains(&lt) {
                        self.warned_link_types.push(lt);
                        self.warnings.push(if self.warned_link_types.len() <= 8 {
                            format!("link type {lt} is not supported: its frames are skipped")
                        } else {
                            "more unsupported link types: their frames are skipped (see the skipped counts)".to_string()
                        });
                    }
                }
                *self.skipped.entry(skip.reason()).or_default() += 1;
            }
        }
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
            .snapshot(n)
            .into_iter()
            .map(|(f, an)| analysis::finish(&f, an.clone()))
            .collect()
    }

    /// Finish every flow and build the capture summary.
    pub fn finish(mut self, info: CaptureInfo) -> (CaptureSummary, Vec<report::Flow>) {
        let (flows, ov) = (&mut self.flows, &mut self.outstanding_overflow);
        self.tracker
            .finish_all(&mut |f, an| report_flow(flows, ov, f, an));
        self.flows.sort_by_key(|f| f.id);
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
                "outstanding-data limit ({} segments per direction) reached: {} unacknowledged segments were forgotten (no RTT sample from them)",
                crate::flow::MAX_OUTSTANDING,
                self.outstanding_overflow
            ));
        }
        if self.tracker.evicted > 0 {
            warnings.push(format!(
                "flow table full: {} flows were finished early (raise --max-flows)",
                self.tracker.evicted
            ));
        }
        let summary = CaptureSummary {
            path: info.path,
            format: info.format.map(|f| {
                match f {
                    capture::Format::Pcap => "pcap",
                    capture::Format::Pcapng => "pcapng",
                    capture::Format::Live => "live",
                }
                .to_string()
            }),
            link_types: info.link_types,
            frames: info.frames,
            frames_matched: info.frames_matched,
            tcp_segments: self.tcp_segments,
            skipped: self.skipped,
            first_ts: info.first_ts_ns.map(report::secs),
            last_ts: info.last_ts_ns.map(report::secs),
            warnings,
            damaged: info.damaged,
            error: None,
            live: None,
        };
        (summary, self.flows)
    }
}

/// A finished flow becomes its report entry; its forgotten outstanding
/// segments are counted for the capture's warning.
fn report_flow(
    flows: &mut Vec<report::Flow>,
    outstanding_overflow: &mut u64,
    f: crate::flow::FlowSummary,
    an: FlowAnalysis,
) {
    *outstanding_overflow += f.dirs.iter().map(|d| d.outstanding_overflow).sum::<u64>();
    flows.push(analysis::finish(&f, an));
}

/// Analyze one capture file (`-` = standard input), all flows in memory.
pub fn analyze_file(
    path: &str,
    cfg: &Config,
) -> anyhow::Result<(CaptureSummary, Vec<report::Flow>)> {
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
fn stream_file(
    path: &str,
    cfg: &Config,
    acfg: Arc<AnalysisConfig>,
    sink: &mut dyn FnMut(report::Flow) -> anyhow::Result<()>,
) -> anyhow::Result<CaptureSummary> {
    let mut an = Analyzer::with(cfg, acfg);
    let mut sink_error = None;
    // Two threads: one reads (system calls, copying, the BPF filter) and
    // hands frames over in batches; this one decodes and analyzes.
    let (tx, rx) = std::sync::mpsc::sync_channel::<FrameBatch>(4);
    // Emptied batches go back to the reader: no reallocation, no page faults.
    let (back_tx, back_rx) = std::sync::mpsc::channel::<FrameBatch>();
    let (path_owned, filter, progress) =
        (path.to_string(), cfg.filter.clone(), cfg.progress.clone());
    let info = std::thread::scope(|scope| {
        let reader = scope
            .spawn(move || read_in_batches(&path_owned, filter.as_deref(), progress, tx, back_rx));
        for batch in rx {
            if sink_error.is_some() {
                continue; // drain: the output failed, nothing more is analyzed
            }
            for frame in batch.frames() {
                an.frame(&frame);
            }
            let mut batch = batch;
            batch.data.clear();
            batch.frames.clear();
            let _ = back_tx.send(batch);
            if an.has_finished() {
                for flow in an.take_finished() {
                    if let Err(e) = sink(flow) {
                        sink_error = Some(e);
                        break;
                    }
                }
            }
        }
        reader
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("{path}: the reading thread panicked")))
    })?;
    if let Some(e) = sink_error {
        return Err(e);
    }
    let (summary, flows) = an.finish(info);
    for flow in flows {
        sink(flow)?;
    }
    Ok(summary)
}

/// Frames copied out of the reader's buffer, passed from the reading thread
/// to the analyzing one.
#[derive(Default)]
struct FrameBatch {
    data: Vec<u8>,
    /// (number, timestamp, link type, start in `data`, captured length, original length)
    frames: Vec<(u64, crate::TsNs, u32, usize, usize, u32)>,
}

impl FrameBatch {
    const MAX_FRAMES: usize = 2048;
    const MAX_BYTES: usize = 1 << 20;

    fn push(&mut self, f: &Frame) {
        let start = self.data.len();
        self.data.extend_from_slice(f.data);
        self.frames.push((
            f.number,
            f.ts_ns,
            f.link_type,
            start,
            f.data.len(),
            f.orig_len,
        ));
    }

    fn full(&self) -> bool {
        self.frames.len() >= Self::MAX_FRAMES || self.data.len() >= Self::MAX_BYTES
    }

    fn frames(&self) -> impl Iterator<Item = Frame<'_>> {
        self.frames
            .iter()
            .map(|&(number, ts_ns, link_type, start, len, orig_len)| Frame {
                number,
                ts_ns,
                link_type,
                data: &self.data[start..start + len],
                orig_len,
            })
    }
}

/// The reading thread: read the whole input, sending frames in batches.
/// A closed channel (the analysis stopped) only discards what follows.
fn read_in_batches(
    path: &str,
    filter: Option<&str>,
    progress: Option<Arc<std::sync::atomic::AtomicU64>>,
    tx: std::sync::mpsc::SyncSender<FrameBatch>,
    recycled: std::sync::mpsc::Receiver<FrameBatch>,
) -> anyhow::Result<CaptureInfo> {
    let fresh = || FrameBatch {
        data: Vec::with_capacity(FrameBatch::MAX_BYTES + 65536),
        frames: Vec::with_capacity(FrameBatch::MAX_FRAMES),
    };
    let mut batch = fresh();
    let mut on_frame = |f: &Frame| {
        batch.push(f);
        if batch.full() {
            let next = recycled.try_recv().unwrap_or_else(|_| fresh());
            let _ = tx.send(std::mem::replace(&mut batch, next));
        }
    };
    let info = match progress {
        Some(counter) => {
            let reader = capture::file::CountingReader {
                inner: capture::file::open_input(path)?,
                counter,
            };
            capture::file::read_reader(path, reader, filter, &mut on_frame)?
        }
        None => capture::file::read_path(path, filter, &mut on_frame)?,
    };
    if !batch.frames.is_empty() {
        let _ = tx.send(batch);
    }
    Ok(info)
}

/// Analyze one or more capture files, streaming: every finished flow goes
/// to `sink` (ids are unique across inputs, `capture` indexes the returned
/// summaries). A file that cannot be read at all gets a summary with its
/// `error`; the others are still analyzed. A bad configuration (write log,
/// BPF filter) fails the call.
pub fn stream_files(
    paths: &[String],
    cfg: &Config,
    sink: &mut dyn FnMut(report::Flow) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<CaptureSummary>> {
    let acfg = Arc::new(cfg.analysis_config()?);
    let mut captures = Vec::new();
    let mut emitted = 0u64;
    for (i, path) in paths.iter().enumerate() {
        let base = emitted;
        let result = stream_file(path, cfg, acfg.clone(), &mut |mut f| {
            f.id += base;
            f.capture = i;
            emitted += 1;
            sink(f)
        });
        match result {
            Ok(summary) => captures.push(summary),
            Err(e) if e.downcast_ref::<capture::FilterError>().is_some() => return Err(e),
            Err(e) if e.downcast_ref::<SinkError>().is_some() => return Err(e),
            Err(e) => captures.push(CaptureSummary::unreadable(path, format!("{e:#}"))),
        }
    }
    Ok(captures)
}

/// An error from the flow sink (the output), not from the input.
#[derive(Debug)]
pub struct SinkError(pub anyhow::Error);

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for SinkError {}

/// Analyze one or more capture files into one report held in memory (for
/// charts and report pages, which rank all flows).
pub fn analyze_files(paths: &[String], cfg: &Config) -> anyhow::Result<Report> {
    let mut flows = Vec::new();
    let captures = stream_files(paths, cfg, &mut |f| {
        flows.push(f);
        Ok(())
    })?;
    flows.sort_by_key(|f| f.id);
    Ok(Report::new(captures, flows))
}

/// Capture live until `stop`, the duration or the count, analyzing as it
/// goes; `on_tick` is called about once a second of wall time (while frames
/// arrive) with the analyzer, for a live view.
#[cfg(feature = "live")]
pub fn analyze_live(
    opts: &capture::live::LiveOptions,
    cfg: &Config,
    stop: &std::sync::atomic::AtomicBool,
    on_tick: &mut dyn FnMut(&Analyzer),
) -> anyhow::Result<Report> {
    let mut an = Analyzer::new(cfg)?;
    let live = capture::live::open_live(opts)?;
    let mut last = std::time::Instant::now();
    let (info, stats) = live.run(stop, &mut |f| {
        an.frame(f);
        if last.elapsed() >= std::time::Duration::from_secs(1) {
            last = std::time::Instant::now();
            on_tick(&an);
        }
    })?;
    let (mut summary, flows) = an.finish(info);
    summary.live = Some(report::LiveCounters {
        received: stats.received,
        dropped: stats.dropped,
        if_dropped: stats.if_dropped,
    });
    Ok(Report::new(vec![summary], flows))
}

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
        let acfg = Arc::new(cfg.analysis_config()?);
        Ok(Analyzer {
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
        })
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
                self.tracker.push(&seg, &mut |f, an| {
                    *ov += f.dirs.iter().map(|d| d.outstanding_overflow).sum::<u64>();
                    flows.push(analysis::finish(&f, an))
                });
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

    /// Finish every flow and build the capture summary.
    pub fn finish(mut self, info: CaptureInfo) -> (CaptureSummary, Vec<report::Flow>) {
        let (flows, ov) = (&mut self.flows, &mut self.outstanding_overflow);
        self.tracker.finish_all(&mut |f, an| {
            *ov += f.dirs.iter().map(|d| d.outstanding_overflow).sum::<u64>();
            flows.push(analysis::finish(&f, an))
        });
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
        };
        (summary, self.flows)
    }
}

/// Analyze one capture file (`-` = standard input).
pub fn analyze_file(
    path: &str,
    cfg: &Config,
) -> anyhow::Result<(CaptureSummary, Vec<report::Flow>)> {
    let mut an = Analyzer::new(cfg)?;
    let info = capture::file::read_path(path, cfg.filter.as_deref(), &mut |f| an.frame(f))?;
    Ok(an.finish(info))
}

/// Analyze one or more capture files into one report. A file that cannot be
/// read at all is listed with its `error`; the others are still analyzed.
/// Errors in the configuration (bad write log, bad filter) fail the call.
pub fn analyze_files(paths: &[String], cfg: &Config) -> anyhow::Result<Report> {
    // Validate the configuration once, before reading anything.
    cfg.analysis_config()?;
    let mut report = Report {
        schema_version: report::SCHEMA_VERSION,
        tool: format!("nagle-analyze {}", env!("CARGO_PKG_VERSION")),
        captures: Vec::new(),
        flows: Vec::new(),
    };
    for (i, path) in paths.iter().enumerate() {
        match analyze_file(path, cfg) {
            Ok((summary, flows)) => {
                let base = report.flows.len() as u64;
                report.captures.push(summary);
                report.flows.extend(flows.into_iter().map(|mut f| {
                    f.id += base;
                    f.capture = i;
                    f
                }));
            }
            Err(e) if is_config_error(&e) => return Err(e),
            Err(e) => report
                .captures
                .push(CaptureSummary::unreadable(path, format!("{e:#}"))),
        }
    }
    Ok(report)
}

/// Errors that are the user's options, not the input (a bad BPF filter).
fn is_config_error(e: &anyhow::Error) -> bool {
    format!("{e:#}").contains("filter")
}

//! Charts (SVG and PNG) drawn with plotters from the plain-data report.
//!
//! What it does: turns one [`Direction`] of a [`Flow`] into up to four
//! charts, and a list of [`SweepPoint`]s into the sweep chart:
//!
//! - **writes per segment**: a histogram of `writes_per_segment.histogram`,
//!   each bar labelled with its count;
//! - **time-sequence graph** ([`timeseq`]): segments, retransmissions, the
//!   peer's cumulative ACK and window edge, write calls with their held
//!   intervals and stall events, each data mark with an SVG tooltip
//!   ([`marks`]);
//! - **send interval over time**: the gap between consecutive new-data
//!   segments (log scale), with the path RTT (`rtt_ms.min`, solid) and the
//!   median ACK delay (dashed) as horizontal reference lines;
//! - **latency** ([`latency`]): write → wire delay over time with the RTT
//!   and the delayed-ACK timer as reference lines (with a write log);
//! - **write → wire delay CDF**, only when the report has
//!   `write_delay_ms` (a write log was given);
//! - **sweep** ([`sweep`]): aggregated writes and mean writes per segment
//!   against the write interval (log x axis), one line (colour, dash and
//!   marker) per RTT, a vertical mark at interval = RTT, gaps for missing
//!   points.
//!
//! Charts are slide-sized ([`WIDTH`] × [`HEIGHT`]), axis labels carry units,
//! titles name the flow and the direction. Text is drawn with DejaVu Sans,
//! embedded in the binary and registered with plotters at first use
//! ([`init_fonts`]): no system fonts, fontconfig or freetype are needed.
//!
//! Downsampling: the report's series are already bounded (every
//! `stride`-th point kept, see [`crate::report::Series`]). On top of that,
//! when a chart has more points than the plot has pixel columns, the points
//! are binned by pixel column: the time-sequence graph draws one bar per
//! column from the smallest offset to the largest segment end in it (and
//! keeps the largest ACK per column), the send-interval chart keeps the
//! smallest and the largest interval per column, and the CDF keeps at most
//! one point per horizontal pixel. So a million-segment capture draws at
//! most a few thousand elements. When the series stride is above 1, send
//! intervals span `stride` segments and are divided by it (a mean); the
//! chart's caption says so.
//!
//! What it does not do: it never reads packets or re-runs analysis; flows
//! without a `series` (the pipeline's `Config::series` was off) get no
//! time-sequence or send-interval chart.

pub mod latency;
pub mod marks;
pub mod sweep;
pub mod timeseq;

use crate::report::{Direction, Flow, Report};
use anyhow::{anyhow, Context};
use marks::{Key, Mark};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor;
use std::path::{Path, PathBuf};

/// Chart size in pixels (SVG user units): fits a 16:10 slide.
pub const WIDTH: u32 = 1000;
pub const HEIGHT: u32 = 600;
/// Width of the legend strip right of the plot (legends never cover data).
pub(crate) const LEGEND_W: u32 = 230;
/// Approximate width of the plotting area in pixels (for binning).
pub(crate) const PLOT_COLUMNS: usize = 860;
/// Default cap on the number of flows charted when none are selected.
pub const DEFAULT_MAX_FLOWS: usize = 8;

pub(crate) const FONT: &str = "sans-serif";
/// Fill of the histogram bars (tests find the bars by it).
pub const BAR_COLOR: RGBColor = RGBColor(90, 90, 90);
pub use timeseq::{RETRANS_COLOR, SEGMENT_COLOR};

/// Which files `--chart-format` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChartFormat {
    #[default]
    Svg,
    Png,
    Both,
}

impl ChartFormat {
    pub fn svg(self) -> bool {
        matches!(self, ChartFormat::Svg | ChartFormat::Both)
    }
    pub fn png(self) -> bool {
        matches!(self, ChartFormat::Png | ChartFormat::Both)
    }
}

/// Register the embedded DejaVu Sans as plotters' `sans-serif` (regular and
/// bold). Safe to call many times; the first call does the work.
pub fn init_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
        let _ = plotters::style::register_font(FONT, FontStyle::Italic, dejavu::sans::oblique());
        let _ = plotters::style::register_font(FONT, FontStyle::Oblique, dejavu::sans::oblique());
    });
}

/// One point of a sweep: one capture's sending direction.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPoint {
    pub rtt_ms: f64,
    pub interval_ms: f64,
    /// Writes that shared a segment (the seed article's "aggregated packets").
    pub aggregated: u64,
    pub mean_wps: f64,
    /// The sender set TCP_NODELAY (from the lab's metadata); such points
    /// get their own line.
    pub nodelay: bool,
}

/// What a chart shows, as plain numbers (already downsampled).
#[derive(Debug, Clone)]
pub enum Plot {
    /// (writes carried, segments).
    Histogram {
        bars: Vec<(u64, u64)>,
    },
    TimeSequence(timeseq::TimeSeq),
    /// Write → wire delay against the write's call time.
    Latency(latency::Latency),
    SendInterval {
        /// (t seconds, interval ms).
        points: Vec<(f64, f64)>,
        rtt_ms: Option<f64>,
        ack_delay_ms: Option<f64>,
        stride: u64,
    },
    WriteDelayCdf {
        /// (delay ms, cumulative fraction), sorted.
        points: Vec<(f64, f64)>,
        unseen: usize,
        total: usize,
    },
    Sweep {
        points: Vec<SweepPoint>,
        /// The writes-per-segment axis.
        y_axis: sweep::YAxis,
    },
}

/// A chart ready to draw: file stem, title and data.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File name without extension, e.g. `flow3-c2s-timeseq`.
    pub name: String,
    pub title: String,
    pub plot: Plot,
}

impl Chart {
    /// The chart as an SVG document.
    pub fn svg(&self) -> anyhow::Result<String> {
        init_fonts();
        let mut s = String::new();
        let marks;
        {
            let root = SVGBackend::with_string(&mut s, (WIDTH, HEIGHT)).into_drawing_area();
            marks = draw(&root, self)?;
            root.present().map_err(err)?;
        }
        marks::inject_svg(&mut s, &marks);
        Ok(s)
    }

    /// The chart as RGB pixels (WIDTH × HEIGHT × 3).
    pub fn rgb(&self) -> anyhow::Result<Vec<u8>> {
        init_fonts();
        let mut buf = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
            let m = draw(&root, self)?;
            marks::draw_marks(&root, &m)?;
            root.present().map_err(err)?;
        }
        Ok(buf)
    }

    /// Write the chart as a PNG file.
    pub fn write_png(&self, path: &Path) -> anyhow::Result<()> {
        init_fonts();
        let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
        let m = draw(&root, self)?;
        marks::draw_marks(&root, &m)?;
        root.present()
            .map_err(err)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

pub(crate) fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("chart drawing failed: {e:?}")
}

/// Short name of a direction for file names: `c2s` (client to server) or
/// `s2c`.
pub fn dir_tag(flow: &Flow, d: &Direction) -> &'static str {
    if d.from == flow.client {
        "c2s"
    } else {
        "s2c"
    }
}

/// The name of the capture a flow came from, for chart titles: the
/// input's file name (`-` for standard input), or the interface of a live
/// capture.
pub fn capture_name(report: &Report, flow: &Flow) -> String {
    let path = report
        .captures
        .get(flow.capture)
        .map_or("", |c| c.path.as_str());
    Path::new(path)
        .file_name()
        .map_or(path.to_string(), |n| n.to_string_lossy().into_owned())
}

/// The charts of one direction (those its data allows); titles name
/// `capture` (see [`capture_name`]) and the flow.
pub fn direction_charts(flow: &Flow, d: &Direction, capture: &str) -> Vec<Chart> {
    let tag = dir_tag(flow, d);
    let base = format!("flow{}-{tag}", flow.id);
    let who = if capture.is_empty() {
        format!("flow {}: {} → {}", flow.id, d.from, d.to)
    } else {
        format!("{capture}, flow {}: {} → {}", flow.id, d.from, d.to)
    };
    let mut out = Vec::new();
    if let Some(w) = &d.writes_per_segment {
        if !w.histogram.is_empty() {
            out.push(Chart {
                name: format!("{base}-writes"),
                title: format!("Writes per segment, {who}"),
                plot: Plot::Histogram {
                    bars: w.histogram.iter().map(|(k, v)| (*k, *v)).collect(),
                },
            });
        }
    }
    if let Some(s) = &d.series {
        if !s.segments.is_empty() {
            out.push(Chart {
                name: format!("{base}-timeseq"),
                title: format!("Time-sequence graph, {who}"),
                plot: Plot::TimeSequence(timeseq::build(flow, d, s)),
            });
            let pts = send_intervals(s);
            if !pts.is_empty() {
                out.push(Chart {
                    name: format!("{base}-interval"),
                    title: format!("Send interval, {who}"),
                    plot: Plot::SendInterval {
                        points: pts,
                        rtt_ms: flow.rtt_ms.min,
                        ack_delay_ms: d.ack_delay_ms.median,
                        stride: s.segment_stride.max(1),
                    },
                });
            }
        }
    }
    if let Some(l) = latency::build(flow.rtt_ms.min, d) {
        out.push(Chart {
            name: format!("{base}-latency"),
            title: format!("Write → wire delay over time, {who}"),
            plot: Plot::Latency(l),
        });
    }
    if let Some(wd) = &d.write_delay_ms {
        let mut v: Vec<f64> = wd.waits().collect();
        if !v.is_empty() {
            v.sort_by(f64::total_cmp);
            let n = v.len();
            let mut points: Vec<(f64, f64)> = v
                .iter()
                .enumerate()
                .map(|(i, x)| (*x, (i + 1) as f64 / n as f64))
                .collect();
            if points.len() > 2 * PLOT_COLUMNS {
                // Keep quantiles at evenly spaced ranks (always the last).
                let k = 2 * PLOT_COLUMNS;
                points = (1..=k).map(|j| points[j * n / k - 1]).collect();
            }
            out.push(Chart {
                name: format!("{base}-writedelay"),
                title: format!("Write → wire delay, {who}"),
                plot: Plot::WriteDelayCdf {
                    points,
                    unseen: wd.per_write.len() - n,
                    total: wd.per_write.len(),
                },
            });
        }
    }
    out
}

/// The sweep chart; `y_axis` is the writes-per-segment axis
/// (`--sweep-log-y` asks for [`sweep::YAxis::Log`]).
pub fn sweep_chart(points: &[SweepPoint], y_axis: sweep::YAxis) -> Chart {
    Chart {
        name: "sweep".into(),
        title: "Write interval sweep: coalescing against the write interval".into(),
        plot: Plot::Sweep {
            points: points.to_vec(),
            y_axis,
        },
    }
}

fn column(t: f64, t0: f64, t1: f64) -> usize {
    if t1 <= t0 {
        return 0;
    }
    (((t - t0) / (t1 - t0) * PLOT_COLUMNS as f64) as usize).min(PLOT_COLUMNS - 1)
}

/// (t, ms since the previous new-data segment ÷ stride), binned to min/max
/// per pixel column when there are more points than columns.
fn send_intervals(s: &crate::report::Series) -> Vec<(f64, f64)> {
    let stride = s.segment_stride.max(1) as f64;
    let mut ts: Vec<f64> = s
        .segments
        .iter()
        .filter(|p| !p.retransmission)
        .map(|p| p.t)
        .collect();
    ts.sort_by(f64::total_cmp);
    let pts: Vec<(f64, f64)> = ts
        .windows(2)
        .map(|w| (w[1], (w[1] - w[0]) * 1000.0 / stride))
        .collect();
    if pts.len() <= 2 * PLOT_COLUMNS {
        return pts;
    }
    min_max_per_column(&pts, ts[0], ts[ts.len() - 1])
}

/// (t, y) points thinned to the lowest and highest point of each of the
/// pixel columns spanning `t0..=t1` (lowest first within a column), so that
/// a line through them keeps every peak and trough.
pub(crate) fn min_max_per_column(pts: &[(f64, f64)], t0: f64, t1: f64) -> Vec<(f64, f64)> {
    type MinMax = Option<((f64, f64), (f64, f64))>;
    let mut cols: Vec<MinMax> = vec![None; PLOT_COLUMNS];
    for &p in pts {
        let e = cols[column(p.0, t0, t1)].get_or_insert((p, p));
        if p.1 < e.0 .1 {
            e.0 = p;
        }
        if p.1 > e.1 .1 {
            e.1 = p;
        }
    }
    cols.into_iter()
        .flatten()
        .flat_map(|(a, b)| if a == b { vec![a] } else { vec![a, b] })
        .collect()
}

/// How much a flow mattered for Nagle / delayed ACK: stall time, then
/// aggregated segments, then small segments (largest over its directions).
fn flow_weight(f: &Flow) -> (f64, u64, u64) {
    let mut w = (0.0, 0, 0);
    for d in &f.directions {
        w.0 = f64::max(w.0, d.stalls.total_ms);
        w.1 = w.1.max(d.aggregated_segments.unwrap_or(0));
        w.2 = w.2.max(d.small_segments);
    }
    w
}

/// Does `sel` (a flow id, `ip:port`, `[v6]:port` or `:port`) name `f`?
pub fn flow_matches(f: &Flow, sel: &str) -> bool {
    let sel = sel.trim();
    if let Ok(id) = sel.parse::<u64>() {
        return f.id == id;
    }
    if let Some(port) = sel.strip_prefix(':') {
        return [&f.client, &f.server]
            .iter()
            .any(|e| e.rsplit_once(':').is_some_and(|(_, p)| p == port));
    }
    f.client == sel || f.server == sel
}

/// The flows to chart: those matching any selector, or else the flows with
/// data where Nagle or delayed ACK mattered most (see [`flow_weight`]),
/// at most `cap`. Errors when a selector matches nothing.
pub fn select_flows<'a>(
    report: &'a Report,
    selectors: &[String],
    cap: usize,
) -> anyhow::Result<Vec<&'a Flow>> {
    if !selectors.is_empty() {
        for s in selectors {
            if !report.flows.iter().any(|f| flow_matches(f, s)) {
                anyhow::bail!("--flow {s}: no flow has this id or endpoint");
            }
        }
        return Ok(report
            .flows
            .iter()
            .filter(|f| selectors.iter().any(|s| flow_matches(f, s)))
            .collect());
    }
    let mut flows: Vec<&Flow> = report
        .flows
        .iter()
        .filter(|f| f.directions.iter().any(|d| d.data_segments > 0))
        .collect();
    flows.sort_by(|a, b| weightier(a, b));
    flows.truncate(cap);
    Ok(flows)
}

/// Chart order: the flow that mattered more (see [`flow_weight`]) first,
/// then the lower flow id.
pub fn weightier(a: &Flow, b: &Flow) -> std::cmp::Ordering {
    let (wa, wb) = (flow_weight(a), flow_weight(b));
    wb.0.total_cmp(&wa.0)
        .then(wb.1.cmp(&wa.1))
        .then(wb.2.cmp(&wa.2))
        .then(a.id.cmp(&b.id))
}

/// All charts of the chosen flows of `report` (directions that carry
/// data), titled with their capture's name.
pub fn flow_charts(report: &Report, flows: &[&Flow]) -> Vec<(u64, Vec<Chart>)> {
    flows
        .iter()
        .map(|f| {
            let capture = capture_name(report, f);
            let charts = f
                .directions
                .iter()
                .filter(|d| d.data_segments > 0)
                .flat_map(|d| direction_charts(f, d, &capture))
                .collect();
            (f.id, charts)
        })
        .collect()
}

/// Write charts into `dir` (created if missing) in the asked formats;
/// returns the files written.
pub fn write_charts(
    charts: &[Chart],
    dir: &Path,
    format: ChartFormat,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut files = Vec::new();
    for c in charts {
        if format.svg() {
            let p = dir.join(format!("{}.svg", c.name));
            std::fs::write(&p, c.svg()?)
                .with_context(|| format!("cannot write {}", p.display()))?;
            files.push(p);
        }
        if format.png() {
            let p = dir.join(format!("{}.png", c.name));
            c.write_png(&p)?;
            files.push(p);
        }
    }
    Ok(files)
}

// ---------------------------------------------------------------- drawing

/// Draw the chart; returns the data marks the caller draws (bitmaps) or
/// writes with tooltips (SVG).
fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Chart) -> anyhow::Result<Vec<Mark>>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(err)?;
    // A strip at the bottom for the one-line note, apart from the axis label.
    let (main, foot) = root.split_vertically(HEIGHT - FOOTER);
    let root = &main;
    let mut marks = Vec::new();
    let text = match &c.plot {
        Plot::Histogram { bars } => draw_histogram(root, &c.title, bars),
        Plot::TimeSequence(ts) => timeseq::draw(root, &c.title, ts).map(|(n, m)| {
            marks = m;
            n
        }),
        Plot::SendInterval {
            points,
            rtt_ms,
            ack_delay_ms,
            stride,
        } => draw_interval(root, &c.title, points, *rtt_ms, *ack_delay_ms, *stride),
        Plot::Latency(l) => latency::draw(root, &c.title, l),
        Plot::WriteDelayCdf {
            points,
            unseen,
            total,
        } => draw_cdf(root, &c.title, points, *unseen, *total),
        Plot::Sweep { points, y_axis } => root
            .titled(&c.title, caption_style(&c.title))
            .map_err(err)
            .and_then(|r| sweep::draw(&r, points, *y_axis)),
    }?;
    if !text.is_empty() {
        foot.draw(&Text::new(
            text,
            (20, 2),
            (FONT, 14).into_font().color(&RGBColor(60, 60, 60)),
        ))
        .map_err(err)?;
    }
    Ok(marks)
}

/// Height of the note strip under each chart.
const FOOTER: u32 = 24;

/// Tick label: no trailing `.0`, at most 3 decimals.
pub(crate) fn num_label(v: &f64) -> String {
    let s = format!("{:.3}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// The title's style: bold, 22 px, smaller (down to 13 px) when a long
/// title (capture name and flow) would not fit the chart's width.
pub(crate) fn caption_style(title: &str) -> TextStyle<'static> {
    let mut size = 22;
    while size > 13 {
        let font = (FONT, size).into_font().style(FontStyle::Bold);
        match font.box_size(title) {
            Ok((w, _)) if w + 30 > WIDTH => size -= 1,
            _ => break,
        }
    }
    (FONT, size)
        .into_font()
        .style(FontStyle::Bold)
        .color(&BLACK)
}

/// Time axis unit: seconds, or milliseconds for short flows.
pub(crate) fn time_unit(max_t: f64) -> (f64, &'static str) {
    if max_t < 2.0 {
        (1000.0, "ms")
    } else {
        (1.0, "s")
    }
}

fn draw_histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    bars: &[(u64, u64)],
) -> anyhow::Result<String> {
    let max_k = bars.iter().map(|b| b.0).max().unwrap_or(1).max(1);
    let max_c = bars.iter().map(|b| b.1).max().unwrap_or(1).max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, caption_style(title))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(0.4f64..max_k as f64 + 0.6, 0f64..max_c as f64 * 1.12)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .max_light_lines(4)
        .x_labels((max_k as usize).min(20))
        .x_label_formatter(&|v| {
            if (v - v.round()).abs() < 1e-9 && *v >= 1.0 {
                format!("{}", v.round() as u64)
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| format!("{}", v.round() as u64))
        .x_desc("writes carried by one segment (count)")
        .y_desc("segments (count)")
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(bars.iter().map(|&(k, c)| {
            Rectangle::new(
                [(k as f64 - 0.35, 0.0), (k as f64 + 0.35, c as f64)],
                BAR_COLOR.filled(),
            )
        }))
        .map_err(err)?;
    if bars.len() <= 40 {
        let style = (FONT, 15)
            .into_font()
            .color(&BLACK)
            .pos(text_anchor::Pos::new(
                text_anchor::HPos::Center,
                text_anchor::VPos::Bottom,
            ));
        chart
            .draw_series(bars.iter().map(|&(k, c)| {
                Text::new(
                    format!("{c}"),
                    (k as f64, c as f64 + max_c as f64 * 0.01),
                    style.clone(),
                )
            }))
            .map_err(err)?;
    }
    let total: u64 = bars.iter().map(|b| b.1).sum();
    let writes: u64 = bars.iter().map(|b| b.0 * b.1).sum();
    Ok(format!(
            "{total} segments carrying the end of {writes} writes; a bar above 1 means writes were coalesced"
        ),
    )
}

pub(crate) fn nice_log_range(lo: f64, hi: f64) -> (f64, f64) {
    let lo = 10f64.powf(lo.log10().floor());
    let hi = 10f64.powf(hi.log10().ceil());
    if hi <= lo {
        (lo, lo * 10.0)
    } else {
        (lo, hi)
    }
}

pub(crate) fn log_label(v: &f64) -> String {
    if *v >= 1.0 {
        format!("{}", (*v * 1000.0).round() / 1000.0)
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn draw_interval<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    points: &[(f64, f64)],
    rtt: Option<f64>,
    ack_delay: Option<f64>,
    stride: u64,
) -> anyhow::Result<String>
where
    DB::ErrorType: 'static,
{
    let floor = 0.001; // 1 µs: zero gaps (same timestamp) are drawn here.
    let vals = points
        .iter()
        .map(|p| p.1.max(floor))
        .chain(rtt)
        .chain(ack_delay.filter(|v| *v > 0.0));
    let lo = vals.clone().fold(f64::INFINITY, f64::min);
    let hi = vals.fold(floor, f64::max);
    let (lo, hi) = nice_log_range(lo.max(floor), hi);
    let max_t = points.iter().map(|p| p.0).fold(0.0f64, f64::max);
    let min_t = points
        .iter()
        .map(|p| p.0)
        .fold(f64::INFINITY, f64::min)
        .min(max_t);
    let (k, unit) = time_unit(max_t);
    let pad_t = ((max_t - min_t) * k * 0.02).max(1e-3);
    let (x0, x1) = (min_t * k - pad_t, max_t * k + pad_t);
    let root = root.titled(title, caption_style(title)).map_err(err)?;
    let (plot, side) = root.split_horizontally(WIDTH - LEGEND_W);
    let mut chart = ChartBuilder::on(&plot)
        .margin(15)
        .x_label_area_size(55)
        .y_label_area_size(90)
        .build_cartesian_2d(x0..x1, (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .max_light_lines(4)
        .x_desc(format!("time since the flow's first frame ({unit})"))
        .x_label_formatter(&num_label)
        .y_desc("gap since previous data segment (ms, log)")
        .y_label_formatter(&log_label)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(
            points
                .iter()
                .map(|&(t, v)| Circle::new((t * k, v.max(floor)), 3, BLACK.filled())),
        )
        .map_err(err)?;
    let mut legend = vec![(Key::Dot(BLACK), "send interval of one segment".to_string())];
    if let Some(r) = rtt.filter(|r| *r > 0.0) {
        chart
            .draw_series(LineSeries::new(
                vec![(x0, r), (x1, r)],
                BLACK.stroke_width(2),
            ))
            .map_err(err)?;
        let key = Key::Line {
            color: BLACK,
            width: 2,
            dash: 0,
        };
        legend.push((key, format!("path RTT {r:.3} ms")));
    }
    if let Some(a) = ack_delay.filter(|a| *a > 0.0) {
        let color = RGBColor(80, 80, 80);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x0, a), (x1, a)],
                10,
                6,
                color.stroke_width(2),
            ))
            .map_err(err)?;
        let key = Key::Line {
            color,
            width: 2,
            dash: 8,
        };
        legend.push((key, format!("median ACK delay {a:.3} ms")));
    }
    marks::draw_legend(&side, &legend)?;
    let mut n = format!(
        "{} intervals; a gap near the RTT or the ACK delay means segments waited for an ACK",
        points.len()
    );
    if !ack_delay.is_some_and(|a| a > 0.0) {
        n.push_str("; no ACK delay measured (no line)");
    }
    if stride > 1 {
        n.push_str(&format!(
            "; every {stride}th segment kept: gaps are means over {stride} segments"
        ));
    }
    Ok(n)
}

fn draw_cdf<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    points: &[(f64, f64)],
    unseen: usize,
    total: usize,
) -> anyhow::Result<String> {
    let max_x = points.iter().map(|p| p.0).fold(0.0f64, f64::max);
    let min_x = points.iter().map(|p| p.0).fold(0.0f64, f64::min);
    let span = (max_x - min_x).max(1e-3);
    let mut chart = ChartBuilder::on(root)
        .caption(title, caption_style(title))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(90)
        .build_cartesian_2d(min_x - span * 0.02..max_x + span * 0.05, 0f64..1.02)
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .max_light_lines(4)
        .x_desc("delay from the write call to the segment on the wire (ms)")
        .y_desc("fraction of writes")
        .x_label_formatter(&num_label)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .draw()
        .map_err(err)?;
    let mut steps = Vec::with_capacity(points.len() * 2 + 1);
    let mut prev = 0.0;
    for &(x, y) in points {
        steps.push((x, prev));
        steps.push((x, y));
        prev = y;
    }
    chart
        .draw_series(LineSeries::new(steps, BLACK.stroke_width(2)))
        .map_err(err)?;
    let seen = total - unseen;
    Ok(format!(
        "{seen} of {total} writes seen on the wire{}",
        if unseen > 0 {
            "; the rest are not in the CDF"
        } else {
            ""
        }
    ))
}

pub(crate) fn marker<DB: DrawingBackend>(
    i: usize,
    (x, y): (i32, i32),
    color: RGBColor,
) -> DynElement<'static, DB, (i32, i32)> {
    let st = color.stroke_width(2);
    match i % 4 {
        0 => Circle::new((x, y), 5, color.filled()).into_dyn(),
        1 => TriangleMarker::new((x, y), 6, color.filled()).into_dyn(),
        2 => Cross::new((x, y), 5, st).into_dyn(),
        _ => Rectangle::new([(x - 4, y - 4), (x + 4, y + 4)], st).into_dyn(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Series, SeriesAck, SeriesSegment, SeriesWrite};

    fn series(n: usize) -> Series {
        Series {
            segments: (0..n)
                .map(|i| SeriesSegment {
                    t: i as f64 * 1e-4,
                    offset: i as i64 * 100,
                    len: 100,
                    writes: Some(1),
                    retransmission: i % 1000 == 999,
                    frame: i as u64 + 4,
                })
                .collect(),
            acks: (0..n / 2)
                .map(|i| SeriesAck {
                    t: i as f64 * 2e-4 + 5e-5,
                    ack: i as i64 * 200,
                    win: Some(65535),
                })
                .collect(),
            segment_stride: 1,
            ack_stride: 1,
            writes: (0..n)
                .map(|i| SeriesWrite {
                    t_call: i as f64 * 1e-4 - 2e-5,
                    offset_end: (i as u64 + 1) * 100,
                    t_departure: Some(i as f64 * 1e-4),
                })
                .collect(),
            write_stride: 1,
            sacks: Vec::new(),
            sack_stride: 1,
            zero_windows: Vec::new(),
            zero_windows_dropped: 0,
        }
    }

    #[test]
    fn small_series_is_not_binned() {
        let ts = timeseq::from_series(&series(100), Vec::new());
        assert!(!ts.binned);
        assert_eq!(ts.bars.len(), 100);
        assert_eq!(ts.acks.len(), 50);
        assert_eq!(ts.window.len(), 50);
        assert_eq!(
            (ts.bars[3].lo, ts.bars[3].hi, ts.bars[3].first_frame),
            (300.0, 400.0, 7)
        );
        // Each write is carried by the segment ending at its end.
        assert_eq!(ts.writes.len(), 100);
        assert_eq!(ts.writes[3].frame, Some(7));
        assert_eq!(ts.writes[3].bytes, Some(100));
    }

    #[test]
    fn million_segments_bin_by_pixel_column() {
        let s = series(1_000_000);
        let ts = timeseq::from_series(&s, Vec::new());
        assert!(ts.binned);
        assert!(ts.bars.len() <= 2 * PLOT_COLUMNS);
        assert!(ts.acks.len() <= PLOT_COLUMNS);
        assert!(ts.writes.len() <= timeseq::MAX_WRITE_MARKS);
        assert!(ts.write_stride > 1);
        // Binning keeps the extremes: the first offset and the last end.
        let new: Vec<_> = ts.bars.iter().filter(|b| !b.retrans).collect();
        assert_eq!(new[0].lo, 0.0);
        assert_eq!(new[0].first_frame, 4);
        let last = new.iter().map(|b| b.hi).fold(0.0, f64::max);
        // Segment 999_999 is a retransmission: the last new-data end is 999_998's.
        assert_eq!(last, 999_998.0 * 100.0 + 100.0);
        let segs: u64 = ts.bars.iter().map(|b| b.segments).sum();
        assert_eq!(segs, 1_000_000);
        let iv = send_intervals(&s);
        assert!(iv.len() <= 2 * PLOT_COLUMNS);
        let chart = Chart {
            name: "t".into(),
            title: "t".into(),
            plot: Plot::TimeSequence(ts),
        };
        let svg = chart.svg().unwrap();
        assert!(svg.len() < 2_000_000);
        assert!(svg.contains("binned: one bar per pixel column"));
        chart.rgb().unwrap();
    }

    #[test]
    fn send_intervals_divide_by_stride() {
        let mut s = series(10);
        s.segment_stride = 4;
        for p in &mut s.segments {
            p.retransmission = false;
        }
        let iv = send_intervals(&s);
        assert_eq!(iv.len(), 9);
        assert!((iv[0].1 - 0.1 / 4.0).abs() < 1e-9);
    }

    #[test]
    fn labels() {
        assert_eq!(num_label(&100.0), "100");
        assert_eq!(num_label(&2.5), "2.5");
        assert_eq!(num_label(&-0.0), "0");
        assert_eq!(log_label(&0.001), "0.001");
        assert_eq!(log_label(&10.0), "10");
    }

    /// Ink boxes (first col, last col, top row, bottom row) of the glyphs of
    /// `text` drawn in the bitmap backend, split at blank columns.
    fn ink_boxes(text: &str, size: u32) -> Vec<(usize, usize, usize, usize)> {
        init_fonts();
        let (w, h) = (400usize, 120usize);
        let mut buf = vec![255u8; w * h * 3];
        {
            let root =
                BitMapBackend::with_buffer(&mut buf, (w as u32, h as u32)).into_drawing_area();
            root.draw(&Text::new(
                text.to_string(),
                (10, 20),
                (FONT, size).into_font().color(&BLACK),
            ))
            .unwrap();
            root.present().unwrap();
        }
        let ink = |x: usize, y: usize| buf[(y * w + x) * 3] < 128;
        let mut boxes = Vec::new();
        let mut cur: Option<(usize, usize, usize, usize)> = None;
        for x in 0..w {
            let rows: Vec<usize> = (0..h).filter(|&y| ink(x, y)).collect();
            match (rows.first(), &mut cur) {
                (Some(&t), Some(b)) => {
                    b.1 = x;
                    b.2 = b.2.min(t);
                    b.3 = b.3.max(*rows.last().unwrap());
                }
                (Some(&t), None) => cur = Some((x, x, t, *rows.last().unwrap())),
                (None, Some(_)) => boxes.push(cur.take().unwrap()),
                (None, None) => {}
            }
        }
        boxes
    }

    #[test]
    fn png_decimal_point_sits_on_the_baseline() {
        for size in [15, 22, 40] {
            let b = ink_boxes("1.5", size);
            assert_eq!(b.len(), 3, "three glyphs at {size} px: {b:?}");
            let (one, dot) = (b[0], b[1]);
            // The dot's bottom is the digit's bottom (baseline), ±1 px, and
            // the dot is in the lower third of the digit's height.
            assert!(
                dot.3.abs_diff(one.3) <= 1,
                "dot bottom {} vs digit bottom {} at {size} px",
                dot.3,
                one.3
            );
            let height = one.3 - one.2;
            assert!(
                dot.2 >= one.2 + height * 2 / 3,
                "dot top {} too high at {size} px ({one:?})",
                dot.2
            );
            // Advance: the gaps either side of the dot are about equal.
            let (l, r) = (dot.0 - one.1, b[2].0 - dot.1);
            assert!(
                l.abs_diff(r) <= 2 + size as usize / 10,
                "gaps {l} and {r} at {size} px"
            );
        }
        // Addresses keep even spacing around ':' ("65.54.95.1 4:80" was the bug).
        for size in [15, 22] {
            let b = ink_boxes("1:4", size);
            assert_eq!(b.len(), 3, "{b:?}");
            let (l, r) = (b[1].0 - b[0].1, b[2].0 - b[1].1);
            assert!(
                l.abs_diff(r) <= 2,
                "gaps {l} and {r} around ':' at {size} px"
            );
        }
    }

    #[test]
    fn fonts_are_embedded() {
        init_fonts();
        // Text layout works without any system font.
        let style = (FONT, 20).into_font();
        let (w, _) = style.box_size("writes per segment").unwrap();
        assert!(w > 50);
    }
}

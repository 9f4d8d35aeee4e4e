//! The time-sequence chart of one flow direction (tcptrace / Stevens
//! style), built to show Nagle at work.
//!
//! What it does: from a direction's `series` and `stalls` it draws every
//! data segment as a vertical bar from its offset to its end at its time
//! (retransmissions in vermillion with a ×), the peer's cumulative ACK (a
//! blue step line) and the right edge of its advertised window (ACK +
//! window, a dashed green step line), every write call of the write log as
//! a ring at its call time and end offset with the held interval from the
//! call to the departure of its last byte drawn as an orange line, and
//! every stall event as a filled triangle over the held segment with its
//! cost. Every data mark carries a tooltip in SVG (frame, time, bytes,
//! writes). The axes are fitted to the data (segments, writes, ACKs), not
//! to the flow's duration; a window edge above the data is clipped and the
//! note says so. With more segments than pixel columns, segments are
//! binned by column (one bar per column spanning its segments; its tooltip
//! names the frames); with more writes than [`MAX_WRITE_MARKS`], every
//! k-th write is drawn: the note under the chart says both.
//!
//! The peer's SACK blocks are drawn as thick sky-blue bars at the ACK's
//! time over the bytes they cover (apart from retransmissions, which are
//! vermillion with a ×), and every zero-window episode as a dashed
//! dark-red line at the ACK offset from the first zero window to the
//! reopening (to the chart's end when it never reopened). Without a write
//! log, the writes of an inferred write unit (`write_source: inferred`,
//! the analysis' rule [`crate::analysis::inferred_writes`]) or of a fixed
//! `--write-size` are drawn as hollow squares at the departure of the
//! segment that ended them (their call time is unknown), spread evenly
//! over an inferred segment's bytes; the legend says "inferred writes".
//!
//! What it does not do: read packets or compute findings.

use super::marks::{self, Key, Mark, Shape};
use super::{caption_style, err, num_label, time_unit, FONT, LEGEND_W, PLOT_COLUMNS, WIDTH};
use crate::analysis::inferred_writes;
use crate::report::{Direction, Flow, Series, WriteSource};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

/// Most write marks drawn; beyond it every k-th write is drawn.
pub const MAX_WRITE_MARKS: usize = 2000;

/// Okabe–Ito palette (distinct in the common colour-vision deficiencies);
/// each series also has its own shape or dash, so greyscale print works.
pub const SEGMENT_COLOR: RGBColor = RGBColor(0, 0, 0);
pub const RETRANS_COLOR: RGBColor = RGBColor(213, 94, 0);
pub const ACK_COLOR: RGBColor = RGBColor(0, 114, 178);
pub const WINDOW_COLOR: RGBColor = RGBColor(0, 158, 115);
pub const WRITE_COLOR: RGBColor = RGBColor(204, 121, 167);
pub const HELD_COLOR: RGBColor = RGBColor(230, 159, 0);
pub const STALL_COLOR: RGBColor = RGBColor(240, 228, 66);
pub const SACK_COLOR: RGBColor = RGBColor(86, 180, 233);
/// Not Okabe–Ito (the eight are taken): told apart by its long dashes.
pub const ZERO_WINDOW_COLOR: RGBColor = RGBColor(120, 0, 0);
/// Most SACK blocks drawn; beyond it every k-th is drawn.
pub const MAX_SACK_MARKS: usize = 2000;

/// One bar: a segment, or (binned) the segments of one pixel column.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub t: f64,
    pub t_last: f64,
    pub lo: f64,
    pub hi: f64,
    pub first_frame: u64,
    pub last_frame: u64,
    pub segments: u64,
    pub bytes: u64,
    /// Writes ending in the segments, when known for all of them.
    pub writes: Option<u64>,
    pub retrans: bool,
}

/// One write call of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteMark {
    /// 1-based position in the log.
    pub index: u64,
    pub t_call: f64,
    pub offset_end: f64,
    /// Bytes of the write (when the previous write is known).
    pub bytes: Option<u64>,
    pub t_departure: Option<f64>,
    /// The frame that carried its last byte.
    pub frame: Option<u64>,
}

/// A stall event, placed over the held segment.
#[derive(Debug, Clone, PartialEq)]
pub struct StallMark {
    pub t: f64,
    pub ms: f64,
    pub ack_delay_ms: f64,
    pub frame: u64,
    pub offset: Option<f64>,
}

/// A SACK block of one of the peer's ACKs.
#[derive(Debug, Clone, PartialEq)]
pub struct SackMark {
    pub t: f64,
    pub frame: u64,
    pub lo: f64,
    pub hi: f64,
}

/// A zero-window episode.
#[derive(Debug, Clone, PartialEq)]
pub struct ZeroWindowMark {
    pub t: f64,
    pub frame: u64,
    pub ack: f64,
    pub adverts: u64,
    pub t_end: Option<f64>,
    pub frame_end: Option<u64>,
}

/// A write end known without a log (inferred unit or fixed size), drawn at
/// the departure of the segment that ended it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitWriteMark {
    /// 1-based position among the drawn segments' writes.
    pub index: u64,
    pub t: f64,
    pub offset_end: f64,
    pub frame: u64,
}

/// Where write marks without a log come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitSource {
    /// The analysis' inferred write unit.
    Inferred,
    /// `--write-size`.
    Size,
}

/// What the time-sequence chart shows.
#[derive(Debug, Clone)]
pub struct TimeSeq {
    pub bars: Vec<Bar>,
    /// (t, cumulative ACK).
    pub acks: Vec<(f64, f64)>,
    /// (t, ACK + advertised window).
    pub window: Vec<(f64, f64)>,
    pub writes: Vec<WriteMark>,
    pub stalls: Vec<StallMark>,
    pub binned: bool,
    /// Every `stride`-th segment of the flow is in the series.
    pub stride: u64,
    /// Every `write_stride`-th write of the log is drawn.
    pub write_stride: u64,
    pub sacks: Vec<SackMark>,
    /// Every `sack_stride`-th SACK block is drawn.
    pub sack_stride: u64,
    pub zero_windows: Vec<ZeroWindowMark>,
    /// Episodes not in the report (over its cap).
    pub zero_windows_dropped: u64,
    /// Writes without a log: their source, unit (bytes) and marks.
    pub unit_writes: Option<(UnitSource, u32)>,
    pub unit_marks: Vec<UnitWriteMark>,
    /// Every `unit_stride`-th of those writes is drawn.
    pub unit_stride: u64,
}

/// Build the chart data of a direction with a series.
pub fn build(flow: &Flow, d: &Direction, s: &Series) -> TimeSeq {
    let mut ts = from_series(s, stall_marks(flow, d, s));
    let source = match (&d.write_source, d.write_unit) {
        (Some(WriteSource::Inferred), Some(u)) => Some((UnitSource::Inferred, u)),
        (Some(WriteSource::Size), Some(u)) => Some((UnitSource::Size, u)),
        _ => None,
    };
    if let Some(src) = source.filter(|_| s.writes.is_empty()) {
        let (marks, stride) = unit_marks(s, src);
        ts.unit_writes = Some(src);
        ts.unit_marks = marks;
        ts.unit_stride = stride;
    }
    ts
}

/// Write ends of new-data segments under a unit: an inferred unit gives
/// [`inferred_writes`] ends spread evenly over the segment (the analysis
/// counts them so); a fixed size gives the multiples of the size inside
/// it. At most [`MAX_WRITE_MARKS`]: beyond, every k-th is kept.
pub fn unit_marks(s: &Series, (src, unit): (UnitSource, u32)) -> (Vec<UnitWriteMark>, u64) {
    let unit = unit.max(1) as i64;
    let mut all = Vec::new();
    for p in s.segments.iter().filter(|p| !p.retransmission) {
        let (lo, len) = (p.offset, p.len as i64);
        let ends: Vec<f64> = match src {
            UnitSource::Inferred => {
                let n = inferred_writes(p.len, unit as u32) as i64;
                (1..=n).map(|j| (lo + len * j / n) as f64).collect()
            }
            UnitSource::Size => {
                let first = (lo.div_euclid(unit) + 1) * unit;
                (0..)
                    .map(|j| first + j * unit)
                    .take_while(|e| *e <= lo + len)
                    .map(|e| e as f64)
                    .collect()
            }
        };
        all.extend(ends.into_iter().map(|e| (p.t, e, p.frame)));
    }
    let k = all.len().div_ceil(MAX_WRITE_MARKS).max(1);
    let marks = all
        .iter()
        .enumerate()
        .step_by(k)
        .map(|(i, &(t, offset_end, frame))| UnitWriteMark {
            index: i as u64 + 1,
            t,
            offset_end,
            frame,
        })
        .collect();
    (marks, k as u64)
}

/// Build the chart data from a series and its stall marks.
pub fn from_series(s: &Series, stalls: Vec<StallMark>) -> TimeSeq {
    let mut bars: Vec<Bar> = s
        .segments
        .iter()
        .map(|p| Bar {
            t: p.t,
            t_last: p.t,
            lo: p.offset as f64,
            hi: (p.offset + p.len as i64) as f64,
            first_frame: p.frame,
            last_frame: p.frame,
            segments: 1,
            bytes: p.len as u64,
            writes: p.writes,
            retrans: p.retransmission,
        })
        .collect();
    let writes = write_marks(s);
    let binned = bars.len() > PLOT_COLUMNS;
    if binned {
        bars = bin(&bars);
    }
    let mut acks: Vec<(f64, f64)> = s.acks.iter().map(|a| (a.t, a.ack as f64)).collect();
    let mut window: Vec<(f64, f64)> = s
        .acks
        .iter()
        .filter_map(|a| a.win.map(|w| (a.t, a.ack as f64 + w as f64)))
        .collect();
    if acks.len() > 2 * PLOT_COLUMNS {
        acks = thin_steps(&acks);
        window = thin_steps(&window);
    }
    let k = s.sacks.len().div_ceil(MAX_SACK_MARKS).max(1);
    TimeSeq {
        bars,
        acks,
        window,
        writes: writes.0,
        stalls,
        binned,
        stride: s.segment_stride.max(1),
        write_stride: writes.1,
        sacks: s
            .sacks
            .iter()
            .step_by(k)
            .map(|b| SackMark {
                t: b.t,
                frame: b.frame,
                lo: b.start as f64,
                hi: b.end as f64,
            })
            .collect(),
        sack_stride: s.sack_stride.max(1) * k as u64,
        zero_windows: s
            .zero_windows
            .iter()
            .map(|z| ZeroWindowMark {
                t: z.t,
                frame: z.frame,
                ack: z.ack as f64,
                adverts: z.adverts,
                t_end: z.t_end,
                frame_end: z.frame_end,
            })
            .collect(),
        zero_windows_dropped: s.zero_windows_dropped,
        unit_writes: None,
        unit_marks: Vec::new(),
        unit_stride: 1,
    }
}

fn stall_marks(flow: &Flow, d: &Direction, s: &Series) -> Vec<StallMark> {
    d.stalls
        .events
        .iter()
        .map(|e| StallMark {
            t: e.ts - flow.start_ts,
            ms: e.ms,
            ack_delay_ms: e.ack_delay_ms,
            frame: e.frame,
            offset: s
                .segments
                .iter()
                .find(|p| p.frame == e.frame)
                .map(|p| (p.offset + p.len as i64) as f64),
        })
        .collect()
}

/// The log's writes (at most [`MAX_WRITE_MARKS`]), each with the frame
/// that carried its last byte.
fn write_marks(s: &Series) -> (Vec<WriteMark>, u64) {
    let k = s.writes.len().div_ceil(MAX_WRITE_MARKS).max(1);
    let stride = s.write_stride.max(1);
    let mut new: Vec<(i64, i64, u64)> = s
        .segments
        .iter()
        .filter(|p| !p.retransmission)
        .map(|p| (p.offset, p.offset + p.len as i64, p.frame))
        .collect();
    new.sort_unstable();
    let frame_of = |end: u64| {
        let end = end as i64;
        let i = new.partition_point(|x| x.1 < end);
        new.get(i).filter(|x| x.0 < end).map(|x| x.2)
    };
    let marks = s
        .writes
        .iter()
        .enumerate()
        .step_by(k)
        .map(|(i, w)| WriteMark {
            index: i as u64 * stride + 1,
            t_call: w.t_call,
            offset_end: w.offset_end as f64,
            bytes: match (stride, i) {
                (1, 0) => Some(w.offset_end),
                (1, _) => Some(w.offset_end - s.writes[i - 1].offset_end),
                _ => None,
            },
            t_departure: w.t_departure,
            frame: frame_of(w.offset_end),
        })
        .collect();
    (marks, stride * k as u64)
}

fn column(t: f64, t0: f64, t1: f64) -> usize {
    if t1 <= t0 {
        return 0;
    }
    (((t - t0) / (t1 - t0) * PLOT_COLUMNS as f64) as usize).min(PLOT_COLUMNS - 1)
}

/// One bar per pixel column and kind (new data / retransmission).
fn bin(bars: &[Bar]) -> Vec<Bar> {
    let t0 = bars.iter().map(|b| b.t).fold(f64::INFINITY, f64::min);
    let t1 = bars.iter().map(|b| b.t).fold(f64::NEG_INFINITY, f64::max);
    let mut cols: Vec<[Option<Bar>; 2]> = vec![[None, None]; PLOT_COLUMNS];
    for b in bars {
        let slot = &mut cols[column(b.t, t0, t1)][b.retrans as usize];
        match slot {
            None => *slot = Some(b.clone()),
            Some(e) => {
                e.t = e.t.min(b.t);
                e.t_last = e.t_last.max(b.t);
                e.lo = e.lo.min(b.lo);
                e.hi = e.hi.max(b.hi);
                e.first_frame = e.first_frame.min(b.first_frame);
                e.last_frame = e.last_frame.max(b.last_frame);
                e.segments += 1;
                e.bytes += b.bytes;
                e.writes = e.writes.zip(b.writes).map(|(a, b)| a + b);
            }
        }
    }
    cols.into_iter().flatten().flatten().collect()
}

/// Largest value per pixel column, at the column's last time.
fn thin_steps(pts: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let (Some(t0), Some(t1)) = (pts.first().map(|p| p.0), pts.last().map(|p| p.0)) else {
        return Vec::new();
    };
    let mut cols: Vec<Option<(f64, f64)>> = vec![None; PLOT_COLUMNS];
    for &(t, a) in pts {
        let e = cols[column(t, t0, t1)].get_or_insert((t, a));
        e.0 = e.0.max(t);
        e.1 = e.1.max(a);
    }
    cols.into_iter().flatten().collect()
}

/// (low, high) of an axis.
type Range = (f64, f64);

/// A tail of retransmissions alone (a dead peer's RTO backoff) longer
/// than this many times the rest of the flow is left off the time axis.
const TAIL_FACTOR: f64 = 3.0;

/// Time and offset ranges of the data (segments, writes, ACKs, SACKs,
/// zero windows); a long tail of nothing but retransmissions (see
/// [`TAIL_FACTOR`]) is cut off: then also its segment count and last time.
fn extent(ts: &TimeSeq) -> (Range, Range, Option<(u64, f64)>) {
    let ((t0, t1), y) = extent_of(ts, false);
    let ((a0, a1), _) = extent_of(ts, true);
    if t0 <= t1 && a1 - t1 > TAIL_FACTOR * (t1 - t0).max(1e-3) {
        let n = ts
            .bars
            .iter()
            .filter(|b| b.retrans && b.t > t1)
            .map(|b| b.segments)
            .sum();
        return ((a0.min(t0), t1), y, Some((n, a1)));
    }
    let t = if a0 > a1 { (0.0, 0.0) } else { (a0, a1) };
    (t, y, None)
}

/// Ranges of the data, retransmissions' times included or not.
fn extent_of(ts: &TimeSeq, retrans: bool) -> (Range, Range) {
    let times = ts
        .bars
        .iter()
        .filter(|b| retrans || !b.retrans)
        .flat_map(|b| [b.t, b.t_last])
        .chain(ts.acks.iter().map(|a| a.0))
        .chain(ts.sacks.iter().map(|b| b.t))
        .chain(ts.unit_marks.iter().map(|w| w.t))
        .chain(
            ts.zero_windows
                .iter()
                .flat_map(|z| [Some(z.t), z.t_end])
                .flatten(),
        )
        .chain(
            ts.writes
                .iter()
                .flat_map(|w| [Some(w.t_call), w.t_departure])
                .flatten(),
        );
    let t = times.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), t| {
        (a.min(t), b.max(t))
    });
    let offs = ts
        .bars
        .iter()
        .flat_map(|b| [b.lo, b.hi])
        .chain(ts.acks.iter().map(|a| a.1))
        .chain(ts.sacks.iter().flat_map(|b| [b.lo, b.hi]))
        .chain(ts.unit_marks.iter().map(|w| w.offset_end))
        .chain(ts.writes.iter().map(|w| w.offset_end));
    let y = offs.fold((0.0f64, 1.0f64), |(a, b), v| (a.min(v), b.max(v)));
    (t, y)
}

/// Draw the chart; returns the note and the data marks (pixel coordinates).
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    ts: &TimeSeq,
) -> anyhow::Result<(String, Vec<Mark>)>
where
    DB::ErrorType: 'static,
{
    let root = root.titled(title, caption_style(title)).map_err(err)?;
    let (plot, side) = root.split_horizontally(WIDTH - LEGEND_W);
    let ((t0, t1), (y0, y1), tail) = extent(ts);
    let (k, unit) = time_unit(t1 - t0);
    let pad_t = ((t1 - t0) * k * 0.02).max(1e-3);
    let (x0, x1) = (t0 * k - pad_t, t1 * k + pad_t);
    let top = y1 + (y1 - y0) * 0.03;
    let mut chart = ChartBuilder::on(&plot)
        .margin(15)
        .x_label_area_size(55)
        .y_label_area_size(90)
        .build_cartesian_2d(x0..x1, y0..top)
        .map_err(err)?;
    let x_desc = format!("time since the flow's first frame ({unit})");
    chart
        .configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .max_light_lines(4)
        .x_desc(x_desc)
        .y_desc("sequence offset (bytes)")
        .y_label_formatter(&|v| format!("{}", v.round() as i64))
        .x_label_formatter(&num_label)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .draw()
        .map_err(err)?;
    let steps = |pts: &[(f64, f64)]| {
        let mut v = Vec::with_capacity(pts.len() * 2 + 1);
        for (i, &(t, a)) in pts.iter().enumerate() {
            if i > 0 {
                v.push((t * k, pts[i - 1].1.min(top)));
            }
            v.push((t * k, a.min(top)));
        }
        if let Some(l) = pts.last() {
            v.push((x1, l.1.min(top)));
        }
        v
    };
    let mut legend = vec![(
        Key::Bar(SEGMENT_COLOR),
        "data segment (offset to end)".to_string(),
    )];
    if !ts.window.is_empty() {
        let style = WINDOW_COLOR.stroke_width(2);
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                steps(&ts.window),
                8,
                5,
                style,
            )))
            .map_err(err)?;
        legend.push((
            Key::Line {
                color: WINDOW_COLOR,
                width: 2,
                dash: 6,
            },
            "receive window edge (ACK + window)".into(),
        ));
    }
    if !ts.acks.is_empty() {
        chart
            .draw_series(LineSeries::new(steps(&ts.acks), ACK_COLOR.stroke_width(2)))
            .map_err(err)?;
        legend.push((
            Key::Line {
                color: ACK_COLOR,
                width: 2,
                dash: 0,
            },
            "cumulative ACK from the peer".into(),
        ));
    }
    let px = |t: f64, y: f64| chart.backend_coord(&(t * k, y));
    let mut out = Vec::new();
    held_and_write_marks(ts, &px, k, unit, &mut out);
    unit_write_marks(ts, &px, k, unit, &mut out);
    segment_marks(ts, &px, (k, unit), t1, &mut out);
    sack_marks(ts, &px, k, unit, &mut out);
    zero_window_marks(ts, &px, (k, unit), x1 / k, &mut out);
    stall_mark_list(ts, &px, k, unit, &mut out);
    if ts.bars.iter().any(|b| b.retrans) {
        legend.push((Key::Cross(RETRANS_COLOR), "retransmission (×)".into()));
    }
    if !ts.writes.is_empty() {
        legend.push((
            Key::Ring(WRITE_COLOR),
            "write call (time, end offset)".into(),
        ));
        legend.push((
            Key::Line {
                color: HELD_COLOR,
                width: 2,
                dash: 0,
            },
            "held: call → departure".into(),
        ));
    }
    if let Some((src, u)) = ts.unit_writes.filter(|_| !ts.unit_marks.is_empty()) {
        let label = match src {
            UnitSource::Inferred => format!("inferred writes ({u}-byte unit), at departure"),
            UnitSource::Size => format!("writes (--write-size {u}), at departure"),
        };
        legend.push((Key::Square(WRITE_COLOR), label));
    }
    if !ts.sacks.is_empty() {
        let key = Key::Line {
            color: SACK_COLOR,
            width: 5,
            dash: 0,
        };
        legend.push((key, "SACK block (bytes the peer holds)".into()));
    }
    if !ts.zero_windows.is_empty() {
        let key = Key::Line {
            color: ZERO_WINDOW_COLOR,
            width: 3,
            dash: 9,
        };
        legend.push((key, "zero window (until reopened)".into()));
    }
    if !ts.stalls.is_empty() {
        legend.push((Key::Down(STALL_COLOR), "stall (cost in ms)".into()));
    }
    marks::draw_legend(&side, &legend)?;
    Ok((note(ts, top, tail), out))
}

type Px<'a> = dyn Fn(f64, f64) -> (i32, i32) + 'a;

fn fmt_t(t: f64, k: f64, unit: &str) -> String {
    if unit == "ms" {
        format!("{:.3} ms", t * k)
    } else {
        format!("{:.6} s", t)
    }
}

/// Segment bars up to `t_max` (seconds; later ones are a cut-off tail).
fn segment_marks(ts: &TimeSeq, px: &Px, (k, unit): (f64, &str), t_max: f64, out: &mut Vec<Mark>) {
    for b in ts.bars.iter().filter(|b| b.t <= t_max) {
        let (from, to) = (px(b.t, b.lo), px(b.t, b.hi));
        let to = (to.0, to.1.min(from.1 - 1));
        let writes = b.writes.map_or("writes unknown".to_string(), |w| {
            format!("{w} write(s) end here")
        });
        let what = if b.retrans {
            "retransmission"
        } else {
            "segment"
        };
        let title = if b.segments == 1 {
            format!(
                "{what}: frame {}, t {}, {} bytes at offset {}–{}, {writes}",
                b.first_frame,
                fmt_t(b.t, k, unit),
                b.bytes,
                b.lo,
                b.hi
            )
        } else {
            format!(
                "{} {what}s: frames {}–{}, t {} to {}, {} bytes, offsets {}–{}, {writes}",
                b.segments,
                b.first_frame,
                b.last_frame,
                fmt_t(b.t, k, unit),
                fmt_t(b.t_last, k, unit),
                b.bytes,
                b.lo,
                b.hi
            )
        };
        let (kind, color) = if b.retrans {
            ("retransmission", RETRANS_COLOR)
        } else {
            ("segment", SEGMENT_COLOR)
        };
        out.push(Mark {
            shape: Shape::Line {
                from,
                to,
                width: 2,
                dash: 0,
            },
            color,
            kind,
            title: title.clone(),
        });
        if b.retrans {
            out.push(Mark {
                shape: Shape::Cross { at: to, r: 5 },
                color,
                kind,
                title,
            });
        }
    }
}

fn held_and_write_marks(ts: &TimeSeq, px: &Px, k: f64, unit: &str, out: &mut Vec<Mark>) {
    for w in &ts.writes {
        let at = px(w.t_call, w.offset_end);
        let bytes = w.bytes.map_or(String::new(), |b| format!(", {b} bytes"));
        let left = match (w.t_departure, w.frame) {
            (Some(d), f) => format!(
                ", left {}{} (held {:.3} ms)",
                fmt_t(d, k, unit),
                f.map_or(String::new(), |f| format!(" in frame {f}")),
                (d - w.t_call) * 1e3
            ),
            (None, _) => ", not seen on the wire".into(),
        };
        if let Some(d) = w.t_departure {
            out.push(Mark {
                shape: Shape::Line {
                    from: at,
                    to: px(d, w.offset_end),
                    width: 1,
                    dash: 0,
                },
                color: HELD_COLOR,
                kind: "held",
                title: format!(
                    "write {} held {:.3} ms{}",
                    w.index,
                    (d - w.t_call) * 1e3,
                    left
                ),
            });
        }
        out.push(Mark {
            shape: Shape::Ring { at, r: 3 },
            color: WRITE_COLOR,
            kind: "write",
            title: format!(
                "write {}: called t {}, ends at offset {}{bytes}{left}",
                w.index,
                fmt_t(w.t_call, k, unit),
                w.offset_end
            ),
        });
    }
}

fn unit_write_marks(ts: &TimeSeq, px: &Px, k: f64, unit: &str, out: &mut Vec<Mark>) {
    let (kind, what) = match ts.unit_writes {
        Some((UnitSource::Size, u)) => ("size-write", format!("write ({u} bytes, --write-size)")),
        Some((UnitSource::Inferred, u)) => {
            ("inferred-write", format!("inferred write ({u}-byte unit)"))
        }
        None => return,
    };
    for w in &ts.unit_marks {
        out.push(Mark {
            shape: Shape::Square {
                at: px(w.t, w.offset_end),
                r: 3,
            },
            color: WRITE_COLOR,
            kind,
            title: format!(
                "{what} {}: ends at offset {}, left in frame {} at t {} (call time unknown)",
                w.index,
                w.offset_end,
                w.frame,
                fmt_t(w.t, k, unit)
            ),
        });
    }
}

fn sack_marks(ts: &TimeSeq, px: &Px, k: f64, unit: &str, out: &mut Vec<Mark>) {
    for b in &ts.sacks {
        let (from, to) = (px(b.t, b.lo), px(b.t, b.hi));
        out.push(Mark {
            shape: Shape::Line {
                from,
                to: (to.0, to.1.min(from.1 - 1)),
                width: 5,
                dash: 0,
            },
            color: SACK_COLOR,
            kind: "sack",
            title: format!(
                "SACK block: frame {} (peer's ACK), t {}, {} bytes at offset {}–{} received above the cumulative ACK",
                b.frame,
                fmt_t(b.t, k, unit),
                b.hi - b.lo,
                b.lo,
                b.hi
            ),
        });
    }
}

/// Zero-window episodes as dashed lines at the ACK offset; an episode
/// that never reopened runs to `t_max` (seconds).
fn zero_window_marks(
    ts: &TimeSeq,
    px: &Px,
    (k, unit): (f64, &str),
    t_max: f64,
    out: &mut Vec<Mark>,
) {
    for z in &ts.zero_windows {
        let end = match (z.t_end, z.frame_end) {
            (Some(t), f) => format!(
                "reopened t {}{} after {:.3} ms",
                fmt_t(t, k, unit),
                f.map_or(String::new(), |f| format!(" (frame {f})")),
                (t - z.t) * 1e3
            ),
            _ => "never reopened in the capture".into(),
        };
        let from = px(z.t, z.ack);
        let to = px(z.t_end.unwrap_or(t_max), z.ack);
        out.push(Mark {
            shape: Shape::Line {
                from,
                to: (to.0.max(from.0 + 3), to.1),
                width: 3,
                dash: 9,
            },
            color: ZERO_WINDOW_COLOR,
            kind: "zero-window",
            title: format!(
                "zero window: frame {}, t {}, peer's window 0 at ACK offset {} ({} bytes acknowledged), {} zero-window ACK(s); {end}",
                z.frame,
                fmt_t(z.t, k, unit),
                z.ack,
                z.ack,
                z.adverts
            ),
        });
    }
}

fn stall_mark_list(ts: &TimeSeq, px: &Px, k: f64, unit: &str, out: &mut Vec<Mark>) {
    let y_hi = ts.bars.iter().map(|b| b.hi).fold(0.0, f64::max);
    for s in &ts.stalls {
        let at = px(s.t, s.offset.unwrap_or(y_hi));
        out.push(Mark {
            shape: Shape::Down {
                at: (at.0, at.1 - 3),
                r: 6,
            },
            color: STALL_COLOR,
            kind: "stall",
            title: format!(
                "stall: frame {}, t {}, cost {:.3} ms, peer's ACK delay {:.3} ms",
                s.frame,
                fmt_t(s.t, k, unit),
                s.ms,
                s.ack_delay_ms
            ),
        });
    }
}

fn note(ts: &TimeSeq, top: f64, tail: Option<(u64, f64)>) -> String {
    let segs: u64 = ts
        .bars
        .iter()
        .filter(|b| !b.retrans)
        .map(|b| b.segments)
        .sum();
    let re: u64 = ts
        .bars
        .iter()
        .filter(|b| b.retrans)
        .map(|b| b.segments)
        .sum();
    let mut n = vec![if ts.binned {
        format!("{segs} segments, {re} retransmitted, binned: one bar per pixel column")
    } else {
        format!("{segs} segments, {re} retransmitted")
    }];
    if ts.stride > 1 {
        n.push(format!("every {}th segment kept", ts.stride));
    }
    if !ts.writes.is_empty() {
        n.push(if ts.write_stride > 1 {
            format!("every {}th write drawn", ts.write_stride)
        } else {
            format!("{} writes", ts.writes.len())
        });
    }
    if !ts.stalls.is_empty() {
        let total: f64 = ts.stalls.iter().map(|s| s.ms).sum();
        n.push(format!("{} stalls, {total:.1} ms", ts.stalls.len()));
    }
    if let Some((src, _)) = ts.unit_writes.filter(|_| !ts.unit_marks.is_empty()) {
        let what = match src {
            UnitSource::Inferred => "inferred writes",
            UnitSource::Size => "writes (--write-size)",
        };
        n.push(if ts.unit_stride > 1 {
            format!("every {}th of the {what} drawn", ts.unit_stride)
        } else {
            format!("{} {what}", ts.unit_marks.len())
        });
    }
    if !ts.sacks.is_empty() {
        n.push(if ts.sack_stride > 1 {
            format!("every {}th SACK block drawn", ts.sack_stride)
        } else {
            format!("{} SACK blocks", ts.sacks.len())
        });
    }
    if !ts.zero_windows.is_empty() {
        n.push(format!(
            "{} zero-window episodes",
            ts.zero_windows.len() as u64 + ts.zero_windows_dropped
        ));
    }
    if let Some((re_tail, last)) = tail {
        n.push(format!(
            "{re_tail} later retransmissions alone (to t {last:.1} s) left off the time axis"
        ));
    }
    if ts.window.iter().any(|w| w.1 > top) {
        n.push("window edge above the chart where clipped".into());
    }
    n.join("; ")
}

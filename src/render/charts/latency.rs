//! The latency chart of one direction with a write log: write → wire delay
//! of every write against its call time, with the path RTT and the peer's
//! delayed-ACK timer (else its median ACK delay) as reference lines, so
//! "Nagle cost one RTT per write" reads straight off the chart.
//!
//! What it does: takes `write_delay_ms.per_write` (log order) and the call
//! times of the series' `writes`; with more points than twice the pixel
//! columns it keeps the smallest and largest delay per column (the note
//! says so). The legend sits in a strip right of the plot.
//!
//! What it does not do: compute delays (the analysis did) or draw writes
//! never seen on the wire (counted in the note).

use super::marks::{self, Key};
use super::timeseq::{ACK_COLOR, RETRANS_COLOR, SEGMENT_COLOR};
use super::{caption_style, err, num_label, time_unit, FONT, LEGEND_W, PLOT_COLUMNS, WIDTH};
use crate::report::Direction;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

/// What the latency chart shows.
#[derive(Debug, Clone)]
pub struct Latency {
    /// (call time s since the flow's start, delay ms).
    pub points: Vec<(f64, f64)>,
    pub rtt_ms: Option<f64>,
    /// The delayed-ACK timer, else the median ACK delay, ms.
    pub ack_timer_ms: Option<f64>,
    /// The timer line is the median ACK delay (no timer cluster found).
    pub timer_is_median: bool,
    pub unseen: usize,
    pub total: usize,
    pub binned: bool,
}

/// The chart data, when the direction has a write log and a series.
pub fn build(rtt_ms: Option<f64>, d: &Direction) -> Option<Latency> {
    let wd = d.write_delay_ms.as_ref()?;
    let s = d.series.as_ref()?;
    let pts: Vec<(f64, f64)> = if s.write_stride <= 1 && s.writes.len() == wd.per_write.len() {
        s.writes
            .iter()
            .zip(&wd.per_write)
            .filter_map(|(w, ms)| ms.map(|ms| (w.t_call, ms)))
            .collect()
    } else {
        s.writes
            .iter()
            .filter_map(|w| w.t_departure.map(|t| (w.t_call, (t - w.t_call) * 1e3)))
            .collect()
    };
    if pts.is_empty() {
        return None;
    }
    let total = wd.per_write.len();
    let unseen = wd.per_write.iter().filter(|v| v.is_none()).count();
    let binned = pts.len() > 2 * PLOT_COLUMNS;
    let points = if binned {
        let t0 = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let t1 = pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        super::min_max_per_column(&pts, t0, t1)
    } else {
        pts
    };
    let (ack_timer_ms, timer_is_median) = match d.ack_delay_ms.timer_ms {
        Some(t) => (Some(t), false),
        None => (d.ack_delay_ms.median.filter(|m| *m > 0.0), true),
    };
    Some(Latency {
        points,
        rtt_ms,
        ack_timer_ms,
        timer_is_median,
        unseen,
        total,
        binned,
    })
}

/// Draw the chart; returns the note.
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    l: &Latency,
) -> anyhow::Result<String>
where
    DB::ErrorType: 'static,
{
    let root = root.titled(title, caption_style(title)).map_err(err)?;
    let (plot, side) = root.split_horizontally(WIDTH - LEGEND_W);
    let t0 = l.points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let t1 = l
        .points
        .iter()
        .map(|p| p.0)
        .fold(f64::NEG_INFINITY, f64::max);
    let (k, unit) = time_unit(t1 - t0);
    let pad = ((t1 - t0) * k * 0.02).max(1e-3);
    let (x0, x1) = (t0 * k - pad, t1 * k + pad);
    let y_hi = l
        .points
        .iter()
        .map(|p| p.1)
        .chain(l.rtt_ms)
        .chain(l.ack_timer_ms)
        .fold(0.001f64, f64::max)
        * 1.08;
    let y_lo = l.points.iter().map(|p| p.1).fold(0.0f64, f64::min);
    let mut chart = ChartBuilder::on(&plot)
        .margin(15)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, y_lo..y_hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .max_light_lines(4)
        .x_desc(format!(
            "write call time since the flow's first frame ({unit})"
        ))
        .y_desc("write → wire delay (ms)")
        .x_label_formatter(&num_label)
        .y_label_formatter(&num_label)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(
            l.points
                .iter()
                .map(|&(t, v)| Circle::new((t * k, v), 3, SEGMENT_COLOR.filled())),
        )
        .map_err(err)?;
    let mut legend = vec![(
        Key::Ring(SEGMENT_COLOR),
        "one write: call → its last byte on the wire".to_string(),
    )];
    if let Some(r) = l.rtt_ms.filter(|r| *r > 0.0) {
        chart
            .draw_series(LineSeries::new(
                vec![(x0, r), (x1, r)],
                ACK_COLOR.stroke_width(2),
            ))
            .map_err(err)?;
        legend.push((
            Key::Line {
                color: ACK_COLOR,
                width: 2,
                dash: 0,
            },
            format!("path RTT {r:.3} ms"),
        ));
    }
    if let Some(a) = l.ack_timer_ms {
        let style = RETRANS_COLOR.stroke_width(2);
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(x0, a), (x1, a)],
                10,
                6,
                style,
            )))
            .map_err(err)?;
        let what = if l.timer_is_median {
            "median ACK delay"
        } else {
            "delayed-ACK timer"
        };
        legend.push((
            Key::Line {
                color: RETRANS_COLOR,
                width: 2,
                dash: 8,
            },
            format!("{what} {a:.3} ms"),
        ));
    }
    marks::draw_legend(&side, &legend)?;
    let mut n = format!(
        "{} of {} writes seen on the wire",
        l.total - l.unseen,
        l.total
    );
    if l.binned {
        n.push_str("; smallest and largest delay per pixel column drawn");
    }
    if l.ack_timer_ms.is_none() {
        n.push_str("; no ACK delay measured (no line)");
    }
    Ok(n)
}

//! The sweep chart: aggregated writes (left panel) and mean writes per
//! segment (right panel) against the write interval (log axis), one line
//! and one marker shape, colour and dash per RTT (and TCP_NODELAY setting).
//!
//! What it does: draws a vertical dashed mark at interval = RTT for each
//! RTT (where writes stop being coalesced, the point of the seed article's
//! figure); breaks a line where its series lacks an interval that other
//! series of the sweep have (a missing point is a gap, never bridged), and
//! says how many are missing; draws the writes-per-segment axis linear or
//! logarithmic ([`YAxis`]; `Auto` picks log when the values span more than
//! a decade and a half); puts the legend in a strip right of the panels.
//!
//! What it does not do: read captures (that is `crate::sweep_chart`).

use super::marks::{self, Key};
use super::{err, log_label, nice_log_range, num_label, SweepPoint, FONT, WIDTH};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

const LEGEND_W: u32 = 210;

/// Okabe–Ito colours, one per line, each with its own dash and marker.
const COLORS: [RGBColor; 6] = [
    RGBColor(0, 0, 0),
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
];
const DASHES: [u32; 6] = [0, 8, 3, 14, 5, 11];

/// The writes-per-segment axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum YAxis {
    Linear,
    Log,
    /// Log when the values span more than a decade and a half.
    #[default]
    Auto,
}

/// A line's colour, dash and marker index.
pub fn style(i: usize) -> (RGBColor, u32, usize) {
    (COLORS[i % COLORS.len()], DASHES[i % DASHES.len()], i % 4)
}

/// The runs of a line between missing intervals: `line` is sorted by
/// interval; `all` holds every interval of the sweep, sorted and deduplicated.
pub fn runs(line: &[(f64, f64)], all: &[f64]) -> (Vec<Vec<(f64, f64)>>, usize) {
    let (Some(first), Some(last)) = (line.first(), line.last()) else {
        return (Vec::new(), 0);
    };
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    let mut missing = 0;
    for &x in all.iter().filter(|&&x| x >= first.0 && x <= last.0) {
        match line.iter().find(|p| p.0 == x) {
            Some(&p) => out.last_mut().unwrap().push(p),
            None => {
                missing += 1;
                if !out.last().unwrap().is_empty() {
                    out.push(Vec::new());
                }
            }
        }
    }
    out.retain(|r| !r.is_empty());
    (out, missing)
}

/// Draw both panels, the RTT marks and the legend; returns the note.
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[SweepPoint],
    y_axis: YAxis,
) -> anyhow::Result<String>
where
    DB::ErrorType: 'static,
{
    let (panels, side) = root.split_horizontally(WIDTH - LEGEND_W);
    let (left, right) = panels.split_horizontally((WIDTH - LEGEND_W) / 2);
    let mut lines: Vec<(f64, bool)> = points.iter().map(|p| (p.rtt_ms, p.nodelay)).collect();
    lines.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    lines.dedup();
    let mut all: Vec<f64> = points.iter().map(|p| p.interval_ms).collect();
    all.sort_by(f64::total_cmp);
    all.dedup();
    let rtts: Vec<f64> = {
        let mut v: Vec<f64> = lines.iter().map(|l| l.0).filter(|r| *r > 0.0).collect();
        v.dedup();
        v
    };
    let lo = all
        .iter()
        .chain(&rtts)
        .copied()
        .fold(f64::INFINITY, f64::min);
    let hi = all.iter().chain(&rtts).copied().fold(0.0, f64::max);
    let (x0, x1) = if points.is_empty() {
        (0.1, 100.0)
    } else {
        nice_log_range(lo.max(1e-3), hi.max(1e-3))
    };
    let wps: Vec<f64> = points
        .iter()
        .map(|p| p.mean_wps)
        .filter(|v| *v > 0.0)
        .collect();
    let w_lo = wps.iter().copied().fold(f64::INFINITY, f64::min);
    let w_hi = wps.iter().copied().fold(1.0, f64::max);
    let log_y = match y_axis {
        YAxis::Log => true,
        YAxis::Linear => false,
        YAxis::Auto => !wps.is_empty() && w_hi / w_lo > 10f64.powf(1.5),
    };
    let mut missing = 0;
    let ctx = Ctx {
        points,
        lines: &lines,
        all: &all,
        rtts: &rtts,
        x: (x0, x1),
    };
    missing += panel(&left, &ctx, Panel::Aggregated)?;
    if log_y {
        let (a, b) = nice_log_range(w_lo.max(0.01), w_hi);
        panel_log(&right, &ctx, (a, b))?;
    } else {
        panel(&right, &ctx, Panel::WritesPerSegment)?;
    }
    let mut legend: Vec<(Key, String)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (color, dash, shape) = style(i);
            let nd = if l.1 { ", TCP_NODELAY" } else { "" };
            (
                Key::Marker { color, dash, shape },
                format!("RTT {} ms{nd}", log_label(&l.0)),
            )
        })
        .collect();
    if !rtts.is_empty() {
        legend.push((
            Key::Line {
                color: RGBColor(90, 90, 90),
                width: 1,
                dash: 4,
            },
            "interval = RTT (vertical mark)".into(),
        ));
    }
    marks::draw_legend(&side, &legend)?;
    let mut n =
        String::from("dashed verticals: write interval = RTT; Nagle coalesces left of them");
    if missing > 0 {
        n.push_str(&format!("; {missing} missing point(s) drawn as gaps"));
    }
    if log_y {
        n.push_str("; writes per segment on a log axis");
    }
    Ok(n)
}

struct Ctx<'a> {
    points: &'a [SweepPoint],
    lines: &'a [(f64, bool)],
    all: &'a [f64],
    rtts: &'a [f64],
    x: (f64, f64),
}

#[derive(Clone, Copy, PartialEq)]
enum Panel {
    Aggregated,
    WritesPerSegment,
}

fn value(p: &SweepPoint, panel: Panel) -> f64 {
    match panel {
        Panel::Aggregated => p.aggregated as f64,
        Panel::WritesPerSegment => p.mean_wps,
    }
}

/// One panel on a linear y axis; returns the missing points.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    c: &Ctx,
    which: Panel,
) -> anyhow::Result<usize>
where
    DB::ErrorType: 'static,
{
    let ymax = c.points.iter().map(|p| value(p, which)).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .margin(15)
        .x_label_area_size(55)
        .y_label_area_size(70)
        .build_cartesian_2d((c.x.0..c.x.1).log_scale(), 0f64..ymax * 1.1)
        .map_err(err)?;
    let desc = match which {
        Panel::Aggregated => "aggregated writes (count)",
        Panel::WritesPerSegment => "mean writes per segment",
    };
    mesh(&mut chart, desc)?;
    lines_and_marks(&mut chart, c, which, (0.0, ymax * 1.1))
}

/// The writes-per-segment panel on a log y axis.
fn panel_log<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    c: &Ctx,
    (lo, hi): (f64, f64),
) -> anyhow::Result<usize>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .margin(15)
        .x_label_area_size(55)
        .y_label_area_size(70)
        .build_cartesian_2d((c.x.0..c.x.1).log_scale(), (lo..hi).log_scale())
        .map_err(err)?;
    mesh(&mut chart, "mean writes per segment (log)")?;
    lines_and_marks(&mut chart, c, Panel::WritesPerSegment, (lo, hi))
}

fn mesh<DB: DrawingBackend, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::combinators::LogCoord<f64>, Y>>,
    y_desc: &str,
) -> anyhow::Result<()>
where
    Y: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .max_light_lines(4)
        .x_desc("write interval (ms, log)")
        .y_desc(y_desc)
        .x_label_formatter(&log_label)
        .y_label_formatter(&num_label)
        .axis_desc_style((FONT, 17))
        .label_style((FONT, 14))
        .draw()
        .map_err(err)?;
    Ok(())
}

fn lines_and_marks<DB: DrawingBackend, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::combinators::LogCoord<f64>, Y>>,
    c: &Ctx,
    which: Panel,
    (y0, y1): (f64, f64),
) -> anyhow::Result<usize>
where
    Y: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
    DB::ErrorType: 'static,
{
    for &r in c.rtts {
        let style = RGBColor(90, 90, 90).stroke_width(1);
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(r, y0), (r, y1)],
                4,
                4,
                style,
            )))
            .map_err(err)?;
    }
    let mut missing = 0;
    for (i, line) in c.lines.iter().enumerate() {
        let mut pts: Vec<(f64, f64)> = c
            .points
            .iter()
            .filter(|p| (p.rtt_ms, p.nodelay) == *line)
            .map(|p| {
                (
                    p.interval_ms,
                    value(p, which).max(if y0 > 0.0 { y0 } else { 0.0 }),
                )
            })
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (color, dash, shape) = style(i);
        let (segs, miss) = runs(&pts, c.all);
        missing += miss;
        for run in segs {
            let st = color.stroke_width(2);
            if dash == 0 {
                chart.draw_series(LineSeries::new(run, st)).map_err(err)?;
            } else {
                chart
                    .draw_series(std::iter::once(DashedPathElement::new(run, dash, 5, st)))
                    .map_err(err)?;
            }
        }
        chart
            .draw_series(
                pts.iter()
                    .map(|&p| EmptyElement::at(p) + super::marker::<DB>(shape, (0, 0), color)),
            )
            .map_err(err)?;
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_points_split_the_line() {
        let all = [0.1, 1.0, 10.0, 50.0];
        let (r, miss) = runs(&[(0.1, 5.0), (10.0, 1.0), (50.0, 1.0)], &all);
        assert_eq!(miss, 1);
        assert_eq!(r, vec![vec![(0.1, 5.0)], vec![(10.0, 1.0), (50.0, 1.0)]]);
        let (r, miss) = runs(&[(1.0, 5.0), (10.0, 1.0)], &all);
        assert_eq!((r.len(), miss), (1, 0));
    }
}

//! Data marks drawn in pixel coordinates, each with a tooltip, and the
//! legend drawn beside the plot.
//!
//! What it does: a chart's drawing code places its data marks (segment
//! bars, write calls, held intervals, stall markers) as [`Mark`]s in
//! backend pixels. In SVG they are written as elements that each carry a
//! `<title>` (browsers show it as a tooltip), grouped in
//! `<g class="marks">`; on bitmaps they are drawn with plotters. The legend
//! ([`draw_legend`]) is drawn in a strip outside the plotting area, so it
//! never covers data.
//!
//! What it does not do: place marks (the chart modules do) or draw axes.

use super::{err, FONT};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::fmt::Write as _;

/// The shape of one mark, in backend pixels.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A straight line; `dash` = dash length (0 = solid).
    Line {
        from: (i32, i32),
        to: (i32, i32),
        width: u32,
        dash: u32,
    },
    /// A hollow circle.
    Ring { at: (i32, i32), r: i32 },
    /// A diagonal cross (×).
    Cross { at: (i32, i32), r: i32 },
    /// A filled triangle pointing down, its tip at `at`.
    Down { at: (i32, i32), r: i32 },
    /// A hollow square centred on `at`, half-side `r`.
    Square { at: (i32, i32), r: i32 },
}

/// One data mark: shape, colour and tooltip.
#[derive(Debug, Clone)]
pub struct Mark {
    pub shape: Shape,
    pub color: RGBColor,
    /// What the mark is (`segment`, `write`, `held`, `stall`, ...): the SVG
    /// element's `class`.
    pub kind: &'static str,
    pub title: String,
}

fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The marks as one SVG group, to be placed before `</svg>`.
pub fn svg_group(marks: &[Mark]) -> String {
    let mut s = String::from("<g class=\"marks\">\n");
    for m in marks {
        let c = hex(m.color);
        let (k, t) = (m.kind, esc(&m.title));
        let _ = match m.shape {
            Shape::Line { from, to, width, dash } => {
                let d = if dash > 0 {
                    format!(" stroke-dasharray=\"{dash},{dash}\"")
                } else {
                    String::new()
                };
                writeln!(
                    s,
                    "<line class=\"{k}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{c}\" stroke-width=\"{width}\"{d}><title>{t}</title></line>",
                    from.0, from.1, to.0, to.1
                )
            }
            Shape::Ring { at, r } => writeln!(
                s,
                "<circle class=\"{k}\" cx=\"{}\" cy=\"{}\" r=\"{r}\" fill=\"white\" fill-opacity=\"0.6\" stroke=\"{c}\" stroke-width=\"1.5\"><title>{t}</title></circle>",
                at.0, at.1
            ),
            Shape::Cross { at, r } => writeln!(
                s,
                "<path class=\"{k}\" d=\"M{} {}L{} {}M{} {}L{} {}\" stroke=\"{c}\" stroke-width=\"2\"><title>{t}</title></path>",
                at.0 - r, at.1 - r, at.0 + r, at.1 + r, at.0 - r, at.1 + r, at.0 + r, at.1 - r
            ),
            Shape::Square { at, r } => writeln!(
                s,
                "<rect class=\"{k}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"white\" fill-opacity=\"0.6\" stroke=\"{c}\" stroke-width=\"1.5\"><title>{t}</title></rect>",
                at.0 - r, at.1 - r, 2 * r, 2 * r
            ),
            Shape::Down { at, r } => writeln!(
                s,
                "<polygon class=\"{k}\" points=\"{},{} {},{} {},{}\" fill=\"{c}\" stroke=\"black\" stroke-width=\"1\"><title>{t}</title></polygon>",
                at.0, at.1, at.0 - r, at.1 - 2 * r, at.0 + r, at.1 - 2 * r
            ),
        };
    }
    s.push_str("</g>\n");
    s
}

/// Put the marks into a finished SVG document (before `</svg>`).
pub fn inject_svg(svg: &mut String, marks: &[Mark]) {
    if marks.is_empty() {
        return;
    }
    let at = svg.rfind("</svg>").unwrap_or(svg.len());
    svg.insert_str(at, &svg_group(marks));
}

/// Draw the marks on a bitmap (or any backend) in pixel coordinates.
pub fn draw_marks<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    marks: &[Mark],
) -> anyhow::Result<()> {
    for m in marks {
        let c = m.color;
        match m.shape {
            Shape::Line {
                from,
                to,
                width,
                dash,
            } => {
                if dash > 0 {
                    root.draw(&DashedPathElement::new(
                        vec![from, to],
                        dash,
                        dash,
                        c.stroke_width(width),
                    ))
                } else {
                    root.draw(&PathElement::new(vec![from, to], c.stroke_width(width)))
                }
            }
            Shape::Ring { at, r } => root.draw(&Circle::new(at, r, c.stroke_width(2))),
            Shape::Cross { at, r } => root.draw(&Cross::new(at, r, c.stroke_width(2))),
            Shape::Square { at, r } => root.draw(&Rectangle::new(
                [(at.0 - r, at.1 - r), (at.0 + r, at.1 + r)],
                c.stroke_width(2),
            )),
            Shape::Down { at, r } => root.draw(&Polygon::new(
                vec![at, (at.0 - r, at.1 - 2 * r), (at.0 + r, at.1 - 2 * r)],
                c.filled(),
            )),
        }
        .map_err(err)?;
    }
    Ok(())
}

/// A legend key: how the entry's sample is drawn.
#[derive(Debug, Clone, Copy)]
pub enum Key {
    Line {
        color: RGBColor,
        width: u32,
        dash: u32,
    },
    Bar(RGBColor),
    Ring(RGBColor),
    /// A filled circle.
    Dot(RGBColor),
    /// A hollow square.
    Square(RGBColor),
    Cross(RGBColor),
    Down(RGBColor),
    /// A series line (dash 0 = solid) with marker `shape` (see `super::marker`).
    Marker {
        color: RGBColor,
        dash: u32,
        shape: usize,
    },
}

/// Draw the legend entries top-down in `area` (a strip beside the plot).
pub fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(Key, String)],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let style = (FONT, 14).into_font().color(&BLACK);
    let mut y = 70;
    for (key, label) in entries {
        let (x, cy) = (14, y);
        match *key {
            Key::Line { color, width, dash } if dash > 0 => area.draw(&DashedPathElement::new(
                vec![(x, cy), (x + 26, cy)],
                dash,
                dash,
                color.stroke_width(width),
            )),
            Key::Line { color, width, .. } => area.draw(&PathElement::new(
                vec![(x, cy), (x + 26, cy)],
                color.stroke_width(width),
            )),
            Key::Bar(c) => area.draw(&PathElement::new(
                vec![(x + 13, cy - 8), (x + 13, cy + 8)],
                c.stroke_width(2),
            )),
            Key::Ring(c) => area.draw(&Circle::new((x + 13, cy), 4, c.stroke_width(2))),
            Key::Dot(c) => area.draw(&Circle::new((x + 13, cy), 3, c.filled())),
            Key::Square(c) => area.draw(&Rectangle::new(
                [(x + 9, cy - 4), (x + 17, cy + 4)],
                c.stroke_width(2),
            )),
            Key::Cross(c) => area.draw(&Cross::new((x + 13, cy), 5, c.stroke_width(2))),
            Key::Marker { color, dash, shape } => {
                let st = color.stroke_width(2);
                let line = vec![(x, cy), (x + 26, cy)];
                if dash > 0 {
                    area.draw(&DashedPathElement::new(line, dash, 4, st))
                        .map_err(err)?;
                } else {
                    area.draw(&PathElement::new(line, st)).map_err(err)?;
                }
                area.draw(
                    &(EmptyElement::at((x + 13, cy)) + super::marker::<DB>(shape, (0, 0), color)),
                )
            }
            Key::Down(c) => area.draw(&Polygon::new(
                vec![(x + 13, cy + 5), (x + 7, cy - 7), (x + 19, cy - 7)],
                c.filled(),
            )),
        }
        .map_err(err)?;
        // Wrap long labels at a space to fit the strip.
        let mut lines = vec![String::new()];
        for w in label.split(' ') {
            let cur = lines.last_mut().unwrap();
            if !cur.is_empty() && cur.len() + w.len() > 24 {
                lines.push(w.to_string());
            } else {
                if !cur.is_empty() {
                    cur.push(' ');
                }
                cur.push_str(w);
            }
        }
        for (i, l) in lines.iter().enumerate() {
            area.draw(&Text::new(
                l.clone(),
                (x + 34, cy - 8 + 17 * i as i32),
                style.clone(),
            ))
            .map_err(err)?;
        }
        y += 17 * lines.len() as i32 + 12;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_marks_carry_escaped_titles() {
        let m = Mark {
            shape: Shape::Ring { at: (10, 20), r: 3 },
            color: RGBColor(1, 2, 3),
            kind: "write",
            title: "a < b & c".into(),
        };
        let g = svg_group(&[m]);
        assert!(g.contains("<title>a &lt; b &amp; c</title>"), "{g}");
        let mut doc = "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>".to_string();
        inject_svg(&mut doc, &[]);
        assert!(!doc.contains("marks"));
    }
}

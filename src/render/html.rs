//! The report for people to read and embed: one self-contained HTML file,
//! or a Markdown file next to its chart files.
//!
//! What it does: the advice grouped by endpoint across flows (most saving first), a summary
//! table ranked by cost (one row per flow direction that carries data:
//! path RTT, segments, coalescing, ACK delay, stalls, the Nagle verdict in
//! words; every cell with its unit; the flow cell links to the flow's
//! section when it is charted), then per charted flow the verdict sentences, the evidence, the
//! notes and the charts of [`super::charts`]. The HTML has its charts inline
//! as SVG and its style in a `<style>` element: no scripts, no fonts, images
//! or style sheets from elsewhere, so it opens offline and can be mailed or
//! attached to a ticket as one file. The page title names the captures. The Markdown report links the chart
//! files it writes into its own folder (`![title](flow3-c2s-timeseq.svg)`).
//!
//! What it does not do: it never reads packets; it shows what the
//! [`Report`] holds. Which flows get charts is decided by the caller
//! ([`super::charts::select_flows`]).

use super::charts::{self, Chart, ChartFormat};
use crate::report::{Direction, Flow, Report, Verdict};
use std::fmt::Write as _;
use std::path::Path;

/// Most rows in the summary table (the rest are counted, not listed).
const MAX_TABLE_ROWS: usize = 500;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            _ => o.push(c),
        }
    }
    o
}

fn ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{x:.3}"))
}

/// A time cell with its unit.
fn ms_cell(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{x:.3} ms"))
}

/// The Nagle verdict in words.
pub fn verdict_words(d: &Direction) -> &'static str {
    match d.nagle.verdict {
        Verdict::On => "Nagle on: small segments waited for the ACK of the previous one",
        Verdict::Off => "Nagle off: small segments left without waiting for ACKs",
        Verdict::Inconclusive => "inconclusive: the capture does not show whether Nagle held data",
    }
}

/// Rows of the summary table: (flow, direction) for directions with data,
/// ranked by what Nagle / delayed ACK cost: stall time, then aggregated
/// segments, then small segments (flow id breaks ties).
fn rows(report: &Report) -> Vec<(&Flow, &Direction)> {
    let mut v: Vec<(&Flow, &Direction)> = report
        .flows
        .iter()
        .flat_map(|f| {
            f.directions
                .iter()
                .filter(|d| d.data_segments > 0)
                .map(move |d| (f, d))
        })
        .collect();
    v.sort_by(|a, b| {
        b.1.stalls
            .total_ms
            .total_cmp(&a.1.stalls.total_ms)
            .then(b.1.aggregated_segments.cmp(&a.1.aggregated_segments))
            .then(b.1.small_segments.cmp(&a.1.small_segments))
            .then(a.0.id.cmp(&b.0.id))
    });
    v
}

/// Rows beyond the table's cap, and directions the report did not hold.
fn unlisted(report: &Report, rows: &[(&Flow, &Direction)]) -> u64 {
    rows.len().saturating_sub(MAX_TABLE_ROWS) as u64 + report.directions_not_held
}

/// The page title: the capture file names.
fn page_title(report: &Report) -> String {
    let names: Vec<&str> = report
        .captures
        .iter()
        .map(|c| {
            Path::new(&c.path)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(&c.path)
        })
        .collect();
    if names.is_empty() {
        "nagle-analyze report".into()
    } else {
        format!("{} — nagle-analyze report", names.join(", "))
    }
}

const COLUMNS: &[&str] = &[
    "flow",
    "direction",
    "vantage",
    "path RTT",
    "data segments",
    "small segments",
    "aggregated segments",
    "writes per segment",
    "ACK delay median",
    "stalls",
    "Nagle",
];

fn row_cells(f: &Flow, d: &Direction) -> Vec<String> {
    vec![
        f.id.to_string(),
        format!("{} → {}", d.from, d.to),
        f.vantage.to_string(),
        ms_cell(f.rtt_ms.min),
        format!("{} segments", d.data_segments),
        format!("{} segments", d.small_segments),
        d.aggregated_segments
            .map_or("–".into(), |a| format!("{a} segments")),
        d.writes_per_segment
            .as_ref()
            .and_then(|w| w.mean)
            .map_or("–".into(), |m| format!("{m:.2} writes/segment")),
        ms_cell(d.ack_delay_ms.median),
        format!(
            "{} stalls, {:.1} ms total",
            d.stalls.count, d.stalls.total_ms
        ),
        verdict_words(d).to_string(),
    ]
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1060px;margin:2em auto;padding:0 1em;color:#111;line-height:1.4}\
table{border-collapse:collapse;font-size:.9em;margin:1em 0}\
th,td{border:1px solid #999;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#eee}td.n{text-align:right}\
figure{margin:1.5em 0}figure svg{max-width:100%;height:auto;border:1px solid #ccc}\
figcaption{font-size:.9em;color:#333}h2{border-bottom:1px solid #999;margin-top:2em}\
.verdict{font-weight:bold}";

/// The HTML report with the charts of `flows` inline.
pub fn html(report: &Report, flows: &[&Flow]) -> anyhow::Result<String> {
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(s, "<title>{}</title>", esc(&page_title(report)));
    let _ = writeln!(s, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(s, "<h1>Nagle and delayed ACK report</h1>");
    s.push_str("<p>Captures: ");
    let caps: Vec<String> = report
        .captures
        .iter()
        .map(|c| {
            let mut t = format!("<code>{}</code>", esc(&c.path));
            match &c.error {
                Some(e) => {
                    let _ = write!(t, " (unreadable: {})", esc(e));
                }
                None => {
                    let _ = write!(t, " ({} frames, {} TCP segments)", c.frames, c.tcp_segments);
                }
            }
            t
        })
        .collect();
    s.push_str(&caps.join("; "));
    let _ = writeln!(s, ". {}.</p>", esc(&report.tool));

    advice_first(&mut s, report, flows);
    let rows = rows(report);
    let _ = writeln!(s, "<h2>Summary (most costly first)</h2>\n<table>\n<tr>");
    for c in COLUMNS {
        let _ = write!(s, "<th>{}</th>", esc(c));
    }
    s.push_str("</tr>\n");
    for (f, d) in rows.iter().take(MAX_TABLE_ROWS) {
        s.push_str("<tr>");
        let charted = flows.iter().any(|g| g.id == f.id);
        for (i, c) in row_cells(f, d).iter().enumerate() {
            let class = if (3..=9).contains(&i) {
                " class=\"n\""
            } else {
                ""
            };
            if i == 0 && charted {
                let _ = write!(s, "<td><a href=\"#flow{}\">{}</a></td>", f.id, esc(c));
            } else {
                let _ = write!(s, "<td{class}>{}</td>", esc(c));
            }
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    let unlisted = unlisted(report, &rows);
    if unlisted > 0 {
        let _ = writeln!(
            s,
            "<p>{unlisted} more flow directions are not listed (see the JSON or CSV output).</p>"
        );
    }
    if rows.is_empty() {
        s.push_str("<p>No flow carried data.</p>\n");
    }

    for (f, (_, charts)) in flows.iter().zip(charts::flow_charts(report, flows)) {
        let _ = writeln!(
            s,
            "<h2 id=\"flow{}\">Flow {}: {} ⇄ {}</h2>",
            f.id,
            f.id,
            esc(&f.client),
            esc(&f.server)
        );
        let _ = writeln!(
            s,
            "<p>Vantage {}; path RTT {} ms ({}); handshake {}; {:.3} s.</p>",
            esc(f.vantage.as_str()),
            ms(f.rtt_ms.min),
            esc(f.rtt_ms.source.map_or("no samples", |s| s.as_str())),
            if f.handshake_seen { "seen" } else { "not seen" },
            f.end_ts - f.start_ts
        );
        for d in f.directions.iter().filter(|d| d.data_segments > 0) {
            let _ = writeln!(s, "<h3>{} → {}</h3>", esc(&d.from), esc(&d.to));
            let _ = writeln!(
                s,
                "<p class=\"verdict\">{}</p>\n<p>{}</p>",
                esc(verdict_words(d)),
                esc(&d.summary)
            );
            if let Some(k) = &d.nagle.kernel {
                let _ = writeln!(s, "<p>Kernel: {}</p>", esc(&super::kernel_words(k)));
            }
            if !d.nagle.evidence.is_empty() || !d.coalescing_causes.is_empty() {
                s.push_str("<ul>\n");
                for e in &d.nagle.evidence {
                    let _ = writeln!(s, "<li>{}</li>", esc(e));
                }
                if !d.coalescing_causes.is_empty() {
                    let _ = writeln!(
                        s,
                        "<li>Coalescing causes: {}</li>",
                        esc(&crate::report::join(&d.coalescing_causes))
                    );
                }
                s.push_str("</ul>\n");
            }
            let tag = charts::dir_tag(f, d);
            for c in charts
                .iter()
                .filter(|c| c.name.contains(&format!("-{tag}-")))
            {
                figure(&mut s, c)?;
            }
        }
        if !f.advice.is_empty() {
            let _ = writeln!(s, "<h3>Advice (most costly first)</h3>\n<ol>");
            for a in &f.advice {
                let _ = write!(
                    s,
                    "<li><b>{}</b> on the {} <code>{}</code>: {}<ul>",
                    esc(a.option.as_str()),
                    esc(a.side.as_str()),
                    esc(&a.address),
                    esc(&a.action)
                );
                for e in &a.evidence {
                    let _ = write!(s, "<li>{}</li>", esc(e));
                }
                let _ = writeln!(s, "<li>Saving: {}</li></ul></li>", esc(&a.estimated_saving));
            }
            s.push_str("</ol>\n");
        }
        if !f.notes.is_empty() {
            s.push_str("<ul>\n");
            for n in &f.notes {
                let _ = writeln!(s, "<li>Note: {}</li>", esc(n));
            }
            s.push_str("</ul>\n");
        }
    }
    if flows.iter().any(|f| !f.advice.is_empty()) {
        s.push_str("<h2>What a capture cannot show</h2>\n<ul>\n");
        for c in crate::advice::CANNOT_SHOW {
            let _ = writeln!(s, "<li>{}</li>", esc(c));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</body>\n</html>\n");
    Ok(s)
}

/// The advice grouped by endpoint and rule (`report.advice_groups`), most
/// saving first: one entry per endpoint, its connections linking to their
/// flow sections when charted.
fn advice_first(s: &mut String, report: &Report, flows: &[&Flow]) {
    if report.advice_groups.is_empty() {
        return;
    }
    let link = |id: u64| {
        if flows.iter().any(|g| g.id == id) {
            format!("<a href=\"#flow{id}\">flow {id}</a>")
        } else {
            format!("flow {id}")
        }
    };
    s.push_str("<h2>Advice (most saving first, one entry per endpoint)</h2>\n<ol>\n");
    for g in report.advice_groups.iter().take(MAX_TABLE_ROWS) {
        let ids: Vec<String> = g.flows.iter().map(|&id| link(id)).collect();
        let more = if g.connections > g.flows.len() as u64 {
            ", …"
        } else {
            ""
        };
        let frames = if g.frames.is_empty() {
            String::new()
        } else {
            format!(
                " Frames ({}): {}.",
                link(g.example_flow),
                crate::report::join(&g.frames)
            )
        };
        let _ = writeln!(
            s,
            "<li><b>{}</b> on the {} <code>{}</code>, {} connection(s) ({}{more}): {} <i>Saving: {}.</i>{}</li>",
            esc(g.option.as_str()),
            esc(g.side.as_str()),
            esc(&g.endpoint),
            g.connections,
            ids.join(", "),
            esc(&g.action),
            esc(&g.estimated_saving),
            frames
        );
    }
    s.push_str("</ol>\n");
}

fn figure(s: &mut String, c: &Chart) -> anyhow::Result<()> {
    let svg = c.svg()?;
    // Drop an XML declaration, if any: not allowed inside HTML.
    let svg = match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => &svg,
    };
    let _ = writeln!(
        s,
        "<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>",
        esc(&c.title)
    );
    Ok(())
}

/// The Markdown report; writes the chart files into `dir` (the report's
/// folder) and links them by file name.
pub fn markdown(
    report: &Report,
    flows: &[&Flow],
    dir: &Path,
    format: ChartFormat,
) -> anyhow::Result<String> {
    let md = |v: &str| v.replace('|', "\\|");
    let mut s = String::from("# Nagle and delayed ACK report\n\n");
    for c in &report.captures {
        match &c.error {
            Some(e) => {
                let _ = writeln!(s, "- `{}`: unreadable: {e}", c.path);
            }
            None => {
                let _ = writeln!(
                    s,
                    "- `{}`: {} frames, {} TCP segments",
                    c.path, c.frames, c.tcp_segments
                );
            }
        }
    }
    let _ = writeln!(s, "\n## Summary\n\n| {} |", COLUMNS.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(COLUMNS.len()));
    let rows = rows(report);
    for (f, d) in rows.iter().take(MAX_TABLE_ROWS) {
        let cells: Vec<String> = row_cells(f, d).iter().map(|c| md(c)).collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    let unlisted = unlisted(report, &rows);
    if unlisted > 0 {
        let _ = writeln!(s, "\n{unlisted} more flow directions are not listed.");
    }
    // Markdown viewers show SVG and PNG; link the SVG when both are written.
    let ext = if format.svg() { "svg" } else { "png" };
    for (f, (_, fc)) in flows.iter().zip(charts::flow_charts(report, flows)) {
        charts::write_charts(&fc, dir, format)?;
        let _ = writeln!(
            s,
            "\n## Flow {}: {} ⇄ {}\n\nVantage {}; path RTT {} ms.\n",
            f.id,
            f.client,
            f.server,
            f.vantage,
            ms(f.rtt_ms.min)
        );
        for d in f.directions.iter().filter(|d| d.data_segments > 0) {
            let _ = writeln!(
                s,
                "### {} → {}\n\n**{}**\n\n{}\n",
                d.from,
                d.to,
                verdict_words(d),
                d.summary
            );
            for e in &d.nagle.evidence {
                let _ = writeln!(s, "- {e}");
            }
            s.push('\n');
            let tag = charts::dir_tag(f, d);
            for c in fc.iter().filter(|c| c.name.contains(&format!("-{tag}-"))) {
                let _ = writeln!(s, "![{}]({}.{ext})\n", md(&c.title), c.name);
            }
        }
        for n in &f.notes {
            let _ = writeln!(s, "- Note: {n}");
        }
    }
    Ok(s)
}

/// Write `--report FILE`: HTML for `.html`/`.htm`, Markdown for `.md`.
pub fn write_report(
    report: &Report,
    flows: &[&Flow],
    path: &Path,
    format: ChartFormat,
) -> anyhow::Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let text = match ext.as_str() {
        "html" | "htm" => html(report, flows)?,
        "md" | "markdown" => {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => std::path::PathBuf::from("."),
            };
            markdown(report, flows, &dir, format)?
        }
        _ => anyhow::bail!(
            "--report {}: the file name must end in .html or .md",
            path.display()
        ),
    };
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

//! The output boundary: [`ReportSink`], what the pipeline hands a report to,
//! piece by piece, as it makes it (in the spirit of ripgrep's `Sink`).
//!
//! The pipeline calls [`ReportSink::begin`] once with the inputs' names,
//! [`ReportSink::flow`] for every flow as soon as it is finished (so a
//! capture of millions of connections never holds them all in memory), and
//! [`ReportSink::finish`] once with the capture summaries, which are known
//! only when every input is read. Implemented here by the streaming
//! writers ([`TextWriter`], [`JsonWriter`], [`JsonlWriter`], [`CsvWriter`]; [`writer`] picks
//! one by [`Format`]) and by the in-memory [`Collector`], whose [`Report`]
//! is what charts and the HTML/Markdown page (which rank all flows) and
//! library users get.
//!
//! What it does not do: decide what a report says (`super` formats a flow
//! and a capture; the writers only lay those pieces out in a document), or
//! judge errors: a writer returns the I/O error and the caller decides
//! (a closed pipe is quiet on the command line, for instance).

use super::{
    advice_text, capture_text, csv_rows, direction_cost_ms, flow_text, indented_json, table_header,
    table_row, write_indented_json, Format, TextOptions, CSV_COLUMNS,
};
use crate::advice::group::Grouper;
use crate::report::{CaptureSummary, Flow, Report};
use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

/// Where a report goes, piece by piece: `begin`, then `flow` for every
/// finished flow (in the order they finish), then `finish`.
pub trait ReportSink {
    /// Before any flow: the inputs, in order (a flow's `capture` indexes them).
    fn begin(&mut self, inputs: &[String]) -> io::Result<()>;
    /// One finished flow.
    fn flow(&mut self, flow: Flow) -> io::Result<()>;
    /// After the last flow: one summary per input, in order.
    fn finish(&mut self, captures: &[CaptureSummary]) -> io::Result<()>;
}

/// The streaming writer of `format` on `out` (buffered here).
pub fn writer<'a, W: Write + Send + 'a>(format: Format, out: W) -> Box<dyn ReportSink + Send + 'a> {
    match format {
        Format::Text => Box::new(TextWriter::new(out)),
        Format::Json => Box::new(JsonWriter::new(out)),
        Format::Csv => Box::new(CsvWriter::new(out)),
        Format::Jsonl => Box::new(JsonlWriter::new(out)),
    }
}

/// serde_json and the writers write small pieces: 64 KiB of buffer.
fn buffered<W: Write>(out: W) -> BufWriter<W> {
    BufWriter::with_capacity(1 << 16, out)
}

/// Keeps the whole report in memory: what `pipeline::analyze_files`
/// returns, and what charts and report pages are drawn from.
#[derive(Debug, Default)]
pub struct Collector {
    flows: Vec<Flow>,
    captures: Vec<CaptureSummary>,
}

impl Collector {
    pub fn new() -> Self {
        Self::default()
    }

    /// The report, flows in order of id (they arrive in order of finishing).
    pub fn into_report(mut self) -> Report {
        self.flows.sort_by_key(|f| f.id);
        Report::new(self.captures, self.flows)
    }
}

impl ReportSink for Collector {
    fn begin(&mut self, _inputs: &[String]) -> io::Result<()> {
        Ok(())
    }

    fn flow(&mut self, flow: Flow) -> io::Result<()> {
        self.flows.push(flow);
        Ok(())
    }

    fn finish(&mut self, captures: &[CaptureSummary]) -> io::Result<()> {
        self.captures = captures.to_vec();
        Ok(())
    }
}

/// The text writer with `opts` (see [`super::TextOptions`]).
pub fn text_writer<'a, W: Write + Send + 'a>(
    out: W,
    opts: TextOptions,
) -> Box<dyn ReportSink + Send + 'a> {
    Box::new(TextWriter::with_options(out, opts))
}

/// Rank order: costlier first, then more frames, then lower flow id (so a
/// streamed and a collected report rank alike).
fn rank_cmp(a: &(f64, u64, u64), b: &(f64, u64, u64)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2))
}

/// The text report, leading with the answer: each capture's summary line
/// and warnings, a total, then one ranked line per flow direction that
/// carried data (by held-write plus stall time, then frames), the advice
/// grouped by endpoint (most saving first), then the full blocks of the
/// top N flows. With `verbose`, every flow's block is written
/// as it finishes instead, and what a capture cannot show closes the report.
///
/// Memory: the table's compact rows for every direction, and the blocks of
/// the current top N flows only.
pub struct TextWriter<W: Write> {
    out: BufWriter<W>,
    opts: TextOptions,
    flows_per_capture: Vec<u64>,
    first: bool,
    /// Some flow carried advice.
    advised: bool,
    /// (cost ms, frames, flow id), row without its rank.
    rows: Vec<((f64, u64, u64), String)>,
    /// The top flows' blocks, in rank order, at most `opts.top`.
    top: Vec<((f64, u64, u64), String)>,
    flows: u64,
    /// Every flow's advice, by endpoint.
    advice: Grouper,
}

impl<W: Write> TextWriter<W> {
    pub fn new(out: W) -> Self {
        Self::with_options(out, TextOptions::default())
    }

    pub fn with_options(out: W, opts: TextOptions) -> Self {
        TextWriter {
            out: buffered(out),
            opts,
            flows_per_capture: Vec::new(),
            first: true,
            advised: false,
            rows: Vec::new(),
            top: Vec::new(),
            flows: 0,
            advice: Grouper::new(),
        }
    }

    /// One flow: its table rows kept, its block written (verbose) or kept
    /// while it is among the top N (by reference: see [`super::render`]).
    pub fn write_flow(&mut self, f: &Flow) -> io::Result<()> {
        if let Some(n) = self.flows_per_capture.get_mut(f.capture) {
            *n += 1;
        }
        self.flows += 1;
        self.advised |= !f.advice.is_empty();
        self.advice.add(f);
        let mut cost = 0.0;
        let mut frames = 0;
        for d in &f.directions {
            cost += direction_cost_ms(d);
            frames += d.frames;
            if d.data_segments > 0 {
                let key = (direction_cost_ms(d), d.frames, f.id);
                self.rows.push((key, table_row(f, d)));
            }
        }
        let key = (cost, frames, f.id);
        if self.opts.verbose {
            let mut s = String::new();
            if !std::mem::replace(&mut self.first, false) {
                s.push('\n');
            }
            flow_text(&mut s, f);
            return self.out.write_all(s.as_bytes());
        }
        let at = self.top.partition_point(|(k, _)| rank_cmp(k, &key).is_lt());
        if at < self.opts.top {
            let mut s = String::new();
            flow_text(&mut s, f);
            self.top.insert(at, (key, s));
            self.top.truncate(self.opts.top);
        }
        Ok(())
    }

    /// The summary: a line per capture, then the totals.
    fn summary(&self, s: &mut String, captures: &[CaptureSummary]) {
        for (i, c) in captures.iter().enumerate() {
            let n = self.flows_per_capture.get(i).copied().unwrap_or(0);
            capture_text(s, c, n);
        }
        let costly = self.rows.iter().filter(|(k, _)| k.0 > 0.0).count();
        let total: f64 = self.rows.iter().map(|(k, _)| k.0).sum();
        let _ = writeln!(
            s,
            "{} flows, {} directions with data; Nagle/delayed-ACK cost (held writes + stalls) in {costly} of them, {total:.1} ms in total",
            self.flows,
            self.rows.len()
        );
    }

    /// The ranked table, one line per direction with data.
    fn table(&mut self, s: &mut String) {
        if self.rows.is_empty() {
            return;
        }
        self.rows.sort_by(|a, b| rank_cmp(&a.0, &b.0));
        let _ = writeln!(s, "\n{}", table_header());
        for (i, (_, row)) in self.rows.iter().enumerate() {
            let _ = writeln!(s, "{:>4} {row}", i + 1);
        }
    }
}

impl<W: Write> ReportSink for TextWriter<W> {
    fn begin(&mut self, inputs: &[String]) -> io::Result<()> {
        self.flows_per_capture = vec![0; inputs.len()];
        Ok(())
    }

    fn flow(&mut self, flow: Flow) -> io::Result<()> {
        self.write_flow(&flow)
    }

    fn finish(&mut self, captures: &[CaptureSummary]) -> io::Result<()> {
        let mut s = String::new();
        if !self.first {
            s.push('\n');
        }
        self.summary(&mut s, captures);
        self.table(&mut s);
        advice_text(&mut s, &std::mem::take(&mut self.advice).finish());
        if !self.opts.verbose && !self.top.is_empty() {
            let _ = writeln!(
                s,
                "\ndetails of the top {} of {} flows (-v/--verbose: every flow, --top N):",
                self.top.len(),
                self.flows
            );
            for (_, block) in &self.top {
                s.push('\n');
                s.push_str(block);
            }
        }
        if self.opts.verbose && self.advised {
            s.push_str("\nwhat a capture cannot show (no advice is given on these):\n");
            for c in crate::advice::CANNOT_SHOW {
                let _ = writeln!(s, "  - {c}");
            }
        }
        self.out.write_all(s.as_bytes())?;
        self.out.flush()
    }
}

/// The JSON document (the documented schema): `flows` written as they
/// come, `captures` after them. Its head is written with the first flow or
/// at the end, so that an error before any flow (a bad filter) leaves no
/// half document.
pub struct JsonWriter<W: Write> {
    out: BufWriter<W>,
    first: bool,
    started: bool,
    advice: Grouper,
}

impl<W: Write> JsonWriter<W> {
    pub fn new(out: W) -> Self {
        JsonWriter {
            out: buffered(out),
            first: true,
            started: false,
            advice: Grouper::new(),
        }
    }

    fn start(&mut self) -> io::Result<()> {
        if std::mem::replace(&mut self.started, true) {
            return Ok(());
        }
        write!(
            self.out,
            "{{\n  \"schema_version\": {},\n  \"tool\": {},\n  \"flows\": [",
            crate::report::SCHEMA_VERSION,
            serde_json::to_string(crate::report::TOOL)?
        )
    }

    /// One flow, as an element of `flows` (by reference: see [`super::render`]).
    pub fn write_flow(&mut self, f: &Flow) -> io::Result<()> {
        self.start()?;
        self.advice.add(f);
        let sep = if std::mem::replace(&mut self.first, false) {
            "\n"
        } else {
            ",\n"
        };
        self.out.write_all(sep.as_bytes())?;
        write_indented_json(&mut self.out, f, 4)
    }
}

impl<W: Write> ReportSink for JsonWriter<W> {
    fn begin(&mut self, _inputs: &[String]) -> io::Result<()> {
        Ok(())
    }

    fn flow(&mut self, flow: Flow) -> io::Result<()> {
        self.write_flow(&flow)
    }

    fn finish(&mut self, captures: &[CaptureSummary]) -> io::Result<()> {
        self.start()?;
        let close = if self.first { "]" } else { "\n  ]" };
        write!(
            self.out,
            "{close},\n  \"captures\": {},\n  \"advice_groups\": {},\n  \"advice_cannot_show\": {}\n}}\n",
            indented_json(&captures, 2)?.trim_start(),
            indented_json(&std::mem::take(&mut self.advice).finish(), 2)?.trim_start(),
            indented_json(&crate::advice::CANNOT_SHOW, 2)?.trim_start()
        )?;
        self.out.flush()
    }
}

/// JSON lines, for jq and engines that read them (DuckDB, ClickHouse,
/// Spark): one compact object per flow as it finishes —
/// `{"type":"flow","capture_path":…,` then the flow's fields as in the JSON
/// document — then one `{"type":"summary",…}` line with `schema_version`,
/// `tool`, `captures`, `advice_groups` and `advice_cannot_show`.
pub struct JsonlWriter<W: Write> {
    out: BufWriter<W>,
    /// The inputs' names (`capture_path`).
    paths: Vec<String>,
    advice: Grouper,
}

impl<W: Write> JsonlWriter<W> {
    pub fn new(out: W) -> Self {
        JsonlWriter {
            out: buffered(out),
            paths: Vec::new(),
            advice: Grouper::new(),
        }
    }

    /// One flow's line (by reference: see [`super::render`]).
    pub fn write_flow(&mut self, f: &Flow) -> io::Result<()> {
        self.advice.add(f);
        let path = self.paths.get(f.capture).map_or("", String::as_str);
        let body = serde_json::to_string(f)?;
        let fields = body.strip_prefix('{').unwrap_or(&body);
        let sep = if fields == "}" { "" } else { "," };
        writeln!(
            self.out,
            "{{\"type\":\"flow\",\"capture_path\":{}{sep}{fields}",
            serde_json::to_string(path)?
        )
    }
}

impl<W: Write> ReportSink for JsonlWriter<W> {
    fn begin(&mut self, inputs: &[String]) -> io::Result<()> {
        self.paths = inputs.to_vec();
        Ok(())
    }

    fn flow(&mut self, flow: Flow) -> io::Result<()> {
        self.write_flow(&flow)
    }

    fn finish(&mut self, captures: &[CaptureSummary]) -> io::Result<()> {
        writeln!(
            self.out,
            "{{\"type\":\"summary\",\"schema_version\":{},\"tool\":{},\"captures\":{},\"advice_groups\":{},\"advice_cannot_show\":{}}}",
            crate::report::SCHEMA_VERSION,
            serde_json::to_string(crate::report::TOOL)?,
            serde_json::to_string(captures)?,
            serde_json::to_string(&std::mem::take(&mut self.advice).finish())?,
            serde_json::to_string(&crate::advice::CANNOT_SHOW)?
        )?;
        self.out.flush()
    }
}

/// CSV: the header with the first flow (or at the end), then one row per
/// flow direction.
pub struct CsvWriter<W: Write> {
    out: BufWriter<W>,
    /// The inputs' names (the `capture` column).
    paths: Vec<String>,
    started: bool,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W) -> Self {
        CsvWriter {
            out: buffered(out),
            paths: Vec::new(),
            started: false,
        }
    }

    fn start(&mut self) -> io::Result<()> {
        if std::mem::replace(&mut self.started, true) {
            return Ok(());
        }
        writeln!(self.out, "{}", CSV_COLUMNS.join(","))
    }

    /// One flow's rows (by reference: see [`super::render`]).
    pub fn write_flow(&mut self, f: &Flow) -> io::Result<()> {
        self.start()?;
        let path = self.paths.get(f.capture).map_or("", String::as_str);
        self.out.write_all(csv_rows(path, f).as_bytes())
    }
}

impl<W: Write> ReportSink for CsvWriter<W> {
    fn begin(&mut self, inputs: &[String]) -> io::Result<()> {
        self.paths = inputs.to_vec();
        Ok(())
    }

    fn flow(&mut self, flow: Flow) -> io::Result<()> {
        self.write_flow(&flow)
    }

    fn finish(&mut self, _captures: &[CaptureSummary]) -> io::Result<()> {
        self.start()?;
        self.out.flush()
    }
}

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

use super::jsonl::{event_line, LiveEvent};
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
    /// Something a live capture found as it happened (a stall, a changed
    /// verdict, an interval's figures), between flows: writers that do not
    /// stream events ignore it.
    fn event(&mut self, _ev: &LiveEvent) -> io::Result<()> {
        Ok(())
    }
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

/// Rows in the text report's ranked table, at most (the rest are counted).
pub const TEXT_TABLE_ROWS: usize = 10_000;

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
/// Memory: the table's compact rows of the [`TEXT_TABLE_ROWS`] costliest
/// directions (the others are counted and said to be not listed), and the
/// blocks of the current top N flows only.
pub struct TextWriter<W: Write> {
    out: BufWriter<W>,
    opts: TextOptions,
    flows_per_capture: Vec<u64>,
    first: bool,
    /// Some flow carried advice.
    advised: bool,
    /// (cost ms, frames, flow id), row without its rank.
    rows: Vec<((f64, u64, u64), String)>,
    /// Every direction with data: how many, how many cost something, and
    /// the cost in all (rows beyond the table's cap included).
    directions: u64,
    costly: u64,
    cost_ms: f64,
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
            directions: 0,
            costly: 0,
            cost_ms: 0.0,
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
                self.row((direction_cost_ms(d), d.frames, f.id), table_row(f, d));
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

    /// A direction's table row, counted, and kept while it may be among
    /// the table's [`TEXT_TABLE_ROWS`].
    fn row(&mut self, key: (f64, u64, u64), row: String) {
        self.directions += 1;
        self.costly += u64::from(key.0 > 0.0);
        self.cost_ms += key.0;
        self.rows.push((key, row));
        if self.rows.len() >= 2 * TEXT_TABLE_ROWS {
            self.rank_rows();
        }
    }

    /// Rows in rank order, at most [`TEXT_TABLE_ROWS`].
    fn rank_rows(&mut self) {
        self.rows.sort_by(|a, b| rank_cmp(&a.0, &b.0));
        self.rows.truncate(TEXT_TABLE_ROWS);
    }

    /// The summary: a line per capture, then the totals.
    fn summary(&self, s: &mut String, captures: &[CaptureSummary]) {
        for (i, c) in captures.iter().enumerate() {
            let n = self.flows_per_capture.get(i).copied().unwrap_or(0);
            capture_text(s, c, n);
        }
        let _ = writeln!(
            s,
            "{} flows, {} directions with data; Nagle/delayed-ACK cost (held writes + stalls) in {} of them, {:.1} ms in total",
            self.flows, self.directions, self.costly, self.cost_ms
        );
    }

    /// The ranked table, one line per direction with data (the costliest
    /// [`TEXT_TABLE_ROWS`]).
    fn table(&mut self, s: &mut String) {
        if self.rows.is_empty() {
            return;
        }
        self.rank_rows();
        let _ = writeln!(s, "\n{}", table_header());
        for (i, (_, row)) in self.rows.iter().enumerate() {
            let _ = writeln!(s, "{:>4} {row}", i + 1);
        }
        let unlisted = self.directions - self.rows.len() as u64;
        if unlisted > 0 {
            let _ = writeln!(
                s,
                "     … {unlisted} more flow directions, costing less, are not listed (--format json or csv lists every one)"
            );
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
///
/// A live capture also writes its [`LiveEvent`]s (`stall`, `verdict`,
/// `interval`) between the flows, every line flushed at once
/// ([`JsonlWriter::line_flushed`]) so that `tail -f` and log shippers follow.
pub struct JsonlWriter<W: Write> {
    out: BufWriter<W>,
    /// The inputs' names (`capture_path`).
    paths: Vec<String>,
    advice: Grouper,
    flush_each: bool,
}

impl<W: Write> JsonlWriter<W> {
    pub fn new(out: W) -> Self {
        JsonlWriter {
            out: buffered(out),
            paths: Vec::new(),
            advice: Grouper::new(),
            flush_each: false,
        }
    }

    /// Flush after every line (live capture: followers see lines at once).
    pub fn line_flushed(mut self) -> Self {
        self.flush_each = true;
        self
    }

    fn end_line(&mut self) -> io::Result<()> {
        self.out.write_all(b"\n")?;
        if self.flush_each {
            self.out.flush()?;
        }
        Ok(())
    }

    /// One flow's line (by reference: see [`super::render`]).
    pub fn write_flow(&mut self, f: &Flow) -> io::Result<()> {
        self.advice.add(f);
        let path = self.paths.get(f.capture).map_or("", String::as_str);
        let body = serde_json::to_string(f)?;
        let fields = body.strip_prefix('{').unwrap_or(&body);
        let sep = if fields == "}" { "" } else { "," };
        write!(
            self.out,
            "{{\"type\":\"flow\",\"capture_path\":{}{sep}{fields}",
            serde_json::to_string(path)?
        )?;
        self.end_line()
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

    fn event(&mut self, ev: &LiveEvent) -> io::Result<()> {
        self.out.write_all(event_line(ev)?.as_bytes())?;
        self.end_line()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Flow `id` whose first direction carried one data segment and
    /// stalled `ms`.
    fn flow(id: u64, ms: f64) -> Flow {
        let mut f = crate::advice::blank_flow();
        f.id = id;
        f.directions[0].data_segments = 1;
        f.directions[0].frames = 1;
        f.directions[0].stalls.total_ms = ms;
        f
    }

    #[test]
    fn the_text_table_lists_the_costliest_rows_and_counts_every_one() {
        let n = 2 * TEXT_TABLE_ROWS as u64 + 7;
        let mut out = Vec::new();
        let mut w = TextWriter::new(&mut out);
        w.begin(&["x".into()]).unwrap();
        for id in 0..n {
            // Costs scattered, so that the costliest arrive in no order.
            w.flow(flow(id, ((id * 7919) % n) as f64)).unwrap();
        }
        w.finish(&[]).unwrap();
        drop(w);
        let text = String::from_utf8(out).unwrap();
        let total: u64 = (0..n).sum();
        assert!(
            text.contains(&format!(
                "{n} flows, {n} directions with data; Nagle/delayed-ACK cost (held writes + stalls) in {} of them, {total}.0 ms in total",
                n - 1
            )),
            "{}",
            &text[..300]
        );
        let header = table_header();
        let rows: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != header)
            .skip(1)
            .take_while(|l| !l.trim_start().starts_with('…'))
            .collect();
        assert_eq!(rows.len(), TEXT_TABLE_ROWS);
        // The first row is the costliest direction, the last the 10,000th.
        let cost = |row: &str, ms: u64| row.contains(&format!(" {ms}.0 "));
        assert!(cost(rows[0], n - 1), "{}", rows[0]);
        let last = n - TEXT_TABLE_ROWS as u64;
        assert!(
            cost(rows[TEXT_TABLE_ROWS - 1], last),
            "{}",
            rows[TEXT_TABLE_ROWS - 1]
        );
        assert!(text.contains(&format!(
            "… {} more flow directions",
            n - TEXT_TABLE_ROWS as u64
        )));
    }
}

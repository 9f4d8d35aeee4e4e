//! The output boundary: [`ReportSink`], what the pipeline hands a report to,
//! piece by piece, as it makes it (in the spirit of ripgrep's `Sink`).
//!
//! The pipeline calls [`ReportSink::begin`] once with the inputs' names,
//! [`ReportSink::flow`] for every flow as soon as it is finished (so a
//! capture of millions of connections never holds them all in memory), and
//! [`ReportSink::finish`] once with the capture summaries, which are known
//! only when every input is read. Implemented here by the three streaming
//! writers ([`TextWriter`], [`JsonWriter`], [`CsvWriter`]; [`writer`] picks
//! one by [`Format`]) and by the in-memory [`Collector`], whose [`Report`]
//! is what charts and the HTML/Markdown page (which rank all flows) and
//! library users get.
//!
//! What it does not do: decide what a report says (`super` formats a flow
//! and a capture; the writers only lay those pieces out in a document), or
//! judge errors: a writer returns the I/O error and the caller decides
//! (a closed pipe is quiet on the command line, for instance).

use super::{
    capture_text, csv_rows, flow_text, indented_json, write_indented_json, Format, CSV_COLUMNS,
};
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
        Format::Jsonl => Box::new(super::JsonlWriter::new(out)),
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

/// The text report: each flow's block as it comes, then each capture's
/// summary line and warnings (with its flow count), then, if any flow
/// carried advice, what a capture cannot show.
pub struct TextWriter<W: Write> {
    out: BufWriter<W>,
    flows_per_capture: Vec<u64>,
    first: bool,
    /// Some flow carried advice.
    advised: bool,
}

impl<W: Write> TextWriter<W> {
    pub fn new(out: W) -> Self {
        TextWriter {
            out: buffered(out),
            flows_per_capture: Vec::new(),
            first: true,
            advised: false,
        }
    }

    /// One flow's block (by reference: see [`super::render`]).
    pub fn write_flow(&mut self, f: &Flow) -> io::Result<()> {
        if let Some(n) = self.flows_per_capture.get_mut(f.capture) {
            *n += 1;
        }
        self.advised |= !f.advice.is_empty();
        let mut s = String::new();
        if !std::mem::replace(&mut self.first, false) {
            s.push('\n');
        }
        flow_text(&mut s, f);
        self.out.write_all(s.as_bytes())
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
        for (i, c) in captures.iter().enumerate() {
            let n = self.flows_per_capture.get(i).copied().unwrap_or(0);
            capture_text(&mut s, c, n);
        }
        if self.advised {
            s.push_str("what a capture cannot show (no advice is given on these):\n");
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
}

impl<W: Write> JsonWriter<W> {
    pub fn new(out: W) -> Self {
        JsonWriter {
            out: buffered(out),
            first: true,
            started: false,
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
            "{close},\n  \"captures\": {},\n  \"advice_cannot_show\": {}\n}}\n",
            indented_json(&captures, 2)?.trim_start(),
            indented_json(&crate::advice::CANNOT_SHOW, 2)?.trim_start()
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

//! Stage 6: the report for people and programs — text tables for the
//! terminal, JSON (the documented schema), CSV (one row per flow direction);
//! [`charts`] draws SVG/PNG charts and [`html`] writes the self-contained
//! HTML or the Markdown report with them.
//!
//! Renderers see only [`Report`]: they never read packets or re-run analysis.
//!
//! The boundary with the pipeline is [`ReportSink`] ([`sink`]): the
//! pipeline hands it the inputs' names, each flow as soon as it is finished,
//! then the capture summaries. The text, JSON and CSV writers are sinks that
//! stream (memory follows the live flows, not the capture); the in-memory
//! [`Collector`] is a sink too, and its [`Report`] feeds what needs every
//! flow at once (charts and report pages rank them) and [`render`]. This
//! module formats one flow, one capture, one CSV row; the writers in
//! [`sink`] lay those out into documents. Writers return I/O errors as they
//! are: what an error means (a closed pipe, a full disk) is the caller's call.

pub mod charts;
pub mod held;
pub mod html;
pub mod jsonl;
pub mod sink;

pub use jsonl::LiveEvent;
pub use sink::{
    text_writer, writer, Collector, CsvWriter, JsonWriter, JsonlWriter, ReportSink, TextWriter,
};

use crate::report::{
    self, AdviceGroup, CaptureSummary, Direction, Flow, Report, WriteConfidence, WriteSource,
};
use std::fmt::Write as _;

/// Output formats of the analysis report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Csv,
    /// JSON lines: one object per flow as it finishes, then a summary line.
    Jsonl,
}

/// How the text report is laid out: the capture summary and the ranked
/// table always; full details for the `top` costliest flows, or with
/// `verbose` for every flow (streamed as flows finish) followed by what a
/// capture cannot show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextOptions {
    pub top: usize,
    pub verbose: bool,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            top: 10,
            verbose: false,
        }
    }
}

/// Milliseconds Nagle held the application's writes: with a write log
/// (call times) and the verdict `on`, the sum over writes of write call to
/// capture. Elsewhere 0: with Nagle off or not shown, a write's wait is the
/// stack's few microseconds or the congestion window's, not Nagle's (a
/// TCP_NODELAY redis-server's replies wait ~10 µs each).
pub fn held_write_ms(d: &Direction) -> f64 {
    if d.nagle.verdict != crate::report::Verdict::On {
        return 0.0;
    }
    d.write_delay_ms.as_ref().map_or(0.0, |w| w.waits().sum())
}

/// What Nagle and delayed ACK cost a direction, ms: held-write time plus
/// stall time; the text report ranks by it, then by frames.
pub fn direction_cost_ms(d: &Direction) -> f64 {
    held_write_ms(d) + d.stalls.total_ms
}

/// The ranked table's header (each row is a 4-column rank, a space and
/// [`table_row`]), in the rows' widths.
pub fn table_header() -> String {
    format!(
        "{:>4} {:>6} {:<46} {:<12} {:>9} {:>9} {:>10} {:>7}",
        "#", "flow", "direction", "nagle", "held ms", "stall ms", "frames", "wr/seg"
    )
}

/// One row of the ranked table for `d` of `f`, without its rank (5 columns
/// wide): at most 115 columns.
pub fn table_row(f: &Flow, d: &Direction) -> String {
    let dir = clip(&format!("{} → {}", d.from, d.to), 46);
    let wps = d
        .writes_per_segment
        .as_ref()
        .and_then(|w| w.mean)
        .map_or("-".to_string(), |m| format!("{m:.2}"));
    format!(
        "{:>6} {dir:<46} {:<12} {:>9.1} {:>9.1} {:>10} {:>7}",
        f.id,
        d.nagle.verdict.to_string(),
        held_write_ms(d),
        d.stalls.total_ms,
        d.frames,
        wps
    )
}

/// `s` cut to `n` characters, with `…` when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut c: String = s.chars().take(n - 1).collect();
    c.push('…');
    c
}

/// Render a whole report held in memory (the writers of [`sink`], fed by
/// reference: no flow is copied).
pub fn render(
    report: &Report,
    format: Format,
    out: &mut (dyn std::io::Write + Send),
) -> std::io::Result<()> {
    render_with(report, format, TextOptions::default(), out)
}

/// [`render`] with the text report's layout.
pub fn render_with(
    report: &Report,
    format: Format,
    text: TextOptions,
    out: &mut (dyn std::io::Write + Send),
) -> std::io::Result<()> {
    match format {
        Format::Text => replay(
            &mut TextWriter::with_options(out, text),
            report,
            TextWriter::write_flow,
        ),
        Format::Json => replay(&mut JsonWriter::new(out), report, JsonWriter::write_flow),
        Format::Csv => replay(&mut CsvWriter::new(out), report, CsvWriter::write_flow),
        Format::Jsonl => replay(&mut JsonlWriter::new(out), report, JsonlWriter::write_flow),
    }
}

/// `report` through `sink`, each flow written by `write`.
fn replay<S: ReportSink>(
    sink: &mut S,
    report: &Report,
    write: fn(&mut S, &Flow) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let paths: Vec<String> = report.captures.iter().map(|c| c.path.clone()).collect();
    sink.begin(&paths)?;
    for f in &report.flows {
        write(sink, f)?;
    }
    sink.finish(&report.captures)
}

/// Pretty JSON of `v`, every line indented by `indent` spaces.
fn indented_json<T: serde::Serialize>(v: &T, indent: usize) -> std::io::Result<String> {
    let mut out = Vec::with_capacity(4096);
    write_indented_json(&mut out, v, indent)?;
    String::from_utf8(out).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Write `v` as pretty JSON (two-space steps, as `serde_json::to_string_pretty`)
/// with every line indented by `indent` more spaces, in one pass.
fn write_indented_json<T: serde::Serialize>(
    out: &mut impl std::io::Write,
    v: &T,
    indent: usize,
) -> std::io::Result<()> {
    out.write_all(&SPACES[..indent.min(SPACES.len())])?;
    let fmt = IndentedFormatter {
        base: indent,
        level: 0,
        has_value: false,
    };
    v.serialize(&mut serde_json::Serializer::with_formatter(out, fmt))?;
    Ok(())
}

const SPACES: &[u8] = &[b' '; 128];

/// serde_json's `PrettyFormatter` (two spaces per level) starting `base`
/// spaces in, so that a flow streamed inside the document's `flows` array is
/// laid out as it is in a whole report.
struct IndentedFormatter {
    base: usize,
    level: usize,
    has_value: bool,
}

impl IndentedFormatter {
    /// `[` or `{`: one level deeper.
    fn open<W: ?Sized + std::io::Write>(&mut self, w: &mut W, c: &[u8]) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(c)
    }

    /// `]` or `}`: back one level, on a line of its own unless empty.
    fn close<W: ?Sized + std::io::Write>(&mut self, w: &mut W, c: &[u8]) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(w)?;
        }
        w.write_all(c)
    }

    /// Before an array element or an object key: a comma unless first,
    /// then a new line.
    fn item<W: ?Sized + std::io::Write>(&self, w: &mut W, first: bool) -> std::io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)
    }

    fn newline<W: ?Sized + std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b"\n")?;
        let mut n = self.base + 2 * self.level;
        while n > 0 {
            let k = n.min(SPACES.len());
            w.write_all(&SPACES[..k])?;
            n -= k;
        }
        Ok(())
    }
}

impl serde_json::ser::Formatter for IndentedFormatter {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(w, first)
    }

    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(w, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// One capture's summary line and warnings.
fn capture_text(s: &mut String, c: &CaptureSummary, flows: u64) {
    if let Some(e) = &c.error {
        let _ = writeln!(s, "{}: cannot read: {e}", c.path);
        return;
    }
    let links: Vec<String> = c.link_types.iter().map(|l| link_name(*l)).collect();
    let compressed = c
        .compression
        .as_ref()
        .map_or(String::new(), |z| format!(" {z}-compressed"));
    let _ = write!(
        s,
        "{}: {} frames ({}{compressed}, {}), {} TCP segments, {} TCP flows",
        c.path,
        c.frames,
        c.format.as_deref().unwrap_or("?"),
        links.join("+"),
        c.tcp_segments,
        flows
    );
    if c.frames_matched != c.frames {
        let _ = write!(s, ", {} frames matched the filter", c.frames_matched);
    }
    if !c.skipped.is_empty() {
        let sk: Vec<String> = c.skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = write!(s, "; skipped: {}", sk.join(", "));
    }
    s.push('\n');
    if let (Some(a), Some(b)) = (c.first_ts, c.last_ts) {
        let _ = writeln!(
            s,
            "  first packet {}, last packet {} (UTC)",
            utc_text(a),
            utc_text(b)
        );
    }
    if let Some(l) = &c.live {
        let _ = writeln!(
            s,
            "  libpcap: {} packets received, {} dropped by the kernel, {} by the interface",
            l.received, l.dropped, l.if_dropped
        );
    }
    for w in &c.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".to_string(), |x| format!("{x:.digits$}"))
}

fn link_name(lt: u32) -> String {
    match lt {
        0 => "NULL".into(),
        1 => "EN10MB".into(),
        9 => "PPP".into(),
        12 | 14 | 101 => "RAW".into(),
        108 => "LOOP".into(),
        113 => "LINUX_SLL".into(),
        228 => "IPV4".into(),
        229 => "IPV6".into(),
        276 => "LINUX_SLL2".into(),
        other => format!("linktype {other}"),
    }
}

fn flow_text(s: &mut String, f: &Flow) {
    let rtt = &f.rtt_ms;
    let _ = writeln!(
        s,
        "flow {}  {} ⇄ {}  {}  vantage {}  {:.3} s",
        f.id,
        f.client,
        f.server,
        if f.handshake_seen {
            "handshake seen"
        } else {
            "no handshake"
        },
        f.vantage,
        f.end_ts - f.start_ts
    );
    let _ = writeln!(
        s,
        "  first packet {}, last packet {} (UTC)",
        utc_text(f.start_ts),
        utc_text(f.end_ts)
    );
    let _ = writeln!(
        s,
        "  path RTT {} ms ({}), handshake {} ms, data→ACK median {} ms, p90 {} ms, {} samples",
        opt(rtt.min, 3),
        rtt.source.map_or("no samples", |s| s.as_str()),
        opt(rtt.handshake, 3),
        opt(rtt.median, 3),
        opt(rtt.p90, 3),
        rtt.samples
    );
    for d in &f.directions {
        if d.frames == 0 {
            continue;
        }
        direction_text(s, d);
    }
    for n in &f.notes {
        let _ = writeln!(s, "  note: {n}");
    }
    for a in &f.advice {
        let _ = writeln!(
            s,
            "  advice: {} on the {} {}{}: {}",
            a.option,
            a.side,
            a.address,
            frames_suffix(&a.frames),
            a.estimated_saving
        );
    }
}

/// " (frames 3, 9)" or empty.
fn frames_suffix(frames: &[u64]) -> String {
    crate::analysis::frames_text(frames, frames.len() as u64)
}

/// The advice list: one entry per endpoint and rule, most saving first.
fn advice_text(s: &mut String, groups: &[AdviceGroup]) {
    if groups.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nadvice, most saving first (one entry per endpoint; each flow's own: --format json):"
    );
    for (i, g) in groups.iter().enumerate() {
        let conns = if g.connections == 1 {
            format!("flow {}", g.example_flow)
        } else {
            format!(
                "{} connections (flows {}{})",
                g.connections,
                report::join(&g.flows),
                if g.connections > g.flows.len() as u64 {
                    ", …"
                } else {
                    ""
                }
            )
        };
        let _ = writeln!(
            s,
            "  {}. {} on the {} {}, {conns}: {}",
            i + 1,
            g.option,
            g.side,
            g.endpoint,
            g.action
        );
        let of = if g.connections > 1 {
            format!(" (flow {})", g.example_flow)
        } else {
            String::new()
        };
        for e in &g.evidence {
            let _ = writeln!(s, "       evidence{of}: {e}");
        }
        if !g.frames.is_empty() {
            let _ = writeln!(s, "       frames{of}: {}", report::join(&g.frames));
        }
        let _ = writeln!(s, "       saving: {}", g.estimated_saving);
    }
}

/// `ts` (seconds since the epoch) as ISO-8601 UTC with microseconds, the
/// instant tshark's `-t ud` shows: `2026-12-02T11:31:38.123456Z`.
pub fn utc_text(ts: f64) -> String {
    let us = (ts * 1e6).round() as i64;
    let (secs, micros) = (us.div_euclid(1_000_000), us.rem_euclid(1_000_000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Year, month, day of `z` days since 1970-01-01 (proleptic Gregorian;
/// Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// " (N fast, M spurious)" for the retransmissions Wireshark names so,
/// empty when there are none.
fn retransmission_classes(d: &Direction) -> String {
    let mut parts = Vec::new();
    if d.fast_retransmissions > 0 {
        parts.push(format!("{} fast", d.fast_retransmissions));
    }
    if d.spurious_retransmissions > 0 {
        parts.push(format!("{} spurious", d.spurious_retransmissions));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

fn direction_text(s: &mut String, d: &Direction) {
    let _ = writeln!(s, "  {}", d.summary);
    let _ = writeln!(
        s,
        "    segments: {} data ({} small) of {} frames, {} bytes, {} retransmitted{}, {} out of order{}",
        d.data_segments,
        d.small_segments,
        d.frames,
        d.payload_bytes,
        d.retransmissions,
        retransmission_classes(d),
        d.out_of_order,
        if d.keepalives > 0 { format!(", {} keep-alives", d.keepalives) } else { String::new() }
    );
    let g = &d.capture_gaps;
    if g.count > 0 {
        let _ = writeln!(
            s,
            "    warning: {} sequence range{} ({} bytes) acknowledged but never captured: capture loss (dropped by the capture), not network loss",
            g.count,
            if g.count == 1 { "" } else { "s" },
            g.bytes
        );
    }
    let _ = writeln!(
        s,
        "    MSS {} ({}), timestamps {}, window scale {}",
        d.mss.map_or("-".into(), |m| m.to_string()),
        d.mss_source.map_or("unknown", |s| s.as_str()),
        if d.timestamps { "on" } else { "off" },
        d.window_scale.map_or("-".into(), |w| w.to_string())
    );
    if d.data_segments == 0 {
        return;
    }
    match (&d.write_source, &d.writes_per_segment) {
        (Some(src), Some(w)) => {
            let unit = d
                .write_unit
                .map_or(String::new(), |u| format!(", unit {u} B"));
            let hist: Vec<String> = w
                .histogram
                .iter()
                .take(12)
                .map(|(k, v)| format!("{k}:{v}"))
                .collect();
            // Protocol framing counts messages, not writes.
            let what = match src {
                WriteSource::Framing(_) => "messages",
                _ => "writes",
            };
            let _ = writeln!(
                s,
                "    {what}: {} ({src}{unit}, {}), per segment mean {} median {} max {}; aggregated segments {}",
                d.writes.map_or("-".into(), |w| w.to_string()),
                d.write_confidence.map_or("-", |s| s.as_str()),
                opt(w.mean, 2),
                opt(w.median, 0),
                w.max.map_or("-".into(), |m| m.to_string()),
                d.aggregated_segments.unwrap_or(0)
            );
            let _ = writeln!(s, "    {what} per segment histogram: {}", hist.join(" "));
            if let Some(i) = &d.write_inference {
                let low = d.write_confidence == Some(WriteConfidence::Low);
                let _ = writeln!(
                    s,
                    "    write unit: rule {}, {} distinct sizes in {} small segments, chance {:.1e} by luck{}",
                    i.rule,
                    i.distinct_sizes,
                    i.segments,
                    i.chance,
                    if low { " (low: no aggregation or Nagle claim rests on it)" } else { "" }
                );
            }
        }
        _ => {
            let _ = writeln!(
                s,
                "    writes: unknown (no write log, no --write-size, and no write unit could be inferred)"
            );
        }
    }
    let _ = writeln!(
        s,
        "    send interval median {} ms, p90 {} ms ({} × RTT); ACK-clocked segments {}",
        opt(d.send_interval_ms.median, 3),
        opt(d.send_interval_ms.p90, 3),
        opt(d.send_interval_ms.rtt_ratio, 2),
        d.ack_clocked_segments
    );
    let ad = &d.ack_delay_ms;
    let _ = writeln!(
        s,
        "    peer's ACK delay median {} ms, p90 {} ms, max {} ms{}; stalls {} ({:.1} ms)",
        opt(ad.median, 3),
        opt(ad.p90, 3),
        opt(ad.max, 3),
        ad.timer_ms.map_or(String::new(), |t| format!(
            ", delayed-ACK timer ≈ {t:.1} ms ({} ACKs)",
            ad.timer_samples
        )),
        d.stalls.count,
        d.stalls.total_ms
    );
    if let Some(wd) = &d.write_delay_ms {
        let _ = writeln!(
            s,
            "    write → wire delay: median {} ms, p90 {} ms, max {} ms",
            opt(wd.median, 3),
            opt(wd.p90, 3),
            opt(wd.max, 3)
        );
    }
    if !d.coalescing_causes.is_empty() {
        let _ = writeln!(
            s,
            "    coalescing causes: {}",
            crate::report::join(&d.coalescing_causes)
        );
    }
    for e in &d.nagle.evidence {
        let _ = writeln!(s, "    evidence: {e}");
    }
    if let Some(k) = &d.nagle.kernel {
        let _ = writeln!(s, "    kernel: {}", kernel_words(k));
    }
}

/// `nagle.kernel` in words: the socket's setting, its changes, and whether
/// the verdict agrees.
pub fn kernel_words(k: &crate::report::KernelNagle) -> String {
    use crate::report::KernelSetting;
    let mut w = match k.setting {
        KernelSetting::On => "TCP_NODELAY clear at every send call (Nagle on)".to_string(),
        KernelSetting::Off => "TCP_NODELAY set at every send call (Nagle off)".to_string(),
        KernelSetting::Changed => "TCP_NODELAY changed during the connection".to_string(),
        KernelSetting::Unknown => "the socket's TCP_NODELAY state could not be read".to_string(),
    };
    for c in &k.changes {
        let _ = write!(
            w,
            "; from write {} (at {:.6} s since the epoch) TCP_NODELAY {}{}",
            c.write,
            c.ts,
            if c.nodelay { "set" } else { "clear" },
            if c.cork { ", TCP_CORK set" } else { "" }
        );
    }
    if k.corked_writes > 0 {
        let _ = write!(w, "; {} writes with TCP_CORK set", k.corked_writes);
    }
    w.push_str(if k.disagrees {
        "; DISAGREES with the verdict from packets (see notes)"
    } else {
        "; the verdict from packets does not contradict it"
    });
    w
}

/// CSV columns, one row per flow direction.
pub const CSV_COLUMNS: &[&str] = &[
    "capture",
    "flow",
    "from",
    "to",
    "vantage",
    "handshake_seen",
    "rtt_min_ms",
    "rtt_handshake_ms",
    "frames",
    "data_segments",
    "payload_bytes",
    "retransmissions",
    "out_of_order",
    "mss",
    "small_segments",
    "write_source",
    "writes",
    "writes_per_segment_mean",
    "aggregated_segments",
    "send_interval_median_ms",
    "send_interval_rtt_ratio",
    "ack_clocked_segments",
    "ack_delay_median_ms",
    "stalls",
    "nagle",
    "fast_retransmissions",
    "spurious_retransmissions",
    "capture_gaps",
    "capture_gap_bytes",
];

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// One flow's CSV rows, one per direction.
fn csv_rows(path: &str, f: &Flow) -> String {
    let mut s = String::new();
    let o = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.6}"));
    for d in &f.directions {
        let row = [
            path.to_string(),
            f.id.to_string(),
            d.from.clone(),
            d.to.clone(),
            f.vantage.to_string(),
            f.handshake_seen.to_string(),
            o(f.rtt_ms.min),
            o(f.rtt_ms.handshake),
            d.frames.to_string(),
            d.data_segments.to_string(),
            d.payload_bytes.to_string(),
            d.retransmissions.to_string(),
            d.out_of_order.to_string(),
            d.mss.map_or(String::new(), |m| m.to_string()),
            d.small_segments.to_string(),
            d.write_source
                .as_ref()
                .map(|w| w.to_string())
                .unwrap_or_default(),
            d.writes.map_or(String::new(), |w| w.to_string()),
            o(d.writes_per_segment.as_ref().and_then(|w| w.mean)),
            d.aggregated_segments
                .map_or(String::new(), |a| a.to_string()),
            o(d.send_interval_ms.median),
            o(d.send_interval_ms.rtt_ratio),
            d.ack_clocked_segments.to_string(),
            o(d.ack_delay_ms.median),
            d.stalls.count.to_string(),
            d.nagle.verdict.to_string(),
            d.fast_retransmissions.to_string(),
            d.spurious_retransmissions.to_string(),
            d.capture_gaps.count.to_string(),
            d.capture_gaps.bytes.to_string(),
        ];
        let row: Vec<String> = row.iter().map(|v| csv_field(v)).collect();
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}

/// The live view: the busiest flows as they stand, one screen, redrawn in
/// place (cursor home + clear to end), never scrolling.
pub fn live_view(
    iface: &str,
    elapsed_s: f64,
    segments: u64,
    live_flows: usize,
    flows: &[Flow],
) -> String {
    let mut s = String::from("\x1b[H\x1b[J");
    let _ = writeln!(
        s,
        "nagle-analyze live on {iface}: {elapsed_s:.0} s, {segments} TCP segments, {live_flows} flows (Ctrl-C for the report)\n"
    );
    let _ = writeln!(
        s,
        "{:<47} {:>8} {:>9} {:>10} {:>9}  nagle",
        "flow direction", "segments", "writes/seg", "interval ms", "RTT ms"
    );
    for f in flows {
        for d in &f.directions {
            if d.data_segments == 0 {
                continue;
            }
            let _ = writeln!(
                s,
                "{:<47} {:>8} {:>9} {:>10} {:>9}  {}",
                format!("{} → {}", d.from, d.to),
                d.data_segments,
                opt(d.writes_per_segment.as_ref().and_then(|w| w.mean), 2),
                opt(d.send_interval_ms.median, 3),
                opt(f.rtt_ms.min, 3),
                d.nagle.verdict
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Instants checked against `date -u -d @…` (and tshark's `-t ud`).
    #[test]
    fn utc_text_is_iso_8601_with_microseconds() {
        assert_eq!(utc_text(0.0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(utc_text(951_782_400.5), "2000-02-29T00:00:00.500000Z");
        assert_eq!(
            utc_text(1_700_000_000.123456),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            utc_text(1_795_786_298.999_999_4),
            "2026-11-27T13:31:38.999999Z"
        );
        assert_eq!(utc_text(-1.0), "1969-12-31T23:59:59.000000Z");
    }

    #[test]
    fn indented_json_is_serde_pretty_shifted() {
        let v = serde_json::json!({
            "a": [1, 2, {"b": [], "c": {}, "d": "x\ny"}],
            "e": {"f": [[], [3]], "g": null},
            "h": [],
        });
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        assert_eq!(indented_json(&v, 0).unwrap(), pretty);
        let shifted: Vec<String> = pretty.lines().map(|l| format!("    {l}")).collect();
        assert_eq!(indented_json(&v, 4).unwrap(), shifted.join("\n"));
        // Deeper than the 128 spaces written at a time.
        let mut deep = serde_json::json!(1);
        for _ in 0..80 {
            deep = serde_json::json!([deep]);
        }
        let pretty = serde_json::to_string_pretty(&deep).unwrap();
        assert_eq!(indented_json(&deep, 0).unwrap(), pretty);
    }
}

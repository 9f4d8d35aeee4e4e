//! The binary's flag definitions that stand for library types: clap lives
//! here and in `main.rs` only. Each clap type mirrors a plain library type
//! (`render::Format`, `render::charts::ChartFormat`, `lab::LabConfig`) and
//! converts into it, so the library never sees clap.
//!
//! What it does not do: run anything; `main.rs` calls the library.

use clap::builder::{EnumValueParser, MapValueParser, TypedValueParser};
use clap::ValueEnum;
use nagle_analyze::render;

/// `--format`: spelled as the library's [`render::Format`].
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
    Csv,
    Jsonl,
}

impl From<FormatArg> for render::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Text => render::Format::Text,
            FormatArg::Json => render::Format::Json,
            FormatArg::Csv => render::Format::Csv,
            FormatArg::Jsonl => render::Format::Jsonl,
        }
    }
}

/// `--chart-format`: spelled as the library's [`render::charts::ChartFormat`].
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChartFormatArg {
    Svg,
    Png,
    Both,
}

impl From<ChartFormatArg> for render::charts::ChartFormat {
    fn from(f: ChartFormatArg) -> Self {
        use render::charts::ChartFormat;
        match f {
            ChartFormatArg::Svg => ChartFormat::Svg,
            ChartFormatArg::Png => ChartFormat::Png,
            ChartFormatArg::Both => ChartFormat::Both,
        }
    }
}

type Mapped<A, T> = MapValueParser<EnumValueParser<A>, fn(A) -> T>;

/// Value parser of `--format`: the possible values of [`FormatArg`], parsed
/// into [`render::Format`].
pub fn format_parser() -> Mapped<FormatArg, render::Format> {
    EnumValueParser::<FormatArg>::new().map(render::Format::from)
}

/// Value parser of `--chart-format`, parsed into [`render::charts::ChartFormat`].
pub fn chart_format_parser() -> Mapped<ChartFormatArg, render::charts::ChartFormat> {
    EnumValueParser::<ChartFormatArg>::new().map(render::charts::ChartFormat::from)
}

#[cfg(feature = "lab")]
pub mod lab;

/// `--help`'s last part: examples and the exit codes (as in the README).
pub const AFTER_HELP: &str = "\
Examples:
  nagle-analyze capture.pcap                        text report
  nagle-analyze -r capture.pcap tcp port 6379       tcpdump's habits: -r FILE, then a filter
  nagle-analyze capture.pcap --format json --flow 3 one flow, as JSON
  nagle-analyze capture.pcap --writes writes.jsonl  exact writes from the sender's log
  nagle-analyze capture.pcap --report report.html   a page with charts
  sudo nagle-analyze -i eth0 -c 10000 tcp port 80   live capture of 10000 packets, filtered
  nagle-analyze completions bash                    shell completions (also zsh, fish); `man`: man page

Exit codes:
  0  report printed, every input read completely
  1  nothing analyzed: missing file, not a capture, bad option value, --flow naming no flow
  2  usage error (unknown flag, missing value, duration without a unit, no arguments)
  3  report printed, but an input was damaged, cut or unreadable";

/// `--version`'s long form: the version, then what this binary was built
/// with (live capture and libpcap's version, the lab).
pub fn long_version() -> String {
    let live = match nagle_analyze::capture::libpcap_version() {
        Some(v) => format!("yes ({v})"),
        None => "no (built without the `live` feature)".to_string(),
    };
    let lab = if cfg!(feature = "lab") { "yes" } else { "no" };
    format!(
        "{}\nfeatures: live capture and BPF filters: {live}; lab: {lab}",
        nagle_analyze::report::VERSION
    )
}

/// `nagle-analyze completions SHELL`: the shell's completion script for
/// `cmd`, on `out`.
pub fn completions(
    shell: clap_complete::Shell,
    cmd: &mut clap::Command,
    out: &mut dyn std::io::Write,
) {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, cmd, name, out);
}

/// `nagle-analyze man`: the man page (roff) of `cmd`, exit codes included.
pub fn man_page(cmd: clap::Command, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd);
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    let mut exit = clap_mangen::roff::Roff::new();
    exit.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in [
        ("0", "report printed, every input read completely"),
        ("1", "nothing could be analyzed: missing file, not a capture, bad option value, a --flow that names no flow"),
        ("2", "usage error: unknown flag, missing value, a duration without a unit, no arguments"),
        ("3", "report printed, but an input was damaged, cut or could not be read"),
    ] {
        exit.control("TP", []).text([clap_mangen::roff::bold(code)]);
        exit.text([clap_mangen::roff::roman(meaning)]);
    }
    exit.to_writer(out)?;
    man.render_version_section(out)?;
    Ok(())
}

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

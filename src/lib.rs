//! nagle-analyze: what Nagle's algorithm, delayed ACK and related socket
//! options did to the TCP connections in a capture.
//!
//! The library is a one-way pipeline, one module per stage:
//!
//! ```text
//! capture  ->  decode  ->  flow  ->  analysis  ->  report  ->  render
//! (frames)     (segments)  (events)  (findings)    (plain data) (text, JSON, CSV,
//!                                                                SVG/PNG charts, HTML/MD)
//! ```
//!
//! A stage never reaches back into an earlier one: the renderer never sees
//! packets, the analysis never parses headers (application payload is read
//! only by [`framing`], on the analysis' behalf, to find message ends).
//! [`pipeline`] wires the stages together for one or more inputs.
//!
//! Boundaries:
//! - The command line is the binary's (`src/main.rs`, `src/cli/`): clap is
//!   used nowhere in the library, whose settings are plain types
//!   ([`pipeline::Config`], [`render::Format`],
//!   [`render::charts::ChartFormat`], `lab::LabConfig`).
//! - Features: `live` (default) is live capture and BPF through libpcap;
//!   `lab` (default, needs `live`) is the root-only experiment harness
//!   `lab`. Without default features the crate reads captures only.
//! - [`sweep_chart`] draws the `sweep` chart from captures; [`lab_record`]
//!   is the typed `lab.json` that the lab writes and the sweep chart reads.
//! - Test tooling is not here: the TCP simulator, the pcap/pcapng writers
//!   and the tests' helpers are the `nagle-testkit` crate
//!   (`crates/testkit`, a dev-dependency, never shipped).

pub mod advice;
pub mod analysis;
pub mod capture;
pub mod decode;
pub mod duration;
pub mod flow;
pub mod framing;
#[cfg(all(feature = "live", target_os = "linux"))]
pub mod kernel_join;
#[cfg(feature = "lab")]
pub mod lab;
pub mod lab_record;
pub mod pipeline;
pub mod render;
pub mod report;
pub mod signals;
pub mod sweep_chart;
pub mod thin;
pub mod writes;

/// Capture timestamps in nanoseconds since the Unix epoch. All timing in the
/// tool comes from these, never from the wall clock.
pub type TsNs = i64;

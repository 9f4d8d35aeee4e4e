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
//! only by [`framing`], on the analysis' behalf, to find message ends). [`pipeline`] wires the stages
//! together for one or more inputs; `main.rs` only turns the command line
//! into a [`pipeline::Config`].

pub mod advice;
pub mod analysis;
pub mod capture;
pub mod decode;
pub mod flow;
pub mod framing;
#[cfg(feature = "lab")]
pub mod lab;
pub mod lab_record;
pub mod pipeline;
pub mod render;
pub mod report;
pub mod sweep_chart;
pub mod writes;

/// Capture timestamps in nanoseconds since the Unix epoch. All timing in the
/// tool comes from these, never from the wall clock.
pub type TsNs = i64;

//! (c) Flow tracker + analysis on arbitrary segment sequences.
//!
//! The input is a config byte followed by 16-byte records; each record
//! becomes one TCP frame built with `nagle_testkit::writer::tcp_frame` (so the
//! decoder sees well-formed packets and the fuzzer's effort goes into the
//! *sequence*: handshakes, ACKs, retransmissions, reordering, 2^31 jumps,
//! timestamps going backwards or to the ends of the i64 range, port reuse,
//! many flows against a tiny flow table). The frames run through
//! `pipeline::Analyzer` (no write information, or `--write-size`), or, for a
//! write log, through the same tracker + analysis the Analyzer uses with an
//! in-memory `WriteLog`. The report is serialized to JSON and rendered as
//! text and CSV.
//!
//! Config byte: bits 0-1 write mode (0 none, 1 write size, 2 log, 3 log +
//! size), bit 2 series, bits 3-5 max flows (1 << n), bits 6-7 link type.
//!
//! Record: [0] endpoint (bits 0-1 client, bit 2 direction s2c, bit 3 IPv6,
//! bits 4-5 seq mode, bits 6-7 ack mode), [1] TCP flags, [2..4] time step
//! (i16), [4] time unit (and extreme timestamps), [5..9] seq operand,
//! [9..13] ack operand, [13..15] payload length, [15] options and writes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nagle_analyze_fuzz::targets::flow_analysis::flow_analysis(data));

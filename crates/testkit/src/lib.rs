//! nagle-testkit: development tooling for nagle-analyze, kept out of the
//! shipped crate (`publish = false`, a dev-dependency of nagle-analyze only).
//!
//! - [`synth`]: a deterministic TCP simulator with a known truth (what each
//!   write became on the wire, Nagle holds, delayed-ACK stalls), the source of
//!   the simulator tests and of the benchmark capture (the `nagle-testkit
//!   synth` binary, used by `scripts/bench.sh`, `memory.sh` and `golden.sh`).
//! - [`writer`]: pcap/pcapng writers and a TCP frame builder with correct
//!   checksums and any of the link headers the analyzer reads.
//! - [`helpers`]: what the integration tests share (the public corpus,
//!   `reference.tsv`, root check, in-memory pcaps, a segment builder).
//!
//! What it does not do: it never reads captures and does not depend on
//! nagle-analyze, so that fixtures are written by code independent of the
//! code that reads them. The few wire constants it needs ([`linktype`],
//! [`flags`]) are its own copies of the standard values.

pub mod helpers;
pub mod synth;
pub mod writer;

/// Capture timestamps in nanoseconds since the Unix epoch.
pub type TsNs = i64;

/// LINKTYPE_ values (tcpdump.org/linktypes.html) the writer can frame.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const PPP: u32 = 9;
    pub const RAW_12: u32 = 12;
    pub const RAW_14: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

/// TCP header flag bits (RFC 9293).
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// The analyzer's one duration grammar, the same source file (the test kit
/// does not depend on the analyzer).
#[path = "../../../src/duration.rs"]
pub mod duration;

//! Helpers shared by the integration tests of nagle-analyze (each test
//! file brings them in as `use nagle_testkit::helpers as common;`): the
//! public corpus folder and its `reference.tsv`, the root check of the lab
//! and live tests, an in-memory pcap and a TCP segment builder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The public corpus folder from `NAGLE_CORPUS`. `None` (with a message) when
/// the variable is unset; panics when it is set but the folder is missing, so
/// that CI, which sets it, fails loudly instead of skipping.
pub fn corpus_dir(test: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("NAGLE_CORPUS") else {
        eprintln!("{test}: NAGLE_CORPUS is not set; skipping the public-corpus test");
        return None;
    };
    let dir = PathBuf::from(dir);
    assert!(
        dir.is_dir(),
        "NAGLE_CORPUS={} is set but is not a directory: the corpus is missing",
        dir.display()
    );
    Some(dir)
}

/// The rows of `reference.tsv` as column name -> value.
pub fn reference_rows(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("reference.tsv"))
        .unwrap_or_else(|e| panic!("cannot read {}/reference.tsv: {e}", dir.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("empty reference.tsv")
        .split('\t')
        .map(str::to_string)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split('\t').map(str::to_string))
                .collect()
        })
        .collect()
}

/// The numeric value of a reference column.
pub fn num(row: &BTreeMap<String, String>, col: &str) -> u64 {
    row.get(col)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("reference row has no number in {col}: {row:?}"))
}

/// Whether we are root (lab and live tests need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A little-endian, nanosecond pcap of `link` frames (snaplen 65535) written
/// by the project's writer, in memory.
pub fn pcap_nano(link: u32, frames: impl IntoIterator<Item = (i64, Vec<u8>)>) -> Vec<u8> {
    use crate::writer::{Endian, PcapWriter, TsPrecision};
    let mut w = PcapWriter::new(Vec::new(), link, 65535, Endian::Little, TsPrecision::Nano)
        .expect("pcap header");
    for (ts, f) in frames {
        w.write(ts, &f, f.len() as u32).expect("pcap record");
    }
    w.into_inner()
}

/// A TCP segment as the integration tests build them: window 65535, MSS
/// 1460 on SYNs, everything else the writer's default.
pub fn segment(
    src: std::net::SocketAddr,
    dst: std::net::SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
) -> crate::writer::TcpSpec {
    crate::writer::TcpSpec {
        src,
        dst,
        seq,
        ack,
        flags,
        window: 65535,
        mss: (flags & crate::flags::SYN != 0).then_some(1460),
        payload,
        ..Default::default()
    }
}

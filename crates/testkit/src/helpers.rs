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

/// Whether every external program in `tools` is on the PATH. When the test
/// command promised them (`NAGLE_REQUIRE_TOOLS`, which `scripts/test.sh`
/// sets after installing them as root, or `CI`), a missing one fails the
/// test loudly; elsewhere `test` prints why it skips and this returns false.
pub fn tools_present(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !std::process::Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let promised =
        std::env::var_os("NAGLE_REQUIRE_TOOLS").is_some() || std::env::var_os("CI").is_some();
    assert!(
        !promised,
        "{test}: {missing:?} missing, but scripts/test.sh installs them (as root)"
    );
    eprintln!("{test}: skipped: {missing:?} not installed (scripts/test.sh installs them as root)");
    false
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

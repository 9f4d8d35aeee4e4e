//! Write-unit inference and write-log matching on hand-built captures
//! (issue 16), end to end through the pipeline with no options:
//!
//! - a constant write unit is found, with a confidence that supports claims;
//! - alternating 10- and 100-byte messages give no unit, or a `low` one that
//!   supports no aggregation or Nagle claim;
//! - random HTTP/TLS-like sizes never give a claim-supporting unit;
//! - a descriptor-only strace log is cut to the connection's lifetime (the
//!   program's later writes to a reused descriptor are not the flow's), and a
//!   log whose bytes do not fit is refused with a note, leaving the figures
//!   as they are without it.

use nagle_testkit::helpers as common;

use nagle_analyze::capture::linktype;
use nagle_analyze::decode::flags::{ACK, PSH, SYN};
use nagle_analyze::pipeline::{analyze_file, Config};
use nagle_analyze::report::{Direction, Flow, WriteConfidence, WriteSource};
use nagle_testkit::writer::{tcp_frame, TcpSpec};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const T0: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

/// One connection on client port `port`: handshake, then a client segment
/// of each size in `sizes` every 5 ms (zero bytes: no framing recognises
/// them), each acknowledged by a pure ACK 1 ms later.
fn flow(port: u16, t0: i64, sizes: &[usize]) -> Vec<(i64, Vec<u8>)> {
    let c: SocketAddr = format!("10.0.0.1:{port}").parse().unwrap();
    let s: SocketAddr = "10.0.0.2:9000".parse().unwrap();
    let f = |spec: TcpSpec| tcp_frame(linktype::RAW, &spec);
    let mut v = vec![
        (t0, f(common::segment(c, s, 0, 0, SYN, vec![]))),
        (t0 + MS, f(common::segment(s, c, 0, 1, SYN | ACK, vec![]))),
        (t0 + 2 * MS, f(common::segment(c, s, 1, 1, ACK, vec![]))),
    ];
    let (mut off, mut ts) = (0u32, t0 + 10 * MS);
    for &n in sizes {
        v.push((
            ts,
            f(common::segment(c, s, 1 + off, 1, PSH | ACK, vec![0; n])),
        ));
        off += n as u32;
        v.push((ts + MS, f(common::segment(s, c, 1, 1 + off, ACK, vec![]))));
        ts += 5 * MS;
    }
    v
}

fn write(name: &str, frames: Vec<(i64, Vec<u8>)>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nagle-inference-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, common::pcap_nano(linktype::RAW, frames)).unwrap();
    p
}

fn run(p: &Path, cfg: &Config) -> Vec<Flow> {
    analyze_file(p.to_str().unwrap(), cfg).unwrap().1
}

fn client(f: &Flow) -> &Direction {
    &f.directions[0]
}

fn supports_claims(d: &Direction) -> bool {
    d.write_source == Some(WriteSource::Inferred)
        && matches!(
            d.write_confidence,
            Some(WriteConfidence::High | WriteConfidence::Medium)
        )
}

#[test]
fn a_constant_unit_is_found() {
    // 4-byte writes aggregated 1 to 12 at a time, the first alone.
    let sizes: Vec<usize> = (1..=12).map(|m| 4 * m).chain([16, 20, 24]).collect();
    let flows = run(
        &write("constant.pcap", flow(40000, T0, &sizes)),
        &Config::default(),
    );
    let d = client(&flows[0]);
    assert_eq!(d.write_unit, Some(4), "{d:#?}");
    assert!(
        supports_claims(d),
        "{:?} {:?}",
        d.write_confidence,
        d.write_inference
    );
    assert_eq!(d.writes, Some(sizes.iter().sum::<usize>() as u64 / 4));
    let i = d.write_inference.as_ref().unwrap();
    assert_eq!((i.distinct_sizes, i.segments), (12, 15));
}

#[test]
fn alternating_sizes_make_no_claim() {
    let pairs: Vec<usize> = [10, 100].repeat(20);
    let mut triples: Vec<usize> = [10, 100].repeat(20);
    triples.extend([110, 110]);
    let mut frames = flow(40000, T0, &pairs);
    frames.extend(flow(40001, T0 + 1000 * MS, &triples));
    let flows = run(&write("alternating.pcap", frames), &Config::default());
    for f in &flows {
        // No unit, or a `low` one (the first-write route: the first
        // segment, 10 bytes, divides the others).
        let d = client(f);
        assert!(
            d.write_unit.is_none() || d.write_confidence == Some(WriteConfidence::Low),
            "{d:#?}"
        );
        assert!(!supports_claims(d), "{d:#?}");
        assert!(!d.coalescing_causes.iter().any(|c| c.as_str() == "nagle"));
    }
}

#[test]
fn random_sizes_never_support_claims() {
    let mut x: u64 = 0x2545f4914f6cdd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut frames = Vec::new();
    for i in 0..200u16 {
        let k = 2 + next() % 11;
        let sizes: Vec<usize> = (0..k).map(|_| 40 + (next() % 1360) as usize).collect();
        frames.extend(flow(40000 + i, T0 + i as i64 * 1000 * MS, &sizes));
    }
    let flows = run(&write("random.pcap", frames), &Config::default());
    assert_eq!(flows.len(), 200);
    let units = flows
        .iter()
        .filter(|f| client(f).write_unit.is_some())
        .count();
    let claims: Vec<&Direction> = flows
        .iter()
        .map(client)
        .filter(|d| supports_claims(d))
        .collect();
    eprintln!(
        "random HTTP/TLS-like sizes: {units} of 200 flows got a unit, {} a claim-supporting one",
        claims.len()
    );
    assert!(claims.is_empty(), "{:#?}", claims[0]);
}

/// A descriptor-only strace log: `writes` of (ms after T0, bytes) on fd 4.
fn strace(writes: &[(i64, usize)]) -> String {
    writes
        .iter()
        .map(|&(t, n)| {
            let ts = T0 + t * MS;
            format!(
                "4242 {}.{:09} write(4, \"...\", {n}) = {n}\n",
                ts / 1_000_000_000,
                ts % 1_000_000_000
            )
        })
        .collect()
}

#[test]
fn a_log_is_cut_to_its_connection_and_refused_when_it_does_not_fit() {
    let sizes = [4usize, 8, 4, 12];
    let p = write("logged.pcap", flow(40000, T0, &sizes));
    let dir = p.parent().unwrap();
    // The flow's writes (called just before each segment), then the
    // program's log file written on the same descriptor after close.
    let mut writes = vec![(9, 4), (14, 4), (14, 4), (19, 4), (24, 4), (24, 4), (24, 4)];
    writes.extend((0..5).map(|i| (100 + i, 8000)));
    let log = dir.join("fd-reused.strace");
    std::fs::write(&log, strace(&writes)).unwrap();
    let cfg = Config {
        writes_log: Some(log),
        ..Config::default()
    };
    let flows = run(&p, &cfg);
    let d = client(&flows[0]);
    assert_eq!(
        d.write_source,
        Some(WriteSource::Log),
        "{:#?}",
        flows[0].notes
    );
    assert_eq!(d.writes, Some(7));
    // A log whose bytes do not fit: refused, with the reason; the figures
    // are those without a log.
    let bad = dir.join("misfit.strace");
    std::fs::write(&bad, strace(&[(9, 4), (14, 100)])).unwrap();
    let plain = run(&p, &Config::default());
    let flows = run(
        &p,
        &Config {
            writes_log: Some(bad),
            ..Config::default()
        },
    );
    let note = flows[0]
        .notes
        .iter()
        .find(|n| n.contains("write log not applied"));
    let note = note.unwrap_or_else(|| panic!("{:#?}", flows[0].notes));
    assert!(
        note.contains("fd 4") && note.contains("104 bytes but the direction sent 28"),
        "{note}"
    );
    for (a, b) in flows[0].directions.iter().zip(&plain[0].directions) {
        assert_eq!(a.write_source, b.write_source);
        assert_eq!(a.writes, b.writes);
        assert_eq!(a.nagle.verdict, b.nagle.verdict);
    }
}

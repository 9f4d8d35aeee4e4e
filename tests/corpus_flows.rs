//! Per-flow agreement with tshark on the public corpus (`$NAGLE_CORPUS`):
//! for every conversation in `reference.tsv`, the flow with the same
//! endpoints must have the same frame and payload byte counts each way;
//! its flow id must be tshark's `tcp.stream`; and per file, the counts of
//! retransmissions, fast and spurious retransmissions and out-of-order
//! segments must be tshark's (`tcp.analysis.*`).
//! Files processed end to end through the pipeline, so nothing may panic.

use nagle_testkit::helpers as common;

use nagle_analyze::pipeline::{analyze_file, Config};
use std::collections::BTreeMap;

/// Files where we knowingly differ from tshark, and why.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    // tshark gives frames with unparseable TCP headers a stream; we skip them
    // as malformed (see corpus_read.rs).
    (
        "fuzzed_capture_be.pcap",
        "frames with garbage TCP headers are skipped",
    ),
    (
        "malformed_tcp_short_header.pcap",
        "TCP header shorter than 20 bytes",
    ),
];

/// Files where tshark 4.0 splits one connection into several streams with no
/// SYN, FIN or RST between them (after the VNC handshake's first frames).
/// There our one flow must equal the sum of tshark's streams.
const TSHARK_SPLITS: &[&str] = &["vnc_interactive_pcapng_content.pcap"];

#[test]
fn corpus_flows_match_tshark() {
    let Some(dir) = common::corpus_dir("corpus_flows") else {
        return;
    };
    let rows = common::reference_rows(&dir);
    let mut by_file: BTreeMap<String, Vec<&BTreeMap<String, String>>> = BTreeMap::new();
    for r in &rows {
        if r.get("kind").map(String::as_str) == Some("conv") {
            by_file.entry(r["file"].clone()).or_default().push(r);
        } else if r.get("kind").map(String::as_str) == Some("file") {
            by_file.entry(r["file"].clone()).or_default();
        }
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for (file, convs) in &by_file {
        let path = dir.join(file).to_string_lossy().to_string();
        let (_summary, flows) = match analyze_file(&path, &Config::default()) {
            Ok(x) => x,
            Err(e) => {
                failures.push(format!("{file}: {e:#}"));
                continue;
            }
        };
        if KNOWN_DIFFERENCES.iter().any(|(f, _)| f == file) {
            continue;
        }
        // Our flows keyed by endpoint pair (several when ports are reused).
        let mut ours: BTreeMap<(String, String), Vec<[u64; 4]>> = BTreeMap::new();
        for f in &flows {
            let c2s = &f.directions[0];
            let s2c = &f.directions[1];
            ours.entry((f.client.clone(), f.server.clone()))
                .or_default()
                .push([
                    c2s.frames,
                    c2s.all_payload_bytes,
                    s2c.frames,
                    s2c.all_payload_bytes,
                ]);
        }
        if TSHARK_SPLITS.contains(&file.as_str()) {
            checked += check_sums(file, &flows, convs, &mut failures);
            continue;
        }
        if flows.len() != convs.len() {
            failures.push(format!(
                "{file}: {} flows, tshark {}",
                flows.len(),
                convs.len()
            ));
        }
        for c in convs {
            let fmt = |a: &str, p: &str| {
                if a.contains(':') {
                    format!("[{a}]:{p}")
                } else {
                    format!("{a}:{p}")
                }
            };
            let a = fmt(&c["addr_a"], &c["port_a"]);
            let b = fmt(&c["addr_b"], &c["port_b"]);
            let want_ab = [
                common::num(c, "frames_a_to_b"),
                common::num(c, "payload_a_to_b"),
                common::num(c, "frames_b_to_a"),
                common::num(c, "payload_b_to_a"),
            ];
            let want_ba = [want_ab[2], want_ab[3], want_ab[0], want_ab[1]];
            let found = ours
                .get(&(a.clone(), b.clone()))
                .and_then(|v| {
                    v.iter()
                        .position(|x| *x == want_ab)
                        .map(|i| (a.clone(), b.clone(), i))
                })
                .or_else(|| {
                    ours.get(&(b.clone(), a.clone())).and_then(|v| {
                        v.iter()
                            .position(|x| *x == want_ba)
                            .map(|i| (b.clone(), a.clone(), i))
                    })
                });
            match found {
                Some((x, y, i)) => {
                    ours.get_mut(&(x, y)).unwrap().remove(i);
                    checked += 1;
                }
                None => failures.push(format!(
                    "{file}: stream {} {a} -> {b} frames/payload {want_ab:?}; ours: {:?} / {:?}",
                    c["stream"],
                    ours.get(&(a.clone(), b.clone())),
                    ours.get(&(b.clone(), a.clone()))
                )),
            }
        }
    }
    eprintln!("corpus_flows: {checked} conversations matched tshark");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Compare per endpoint pair the sums over all flows and all streams.
fn check_sums(
    file: &str,
    flows: &[nagle_analyze::report::Flow],
    convs: &[&BTreeMap<String, String>],
    failures: &mut Vec<String>,
) -> usize {
    let mut ours: BTreeMap<(String, u16), [u64; 2]> = BTreeMap::new();
    for f in flows {
        for d in &f.directions {
            let e = ours.entry((d.from.clone(), 0)).or_default();
            e[0] += d.frames;
            e[1] += d.all_payload_bytes;
        }
    }
    let mut theirs: BTreeMap<(String, u16), [u64; 2]> = BTreeMap::new();
    for c in convs {
        for (addr, port, dir) in [
            ("addr_a", "port_a", "a_to_b"),
            ("addr_b", "port_b", "b_to_a"),
        ] {
            let e = theirs
                .entry((format!("{}:{}", c[addr], c[port]), 0))
                .or_default();
            e[0] += common::num(c, &format!("frames_{dir}"));
            e[1] += common::num(c, &format!("payload_{dir}"));
        }
    }
    if ours != theirs {
        failures.push(format!(
            "{file}: per-sender sums differ: ours {ours:?}, tshark {theirs:?}"
        ));
    }
    convs.len()
}

/// The reference's `file` rows and `conv` rows, by file.
type ByFile<'a> = BTreeMap<
    String,
    (
        Option<&'a BTreeMap<String, String>>,
        Vec<&'a BTreeMap<String, String>>,
    ),
>;

fn by_file(rows: &[BTreeMap<String, String>]) -> ByFile<'_> {
    let mut m: ByFile = BTreeMap::new();
    for r in rows {
        match r.get("kind").map(String::as_str) {
            Some("file") => m.entry(r["file"].clone()).or_default().0 = Some(r),
            Some("conv") => m.entry(r["file"].clone()).or_default().1.push(r),
            _ => {}
        }
    }
    m
}

/// An address and port as the report spells them.
fn endpoint(addr: &str, port: &str) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

#[test]
fn corpus_retransmission_classes_match_tshark() {
    let Some(dir) = common::corpus_dir("corpus_retransmission_classes") else {
        return;
    };
    let rows = common::reference_rows(&dir);
    let mut failures = Vec::new();
    let mut checked = 0;
    for (file, (frow, _)) in by_file(&rows) {
        let Some(frow) = frow else { continue };
        if KNOWN_DIFFERENCES.iter().any(|(f, _)| *f == file) {
            continue;
        }
        let path = dir.join(&file).to_string_lossy().to_string();
        let (_summary, flows) = analyze_file(&path, &Config::default()).expect("analyzes");
        let mut ours = [0u64; 4];
        for d in flows.iter().flat_map(|f| &f.directions) {
            ours[0] += d.retransmissions;
            ours[1] += d.fast_retransmissions;
            ours[2] += d.spurious_retransmissions;
            ours[3] += d.out_of_order;
        }
        let want = [
            common::num(frow, "retransmission"),
            common::num(frow, "fast_retransmission"),
            common::num(frow, "spurious_retransmission"),
            common::num(frow, "out_of_order"),
        ];
        if ours != want {
            failures.push(format!(
                "{file}: retransmission/fast/spurious/out-of-order ours {ours:?}, tshark {want:?}"
            ));
        }
        checked += 1;
    }
    eprintln!("corpus_retransmission_classes: {checked} files");
    assert!(
        checked > 0 && failures.is_empty(),
        "{}",
        failures.join("\n")
    );
}

#[test]
fn corpus_flow_ids_are_tcp_stream() {
    let Some(dir) = common::corpus_dir("corpus_flow_ids") else {
        return;
    };
    let rows = common::reference_rows(&dir);
    let mut failures = Vec::new();
    let mut checked = 0;
    for (file, (_, convs)) in by_file(&rows) {
        if KNOWN_DIFFERENCES.iter().any(|(f, _)| *f == file)
            || TSHARK_SPLITS.contains(&file.as_str())
        {
            continue;
        }
        let path = dir.join(&file).to_string_lossy().to_string();
        let (_summary, flows) = analyze_file(&path, &Config::default()).expect("analyzes");
        for c in convs {
            let stream = common::num(c, "stream");
            let ends = [
                endpoint(&c["addr_a"], &c["port_a"]),
                endpoint(&c["addr_b"], &c["port_b"]),
            ];
            let frames = common::num(c, "frames_a_to_b") + common::num(c, "frames_b_to_a");
            let ok = flows.iter().any(|f| {
                f.id == stream
                    && ends.contains(&f.client)
                    && ends.contains(&f.server)
                    && f.directions.iter().map(|d| d.frames).sum::<u64>() == frames
            });
            if !ok {
                failures.push(format!(
                    "{file}: tcp.stream {stream} ({} <-> {}) is not our flow {stream}",
                    ends[0], ends[1]
                ));
            }
            checked += 1;
        }
    }
    eprintln!("corpus_flow_ids: {checked} streams");
    assert!(
        checked > 0 && failures.is_empty(),
        "{}",
        failures.join("\n")
    );
}

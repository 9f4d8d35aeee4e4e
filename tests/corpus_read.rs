//! Reads every capture of the public corpus (`$NAGLE_CORPUS`, CI sets it to
//! `../shared/captures`) and checks the frame counts against the
//! `kind=file` rows of its `reference.tsv` (tshark's view), that nothing
//! panics, and that the three files tshark reports as damaged are flagged
//! `damaged`. Skipped (with a message) when `NAGLE_CORPUS` is unset; fails
//! when it is set but the folder is missing.

use nagle_testkit::helpers as common;

use nagle_analyze::capture::file::read_path;
use nagle_analyze::decode::decode;
use std::collections::BTreeMap;
use std::path::Path;

const DAMAGED: [&str; 3] = [
    "corrupt_record_header_tls.pcap",
    "cut_mid_record_header_http_zero_window.pcap",
    "cut_mid_block_mysql_DERIVED.pcapng",
];

/// Files where tshark gives frames a `tcp.stream` although it cannot parse
/// their TCP header (MANIFEST: its conv table leaves them out); the decoder
/// skips those frames as malformed.
const TCP_HEADER_UNPARSEABLE: [(&str, u64); 2] = [
    ("fuzzed_capture_be.pcap", 2),
    ("malformed_tcp_short_header.pcap", 2),
];

#[derive(Default)]
struct Ref {
    frames_total: u64,
    tcp_frames: u64,
    /// Sum of `tcp.len` over all conversations.
    payload: u64,
}

fn reference(dir: &Path) -> BTreeMap<String, Ref> {
    let text = std::fs::read_to_string(dir.join("reference.tsv"))
        .unwrap_or_else(|e| panic!("cannot read {}/reference.tsv: {e}", dir.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("empty reference.tsv")
        .split('\t')
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("reference.tsv has no column {name}"))
    };
    let (kind, file) = (col("kind"), col("file"));
    let cols = [
        col("frames_total"),
        col("tcp_frames"),
        col("payload_a_to_b"),
        col("payload_b_to_a"),
    ];
    let mut out: BTreeMap<String, Ref> = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let num = |i: usize| -> u64 {
            f.get(cols[i])
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("bad number in column {i} of {line}"))
        };
        let e = out.entry(f[file].to_string()).or_default();
        match f.get(kind) {
            Some(&"file") => {
                e.frames_total = num(0);
                e.tcp_frames = num(1);
            }
            Some(&"conv") => e.payload += num(2) + num(3),
            _ => {}
        }
    }
    out
}

#[test]
fn corpus_frame_counts() {
    let Some(dir) = common::corpus_dir("corpus_read") else {
        return;
    };
    let dir = dir.as_path();
    let want = reference(dir);
    assert!(!want.is_empty(), "reference.tsv has no kind=file rows");
    let mut failures = Vec::new();
    for (name, r) in &want {
        let frames_total = r.frames_total;
        let path = dir.join(name);
        let path_s = path.to_str().unwrap().to_string();
        let (mut decoded, mut payload) = (0u64, 0u64);
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_path(&path_s, None, &mut |f| {
                if let Ok(seg) = decode(f) {
                    decoded += 1;
                    payload += seg.payload_len as u64;
                }
            })
        }));
        match res {
            Err(_) => failures.push(format!("{name}: panicked")),
            Ok(Err(e)) => failures.push(format!("{name}: error {e:#}")),
            Ok(Ok(info)) => {
                if info.frames != frames_total {
                    failures.push(format!(
                        "{name}: {} frames, reference says {frames_total} (warnings: {:?})",
                        info.frames, info.warnings
                    ));
                }
                let should = DAMAGED.contains(&name.as_str());
                if info.damaged != should {
                    failures.push(format!(
                        "{name}: damaged = {}, expected {should} (warnings: {:?})",
                        info.damaged, info.warnings
                    ));
                }
                let unparseable = TCP_HEADER_UNPARSEABLE
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(0, |(_, k)| *k);
                if decoded + unparseable != r.tcp_frames {
                    failures.push(format!(
                        "{name}: {decoded} TCP segments decoded, reference has {} TCP frames",
                        r.tcp_frames
                    ));
                }
                if unparseable == 0 && payload != r.payload {
                    failures.push(format!(
                        "{name}: TCP payload bytes {payload}, reference {}",
                        r.payload
                    ));
                }
                eprintln!(
                    "{name}: {} frames, {decoded} TCP decoded, link types {:?}, warnings {:?}",
                    info.frames, info.link_types, info.warnings
                );
            }
        }
    }
    // Every capture in the folder is listed in the reference.
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let is_capture = [".pcap", ".pcapng", ".cap"]
            .iter()
            .any(|e| name.ends_with(e));
        if is_capture && !want.contains_key(&name) {
            failures.push(format!("{name}: not in reference.tsv"));
        }
    }
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
}

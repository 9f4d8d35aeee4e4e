//! Capture gaps (issue 15): data the receiver acknowledged but the capture
//! never showed. A simulated bulk transfer (`synth`) written with chosen
//! data packets removed must report exactly the removed bytes as capture
//! gaps, in the direction that lost them, with the text warning and the
//! flow note; a transfer with real network loss (lost, then retransmitted)
//! must report none.

use nagle_analyze::capture::linktype;
use nagle_analyze::capture::Frame;
use nagle_analyze::decode::decode;
use nagle_analyze::pipeline::{analyze_files, Config};
use nagle_analyze::render::{render, Format};
use nagle_analyze::report::Report;
use nagle_analyze::TsNs;
use nagle_testkit::synth::{self, FlowSpec, FrameSink, Workload};
use nagle_testkit::writer::{Endian, PcapWriter, TsPrecision};
use std::io;
use std::path::PathBuf;

const MS: i64 = 1_000_000;

/// Frames of a simulation, kept in memory.
#[derive(Default)]
struct Frames(Vec<(TsNs, Vec<u8>)>);

impl FrameSink for Frames {
    fn frame(&mut self, ts_ns: TsNs, data: &[u8]) -> io::Result<()> {
        self.0.push((ts_ns, data.to_vec()));
        Ok(())
    }
}

fn simulate(loss: f64) -> Vec<(TsNs, Vec<u8>)> {
    let mut spec = FlowSpec::new(
        20 * MS,
        Workload::Bulk {
            bytes: 200_000,
            chunk: 16_384,
        },
    );
    spec.loss = loss;
    spec.seed = 7;
    let mut frames = Frames::default();
    synth::simulate(vec![spec], &mut frames).unwrap();
    frames.0
}

/// Payload length of a client→server data frame (0 for anything else).
fn client_payload(i: usize, ts: TsNs, data: &[u8]) -> u32 {
    let f = Frame {
        number: i as u64 + 1,
        ts_ns: ts,
        link_type: linktype::ETHERNET,
        data,
        orig_len: data.len() as u32,
    };
    match decode(&f) {
        Ok(s) if s.dst.port() == 5001 => s.payload_len,
        _ => 0,
    }
}

fn analyze(name: &str, frames: &[(TsNs, Vec<u8>)]) -> Report {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("capture_gaps");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.pcap"));
    let mut w = PcapWriter::new(
        std::fs::File::create(&path).unwrap(),
        linktype::ETHERNET,
        65535,
        Endian::Little,
        TsPrecision::Nano,
    )
    .unwrap();
    for (ts, f) in frames {
        w.write(*ts, f, f.len() as u32).unwrap();
    }
    drop(w);
    analyze_files(&[path.to_string_lossy().into_owned()], &Config::default()).unwrap()
}

#[test]
fn removed_data_packets_are_reported_exactly() {
    let frames = simulate(0.0);
    let data: Vec<usize> = (0..frames.len())
        .filter(|&i| client_payload(i, frames[i].0, &frames[i].1) > 0)
        .collect();
    assert!(data.len() > 100, "{} data frames", data.len());
    // Three separate holes (one of two adjacent packets) in mid-transfer.
    let removed = [data[10], data[40], data[41], data[90]];
    let bytes: u64 = removed
        .iter()
        .map(|&i| client_payload(i, frames[i].0, &frames[i].1) as u64)
        .sum();
    let kept: Vec<_> = frames
        .iter()
        .enumerate()
        .filter(|(i, _)| !removed.contains(i))
        .map(|(_, f)| f.clone())
        .collect();
    let report = analyze("removed", &kept);
    assert_eq!(report.flows.len(), 1);
    let f = &report.flows[0];
    let c2s = &f.directions[0].capture_gaps;
    assert_eq!((c2s.count, c2s.bytes, c2s.untracked), (3, bytes, 0));
    assert_eq!(f.directions[1].capture_gaps.count, 0);
    assert_eq!(f.directions[0].retransmissions, 0);
    assert!(
        f.notes.iter().any(|n| n.contains("never captured")),
        "{:?}",
        f.notes
    );
    let mut out = Vec::new();
    render(&report, Format::Text, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains(&format!(
            "warning: 3 sequence ranges ({bytes} bytes) acknowledged but never captured"
        )),
        "{text}"
    );
}

#[test]
fn network_loss_is_not_a_capture_gap() {
    let report = analyze("lossy", &simulate(0.03));
    let f = &report.flows[0];
    let retx: u64 = f.directions.iter().map(|d| d.retransmissions).sum();
    assert!(retx > 0, "the lossy simulation retransmitted nothing");
    for d in &f.directions {
        assert_eq!(d.capture_gaps.count, 0, "{d:?}");
        assert_eq!(d.capture_gaps.bytes, 0);
    }
}

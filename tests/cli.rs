//! The command line end to end: exit codes, error messages, JSON/CSV layout,
//! standard input and the BPF filter, on captures written by the project's
//! own writer.

use nagle_testkit::helpers as common;

use nagle_analyze::capture::linktype;
use nagle_analyze::decode::flags::{ACK, PSH, SYN};
use nagle_testkit::writer::{tcp_frame, Endian, PcapWriter, TcpSpec, TsPrecision};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nagle-analyze"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nagle-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A client at the sender side writing 4 bytes every 1 ms over a 10 ms path
/// with Nagle on: the first write goes alone, the next ones wait for its ACK
/// and leave together (10 writes = 40 bytes) right after it.
fn nagle_capture(path: &Path) -> Vec<u8> {
    let c = "10.1.0.1:40000".parse().unwrap();
    let s = "10.1.0.2:8080".parse().unwrap();
    let mut frames: Vec<(i64, TcpSpec)> = Vec::new();
    let ms = 1_000_000i64;
    let spec = |src, dst, seq, ack, flags, payload: usize| {
        common::segment(src, dst, seq, ack, flags, vec![b'x'; payload])
    };
    frames.push((0, spec(c, s, 999, 0, SYN, 0)));
    frames.push((10 * ms, spec(s, c, 4999, 1000, SYN | ACK, 0)));
    frames.push((10 * ms + 20_000, spec(c, s, 1000, 5000, ACK, 0)));
    // Segment k leaves at 20 ms + k·10 ms; the first carries 1 write, the
    // others 10; each is ACKed 10 ms later, and the next leaves 30 µs after.
    let mut seq = 1000u32;
    for k in 0..6i64 {
        let t = 20 * ms + k * 10 * ms + if k > 0 { 30_000 } else { 0 };
        let len = if k == 0 { 4 } else { 40 };
        frames.push((t, spec(c, s, seq, 5000, PSH | ACK, len)));
        seq += len as u32;
        frames.push((t + 10 * ms, spec(s, c, 5000, seq, ACK, 0)));
    }
    write_pcap(path, &frames)
}

/// Write Ethernet frames at `base + t` ns into a pcap file; returns its bytes.
fn write_pcap(path: &Path, frames: &[(i64, TcpSpec)]) -> Vec<u8> {
    let base = 1_700_000_000_000_000_000i64;
    let data = common::pcap_nano(
        linktype::ETHERNET,
        frames
            .iter()
            .map(|(t, f)| (base + t, tcp_frame(linktype::ETHERNET, f))),
    );
    std::fs::write(path, &data).unwrap();
    data
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

/// Exit code 0, or the test fails showing what the tool said.
fn assert_ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn json_report_has_the_documented_fields_and_numbers() {
    let p = tmp("nagle.pcap");
    nagle_capture(&p);
    let out = run(&[p.to_str().unwrap(), "--format", "json", "--write-size", "4"]);
    assert_ok(&out);
    let v = json(&out);
    assert_eq!(v["schema_version"], 1);
    let cap = &v["captures"][0];
    assert_eq!(cap["format"], "pcap");
    assert_eq!(cap["link_types"], serde_json::json!([1]));
    assert_eq!(cap["frames"], 15);
    assert_eq!(cap["tcp_segments"], 15);
    assert!(cap["skipped"].is_object());
    assert_eq!(cap["first_ts"].as_f64().unwrap(), 1.7e9);
    let f = &v["flows"][0];
    assert_eq!(f["client"], "10.1.0.1:40000");
    assert_eq!(f["server"], "10.1.0.2:8080");
    assert_eq!(f["handshake_seen"], true);
    assert_eq!(f["vantage"], "client");
    let rtt = &f["rtt_ms"];
    assert!((rtt["handshake"].as_f64().unwrap() - 10.02).abs() < 1e-6);
    assert!((rtt["min"].as_f64().unwrap() - 10.0).abs() < 0.05, "{rtt}");
    let d = &f["directions"][0];
    assert_eq!(d["from"], "10.1.0.1:40000");
    assert_eq!(d["data_segments"], 6);
    assert_eq!(d["payload_bytes"], 204);
    assert_eq!(d["retransmissions"], 0);
    assert_eq!(d["mss"], 1460);
    assert_eq!(d["small_segments"], 6);
    assert_eq!(d["timestamps"], false);
    assert!(d["window_scale"].is_null());
    assert_eq!(d["write_source"], "size");
    assert_eq!(d["writes"], 51);
    assert_eq!(d["aggregated_segments"], 5);
    assert_eq!(d["writes_per_segment"]["max"], 10);
    assert_eq!(d["writes_per_segment"]["histogram"]["10"], 5);
    assert_eq!(d["ack_clocked_segments"], 5);
    assert_eq!(d["nagle"]["verdict"], "on", "{}", d["nagle"]);
    let iv = d["send_interval_ms"]["median"].as_f64().unwrap();
    assert!((iv - 10.0).abs() < 0.1, "{iv}");
}

#[test]
fn csv_has_one_row_per_direction() {
    let p = tmp("nagle-csv.pcap");
    nagle_capture(&p);
    let out = run(&[p.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("capture,flow,from,to,"));
    assert!(lines[1].contains(",10.1.0.1:40000,10.1.0.2:8080,"));
}

#[test]
fn standard_input_reads_the_same() {
    let p = tmp("nagle-stdin.pcap");
    let data = nagle_capture(&p);
    let mut child = bin()
        .args(["-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["captures"][0]["path"], "-");
    assert_eq!(v["flows"][0]["directions"][0]["data_segments"], 6);
}

#[test]
#[cfg(feature = "live")]
fn bpf_filter_applies_to_files() {
    let p = tmp("nagle-filter.pcap");
    nagle_capture(&p);
    let out = run(&[
        p.to_str().unwrap(),
        "--format",
        "json",
        "--filter",
        "tcp port 9999",
    ]);
    assert_ok(&out);
    let v = json(&out);
    assert_eq!(v["captures"][0]["frames"], 15);
    assert_eq!(v["captures"][0]["frames_matched"], 0);
    assert_eq!(v["flows"].as_array().unwrap().len(), 0);
    let out = run(&[
        p.to_str().unwrap(),
        "--format",
        "json",
        "--filter",
        "src host 10.1.0.1",
    ]);
    let v = json(&out);
    assert_eq!(v["captures"][0]["frames_matched"], 8);
}

#[test]
fn bad_filter_is_a_clear_error() {
    let p = tmp("nagle-badfilter.pcap");
    nagle_capture(&p);
    let out = run(&[p.to_str().unwrap(), "--filter", "tcp port banana"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tcp port banana"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn not_a_capture_and_missing_file_exit_1() {
    let p = tmp("text.txt");
    std::fs::write(&p, "hello, this is not a capture\n").unwrap();
    let out = run(&[p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("text.txt") && err.contains("not a pcap or pcapng"),
        "{err}"
    );

    let out = run(&["/nonexistent/x.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.pcap"));

    let empty = tmp("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let out = run(&[empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty"));
}

#[test]
fn cut_capture_reports_what_was_read_and_exits_3() {
    let p = tmp("nagle-full.pcap");
    let data = nagle_capture(&p);
    let cut = tmp("nagle-cut.pcap");
    std::fs::write(&cut, &data[..data.len() - 30]).unwrap();
    let out = run(&[cut.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(3));
    let v = json(&out);
    assert_eq!(v["captures"][0]["frames"], 14);
    assert_eq!(v["captures"][0]["damaged"], true);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("nagle-cut.pcap"),
        "{err}"
    );
}

#[test]
fn several_inputs_one_unreadable_exits_3() {
    let p = tmp("nagle-multi.pcap");
    nagle_capture(&p);
    let out = run(&[p.to_str().unwrap(), "/nonexistent.pcap", "--format", "json"]);
    assert_eq!(out.status.code(), Some(3));
    let v = json(&out);
    assert_eq!(v["captures"].as_array().unwrap().len(), 2);
    assert!(v["captures"][1]["error"]
        .as_str()
        .unwrap()
        .contains("nonexistent"));
    assert_eq!(v["flows"].as_array().unwrap().len(), 1);
}

#[test]
fn write_log_gives_exact_writes_and_delays() {
    let p = tmp("nagle-log.pcap");
    nagle_capture(&p);
    // 51 writes of 4 bytes: the first at 20 ms, then one per ms from 21 ms.
    let base = 1_700_000_000.0f64;
    let mut log = String::new();
    log.push_str(&format!(
        "{{\"t\": {:.6}, \"bytes\": 4, \"extra\": true}}\n",
        base + 0.020
    ));
    for i in 0..50 {
        log.push_str(&format!(
            "{{\"t\": {:.6}, \"bytes\": 4}}\n",
            base + 0.021 + i as f64 * 0.001
        ));
    }
    let lp = tmp("writes.jsonl");
    std::fs::write(&lp, log).unwrap();
    let out = run(&[
        p.to_str().unwrap(),
        "--format",
        "json",
        "--writes",
        lp.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let v = json(&out);
    let d = &v["flows"][0]["directions"][0];
    assert_eq!(d["write_source"], "log");
    assert_eq!(d["writes"], 51);
    assert_eq!(d["aggregated_segments"], 5);
    let wd = &d["write_delay_ms"];
    assert_eq!(wd["per_write"].as_array().unwrap().len(), 51);
    // The first write leaves at once; write 2 (21 ms) leaves at 30.03 ms.
    assert!(wd["per_write"][0].as_f64().unwrap().abs() < 0.01, "{wd}");
    assert!(
        (wd["per_write"][1].as_f64().unwrap() - 9.03).abs() < 0.01,
        "{wd}"
    );
    // The other direction carries no data and gets no log figures.
    assert!(v["flows"][0]["directions"][1]["write_source"].is_null());
}

#[test]
fn max_outstanding_limits_and_reports_forgotten_segments() {
    // 300 data segments that are never acknowledged: with
    // --max-outstanding 100, 200 are forgotten; the capture warns, the flow
    // notes it, and the byte counts are unchanged.
    let c = "10.1.0.1:40001".parse().unwrap();
    let s = "10.1.0.2:8080".parse().unwrap();
    let frames: Vec<(i64, TcpSpec)> = (0..300u32)
        .map(|i| {
            let spec = TcpSpec {
                src: c,
                dst: s,
                seq: 7000 + i * 10,
                ack: 1,
                flags: PSH | ACK,
                window: 1000,
                payload: vec![b'x'; 10],
                ..Default::default()
            };
            (i as i64 * 1_000_000, spec)
        })
        .collect();
    let p = tmp("nagle-outstanding.pcap");
    write_pcap(&p, &frames);
    let report = |extra: &[&str]| {
        let mut args = vec![p.to_str().unwrap(), "--format", "json"];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert_ok(&out);
        json(&out)
    };
    let limited = report(&["--max-outstanding", "100"]);
    let warnings = limited["captures"][0]["warnings"].to_string();
    assert!(
        warnings.contains("200 unacknowledged segments were forgotten"),
        "{warnings}"
    );
    let notes = limited["flows"][0]["notes"].to_string();
    assert!(notes.contains("200 unacknowledged segments"), "{notes}");
    let full = report(&[]);
    assert!(!full["captures"][0]["warnings"]
        .to_string()
        .contains("forgotten"));
    for r in [&limited, &full] {
        assert_eq!(r["flows"][0]["directions"][0]["payload_bytes"], 3000);
    }
}

#[test]
fn idle_timeout_splits_a_silent_connection() {
    // Two segments of one connection 10 s apart: one flow by default (no
    // SYN in between), two with --idle-timeout 5s.
    let c = "10.1.0.1:40000".parse().unwrap();
    let s = "10.1.0.2:8080".parse().unwrap();
    let frames: Vec<(i64, TcpSpec)> = [(0u32, 0i64), (1, 10_000_000_000)]
        .into_iter()
        .map(|(i, t)| {
            let spec = TcpSpec {
                src: c,
                dst: s,
                seq: 5000 + i * 4,
                ack: 1,
                flags: PSH | ACK,
                window: 1000,
                payload: b"abcd".to_vec(),
                ..Default::default()
            };
            (t, spec)
        })
        .collect();
    let p2 = tmp("nagle-idle2.pcap");
    write_pcap(&p2, &frames);
    let flows = |extra: &[&str]| {
        let mut args = vec![p2.to_str().unwrap(), "--format", "json"];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert_ok(&out);
        json(&out)["flows"].as_array().unwrap().len()
    };
    assert_eq!(flows(&[]), 1);
    assert_eq!(flows(&["--idle-timeout", "5s"]), 2);
    let bad = run(&[p2.to_str().unwrap(), "--idle-timeout", "5 parsecs"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
#[cfg(not(feature = "live"))]
fn filter_without_libpcap_is_a_clear_error() {
    let p = tmp("nagle-nolive.pcap");
    nagle_capture(&p);
    let out = run(&[p.to_str().unwrap(), "--filter", "tcp"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("built without libpcap"));
}

#[test]
fn file_truncated_while_mapped_is_an_error_not_a_crash() {
    // A plain pcap is memory-mapped; another process truncating it while it
    // is read makes the next access fault (SIGBUS). The tool must end with
    // a clear message and exit code 1, not die from the signal.
    let c = "10.1.0.1:40002".parse().unwrap();
    let s = "10.1.0.2:8080".parse().unwrap();
    let frame = tcp_frame(
        linktype::ETHERNET,
        &TcpSpec {
            src: c,
            dst: s,
            seq: 1,
            ack: 1,
            flags: PSH | ACK,
            window: 1000,
            payload: vec![b'x'; 10],
            ..Default::default()
        },
    );
    // 1.5 M frames (~100 MB): long enough to be caught while reading.
    let p = tmp("nagle-truncated.pcap");
    let mut w = PcapWriter::new(
        std::io::BufWriter::new(std::fs::File::create(&p).unwrap()),
        linktype::ETHERNET,
        65535,
        Endian::Little,
        TsPrecision::Nano,
    )
    .unwrap();
    for i in 0..1_500_000i64 {
        w.write(
            1_700_000_000_000_000_000 + i * 1000,
            &frame,
            frame.len() as u32,
        )
        .unwrap();
    }
    w.into_inner().flush().unwrap();
    let child = bin()
        .args([p.to_str().unwrap(), "--format", "json", "-o", "/dev/null"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Truncate once the file shows in the process's memory map.
    let maps = format!("/proc/{}/maps", child.id());
    let name = p.file_name().unwrap().to_str().unwrap().to_string();
    let mut truncated = false;
    for _ in 0..5000 {
        if std::fs::read_to_string(&maps).is_ok_and(|m| m.contains(&name)) {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .unwrap()
                .set_len(100)
                .unwrap();
            truncated = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if !truncated {
        // Finished before the map was seen: nothing was tested.
        panic!(
            "the analysis ended before the file could be truncated: {:?} {err}",
            out.status
        );
    }
    assert_eq!(
        out.status.code(),
        Some(1),
        "status {:?}, stderr {err}",
        out.status
    );
    assert!(err.contains("shrank while it was being read"), "{err}");
}

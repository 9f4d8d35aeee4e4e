//! The analysis against the truth on real kernel TCP: the captures the lab
//! recorded into `fixtures/lab/` (see `fixtures/README.md`), each with the
//! sender's own write log and the lab's settings (`lab.json`). No root
//! needed: these run everywhere.

use nagle_analyze::pipeline::{analyze_files, Config};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/lab")
        .join(name)
}

/// (report of the sender's direction, flow, lab.json) with the write log applied.
fn analyze(name: &str) -> (Value, Value, Value) {
    let dir = fixture(name);
    let report = analyze_files(
        &[dir.join("capture.pcap").to_string_lossy().to_string()],
        &Config {
            writes_log: Some(dir.join("writes.jsonl")),
            ..Default::default()
        },
    )
    .unwrap();
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(
        v["flows"].as_array().unwrap().len(),
        1,
        "{name}: one connection"
    );
    let flow = v["flows"][0].clone();
    let lab: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("lab.json")).unwrap()).unwrap();
    (flow["directions"][0].clone(), flow, lab)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn nagle_on_below_the_rtt_aggregates_rtt_over_interval() {
    let (d, flow, lab) = analyze("nagle-on-rtt20-int1");
    let rtt = f(&lab["requested"]["rtt_ms"]);
    let interval = f(&lab["requested"]["interval_ms"]);
    assert_eq!(flow["vantage"], "client");
    assert_eq!(d["write_source"], "log");
    assert_eq!(d["writes"], lab["counts"]["write_calls"]);
    assert_eq!(d["payload_bytes"], lab["counts"]["bytes_written"]);
    assert_eq!(d["data_segments"], lab["counts"]["sender_data_segments"]);
    assert_eq!(d["nagle"]["verdict"], "on", "{}", d["nagle"]);
    // ≈ RTT / interval writes per segment (the first segment carries one).
    let median = f(&d["writes_per_segment"]["median"]);
    assert!(
        (median - rtt / interval).abs() <= 2.0,
        "median writes/segment {median}"
    );
    // Sends paced at one RTT; path RTT within 1 ms of the achieved ping RTT.
    let ping = f(&lab["achieved"]["rtt_ping_ms"]["median"]);
    let iv = f(&d["send_interval_ms"]["median"]);
    assert!((iv - ping).abs() < 1.0, "send interval {iv} vs ping {ping}");
    let path = f(&flow["rtt_ms"]["min"]);
    assert!((path - ping).abs() < 1.0, "path RTT {path} vs ping {ping}");
    // Each held write waited on average about half an RTT.
    let mean_wait = f(&d["write_delay_ms"]["mean"]);
    assert!(
        mean_wait > 0.3 * rtt && mean_wait < 0.7 * rtt,
        "mean write delay {mean_wait}"
    );
    assert!(d["coalescing_causes"]
        .as_array()
        .unwrap()
        .contains(&"nagle".into()));
}

#[test]
fn nodelay_is_off_even_where_cwnd_coalesces() {
    let (d, _, lab) = analyze("nodelay-rtt20-int1");
    assert_eq!(lab["requested"]["nodelay"], true);
    assert_eq!(d["nagle"]["verdict"], "off", "{}", d["nagle"]);
    assert_eq!(d["data_segments"], lab["counts"]["sender_data_segments"]);
    assert!(f(&d["writes_per_segment"]["mean"]) < 1.2);
    assert!(d["nagle"]["small_while_unacked"].as_u64().unwrap() > 100);
    assert_eq!(d["stalls"]["count"], 0);
}

#[test]
fn writes_spaced_wider_than_the_rtt_are_inconclusive() {
    let (d, _, lab) = analyze("nagle-on-rtt20-int30");
    assert!(f(&lab["requested"]["interval_ms"]) > f(&lab["requested"]["rtt_ms"]));
    assert_eq!(d["nagle"]["verdict"], "inconclusive", "{}", d["nagle"]);
    assert!(d["nagle"]["evidence"][0]
        .as_str()
        .unwrap()
        .contains("wider than the RTT"));
    assert_eq!(d["aggregated_segments"], 0);
    assert_eq!(d["writes_per_segment"]["max"], 1);
}

#[test]
fn write_write_read_stalls_on_the_delayed_ack() {
    let (d, flow, lab) = analyze("reqresp-rtt20");
    let requests = lab["counts"]["replies"].as_u64().unwrap();
    assert_eq!(d["nagle"]["verdict"], "on", "{}", d["nagle"]);
    // Every request but the first (sent while the connection was in quick
    // ACK mode) waits for the server's delayed ACK timer.
    let stalls = d["stalls"]["count"].as_u64().unwrap();
    assert!(
        stalls + 2 >= requests && stalls <= requests,
        "{stalls} stalls for {requests} requests"
    );
    let timer = f(&d["ack_delay_ms"]["timer_ms"]);
    assert!(
        (35.0..=50.0).contains(&timer),
        "delayed-ACK timer {timer} ms"
    );
    // Each stall costs the request the delayed ACK and the held body's own
    // trip: timer + RTT (about 40 + 20 ms here), as the client measures it.
    let per_stall = f(&d["stalls"]["total_ms"]) / stalls as f64;
    let rtt = f(&lab["requested"]["rtt_ms"]);
    assert!(
        (per_stall - (timer + rtt)).abs() < 5.0,
        "{per_stall} ms per stall, timer {timer} + RTT {rtt}"
    );
    for e in d["stalls"]["events"].as_array().unwrap() {
        assert!(f(&e["ack_delay_ms"]) >= timer / 2.0, "{e}");
        assert!(e["frame"].as_u64().unwrap() >= 1, "{e}");
    }
    // The path RTT is not fooled by the delayed ACKs.
    let path = f(&flow["rtt_ms"]["min"]);
    assert!(
        (path - f(&lab["requested"]["rtt_ms"])).abs() < 1.5,
        "path RTT {path}"
    );
    // The log belongs to the client's direction, not the server's replies.
    assert_ne!(flow["directions"][1]["write_source"], "log");
    assert_eq!(d["write_source"], "log");
}

//! The analysis against the simulator's truth (`nagle_testkit::synth`): the
//! classic Nagle experiment (small writes faster than the RTT, Nagle on and
//! off, writes slower than the RTT), write-write-read request/response with
//! a 40 ms delayed ACK, path RTT, and loss. Captures are taken at the
//! sender, as the simulator writes them. No root, no timing assertions on
//! the analyzer's own speed.

use nagle_analyze::pipeline::{analyze_files, Config};
use nagle_analyze::report::{Direction, Flow, Report};
use nagle_testkit::synth::{self, AckPolicy, FileSink, FlowSpec, FlowTruth, Workload};
use std::path::PathBuf;

const MS: i64 = 1_000_000;

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("synth_nagle");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Simulate `specs` into `name.pcap` (+ `name.jsonl`, the first flow's write
/// log); return the truths and the paths.
fn capture(name: &str, specs: Vec<FlowSpec>) -> (Vec<FlowTruth>, String, PathBuf) {
    let pcap = tmp(&format!("{name}.pcap"));
    let log = tmp(&format!("{name}.jsonl"));
    let mut sink = FileSink::create(&pcap, false).unwrap();
    let truths = synth::simulate(specs, &mut sink).unwrap();
    sink.finish().unwrap();
    let mut f = std::fs::File::create(&log).unwrap();
    truths[0].write_log_jsonl(&mut f).unwrap();
    (truths, pcap.to_string_lossy().into_owned(), log)
}

fn analyze(pcap: &str, cfg: Config) -> Report {
    analyze_files(&[pcap.to_string()], &cfg).unwrap()
}

fn by_size(n: u32) -> Config {
    Config {
        write_size: Some(n),
        ..Default::default()
    }
}

fn by_log(log: &std::path::Path) -> Config {
    Config {
        writes_log: Some(log.to_path_buf()),
        ..Default::default()
    }
}

/// The client→server direction of the flow of `truth`.
fn c2s<'a>(r: &'a Report, t: &FlowTruth) -> (&'a Flow, &'a Direction) {
    let client = t.client.unwrap().to_string();
    let f = r
        .flows
        .iter()
        .find(|f| f.client == client)
        .unwrap_or_else(|| panic!("no flow for {client}"));
    let d = f.directions.iter().find(|d| d.from == client).unwrap();
    (f, d)
}

fn within(x: f64, want: f64, rel: f64) -> bool {
    (x - want).abs() <= rel * want.abs()
}

fn periodic(rtt: i64, size: u32, interval: i64, count: u32, nagle: bool) -> FlowSpec {
    let mut s = FlowSpec::new(
        rtt,
        Workload::Periodic {
            size,
            interval_ns: interval,
            count,
        },
    );
    s.nagle = nagle;
    s
}

/// Checks shared by the write-size and write-log runs of a Nagle-on flow.
fn check_nagle_on(d: &Direction, t: &FlowTruth, rtt: i64, interval: i64, how: &str) {
    assert_eq!(d.nagle.verdict, "on", "{how}: {:?}", d.nagle.evidence);
    let want = rtt as f64 / interval as f64;
    let mean = d.writes_per_segment.as_ref().unwrap().mean.unwrap();
    assert!(
        within(mean, want, 0.25),
        "{how}: writes/segment {mean} vs {want}"
    );
    assert!(
        within(mean, t.writes_per_segment_mean(), 1e-9),
        "{how}: writes/segment {mean} vs truth {}",
        t.writes_per_segment_mean()
    );
    assert_eq!(
        d.aggregated_segments,
        Some(t.aggregated_segments()),
        "{how}: aggregated segments"
    );
    assert_eq!(
        d.writes_per_segment.as_ref().unwrap().histogram,
        t.writes_histogram(),
        "{how}: histogram"
    );
    let med = d.send_interval_ms.median.unwrap();
    let rtt_ms = rtt as f64 / 1e6;
    assert!(
        within(med, rtt_ms, 0.20),
        "{how}: median send interval {med} ms vs RTT {rtt_ms} ms"
    );
    assert_eq!(d.data_segments, t.data_segments().count() as u64);
}

#[test]
fn nagle_on_small_writes_faster_than_rtt() {
    for (rtt, interval) in [(40 * MS, 5 * MS), (10 * MS, MS), (MS, MS / 10)] {
        let name = format!("on_{rtt}_{interval}");
        let (truths, pcap, log) = capture(&name, vec![periodic(rtt, 4, interval, 300, true)]);
        let t = &truths[0];
        assert!(t.closed);

        let r = analyze(&pcap, by_size(4));
        let (f, d) = c2s(&r, t);
        check_nagle_on(d, t, rtt, interval, &format!("{name} size"));
        assert_eq!(
            d.write_source.as_ref().map(ToString::to_string).as_deref(),
            Some("size")
        );
        let min = f.rtt_ms.min.unwrap();
        assert!(within(min, rtt as f64 / 1e6, 0.05), "{name}: rtt {min}");

        let r = analyze(&pcap, by_log(&log));
        let (_, d) = c2s(&r, t);
        check_nagle_on(d, t, rtt, interval, &format!("{name} log"));
        assert_eq!(
            d.write_source.as_ref().map(ToString::to_string).as_deref(),
            Some("log")
        );
        assert_eq!(d.writes, Some(300));
        let wd = d.write_delay_ms.as_ref().expect("write delays with a log");
        assert_eq!(wd.per_write.len(), 300);
        // A held write waits at most one RTT (plus serialization).
        assert!(wd.max.unwrap() <= rtt as f64 / 1e6 * 1.05, "{wd:?}");
    }
}

#[test]
fn nagle_off_one_write_per_segment() {
    // 8 writes per RTT stay inside the initial congestion window (10).
    let (rtt, interval) = (40 * MS, 5 * MS);
    let (truths, pcap, log) = capture("off", vec![periodic(rtt, 4, interval, 300, false)]);
    let t = &truths[0];
    assert_eq!(t.aggregated_segments(), 0);
    for cfg in [by_size(4), by_log(&log)] {
        let r = analyze(&pcap, cfg);
        let (f, d) = c2s(&r, t);
        assert_eq!(d.nagle.verdict, "off", "{:?}", d.nagle.evidence);
        let w = d.writes_per_segment.as_ref().unwrap();
        assert_eq!(w.mean, Some(1.0));
        assert_eq!(w.max, Some(1));
        assert_eq!(d.aggregated_segments, Some(0));
        let med = d.send_interval_ms.median.unwrap();
        assert!(within(med, 5.0, 0.05), "send interval {med}");
        assert!(within(f.rtt_ms.min.unwrap(), 40.0, 0.05));
    }
}

#[test]
fn nagle_off_with_cwnd_coalescing_is_still_off() {
    // 40 writes per RTT against an initial window of 10 segments: the
    // congestion window coalesces writes at first; that is not Nagle.
    let mut s = periodic(40 * MS, 4, MS, 400, false);
    s.max_cwnd = 10;
    let (truths, pcap, _) = capture("off_cwnd", vec![s]);
    let t = &truths[0];
    assert!(t.aggregated_segments() > 0, "the scenario must coalesce");
    let r = analyze(&pcap, by_size(4));
    let (_, d) = c2s(&r, t);
    assert_eq!(d.nagle.verdict, "off", "{:?}", d.nagle.evidence);
    assert_eq!(d.aggregated_segments, Some(t.aggregated_segments()));
    assert!(
        d.coalescing_causes.iter().any(|c| *c == "cwnd"),
        "{:?}",
        d.coalescing_causes
    );
}

#[test]
fn writes_slower_than_rtt_are_inconclusive() {
    let (truths, pcap, log) = capture("slow", vec![periodic(40 * MS, 4, 60 * MS, 50, true)]);
    let t = &truths[0];
    assert_eq!(t.aggregated_segments(), 0);
    for cfg in [by_size(4), by_log(&log)] {
        let r = analyze(&pcap, cfg);
        let (_, d) = c2s(&r, t);
        assert_eq!(d.nagle.verdict, "inconclusive", "{:?}", d.nagle.evidence);
        assert_eq!(d.aggregated_segments, Some(0));
        assert_eq!(d.writes_per_segment.as_ref().unwrap().mean, Some(1.0));
    }
}

fn reqresp(rtt: i64, nagle: bool, requests: u32) -> FlowSpec {
    let mut s = FlowSpec::new(
        rtt,
        Workload::RequestResponse {
            parts: vec![40, 120],
            response: 600,
            requests,
            think_ns: 10 * MS,
        },
    );
    s.nagle = nagle;
    s.server_ack = AckPolicy::Delayed { timer_ns: 40 * MS };
    s
}

#[test]
fn write_write_read_stalls_on_delayed_ack() {
    let requests = 20;
    let (truths, pcap, log) = capture("wwr_on", vec![reqresp(2 * MS, true, requests)]);
    let t = &truths[0];
    assert_eq!(t.stalls, requests as u64, "simulator truth");
    for cfg in [Config::default(), by_log(&log)] {
        let r = analyze(&pcap, cfg);
        let (f, d) = c2s(&r, t);
        let n = d.stalls.count as i64;
        assert!(
            (n - requests as i64).abs() <= 1,
            "stalls {n} vs {requests} requests: {:?}",
            d.stalls
        );
        for e in &d.stalls.events {
            assert!(within(e.ms, 40.0, 0.1), "stall of {} ms", e.ms);
        }
        let timer = d
            .ack_delay_ms
            .timer_ms
            .expect("a delayed-ACK timer cluster");
        assert!(within(timer, 40.0, 0.1), "timer {timer} ms");
        assert!(within(f.rtt_ms.min.unwrap(), 2.0, 0.05), "{:?}", f.rtt_ms);
    }
}

/// Each request's second write waited for the (delayed) ACK of the first
/// and left within microseconds of it: that is Nagle holding a segment.
#[test]
fn write_write_read_verdict_is_on() {
    let (truths, pcap, log) = capture("wwr_on_v", vec![reqresp(2 * MS, true, 20)]);
    let t = &truths[0];
    for cfg in [Config::default(), by_log(&log)] {
        let r = analyze(&pcap, cfg);
        let (_, d) = c2s(&r, t);
        assert_eq!(d.nagle.verdict, "on", "{:?}", d.nagle.evidence);
    }
}

#[test]
fn write_write_read_without_nagle_has_no_stalls() {
    let (truths, pcap, _) = capture("wwr_off", vec![reqresp(2 * MS, false, 20)]);
    let t = &truths[0];
    assert_eq!(t.stalls, 0);
    let r = analyze(&pcap, Config::default());
    let (_, d) = c2s(&r, t);
    assert_eq!(d.stalls.count, 0, "{:?}", d.stalls);
    assert_ne!(d.nagle.verdict, "on", "{:?}", d.nagle.evidence);
}

#[test]
fn path_rtt_min_matches_configured_rtt() {
    // Delayed ACKs at the receiver must not inflate the path RTT.
    let rtts = [200_000, 2 * MS, 40 * MS, 150 * MS];
    let specs: Vec<FlowSpec> = rtts
        .iter()
        .enumerate()
        .map(|(i, &rtt)| {
            let mut s = periodic(rtt, 100, 3 * MS, 40, i % 2 == 0);
            s.client.set_port(20_000 + i as u16);
            s.server_ack = AckPolicy::Delayed { timer_ns: 40 * MS };
            s
        })
        .collect();
    let (truths, pcap, _) = capture("rtts", specs);
    let r = analyze(&pcap, Config::default());
    assert_eq!(r.flows.len(), rtts.len());
    for (t, rtt) in truths.iter().zip(rtts) {
        let (f, _) = c2s(&r, t);
        let min = f.rtt_ms.min.unwrap();
        assert!(
            within(min, rtt as f64 / 1e6, 0.05),
            "rtt {min} ms vs {rtt} ns"
        );
        assert_eq!(f.vantage, "client");
    }
}

fn bulk_spec() -> FlowSpec {
    let mut s = FlowSpec::new(
        20 * MS,
        Workload::Bulk {
            bytes: 3_000_000,
            chunk: 65_536,
        },
    );
    s.loss = 0.01;
    s.max_cwnd = 64;
    s.server_ack = AckPolicy::Delayed { timer_ns: 40 * MS };
    s.seed = 7;
    s
}

#[test]
fn bulk_with_loss_rtt_mss_and_verdict() {
    let (truths, pcap, _) = capture("bulk_v", vec![bulk_spec()]);
    let t = &truths[0];
    assert!(t.segments.iter().any(|s| s.retransmission));
    let r = analyze(&pcap, Config::default());
    let (f, d) = c2s(&r, t);
    assert_eq!(d.mss, Some(synth::MSS));
    // Full segments only (but the last): Nagle cannot be judged, and loss
    // recovery must not make it look "off".
    assert_ne!(d.nagle.verdict, "off", "{:?}", d.nagle.evidence);
    assert!(within(f.rtt_ms.min.unwrap(), 20.0, 0.05), "{:?}", f.rtt_ms);
}

/// At the sender, a segment whose bytes were already sent is a
/// retransmission, however soon after the highest segment it leaves.
#[test]
fn bulk_with_loss_counts_segments_and_retransmissions() {
    let (truths, pcap, _) = capture("bulk_c", vec![bulk_spec()]);
    let t = &truths[0];
    let retx = t.segments.iter().filter(|s| s.retransmission).count() as u64;
    assert_eq!(retx, 21, "simulator truth for seed 7");
    let r = analyze(&pcap, Config::default());
    let (_, d) = c2s(&r, t);
    assert_eq!(d.payload_bytes, 3_000_000);
    assert_eq!(d.retransmissions, retx);
    assert_eq!(d.out_of_order, 0);
    assert_eq!(d.data_segments, t.data_segments().count() as u64);
}

#[test]
fn benchmark_mix_is_read_completely() {
    let p = synth::MixParams {
        packets: 20_000,
        flows: 100,
        ..Default::default()
    };
    let pcap = tmp("mix.pcap");
    let mut sink = FileSink::create(&pcap, false).unwrap();
    let (frames, conns) = synth::bench_mix(&p, &mut sink).unwrap();
    sink.finish().unwrap();
    assert_eq!(frames, 20_000);
    let r = analyze(pcap.to_str().unwrap(), Config::default());
    let c = &r.captures[0];
    assert_eq!(c.frames, 20_000);
    assert_eq!(c.tcp_segments, 20_000);
    assert!(!c.damaged);
    assert_eq!(r.flows.len() as u64, conns);
}

#[test]
fn pcapng_output_reads_the_same() {
    let spec = periodic(10 * MS, 4, MS, 100, true);
    let pcapng = tmp("same.pcapng");
    let mut sink = FileSink::create(&pcapng, true).unwrap();
    synth::simulate(vec![spec.clone()], &mut sink).unwrap();
    sink.finish().unwrap();
    let (_, pcap, _) = capture("same", vec![spec]);
    let a = analyze(&pcap, by_size(4));
    let b = analyze(pcapng.to_str().unwrap(), by_size(4));
    assert_eq!(b.captures[0].format.as_deref(), Some("pcapng"));
    let ja = serde_json::to_value(&a.flows).unwrap();
    let jb = serde_json::to_value(&b.flows).unwrap();
    assert_eq!(ja, jb);
}

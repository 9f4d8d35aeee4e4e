//! The advice rules (`nagle_analyze::advice`), each against a capture that
//! shows its pattern: simulated request/response (`synth`), hand-built
//! captures (`nagle_testkit::writer`) for keep-alive, zero window, SYN
//! retransmission and window- or send-buffer-limited transfers, the lab
//! fixtures, and the public corpus (`NAGLE_CORPUS`).

use nagle_testkit::helpers as common;

use nagle_analyze::capture::linktype;
use nagle_analyze::decode::flags::{ACK, PSH, SYN};
use nagle_analyze::pipeline::{analyze_files, Config};
use nagle_analyze::report::{Advice, Flow, Report};
use nagle_testkit::synth::{self, AckPolicy, FileSink, FlowSpec, Workload};
use nagle_testkit::writer::{tcp_frame, Endian, PcapWriter, TcpSpec, TsPrecision};
use std::net::SocketAddr;
use std::path::PathBuf;

const MS: i64 = 1_000_000;
const T0: i64 = 1_700_000_000_000_000_000;

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("advice");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn analyze(path: &str, cfg: &Config) -> Report {
    analyze_files(&[path.to_string()], cfg).unwrap()
}

fn find<'a>(f: &'a Flow, option: &str) -> Vec<&'a Advice> {
    f.advice.iter().filter(|a| a.option == option).collect()
}

fn options(f: &Flow) -> Vec<String> {
    f.advice
        .iter()
        .map(|a| format!("{} {}", a.option, a.side))
        .collect()
}

/// Ordered most costly first.
fn assert_ordered(f: &Flow) {
    let t: Vec<f64> = f
        .advice
        .iter()
        .map(|a| a.saving_ms.unwrap_or(-1.0))
        .collect();
    assert!(t.windows(2).all(|w| w[0] >= w[1]), "not ordered: {t:?}");
}

// ---------------------------------------------------------------- synth

fn synth_capture(name: &str, spec: FlowSpec) -> String {
    let pcap = tmp(&format!("{name}.pcap"));
    let mut sink = FileSink::create(&pcap, false).unwrap();
    synth::simulate(vec![spec], &mut sink).unwrap();
    sink.finish().unwrap();
    pcap.to_string_lossy().into_owned()
}

fn reqresp(nagle: bool) -> FlowSpec {
    let mut s = FlowSpec::new(
        10 * MS,
        Workload::RequestResponse {
            parts: vec![100, 100],
            response: 200,
            requests: 10,
            think_ns: 5 * MS,
        },
    );
    s.nagle = nagle;
    s.server_ack = AckPolicy::Delayed { timer_ns: 40 * MS };
    s
}

#[test]
fn nagle_delayed_ack_stalls_give_nodelay_and_quickack() {
    let p = synth_capture("reqresp-nagle", reqresp(true));
    let r = analyze(&p, &Config::default());
    let f = &r.flows[0];
    let d = &f.directions[0];
    assert!(d.stalls.count >= 5, "{:?}", d.stalls.count);
    let nd = find(f, "TCP_NODELAY");
    assert_eq!(nd.len(), 1, "{:?}", options(f));
    assert_eq!(nd[0].side, "client");
    assert_eq!(nd[0].address, f.client);
    let saving = nd[0].saving_ms.unwrap();
    assert!((saving - d.stalls.total_ms).abs() < 1e-6);
    // Each stall is the 40 ms timer less the path: ~30-40 ms.
    assert!(saving > d.stalls.count as f64 * 25.0, "{saving}");
    let qa = find(f, "TCP_QUICKACK");
    assert_eq!(qa.len(), 1);
    assert_eq!(qa[0].side, "server");
    // Two writes per request, one segment would do: corking saves one
    // packet per request.
    let cork = find(f, "TCP_CORK");
    assert_eq!(cork.len(), 1, "{:?}", options(f));
    assert_eq!(cork[0].side, "client");
    assert!(cork[0].saving_packets.unwrap() >= 9);
    // The client speaks first, but right behind its handshake ACK:
    // nothing to defer, no TCP_DEFER_ACCEPT.
    assert!(find(f, "TCP_DEFER_ACCEPT").is_empty(), "{:?}", options(f));
    assert_eq!(f.advice[0].option, "TCP_NODELAY");
    assert_ordered(f);
}

#[test]
fn nodelay_flow_gets_no_nodelay_advice_but_cork() {
    let p = synth_capture("reqresp-nodelay", reqresp(false));
    let r = analyze(&p, &Config::default());
    let f = &r.flows[0];
    assert!(find(f, "TCP_NODELAY").is_empty(), "{:?}", options(f));
    assert!(find(f, "TCP_QUICKACK").is_empty(), "{:?}", options(f));
    let cork = find(f, "TCP_CORK");
    assert_eq!(cork.len(), 1, "{:?}", options(f));
    assert_eq!(cork[0].saving_packets, Some(10));
}

// ---------------------------------------------------------------- writer

const C: &str = "10.0.0.1:40000";
const S: &str = "10.0.0.2:80";

struct Cap {
    frames: Vec<(i64, Vec<u8>)>,
    c: SocketAddr,
    s: SocketAddr,
    cseq: u32,
    sseq: u32,
}

impl Cap {
    fn new() -> Self {
        Cap {
            frames: Vec::new(),
            c: C.parse().unwrap(),
            s: S.parse().unwrap(),
            cseq: 1000,
            sseq: 5000,
        }
    }
    /// A segment at `t_ms`; `from_client`; payload length; window.
    fn seg(&mut self, t_ms: f64, from_client: bool, flags: u8, seq: u32, len: usize, win: u16) {
        let (src, dst, ack) = if from_client {
            (self.c, self.s, self.sseq)
        } else {
            (self.s, self.c, self.cseq)
        };
        let spec = TcpSpec {
            src,
            dst,
            seq,
            ack,
            flags,
            window: win,
            mss: (flags & SYN != 0).then_some(1460),
            payload: vec![b'x'; len],
            ..Default::default()
        };
        self.frames
            .push((T0 + (t_ms * 1e6) as i64, tcp_frame(linktype::RAW, &spec)));
    }
    /// Handshake at 0 with the given RTT (capture at the client).
    fn handshake(&mut self, rtt_ms: f64) {
        let (cs, ss) = (self.cseq, self.sseq);
        self.seg(0.0, true, SYN, cs, 0, 65535);
        self.cseq += 1;
        self.seg(rtt_ms, false, SYN | ACK, ss, 0, 65535);
        self.sseq += 1;
        self.seg(rtt_ms, true, ACK, cs + 1, 0, 65535);
    }
    fn write(&mut self, name: &str) -> String {
        let p = tmp(name);
        let f = std::fs::File::create(&p).unwrap();
        let mut w =
            PcapWriter::new(f, linktype::RAW, 65535, Endian::Little, TsPrecision::Nano).unwrap();
        for (t, fr) in &self.frames {
            w.write(*t, fr, fr.len() as u32).unwrap();
        }
        drop(w);
        p.to_string_lossy().into_owned()
    }
}

#[test]
fn keepalive_probes_report_idle_and_interval() {
    let mut c = Cap::new();
    c.handshake(1.0);
    let s0 = c.cseq;
    c.seg(2.0, true, ACK | PSH, s0, 100, 65535);
    c.cseq += 100;
    c.seg(3.0, false, ACK, c.sseq, 0, 65535);
    // 45 s idle, then unanswered probes 15 s apart (one byte below next).
    for k in 0..3 {
        let t = 2.0 + 45_000.0 + k as f64 * 15_000.0;
        let seq = c.cseq - 1;
        c.seg(t, true, ACK, seq, 0, 65535);
    }
    let p = c.write("keepalive.pcap");
    let r = analyze(&p, &Config::default());
    let f = &r.flows[0];
    let ka = find(f, "SO_KEEPALIVE");
    assert_eq!(ka.len(), 1, "{:?}", options(f));
    assert_eq!(ka[0].side, "client");
    let ev = ka[0].evidence.join(" | ");
    assert!(ev.contains("3 keep-alive probe(s)"), "{ev}");
    assert!(ev.contains("after 45.0 s idle"), "{ev}");
    assert!(ev.contains("15.0 s apart"), "{ev}");
    assert!(ev.contains("7200 s"), "{ev}");
}

#[test]
fn zero_window_stall_total_time() {
    let mut c = Cap::new();
    c.handshake(1.0);
    let mut t = 2.0;
    for _ in 0..4 {
        let s0 = c.cseq;
        c.seg(t, true, ACK, s0, 1000, 65535);
        c.cseq += 1000;
        t += 1.0;
    }
    // The server closes its window for 500 ms; the client probes it.
    c.seg(t, false, ACK, c.sseq, 0, 0);
    c.seg(t + 200.0, true, ACK, c.cseq - 1, 0, 65535);
    c.seg(t + 201.0, false, ACK, c.sseq, 0, 0);
    c.seg(t + 500.0, false, ACK, c.sseq, 0, 8000);
    let p = c.write("zerowin.pcap");
    let r = analyze(&p, &Config::default());
    let f = &r.flows[0];
    let zw: Vec<_> = find(f, "SO_RCVBUF");
    assert_eq!(zw.len(), 1, "{:?}", options(f));
    assert_eq!(zw[0].side, "server");
    assert!((zw[0].saving_ms.unwrap() - 500.0).abs() < 0.01);
    assert!(zw[0].evidence[0].contains("1 episode(s)"));
    // The window probe is not a keep-alive.
    assert!(find(f, "SO_KEEPALIVE").is_empty(), "{:?}", options(f));
}

#[test]
fn retransmitted_syns_give_backlog_advice() {
    let mut c = Cap::new();
    let cs = c.cseq;
    c.seg(0.0, true, SYN, cs, 0, 65535);
    c.seg(1000.0, true, SYN, cs, 0, 65535);
    c.seg(3000.0, true, SYN, cs, 0, 65535);
    c.cseq += 1;
    let ss = c.sseq;
    c.seg(3001.0, false, SYN | ACK, ss, 0, 65535);
    c.sseq += 1;
    c.seg(3001.1, true, ACK, cs + 1, 0, 65535);
    // The server resends its SYN/ACK although the ACK came: accept queue full.
    c.seg(4001.0, false, SYN | ACK, ss, 0, 65535);
    let p = c.write("synretx.pcap");
    let r = analyze(&p, &Config::default());
    let f = &r.flows[0];
    let b = find(f, "listen backlog");
    assert_eq!(b.len(), 1, "{:?}", options(f));
    assert_eq!(b[0].side, "server");
    assert!((b[0].saving_ms.unwrap() - 3001.0).abs() < 0.01);
    let ev = b[0].evidence.join(" | ");
    assert!(ev.contains("SYN 3 times"), "{ev}");
    assert!(
        ev.contains("SYN/ACK 2 times although the client's ACK was seen"),
        "{ev}"
    );
}

#[test]
fn clean_handshake_gives_no_backlog_advice() {
    let mut c = Cap::new();
    c.handshake(1.0);
    let s0 = c.cseq;
    c.seg(2.0, true, ACK | PSH, s0, 100, 65535);
    let p = c.write("clean.pcap");
    let r = analyze(&p, &Config::default());
    assert!(find(&r.flows[0], "listen backlog").is_empty());
}

/// An ACK-clocked bulk transfer from the client: `inflight` segments of
/// 1460 bytes always outstanding, each ACKed one RTT (50 ms) later, the
/// server advertising `win`.
fn bulk(name: &str, win: u16, inflight: usize, segments: usize) -> String {
    let mut c = Cap::new();
    c.handshake(50.0);
    let base = c.cseq;
    let mut sent: Vec<f64> = Vec::new();
    let mut events: Vec<(f64, bool, u32)> = Vec::new(); // (t, is_data, seq or ack)
    for k in 0..segments {
        let t = if k < inflight {
            51.0 + k as f64 * 0.1
        } else {
            sent[k - inflight] + 50.0
        };
        sent.push(t);
        events.push((t, true, base + (k * 1460) as u32));
        events.push((t + 50.0 - 0.001, false, base + ((k + 1) * 1460) as u32));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (t, data, v) in events {
        if data {
            c.seg(t, true, ACK, v, 1460, 65535);
        } else {
            c.cseq = v;
            let ss = c.sseq;
            c.seg(t, false, ACK, ss, 0, win);
        }
    }
    c.write(name)
}

#[test]
fn receive_window_limited_transfer_gets_rcvbuf_advice() {
    let p = bulk("rwnd.pcap", 16384, 11, 400);
    let r = analyze(&p, &Config::default());
    let f = &r.flows[0];
    let a = find(f, "SO_RCVBUF");
    assert_eq!(a.len(), 1, "{:?}", options(f));
    assert_eq!(a[0].side, "server");
    assert!(a[0].saving_bytes.unwrap() >= 32768);
    let ev = a[0].evidence.join(" | ");
    assert!(ev.contains("left no room"), "{ev}");
    assert!(ev.contains("BDP"), "{ev}");
    assert!(find(f, "SO_SNDBUF").is_empty());
}

#[test]
fn send_buffer_plateau_gets_sndbuf_advice() {
    let p = bulk("sndbuf.pcap", 65535, 8, 400);
    let r = analyze(&p, &Config::default());
    let f = &r.flows[0];
    let a = find(f, "SO_SNDBUF");
    assert_eq!(a.len(), 1, "{:?}", options(f));
    assert_eq!(a[0].side, "client");
    assert!(find(f, "SO_RCVBUF").is_empty(), "{:?}", options(f));
}

// ---------------------------------------------------------------- lab

fn lab(name: &str) -> Report {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/lab")
        .join(name);
    let cfg = Config {
        writes_log: Some(dir.join("writes.jsonl")),
        ..Default::default()
    };
    analyze(&dir.join("capture.pcap").to_string_lossy(), &cfg)
}

#[test]
fn lab_reqresp_rtt20_advises_nodelay_with_the_stall_total() {
    let r = lab("reqresp-rtt20");
    let f = &r.flows[0];
    let d = &f.directions[0];
    let nd = find(f, "TCP_NODELAY");
    assert_eq!(nd.len(), 1, "{:?}", options(f));
    assert_eq!(nd[0].address, d.from);
    let s = nd[0].saving_ms.unwrap();
    assert!((s - d.stalls.total_ms).abs() < 1e-6);
    // What the client measured (lab.json): its 10 requests took their mean
    // latency each, against about one RTT (ping median) with TCP_NODELAY.
    // The saving is the stalls' cost, the ACK delay and the held request's
    // own trip: within 10 % of that.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab/reqresp-rtt20");
    let lab: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("lab.json")).unwrap()).unwrap();
    let lat = &lab["achieved"]["request_latency_ms"];
    let n = lat["n"].as_f64().unwrap();
    let measured = n
        * (lat["mean"].as_f64().unwrap()
            - lab["achieved"]["rtt_ping_ms"]["median"].as_f64().unwrap());
    assert!(
        (s - measured).abs() <= 0.1 * measured,
        "saving {s} ms, client measured {measured} ms"
    );
    assert_eq!(f.advice[0].option, "TCP_NODELAY");
    assert_ordered(f);
}

#[test]
fn lab_nodelay_rtt20_int1_gets_no_nodelay_advice() {
    let r = lab("nodelay-rtt20-int1");
    let f = &r.flows[0];
    assert!(find(f, "TCP_NODELAY").is_empty(), "{:?}", options(f));
    assert!(find(f, "TCP_QUICKACK").is_empty(), "{:?}", options(f));
    // Tinygrams with Nagle off: the header overhead is noted.
    let t = find(f, "TCP_CORK");
    assert_eq!(t.len(), 1, "{:?}", options(f));
    assert!(t[0].saving_packets.unwrap() >= 100);
}

// ---------------------------------------------------------------- corpus

/// The advice each of these public captures gets, reviewed by hand once
/// against `tcpdump -r` (see the README "Advice" section): a change in
/// behaviour shows here.
#[test]
fn corpus_advice() {
    let Some(dir) = common::corpus_dir("corpus_advice") else {
        return;
    };
    let run = |name: &str| analyze(&dir.join(name).to_string_lossy(), &Config::default());

    // 15 zero-window ACKs from the SMTP server, each its own episode,
    // 553.8 ms in all (awk over tcpdump -tt: 553.787 ms).
    let r = run("smtp_bulk_zero_window.pcap");
    let f = &r.flows[0];
    let zw = find(f, "SO_RCVBUF");
    assert_eq!(zw.len(), 1, "{:?}", options(f));
    assert_eq!(zw[0].address, "207.246.115.231:2525");
    assert!((zw[0].saving_ms.unwrap() - 553.787).abs() < 0.1);
    assert!(zw[0].evidence[0].contains("15 episode(s)"));
    assert_eq!(f.advice[0].option, "SO_RCVBUF");
    // The server speaks first (SMTP banner): no deferred accept.
    assert!(find(f, "TCP_DEFER_ACCEPT")[0]
        .action
        .starts_with("do not set"));
    assert!(find(f, "listen backlog").is_empty());

    // Flow 0: the client advertised 0 in 57 ACKs over 2 episodes, 74.98 ms.
    let r = run("http_bulk_retrans_ooo_zerowin_sack.pcap");
    let f = &r.flows[0];
    let zw = find(f, "SO_RCVBUF");
    assert_eq!(zw.len(), 1, "{:?}", options(f));
    assert_eq!(zw[0].side, "client");
    assert!((zw[0].saving_ms.unwrap() - 74.978).abs() < 0.1);
    assert!(zw[0].evidence[0].contains("57 time(s) in 2 episode(s)"));

    // The first SYN (01:40:30.000524) went unanswered; the second
    // (31.000520) got the SYN/ACK at once: 1000 ms of set-up.
    let r = run("syn_retransmit_sack_timestamps.pcap");
    let f = &r.flows[0];
    let b = find(f, "listen backlog");
    assert_eq!(b.len(), 1, "{:?}", options(f));
    assert!((b[0].saving_ms.unwrap() - 999.996).abs() < 0.1);
    assert!(b[0].evidence[0].contains("SYN 2 times"));
}

#[test]
fn defer_accept_only_when_the_request_comes_late() {
    // Periodic writes: the first leaves one interval (5 ms) after the
    // handshake, so an accept() would have returned 5 ms before the data.
    let spec = FlowSpec::new(
        10 * MS,
        Workload::Periodic {
            size: 4,
            interval_ns: 5 * MS,
            count: 20,
        },
    );
    let p = synth_capture("periodic-defer", spec);
    let r = analyze(&p, &Config::default());
    let f = &r.flows[0];
    let da = find(f, "TCP_DEFER_ACCEPT");
    assert_eq!(da.len(), 1, "{:?}", options(f));
    assert_eq!(da[0].address, f.server);
    assert!(da[0].action.starts_with("set TCP_DEFER_ACCEPT"));
    let gap: f64 = da[0].evidence[1]
        .split("followed that ACK ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|t| t.parse().ok())
        .expect("gap in the evidence");
    assert!(gap >= 1.0, "{gap}");
}

// ------------------------------------------- issue 17: advice worth acting on

/// The lab's Nagle-on capture with its write log: Nagle held 200 writes
/// for 9.8 ms each on average (no delayed-ACK stall: the receiver ACKed at
/// once), so TCP_NODELAY is advised with that measured wait as the saving,
/// and it comes first.
#[test]
fn lab_nagle_on_int1_advises_nodelay_with_the_held_writes() {
    let r = lab("nagle-on-rtt20-int1");
    let f = &r.flows[0];
    let d = &f.directions[0];
    assert_eq!(d.nagle.verdict, "on");
    assert_eq!(d.stalls.count, 0);
    let nd = find(f, "TCP_NODELAY");
    assert_eq!(nd.len(), 1, "{:?}", options(f));
    assert_eq!((nd[0].rule, nd[0].side.as_str()), ("nagle_held", "client"));
    let waits: Vec<f64> = d.write_delay_ms.as_ref().unwrap().waits().collect();
    assert_eq!(waits.len(), 200);
    let total: f64 = waits.iter().sum();
    assert!((nd[0].saving_ms.unwrap() - total).abs() < 1e-6);
    assert!(
        (total / 200.0 - 9.8).abs() < 0.1,
        "mean wait {}",
        total / 200.0
    );
    assert!(
        nd[0].evidence[0].contains("200 writes"),
        "{:?}",
        nd[0].evidence
    );
    assert!(nd[0].evidence[0].contains("9.8 ms on average"));
    // Frames of the releases Nagle held, as Wireshark numbers them.
    assert!(!nd[0].frames.is_empty());
    assert_eq!(nd[0].frames, d.nagle.evidence_frames);
    assert_eq!(f.advice[0].option, "TCP_NODELAY");
    assert_ordered(f);
}

/// Without a write log the holds' cost is not measured: no TCP_NODELAY.
/// With Nagle off (the TCP_NODELAY fixture, whose writes waited for the
/// congestion window) never, log or not.
#[test]
fn no_held_nodelay_advice_without_a_log_or_with_nagle_off() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab");
    let plain = |n: &str| {
        analyze(
            &dir.join(n).join("capture.pcap").to_string_lossy(),
            &Config::default(),
        )
    };
    let r = plain("nagle-on-rtt20-int1");
    assert!(find(&r.flows[0], "TCP_NODELAY").is_empty());
    let r = lab("nodelay-rtt20-int1");
    let f = &r.flows[0];
    assert_eq!(f.directions[0].nagle.verdict, "off");
    // Its writes did wait (for the congestion window), but that is not
    // Nagle's hold: nothing is ranked as Nagle cost, nothing advised.
    let waited: f64 = f.directions[0]
        .write_delay_ms
        .as_ref()
        .unwrap()
        .waits()
        .sum();
    assert!(waited > 5.0, "{waited}");
    assert_eq!(nagle_analyze::render::held_write_ms(&f.directions[0]), 0.0);
    assert!(find(f, "TCP_NODELAY").is_empty(), "{:?}", options(f));
}

/// Redis-style pipelining: the server answers each request with 1000
/// bytes, well below the client's window, 300 times. Bytes in flight
/// plateau at one reply, which once drew SO_SNDBUF advice "towards 2 KiB"
/// saving half the transfer; the sender was waiting for requests, not for
/// a buffer: no buffer advice.
#[test]
fn request_response_gets_no_buffer_advice() {
    let mut spec = FlowSpec::new(
        MS,
        Workload::RequestResponse {
            parts: vec![30],
            response: 1000,
            requests: 300,
            think_ns: 2 * MS,
        },
    );
    spec.server_ack = AckPolicy::Delayed { timer_ns: 40 * MS };
    let p = synth_capture("reqresp-pipelined", spec);
    let r = analyze(&p, &Config::default());
    let f = &r.flows[0];
    let s2c = &f.directions[1];
    assert!(s2c.payload_bytes >= 300_000, "{}", s2c.payload_bytes);
    assert!(s2c.data_segments >= 300);
    for o in ["SO_SNDBUF", "SO_RCVBUF"] {
        assert!(find(f, o).is_empty(), "{o}: {:?}", options(f));
    }
}

/// A browsing capture: 5 connections to one web server get the same
/// TCP_CORK and TCP_DEFER_ACCEPT advice; the report lists each once, for
/// the server, with the savings summed (JSON keeps each flow's own).
#[test]
fn corpus_browsing_advice_is_grouped_by_server() {
    let Some(dir) = common::corpus_dir("corpus_browsing_advice_is_grouped_by_server") else {
        return;
    };
    let r = analyze(
        &dir.join("http_keepalive_browsing.pcap").to_string_lossy(),
        &Config::default(),
    );
    let per_flow = |o: &str| -> Vec<&Advice> { r.flows.iter().flat_map(|f| find(f, o)).collect() };
    for o in ["TCP_CORK", "TCP_DEFER_ACCEPT"] {
        let each = per_flow(o);
        assert!(each.len() >= 5, "{o}: {}", each.len());
        let g: Vec<_> = r.advice_groups.iter().filter(|g| g.option == o).collect();
        assert_eq!(g.len(), 1, "{o}: {g:#?}");
        assert_eq!(g[0].endpoint, "192.150.187.43:80");
        assert_eq!(g[0].connections, each.len() as u64);
        let packets: u64 = each.iter().filter_map(|a| a.saving_packets).sum();
        assert_eq!(g[0].saving_packets, Some(packets));
        assert!(g[0]
            .estimated_saving
            .contains(&format!("{packets} packets in all over")));
    }
    // Ranked by total saving: CORK's packets outweigh one ACK per connection.
    assert_eq!(r.advice_groups[0].option, "TCP_CORK");
}

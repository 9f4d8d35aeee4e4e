//! Write boundaries from protocol framing, end to end through the pipeline:
//! a capture built with the writer where the sender's write log is known
//! (framing must give the same writes per segment as the log), snaplen-cut
//! payloads (framing says it could not be applied), and the public corpus
//! (`$NAGLE_CORPUS`) with figures checked by hand.

use nagle_testkit::helpers as common;

use nagle_analyze::capture::linktype;
use nagle_analyze::decode::flags::{ACK, PSH, SYN};
use nagle_analyze::framing::FramingRules;
use nagle_analyze::pipeline::{analyze_file, Config};
use nagle_analyze::report::{Direction, Flow};
use nagle_testkit::writer::{tcp_frame, Endian, PcapWriter, TcpSpec, TsPrecision};
use std::collections::BTreeMap;

const T0: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

/// A client that writes `writes` (RESP commands) and a kernel that sends
/// them grouped into segments of `seg_sizes` bytes (a write may span
/// segments, a segment may hold several writes); the server ACKs each
/// segment 1 ms later. Returns the pcap (payload cut to `cut` bytes per
/// frame when given) and the JSONL write log.
fn resp_capture(writes: &[Vec<u8>], seg_sizes: &[usize], cut: Option<usize>) -> (Vec<u8>, String) {
    let c: std::net::SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let s: std::net::SocketAddr = "10.0.0.2:6379".parse().unwrap();
    let mut w = PcapWriter::new(
        Vec::new(),
        linktype::RAW,
        65535,
        Endian::Little,
        TsPrecision::Nano,
    )
    .unwrap();
    let mut put = |ts: i64, spec: TcpSpec| {
        let f = tcp_frame(linktype::RAW, &spec);
        let hdr = f.len() - spec.payload.len();
        let n = cut.map_or(f.len(), |k| (hdr + k).min(f.len()));
        w.write(ts, &f[..n], f.len() as u32).unwrap();
    };
    let spec = |src, dst, seq, ack, flags, payload: Vec<u8>| TcpSpec {
        src,
        dst,
        seq,
        ack,
        flags,
        mss: (flags & SYN != 0).then_some(1460),
        payload,
        ..TcpSpec::default()
    };
    put(T0, spec(c, s, 0, 0, SYN, vec![]));
    put(T0 + MS, spec(s, c, 0, 1, SYN | ACK, vec![]));
    put(T0 + 2 * MS, spec(c, s, 1, 1, ACK, vec![]));
    let stream: Vec<u8> = writes.concat();
    assert_eq!(stream.len(), seg_sizes.iter().sum::<usize>());
    let mut log = String::new();
    let mut t = T0 + 10 * MS;
    for wr in writes {
        log.push_str(&format!(
            "{{\"t\": {:.9}, \"bytes\": {}}}\n",
            t as f64 / 1e9,
            wr.len()
        ));
        t += MS / 10;
    }
    let mut off = 0usize;
    let mut ts = T0 + 20 * MS;
    for &n in seg_sizes {
        let seq = 1 + off as u32;
        put(
            ts,
            spec(c, s, seq, 1, PSH | ACK, stream[off..off + n].to_vec()),
        );
        off += n;
        put(ts + MS, spec(s, c, 1, 1 + off as u32, ACK, vec![]));
        ts += 5 * MS;
    }
    (w.into_inner(), log)
}

fn run(pcap: &[u8], cfg: &Config) -> Vec<Flow> {
    let dir = std::env::temp_dir().join(format!("nagle-framing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{}.pcap", pcap.len()));
    std::fs::write(&p, pcap).unwrap();
    analyze_file(p.to_str().unwrap(), cfg).unwrap().1
}

fn framing(v: &[&str]) -> Config {
    Config {
        framing: FramingRules::parse(v).unwrap(),
        ..Config::default()
    }
}

fn hist(d: &Direction) -> BTreeMap<u64, u64> {
    d.writes_per_segment
        .as_ref()
        .map(|w| w.histogram.clone())
        .unwrap_or_default()
}

fn cmd(args: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    v
}

#[test]
fn resp_framing_matches_the_write_log() {
    let writes: Vec<Vec<u8>> = (0..8)
        .map(|i| cmd(&["SET", &format!("key:{i}"), &"v".repeat(10 + 7 * i)]))
        .collect();
    let lens: Vec<usize> = writes.iter().map(Vec::len).collect();
    // Segments: [w0], [w1 w2], [w3 + half of w4], [rest of w4, w5, w6, w7].
    let half = lens[4] / 2;
    let segs = [
        lens[0],
        lens[1] + lens[2],
        lens[3] + half,
        lens[4] - half + lens[5] + lens[6] + lens[7],
    ];
    let (pcap, log) = resp_capture(&writes, &segs, None);
    let dir = std::env::temp_dir().join(format!("nagle-framing-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log_path = dir.join("writes.jsonl");
    std::fs::write(&log_path, log).unwrap();

    let by_log = run(
        &pcap,
        &Config {
            writes_log: Some(log_path),
            framing: FramingRules::parse(&["none"]).unwrap(),
            ..Config::default()
        },
    );
    let by_framing = run(&pcap, &framing(&["6379=resp"]));
    let auto = run(&pcap, &Config::default());
    let (l, f, a) = (
        &by_log[0].directions[0],
        &by_framing[0].directions[0],
        &auto[0].directions[0],
    );
    assert_eq!(
        l.write_source.as_ref().map(ToString::to_string).as_deref(),
        Some("log")
    );
    assert_eq!(
        f.write_source.as_ref().map(ToString::to_string).as_deref(),
        Some("framing:resp")
    );
    assert_eq!(
        a.write_source.as_ref().map(ToString::to_string).as_deref(),
        Some("framing:resp"),
        "auto detects RESP"
    );
    let expected: BTreeMap<u64, u64> =
        [(1, 1), (2, 1), (1, 1), (4, 1)]
            .iter()
            .fold(BTreeMap::new(), |mut m, (k, v)| {
                *m.entry(*k).or_default() += v;
                m
            });
    assert_eq!(hist(l), expected);
    assert_eq!(hist(f), hist(l));
    assert_eq!(f.writes, Some(8));
    assert_eq!(f.aggregated_segments, l.aggregated_segments);
    let st = f.framing.as_ref().unwrap();
    assert_eq!(
        (st.status.as_str(), st.messages, st.segments),
        ("used", 8, 4)
    );
}

#[test]
fn snaplen_cut_payload_falls_back_with_a_note() {
    let writes: Vec<Vec<u8>> = (0..6).map(|i| cmd(&["GET", &format!("k{i}")])).collect();
    let segs: Vec<usize> = writes.iter().map(Vec::len).collect();
    let (pcap, _) = resp_capture(&writes, &segs, Some(4));
    let flows = run(&pcap, &framing(&["resp"]));
    let d = &flows[0].directions[0];
    assert_ne!(
        d.write_source.as_ref().map(ToString::to_string).as_deref(),
        Some("framing:resp")
    );
    let st = d.framing.as_ref().unwrap();
    assert_eq!(st.status, "not-used");
    assert!(st.stopped.as_deref().unwrap().contains("snaplen"), "{st:?}");
    assert!(
        flows[0]
            .notes
            .iter()
            .any(|n| n.contains("could not be applied")),
        "{:?}",
        flows[0].notes
    );
}

#[test]
fn auto_on_unrecognised_bytes_equals_no_framing() {
    // Binary payload (zeros): auto recognises nothing, so every figure is
    // what inference gives with framing off.
    let writes: Vec<Vec<u8>> = (0..10).map(|_| vec![0u8; 40]).collect();
    let segs = [40, 80, 40, 120, 40, 80];
    let (pcap, _) = resp_capture(&writes, &segs, None);
    let auto = run(&pcap, &Config::default());
    let none = run(&pcap, &framing(&["none"]));
    let (a, n) = (&auto[0].directions[0], &none[0].directions[0]);
    assert_eq!(a.write_source, n.write_source);
    assert_eq!(
        a.write_source.as_ref().map(ToString::to_string).as_deref(),
        Some("inferred")
    );
    assert_eq!(hist(a), hist(n));
    assert_eq!(a.nagle.verdict, n.nagle.verdict);
    assert_eq!(a.framing.as_ref().unwrap().status, "not-recognised");
    assert!(n.framing.is_none());
}

// ------------------------------------------------------------------ corpus

fn corpus(file: &str, cfg: &Config) -> Option<Vec<Flow>> {
    let dir = common::corpus_dir("framing")?;
    let p = dir.join(file);
    assert!(p.exists(), "{} missing from the corpus", p.display());
    Some(analyze_file(p.to_str().unwrap(), cfg).unwrap().1)
}

/// Print what framing found, for the test log (`--nocapture`).
fn show(file: &str, flows: &[Flow]) {
    for f in flows {
        for (i, d) in f.directions.iter().enumerate() {
            if d.data_segments > 0 {
                eprintln!(
                    "{file} flow {} dir {i}: {} segments, source {:?}, writes {:?}, per segment {:?}",
                    f.id,
                    d.data_segments,
                    d.write_source,
                    d.writes,
                    hist(d)
                );
            }
        }
    }
}

#[test]
fn corpus_redis_benchmark() {
    let Some(flows) = corpus("redis_benchmark_sll.pcap", &Config::default()) else {
        return;
    };
    show("redis", &flows);
    // Checked with `tcpdump -A`: 15 connections, each one request segment
    // (the first an inline "PING\r\n", the others "*1\r\n$4\r\nPING\r\n"
    // or SET/GET arrays) and one reply segment ("+PONG\r\n", ...).
    assert_eq!(flows.len(), 15);
    assert_eq!(
        flows[0].directions[0]
            .write_source
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("framing:lines")
    );
    for f in &flows {
        for d in &f.directions {
            assert!(d
                .write_source
                .as_ref()
                .map(ToString::to_string)
                .as_deref()
                .unwrap()
                .starts_with("framing:"));
            assert_eq!(hist(d), BTreeMap::from([(1, 1)]));
        }
    }
    for f in &flows[1..] {
        assert_eq!(
            f.directions[0]
                .write_source
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("framing:resp")
        );
    }
}

#[test]
fn corpus_memcached_text() {
    let Some(flows) = corpus("memcached_text.cap", &Config::default()) else {
        return;
    };
    show("memcached", &flows);
    // Checked with `tcpdump -A`: the client sends "stats\r\n"; the server
    // answers in one segment with 48 "STAT ..." lines and "END" = 49 lines
    // (written in one call: framing counts messages, not calls).
    let d = &flows[0].directions;
    assert_eq!(
        d[0].write_source
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("framing:lines")
    );
    assert_eq!(hist(&d[0]), BTreeMap::from([(1, 1)]));
    assert_eq!(hist(&d[1]), BTreeMap::from([(49, 1)]));
}

#[test]
fn corpus_telnet() {
    let Some(flows) = corpus("telnet_interactive.pcap", &Config::default()) else {
        return;
    };
    show("telnet auto", &flows);
    // Telnet opens with IAC option negotiation (0xff): auto recognises
    // nothing and the figures are inference's.
    for d in &flows[0].directions {
        assert_eq!(d.framing.as_ref().unwrap().status, "not-recognised");
        assert_ne!(
            d.write_source
                .as_ref()
                .map(ToString::to_string)
                .as_deref()
                .map(|s| s.starts_with("framing")),
            Some(true)
        );
    }
    let lines = corpus("telnet_interactive.pcap", &framing(&["lines"])).unwrap();
    show("telnet lines", &lines);
    // Asked for explicitly, `lines` runs: the keystroke segments end no line
    // (0 writes), the Enter keys and the server's output lines do.
    let c2s = &lines[0].directions[0];
    let st = c2s.framing.as_ref().unwrap();
    assert_eq!(st.protocol.as_deref(), Some("lines"));
    assert!(
        st.messages >= 1 && st.messages < c2s.data_segments,
        "{st:?}"
    );
}

#[test]
fn corpus_http_keepalive() {
    let Some(flows) = corpus("http_keepalive_browsing.pcap", &Config::default()) else {
        return;
    };
    show("http", &flows);
    // Flow 0 (the first connection, checked with `tcpdump -A`):
    // 7 GET requests, one per segment; 7 responses over 78 segments, each
    // ending in its own segment (Content-Length bodies).
    let f = &flows[0];
    assert_eq!(
        f.directions[0]
            .write_source
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("framing:http1")
    );
    assert_eq!(hist(&f.directions[0]), BTreeMap::from([(1, 7)]));
    assert_eq!(f.directions[1].writes, Some(7));
    assert_eq!(hist(&f.directions[1]), BTreeMap::from([(0, 71), (1, 7)]));
    // Flow 2's response stream has a hole (7240 bytes at offset 7240 never
    // arrive in order): http1 cannot resynchronise, says so, and the
    // direction keeps the other sources.
    let d = &flows[2].directions[1];
    let st = d.framing.as_ref().unwrap();
    assert_eq!(st.status, "not-used");
    assert_eq!(
        st.stopped.as_deref(),
        Some("7240 bytes missing at offset 7240")
    );
    assert!(flows[2]
        .notes
        .iter()
        .any(|n| n.starts_with("server→client: framing:http1 could not be applied")));
}

#[test]
fn corpus_tls() {
    let Some(flows) = corpus("http_ipv6_browsing.pcap", &Config::default()) else {
        return;
    };
    show("tls", &flows);
    // Flow 3 (client port 37486), record types read by hand from
    // `tcpdump -x`: the client sends ClientHello (1 record), then
    // ClientKeyExchange + ChangeCipherSpec + Finished in one segment
    // (3 records: a handshake flight in one write, counted as 3 messages).
    let f = &flows[3];
    assert!(f.client.ends_with(":37486"));
    assert_eq!(
        f.directions[0]
            .write_source
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("framing:tls")
    );
    assert_eq!(hist(&f.directions[0]), BTreeMap::from([(1, 1), (3, 1)]));
    // Server: alert + ServerHello end in the first segment, the certificate
    // record spans three segments, the last segment holds 3 records.
    assert_eq!(
        hist(&f.directions[1]),
        BTreeMap::from([(0, 2), (2, 1), (3, 2)])
    );
}

// ------------------------------------------------------------------ loopback

/// A real HTTP/1.1 server and client (Python's http.server / http.client)
/// on loopback, captured with `tcpdump -i lo`: the client writes each of
/// its 5 requests in one call (http.client sends a body-less request in one
/// `send`), the server answers each with a Content-Length body. Framing
/// must find 5 requests, one per segment, and 5 responses. Skips (with a
/// message) without root, tcpdump or python3.
#[test]
fn loopback_python_http_keepalive() {
    use std::process::{Command, Stdio};
    let have = |c: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {c}"))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !common::is_root() || !have("tcpdump") || !have("python3") {
        eprintln!("loopback_python_http_keepalive: needs root, tcpdump and python3; skipped");
        return;
    }
    let dir = std::env::temp_dir().join(format!("nagle-framing-lo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("lo.pcap");
    let port = 20000 + (std::process::id() % 20000) as u16;
    let mut dump = Command::new("tcpdump")
        .args([
            "-Z",
            "root",
            "--immediate-mode",
            "-i",
            "lo",
            "-U",
            "-s",
            "0",
            "-w",
        ])
        .arg(&pcap)
        .arg(format!("tcp port {port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let script = format!(
        r#"
import http.server, http.client, threading
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"x" * (100 * len(self.path))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", {port}), H)
threading.Thread(target=s.serve_forever, daemon=True).start()
c = http.client.HTTPConnection("127.0.0.1", {port})
for p in ["/a", "/bb", "/ccc", "/dddd", "/eeeee"]:
    c.request("GET", p)
    c.getresponse().read()
c.close()
s.shutdown()
"#
    );
    let ok = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap()
        .success();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(dump.id().to_string())
        .status();
    let _ = dump.wait();
    assert!(ok, "python client/server failed");
    let (summary, flows) = analyze_file(pcap.to_str().unwrap(), &Config::default()).unwrap();
    // tcpdump in immediate mode: on this kernel the ring buffer's block
    // timeout never fires on an idle interface, and what is still in the
    // block when tcpdump is stopped is lost.
    assert!(summary.frames > 0, "tcpdump captured nothing on lo");
    show("loopback http", &flows);
    assert_eq!(flows.len(), 1);
    let (c2s, s2c) = (&flows[0].directions[0], &flows[0].directions[1]);
    assert_eq!(
        c2s.write_source
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("framing:http1")
    );
    assert_eq!(hist(c2s), BTreeMap::from([(1, 5)]));
    assert_eq!(s2c.writes, Some(5));
    let _ = std::fs::remove_dir_all(&dir);
}

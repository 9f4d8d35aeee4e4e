//! Hostile input shapes (issue 8): each builds its capture in memory with the
//! project's writer, runs it through the reader and `pipeline::Analyzer`, and
//! checks that the work stays bounded (flow table, outstanding segments,
//! warnings) and that every limit that bites is reported. Sizes are fixed,
//! so run time is bounded by input size; nothing is timed. One test runs
//! the binary on a long stream of short connections and compares its peak
//! RSS with that of a run a quarter as long (flat memory).

use nagle_testkit::helpers as common;

use nagle_analyze::capture::file::read_reader;
use nagle_analyze::capture::linktype;
use nagle_analyze::decode::flags::{ACK, PSH, SYN};
use nagle_analyze::flow::{Limits, MAX_OUTSTANDING};
use nagle_analyze::pipeline::{Analyzer, Config};
use nagle_analyze::report::{CaptureSummary, Flow};
use nagle_testkit::writer::{tcp_frame, PcapngWriter, TcpSpec};
use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

const T0: i64 = 1_700_000_000_000_000_000;

fn pcap(frames: impl IntoIterator<Item = (i64, TcpSpec)>) -> Vec<u8> {
    common::pcap_nano(
        linktype::RAW,
        frames
            .into_iter()
            .map(|(ts, s)| (ts, tcp_frame(linktype::RAW, &s))),
    )
}

/// Runs `bytes` through the Analyzer; returns the summary, the flows and
/// the largest live-flow count seen after any frame.
fn analyze(bytes: &[u8], limits: Option<Limits>) -> (CaptureSummary, Vec<Flow>, usize) {
    let cfg = Config {
        limits,
        ..Config::default()
    };
    let mut an = Analyzer::new(&cfg).unwrap();
    let mut peak = 0;
    let info = read_reader("hostile", Cursor::new(bytes), None, &mut |f| {
        an.frame(f);
        peak = peak.max(an.live_flows());
    })
    .unwrap();
    let (s, flows) = an.finish(info);
    (s, flows, peak)
}

fn client() -> SocketAddr {
    "192.0.2.1:40000".parse().unwrap()
}
fn server() -> SocketAddr {
    "192.0.2.2:80".parse().unwrap()
}

fn data(seq: u32, len: usize) -> TcpSpec {
    TcpSpec {
        src: client(),
        dst: server(),
        seq,
        ack: 1,
        flags: ACK | PSH,
        payload: vec![b'x'; len],
        ..TcpSpec::default()
    }
}

/// A deterministic pseudo-random sequence (no timing, no OS randomness).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

#[test]
fn syn_flood_is_capped_by_max_flows() {
    const N: u32 = 200_000;
    const MAX: usize = 10_000;
    let mut rng = Lcg(8);
    let bytes = pcap((0..N).map(|i| {
        // Distinct source addresses, random ports and ISNs: N half-open flows.
        let src = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            1024 + (rng.next() % 60000) as u16,
        );
        let spec = TcpSpec {
            src,
            dst: server(),
            seq: rng.next(),
            flags: SYN,
            mss: Some(1460),
            ..TcpSpec::default()
        };
        (T0 + i as i64 * 1000, spec)
    }));
    let limits = Limits {
        max_flows: MAX,
        ..Limits::default()
    };
    let (s, flows, peak) = analyze(&bytes, Some(limits));
    assert_eq!(s.tcp_segments, N as u64);
    assert!(peak <= MAX, "peak live flows {peak}");
    assert_eq!(
        s.peak_live_flows, MAX as u64,
        "the table filled up to the limit"
    );
    assert_eq!(flows.len(), N as usize);
    let evicted = flows.iter().filter(|f| f.evicted).count();
    assert_eq!(evicted, N as usize - MAX);
    let w = format!(
        "flow table full: {} flows were finished early",
        N as usize - MAX
    );
    assert!(
        s.warnings.iter().any(|x| x.contains(&w)),
        "{:?}",
        s.warnings
    );
}

#[test]
fn flow_that_never_acks_keeps_outstanding_capped() {
    let n = MAX_OUTSTANDING as u32 + 5000;
    let bytes = pcap((0..n).map(|i| (T0 + i as i64 * 10_000, data(1 + i * 10, 10))));
    let (s, flows, _) = analyze(&bytes, None);
    assert_eq!(flows.len(), 1);
    let w = format!(
        "{} unacknowledged segments were forgotten",
        n as usize - MAX_OUTSTANDING
    );
    assert!(
        s.warnings.iter().any(|x| x.contains(&w)),
        "{:?}",
        s.warnings
    );
}

#[test]
fn many_tiny_out_of_order_segments() {
    // 300,000 one-byte segments, each pair swapped (the full-size run of a
    // million is measured with the binary, see fuzz/README.md).
    const N: u32 = 300_000;
    let bytes = pcap((0..N).map(|i| {
        let k = i ^ 1;
        (T0 + i as i64 * 1000, data(1 + k, 1))
    }));
    let (s, flows, peak) = analyze(&bytes, None);
    assert_eq!(s.tcp_segments, N as u64);
    assert_eq!(flows.len(), 1);
    assert_eq!(peak, 1);
    let json = serde_json::to_string(&flows).unwrap();
    assert!(
        json.len() < 1 << 20,
        "report of one flow is {} bytes",
        json.len()
    );
}

#[test]
fn sequence_numbers_jumping_by_2_pow_31() {
    let bytes = pcap((0..10_000u32).map(|i| {
        let seq = 1u32
            .wrapping_add(i.wrapping_mul(1 << 31))
            .wrapping_add(i * 100);
        (T0 + i as i64 * 1_000_000, data(seq, 100))
    }));
    let (s, flows, _) = analyze(&bytes, None);
    assert_eq!(s.tcp_segments, 10_000);
    assert_eq!(flows.len(), 1);
    serde_json::to_string(&flows).unwrap();
}

#[test]
fn timestamps_going_backwards_are_counted_and_give_no_negative_rtt() {
    // Two captures of the same connection merged badly: the second half's
    // timestamps are an hour earlier than the first half's.
    let mut frames = Vec::new();
    for i in 0..2000u32 {
        let back = if i >= 1000 { 3_600_000_000_000 } else { 0 };
        let ts = T0 + i as i64 * 1_000_000 - back;
        frames.push((ts, data(1 + i * 100, 100)));
        let mut a = data(1, 0);
        (a.src, a.dst, a.seq, a.ack, a.flags) = (server(), client(), 1, 1 + (i + 1) * 100, ACK);
        frames.push((ts + 500_000, a));
    }
    let (s, flows, _) = analyze(&pcap(frames), None);
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("timestamps went backwards 1 time")),
        "{:?}",
        s.warnings
    );
    let json = serde_json::to_value(&flows).unwrap();
    let text = json.to_string();
    assert!(!text.contains("\"min\":-"), "negative RTT in {text}");
}

#[test]
fn pcapng_with_thousands_of_interfaces() {
    const IFACES: u32 = 5000;
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    for i in 0..IFACES {
        // Every 100th interface is Ethernet, the others a mix of link types.
        let lt = if i % 100 == 0 {
            linktype::ETHERNET
        } else {
            1000 + i % 200
        };
        w.add_interface(lt, 0, Some((i % 10) as u8)).unwrap();
    }
    let f = tcp_frame(linktype::ETHERNET, &data(1, 10));
    for i in 0..IFACES {
        w.write(i, T0, &f, f.len() as u32).unwrap();
    }
    let (s, _, _) = analyze(&w.into_inner(), None);
    assert_eq!(s.frames, IFACES as u64);
    assert_eq!(s.tcp_segments, (IFACES / 100) as u64);
    assert!(s.warnings.len() <= 65 + 4, "{} warnings", s.warnings.len());
}

#[test]
fn pcap_record_length_of_4_gib() {
    let mut bytes = pcap((0..3u32).map(|i| (T0 + i as i64, data(1 + i * 10, 10))));
    let offset = bytes.len();
    // Record header: ts, ts, incl = 0xffff_ffff, orig = 0xffff_ffff.
    for v in [1u32, 0, u32::MAX, u32::MAX] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes.extend_from_slice(&[0; 64]);
    let (s, flows, _) = analyze(&bytes, None);
    assert_eq!(s.frames, 3);
    assert!(s.damaged);
    assert_eq!(flows.len(), 1);
    let w = format!("at byte offset {offset}: record claims 4294967295 bytes");
    assert!(
        s.warnings.iter().any(|x| x.contains(&w)),
        "{:?}",
        s.warnings
    );

    // The same with a snaplen of 4 GiB in the file header: the record is
    // within the limit (MAX_RECORD), so it is read as cut short.
    let mut bytes = pcap([(T0, data(1, 10))]);
    bytes[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    for v in [1u32, 0, 200 << 20, 200 << 20] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes.extend_from_slice(&[0; 64]);
    let (s, _, _) = analyze(&bytes, None);
    assert_eq!(s.frames, 1);
    assert!(s.damaged);
    assert!(
        s.warnings
            .iter()
            .any(|x| x.contains("(64 of 209715200 bytes)")),
        "{:?}",
        s.warnings
    );
}

/// Peak RSS (KiB) of `nagle-analyze --format json -` reading, as a stream
/// (as a live capture reads), the benchmark mix of `packets` frames with 20
/// short connections open at once. Measured by `/usr/bin/time`, which
/// forks the tool from its own small image: a child spawned from this test
/// process would report this process's peak too (Linux keeps the largest
/// RSS across exec, and the other tests here use hundreds of MB).
fn peak_rss_of_stream_kib(packets: u64, dir: &std::path::Path) -> u64 {
    use nagle_testkit::synth::{bench_mix, MixParams};
    use nagle_testkit::writer::{Endian, PcapWriter, TsPrecision};
    use std::process::{Command, Stdio};
    let rss = dir.join(format!("rss-{packets}.txt"));
    let mut child = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss)
        .arg(env!("CARGO_BIN_EXE_nagle-analyze"))
        .args(["--format", "json", "-", "-o", "/dev/null"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = std::io::BufWriter::new(child.stdin.take().unwrap());
    let mut w = PcapWriter::new(
        stdin,
        linktype::ETHERNET,
        262_144,
        Endian::Little,
        TsPrecision::Nano,
    )
    .unwrap();
    let p = MixParams {
        packets,
        flows: 20,
        small_weight: 1,
        bulk_weight: 0,
        rtts_ns: vec![200_000],
        loss: 0.0,
        seed: 1,
    };
    let (_, conns) = bench_mix(&p, &mut w).unwrap();
    assert!(
        conns > packets / 200,
        "{conns} connections: not a churn of short ones"
    );
    drop(w);
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&rss).unwrap();
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// A long run has flat memory: four times as many successive short
/// connections (about 3,800 against 15,400) leave the peak RSS within 8 MB
/// (measured: +2 to +6.5 MB, as more of the pipeline's bounded batch
/// buffers happen to be in flight at once). 1 KB kept per finished
/// connection would add 11 MB; a report entry (~10 KB) over 100 MB.
#[test]
fn long_run_of_short_connections_has_flat_memory() {
    if !common::tools_present("hostile", &["/usr/bin/time"]) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("nagle-flat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let short = peak_rss_of_stream_kib(500_000, &dir);
    let long = peak_rss_of_stream_kib(2_000_000, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("peak RSS: {short} KiB after 500k frames, {long} KiB after 2M");
    assert!(
        long <= short + 8 * 1024,
        "peak RSS grew from {short} to {long} KiB"
    );
}

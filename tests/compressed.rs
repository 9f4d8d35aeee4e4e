//! Compressed captures (gzip, zstd) through the command line: the same
//! report as the plain file, from a path or standard input, across gzip
//! members and zstd frames; cut or corrupt streams reported as damaged
//! after the frames before the damage; compressed non-captures refused.
//! Captures are written by the project's own writer and compressed here.

use nagle_testkit::helpers as common;

use nagle_analyze::capture::linktype;
use nagle_analyze::decode::flags::{ACK, FIN, PSH, SYN};
use nagle_testkit::writer::{tcp_frame, PcapngWriter, TcpSpec};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const FLOWS: u32 = 40;
const SEGMENTS: u32 = 50;
/// Frames per flow: handshake 3, data + ACK per segment, FIN/ACK exchange 4.
const FRAMES: u64 = (FLOWS * (3 + 2 * SEGMENTS + 4)) as u64;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nagle-compressed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A small deterministic PRNG (xorshift), for payloads that do not
/// compress to nothing.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        // Half random, half text: compresses, but not to nothing.
        (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    self.next() as u8
                } else {
                    b"GET /index.html HTTP/1.1\r\n"[i % 26]
                }
            })
            .collect()
    }
}

/// `FLOWS` connections of `SEGMENTS` data segments each (100–1100 bytes),
/// interleaved in time: (timestamp ns, frame) in capture order.
fn frames() -> Vec<(i64, Vec<u8>)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let base = 1_700_000_000_000_000_000i64;
    let mut out = Vec::new();
    for k in 0..FLOWS {
        let c = format!("10.2.{}.{}:{}", k / 200, k % 200 + 1, 40000 + k)
            .parse()
            .unwrap();
        let s = "10.9.0.1:8443".parse().unwrap();
        let spec = common::segment;
        let t0 = base + k as i64 * 1_000_000;
        let mut t = t0;
        let mut push = |t: i64, sp: TcpSpec| out.push((t, tcp_frame(linktype::ETHERNET, &sp)));
        push(t, spec(c, s, 999, 0, SYN, vec![]));
        push(t + 200_000, spec(s, c, 4999, 1000, SYN | ACK, vec![]));
        push(t + 210_000, spec(c, s, 1000, 5000, ACK, vec![]));
        let mut seq = 1000u32;
        for _ in 0..SEGMENTS {
            t += 2_000_000 + (rng.next() % 1_000_000) as i64;
            let len = 100 + (rng.next() % 1000) as usize;
            push(t, spec(c, s, seq, 5000, PSH | ACK, rng.bytes(len)));
            seq += len as u32;
            push(t + 200_000, spec(s, c, 5000, seq, ACK, vec![]));
        }
        t += 5_000_000;
        push(t, spec(c, s, seq, 5000, FIN | ACK, vec![]));
        push(t + 200_000, spec(s, c, 5000, seq + 1, FIN | ACK, vec![]));
        push(t + 210_000, spec(c, s, seq + 1, 5001, ACK, vec![]));
        push(t + 220_000, spec(s, c, 5001, seq + 1, ACK, vec![]));
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

fn pcap_bytes() -> Vec<u8> {
    common::pcap_nano(linktype::ETHERNET, frames())
}

fn pcapng_bytes() -> Vec<u8> {
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    w.add_interface(linktype::ETHERNET, 65535, Some(9)).unwrap();
    for (t, f) in frames() {
        w.write(0, t, &f, f.len() as u32).unwrap();
    }
    w.into_inner()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    e.include_checksum(true).unwrap();
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Run the binary on `args` (standard input from `stdin`), failing the
/// test if it takes more than a minute (a hang).
fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nagle-analyze"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let feeder = stdin.map(|data| {
        let mut pipe = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let readers = (
        std::thread::spawn(move || {
            let mut v = Vec::new();
            out.read_to_end(&mut v).map(|_| v)
        }),
        std::thread::spawn(move || {
            let mut v = Vec::new();
            err.read_to_end(&mut v).map(|_| v)
        }),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("nagle-analyze {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let Some(f) = feeder {
        f.join().unwrap();
    }
    Output {
        status,
        stdout: readers.0.join().unwrap().unwrap(),
        stderr: readers.1.join().unwrap().unwrap(),
    }
}

fn write(name: &str, data: &[u8]) -> String {
    let p = tmp(name);
    std::fs::write(&p, data).unwrap();
    p.to_str().unwrap().to_string()
}

/// The JSON report of one input, checking the exit code.
fn report(path: &str, stdin: Option<&[u8]>, code: i32) -> Value {
    let out = run(&[path, "--format", "json"], stdin);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn capture(v: &Value) -> &Value {
    &v["captures"][0]
}

/// The capture figures that must not depend on the compression.
fn figures(v: &Value) -> Value {
    let c = capture(v);
    serde_json::json!([
        c["format"],
        c["link_types"],
        c["frames"],
        c["tcp_segments"],
        c["first_ts"],
        c["last_ts"],
        c["damaged"],
        c["warnings"]
    ])
}

/// The plain report every variant is compared to.
fn plain_report(data: &[u8], name: &str) -> Value {
    let v = report(&write(name, data), None, 0);
    assert_eq!(capture(&v)["frames"], FRAMES);
    assert_eq!(capture(&v)["damaged"], false);
    assert!(capture(&v)["compression"].is_null(), "{}", capture(&v));
    assert_eq!(v["flows"].as_array().unwrap().len(), FLOWS as usize);
    v
}

fn assert_same(plain: &Value, other: &Value, what: &str) {
    assert_eq!(figures(plain), figures(other), "{what}: capture figures");
    assert!(
        plain["flows"] == other["flows"],
        "{what}: the flows differ from the plain file's"
    );
}

#[test]
fn gzip_and_zstd_give_the_plain_report() {
    for (data, kind) in [(pcap_bytes(), "pcap"), (pcapng_bytes(), "pcapng")] {
        let plain = plain_report(&data, &format!("plain.{kind}"));
        assert_eq!(capture(&plain)["format"], kind);
        for (packed, name) in [(gzip(&data), "gzip"), (zstd(&data), "zstd")] {
            assert!(packed.len() < data.len());
            let v = report(&write(&format!("c.{kind}.{name}"), &packed), None, 0);
            assert_same(&plain, &v, name);
            assert_eq!(capture(&v)["compression"], name);
        }
    }
}

#[test]
fn detection_is_by_content_not_by_name() {
    let data = pcap_bytes();
    let plain = plain_report(&data, "name-plain.pcap");
    // gzip content named .pcap, zstd named .gz, plain named .zst.
    let v = report(&write("really-gzip.pcap", &gzip(&data)), None, 0);
    assert_eq!(capture(&v)["compression"], "gzip");
    assert_same(&plain, &v, "gzip named .pcap");
    let v = report(&write("really-zstd.gz", &zstd(&data)), None, 0);
    assert_eq!(capture(&v)["compression"], "zstd");
    assert_same(&plain, &v, "zstd named .gz");
    let v = report(&write("really-plain.zst", &data), None, 0);
    assert!(capture(&v)["compression"].is_null());
    assert_same(&plain, &v, "plain named .zst");
}

#[test]
fn standard_input_is_decompressed_too() {
    let data = pcap_bytes();
    let plain = plain_report(&data, "stdin-plain.pcap");
    for (packed, name) in [(gzip(&data), "gzip"), (zstd(&data), "zstd")] {
        let v = report("-", Some(&packed), 0);
        assert_eq!(capture(&v)["path"], "-");
        assert_eq!(capture(&v)["compression"], name);
        assert_same(&plain, &v, &format!("{name} on standard input"));
    }
}

#[test]
fn text_header_names_the_compression() {
    let data = pcap_bytes();
    let p = write("text.pcap.zst", &zstd(&data));
    let out = run(&[&p], None);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let header = format!("{p}: {FRAMES} frames (pcap zstd-compressed, EN10MB)");
    assert!(text.contains(&header), "no `{header}` in:\n{text}");
}

/// `data` cut at uneven places (inside records) into `n` pieces.
fn pieces(data: &[u8], n: usize) -> Vec<&[u8]> {
    let step = data.len() / n + 7;
    data.chunks(step).collect()
}

#[test]
fn concatenated_gzip_members() {
    let data = pcap_bytes();
    let plain = plain_report(&data, "members-plain.pcap");
    let mut packed: Vec<u8> = pieces(&data, 3).iter().flat_map(|p| gzip(p)).collect();
    let v = report(&write("members.pcap.gz", &packed), None, 0);
    assert_same(&plain, &v, "3 gzip members");
    // Zero padding after the last member is ignored, as gzip does.
    packed.extend([0u8; 4096]);
    let v = report(&write("members-padded.pcap.gz", &packed), None, 0);
    assert_same(&plain, &v, "3 gzip members and zero padding");
}

#[test]
fn several_zstd_frames() {
    let data = pcap_bytes();
    let plain = plain_report(&data, "frames-plain.pcap");
    let mut packed = Vec::new();
    for (i, p) in pieces(&data, 4).iter().enumerate() {
        packed.extend(zstd(p));
        if i == 1 {
            // A skippable frame (magic 0x184D2A50, 5 bytes of content).
            packed.extend([0x50, 0x2a, 0x4d, 0x18, 5, 0, 0, 0, 1, 2, 3, 4, 5]);
        }
    }
    let v = report(&write("frames.pcap.zst", &packed), None, 0);
    assert_same(&plain, &v, "4 zstd frames and a skippable one");
}

/// Exit 3, damaged, some frames but not all, one warning containing every
/// one of `needles`; returns that warning.
fn assert_damaged(v: &Value, needles: &[&str]) -> String {
    let c = capture(v);
    assert_eq!(c["damaged"], true, "{c}");
    let frames = c["frames"].as_u64().unwrap();
    assert!(
        frames > 0 && frames < FRAMES,
        "{frames} of {FRAMES} frames: {c}"
    );
    let warnings: Vec<&str> = c["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let w = warnings
        .iter()
        .find(|w| needles.iter().all(|n| w.contains(n)))
        .unwrap_or_else(|| panic!("no warning containing {needles:?}: {warnings:?}"));
    w.to_string()
}

#[test]
fn cut_streams_report_the_frames_before_the_cut() {
    let data = pcap_bytes();
    for (packed, name) in [(gzip(&data), "gzip"), (zstd(&data), "zstd")] {
        let cut = &packed[..packed.len() / 2];
        let p = write(&format!("cut.pcap.{name}"), cut);
        let v = report(&p, None, 3);
        assert_eq!(capture(&v)["compression"], name);
        let w = assert_damaged(
            &v,
            &[
                &format!("{p}: damaged after frame "),
                "at decompressed byte offset",
                &format!("{name} stream cut short"),
                &format!("ends at byte {}", cut.len()),
            ],
        );
        // The frame named is the last one delivered.
        let frames = capture(&v)["frames"].as_u64().unwrap();
        assert!(w.contains(&format!("after frame {frames} ")), "{w}");
        assert!(!v["flows"].as_array().unwrap().is_empty());
        // Standard input: the same.
        let s = report("-", Some(cut), 3);
        assert_eq!(capture(&s)["frames"], frames);
    }
}

#[test]
fn corrupt_bytes_in_the_middle_are_damage() {
    let data = pcap_bytes();
    for (packed, name) in [(gzip(&data), "gzip"), (zstd(&data), "zstd")] {
        let mut bad = packed.clone();
        let mid = bad.len() / 2;
        for (i, b) in bad[mid..mid + 64].iter_mut().enumerate() {
            *b ^= 0x5a ^ i as u8;
        }
        let v = report(&write(&format!("corrupt.pcap.{name}"), &bad), None, 3);
        assert_eq!(capture(&v)["compression"], name);
        // Where it is noticed depends on the format: by the decoder, or by
        // the record reader meeting garbage first; either way as damage.
        assert_damaged(&v, &["damaged after frame", "at decompressed byte offset"]);
    }
}

#[test]
fn garbage_after_a_gzip_member_is_damage_after_every_frame() {
    let data = pcap_bytes();
    let mut packed = gzip(&data);
    let end = packed.len();
    packed.extend(b"this is not gzip\n".repeat(100));
    let v = report(&write("garbage.pcap.gz", &packed), None, 3);
    let c = capture(&v);
    assert_eq!(
        (c["frames"].as_u64(), c["damaged"].as_bool()),
        (Some(FRAMES), Some(true))
    );
    let w = c["warnings"][0].as_str().unwrap();
    assert!(
        w.contains(&format!(
            "the data after gzip member 1 (from compressed byte {end}"
        )) && w.contains("is not a gzip member"),
        "{w}"
    );
    // A second member whose header is damaged is named with its offset.
    let mut two = gzip(&data[..data.len() / 2]);
    let second = two.len();
    let mut tail = gzip(&data[data.len() / 2..]);
    tail[3] = 0xff; // reserved FLG bits set: an invalid header
    two.extend(tail);
    let v = report(&write("bad-member.pcap.gz", &two), None, 3);
    assert_damaged(
        &v,
        &[
            "gzip stream corrupt",
            &format!("gzip member 2 (which starts at compressed byte {second})"),
        ],
    );
}

#[test]
fn compressed_non_captures_are_refused_clearly() {
    let text = b"hello, this is a text file and not a capture\n".repeat(10);
    for (packed, name) in [(gzip(&text), "gzip"), (zstd(&text), "zstd")] {
        let p = write(&format!("text.{name}"), &packed);
        let out = run(&[&p], None);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "{p}: {name}-compressed, but not a pcap or pcapng file once decompressed (unknown magic number; the decompressed data starts with 68 65 6c 6c"
            )),
            "{err}"
        );
    }
    let p = write("empty.gz", &gzip(b""));
    let out = run(&[&p], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gzip-compressed, but empty once decompressed"),
        "{err}"
    );
    // A gzip header and nothing decodable after it: unreadable, and said so.
    let p = write("header-only.gz", &gzip(&pcap_bytes())[..12]);
    let out = run(&[&p], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot read {p}: gzip stream cut short")),
        "{err}"
    );
}

#[test]
fn progress_counts_compressed_bytes() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let data = pcap_bytes();
    for (packed, name) in [(gzip(&data), "gzip"), (zstd(&data), "zstd")] {
        let p = write(&format!("progress.pcap.{name}"), &packed);
        let counter = std::sync::Arc::new(AtomicU64::new(0));
        let cfg = nagle_analyze::pipeline::Config {
            progress: Some(counter.clone()),
            ..Default::default()
        };
        let (summary, flows) = nagle_analyze::pipeline::analyze_file(&p, &cfg).unwrap();
        assert_eq!(summary.frames, FRAMES);
        assert_eq!(summary.compression.as_deref(), Some(name));
        assert_eq!(flows.len(), FLOWS as usize);
        // The file size, i.e. what the progress bar's total is.
        assert_eq!(
            counter.load(Ordering::Relaxed),
            packed.len() as u64,
            "{name}"
        );
    }
}

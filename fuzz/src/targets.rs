//! The bodies of the fuzz targets, as plain functions, so that
//! `tests/regressions.rs` in the main crate can replay crash reproducers
//! through exactly the same code (`#[path]`-included there; only
//! `nagle_analyze` and `serde_json` are used).
#![allow(dead_code)]

pub mod capture_reader {
    //! (a) The capture reader on arbitrary bytes: `read_reader` over a `Cursor`.
    //! Every delivered frame is also decoded, so the reader's output is checked
    //! against the decoder's contract too.
    use nagle_analyze::capture::file::{is_capture_magic, read_bytes, read_reader};
    use nagle_analyze::decode::decode;

    pub fn capture_reader(data: &[u8]) {
        let mut frames = 0u64;
        let mut last_no = 0u64;
        let res = read_reader("fuzz", std::io::Cursor::new(data), None, &mut |f| {
            frames += 1;
            // Frame numbers are 1-based and strictly increasing.
            assert!(f.number > last_no);
            last_no = f.number;
            let _ = decode(f);
        });
        if let Ok(info) = &res {
            assert_eq!(info.frames, frames);
            if info.compression.is_none() {
                assert!(info.bytes_read <= data.len() as u64);
            }
            assert!(info.warnings.len() <= 65);
        }
        // The in-memory reader (used on memory-mapped files) must read
        // exactly what the streaming one reads.
        if is_capture_magic(data) {
            let mut mapped = Vec::new();
            let res2 = read_bytes("fuzz", data, None, &mut |f| {
                mapped.push((f.number, f.ts_ns, f.link_type, f.orig_len, f.data.to_vec()))
            });
            let mut streamed = Vec::new();
            let res1 = read_reader("fuzz", std::io::Cursor::new(data), None, &mut |f| {
                streamed.push((f.number, f.ts_ns, f.link_type, f.orig_len, f.data.to_vec()))
            });
            assert_eq!(mapped, streamed);
            match (res1, res2) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(
                        (a.frames, a.damaged, a.bytes_read, a.warnings),
                        (b.frames, b.damaged, b.bytes_read, b.warnings)
                    );
                }
                (Err(a), Err(b)) => assert_eq!(format!("{a:#}"), format!("{b:#}")),
                (a, b) => panic!("stream {:?} vs memory {:?}", a.is_ok(), b.is_ok()),
            }
        }
    }
}

pub mod decode_frame {
    //! (b) The frame decoder, every supported link type: the first byte of the
    //! input picks the link type (and one unsupported one), the rest is the frame.
    use nagle_analyze::capture::{linktype, Frame};
    use nagle_analyze::decode::decode;

    /// The supported link types, then one unsupported (USER0).
    const LINK_TYPES: [u32; 12] = {
        let mut all = [147; 12];
        let mut i = 0;
        while i < 11 {
            all[i] = linktype::SUPPORTED[i];
            i += 1;
        }
        all
    };

    pub fn decode_frame(data: &[u8]) {
        let Some((&sel, bytes)) = data.split_first() else {
            return;
        };
        let link_type = LINK_TYPES[sel as usize % LINK_TYPES.len()];
        // Second selector bit: the frame was cut by a snaplen (orig_len larger).
        let orig_len = if sel & 0x80 != 0 {
            (bytes.len() as u32).saturating_add(1000)
        } else {
            bytes.len() as u32
        };
        let frame = Frame {
            number: 1,
            ts_ns: 0,
            link_type,
            data: bytes,
            orig_len,
        };
        if let Ok(seg) = decode(&frame) {
            // The captured payload is a part of the frame and never longer than
            // the length on the wire.
            assert!(seg.payload.len() <= bytes.len());
            assert!(seg.payload.len() as u64 <= seg.payload_len as u64);
        }
    }
}

pub mod flow_analysis {
    //! (c) Flow tracker + analysis on arbitrary segment sequences.
    //!
    //! The input is a config byte followed by 16-byte records; each record
    //! becomes one TCP frame built with `nagle_testkit::writer::tcp_frame` (so the
    //! decoder sees well-formed packets and the fuzzer's effort goes into the
    //! *sequence*: handshakes, ACKs, retransmissions, reordering, 2^31 jumps,
    //! timestamps going backwards or to the ends of the i64 range, port reuse,
    //! many flows against a tiny flow table). The frames run through
    //! `pipeline::Analyzer` (no write information, or `--write-size`), or, for a
    //! write log, through the same tracker + analysis the Analyzer uses with an
    //! in-memory `WriteLog`. The report is serialized to JSON and rendered as
    //! text and CSV.
    //!
    //! Config byte: bits 0-1 write mode (0 none, 1 write size, 2 log, 3 log +
    //! size), bit 2 series, bits 3-5 max flows (1 << n), bits 6-7 link type.
    //!
    //! Record: [0] endpoint (bits 0-1 client, bit 2 direction s2c, bit 3 IPv6,
    //! bits 4-5 seq mode, bits 6-7 ack mode), [1] TCP flags, [2..4] time step
    //! (i16), [4] time unit (and extreme timestamps), [5..9] seq operand,
    //! [9..13] ack operand, [13..15] payload length, [15] options and writes.
    use nagle_analyze::analysis::{self, AnalysisConfig, FlowAnalysis};
    use nagle_analyze::capture::{linktype, CaptureInfo, Frame};
    use nagle_analyze::decode;
    use nagle_analyze::flow::{Limits, Tracker};
    use nagle_analyze::pipeline::{Analyzer, Config};
    use nagle_analyze::render::{self, Format};
    use nagle_analyze::report::{self, Report};
    use nagle_analyze::writes::{SharedLog, WriteLog};
    use nagle_testkit::writer::{tcp_frame, TcpSpec};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::sync::Arc;

    const LINK: [u32; 4] = [
        linktype::ETHERNET,
        linktype::RAW,
        linktype::LINUX_SLL2,
        linktype::NULL,
    ];

    fn addr(client: bool, idx: u8, v6: bool) -> SocketAddr {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, client as u16, 1))
        } else {
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, if client { 1 } else { 2 }))
        };
        let port = if client { 40000 + idx as u16 } else { 80 };
        SocketAddr::new(ip, port)
    }

    fn u32_at(r: &[u8], i: usize) -> u32 {
        u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]])
    }

    pub fn flow_analysis(data: &[u8]) {
        let Some((&cfgb, rest)) = data.split_first() else {
            return;
        };
        let mode = cfgb & 3;
        let series = cfgb & 4 != 0;
        let max_flows = 1usize << ((cfgb >> 3) & 7);
        let link_type = LINK[(cfgb >> 6) as usize];

        // Per (client index, v6, direction): next sequence number to send.
        let mut next = [[[1000u32; 2]; 2]; 4];
        let mut ts: i64 = 1_700_000_000_000_000_000;
        let mut frames: Vec<(i64, Vec<u8>)> = Vec::new();
        let mut writes: Vec<(i64, u64)> = Vec::new();
        for r in rest.chunks_exact(16).take(4096) {
            let ci = (r[0] & 3) as usize;
            let s2c = r[0] & 4 != 0;
            let v6 = r[0] & 8 != 0;
            let d = s2c as usize;
            let (src, dst) = if s2c {
                (addr(false, ci as u8, v6), addr(true, ci as u8, v6))
            } else {
                (addr(true, ci as u8, v6), addr(false, ci as u8, v6))
            };
            let step = i16::from_le_bytes([r[2], r[3]]) as i64;
            ts = match r[4] & 7 {
                0 => ts.saturating_add(step),
                1 => ts.saturating_add(step * 1_000),
                2 => ts.saturating_add(step * 1_000_000),
                3 => ts.saturating_add(step * 1_000_000_000),
                4 => ts.saturating_add(step * 3_600_000_000_000),
                5 => i64::MAX - step.abs(),
                6 => i64::MIN + step.abs(),
                _ => step,
            };
            let payload_len = (u16::from_le_bytes([r[13], r[14]]) % 3000) as usize;
            let sop = u32_at(r, 5);
            let nx = &mut next[ci][v6 as usize][d];
            let seq = match (r[0] >> 4) & 3 {
                0 => *nx,
                1 => nx.wrapping_sub(sop % 4096),
                2 => nx.wrapping_add(sop % 4096),
                _ => sop,
            };
            *nx = seq.wrapping_add(payload_len as u32);
            let peer_next = next[ci][v6 as usize][1 - d];
            let aop = u32_at(r, 9);
            let ack = match r[0] >> 6 {
                0 => peer_next,
                1 => peer_next.wrapping_sub(aop % 4096),
                2 => peer_next.wrapping_add(aop % 4096),
                _ => aop,
            };
            let o = r[15];
            let spec = TcpSpec {
                src,
                dst,
                seq,
                ack,
                flags: r[1],
                window: u16::from_le_bytes([r[6], r[10]]),
                mss: (o & 1 != 0).then_some(1460 - (r[12] as u16)),
                wscale: (o & 2 != 0).then_some(r[11] % 16),
                sack_permitted: o & 4 != 0,
                timestamps: (o & 8 != 0).then_some((ts as u32 / 1000, aop)),
                payload: vec![0x61; payload_len],
                vlan: None,
            };
            frames.push((ts, tcp_frame(link_type, &spec)));
            // Writes: this segment's bytes in 1..=4 writes, a little earlier.
            if !s2c && payload_len > 0 {
                let k = ((o >> 4) & 3) as usize + 1;
                for j in 0..k {
                    let part = payload_len / k + if j == 0 { payload_len % k } else { 0 };
                    writes.push((ts.saturating_sub(((k - j) as i64) * 1000), part as u64));
                }
            }
        }
        let limits = Limits {
            max_flows,
            ..Limits::default()
        };
        let write_size = (mode & 1 != 0).then_some(1 + (cfgb as u32 >> 2) * 7);
        fn frame((i, (ts, bytes)): (usize, &(i64, Vec<u8>)), link_type: u32) -> Frame<'_> {
            Frame {
                number: i as u64 + 1,
                ts_ns: *ts,
                link_type,
                data: bytes,
                orig_len: bytes.len() as u32,
            }
        }
        let info = CaptureInfo {
            path: "fuzz".into(),
            frames: frames.len() as u64,
            ..Default::default()
        };
        let (summary, flows) = if mode & 2 == 0 {
            let cfg = Config {
                write_size,
                limits: Some(limits),
                series,
                ..Config::default()
            };
            let mut an = Analyzer::new(&cfg).expect("config");
            for f in frames.iter().enumerate().map(|x| frame(x, link_type)) {
                an.frame(&f);
                assert!(an.live_flows() <= max_flows);
            }
            an.finish(info)
        } else {
            // The Analyzer takes a log only from a file; use the same tracker
            // and analysis with the log in memory.
            let acfg = Arc::new(AnalysisConfig {
                write_size,
                log: Some(SharedLog::new(WriteLog::from_writes(writes).into())),
                series,
                ..Default::default()
            });
            let mut tracker =
                Tracker::new(limits, Box::new(move || FlowAnalysis::new(acfg.clone())));
            let mut flows = Vec::new();
            for f in frames.iter().enumerate().map(|x| frame(x, link_type)) {
                if let Ok(seg) = decode::decode(&f) {
                    tracker.push(&seg, &mut |s, a| flows.push(analysis::finish(&s, a)));
                }
                assert!(tracker.live_flows() <= max_flows);
            }
            tracker.finish_all(&mut |s, a| flows.push(analysis::finish(&s, a)));
            let an = Analyzer::new(&Config::default()).expect("config");
            let (summary, _) = an.finish(info);
            (summary, flows)
        };
        let report = Report {
            schema_version: report::SCHEMA_VERSION,
            tool: "fuzz".into(),
            advice_groups: nagle_analyze::advice::group::group(&flows),
            captures: vec![summary],
            flows,
            directions_not_held: 0,
        };
        let json = serde_json::to_string(&report).expect("report serializes");
        let _: serde_json::Value = serde_json::from_str(&json).expect("report JSON parses");
        for fmt in [Format::Text, Format::Csv] {
            let mut out = Vec::new();
            render::render(&report, fmt, &mut out).expect("render");
        }
    }
}

//! Reader tests on files made by the fixture writers: every format variant,
//! cut and damaged files, errors, BPF filters, and write -> read -> decode
//! round trips for every link type.

use nagle_analyze::capture::file::{read_path, read_reader};
use nagle_analyze::capture::linktype as lt;
use nagle_analyze::capture::{CaptureInfo, Format};
use nagle_analyze::decode::{decode, flags};
use nagle_testkit::writer::{tcp_frame, Endian, PcapWriter, PcapngWriter, TcpSpec, TsPrecision};

#[derive(Debug, Clone, PartialEq)]
struct Got {
    number: u64,
    ts_ns: i64,
    link_type: u32,
    data: Vec<u8>,
    orig_len: u32,
}

/// Read `bytes` with the streaming reader (as files and standard input are)
/// and with the in-memory one (as memory-mapped files are); both must give
/// the same frames, warnings and damage, or the same error.
fn read_bytes(bytes: &[u8], filter: Option<&str>) -> anyhow::Result<(CaptureInfo, Vec<Got>)> {
    let collect = |got: &mut Vec<Got>, f: &nagle_analyze::capture::Frame| {
        got.push(Got {
            number: f.number,
            ts_ns: f.ts_ns,
            link_type: f.link_type,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
        })
    };
    let (mut streamed, mut in_memory) = (Vec::new(), Vec::new());
    let info = read_reader("mem", bytes, filter, &mut |f| collect(&mut streamed, f));
    let info_mem = nagle_analyze::capture::file::read_bytes("mem", bytes, filter, &mut |f| {
        collect(&mut in_memory, f)
    });
    let key = |i: &CaptureInfo| {
        (
            i.frames,
            i.frames_matched,
            i.damaged,
            i.bytes_read,
            i.link_types.clone(),
            i.warnings.clone(),
            i.first_ts_ns,
            i.last_ts_ns,
        )
    };
    match (&info, &info_mem) {
        (Ok(a), Ok(b)) => assert_eq!(key(a), key(b), "streamed vs in memory"),
        (Err(a), Err(b)) => assert_eq!(format!("{a:#}"), format!("{b:#}")),
        _ => panic!(
            "streamed {:?} vs in memory {:?}",
            info.is_ok(),
            info_mem.is_ok()
        ),
    }
    assert!(
        streamed == in_memory,
        "frames differ between the two readers"
    );
    Ok((info?, streamed))
}

fn spec(i: u32) -> TcpSpec {
    TcpSpec {
        seq: 1000 + i,
        payload: vec![i as u8; i as usize * 3],
        flags: flags::ACK | flags::PSH,
        ..Default::default()
    }
}

const T0: i64 = 1_700_000_000_123_456_789;

fn pcap_file(endian: Endian, prec: TsPrecision, n: u32) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), lt::ETHERNET, 65535, endian, prec).unwrap();
    for i in 0..n {
        let f = tcp_frame(lt::ETHERNET, &spec(i));
        w.write(T0 + i as i64 * 1_000_001, &f, f.len() as u32)
            .unwrap();
    }
    w.into_inner()
}

#[test]
fn pcap_all_variants() {
    for endian in [Endian::Little, Endian::Big] {
        for prec in [TsPrecision::Micro, TsPrecision::Nano] {
            let bytes = pcap_file(endian, prec, 5);
            let (info, got) = read_bytes(&bytes, None).unwrap();
            assert_eq!(info.format, Some(Format::Pcap));
            assert_eq!(info.frames, 5);
            assert_eq!(info.frames_matched, 5);
            assert!(!info.damaged);
            assert_eq!(info.bytes_read, bytes.len() as u64);
            assert_eq!(info.link_types, vec![lt::ETHERNET]);
            for (i, g) in got.iter().enumerate() {
                let want = T0 + i as i64 * 1_000_001;
                let want = match prec {
                    TsPrecision::Nano => want,
                    TsPrecision::Micro => want / 1000 * 1000,
                };
                assert_eq!(g.ts_ns, want, "{endian:?} {prec:?}");
                assert_eq!(g.number, i as u64 + 1);
                assert_eq!(g.data, tcp_frame(lt::ETHERNET, &spec(i as u32)));
                assert_eq!(g.orig_len as usize, g.data.len());
            }
        }
    }
}

#[test]
fn pcap_header_only_is_ok_with_zero_frames() {
    let bytes = pcap_file(Endian::Little, TsPrecision::Micro, 0);
    let (info, got) = read_bytes(&bytes, None).unwrap();
    assert_eq!((info.frames, got.len(), info.damaged), (0, 0, false));
}

#[test]
fn pcap_invalid_subsecond_warns_but_reads() {
    let mut bytes = pcap_file(Endian::Little, TsPrecision::Nano, 1);
    bytes[24 + 4..24 + 8].copy_from_slice(&0x8000_0000u32.to_le_bytes());
    let (info, got) = read_bytes(&bytes, None).unwrap();
    assert_eq!(got.len(), 1);
    assert!(
        info.warnings.iter().any(|w| w.contains("sub-second")),
        "{:?}",
        info.warnings
    );
    assert_eq!(
        got[0].ts_ns,
        (T0 / 1_000_000_000) * 1_000_000_000 + 0x8000_0000
    );
}

#[test]
fn pcap_snaplen_cut_frames_keep_orig_len() {
    let mut w =
        PcapWriter::new(Vec::new(), lt::RAW, 68, Endian::Little, TsPrecision::Micro).unwrap();
    let f = tcp_frame(
        lt::RAW,
        &TcpSpec {
            payload: vec![7; 1000],
            ..Default::default()
        },
    );
    w.write(T0, &f[..68], f.len() as u32).unwrap();
    let (_, got) = read_bytes(&w.into_inner(), None).unwrap();
    assert_eq!(got[0].data.len(), 68);
    assert_eq!(got[0].orig_len as usize, f.len());
}

/// Truncate `bytes` at every offset; `boundaries[k]` = end offset of frame k
/// (index 0 = end of the file header / first blocks before any frame).
fn check_cuts(bytes: &[u8], boundaries: &[usize], magic_len: usize) {
    check_cuts_clean(bytes, boundaries, boundaries, magic_len)
}

/// As [`check_cuts`], with `clean` = every offset where a cut leaves a valid
/// file (frame ends and ends of other blocks).
fn check_cuts_clean(bytes: &[u8], boundaries: &[usize], clean: &[usize], magic_len: usize) {
    for cut in 0..bytes.len() {
        let res = read_bytes(&bytes[..cut], None);
        if cut < magic_len {
            let e = res.expect_err("a file too short for its magic must fail");
            assert!(format!("{e:#}").contains("mem"), "{e:#}");
            continue;
        }
        let (info, got) = res.unwrap_or_else(|e| panic!("cut at {cut}: {e:#}"));
        let complete = boundaries.iter().skip(1).filter(|&&b| b <= cut).count();
        assert_eq!(got.len(), complete, "cut at {cut}");
        let at_boundary = clean.contains(&cut);
        assert_eq!(
            info.damaged, !at_boundary,
            "cut at {cut}: {:?}",
            info.warnings
        );
        if !at_boundary {
            let w = info.warnings.join("\n");
            assert!(
                w.contains("cut short") && w.contains(&format!("after frame {complete}")),
                "{w}"
            );
        }
    }
}

#[test]
fn pcap_cut_at_every_offset() {
    let bytes = pcap_file(Endian::Big, TsPrecision::Micro, 3);
    let mut b = vec![24];
    for i in 0..3 {
        let l = tcp_frame(lt::ETHERNET, &spec(i)).len();
        b.push(b.last().unwrap() + 16 + l);
    }
    assert_eq!(*b.last().unwrap(), bytes.len());
    check_cuts(&bytes, &b, 4);
}

#[test]
fn pcap_garbage_record_length() {
    let mut bytes = pcap_file(Endian::Little, TsPrecision::Micro, 3);
    let f0 = tcp_frame(lt::ETHERNET, &spec(0)).len();
    let off = 24 + 16 + f0; // record header of frame 2
    bytes[off + 8..off + 12].copy_from_slice(&4_325_376u32.to_le_bytes());
    let (info, got) = read_bytes(&bytes, None).unwrap();
    assert_eq!(got.len(), 1);
    assert!(info.damaged);
    let w = &info.warnings[0];
    assert!(
        w.contains("damaged after frame 1")
            && w.contains(&format!("byte offset {off}"))
            && w.contains("record claims 4325376 bytes (snaplen 65535)"),
        "{w}"
    );
}

fn pcapng_file(endian: Endian) -> (Vec<u8>, Vec<usize>, Vec<(i64, u32)>) {
    // Section 1: if0 Ethernet µs, if1 SLL ns, if2 RAW 2^-20 s with offset.
    // Section 2: if0 NULL ns (ids restart), SPB on if0, obsolete PB.
    let mut w = PcapngWriter::with_endian(Vec::new(), endian).unwrap();
    let mut bounds = Vec::new();
    let mut want = Vec::new();
    let e = w.add_interface(lt::ETHERNET, 65535, None).unwrap();
    let s = w.add_interface(lt::LINUX_SLL, 65535, Some(9)).unwrap();
    let r = w
        .add_interface_with_offset(lt::RAW, 65535, Some(0x80 | 20), Some(1000))
        .unwrap();
    assert_eq!((e, s, r), (0, 1, 2));
    let len = |w: &PcapngWriter<Vec<u8>>| w.get_ref().len();
    bounds.push(len(&w));
    for (i, (iface, l)) in [(e, lt::ETHERNET), (s, lt::LINUX_SLL), (r, lt::RAW)]
        .iter()
        .enumerate()
    {
        let f = tcp_frame(*l, &spec(i as u32));
        w.write(*iface, T0 + i as i64, &f, f.len() as u32).unwrap();
        bounds.push(len(&w));
        want.push((T0 + i as i64, *l));
    }
    w.write_raw_block(0x0000_0BAD, &[1, 2, 3, 4, 5]).unwrap(); // unknown: skipped
    w.new_section().unwrap();
    let n = w.add_interface(lt::NULL, 65535, Some(9)).unwrap();
    assert_eq!(n, 0);
    let f = tcp_frame(lt::NULL, &spec(3));
    w.write(n, T0 + 3, &f, f.len() as u32).unwrap();
    bounds.push(len(&w));
    want.push((T0 + 3, lt::NULL));
    w.write_simple(&f, f.len() as u32).unwrap();
    bounds.push(len(&w));
    want.push((T0 + 3, lt::NULL)); // SPB: no timestamp, reader repeats the last one
    w.write_obsolete(0, T0 + 5, &f, f.len() as u32).unwrap();
    bounds.push(len(&w));
    want.push((T0 + 5, lt::NULL));
    (w.into_inner(), bounds, want)
}

#[test]
fn pcapng_sections_interfaces_resolutions_and_block_kinds() {
    for endian in [Endian::Little, Endian::Big] {
        let (bytes, _, want) = pcapng_file(endian);
        let (info, got) = read_bytes(&bytes, None).unwrap();
        assert_eq!(info.format, Some(Format::Pcapng));
        assert!(!info.damaged, "{:?}", info.warnings);
        assert_eq!(info.frames, want.len() as u64);
        assert_eq!(
            info.link_types,
            vec![lt::ETHERNET, lt::LINUX_SLL, lt::RAW, lt::NULL]
        );
        for (i, (g, (ts, l))) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.link_type, *l, "frame {i}");
            let tol = match i {
                0 => 1000, // µs interface
                2 => 954,  // 2^-20 s units
                _ => 0,
            };
            assert!(
                (g.ts_ns - ts).abs() <= tol,
                "frame {i}: {} vs {ts}",
                g.ts_ns
            );
            assert_eq!(g.number, i as u64 + 1);
            let seg = decode(&nagle_analyze::capture::Frame {
                number: g.number,
                ts_ns: g.ts_ns,
                link_type: g.link_type,
                data: &g.data,
                orig_len: g.orig_len,
            })
            .unwrap();
            assert_eq!(seg.seq, 1000 + i.min(3) as u32);
        }
    }
}

#[test]
fn pcapng_cut_at_every_offset() {
    let (bytes, bounds, _) = pcapng_file(Endian::Little);
    // Clean cut points: frame ends plus the ends of the SHB/IDB/unknown
    // blocks between them. Walk the blocks to find them.
    let mut clean = Vec::new();
    let mut o = 0;
    while o < bytes.len() {
        let l = u32::from_le_bytes(bytes[o + 4..o + 8].try_into().unwrap()) as usize;
        o += l;
        clean.push(o);
    }
    // Frame ends relative to the start: frames end where bounds say, and
    // bounds[0] (end of the first IDBs) is a clean point with 0 frames.
    check_cuts_clean(&bytes, &bounds, &clean, 4);
}

#[test]
fn pcapng_garbage_block_length_and_huge_timestamp() {
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let i = w.add_interface(lt::RAW, 0, None).unwrap();
    let f = tcp_frame(lt::RAW, &spec(1));
    // ~2^64 µs: saturates, warns, still delivered.
    w.write(i, i64::MAX, &f, f.len() as u32).unwrap();
    let start = w.get_ref().len();
    w.write(i, T0, &f, f.len() as u32).unwrap();
    let mut bytes = w.into_inner();
    let (info, got) = read_bytes(&bytes, None).unwrap();
    assert_eq!(got.len(), 2);
    assert!(!info.damaged);
    bytes[start + 4..start + 8].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let (info, got) = read_bytes(&bytes, None).unwrap();
    assert_eq!(got.len(), 1);
    assert!(info.damaged);
    assert!(
        info.warnings.iter().any(|w| w.contains("invalid length")),
        "{:?}",
        info.warnings
    );
    // Patch the first EPB's timestamp to ~2^64 units.
    let epb = 28 + 20;
    bytes[epb + 12..epb + 20].copy_from_slice(&[0xff; 8]);
    let (info, got) = read_bytes(&bytes, None).unwrap();
    assert_eq!(got[0].ts_ns, i64::MAX);
    assert!(
        info.warnings.iter().any(|w| w.contains("overflows")),
        "{:?}",
        info.warnings
    );
}

fn temp_file(name: &str, bytes: &[u8]) -> String {
    let p = std::env::temp_dir().join(format!("nagle-test-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn errors_name_the_file() {
    let e = read_path("/nonexistent/x.pcap", None, &mut |_| {}).unwrap_err();
    assert!(format!("{e:#}").contains("/nonexistent/x.pcap"), "{e:#}");

    let p = temp_file("empty.pcap", b"");
    let e = format!("{:#}", read_path(&p, None, &mut |_| {}).unwrap_err());
    assert!(e.contains(&p) && e.contains("empty"), "{e}");

    let p = temp_file("page.pcap", b"<!DOCTYPE html><html>");
    let e = format!("{:#}", read_path(&p, None, &mut |_| {}).unwrap_err());
    assert!(
        e.contains(&p) && e.contains("not a pcap") && e.contains("3c 21 44 4f"),
        "{e}"
    );
    assert!(e.contains("<!DOCTYPE"), "{e}");
}

#[test]
fn read_path_reads_a_file() {
    let bytes = pcap_file(Endian::Little, TsPrecision::Nano, 4);
    let p = temp_file("ok.pcap", &bytes);
    let mut n = 0;
    let info = read_path(&p, None, &mut |_| n += 1).unwrap();
    assert_eq!((info.frames, n), (4, 4));
    assert_eq!(info.path, p);
    std::fs::remove_file(&p).ok();
}

#[cfg(feature = "live")]
#[test]
fn bpf_filter_per_link_type() {
    // Mixed link types; frames to port 80 and to port 443.
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let ifs = [
        (
            w.add_interface(lt::ETHERNET, 65535, None).unwrap(),
            lt::ETHERNET,
        ),
        (
            w.add_interface(lt::LINUX_SLL, 65535, None).unwrap(),
            lt::LINUX_SLL,
        ),
        (w.add_interface(lt::RAW, 65535, None).unwrap(), lt::RAW),
    ];
    for (i, l) in ifs {
        for port in [80, 443] {
            let mut s = spec(1);
            s.dst.set_port(port);
            let f = tcp_frame(l, &s);
            w.write(i, T0, &f, f.len() as u32).unwrap();
        }
    }
    let bytes = w.into_inner();
    let (info, got) = read_bytes(&bytes, Some("tcp dst port 80")).unwrap();
    assert_eq!(info.frames, 6);
    assert_eq!(info.frames_matched, 3, "{:?}", info.warnings);
    assert_eq!(
        got.iter().map(|g| g.number).collect::<Vec<_>>(),
        vec![1, 3, 5]
    );

    let e = read_bytes(&bytes, Some("tcp and (")).unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("\"tcp and (\"") && e.contains("syntax error"),
        "{e}"
    );
}

#[test]
fn roundtrip_every_link_type_v4_and_v6() {
    let lts = [
        lt::ETHERNET,
        lt::LINUX_SLL,
        lt::LINUX_SLL2,
        lt::NULL,
        lt::LOOP,
        lt::PPP,
        lt::RAW,
        lt::RAW_12,
        lt::RAW_14,
    ];
    let addrs = [
        ("10.1.2.3:5555", "10.9.8.7:80"),
        ("[2001:db8::1]:5555", "[2001:db8::2]:443"),
    ];
    for (s, d) in addrs {
        let mut all: Vec<u32> = lts.to_vec();
        all.push(if s.starts_with('[') {
            lt::IPV6
        } else {
            lt::IPV4
        });
        for &l in &all {
            for vlan in [None, Some(42)] {
                if vlan.is_some() && l != lt::ETHERNET {
                    continue;
                }
                let spec = TcpSpec {
                    src: s.parse().unwrap(),
                    dst: d.parse().unwrap(),
                    seq: 0xfffffff0,
                    ack: 77,
                    flags: flags::SYN | flags::ACK,
                    window: 1234,
                    mss: Some(1460),
                    wscale: Some(7),
                    sack_permitted: true,
                    timestamps: Some((11, 22)),
                    payload: b"hello world".to_vec(),
                    vlan,
                };
                let f = tcp_frame(l, &spec);
                let mut w =
                    PcapWriter::new(Vec::new(), l, 65535, Endian::Little, TsPrecision::Nano)
                        .unwrap();
                w.write(T0, &f, f.len() as u32).unwrap();
                let bytes = w.into_inner();
                let mut checked = false;
                read_reader("mem", &bytes[..], None, &mut |fr| {
                    let seg = decode(fr).unwrap_or_else(|e| panic!("lt {l}: {e:?}"));
                    assert_eq!(seg.src, spec.src);
                    assert_eq!(seg.dst, spec.dst);
                    assert_eq!(
                        (seg.seq, seg.ack, seg.flags, seg.window),
                        (0xfffffff0, 77, 0x12, 1234)
                    );
                    assert_eq!(seg.options.mss, Some(1460));
                    assert_eq!(seg.options.window_scale, Some(7));
                    assert!(seg.options.sack_permitted);
                    assert_eq!(seg.options.timestamps, Some((11, 22)));
                    assert_eq!(seg.options.options_len, 24);
                    assert_eq!(seg.payload_len, 11);
                    assert_eq!(seg.payload, b"hello world");
                    assert!(!seg.truncated);
                    assert_eq!(seg.ts_ns, T0);
                    assert_eq!(seg.wire_len as usize, f.len());
                    checked = true;
                })
                .unwrap();
                assert!(checked);
            }
        }
    }
}

#[cfg(not(feature = "live"))]
#[test]
fn filter_without_libpcap_is_a_clear_error() {
    let bytes = pcap_file(Endian::Little, TsPrecision::Micro, 1);
    let e = format!("{:#}", read_bytes(&bytes, Some("tcp")).unwrap_err());
    assert!(e.contains("built without libpcap (feature `live`)"), "{e}");
}

#[test]
fn records_larger_than_the_read_buffer() {
    // 600 kB frames: bigger than the 256 kB read buffer and libpcap's
    // 262144 default, but within this file's snaplen / pcapng's limits.
    let big = vec![0x5a; 600_000];
    let mut w = PcapWriter::new(
        Vec::new(),
        lt::RAW,
        1 << 20,
        Endian::Little,
        TsPrecision::Micro,
    )
    .unwrap();
    w.write(T0, &big, big.len() as u32).unwrap();
    w.write(T0, &big[..10], 10).unwrap();
    let (info, got) = read_bytes(&w.into_inner(), None).unwrap();
    assert!(!info.damaged);
    assert_eq!(
        (got.len(), got[0].data.len(), got[1].data.len()),
        (2, 600_000, 10)
    );

    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let i = w.add_interface(lt::RAW, 0, None).unwrap();
    w.write(i, T0, &big, big.len() as u32).unwrap();
    w.write(i, T0, &big[..10], 10).unwrap();
    let (info, got) = read_bytes(&w.into_inner(), None).unwrap();
    assert!(!info.damaged);
    assert_eq!(
        (got.len(), got[0].data.len(), got[1].data.len()),
        (2, 600_000, 10)
    );
}

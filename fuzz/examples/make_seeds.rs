//! Writes the seed corpora: `gen-*` files made with the project's own writer
//! (committed), and, when `../shared/captures` (or `$NAGLE_CORPUS`) exists,
//! `pub-*` seeds taken from the public corpus (git-ignored).
//!
//! Run from `fuzz/`: `cargo run --example make_seeds`.
use nagle_analyze::capture::file::read_path;
use nagle_analyze::capture::linktype;
use nagle_analyze::decode::flags::{ACK, FIN, PSH, SYN};
use nagle_testkit::writer::{tcp_frame, Endian, PcapWriter, PcapngWriter, TcpSpec, TsPrecision};
use std::io::Write;
use std::path::{Path, PathBuf};

const LINKS: [u32; 11] = linktype::SUPPORTED;

/// A short connection: handshake, three small writes, ACKs, FIN.
fn conversation(v6: bool) -> Vec<(i64, TcpSpec)> {
    let (c, s) = if v6 {
        ("[2001:db8::1]:40000", "[2001:db8::2]:80")
    } else {
        ("192.0.2.1:40000", "192.0.2.2:80")
    };
    let (c, s) = (c.parse().unwrap(), s.parse().unwrap());
    let spec = |src, dst, seq, ack, flags, len: usize| TcpSpec {
        src,
        dst,
        seq,
        ack,
        flags,
        mss: (flags & SYN != 0).then_some(1460),
        wscale: (flags & SYN != 0).then_some(7),
        sack_permitted: flags & SYN != 0,
        timestamps: Some((seq / 7, ack / 7)),
        payload: vec![b'x'; len],
        ..TcpSpec::default()
    };
    let t0 = 1_700_000_000_000_000_000i64;
    let ms = 1_000_000i64;
    vec![
        (t0, spec(c, s, 999, 0, SYN, 0)),
        (t0 + 10 * ms, spec(s, c, 4999, 1000, SYN | ACK, 0)),
        (t0 + 20 * ms, spec(c, s, 1000, 5000, ACK, 0)),
        (t0 + 21 * ms, spec(c, s, 1000, 5000, ACK | PSH, 100)),
        (t0 + 71 * ms, spec(s, c, 5000, 1100, ACK, 0)),
        (t0 + 72 * ms, spec(c, s, 1100, 5000, ACK | PSH, 300)),
        (t0 + 73 * ms, spec(c, s, 1400, 5000, ACK | PSH, 1448)),
        (t0 + 120 * ms, spec(s, c, 5000, 2848, ACK, 0)),
        (t0 + 121 * ms, spec(c, s, 1100, 5000, ACK | PSH, 300)), // retransmission
        (t0 + 130 * ms, spec(c, s, 2848, 5000, ACK | FIN, 0)),
        (t0 + 140 * ms, spec(s, c, 5000, 2849, ACK | FIN, 0)),
        (t0 + 150 * ms, spec(c, s, 2849, 5001, ACK, 0)),
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let root = PathBuf::from("corpus");
    let cap = root.join("capture_reader");
    let dec = root.join("decode_frame");
    let flow = root.join("flow_analysis");

    // capture_reader: pcap in both byte orders and precisions, per link type.
    for (i, &lt) in LINKS.iter().enumerate() {
        for (e, p) in [
            (Endian::Little, TsPrecision::Micro),
            (Endian::Big, TsPrecision::Nano),
        ] {
            let mut w = PcapWriter::new(Vec::new(), lt, 65535, e, p).unwrap();
            for (ts, s) in conversation(i % 2 == 1).iter().take(6) {
                let f = tcp_frame(lt, s);
                w.write(*ts, &f, f.len() as u32).unwrap();
            }
            write(&cap, &format!("gen-pcap-{lt}-{e:?}-{p:?}"), &w.into_inner());
        }
    }
    // pcapng: two sections, several interfaces with different link types,
    // resolutions and offsets; EPB, SPB and obsolete PB.
    for e in [Endian::Little, Endian::Big] {
        let mut w = PcapngWriter::with_endian(Vec::new(), e).unwrap();
        let a = w.add_interface(linktype::ETHERNET, 0, None).unwrap();
        let b = w
            .add_interface_with_offset(linktype::LINUX_SLL2, 128, Some(9), Some(-5))
            .unwrap();
        let c = w.add_interface(linktype::RAW, 0, Some(0x80 | 20)).unwrap();
        for (k, (ts, s)) in conversation(false).iter().enumerate() {
            let iface = [a, b, c][k % 3];
            let lt = [linktype::ETHERNET, linktype::LINUX_SLL2, linktype::RAW][k % 3];
            let f = tcp_frame(lt, s);
            w.write(iface, *ts, &f, f.len() as u32).unwrap();
        }
        let f = tcp_frame(linktype::ETHERNET, &conversation(true)[3].1);
        w.write_simple(&f, f.len() as u32).unwrap();
        w.write_obsolete(0, 1_700_000_000_000_000_000, &f, f.len() as u32)
            .unwrap();
        w.new_section().unwrap();
        w.add_interface(linktype::NULL, 0, None).unwrap();
        let f = tcp_frame(linktype::NULL, &conversation(true)[4].1);
        w.write(0, 1_700_000_001_000_000_000, &f, f.len() as u32)
            .unwrap();
        write(&cap, &format!("gen-pcapng-{e:?}"), &w.into_inner());
    }

    // Compressed captures: gzip (one member, and two members back to back)
    // and zstd (two frames) of the first pcap and pcapng seeds.
    for name in [
        format!("gen-pcap-{}-Little-Micro", LINKS[0]),
        "gen-pcapng-Little".to_string(),
    ] {
        let plain = std::fs::read(cap.join(&name)).unwrap();
        let gz = |b: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        };
        let (a, b) = plain.split_at(plain.len() / 2);
        write(&cap, &format!("{name}.gz"), &gz(&plain));
        write(&cap, &format!("{name}.2.gz"), &[gz(a), gz(b)].concat());
        let zst = [
            zstd::encode_all(a, 3).unwrap(),
            zstd::encode_all(b, 3).unwrap(),
        ]
        .concat();
        write(&cap, &format!("{name}.zst"), &zst);
    }

    // decode_frame: selector byte + one frame, every link type, v4/v6, VLAN.
    for (i, &lt) in LINKS.iter().enumerate() {
        for v6 in [false, true] {
            for (k, (_, s)) in conversation(v6).iter().enumerate().take(4) {
                let mut s = s.clone();
                s.vlan = (lt == linktype::ETHERNET && k == 3).then_some(42);
                let mut b = vec![i as u8];
                b.extend(tcp_frame(lt, &s));
                write(&dec, &format!("gen-{lt}-{v6}-{k}"), &b);
            }
        }
    }

    // flow_analysis: config byte + 16-byte records (see the target's docs).
    let rec = |ep: u8, fl: u8, dt: i16, unit: u8, len: u16, opts: u8| {
        let mut r = [0u8; 16];
        r[0] = ep;
        r[1] = fl;
        r[2..4].copy_from_slice(&dt.to_le_bytes());
        r[4] = unit;
        r[13..15].copy_from_slice(&len.to_le_bytes());
        r[15] = opts;
        r
    };
    let handshake = [
        rec(0, SYN, 0, 2, 0, 0b1111),
        rec(4, SYN | ACK, 10, 2, 0, 0b1111),
        rec(0, ACK, 10, 2, 0, 8),
    ];
    for (name, cfg, body) in [
        (
            "nagle",
            0u8,
            vec![(0, 100), (4, 0), (0, 100), (0, 100), (4, 0)],
        ),
        (
            "bulk-size",
            1 | (3 << 3),
            vec![(0, 1448), (0, 1448), (4, 0), (0, 1448)],
        ),
        ("log", 2 | 4, vec![(0, 200), (4, 0), (0, 50), (4, 0)]),
    ] {
        let mut b = vec![cfg];
        for r in &handshake {
            b.extend_from_slice(r);
        }
        for (ep, len) in body {
            let fl = if len > 0 { ACK | PSH } else { ACK };
            b.extend_from_slice(&rec(ep, fl, 5, 2, len, 8 | 0x30));
        }
        write(&flow, &format!("gen-{name}"), &b);
    }

    // Public corpus (not committed): captures as reader seeds, their first
    // frames as decoder seeds.
    let public = std::env::var_os("NAGLE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../../shared/captures"));
    let Ok(rd) = std::fs::read_dir(&public) else {
        eprintln!("no public corpus at {}", public.display());
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".tsv") || name.ends_with(".md") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        if bytes.len() <= 1 << 20 {
            write(&cap, &format!("pub-{name}"), &bytes);
        }
        let mut k = 0;
        let _ = read_path(p.to_str().unwrap(), None, &mut |f| {
            if k < 8 {
                if let Some(i) = LINKS.iter().position(|&l| l == f.link_type) {
                    let mut b = vec![i as u8];
                    b.extend_from_slice(f.data);
                    write(&dec, &format!("pub-{name}-{k}"), &b);
                    k += 1;
                }
            }
        });
    }
}

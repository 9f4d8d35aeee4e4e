//! Writes large hostile captures for memory measurements (not committed
//! output): `cargo run --release --example gen_hostile -- KIND N OUT.pcap`
//! KIND = synflood (N half-open flows from distinct sources, random ports)
//!      | ooo (N one-byte segments of one flow, each pair swapped).
use nagle_analyze::capture::linktype;
use nagle_analyze::decode::flags::{ACK, PSH, SYN};
use nagle_testkit::writer::{tcp_frame, Endian, PcapWriter, TcpSpec, TsPrecision};
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (kind, n, out) = (&a[1], a[2].parse::<u32>().unwrap(), &a[3]);
    let f = BufWriter::new(std::fs::File::create(out).unwrap());
    let mut w =
        PcapWriter::new(f, linktype::RAW, 65535, Endian::Little, TsPrecision::Nano).unwrap();
    let mut x: u64 = 8;
    let t0 = 1_700_000_000_000_000_000i64;
    for i in 0..n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = (x >> 33) as u32;
        let spec = match kind.as_str() {
            "synflood" => TcpSpec {
                src: SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
                    1024 + (r % 60000) as u16,
                ),
                dst: "192.0.2.2:80".parse().unwrap(),
                seq: r,
                flags: SYN,
                mss: Some(1460),
                ..TcpSpec::default()
            },
            _ => TcpSpec {
                seq: 1 + (i ^ 1),
                ack: 1,
                flags: ACK | PSH,
                payload: vec![b'x'],
                ..TcpSpec::default()
            },
        };
        let fr = tcp_frame(linktype::RAW, &spec);
        w.write(t0 + i as i64 * 1000, &fr, fr.len() as u32).unwrap();
    }
}

//! Stage 2: one frame to one TCP segment record, or the reason why not.
//!
//! Handles link types Ethernet (802.1Q / 802.1ad / 0x9100 tags to any depth,
//! PPPoE sessions, MPLS), Linux SLL and SLL2, BSD NULL/LOOP (address family in
//! either byte order: 2 = IPv4; 10, 24, 28, 30 = IPv6), PPP (with or without
//! the ff03 address/control bytes, compressed protocol field, MPLS; also the
//! Cisco-HDLC framing some files label as PPP), raw IPv4/IPv6 (LINKTYPE 12,
//! 14, 101: version nibble decides; 228 = IPv4, 229 = IPv6). Anything else is
//! [`Skip::UnsupportedLinkType`].
//!
//! Link, IP and TCP headers are parsed by hand on byte slices with checked
//! indexing: the link layers above are not all in etherparse (SLL2, PPPoE,
//! MPLS over PPP), and the length rules below (TSO zero lengths, jumbograms,
//! snaplen cuts, lying IP lengths) are easier to state and test when written
//! out. TCP options are read with etherparse's option iterator.
//!
//! Rules:
//! - Lengths come from the IP header, never from the captured length, so a
//!   snaplen-cut frame still reports its true payload length (and is flagged
//!   `truncated`). An IPv4 total length of 0 or an IPv6 payload length of 0
//!   without a Jumbo option (TSO/GRO captures) means "use the captured
//!   length"; such frames are not flagged truncated. An IPv6 Jumbo Payload
//!   option gives the length when the payload length is 0.
//! - If the frame was *not* cut by the snaplen (captured = original length)
//!   but the IP header claims more bytes than the frame holds, the IP length
//!   is a lie: the captured bytes are used and the segment is not flagged
//!   truncated.
//! - IPv4 fragments (MF set or offset != 0) are [`Skip::IpFragment`],
//!   including the first fragment: its IP length covers only the fragment, so
//!   a `payload_len` from it would be wrong. IPv6 fragment headers are
//!   handled the same way, except atomic fragments (offset 0, M clear), which
//!   are decoded.
//! - IPv6 extension headers (Hop-by-Hop, Routing, Destination Options,
//!   Fragment, AH) are walked until TCP; ESP or No Next Header give
//!   [`Skip::NotTcp`].
//! - The TCP base header (20 bytes) must be captured, else
//!   [`Skip::Truncated`]. If the snaplen cuts inside the TCP options, the
//!   segment is still decoded from the options present (and flagged
//!   `truncated`). A data offset below 5 or beyond the IP length is
//!   [`Skip::Malformed`]. Malformed options stop option parsing but never
//!   fail the segment.
//!
//! Contract: [`decode`] never panics, whatever the bytes (a property test
//! feeds random and truncated frames for every link type).
//! What it does not do: no state across frames (that is [`crate::flow`]), no
//! reassembly, no checksum verification, no tunnels other than PPPoE/MPLS
//! (no GRE, VXLAN, IP-in-IP).

use crate::capture::Frame;
use crate::TsNs;
use std::net::{IpAddr, SocketAddr};

/// TCP header flag bits, as on the wire (low byte of the flags field).
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// TCP options the analysis uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr)
    pub timestamps: Option<(u32, u32)>,
    /// Number of SACK blocks carried.
    pub sack_blocks: u8,
    /// The SACK blocks (left edge, right edge), raw sequence numbers; the
    /// first `sack_blocks` are valid.
    pub sack: [(u32, u32); 4],
    /// Total length of the TCP options in bytes (header length - 20).
    pub options_len: u8,
}

/// One decoded TCP segment. Borrowed from the frame.
#[derive(Debug, Clone)]
pub struct Segment<'a> {
    pub frame: u64,
    pub ts_ns: TsNs,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// Raw (unscaled) window field.
    pub window: u16,
    pub options: TcpOptions,
    /// TCP payload length from the IP header (true length on the wire).
    pub payload_len: u32,
    /// The captured part of the payload (shorter than `payload_len` when cut).
    pub payload: &'a [u8],
    /// The frame was cut by the snaplen before the end of the TCP payload.
    pub truncated: bool,
    /// Original length of the frame on the wire (link header included).
    pub wire_len: u32,
}

impl Segment<'_> {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Why a frame gave no TCP segment. [`Skip::reason`] is the key under which
/// such frames are counted in the report's `skipped` map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// A link type this decoder does not know.
    UnsupportedLinkType(u32),
    /// Not IPv4/IPv6 (ARP, LLDP, ...).
    NotIp,
    /// IP but not TCP (UDP, ICMP, ...).
    NotTcp,
    /// An IPv4 or IPv6 fragment (not reassembled).
    IpFragment,
    /// The frame ends before the TCP header does.
    Truncated,
    /// Headers that do not parse (bad lengths, bad data offset...).
    Malformed,
}

impl Skip {
    pub fn reason(&self) -> String {
        match self {
            Skip::UnsupportedLinkType(lt) => format!("unsupported_link_type_{lt}"),
            Skip::NotIp => "not_ip".into(),
            Skip::NotTcp => "not_tcp".into(),
            Skip::IpFragment => "ip_fragment".into(),
            Skip::Truncated => "truncated_header".into(),
            Skip::Malformed => "malformed".into(),
        }
    }
}

/// Decode one frame. Never panics.
pub fn decode<'a>(frame: &Frame<'a>) -> Result<Segment<'a>, Skip> {
    let d = frame.data;
    let (net, version) = link_layer(frame.link_type, d)?;
    // Was the frame cut by the snaplen?
    let cut = (d.len() as u64) < frame.orig_len as u64;
    let ip = match version {
        Ip::V4 => ipv4(net, cut)?,
        Ip::V6 => ipv6(net, cut)?,
        Ip::Auto => match net.first().map(|b| b >> 4) {
            Some(4) => ipv4(net, cut)?,
            Some(6) => ipv6(net, cut)?,
            Some(_) => return Err(Skip::NotIp),
            None => return Err(Skip::Truncated),
        },
    };
    tcp(frame, ip)
}

#[derive(Clone, Copy)]
enum Ip {
    V4,
    V6,
    /// Decided by the version nibble.
    Auto,
}

fn be16(d: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(i)?, *d.get(i + 1)?]))
}

fn be32(d: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *d.get(i)?,
        *d.get(i + 1)?,
        *d.get(i + 2)?,
        *d.get(i + 3)?,
    ]))
}

fn tail(d: &[u8], i: usize) -> Result<&[u8], Skip> {
    d.get(i..).ok_or(Skip::Truncated)
}

/// Strip the link layer: the network-layer bytes and what they should be.
fn link_layer(lt: u32, d: &[u8]) -> Result<(&[u8], Ip), Skip> {
    use crate::capture::linktype as l;
    match lt {
        l::ETHERNET => {
            let et = be16(d, 12).ok_or(Skip::Truncated)?;
            by_ethertype(et, tail(d, 14)?)
        }
        l::LINUX_SLL => {
            let et = be16(d, 14).ok_or(Skip::Truncated)?;
            if d.len() < 16 {
                return Err(Skip::Truncated);
            }
            by_ethertype(et, tail(d, 16)?)
        }
        l::LINUX_SLL2 => {
            let et = be16(d, 0).ok_or(Skip::Truncated)?;
            if d.len() < 20 {
                return Err(Skip::Truncated);
            }
            by_ethertype(et, tail(d, 20)?)
        }
        l::NULL | l::LOOP => {
            let b: [u8; 4] = d
                .get(..4)
                .ok_or(Skip::Truncated)?
                .try_into()
                .unwrap_or([0; 4]);
            // Host byte order of the capturing machine (NULL) or network
            // order (LOOP); real values are small, so whichever reading is
            // small is the right one.
            let le = u32::from_le_bytes(b);
            let af = if le < 0x1_0000 {
                le
            } else {
                u32::from_be_bytes(b)
            };
            match af {
                2 => Ok((tail(d, 4)?, Ip::V4)),
                10 | 24 | 28 | 30 => Ok((tail(d, 4)?, Ip::V6)),
                _ => Err(Skip::NotIp),
            }
        }
        l::PPP => ppp(d),
        l::RAW_12 | l::RAW_14 | l::RAW => Ok((d, Ip::Auto)),
        l::IPV4 => Ok((d, Ip::V4)),
        l::IPV6 => Ok((d, Ip::V6)),
        other => Err(Skip::UnsupportedLinkType(other)),
    }
}

/// Ethertype dispatch, through any number of VLAN tags, PPPoE and MPLS.
fn by_ethertype(mut et: u16, mut d: &[u8]) -> Result<(&[u8], Ip), Skip> {
    // Bounded: each tag consumes 4 bytes, but cap the work anyway.
    for _ in 0..64 {
        match et {
            0x0800 => return Ok((d, Ip::V4)),
            0x86dd => return Ok((d, Ip::V6)),
            0x8100 | 0x88a8 | 0x9100 | 0x9200 => {
                et = be16(d, 2).ok_or(Skip::Truncated)?;
                d = tail(d, 4)?;
            }
            0x8864 => {
                // PPPoE session: ver/type, code, session id, length, then PPP.
                // The PPPoE length bounds the PPP frame (trailing bytes are
                // padding, even when the IP header claims them).
                let len = be16(d, 4).ok_or(Skip::Truncated)? as usize;
                let body = tail(d, 6)?;
                return ppp_protocol(body.get(..len).unwrap_or(body));
            }
            0x8847 | 0x8848 => return mpls(d),
            _ => return Err(Skip::NotIp),
        }
    }
    Err(Skip::Malformed)
}

/// LINKTYPE_PPP: optional ff03, then the PPP protocol. Frames that are really
/// Cisco HDLC (0x0f/0x8f, 0x00, ethertype) are accepted too.
fn ppp(d: &[u8]) -> Result<(&[u8], Ip), Skip> {
    match d {
        [0xff, 0x03, ..] => ppp_protocol(tail(d, 2)?),
        [0x0f | 0x8f, 0x00, ..] => {
            let et = be16(d, 2).ok_or(Skip::Truncated)?;
            by_ethertype(et, tail(d, 4)?)
        }
        _ => ppp_protocol(d),
    }
}

/// A PPP protocol field (2 bytes, or 1 when compressed: odd first byte).
fn ppp_protocol(d: &[u8]) -> Result<(&[u8], Ip), Skip> {
    let first = *d.first().ok_or(Skip::Truncated)?;
    let (proto, rest) = if first & 1 == 1 {
        (first as u16, tail(d, 1)?)
    } else {
        (be16(d, 0).ok_or(Skip::Truncated)?, tail(d, 2)?)
    };
    match proto {
        0x0021 => Ok((rest, Ip::V4)),
        0x0057 => Ok((rest, Ip::V6)),
        0x0281 | 0x0283 => mpls(rest),
        _ => Err(Skip::NotIp),
    }
}

/// MPLS label stack: labels until the bottom-of-stack bit, then IP (by the
/// version nibble).
fn mpls(mut d: &[u8]) -> Result<(&[u8], Ip), Skip> {
    for _ in 0..64 {
        let bos = d.get(2).ok_or(Skip::Truncated)? & 1 == 1;
        d = tail(d, 4)?;
        if bos {
            return Ok((d, Ip::Auto));
        }
    }
    Err(Skip::Malformed)
}

/// The network layer, reduced to what TCP decoding needs.
struct IpPart<'a> {
    src: IpAddr,
    dst: IpAddr,
    /// Captured TCP bytes (header + payload), capped at the IP length.
    l4: &'a [u8],
    /// True length of the TCP segment (header + payload) on the wire.
    l4_len: u32,
    /// `l4_len` is not known from the IP header (zero length): do not flag
    /// truncation.
    len_from_capture: bool,
}

impl<'a> IpPart<'a> {
    /// The TCP bytes after the IP header(s): `avail` captured, `declared`
    /// by the IP length (None when it is 0: TSO/GRO captures).
    fn new(src: IpAddr, dst: IpAddr, avail: &'a [u8], declared: Option<u64>, cut: bool) -> Self {
        let (l4, l4_len, len_from_capture) = l4_bounds(avail, declared, cut);
        IpPart {
            src,
            dst,
            l4,
            l4_len,
            len_from_capture: len_from_capture || declared.is_none(),
        }
    }
}

/// Resolve the L4 length from an IP-declared length (`None` = unknown/0).
fn l4_bounds(avail: &[u8], declared: Option<u64>, cut: bool) -> (&[u8], u32, bool) {
    match declared {
        Some(n) if n <= avail.len() as u64 => (&avail[..n as usize], n as u32, false),
        // The frame was cut by the snaplen: the IP length is the truth.
        Some(n) if cut => (avail, n.min(u32::MAX as u64) as u32, false),
        // Not cut but the IP header claims more than is there: a lie.
        _ => (avail, avail.len() as u32, true),
    }
}

fn ipv4(d: &[u8], cut: bool) -> Result<IpPart<'_>, Skip> {
    if d.len() < 20 {
        return Err(Skip::Truncated);
    }
    if d[0] >> 4 != 4 {
        return Err(Skip::Malformed);
    }
    let ihl = (d[0] & 0x0f) as usize * 4;
    if ihl < 20 {
        return Err(Skip::Malformed);
    }
    if d.len() < ihl {
        return Err(Skip::Truncated);
    }
    let total = be16(d, 2).unwrap_or(0) as usize;
    let frag = be16(d, 6).unwrap_or(0);
    if frag & 0x2000 != 0 || frag & 0x1fff != 0 {
        return Err(Skip::IpFragment);
    }
    if d[9] != 6 {
        return Err(Skip::NotTcp);
    }
    let src = IpAddr::from([d[12], d[13], d[14], d[15]]);
    let dst = IpAddr::from([d[16], d[17], d[18], d[19]]);
    let avail = &d[ihl..];
    let declared = if total == 0 {
        None // TSO capture: total length left 0.
    } else if total < ihl {
        return Err(Skip::Malformed);
    } else {
        Some((total - ihl) as u64)
    };
    Ok(IpPart::new(src, dst, avail, declared, cut))
}

fn ipv6(d: &[u8], cut: bool) -> Result<IpPart<'_>, Skip> {
    if d.len() < 40 {
        return Err(Skip::Truncated);
    }
    if d[0] >> 4 != 6 {
        return Err(Skip::Malformed);
    }
    let plen = be16(d, 4).unwrap_or(0) as u64;
    let mut nh = d[6];
    let mut a = [0u8; 16];
    a.copy_from_slice(&d[8..24]);
    let src = IpAddr::from(a);
    a.copy_from_slice(&d[24..40]);
    let dst = IpAddr::from(a);
    let mut off = 40usize;
    let mut jumbo: Option<u64> = None;
    let mut hops = 0;
    while nh != 6 {
        hops += 1;
        if hops > 32 {
            return Err(Skip::Malformed);
        }
        let h = d.get(off..).ok_or(Skip::Truncated)?;
        let len = match nh {
            0 | 43 | 60 | 135 | 139 | 140 => {
                let len = (*h.get(1).ok_or(Skip::Truncated)? as usize + 1) * 8;
                if nh == 0 {
                    // Hop-by-Hop: look for the Jumbo Payload option (0xC2).
                    let opts = h.get(2..len.min(h.len())).unwrap_or(&[]);
                    let mut i = 0;
                    while i < opts.len() {
                        let t = opts[i];
                        if t == 0 {
                            i += 1;
                            continue;
                        }
                        let Some(&ol) = opts.get(i + 1) else { break };
                        if t == 0xC2 && ol == 4 {
                            jumbo = be32(opts, i + 2).map(|v| v as u64);
                        }
                        i += 2 + ol as usize;
                    }
                }
                len
            }
            44 => {
                let fo = be16(h, 2).ok_or(Skip::Truncated)?;
                if fo & 0xfff8 != 0 || fo & 1 != 0 {
                    return Err(Skip::IpFragment);
                }
                8
            }
            51 => (*h.get(1).ok_or(Skip::Truncated)? as usize + 2) * 4,
            _ => return Err(Skip::NotTcp), // 17 UDP, 58 ICMPv6, 50 ESP, 59 none...
        };
        if h.len() < len {
            return Err(Skip::Truncated);
        }
        nh = h[0];
        off += len;
    }
    let ext = (off - 40) as u64;
    let declared = if plen != 0 {
        Some(plen)
    } else {
        jumbo // None for a TSO/GRO capture with payload length 0.
    };
    let declared = match declared {
        Some(n) if n < ext => return Err(Skip::Malformed),
        Some(n) => Some(n - ext),
        None => None,
    };
    let avail = d.get(off..).ok_or(Skip::Truncated)?;
    Ok(IpPart::new(src, dst, avail, declared, cut))
}

fn tcp<'a>(frame: &Frame<'a>, ip: IpPart<'a>) -> Result<Segment<'a>, Skip> {
    let t = ip.l4;
    if ip.l4_len < 20 && !ip.len_from_capture {
        return Err(Skip::Malformed);
    }
    if t.len() < 20 {
        return Err(Skip::Truncated);
    }
    let sport = be16(t, 0).unwrap_or(0);
    let dport = be16(t, 2).unwrap_or(0);
    let seq = be32(t, 4).unwrap_or(0);
    let ack = be32(t, 8).unwrap_or(0);
    let doff = (t[12] >> 4) as usize * 4;
    if doff < 20 || doff as u64 > ip.l4_len as u64 {
        return Err(Skip::Malformed);
    }
    let flags = t[13];
    let window = be16(t, 14).unwrap_or(0);
    let opt_bytes = t.get(20..doff.min(t.len())).unwrap_or(&[]);
    let mut options = parse_options(opt_bytes);
    options.options_len = (doff - 20) as u8;
    let payload = t.get(doff..).unwrap_or(&[]);
    let payload_len = ip.l4_len - doff as u32;
    let truncated =
        !ip.len_from_capture && (payload.len() as u64) < payload_len as u64 || t.len() < doff;
    Ok(Segment {
        frame: frame.number,
        ts_ns: frame.ts_ns,
        src: SocketAddr::new(ip.src, sport),
        dst: SocketAddr::new(ip.dst, dport),
        seq,
        ack,
        flags,
        window,
        options,
        payload_len,
        payload,
        truncated,
        wire_len: frame.orig_len,
    })
}

/// Parse the TCP options present with etherparse's option iterator; stops
/// quietly at the first malformed one. etherparse stops at option kinds it
/// does not know (TCP Fast Open, MPTCP, ...): those are skipped by their
/// length byte and parsing goes on after them.
fn parse_options(o: &[u8]) -> TcpOptions {
    use etherparse::{TcpOptionElement as E, TcpOptionReadError, TcpOptionsIterator};
    let mut r = TcpOptions::default();
    let mut it = TcpOptionsIterator::from_slice(o);
    loop {
        let before = it.rest();
        match it.next() {
            None => break,
            Some(Ok(E::MaximumSegmentSize(m))) => r.mss = Some(m),
            Some(Ok(E::WindowScale(w))) => r.window_scale = Some(w),
            Some(Ok(E::SelectiveAcknowledgementPermitted)) => r.sack_permitted = true,
            Some(Ok(E::SelectiveAcknowledgement(first, more))) => {
                r.sack[0] = first;
                let mut n = 1;
                for b in more.iter().flatten() {
                    r.sack[n] = *b;
                    n += 1;
                }
                r.sack_blocks = n as u8;
            }
            Some(Ok(E::Timestamp(val, ecr))) => r.timestamps = Some((val, ecr)),
            Some(Ok(E::Noop)) => {}
            Some(Err(TcpOptionReadError::UnknownId(_))) => {
                let len = before.get(1).copied().unwrap_or(0) as usize;
                match before.get(len..) {
                    Some(rest) if len >= 2 => it = TcpOptionsIterator::from_slice(rest),
                    _ => break,
                }
            }
            Some(Err(_)) => break,
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::linktype as lt;

    /// IPv4 192.168.0.1:1234 -> 192.168.0.2:80, seq 100, ack 200, PSH|ACK,
    /// window 8192, payload "abcd".
    const V4: [u8; 44] = [
        0x45, 0x00, 0x00, 0x2c, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0x02, // IPv4
        0x04, 0xd2, 0x00, 0x50, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0xc8, 0x50, 0x18, 0x20,
        0x00, 0x00, 0x00, 0x00, 0x00, // TCP
        b'a', b'b', b'c', b'd',
    ];

    /// IPv6 2001:db8::1 -> 2001:db8::2 with a Hop-by-Hop header (PadN)
    /// before the same TCP segment.
    const V6: [u8; 72] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x40, // plen 32, next HBH
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // src
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // dst
        0x06, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, // HBH: next TCP, PadN
        0x04, 0xd2, 0x00, 0x50, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0xc8, 0x50, 0x18, 0x20,
        0x00, 0x00, 0x00, 0x00, 0x00, // TCP
        b'a', b'b', b'c', b'd',
    ];

    const MACS: [u8; 12] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn dec(link_type: u32, data: &[u8]) -> Result<Segment<'_>, Skip> {
        decode(&Frame {
            number: 7,
            ts_ns: 42,
            link_type,
            data,
            orig_len: data.len() as u32,
        })
    }

    fn check(seg: &Segment, v6: bool) {
        let (s, d): (IpAddr, IpAddr) = if v6 {
            (
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
            )
        } else {
            (
                "192.168.0.1".parse().unwrap(),
                "192.168.0.2".parse().unwrap(),
            )
        };
        assert_eq!(seg.src, SocketAddr::new(s, 1234));
        assert_eq!(seg.dst, SocketAddr::new(d, 80));
        assert_eq!((seg.seq, seg.ack, seg.window), (100, 200, 8192));
        assert_eq!(seg.flags, flags::PSH | flags::ACK);
        assert_eq!(seg.payload_len, 4);
        assert_eq!(seg.payload, b"abcd");
        assert!(!seg.truncated);
        assert_eq!((seg.frame, seg.ts_ns), (7, 42));
    }

    #[test]
    fn ethernet_and_vlan_tags() {
        let f = cat(&[&MACS, &[0x08, 0x00], &V4]);
        check(&dec(lt::ETHERNET, &f).unwrap(), false);
        let f = cat(&[&MACS, &[0x86, 0xdd], &V6]);
        check(&dec(lt::ETHERNET, &f).unwrap(), true);
        let f = cat(&[&MACS, &[0x81, 0x00, 0x00, 0x64, 0x08, 0x00], &V4]);
        check(&dec(lt::ETHERNET, &f).unwrap(), false);
        // QinQ: 802.1ad outer, 802.1Q inner.
        let f = cat(&[
            &MACS,
            &[0x88, 0xa8, 0, 0x64, 0x81, 0x00, 0, 0xc8, 0x86, 0xdd],
            &V6,
        ]);
        check(&dec(lt::ETHERNET, &f).unwrap(), true);
        // Ethernet padding after the IP packet is ignored.
        let f = cat(&[&MACS, &[0x08, 0x00], &V4, &[0; 6]]);
        check(&dec(lt::ETHERNET, &f).unwrap(), false);
    }

    #[test]
    fn pppoe_and_mpls() {
        // PPPoE session, length 46 = PPP protocol (2) + 44.
        let f = cat(&[
            &MACS,
            &[0x88, 0x64, 0x11, 0x00, 0x00, 0x01, 0x00, 0x2e, 0x00, 0x21],
            &V4,
        ]);
        check(&dec(lt::ETHERNET, &f).unwrap(), false);
        // MPLS unicast, two labels, bottom of stack on the second.
        let f = cat(&[&MACS, &[0x88, 0x47, 0, 0, 0x10, 64, 0, 0, 0x21, 64], &V4]);
        check(&dec(lt::ETHERNET, &f).unwrap(), false);
    }

    #[test]
    fn linux_sll_and_sll2() {
        let sll = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        check(&dec(lt::LINUX_SLL, &cat(&[&sll, &V4])).unwrap(), false);
        let sll2 = [
            0x86, 0xdd, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
        ];
        check(&dec(lt::LINUX_SLL2, &cat(&[&sll2, &V6])).unwrap(), true);
        assert_eq!(
            dec(lt::LINUX_SLL2, &sll2[..19]).unwrap_err(),
            Skip::Truncated
        );
    }

    #[test]
    fn null_and_loop_either_byte_order() {
        check(&dec(lt::NULL, &cat(&[&[2, 0, 0, 0], &V4])).unwrap(), false);
        check(&dec(lt::NULL, &cat(&[&[30, 0, 0, 0], &V6])).unwrap(), true);
        check(&dec(lt::NULL, &cat(&[&[0, 0, 0, 24], &V6])).unwrap(), true);
        check(&dec(lt::LOOP, &cat(&[&[0, 0, 0, 2], &V4])).unwrap(), false);
        check(&dec(lt::LOOP, &cat(&[&[0, 0, 0, 28], &V6])).unwrap(), true);
        check(&dec(lt::LOOP, &cat(&[&[10, 0, 0, 0], &V6])).unwrap(), true);
        assert_eq!(
            dec(lt::NULL, &cat(&[&[7, 0, 0, 0], &V4])).unwrap_err(),
            Skip::NotIp
        );
    }

    #[test]
    fn raw_ip_link_types() {
        for l in [lt::RAW, lt::RAW_12, lt::RAW_14] {
            check(&dec(l, &V4).unwrap(), false);
            check(&dec(l, &V6).unwrap(), true);
        }
        check(&dec(lt::IPV4, &V4).unwrap(), false);
        check(&dec(lt::IPV6, &V6).unwrap(), true);
        assert_eq!(dec(lt::IPV4, &V6).unwrap_err(), Skip::Malformed);
    }

    #[test]
    fn ppp_variants() {
        check(
            &dec(lt::PPP, &cat(&[&[0xff, 0x03, 0x00, 0x21], &V4])).unwrap(),
            false,
        );
        check(&dec(lt::PPP, &cat(&[&[0x00, 0x57], &V6])).unwrap(), true);
        check(&dec(lt::PPP, &cat(&[&[0x21], &V4])).unwrap(), false); // compressed
        let mpls = [0xff, 0x03, 0x02, 0x81, 0x00, 0x01, 0x01, 0x40];
        check(&dec(lt::PPP, &cat(&[&mpls, &V4])).unwrap(), false);
        // Cisco HDLC framing labelled as PPP.
        check(
            &dec(lt::PPP, &cat(&[&[0x0f, 0x00, 0x08, 0x00], &V4])).unwrap(),
            false,
        );
        assert_eq!(
            dec(lt::PPP, &[0xff, 0x03, 0xc0, 0x21, 1, 2]).unwrap_err(),
            Skip::NotIp
        );
    }

    #[test]
    fn skips() {
        assert_eq!(dec(147, &V4).unwrap_err(), Skip::UnsupportedLinkType(147));
        let arp = cat(&[&MACS, &[0x08, 0x06], &[0; 28]]);
        assert_eq!(dec(lt::ETHERNET, &arp).unwrap_err(), Skip::NotIp);
        let mut udp = V4;
        udp[9] = 17;
        assert_eq!(dec(lt::RAW, &udp).unwrap_err(), Skip::NotTcp);
        assert_eq!(dec(lt::ETHERNET, &MACS[..10]).unwrap_err(), Skip::Truncated);
        assert_eq!(dec(lt::RAW, &V4[..30]).unwrap_err(), Skip::Truncated);
        assert_eq!(dec(lt::RAW, &V4[..10]).unwrap_err(), Skip::Truncated);
        assert_eq!(dec(lt::RAW, &[]).unwrap_err(), Skip::Truncated);
        assert_eq!(dec(lt::RAW, &[0x50; 40]).unwrap_err(), Skip::NotIp);
        let mut bad = V4;
        bad[32] = 0x40; // data offset 4
        assert_eq!(dec(lt::RAW, &bad).unwrap_err(), Skip::Malformed);
        let mut bad = V4;
        bad[0] = 0x44; // IHL 4
        assert_eq!(dec(lt::RAW, &bad).unwrap_err(), Skip::Malformed);
    }

    #[test]
    fn ip_fragments() {
        let mut f = V4;
        f[6] = 0x20; // MF
        assert_eq!(dec(lt::RAW, &f).unwrap_err(), Skip::IpFragment);
        let mut f = V4;
        f[6] = 0x00;
        f[7] = 0x10; // offset 16*8
        assert_eq!(dec(lt::RAW, &f).unwrap_err(), Skip::IpFragment);
        // IPv6 fragment header in place of the HBH header.
        let mut f = V6;
        f[6] = 44;
        f[40..48].copy_from_slice(&[6, 0, 0, 1, 0, 0, 0, 9]); // offset 0, M=1
        assert_eq!(dec(lt::RAW, &f).unwrap_err(), Skip::IpFragment);
        f[40..48].copy_from_slice(&[6, 0, 0, 0, 0, 0, 0, 9]); // atomic
        check(&dec(lt::RAW, &f).unwrap(), true);
        f[42..44].copy_from_slice(&[0, 0x08]); // offset 1, M=0
        assert_eq!(dec(lt::RAW, &f).unwrap_err(), Skip::IpFragment);
        f[42..44].copy_from_slice(&[0, 0]);
        check(&dec(lt::RAW, &f).unwrap(), true);
    }

    #[test]
    fn lengths_from_ip_header() {
        // Snaplen cut inside the payload: length from IP, flagged truncated.
        let seg = decode(&Frame {
            number: 1,
            ts_ns: 0,
            link_type: lt::RAW,
            data: &V4[..42],
            orig_len: 44,
        })
        .unwrap();
        assert_eq!(
            (seg.payload_len, seg.payload, seg.truncated),
            (4, &b"ab"[..], true)
        );
        // Cut inside the TCP options: still decoded, truncated.
        let mut opt = V4.to_vec();
        opt[3] = 48; // total 48: 20 + 28 TCP (8 bytes of options) + 0 payload
        opt[32] = 0x70;
        opt.truncate(44);
        opt[40..44].copy_from_slice(&[2, 4, 0x05, 0xb4]);
        let seg = decode(&Frame {
            number: 1,
            ts_ns: 0,
            link_type: lt::RAW,
            data: &opt[..42],
            orig_len: 48,
        })
        .unwrap();
        assert!(seg.truncated);
        assert_eq!(
            (seg.payload_len, seg.options.options_len, seg.options.mss),
            (0, 8, None)
        );
        // TSO capture: IP total length 0 -> captured length, not truncated.
        let mut tso = V4;
        tso[2] = 0;
        tso[3] = 0;
        check(&dec(lt::RAW, &tso).unwrap(), false);
        // IPv6 payload length 0 with a Jumbo Payload option.
        let mut j = V6;
        j[4] = 0;
        j[5] = 0;
        j[42..48].copy_from_slice(&[0xc2, 0x04, 0, 0, 0, 32]);
        check(&dec(lt::RAW, &j).unwrap(), true);
        // IP length larger than an uncut frame: the IP header lies.
        let mut lie = V4;
        lie[3] = 0x80;
        check(&dec(lt::RAW, &lie).unwrap(), false);
    }

    #[test]
    fn tcp_options() {
        let mut p = V4.to_vec();
        p.truncate(40);
        p[3] = 72; // 20 + 52 (32 bytes of options)
        p[32] = 0xd0;
        p.extend_from_slice(&[
            2, 4, 0x05, 0x8c, // MSS 1420
            1, 3, 3, 9, // NOP, WS 9
            4, 2, // SACK permitted
            8, 10, 0, 0, 0, 1, 0, 0, 0, 2, // TS 1, 2
            5, 10, 0, 0, 0, 5, 0, 0, 0, 9, // SACK, 1 block: 5..9
            0, 0, // EOL
        ]);
        let s = dec(lt::RAW, &p).unwrap();
        let o = s.options;
        assert_eq!(
            (o.mss, o.window_scale, o.sack_permitted),
            (Some(1420), Some(9), true)
        );
        assert_eq!(
            (o.timestamps, o.sack_blocks, o.options_len),
            (Some((1, 2)), 1, 32)
        );
        assert_eq!(o.sack[0], (5, 9));
        assert_eq!(s.payload_len, 0);
        // A zero option length stops parsing but keeps the segment.
        p[40..44].copy_from_slice(&[1, 0x1d, 0, 0]);
        let s = dec(lt::RAW, &p).unwrap();
        assert_eq!(s.options.mss, None);
        assert_eq!(s.options.window_scale, None);
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn never_panics_on_random_or_cut_bytes() {
        use nagle_testkit::writer::{tcp_frame, TcpSpec};
        let lts = [0, 1, 9, 12, 14, 101, 108, 113, 228, 229, 276, 147];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut seeds: Vec<Vec<u8>> = Vec::new();
        for &l in &lts {
            for v6 in [false, true] {
                let mut s = TcpSpec {
                    mss: Some(1460),
                    timestamps: Some((1, 2)),
                    payload: vec![1; 30],
                    ..Default::default()
                };
                if v6 {
                    s.src = "[::1]:1".parse().unwrap();
                    s.dst = "[::2]:2".parse().unwrap();
                }
                seeds.push(tcp_frame(l, &s));
            }
        }
        seeds.push(cat(&[
            &MACS,
            &[0x88, 0x64, 0x11, 0, 0, 1, 0, 0x2e, 0, 0x21],
            &V4,
        ]));
        seeds.push(cat(&[&[0xff, 0x03, 0x02, 0x81, 0, 1, 1, 0x40], &V4]));
        seeds.push(V6.to_vec());
        for &l in &lts {
            for seed in &seeds {
                // Every prefix.
                for n in 0..=seed.len() {
                    let _ = dec(l, &seed[..n]);
                }
                // Random mutations, with random claimed original lengths.
                for _ in 0..200 {
                    let mut b = seed.clone();
                    for _ in 0..(rng.next() % 6 + 1) {
                        let i = (rng.next() as usize) % b.len().max(1);
                        if let Some(x) = b.get_mut(i) {
                            *x = rng.next() as u8;
                        }
                    }
                    let cut = (rng.next() as usize) % (b.len() + 1);
                    let _ = decode(&Frame {
                        number: 1,
                        ts_ns: 0,
                        link_type: l,
                        data: &b[..cut],
                        orig_len: rng.next() as u32,
                    });
                }
            }
            // Pure noise.
            for _ in 0..500 {
                let len = (rng.next() % 200) as usize;
                let b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                let _ = dec(l, &b);
            }
        }
    }

    #[test]
    fn options_after_an_unknown_kind_are_still_read() {
        let opts = [
            2, 4, 0x05, 0xb4, // MSS 1460
            34, 4, 0xaa, 0xbb, // TCP Fast Open cookie (unknown to etherparse)
            1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, // NOP NOP TS 7/9
            3, 3, 7, // window scale 7
        ];
        let o = parse_options(&opts);
        assert_eq!(o.mss, Some(1460));
        assert_eq!(o.timestamps, Some((7, 9)));
        assert_eq!(o.window_scale, Some(7));
        // A bad length stops parsing without losing what came before.
        let bad = [2, 4, 0x05, 0xb4, 34, 1, 8, 10];
        let o = parse_options(&bad);
        assert_eq!((o.mss, o.timestamps), (Some(1460), None));
    }
}

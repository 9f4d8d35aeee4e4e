//! Exact writes from the kernel during a live capture (`--trace-writes`).
//!
//! A capture shows segments; the kernel knows every send call: its size,
//! when it was made, the connection it went to, and whether TCP_NODELAY or
//! TCP_CORK was set on that socket at that moment. [`WriteTracer`] loads two
//! small BPF programs (`program`), attaches them to tracepoints, and turns
//! what they emit into [`KernelWrite`]s on the capture's clock.
//!
//! The programs are encoded by hand (`insn`) with field offsets read from
//! the running kernel's BTF (`btf`) and loaded with raw system calls
//! (`sys`): no clang, LLVM, nightly toolchain or libbpf at build time, and
//! the verifier still checks them at load time.
//!
//! What it does not do: decide which flow a write belongs to (the write
//! log machinery does, by the 4-tuple), or read what was written.
//! Sends that do not go through `sendmsg` (io_uring's zero-copy paths, kernel
//! sockets) are not seen by the entry hook: their call time is their
//! return time.

mod btf;
mod insn;
mod program;
mod sys;

use crate::TsNs;
use anyhow::Context;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

pub use crate::writes::NagleBits;

/// The socket's state from `tcp_sock.nonagle`: TCP_NAGLE_OFF (1) is what
/// `getsockopt(TCP_NODELAY)` reports, TCP_NAGLE_CORK (2) TCP_CORK.
fn from_nonagle(v: u8) -> NagleBits {
    NagleBits {
        nodelay: v & 1 != 0,
        cork: v & 2 != 0,
    }
}

/// One send call as the kernel saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelWrite {
    /// When the call was entered (capture clock, ns since the epoch); its
    /// return time when the entry was not seen.
    pub call: TsNs,
    /// When it returned.
    pub returned: TsNs,
    pub bytes: u64,
    /// The sending socket's own address and its peer's.
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// The kernel's socket (its address): tells apart sockets that reuse a
    /// 4-tuple.
    pub sk: u64,
    pub pid: u32,
    pub nagle: Option<NagleBits>,
}

/// Why the tracer is not running: one line for the user.
#[derive(Debug)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--trace-writes: {}; capturing without kernel writes",
            self.0
        )
    }
}

/// Ring buffer size: 16 MiB holds ~160,000 records between two drains
/// (the capture drains it at every packet and at least every 100 ms).
const RING_BYTES: usize = 16 << 20;
/// Threads whose last send-call entry is remembered.
const ENTER_SLOTS: u32 = 1 << 16;
/// System calls whose entry time is remembered.
const ENTER_CALLS: [&str; 7] = [
    "sys_enter_write",
    "sys_enter_writev",
    "sys_enter_sendto",
    "sys_enter_sendmsg",
    "sys_enter_sendmmsg",
    "sys_enter_sendfile64",
    "sys_enter_splice",
];

/// Loaded, attached programs and the ring buffer they fill.
pub struct WriteTracer {
    ring: sys::RingBuf,
    lost: OwnedFd,
    /// Perf events holding the attached programs (dropping detaches).
    _links: Vec<OwnedFd>,
    _progs: Vec<OwnedFd>,
    _enter_map: OwnedFd,
    /// Capture clock (CLOCK_REALTIME) minus the programs' (CLOCK_MONOTONIC), ns.
    offset: i64,
    /// `nonagle`'s bit shift within the byte read.
    nonagle_shift: Option<u32>,
    /// Attached entry hooks (some kernels lack some syscall tracepoints).
    pub entry_hooks: usize,
}

fn clock(id: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(id, &mut ts) };
    #[allow(clippy::unnecessary_cast)] // time_t and c_long vary by platform
    let ns = ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64;
    ns
}

/// CLOCK_REALTIME − CLOCK_MONOTONIC, from the tightest of a few samples.
pub fn clock_offset() -> i64 {
    (0..16)
        .map(|_| {
            let a = clock(libc::CLOCK_MONOTONIC);
            let r = clock(libc::CLOCK_REALTIME);
            let b = clock(libc::CLOCK_MONOTONIC);
            (b - a, r - (a + (b - a) / 2))
        })
        .min_by_key(|&(width, _)| width)
        .map_or(0, |(_, off)| off)
}

/// Field offsets of this kernel, from BTF.
fn offsets(b: &btf::Btf) -> anyhow::Result<(program::Offsets, Option<u32>)> {
    let common = b.field("sock", "__sk_common")?.byte() as i32;
    let at =
        |f: &str| -> anyhow::Result<i32> { Ok(common + b.field("sock_common", f)?.byte() as i32) };
    let v6 = match (at("skc_v6_daddr"), at("skc_v6_rcv_saddr")) {
        (Ok(d), Ok(s)) => Some((d, s)),
        _ => None,
    };
    let nonagle = b
        .field("tcp_sock", "nonagle")
        .ok()
        .filter(|p| p.bit_offset % 8 + p.bitfield.unwrap_or(8) <= 8);
    let o = program::Offsets {
        daddr: at("skc_daddr")?,
        rcv_saddr: at("skc_rcv_saddr")?,
        dport: at("skc_dport")?,
        num: at("skc_num")?,
        v6,
        nonagle: nonagle.map(|p| p.byte() as i32),
    };
    Ok((o, nonagle.map(|p| p.bit_offset % 8)))
}

impl WriteTracer {
    /// Load and attach, or say in one line what is missing.
    pub fn start() -> Result<WriteTracer, Unavailable> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(Unavailable("needs root (BPF and tracepoints)".into()));
        }
        Self::load().map_err(|e| Unavailable(format!("{e:#}")))
    }

    fn load() -> anyhow::Result<WriteTracer> {
        let btf = btf::Btf::vmlinux().context("no kernel BTF")?;
        let (offs, nonagle_shift) = offsets(&btf)?;
        let send_id = sys::tracepoint_id("sock", "sock_send_length")?;
        let bpf_err = |what: &str| {
            format!("the kernel refused a BPF {what} (BPF disabled or not permitted?)")
        };
        let enter_map = sys::map_create(sys::MapType::LruHash, 8, 8, ENTER_SLOTS)
            .with_context(|| bpf_err("map"))?;
        let ring_map = sys::map_create(sys::MapType::Ringbuf, 0, 0, RING_BYTES as u32)
            .with_context(|| bpf_err("ring buffer"))?;
        let lost = sys::map_create(sys::MapType::Array, 4, 8, 1).with_context(|| bpf_err("map"))?;
        let send = program::send(
            &offs,
            enter_map.as_raw_fd(),
            ring_map.as_raw_fd(),
            lost.as_raw_fd(),
        );
        let send = sys::prog_load(&send, "nagle_send")?;
        let enter = sys::prog_load(&program::enter(enter_map.as_raw_fd()), "nagle_enter")?;
        let mut links = vec![sys::attach_tracepoint(send_id, &send)
            .context("cannot attach to sock:sock_send_length")?];
        for call in ENTER_CALLS {
            if let Ok(id) = sys::tracepoint_id("syscalls", call) {
                links.extend(sys::attach_tracepoint(id, &enter).ok());
            }
        }
        Ok(WriteTracer {
            ring: sys::RingBuf::new(ring_map, RING_BYTES)?,
            lost,
            entry_hooks: links.len() - 1,
            _links: links,
            _progs: vec![send, enter],
            _enter_map: enter_map,
            offset: clock_offset(),
            nonagle_shift,
        })
    }

    /// Every write recorded since the last call, in the order recorded.
    pub fn drain(&mut self, out: &mut dyn FnMut(KernelWrite)) {
        let (offset, shift) = (self.offset, self.nonagle_shift);
        self.ring.drain(&mut |r| {
            if let Some(w) = decode(r, offset, shift) {
                out(w)
            }
        });
    }

    /// Records the ring buffer had no room for.
    pub fn lost(&self) -> u64 {
        sys::array_u64(&self.lost, 0).unwrap_or(0)
    }
}

fn u16_at(r: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([r[o], r[o + 1]])
}
fn u64_at(r: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(r[o..o + 8].try_into().unwrap())
}

/// A record into a write (None if it is malformed).
fn decode(r: &[u8], offset: i64, nonagle_shift: Option<u32>) -> Option<KernelWrite> {
    use program::rec;
    if r.len() < rec::LEN {
        return None;
    }
    let ip = |v4: usize, v6: usize| -> IpAddr {
        if u16_at(r, rec::FAMILY) == 10 {
            let b: [u8; 16] = r[v6..v6 + 16].try_into().unwrap();
            IpAddr::V6(Ipv6Addr::from(b))
        } else {
            let b: [u8; 4] = r[v4..v4 + 4].try_into().unwrap();
            IpAddr::V4(Ipv4Addr::from(b))
        }
    };
    let local = SocketAddr::new(ip(rec::SADDR, rec::V6_SADDR), u16_at(r, rec::NUM));
    let peer = SocketAddr::new(
        ip(rec::DADDR, rec::V6_DADDR),
        u16::from_be_bytes([r[rec::DPORT], r[rec::DPORT + 1]]),
    );
    let (enter, exit) = (u64_at(r, rec::ENTER) as i64, u64_at(r, rec::EXIT) as i64);
    // An entry time after the return, or long before it, is a stale one
    // (the thread's last entry was another call): use the return time.
    let call = if enter > 0 && enter <= exit {
        enter
    } else {
        exit
    };
    let nagle = match (r[rec::HAS_NONAGLE], nonagle_shift) {
        (1, Some(s)) => Some(from_nonagle((r[rec::NONAGLE] >> s) & 0xf)),
        _ => None,
    };
    Some(KernelWrite {
        call: call + offset,
        returned: exit + offset,
        bytes: u32::from_le_bytes(r[rec::RET..rec::RET + 4].try_into().unwrap()) as u64,
        local,
        peer,
        sk: u64_at(r, rec::SK),
        pid: (u64_at(r, rec::PID_TGID) >> 32) as u32,
        nagle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_decodes_to_a_write_on_the_capture_clock() {
        use program::rec;
        let mut r = vec![0u8; rec::LEN];
        r[rec::ENTER..rec::ENTER + 8].copy_from_slice(&1_000u64.to_le_bytes());
        r[rec::EXIT..rec::EXIT + 8].copy_from_slice(&1_500u64.to_le_bytes());
        r[rec::PID_TGID..rec::PID_TGID + 8].copy_from_slice(&((42u64 << 32) | 43).to_le_bytes());
        r[rec::RET..rec::RET + 4].copy_from_slice(&4u32.to_le_bytes());
        r[rec::FAMILY..rec::FAMILY + 2].copy_from_slice(&2u16.to_le_bytes());
        r[rec::SADDR..rec::SADDR + 4].copy_from_slice(&[10, 0, 0, 1]);
        r[rec::DADDR..rec::DADDR + 4].copy_from_slice(&[10, 0, 0, 2]);
        r[rec::NUM..rec::NUM + 2].copy_from_slice(&40000u16.to_le_bytes());
        r[rec::DPORT..rec::DPORT + 2].copy_from_slice(&6379u16.to_be_bytes());
        r[rec::NONAGLE] = 0b0101_0000; // nonagle at bit 4: OFF | PUSH
        r[rec::HAS_NONAGLE] = 1;
        let w = decode(&r, 1_000_000, Some(4)).unwrap();
        assert_eq!(
            (w.call, w.returned, w.bytes, w.pid),
            (1_001_000, 1_001_500, 4, 42)
        );
        assert_eq!(
            (w.local.to_string(), w.peer.to_string()),
            ("10.0.0.1:40000".into(), "10.0.0.2:6379".into())
        );
        assert_eq!(
            w.nagle,
            Some(NagleBits {
                nodelay: true,
                cork: false
            })
        );
        // No entry seen: the call time is the return time.
        r[rec::ENTER..rec::ENTER + 8].copy_from_slice(&0u64.to_le_bytes());
        assert_eq!(decode(&r, 0, Some(4)).unwrap().call, 1_500);
        assert!(decode(&r[..40], 0, None).is_none());
    }
}

#[cfg(test)]
mod live_tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    /// Root only: writes on a loopback connection come back exact, with
    /// the socket's TCP_NODELAY state before and after it is set.
    #[test]
    fn the_kernel_reports_each_write_with_its_nodelay_state() {
        let mut t = match WriteTracer::start() {
            Ok(t) => t,
            Err(e) => {
                eprintln!("skipped: {e}");
                return;
            }
        };
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(server.local_addr().unwrap()).unwrap();
        let (mut s, _) = server.accept().unwrap();
        let before = clock(libc::CLOCK_REALTIME);
        for i in 0..6 {
            if i == 3 {
                c.set_nodelay(true).unwrap();
            }
            c.write_all(&[b'x'; 4]).unwrap();
        }
        let after = clock(libc::CLOCK_REALTIME);
        let mut buf = [0u8; 24];
        s.read_exact(&mut buf).unwrap();
        let mut got = Vec::new();
        t.drain(&mut |w| {
            if w.local == c.local_addr().unwrap() {
                got.push(w)
            }
        });
        assert_eq!(got.len(), 6, "{got:?}");
        assert!(got
            .iter()
            .all(|w| w.bytes == 4 && w.peer == server.local_addr().unwrap()));
        assert!(
            got.iter()
                .all(|w| w.call >= before - 1_000_000 && w.returned <= after + 1_000_000),
            "{got:?} {before} {after}"
        );
        let nodelay: Vec<bool> = got.iter().map(|w| w.nagle.unwrap().nodelay).collect();
        assert_eq!(nodelay, [false, false, false, true, true, true]);
        assert_eq!(t.lost(), 0);
        assert!(t.entry_hooks >= 2, "{} entry hooks", t.entry_hooks);
    }
}

//! The emulated path between the lab's two namespaces, with a chosen RTT.
//!
//! What it does: joins the sender's and the receiver's namespace
//! (`10.77.0.1` ↔ `10.77.0.2`) by one of two methods, picked automatically:
//!
//! - `netem`: a veth pair with a `netem delay RTT/2` qdisc on each end, used
//!   when the kernel has netem (checked by adding one to a namespace's `lo`).
//! - `tun`: a user-space delay line: a TUN device in each namespace and one
//!   forwarding thread per direction that reads each packet from one TUN,
//!   holds it for RTT/2 (a FIFO with a constant delay, so order is kept) and
//!   writes it to the other. The threads sleep with `ppoll` and a 1 ns timer
//!   slack, so a packet leaves within tens of microseconds of its due time on
//!   an idle machine; the lateness of every packet is measured and reported.
//!
//! Offloads: a TUN device without `TUNSETOFFLOAD` has no TSO/GSO features, so
//! the stack segments before the packet tap and the capture shows the real
//! segments; without `IFF_NAPI` there is no GRO on the receiving TUN. For veth
//! (netem) `ethtool -K ... tso off gso off gro off` is tried and the outcome
//! recorded.
//!
//! Loss (`--loss P`): each packet entering the line (either direction) is
//! dropped with probability P, decided by a seeded generator ([`Dropper`],
//! one per direction), so a run can be repeated with the same drop pattern
//! as far as the packet order repeats. With netem, `loss P%` is added to each
//! qdisc instead (not seeded). Drops are counted per direction (`lost`).
//!
//! What it does not do: no reordering, no bandwidth limit, no jitter. The
//! [`DelayQueue`] holds packets only; it never inspects them.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context};

use super::netns::{self, Netns};

pub const SENDER_ADDR: &str = "10.77.0.1";
pub const RECEIVER_ADDR: &str = "10.77.0.2";
/// Interface name inside each namespace (both methods).
pub const IFNAME: &str = "nl0";

/// A FIFO that releases each packet a fixed delay after it entered.
/// Time is a plain nanosecond counter supplied by the caller, so the logic is
/// testable without a clock.
#[derive(Debug)]
pub struct DelayQueue {
    delay_ns: u64,
    limit: usize,
    q: VecDeque<(u64, Vec<u8>)>,
    /// Packets refused because the queue was full.
    pub overflow: u64,
    /// Largest number of packets held at once.
    pub max_held: usize,
}

impl DelayQueue {
    pub fn new(delay_ns: u64, limit: usize) -> Self {
        DelayQueue {
            delay_ns,
            limit,
            q: VecDeque::new(),
            overflow: 0,
            max_held: 0,
        }
    }

    /// A packet arrived at `now_ns`; it is due at `now_ns + delay`.
    /// Returns false (and counts it) when the queue is full.
    pub fn push(&mut self, now_ns: u64, pkt: Vec<u8>) -> bool {
        if self.q.len() >= self.limit {
            self.overflow += 1;
            return false;
        }
        // Arrival times are monotonic, so due times are too: FIFO = order kept.
        let due = now_ns + self.delay_ns;
        let due = self.q.back().map_or(due, |(d, _)| due.max(*d));
        self.q.push_back((due, pkt));
        self.max_held = self.max_held.max(self.q.len());
        true
    }

    /// The oldest packet if it is due at `now_ns`, with its due time.
    pub fn pop_due(&mut self, now_ns: u64) -> Option<(u64, Vec<u8>)> {
        match self.q.front() {
            Some((due, _)) if *due <= now_ns => self.q.pop_front(),
            _ => None,
        }
    }

    /// When the next packet is due, if any is held.
    pub fn next_due(&self) -> Option<u64> {
        self.q.front().map(|(d, _)| *d)
    }

    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

/// Random loss on one direction of the line: drop each packet with
/// probability `p`, from a seeded xorshift64* generator (no dependency; the
/// quality needed is "no visible pattern", not cryptography).
#[derive(Debug, Clone)]
pub struct Dropper {
    p: f64,
    state: u64,
}

impl Dropper {
    /// `p` in [0, 1]; `seed` any value (0 is remapped: xorshift needs a non-zero state).
    pub fn new(p: f64, seed: u64) -> Self {
        let state = (seed ^ 0x9e37_79b9_7f4a_7c15).max(1);
        Dropper { p, state }
    }

    /// Whether the next packet is dropped.
    pub fn drop_next(&mut self) -> bool {
        if self.p <= 0.0 {
            return false;
        }
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let x = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        // 53 random bits to a float in [0, 1).
        ((x >> 11) as f64 / (1u64 << 53) as f64) < self.p
    }
}

/// Loss settings of the path: drop probability and seed.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Loss {
    pub probability: f64,
    pub seed: u64,
}

/// Run the calling thread under SCHED_FIFO at `prio` so that a loaded
/// machine (other builds on the 2 cores) does not delay packets or writes by
/// whole scheduler slices. Spins are bounded (< 0.5 ms), and the kernel's RT
/// throttling keeps the machine usable. Returns whether it worked.
pub fn realtime(prio: i32) -> bool {
    let param = libc::sched_param {
        sched_priority: prio,
    };
    unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0 }
}

fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Ask for precise timer wake-ups in this thread (default slack is 50 µs).
pub fn precise_timers() {
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
}

/// Counters of one direction of the delay line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DirectionStats {
    /// Whether the forwarding thread ran under SCHED_FIFO.
    pub realtime: bool,
    pub packets: u64,
    /// Packets dropped on purpose (`--loss`).
    pub lost: u64,
    pub overflow_drops: u64,
    pub max_held: usize,
    /// How late packets left relative to their due time (µs).
    pub late_us_mean: f64,
    pub late_us_p99: f64,
    pub late_us_max: f64,
}

/// Which emulation was used and what was done to the interfaces.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PathInfo {
    pub method: String,
    pub one_way_delay_ms: f64,
    pub interface: String,
    pub offloads: String,
    pub loss: Loss,
}

/// The running path. Dropping it stops the forwarding threads; the
/// namespaces themselves are dropped by their owner afterwards.
pub struct Path {
    pub info: PathInfo,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<DirectionStats>>,
}

impl Path {
    /// Stop the forwarding threads and return their counters
    /// (`[sender→receiver, receiver→sender]`; empty for netem).
    pub fn finish(mut self) -> Vec<DirectionStats> {
        self.stop.store(true, Ordering::SeqCst);
        self.threads
            .drain(..)
            .map(|h| h.join().unwrap_or_default())
            .collect()
    }
}

impl Drop for Path {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

/// Does this kernel have netem? (Tried on `lo` of a lab namespace.)
pub fn netem_available(ns: &Netns) -> bool {
    let ok = ns
        .exec(&[
            "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
        ])
        .is_ok();
    if ok {
        let _ = ns.exec(&["tc", "qdisc", "del", "dev", "lo", "root"]);
    }
    ok
}

/// Build the path between `snd` and `rcv` with round-trip time `rtt` and
/// random `loss`. `method` is `auto`, `netem` or `tun`.
pub fn build(
    snd: &Netns,
    rcv: &Netns,
    rtt: Duration,
    method: &str,
    loss: Loss,
) -> anyhow::Result<Path> {
    let use_netem = match method {
        "netem" => true,
        "tun" => false,
        "auto" => netem_available(snd),
        other => bail!("unknown delay method {other:?} (auto, netem, tun)"),
    };
    if use_netem {
        build_netem(snd, rcv, rtt, loss)
    } else {
        build_tun(snd, rcv, rtt, loss)
    }
}

fn try_ethtool(ns: &Netns) -> String {
    match ns.exec(&[
        "ethtool", "-K", IFNAME, "tso", "off", "gso", "off", "gro", "off",
    ]) {
        Ok(_) => "ethtool -K tso off gso off gro off".into(),
        Err(e) => format!("could not disable offloads: {e}"),
    }
}

fn build_netem(snd: &Netns, rcv: &Netns, rtt: Duration, loss: Loss) -> anyhow::Result<Path> {
    let half_us = (rtt.as_nanos() / 2000).to_string() + "us";
    let loss_pct = format!("{}%", loss.probability * 100.0);
    snd.ip(&[
        "link", "add", IFNAME, "type", "veth", "peer", "name", "nl1", "netns", &rcv.name,
    ])?;
    rcv.ip(&["link", "set", "nl1", "name", IFNAME])?;
    for (ns, addr) in [(snd, SENDER_ADDR), (rcv, RECEIVER_ADDR)] {
        ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", IFNAME])?;
        ns.ip(&["link", "set", IFNAME, "up"])?;
        let mut tc = vec![
            "tc", "qdisc", "add", "dev", IFNAME, "root", "netem", "delay", &half_us, "limit",
            "100000",
        ];
        if loss.probability > 0.0 {
            tc.extend_from_slice(&["loss", &loss_pct]);
        }
        ns.exec(&tc)?;
    }
    let off = try_ethtool(snd) + "; " + &try_ethtool(rcv);
    Ok(Path {
        info: PathInfo {
            method: "netem".into(),
            one_way_delay_ms: rtt.as_secs_f64() * 500.0,
            interface: IFNAME.into(),
            offloads: off,
            loss,
        },
        stop: Arc::new(AtomicBool::new(false)),
        threads: Vec::new(),
    })
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Open a TUN device named `name` in the calling thread's namespace.
fn open_tun(name: &str) -> anyhow::Result<OwnedFd> {
    let fd = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("open /dev/net/tun");
    }
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
        _pad: [0; 22],
    };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut req) } < 0 {
        return Err(std::io::Error::last_os_error()).context("TUNSETIFF");
    }
    Ok(fd)
}

fn build_tun(snd: &Netns, rcv: &Netns, rtt: Duration, loss: Loss) -> anyhow::Result<Path> {
    let open_in = |ns: &Netns| -> anyhow::Result<OwnedFd> {
        netns::join(
            netns::spawn_in("lab-tun-open", &ns.name, || open_tun(IFNAME)),
            "creating TUN device",
        )
    };
    let fd_s = open_in(snd)?;
    let fd_r = open_in(rcv)?;
    for (ns, local, peer) in [
        (snd, SENDER_ADDR, RECEIVER_ADDR),
        (rcv, RECEIVER_ADDR, SENDER_ADDR),
    ] {
        ns.ip(&["addr", "add", local, "peer", peer, "dev", IFNAME])?;
        ns.ip(&["link", "set", IFNAME, "up", "txqueuelen", "10000"])?;
    }
    let delay_ns = (rtt.as_nanos() / 2) as u64;
    let stop = Arc::new(AtomicBool::new(false));
    let fd_s = Arc::new(fd_s);
    let fd_r = Arc::new(fd_r);
    let mut threads = Vec::new();
    for (k, (name, from, to)) in [
        ("lab-delay-s2r", fd_s.clone(), fd_r.clone()),
        ("lab-delay-r2s", fd_r.clone(), fd_s.clone()),
    ]
    .into_iter()
    .enumerate()
    {
        let stop = stop.clone();
        let dropper = Dropper::new(loss.probability, loss.seed.wrapping_add(k as u64));
        threads.push(
            std::thread::Builder::new()
                .name(name.into())
                // The thread owns its references to both fds; the TUN devices
                // close when the last forwarding thread ends.
                .spawn(move || forward(from.as_raw_fd(), to.as_raw_fd(), delay_ns, dropper, &stop))
                .context("spawning delay-line thread")?,
        );
    }
    Ok(Path {
        info: PathInfo {
            method: "tun".into(),
            one_way_delay_ms: delay_ns as f64 / 1e6,
            interface: IFNAME.into(),
            offloads: "TUN without TUNSETOFFLOAD/IFF_NAPI: no TSO/GSO frames at the tap, no GRO; ethtool not needed".into(),
            loss,
        },
        stop,
        threads,
    })
}

/// One direction of the delay line: read from `from`, hold, write to `to`.
fn forward(
    from: RawFd,
    to: RawFd,
    delay_ns: u64,
    mut dropper: Dropper,
    stop: &AtomicBool,
) -> DirectionStats {
    precise_timers();
    let realtime = realtime(50);
    let mut q = DelayQueue::new(delay_ns, 200_000);
    let mut buf = vec![0u8; 65536];
    let mut late: Vec<u64> = Vec::new();
    let mut packets = 0u64;
    let mut lost = 0u64;
    // Wake-up lateness of ppoll (EWMA, ns): we wake that much (plus a margin)
    // before a packet is due and spin the rest, reading arrivals meanwhile so
    // their timestamps stay exact. Adaptive, so an idle machine spins little.
    let mut wake_late_ns: u64 = 60_000;
    let mut take_in = |q: &mut DelayQueue| loop {
        let n = unsafe { libc::read(from, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n <= 0 {
            break;
        }
        if dropper.drop_next() {
            lost += 1;
            continue;
        }
        q.push(mono_ns(), buf[..n as usize].to_vec());
    };
    while !stop.load(Ordering::Relaxed) {
        // Take in everything that is waiting.
        take_in(&mut q);
        // Spin to the due time of the next packet when it is close.
        let spin_ns = (wake_late_ns * 3 / 2 + 20_000).min(400_000);
        if let Some(d) = q.next_due() {
            if d.saturating_sub(mono_ns()) <= spin_ns {
                while mono_ns() < d {
                    take_in(&mut q);
                    std::hint::spin_loop();
                }
            }
        }
        // Release what is due.
        let now = mono_ns();
        while let Some((due, pkt)) = q.pop_due(now) {
            unsafe { libc::write(to, pkt.as_ptr() as *const libc::c_void, pkt.len()) };
            packets += 1;
            late.push(mono_ns().saturating_sub(due));
        }
        // Sleep until shortly before the next packet is due or one arrives
        // (at most 50 ms, so `stop` is polled).
        let target = q.next_due().map(|d| d.saturating_sub(spin_ns));
        let wait_ns = target.map_or(50_000_000, |t| t.saturating_sub(mono_ns()).min(50_000_000));
        let ts = libc::timespec {
            tv_sec: (wait_ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (wait_ns % 1_000_000_000) as libc::c_long,
        };
        let mut pfd = libc::pollfd {
            fd: from,
            events: libc::POLLIN,
            revents: 0,
        };
        let r = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
        if r == 0 && wait_ns > 0 && wait_ns < 50_000_000 {
            // A timed wake-up: learn how late it was.
            if let Some(t) = target {
                let l = mono_ns().saturating_sub(t).min(2_000_000);
                wake_late_ns = (wake_late_ns * 7 + l) / 8;
            }
        }
    }
    lateness_stats(late, realtime, packets, lost, &q)
}

/// The counters of one direction from its packets' lateness (ns).
fn lateness_stats(
    mut late: Vec<u64>,
    realtime: bool,
    packets: u64,
    lost: u64,
    q: &DelayQueue,
) -> DirectionStats {
    late.sort_unstable();
    let us = |v: u64| v as f64 / 1000.0;
    let n = late.len();
    DirectionStats {
        realtime,
        packets,
        lost,
        overflow_drops: q.overflow,
        max_held: q.max_held,
        late_us_mean: if n > 0 {
            us(late.iter().sum::<u64>()) / n as f64
        } else {
            0.0
        },
        late_us_p99: if n > 0 {
            us(late[(n * 99 / 100).min(n - 1)])
        } else {
            0.0
        },
        late_us_max: late.last().map_or(0.0, |v| us(*v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_each_packet_for_the_delay() {
        let mut q = DelayQueue::new(1_000, 10);
        q.push(100, vec![1]);
        assert!(q.pop_due(100).is_none());
        assert!(q.pop_due(1_099).is_none());
        assert_eq!(q.next_due(), Some(1_100));
        assert_eq!(q.pop_due(1_100), Some((1_100, vec![1])));
        assert!(q.is_empty());
    }

    #[test]
    fn keeps_order_and_releases_only_due_packets() {
        let mut q = DelayQueue::new(500, 10);
        for i in 0..5u8 {
            q.push(i as u64 * 100, vec![i]);
        }
        // At t=750 packets entered at 0, 100, 200 are due.
        let mut out = Vec::new();
        while let Some((_, p)) = q.pop_due(750) {
            out.push(p[0]);
        }
        assert_eq!(out, vec![0, 1, 2]);
        assert_eq!(q.len(), 2);
        let mut out = Vec::new();
        while let Some((_, p)) = q.pop_due(10_000) {
            out.push(p[0]);
        }
        assert_eq!(out, vec![3, 4]);
    }

    #[test]
    fn never_reorders_even_if_clock_steps_back() {
        let mut q = DelayQueue::new(100, 10);
        q.push(1_000, vec![1]);
        q.push(900, vec![2]); // a clock glitch must not overtake packet 1
        assert_eq!(q.pop_due(1_050), None);
        assert_eq!(q.pop_due(1_100).map(|p| p.1), Some(vec![1]));
        assert_eq!(q.pop_due(1_100).map(|p| p.1), Some(vec![2]));
    }

    #[test]
    fn dropper_is_seeded_and_near_its_probability() {
        let run = |seed| {
            let mut d = Dropper::new(0.1, seed);
            (0..10_000).filter(|_| d.drop_next()).count()
        };
        let n = run(7);
        assert_eq!(n, run(7), "same seed, same drops");
        assert!((800..1200).contains(&n), "{n} drops of 10000 at p=0.1");
        let mut none = Dropper::new(0.0, 7);
        assert!((0..1000).all(|_| !none.drop_next()));
        let mut all = Dropper::new(1.0, 0);
        assert!((0..1000).all(|_| all.drop_next()));
    }

    #[test]
    fn overflow_is_counted_not_queued() {
        let mut q = DelayQueue::new(10, 2);
        assert!(q.push(0, vec![0]));
        assert!(q.push(0, vec![1]));
        assert!(!q.push(0, vec![2]));
        assert_eq!(q.overflow, 1);
        assert_eq!(q.max_held, 2);
    }
}

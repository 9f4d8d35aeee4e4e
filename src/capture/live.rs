//! Live capture through libpcap (feature `live`).
//!
//! What it does: opens an interface in immediate mode with a read timeout
//! (so a stop flag, a duration and a packet count are honoured promptly),
//! asks for nanosecond timestamps (falling back to microseconds where the
//! interface cannot give them), applies an optional BPF filter in the kernel,
//! hands every packet to a callback as a [`Frame`], optionally writes every
//! packet to a pcap file (`save`) that is flushed at every read timeout and at
//! the end, so that a capture stopped at any moment is a valid file, and
//! returns libpcap's received/dropped counters. It reads those counters
//! every quarter second too, so that the wall-clock intervals in which the
//! kernel dropped packets are known ([`DropInterval`]: which flows they may
//! affect is the pipeline's business).
//!
//! What it does not do: it knows nothing of TCP, prints nothing, installs no
//! signal handler (the caller owns the `stop` flag) and does not choose the
//! network namespace: the capture is opened in the namespace of the calling
//! thread, which is how the lab captures inside its own namespaces.
//!
//! Errors reach the user as one line: missing privileges (with the fix),
//! an unknown interface (named) or a bad filter (named, with libpcap's reason).

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use pcap::{Active, Capture, Precision};

use super::{linktype, CaptureInfo, Format, Frame};

/// How to capture.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Interface name as libpcap knows it (`any` works: Linux SLL2 or SLL).
    pub interface: String,
    /// BPF expression, compiled by libpcap and applied in the kernel.
    pub filter: Option<String>,
    pub snaplen: i32,
    /// Kernel buffer size in bytes.
    pub buffer_size: i32,
    /// Deliver packets as they arrive rather than when a buffer fills.
    pub immediate: bool,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many packets (after the filter).
    pub count: Option<u64>,
    /// Write every captured packet to this pcap file.
    pub save: Option<PathBuf>,
    /// Start the next save file when this one would pass this many bytes.
    pub save_size: Option<u64>,
    /// Start the next save file after this long.
    pub save_every: Option<Duration>,
}

impl LiveOptions {
    /// Sensible defaults for `interface`: 65535-byte snaplen, 32 MiB buffer,
    /// immediate mode, no filter, no limit, no save file. In immediate mode
    /// libpcap on Linux uses TPACKET_V2, whose ring frames are sized by the
    /// snaplen: a 256 KiB snaplen in a 4 MiB buffer holds only ~16 packets
    /// and drops under a burst, so keep snaplen × packets within the buffer.
    pub fn new(interface: impl Into<String>) -> Self {
        LiveOptions {
            interface: interface.into(),
            filter: None,
            snaplen: 65_535,
            buffer_size: 32 << 20,
            immediate: true,
            duration: None,
            count: None,
            save: None,
            save_size: None,
            save_every: None,
        }
    }
}

/// libpcap's counters at the end of a capture.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LiveStats {
    /// Packets the kernel's filter accepted.
    pub received: u64,
    /// Packets dropped because the buffer was full (we did not read fast enough).
    pub dropped: u64,
    /// Packets dropped by the interface or its driver.
    pub if_dropped: u64,
    /// When the drops happened, in order (empty when there were none).
    pub drop_intervals: Vec<DropInterval>,
}

/// Packets the kernel dropped between two reads of libpcap's counters
/// (a quarter second apart): the dropped packets arrived between `start_ns`
/// and `end_ns` (wall clock, the clock of packet timestamps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DropInterval {
    pub start_ns: i64,
    pub end_ns: i64,
    /// Dropped because the buffer was full.
    pub dropped: u64,
    /// Dropped by the interface or its driver.
    pub if_dropped: u64,
}

/// What libpcap's counters have shown so far: every drop before `read_ns`
/// (wall clock, the last read) is in `intervals`.
#[derive(Debug, Clone, Copy)]
pub struct DropsSoFar<'a> {
    pub read_ns: i64,
    pub intervals: &'a [DropInterval],
}

/// How often libpcap's counters are read during a capture.
const DROP_SAMPLE: Duration = Duration::from_millis(250);
/// Drop intervals kept; beyond it the last one is stretched to cover the
/// new drops (a capture dropping every second for days stays bounded).
const MAX_DROP_INTERVALS: usize = 4096;

/// Reads libpcap's drop counters every quarter second and keeps the
/// intervals in which they grew.
struct DropWatch {
    at: Instant,
    wall_ns: i64,
    dropped: u64,
    if_dropped: u64,
    intervals: Vec<DropInterval>,
}

fn wall_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl DropWatch {
    fn new() -> Self {
        DropWatch {
            at: Instant::now(),
            wall_ns: wall_ns(),
            dropped: 0,
            if_dropped: 0,
            intervals: Vec::new(),
        }
    }

    fn so_far(&self) -> DropsSoFar<'_> {
        DropsSoFar {
            read_ns: self.wall_ns,
            intervals: &self.intervals,
        }
    }

    /// Read the counters when a second has passed since the last read.
    fn maybe_sample(&mut self, cap: &mut Capture<Active>) {
        if self.at.elapsed() >= DROP_SAMPLE {
            if let Ok(st) = cap.stats() {
                self.sample(st.dropped as u64, st.if_dropped as u64);
            }
        }
    }

    /// Counters read now: an interval since the last read when they grew.
    fn sample(&mut self, dropped: u64, if_dropped: u64) {
        let now = wall_ns();
        let (d, i) = (
            dropped.saturating_sub(self.dropped),
            if_dropped.saturating_sub(self.if_dropped),
        );
        if d > 0 || i > 0 {
            let new = DropInterval {
                start_ns: self.wall_ns,
                end_ns: now,
                dropped: d,
                if_dropped: i,
            };
            let full = self.intervals.len() >= MAX_DROP_INTERVALS;
            match self.intervals.last_mut() {
                Some(last) if last.end_ns == new.start_ns || full => {
                    last.end_ns = now;
                    last.dropped += d;
                    last.if_dropped += i;
                }
                _ => self.intervals.push(new),
            }
        }
        (self.at, self.wall_ns) = (Instant::now(), now);
        (self.dropped, self.if_dropped) =
            (dropped.max(self.dropped), if_dropped.max(self.if_dropped));
    }
}

/// Read timeout of the capture: how often `stop` and `duration` are polled.
const READ_TIMEOUT_MS: i32 = 100;

extern "C" {
    // Part of libpcap >= 1.5, which the pcap crate links.
    fn pcap_get_tstamp_precision(p: *mut libc::c_void) -> libc::c_int;
}

/// An opened, activated live capture, ready to [`run`](LiveCapture::run).
/// Opening and running are split so that a caller can know the capture is
/// active before it starts generating traffic (the lab does this).
pub struct LiveCapture {
    cap: Capture<Active>,
    opts: LiveOptions,
    nano: bool,
    link_type: u32,
    savefile: Option<SaveFiles>,
}

fn permission_error(iface: &str) -> anyhow::Error {
    anyhow!(
        "capturing on {iface} needs root or CAP_NET_RAW: run with sudo, or setcap cap_net_raw,cap_net_admin=eip <binary>"
    )
}

/// Map an activation error from libpcap to one clear line.
fn open_error(iface: &str, e: pcap::Error) -> anyhow::Error {
    let msg = e.to_string();
    let low = msg.to_lowercase();
    if low.contains("permission") || low.contains("not permitted") || low.contains("eperm") {
        permission_error(iface)
    } else if low.contains("no such device") || low.contains("doesn't exist") {
        anyhow!("no such interface: {iface} (try --list-interfaces)")
    } else {
        anyhow!("cannot capture on {iface}: {msg}")
    }
}

/// Map libpcap's DLT_ value to the LINKTYPE_ value used in files.
fn dlt_to_linktype(dlt: i32) -> u32 {
    match dlt {
        // DLT_RAW is 12 (14 on OpenBSD); in files it is LINKTYPE_RAW.
        12 | 14 => linktype::RAW,
        other => other as u32,
    }
}

/// Open and activate a live capture on `opts.interface` in the calling
/// thread's network namespace. Applies the filter and opens the save file.
pub fn open_live(opts: &LiveOptions) -> anyhow::Result<LiveCapture> {
    let iface = opts.interface.as_str();
    let build = |prec: Precision| -> Result<Capture<Active>, pcap::Error> {
        Capture::from_device(iface)?
            .snaplen(opts.snaplen)
            .buffer_size(opts.buffer_size)
            .immediate_mode(opts.immediate)
            .timeout(READ_TIMEOUT_MS)
            .precision(prec)
            .open()
    };
    // Precision::Nano is only a request: libpcap silently keeps µs when the
    // platform cannot do ns, so we ask it what it actually gave us below.
    let cap = match build(Precision::Nano) {
        Ok(c) => c,
        Err(e) => {
            let first = open_error(iface, e);
            // An error about precision itself: retry in µs; anything else is final.
            match build(Precision::Micro) {
                Ok(c) => c,
                Err(_) => return Err(first),
            }
        }
    };
    // Non-blocking reads plus our own poll(2) with a timeout: libpcap's read
    // timeout is not honoured on Linux when no packet arrives (TPACKET_V3 or
    // immediate mode), so a quiet interface would never see `stop`.
    let mut cap = cap
        .setnonblock()
        .map_err(|e| anyhow!("cannot capture on {iface}: {e}"))?;
    let nano = unsafe { pcap_get_tstamp_precision(cap.as_ptr() as *mut libc::c_void) } == 1;
    if let Some(f) = &opts.filter {
        cap.filter(f, true)
            .map_err(|e| anyhow!("bad capture filter '{f}': {e}"))?;
    }
    let link_type = dlt_to_linktype(cap.get_datalink().0);
    let savefile = match &opts.save {
        Some(p) => Some(SaveFiles::create(p.clone(), opts, nano, link_type)?),
        None => None,
    };
    Ok(LiveCapture {
        cap,
        opts: opts.clone(),
        nano,
        link_type,
        savefile,
    })
}

impl LiveCapture {
    /// LINKTYPE_ value of the interface.
    pub fn link_type(&self) -> u32 {
        self.link_type
    }

    /// True when timestamps are in nanoseconds (else microseconds).
    pub fn nanosecond_timestamps(&self) -> bool {
        self.nano
    }

    /// Capture until `stop` is set, the duration has passed or the count is
    /// reached, calling `on_frame` for every packet.
    pub fn run(
        self,
        stop: &AtomicBool,
        on_frame: &mut dyn FnMut(&Frame),
    ) -> anyhow::Result<(CaptureInfo, LiveStats)> {
        self.run_ticking(stop, &mut |f, _| {
            if let Some(f) = f {
                on_frame(f)
            }
        })
    }

    /// [`run`](Self::run), calling `on_event` with every packet and with
    /// `None` at least every read timeout (100 ms), packets or not, so that
    /// the caller can report as time passes; each call also says what the
    /// drop counters have shown so far.
    pub fn run_ticking(
        mut self,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Option<&Frame>, &DropsSoFar),
    ) -> anyhow::Result<(CaptureInfo, LiveStats)> {
        let mut info = CaptureInfo {
            path: self.opts.interface.clone(),
            format: Some(Format::Live),
            ..Default::default()
        };
        if !self.nano {
            info.warn("interface gives microsecond timestamps only");
        }
        let start = Instant::now();
        let mut drops = DropWatch::new();
        let mut number = 0u64;
        let mut last_flush = Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if let Some(d) = self.opts.duration {
                if start.elapsed() >= d {
                    break;
                }
            }
            if let Some(c) = self.opts.count {
                if number >= c {
                    break;
                }
            }
            match self.cap.next_packet() {
                Ok(pkt) => {
                    number += 1;
                    #[allow(clippy::unnecessary_cast)] // time_t and suseconds_t vary by platform
                    let sec = pkt.header.ts.tv_sec as i64;
                    #[allow(clippy::unnecessary_cast)]
                    let sub = pkt.header.ts.tv_usec as i64;
                    let ts_ns = sec * 1_000_000_000 + if self.nano { sub } else { sub * 1000 };
                    let frame = Frame {
                        number,
                        ts_ns,
                        link_type: self.link_type,
                        data: pkt.data,
                        orig_len: pkt.header.len,
                    };
                    if let Some(sf) = self.savefile.as_mut() {
                        sf.write(number, pkt.header, pkt.data, &mut info);
                    }
                    info.note_frame(&frame);
                    info.frames_matched += 1;
                    info.bytes_read += pkt.header.caplen as u64;
                    on_event(Some(&frame), &drops.so_far());
                }
                Err(pcap::Error::TimeoutExpired) => {
                    // Nothing waiting: flush the save file, then wait for
                    // packets for at most one read timeout.
                    if let Some(sf) = self.savefile.as_mut() {
                        sf.flush(&mut info);
                    }
                    last_flush = Instant::now();
                    let mut pfd = libc::pollfd {
                        fd: self.cap.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    unsafe { libc::poll(&mut pfd, 1, READ_TIMEOUT_MS) };
                    drops.maybe_sample(&mut self.cap);
                    on_event(None, &drops.so_far());
                    continue;
                }
                Err(e) => {
                    // The interface went down or was removed: keep what
                    // was seen; the report says why it ends here.
                    info.warn(format!(
                        "capture on {} stopped after {number} packets: {} ({e}); the report covers what was seen until then",
                        self.opts.interface,
                        if interface_gone(&self.opts.interface, &e.to_string()) { "the interface disappeared" } else { "the interface went down or failed" },
                    ));
                    eprintln!(
                        "nagle-analyze: warning: capture on {} stopped: {e}",
                        self.opts.interface
                    );
                    break;
                }
            }
            // Under a steady stream, still flush at least every read timeout.
            if last_flush.elapsed() >= Duration::from_millis(READ_TIMEOUT_MS as u64) {
                if let Some(sf) = self.savefile.as_mut() {
                    sf.flush(&mut info);
                }
                last_flush = Instant::now();
                drops.maybe_sample(&mut self.cap);
                on_event(None, &drops.so_far());
            }
        }
        if let Some(sf) = self.savefile.as_mut() {
            sf.flush(&mut info);
        }
        let stats = match self.cap.stats() {
            Ok(st) => {
                drops.sample(st.dropped as u64, st.if_dropped as u64);
                LiveStats {
                    received: st.received as u64,
                    dropped: st.dropped as u64,
                    if_dropped: st.if_dropped as u64,
                    drop_intervals: drops.intervals,
                }
            }
            Err(e) => {
                info.warn(format!(
                    "libpcap's counters could not be read ({e}): drops unknown"
                ));
                LiveStats::default()
            }
        };
        if stats.dropped > 0 || stats.if_dropped > 0 {
            info.warn(format!(
                "the kernel dropped {} packets ({} by the interface): the analysis is incomplete",
                stats.dropped, stats.if_dropped
            ));
        }
        Ok((info, stats))
    }
}

/// The save file(s): pcap written by hand so that every file ends on a
/// whole record. Records are gathered in `pending` and written at each
/// flush; a write that fails (a full disk) cuts the file back to its last
/// whole record, warns once with the file and the first packet not saved,
/// and saving stops there (the capture and analysis go on). With a size or
/// time limit the files rotate as tcpdump's `-C`: FILE, FILE1, FILE2...
struct SaveFiles {
    base: PathBuf,
    /// Files started so far (the current one is number `index`).
    index: u32,
    file: std::fs::File,
    /// Bytes of the current file on disk (whole records).
    written: u64,
    pending: Vec<u8>,
    /// Number of the first packet in `pending`.
    pending_first: Option<u64>,
    opened: Instant,
    size_limit: Option<u64>,
    every: Option<Duration>,
    header: [u8; 24],
    /// Saving stopped after a failed write.
    failed: bool,
}

impl SaveFiles {
    const FLUSH_AT: usize = 1 << 16;

    fn create(
        base: PathBuf,
        opts: &LiveOptions,
        nano: bool,
        link_type: u32,
    ) -> anyhow::Result<Self> {
        let magic: u32 = if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&magic.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        header[16..20].copy_from_slice(&(opts.snaplen.max(0) as u32).to_le_bytes());
        header[20..24].copy_from_slice(&link_type.to_le_bytes());
        let file = Self::open(&base, &header)?;
        Ok(SaveFiles {
            base,
            index: 0,
            file,
            written: 24,
            pending: Vec::with_capacity(Self::FLUSH_AT + 65_600),
            pending_first: None,
            opened: Instant::now(),
            size_limit: opts.save_size,
            every: opts.save_every,
            header,
            failed: false,
        })
    }

    /// Name of file `index`: FILE, then FILE1, FILE2... (as tcpdump -C).
    fn name(base: &std::path::Path, index: u32) -> PathBuf {
        if index == 0 {
            return base.to_path_buf();
        }
        let mut s = base.as_os_str().to_owned();
        s.push(index.to_string());
        PathBuf::from(s)
    }

    fn open(path: &std::path::Path, header: &[u8; 24]) -> anyhow::Result<std::fs::File> {
        use std::io::Write;
        let mut f = std::fs::File::create(path)
            .with_context(|| format!("cannot create save file {}", path.display()))?;
        f.write_all(header)
            .with_context(|| format!("cannot write save file {}", path.display()))?;
        Ok(f)
    }

    /// Add packet `number` (flushed when enough is gathered).
    fn write(&mut self, number: u64, h: &pcap::PacketHeader, data: &[u8], info: &mut CaptureInfo) {
        if self.failed {
            return;
        }
        let rec = 16 + data.len() as u64;
        let full = self
            .size_limit
            .is_some_and(|l| self.written + self.pending.len() as u64 + rec > l);
        let late = self.every.is_some_and(|e| self.opened.elapsed() >= e);
        let has_records = self.written + self.pending.len() as u64 > 24;
        if (full || late) && has_records {
            self.rotate(number, info);
            if self.failed {
                return;
            }
        }
        #[allow(clippy::unnecessary_cast)] // time_t and suseconds_t vary by platform
        let (sec, sub) = (h.ts.tv_sec as u32, h.ts.tv_usec as u32);
        for v in [sec, sub, h.caplen, h.len] {
            self.pending.extend_from_slice(&v.to_le_bytes());
        }
        self.pending.extend_from_slice(data);
        self.pending_first.get_or_insert(number);
        if self.pending.len() >= Self::FLUSH_AT {
            self.flush(info);
        }
    }

    /// Write what is gathered; on failure cut the file back to its last
    /// whole record and stop saving, with a warning.
    fn flush(&mut self, info: &mut CaptureInfo) {
        use std::io::Write;
        if self.failed || self.pending.is_empty() {
            return;
        }
        match self.file.write_all(&self.pending) {
            Ok(()) => {
                self.written += self.pending.len() as u64;
                self.pending.clear();
                self.pending_first = None;
            }
            Err(e) => {
                let _ = self.file.set_len(self.written);
                let first = self.pending_first.unwrap_or(0);
                let path = Self::name(&self.base, self.index);
                self.give_up(info, &path, first, &e.to_string());
            }
        }
    }

    fn give_up(&mut self, info: &mut CaptureInfo, path: &std::path::Path, first: u64, why: &str) {
        self.failed = true;
        self.pending = Vec::new();
        let last = Self::name(&self.base, self.index);
        info.warn(format!(
            "writing save file {} failed ({why}): from packet {first} on nothing was saved (the analysis went on; {} ends on a whole record)",
            path.display(),
            last.display()
        ));
    }

    /// Flush this file and start the next one with packet `number`.
    fn rotate(&mut self, number: u64, info: &mut CaptureInfo) {
        self.flush(info);
        if self.failed {
            return;
        }
        let next = Self::name(&self.base, self.index + 1);
        match Self::open(&next, &self.header) {
            Ok(f) => {
                self.file = f;
                self.index += 1;
                self.written = 24;
                self.opened = Instant::now();
            }
            Err(e) => {
                let _ = std::fs::remove_file(&next);
                self.give_up(info, &next, number, &format!("{e:#}"));
            }
        }
    }
}

/// Capture live on `opts.interface` until `stop` is set, the duration has
/// passed or `count` packets were seen; every packet goes to `on_frame`
/// (and to the save file when one is given).
pub fn capture_live(
    opts: &LiveOptions,
    stop: &AtomicBool,
    on_frame: &mut dyn FnMut(&Frame),
) -> anyhow::Result<(CaptureInfo, LiveStats)> {
    open_live(opts)?.run(stop, on_frame)
}

/// True when libpcap's error `msg` says the interface is gone, or no
/// interface of that name exists any more (`any` never goes).
fn interface_gone(name: &str, msg: &str) -> bool {
    let low = msg.to_lowercase();
    low.contains("disappeared")
        || low.contains("no such device")
        || (name != "any" && !std::path::Path::new("/sys/class/net").join(name).exists())
}

/// Interfaces libpcap can capture on: `(name, description)`.
pub fn list_interfaces() -> anyhow::Result<Vec<(String, String)>> {
    let devs = pcap::Device::list().map_err(|e| anyhow!("cannot list interfaces: {e}"))?;
    Ok(devs
        .into_iter()
        .map(|d| {
            let mut desc = d.desc.unwrap_or_default();
            if d.flags.is_loopback() {
                if !desc.is_empty() {
                    desc.push(' ');
                }
                desc.push_str("(loopback)");
            }
            (d.name, desc)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlt_raw_maps_to_linktype_raw() {
        assert_eq!(dlt_to_linktype(12), linktype::RAW);
        assert_eq!(dlt_to_linktype(1), linktype::ETHERNET);
        assert_eq!(dlt_to_linktype(276), linktype::LINUX_SLL2);
    }

    #[test]
    fn errors_are_one_clear_line() {
        let e = open_error(
            "eth9",
            pcap::Error::PcapError("eth9: No such device exists".into()),
        );
        assert!(e.to_string().contains("no such interface: eth9"));
        let e = open_error(
            "lo",
            pcap::Error::PcapError("lo: You don't have permission to perform this capture on that device (socket: Operation not permitted)".into()),
        );
        assert!(e
            .to_string()
            .starts_with("capturing on lo needs root or CAP_NET_RAW"));
    }

    fn is_root() -> bool {
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn unknown_interface_and_bad_filter_are_named() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let stop = AtomicBool::new(false);
        let e = capture_live(&LiveOptions::new("nosuchif0"), &stop, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("nosuchif0"), "{e}");
        let opts = LiveOptions {
            filter: Some("tcp port banana".into()),
            ..LiveOptions::new("lo")
        };
        let e = capture_live(&opts, &stop, &mut |_| {}).unwrap_err();
        assert!(
            e.to_string()
                .contains("bad capture filter 'tcp port banana'"),
            "{e}"
        );
    }

    #[test]
    fn idle_capture_stops_on_duration_and_saves_a_valid_file() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        // Passive capture on loopback with a filter nothing matches: no
        // traffic is generated; the capture must still end on time.
        let save = std::env::temp_dir().join(format!("nagle-live-{}.pcap", std::process::id()));
        let opts = LiveOptions {
            filter: Some("tcp port 9".into()),
            duration: Some(Duration::from_millis(300)),
            save: Some(save.clone()),
            ..LiveOptions::new("lo")
        };
        let stop = AtomicBool::new(false);
        let t = Instant::now();
        let (info, stats) = capture_live(&opts, &stop, &mut |_| {}).unwrap();
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(info.format, Some(Format::Live));
        assert_eq!(stats.dropped, 0);
        let bytes = std::fs::read(&save).unwrap();
        // A pcap global header (24 bytes), nanosecond magic when available.
        assert_eq!(bytes.len(), 24);
        let magic = u32::from_le_bytes(bytes[..4].try_into().unwrap());
        assert!(magic == 0xa1b2_3c4d || magic == 0xa1b2_c3d4, "{magic:x}");
        let _ = std::fs::remove_file(save);
    }
}

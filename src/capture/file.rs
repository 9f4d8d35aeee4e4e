//! Capture files: pcap (both byte orders, µs/ns, and the Kuznetzov "modified
//! pcap" variant) and pcapng (several sections and interfaces, per-interface
//! link type, `if_tsresol` and `if_tsoffset`; EPB, SPB and the obsolete PB),
//! from a path or from standard input (`-`), streamed in constant memory;
//! gzip- or zstd-compressed inputs are recognised by their first bytes and
//! decompressed on the way ([`super::compressed`]).
//!
//! Implementation: a small hand-written block reader over a `BufReader`
//! rather than pcap-parser's streaming readers. Both formats are a sequence
//! of length-prefixed records, so reading one record at a time into a single
//! reusable buffer is simple, keeps memory bounded by the largest record
//! (hard cap [`MAX_RECORD`]), and lets us tell exactly *where* and *how* a
//! file is damaged (cut mid-record vs. garbage length), which is what the
//! warnings report. libpcap is not used for reading: libpcap 1.10 refuses
//! pcapng files whose interfaces have different link types.
//!
//! Contract:
//! - never panics on any input; timestamps are converted with saturating
//!   arithmetic to i64 nanoseconds (odd values give a warning, not an error);
//! - `Err` only when nothing can be read: the file cannot be opened, is empty,
//!   or does not start with a pcap/pcapng magic number;
//! - a damaged or cut file delivers every complete frame before the damage,
//!   then returns `Ok` with [`CaptureInfo::damaged`] set and a warning that
//!   names the frame number and byte offset. A file cut inside its own file
//!   header is also `Ok` (0 frames, damaged);
//! - a pcap record is judged garbage when its captured length exceeds
//!   `max(snaplen, 262144)` (libpcap's and tshark's rule) or [`MAX_RECORD`];
//!   a pcapng block when its length is < 12, not a multiple of 4, exceeds
//!   [`MAX_RECORD`], or its trailing length copy disagrees.
//!
//! - pcapng details: an SHB resets the interface list; an SPB belongs to
//!   interface 0 and, having no timestamp, gets the previous frame's (0 if
//!   none); a packet block naming an undefined interface is skipped with a
//!   warning (not counted as a frame); unknown block types are skipped.
//! - BPF filter: compiled by libpcap (`pcap_open_dead` + `pcap_compile`)
//!   once per link type; a bad expression is an `Err` when the first
//!   interface/header is seen, before any frame is delivered; a link type
//!   libpcap cannot compile for later in the file gives a warning and its
//!   frames do not match.
//!
//! What it does not do: it never looks inside frames (the BPF filter, when
//! given, is libpcap's compiled program run on the bytes).

use super::compressed::{self, Compression};
use super::{CaptureInfo, FilterError, Format, Frame, ReadError};
use anyhow::{anyhow, Context};
use std::io::{BufRead, BufReader, Read};

/// Largest single record (pcap record or pcapng block) we accept: 256 MiB.
pub const MAX_RECORD: usize = 256 << 20;

/// libpcap's maximum snaplen; pcap records up to this size are accepted even
/// when the file header's snaplen is smaller (many writers lie about it).
const PCAP_MAX_SNAPLEN: u32 = 262_144;

/// Read every frame of `path` (`-` = standard input), calling `on_frame` for
/// each one that passes `filter` (a BPF expression compiled by libpcap).
///
/// Returns `Err` only when nothing can be read at all (missing file, empty
/// file, not a capture, bad filter expression). A file damaged part-way
/// returns `Ok` with `damaged = true` and a warning naming the byte offset and
/// frame number where reading stopped.
pub fn read_path(
    path: &str,
    filter: Option<&str>,
    on_frame: &mut dyn FnMut(&Frame),
) -> Result<CaptureInfo, ReadError> {
    read_reader(path, open_input(path)?, filter, on_frame)
}

/// Open a capture input: a path, or `-` for standard input.
pub fn open_input(path: &str) -> anyhow::Result<Box<dyn Read>> {
    Ok(if path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("cannot open {path}"))?)
    })
}

/// A reader that adds every byte it reads to a shared counter (drives
/// progress bars from another thread).
pub struct CountingReader<R> {
    pub inner: R,
    pub counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Read a capture from any byte stream (used by [`read_path`]; `name` only
/// labels messages).
pub fn read_reader(
    name: &str,
    reader: impl Read,
    filter: Option<&str>,
    on_frame: &mut dyn FnMut(&Frame),
) -> Result<CaptureInfo, ReadError> {
    let filter = filter.map(bpf::Filter::new).transpose()?;
    read_from(
        name,
        BufReader::with_capacity(256 << 10, reader),
        filter,
        on_frame,
    )
}

/// Read a capture held in memory (a memory-mapped file): frames are
/// delivered as slices of `bytes` wherever the format allows (every pcap
/// record and pcapng enhanced packet block; other pcapng packet blocks are
/// copied into one reused buffer first), so the
/// caller can tell where a frame lies by its address. Same contract as
/// [`read_reader`].
pub fn read_bytes(
    name: &str,
    bytes: &[u8],
    filter: Option<&str>,
    on_frame: &mut dyn FnMut(&Frame),
) -> Result<CaptureInfo, ReadError> {
    let filter = filter.map(bpf::Filter::new).transpose()?;
    read_from(name, bytes, filter, on_frame)
}

/// The four bytes a pcap or pcapng file starts with (any byte order or
/// resolution), for callers choosing how to open a file.
pub fn is_capture_magic(head: &[u8]) -> bool {
    let Some(m) = head.get(..4) else {
        return false;
    };
    let m = [m[0], m[1], m[2], m[3]];
    [u32::from_le_bytes(m), u32::from_be_bytes(m)]
        .iter()
        .any(|v| matches!(v, 0xa1b2c3d4 | 0xa1b23c4d | 0xa1b2cd34 | 0x0A0D0D0A))
}

fn read_from<'a>(
    path: &str,
    source: impl Source + 'a,
    filter: Option<bpf::Filter>,
    on_frame: &mut dyn FnMut(&Frame),
) -> Result<CaptureInfo, ReadError> {
    // gzip or zstd is recognised by its first bytes and decoded on the way
    // (`compressed.rs`); the record reader below sees the capture itself.
    match compressed::open(source).with_context(|| format!("cannot read {path}"))? {
        compressed::Opened::Plain(s) => read_records(path, s, None, filter, on_frame),
        compressed::Opened::Stream(r, c) => {
            let s = BufReader::with_capacity(256 << 10, r);
            read_records(path, s, c, filter, on_frame)
        }
    }
}

fn read_records(
    path: &str,
    source: impl Source,
    compression: Option<Compression>,
    filter: Option<bpf::Filter>,
    on_frame: &mut dyn FnMut(&Frame),
) -> Result<CaptureInfo, ReadError> {
    let mut rd = Reader {
        inner: source,
        offset: 0,
    };
    let mut info = CaptureInfo {
        path: path.to_string(),
        compression,
        ..Default::default()
    };
    let mut magic = [0u8; 4];
    let got = rd
        .fill(&mut magic)
        .with_context(|| format!("cannot read {path}"))?;
    if let (Some(c), true) = (compression, got < 4) {
        if got == 0 {
            return Err(anyhow!("{path}: {c}-compressed, but empty once decompressed (0 bytes), not a pcap or pcapng capture").into());
        }
        return Err(anyhow!(
            "{path}: {c}-compressed, but only {got} byte(s) once decompressed, too short to be a capture (starts with {})",
            describe_bytes(&magic[..got])
        ).into());
    }
    if got == 0 {
        return Err(anyhow!("{path}: empty file (0 bytes), not a pcap or pcapng capture").into());
    }
    if got < 4 {
        return Err(anyhow!(
            "{path}: only {got} byte(s), too short to be a capture (starts with {})",
            describe_bytes(&magic[..got])
        )
        .into());
    }
    let mut st = State {
        path,
        info: &mut info,
        filter,
        on_frame,
        frame_no: 0,
        buf: Vec::new(),
    };
    let le = u32::from_le_bytes(magic);
    let be = u32::from_be_bytes(magic);
    let pcap_kind = |m: u32| match m {
        0xa1b2c3d4 => Some((false, false)),
        0xa1b23c4d => Some((true, false)),
        0xa1b2cd34 => Some((false, true)), // Kuznetzov modified pcap
        _ => None,
    };
    if let Some((nano, modified)) = pcap_kind(le) {
        st.info.format = Some(Format::Pcap);
        read_pcap(&mut rd, &mut st, false, nano, modified)?;
    } else if let Some((nano, modified)) = pcap_kind(be) {
        st.info.format = Some(Format::Pcap);
        read_pcap(&mut rd, &mut st, true, nano, modified)?;
    } else if le == 0x0A0D0D0A {
        st.info.format = Some(Format::Pcapng);
        read_pcapng(&mut rd, &mut st)?;
    } else {
        let mut head = [0u8; 16];
        head[..4].copy_from_slice(&magic);
        let more = rd.fill(&mut head[4..]).unwrap_or(0);
        if let Some(c) = compression {
            return Err(anyhow!(
                "{path}: {c}-compressed, but not a pcap or pcapng file once decompressed (unknown magic number; the decompressed data starts with {})",
                describe_bytes(&head[..4 + more])
            ).into());
        }
        return Err(anyhow!(
            "{path}: not a pcap or pcapng file (unknown magic number; it starts with {})",
            describe_bytes(&head[..4 + more])
        )
        .into());
    }
    info.bytes_read = rd.offset;
    Ok(info)
}

/// "3c 21 44 4f 43 ... ("<!DOC...")" for error messages.
fn describe_bytes(b: &[u8]) -> String {
    let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    let text: String = b
        .iter()
        .map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                c as char
            } else {
                '.'
            }
        })
        .collect();
    let looks = if b.starts_with(&[0x1f, 0x8b]) {
        ", looks gzip-compressed"
    } else if b.starts_with(b"<") || b.starts_with(b"{") || b.iter().all(|c| c.is_ascii()) {
        ", looks like text"
    } else {
        ""
    };
    format!("{} (\"{text}\"{looks})", hex.join(" "))
}

/// Where records come from: a buffered stream, or bytes already in memory.
/// `buffered` shows what can be read without a system call, so that whole
/// records found there are delivered in place, without copying.
trait Source: BufRead {
    fn buffered(&self) -> &[u8];
}

impl<R: Read> Source for BufReader<R> {
    fn buffered(&self) -> &[u8] {
        self.buffer()
    }
}

impl Source for &[u8] {
    fn buffered(&self) -> &[u8] {
        self
    }
}

struct Reader<S: Source> {
    inner: S,
    /// Bytes consumed so far.
    offset: u64,
}

impl<S: Source> Reader<S> {
    /// Read until `buf` is full or end of input; returns the bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.offset += n as u64;
                    return Err(e);
                }
            }
        }
        self.offset += n as u64;
        Ok(n)
    }

    /// Replace `buf` with the next `n` bytes (fewer at end of input). The
    /// buffer grows with the bytes actually read, not with `n`, so a record
    /// header claiming [`MAX_RECORD`] bytes in a short file costs no more
    /// memory than the file.
    fn fill_vec(&mut self, buf: &mut Vec<u8>, n: usize) -> std::io::Result<usize> {
        buf.clear();
        let r = (&mut self.inner).take(n as u64).read_to_end(buf);
        self.offset += buf.len() as u64;
        r.map(|_| buf.len())
    }
}

struct State<'a> {
    path: &'a str,
    info: &'a mut CaptureInfo,
    filter: Option<bpf::Filter>,
    on_frame: &'a mut dyn FnMut(&Frame),
    frame_no: u64,
    /// The one reusable record buffer (grows to the largest record seen).
    buf: Vec<u8>,
}

impl State<'_> {
    fn damaged(&mut self, offset: u64, what: &str) {
        self.info.damaged = true;
        let msg = format!(
            "{}: damaged after frame {} at {}byte offset {offset}: {what}; stopped reading",
            self.path,
            self.frame_no,
            if self.info.compression.is_some() {
                "decompressed "
            } else {
                ""
            }
        );
        self.info.warn(msg);
    }

    fn io_error(&mut self, offset: u64, e: std::io::Error) {
        self.damaged(offset, &format!("read error: {e}"));
    }

    /// Deliver `self.buf[range]` as the next frame.
    fn deliver(
        &mut self,
        range: std::ops::Range<usize>,
        ts_ns: i64,
        link_type: u32,
        orig_len: u32,
    ) -> Result<(), FilterError> {
        let buf = std::mem::take(&mut self.buf);
        let r = self.deliver_slice(buf.get(range).unwrap_or(&[]), ts_ns, link_type, orig_len);
        self.buf = buf;
        r
    }

    /// Deliver `data` (borrowed from the reader's buffer) as the next frame.
    fn deliver_slice(
        &mut self,
        data: &[u8],
        ts_ns: i64,
        link_type: u32,
        orig_len: u32,
    ) -> Result<(), FilterError> {
        self.frame_no += 1;
        let frame = Frame {
            number: self.frame_no,
            ts_ns,
            link_type,
            data,
            orig_len,
        };
        self.info.note_frame(&frame);
        let pass = match &mut self.filter {
            None => true,
            Some(f) => f.matches(link_type, data, self.info)?,
        };
        if pass {
            self.info.frames_matched += 1;
            (self.on_frame)(&frame);
        }
        Ok(())
    }

    fn first_link_type(&mut self, lt: u32) -> Result<(), FilterError> {
        if let Some(f) = &mut self.filter {
            f.prepare(lt)?;
        }
        Ok(())
    }
}

/// Saturating conversion helper: clamp an i128 into i64.
fn clamp_i64(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn read_pcap<S: Source>(
    rd: &mut Reader<S>,
    st: &mut State,
    big: bool,
    nano: bool,
    modified: bool,
) -> Result<(), FilterError> {
    let mut hdr = [0u8; 20];
    let n = match rd.fill(&mut hdr) {
        Ok(n) => n,
        Err(e) => {
            st.io_error(rd.offset, e);
            return Ok(());
        }
    };
    if n < 20 {
        st.damaged(rd.offset, "cut short in the 24-byte pcap file header");
        return Ok(());
    }
    let u32_at = |b: &[u8], i: usize| {
        let a = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let snaplen = u32_at(&hdr, 12);
    // Upper bits carry FCS information (LT_FCS_*); the link type is below.
    let link_type = u32_at(&hdr, 16) & 0x03FF_FFFF;
    st.first_link_type(link_type)?;
    let limit = (snaplen.max(PCAP_MAX_SNAPLEN) as usize).min(MAX_RECORD);
    let rec_len = if modified { 24 } else { 16 };
    let mut rh = [0u8; 24];
    let (mut warned_sub, unit) = (false, if nano { 1_000_000_000u32 } else { 1_000_000 });
    let sub_warning = |st: &mut State, sub: u32| {
        st.info.warn(format!(
            "{}: frame {}: sub-second timestamp field {sub} is >= {unit} (invalid); used as is",
            st.path,
            st.frame_no + 1
        ));
    };
    let to_ns = |sec: u32, sub: u32| {
        sec as i128 * 1_000_000_000
            + if nano {
                sub as i128
            } else {
                sub as i128 * 1000
            }
    };
    loop {
        // Fast path: the whole record is in the reader's buffer; deliver it
        // from there without copying. Records that straddle a buffer
        // refill (or are damaged) take the general path below.
        let avail = rd.inner.buffered();
        if avail.len() >= rec_len {
            let incl = u32_at(avail, 8) as usize;
            if incl <= limit && avail.len() >= rec_len + incl {
                let (sec, sub, orig) = (u32_at(avail, 0), u32_at(avail, 4), u32_at(avail, 12));
                if sub >= unit && !warned_sub {
                    warned_sub = true;
                    sub_warning(st, sub);
                }
                let n = rec_len + incl;
                st.info.bytes_read = rd.offset + n as u64;
                st.deliver_slice(
                    &avail[rec_len..n],
                    clamp_i64(to_ns(sec, sub)),
                    link_type,
                    orig,
                )?;
                rd.inner.consume(n);
                rd.offset += n as u64;
                continue;
            }
        }
        let start = rd.offset;
        let got = match rd.fill(&mut rh[..rec_len]) {
            Ok(n) => n,
            Err(e) => {
                st.io_error(rd.offset, e);
                break;
            }
        };
        st.info.bytes_read = rd.offset;
        if got == 0 {
            break;
        }
        if got < rec_len {
            st.damaged(
                start,
                &format!(
                    "cut short in the middle of a frame (record header: {got} of {rec_len} bytes)"
                ),
            );
            break;
        }
        let sec = u32_at(&rh, 0);
        let sub = u32_at(&rh, 4);
        let incl = u32_at(&rh, 8);
        let orig = u32_at(&rh, 12);
        if incl as usize > limit {
            st.damaged(
                start,
                &format!("record claims {incl} bytes (snaplen {snaplen})"),
            );
            break;
        }
        if sub >= unit && !warned_sub {
            warned_sub = true;
            sub_warning(st, sub);
        }
        let ns = to_ns(sec, sub);
        let incl = incl as usize;
        let got = match rd.fill_vec(&mut st.buf, incl) {
            Ok(n) => n,
            Err(e) => {
                st.io_error(rd.offset, e);
                break;
            }
        };
        if got < incl {
            st.damaged(
                start,
                &format!("cut short in the middle of a frame ({got} of {incl} bytes)"),
            );
            break;
        }
        st.info.bytes_read = rd.offset;
        st.deliver(0..incl, clamp_i64(ns), link_type, orig)?;
    }
    Ok(())
}

/// One pcapng interface (from an IDB).
struct Iface {
    link_type: u32,
    snaplen: u32,
    /// Timestamp resolution: `(is_power_of_two, exponent)`.
    tsresol: (bool, u8),
    tsoffset_s: i64,
    warned_ts: bool,
}

impl Iface {
    /// A packet block's timestamp in ns since the epoch, clamped to i64
    /// (with one warning per interface when it had to be).
    fn timestamp(&mut self, units: u64, if_id: usize, st: &mut State) -> i64 {
        let ns = self.to_ns(units);
        let ts_ns = clamp_i64(ns);
        if ts_ns as i128 != ns && !self.warned_ts {
            self.warned_ts = true;
            let msg = format!(
                "{}: interface {if_id}: timestamp {units} overflows the nanosecond range; clamped",
                st.path
            );
            st.info.warn(msg);
        }
        ts_ns
    }

    /// Convert a timestamp in interface units to ns since the epoch (i128,
    /// clamped by the caller).
    fn to_ns(&self, units: u64) -> i128 {
        let u = units as i128;
        let base = match self.tsresol {
            (false, e) if e <= 9 => u * 10i128.pow(9 - e as u32),
            (false, e) => {
                let d = e as u32 - 9;
                if d > 38 {
                    0
                } else {
                    u / 10i128.pow(d)
                }
            }
            (true, e) => {
                if e >= 100 {
                    0
                } else {
                    // u < 2^64, 1e9 < 2^30: fits in i128.
                    (u * 1_000_000_000) >> e
                }
            }
        };
        base.saturating_add(self.tsoffset_s as i128 * 1_000_000_000)
    }
}

fn read_pcapng<S: Source>(rd: &mut Reader<S>, st: &mut State) -> Result<(), FilterError> {
    let mut big = false;
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut first_lt_seen = false;
    // The 4 magic bytes of the first SHB have already been consumed.
    let mut pending_type: Option<[u8; 4]> = Some(0x0A0D0D0Au32.to_le_bytes());
    loop {
        // Fast path: an enhanced packet block wholly in the reader's buffer,
        // well-formed, for a known interface, is delivered from there
        // without copying; anything else (other blocks, damage, undefined
        // interfaces, blocks straddling a refill) takes the general path.
        if pending_type.is_none() {
            let avail = rd.inner.buffered();
            let at = |i: usize| {
                let a = [avail[i], avail[i + 1], avail[i + 2], avail[i + 3]];
                if big {
                    u32::from_be_bytes(a)
                } else {
                    u32::from_le_bytes(a)
                }
            };
            if avail.len() >= 32 && at(0) == 6 {
                let blen = at(4) as usize;
                let fits = blen >= 32
                    && blen.is_multiple_of(4)
                    && blen <= MAX_RECORD
                    && avail.len() >= blen
                    && at(blen - 4) as usize == blen;
                let (if_id, caplen) = if fits {
                    (at(8) as usize, at(20) as usize)
                } else {
                    (usize::MAX, 0)
                };
                if fits && caplen <= blen - 32 && if_id < ifaces.len() {
                    let iface = &mut ifaces[if_id];
                    let ts = ((at(12) as u64) << 32) | at(16) as u64;
                    let orig = at(24);
                    let ts_ns = iface.timestamp(ts, if_id, st);
                    let lt = iface.link_type;
                    st.info.bytes_read = rd.offset + blen as u64;
                    st.deliver_slice(&avail[28..28 + caplen], ts_ns, lt, orig)?;
                    rd.inner.consume(blen);
                    rd.offset += blen as u64;
                    continue;
                }
            }
        }
        let start = rd.offset - if pending_type.is_some() { 4 } else { 0 };
        let mut head = [0u8; 8];
        let (ty_bytes, got) = match pending_type.take() {
            Some(t) => {
                head[..4].copy_from_slice(&t);
                match rd.fill(&mut head[4..]) {
                    Ok(n) => (t, n + 4),
                    Err(e) => {
                        st.io_error(rd.offset, e);
                        return Ok(());
                    }
                }
            }
            None => match rd.fill(&mut head) {
                Ok(n) => ([head[0], head[1], head[2], head[3]], n),
                Err(e) => {
                    st.io_error(rd.offset, e);
                    return Ok(());
                }
            },
        };
        st.info.bytes_read = rd.offset;
        if got == 0 {
            return Ok(());
        }
        let is_shb = u32::from_le_bytes(ty_bytes) == 0x0A0D0D0A;
        if is_shb {
            // Need the byte-order magic to interpret the length.
            let mut bom = [0u8; 4];
            let n = if got == 8 {
                rd.fill(&mut bom).unwrap_or(0)
            } else {
                0
            };
            if got < 8 || n < 4 {
                st.damaged(start, "cut short in a section header block");
                return Ok(());
            }
            big = match u32::from_le_bytes(bom) {
                0x1A2B3C4D => false,
                0x4D3C2B1A => true,
                other => {
                    st.damaged(
                        start,
                        &format!("section header with bad byte-order magic {other:#010x}"),
                    );
                    return Ok(());
                }
            };
            // A new section: interfaces are numbered afresh.
            ifaces.clear();
        } else if got < 8 {
            st.damaged(
                start,
                &format!("cut short in the middle of a block header ({got} of 8 bytes)"),
            );
            return Ok(());
        }
        let rd32 = |b: &[u8], i: usize| -> u32 {
            match b.get(i..i + 4) {
                Some(s) => {
                    let a = [s[0], s[1], s[2], s[3]];
                    if big {
                        u32::from_be_bytes(a)
                    } else {
                        u32::from_le_bytes(a)
                    }
                }
                None => 0,
            }
        };
        let rd16 = |b: &[u8], i: usize| -> u16 {
            match b.get(i..i + 2) {
                Some(s) => {
                    if big {
                        u16::from_be_bytes([s[0], s[1]])
                    } else {
                        u16::from_le_bytes([s[0], s[1]])
                    }
                }
                None => 0,
            }
        };
        let btype = rd32(&ty_bytes, 0);
        let blen = rd32(&head, 4) as usize;
        let consumed = if is_shb { 12 } else { 8 };
        if blen < 12 || !blen.is_multiple_of(4) || blen > MAX_RECORD || blen < consumed + 4 {
            st.damaged(
                start,
                &format!("block of type {btype:#x} claims an invalid length of {blen} bytes"),
            );
            return Ok(());
        }
        // Body after what we consumed, including the trailing length.
        let rest = blen - consumed;
        let n = match rd.fill_vec(&mut st.buf, rest) {
            Ok(n) => n,
            Err(e) => {
                st.io_error(rd.offset, e);
                return Ok(());
            }
        };
        let is_packet = matches!(btype, 2 | 3 | 6);
        if n < rest {
            let what = if is_packet {
                format!(
                    "cut short in the middle of a frame (block of {blen} bytes, {} present)",
                    consumed + n
                )
            } else {
                format!(
                    "cut short in the middle of a block of type {btype:#x} ({blen} bytes, {} present)",
                    consumed + n
                )
            };
            st.damaged(start, &what);
            return Ok(());
        }
        st.info.bytes_read = rd.offset;
        let trailer = rd32(&st.buf, rest - 4) as usize;
        if trailer != blen {
            st.damaged(
                start,
                &format!("block of type {btype:#x}: trailing length {trailer} differs from {blen}"),
            );
            return Ok(());
        }
        // `body` = st.buf[..rest-4], starting after the 8-byte block header
        // (or after the BOM for an SHB).
        let body_len = rest - 4;
        match btype {
            1 => {
                // IDB: linktype u16, reserved u16, snaplen u32, options.
                if body_len < 8 {
                    st.damaged(start, "interface description block too short");
                    return Ok(());
                }
                let b = &st.buf[..body_len];
                let mut iface = Iface {
                    link_type: rd16(b, 0) as u32,
                    snaplen: rd32(b, 4),
                    tsresol: (false, 6),
                    tsoffset_s: 0,
                    warned_ts: false,
                };
                let mut i = 8;
                while i + 4 <= body_len {
                    let code = rd16(b, i);
                    let len = rd16(b, i + 2) as usize;
                    let v = i + 4;
                    if code == 0 || v + len > body_len {
                        break;
                    }
                    match (code, len) {
                        (9, 1) => {
                            let r = b[v];
                            iface.tsresol = (r & 0x80 != 0, r & 0x7f);
                        }
                        (14, 8) => {
                            let lo = rd32(b, v) as u64;
                            let hi = rd32(b, v + 4) as u64;
                            iface.tsoffset_s = if big {
                                ((lo << 32) | hi) as i64
                            } else {
                                ((hi << 32) | lo) as i64
                            };
                        }
                        _ => {}
                    }
                    i = v + len.div_ceil(4) * 4;
                }
                if !first_lt_seen {
                    first_lt_seen = true;
                    st.first_link_type(iface.link_type)?;
                }
                ifaces.push(iface);
            }
            2 | 6 => {
                // EPB: if u32, ts hi, ts lo, caplen, origlen, data.
                // PB:  if u16, drops u16, ts hi, ts lo, caplen, origlen, data.
                if body_len < 20 {
                    st.damaged(start, "packet block too short");
                    return Ok(());
                }
                let b = &st.buf[..body_len];
                let if_id = if btype == 6 {
                    rd32(b, 0) as usize
                } else {
                    rd16(b, 0) as usize
                };
                let ts = ((rd32(b, 4) as u64) << 32) | rd32(b, 8) as u64;
                let caplen = rd32(b, 12) as usize;
                let orig = rd32(b, 16);
                if caplen > body_len - 20 {
                    st.damaged(
                        start,
                        &format!(
                            "packet block claims {caplen} captured bytes but holds only {}",
                            body_len - 20
                        ),
                    );
                    return Ok(());
                }
                let Some(iface) = ifaces.get_mut(if_id) else {
                    st.info.warn(format!(
                        "{}: packet block at byte offset {start} names undefined interface {if_id}; frame skipped",
                        st.path
                    ));
                    continue;
                };
                let ts_ns = iface.timestamp(ts, if_id, st);
                let lt = iface.link_type;
                st.deliver(20..20 + caplen, ts_ns, lt, orig)?;
            }
            3 => {
                // SPB: origlen u32, data (interface 0, no timestamp).
                if body_len < 4 {
                    st.damaged(start, "simple packet block too short");
                    return Ok(());
                }
                let orig = rd32(&st.buf, 0);
                let Some(iface) = ifaces.first() else {
                    st.info.warn(format!(
                        "{}: simple packet block at byte offset {start} before any interface; frame skipped",
                        st.path
                    ));
                    continue;
                };
                let mut cap = (orig as usize).min(body_len - 4);
                if iface.snaplen != 0 {
                    cap = cap.min(iface.snaplen as usize);
                }
                let lt = iface.link_type;
                let ts = st.info.last_ts_ns.unwrap_or(0);
                st.deliver(4..4 + cap, ts, lt, orig)?;
            }
            _ => {} // SHB (handled above), NRB, ISB, DSB, custom...: skipped.
        }
    }
}

#[cfg(feature = "live")]
mod bpf {
    use crate::capture::{CaptureInfo, FilterError};

    /// A BPF expression, compiled by libpcap once per link type.
    pub struct Filter {
        expr: String,
        /// `None` when libpcap cannot compile for that link type (frames of
        /// that link type then never match; a warning says so).
        progs: Vec<(u32, Option<pcap::BpfProgram>)>,
    }

    /// LINKTYPE_ value to the DLT_ value libpcap's `pcap_open_dead` wants.
    fn dlt(lt: u32) -> i32 {
        match lt {
            101 | 14 => 12, // LINKTYPE_RAW -> DLT_RAW (Linux numbering)
            other => other as i32,
        }
    }

    fn compile(expr: &str, lt: u32) -> Result<pcap::BpfProgram, String> {
        let cap = pcap::Capture::dead(pcap::Linktype(dlt(lt))).map_err(|e| e.to_string())?;
        cap.compile(expr, true).map_err(|e| e.to_string())
    }

    impl Filter {
        pub fn new(expr: &str) -> Result<Filter, FilterError> {
            Ok(Filter {
                expr: expr.to_string(),
                progs: Vec::new(),
            })
        }

        /// Compile for the first link type of the input; a bad expression
        /// fails here, before any frame is delivered.
        pub fn prepare(&mut self, lt: u32) -> Result<(), FilterError> {
            if self.progs.iter().any(|(l, _)| *l == lt) {
                return Ok(());
            }
            match compile(&self.expr, lt) {
                Ok(p) => {
                    self.progs.push((lt, Some(p)));
                    Ok(())
                }
                Err(e) => Err(FilterError(format!(
                    "bad capture filter \"{}\" (link type {lt}): {e}",
                    self.expr
                ))),
            }
        }

        pub fn matches(
            &mut self,
            lt: u32,
            data: &[u8],
            info: &mut CaptureInfo,
        ) -> Result<bool, FilterError> {
            let idx = match self.progs.iter().position(|(l, _)| *l == lt) {
                Some(i) => i,
                None => {
                    if self.progs.is_empty() {
                        self.prepare(lt)?;
                    } else {
                        let p = match compile(&self.expr, lt) {
                            Ok(p) => Some(p),
                            Err(e) => {
                                info.warn(format!(
                                    "{}: filter \"{}\" cannot be compiled for link type {lt} ({e}); its frames are left out",
                                    info.path, self.expr
                                ));
                                None
                            }
                        };
                        self.progs.push((lt, p));
                    }
                    self.progs.len() - 1
                }
            };
            Ok(match &self.progs[idx].1 {
                Some(p) => p.filter(data),
                None => false,
            })
        }
    }
}

#[cfg(not(feature = "live"))]
mod bpf {
    use crate::capture::{CaptureInfo, FilterError};

    pub struct Filter;

    impl Filter {
        pub fn new(expr: &str) -> Result<Filter, FilterError> {
            Err(FilterError(format!(
                "cannot apply filter \"{expr}\": built without libpcap (feature `live`)"
            )))
        }
        pub fn prepare(&mut self, _lt: u32) -> Result<(), FilterError> {
            Ok(())
        }
        pub fn matches(
            &mut self,
            _: u32,
            _: &[u8],
            _: &mut CaptureInfo,
        ) -> Result<bool, FilterError> {
            Ok(true)
        }
    }
}

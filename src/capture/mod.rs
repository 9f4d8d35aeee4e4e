//! Stage 1: where frames come from.
//!
//! Yields [`Frame`]s — `(frame number, timestamp, link type, bytes, original
//! length)` — from a capture file (pcap in either byte order with µs or ns
//! timestamps; pcapng with any number of sections and interfaces of
//! different link types and timestamp resolutions) or from standard input.
//! Live capture through libpcap is in [`live`].
//!
//! What it does not do: it knows nothing of IP or TCP. It applies an optional
//! BPF filter (libpcap's compiler) to each frame, because that is a property of
//! the frame source, but never looks inside the bytes itself.
//!
//! Contract: never panics on any input; a damaged or cut file yields every
//! frame before the damage, then stops with a warning in [`CaptureInfo`].

pub mod compressed;
pub mod file;
#[cfg(all(feature = "live", target_os = "linux"))]
pub mod kernel;
#[cfg(feature = "live")]
pub mod live;

use crate::TsNs;

/// LINKTYPE_ values (tcpdump.org/linktypes.html) the decoder understands.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const PPP: u32 = 9;
    pub const RAW_12: u32 = 12;
    pub const RAW_14: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;

    /// Every link type the decoder understands.
    pub const SUPPORTED: [u32; 11] = [
        NULL, ETHERNET, PPP, RAW_12, RAW_14, RAW, LOOP, LINUX_SLL, IPV4, IPV6, LINUX_SLL2,
    ];
}

/// One captured frame, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based frame number within its capture (as Wireshark counts).
    pub number: u64,
    pub ts_ns: TsNs,
    /// LINKTYPE_ value of the interface the frame was captured on.
    pub link_type: u32,
    /// The captured bytes (may be shorter than `orig_len` after a snaplen cut).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub orig_len: u32,
}

/// A BPF filter that does not compile: the user's option, not the input,
/// so it fails the whole run rather than one input.
#[derive(Debug)]
pub struct FilterError(pub String);

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

/// Why a capture input gave no frames at all: the filter (the user's option,
/// which fails the whole run) or the input itself (missing, empty, not a
/// capture: one input fails). Damage part-way is no error (see
/// [`CaptureInfo::damaged`]).
#[derive(Debug)]
pub enum ReadError {
    /// The BPF expression does not compile.
    Filter(FilterError),
    /// The input cannot be read as a capture; the message names it.
    Input(anyhow::Error),
}

impl From<FilterError> for ReadError {
    fn from(e: FilterError) -> Self {
        ReadError::Filter(e)
    }
}

impl From<anyhow::Error> for ReadError {
    fn from(e: anyhow::Error) -> Self {
        ReadError::Input(e)
    }
}

/// The message of the error inside; `{:#}` adds its causes, as anyhow does.
impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Filter(e) => std::fmt::Display::fmt(e, f),
            ReadError::Input(e) if f.alternate() => write!(f, "{e:#}"),
            ReadError::Input(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Filter(_) => None,
            ReadError::Input(e) => e.source(),
        }
    }
}

/// Container format of a capture input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pcap,
    Pcapng,
    Live,
}

/// What the reader saw of one input, independent of TCP.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CaptureInfo {
    pub path: String,
    pub format: Option<Format>,
    /// How the input was compressed (`None`: plain). Byte offsets in
    /// warnings are then offsets in the decompressed capture.
    pub compression: Option<compressed::Compression>,
    /// Distinct link types in order of first appearance.
    pub link_types: Vec<u32>,
    /// Frames read (before any BPF filter).
    pub frames: u64,
    /// Frames that passed the BPF filter (equal to `frames` without one).
    pub frames_matched: u64,
    pub first_ts_ns: Option<TsNs>,
    pub last_ts_ns: Option<TsNs>,
    /// Bytes of the input consumed so far (drives progress bars).
    pub bytes_read: u64,
    /// Human-readable warnings: damage, odd timestamps, unknown blocks.
    pub warnings: Vec<String>,
    /// True when reading stopped early because the file is damaged or cut.
    pub damaged: bool,
}

impl CaptureInfo {
    pub fn warn(&mut self, msg: impl Into<String>) {
        let msg = msg.into();
        // Keep the list readable and bounded on hostile inputs.
        if self.warnings.len() < 64 {
            self.warnings.push(msg);
        } else if self.warnings.len() == 64 {
            self.warnings.push("further warnings suppressed".into());
        }
    }

    pub(crate) fn note_frame(&mut self, f: &Frame) {
        self.frames += 1;
        if !self.link_types.contains(&f.link_type) {
            self.link_types.push(f.link_type);
        }
        self.first_ts_ns = Some(self.first_ts_ns.map_or(f.ts_ns, |t| t.min(f.ts_ns)));
        self.last_ts_ns = Some(self.last_ts_ns.map_or(f.ts_ns, |t| t.max(f.ts_ns)));
    }
}

/// Does `expr` read as a BPF filter expression? With libpcap (the `live`
/// feature) it is the compiler's answer for Ethernet; without it, whether
/// the first word is one of BPF's primitives. Used by the command line to
/// tell a mistyped file name from a filter written where files go.
pub fn looks_like_filter(expr: &str) -> bool {
    #[cfg(feature = "live")]
    {
        pcap::Capture::dead(pcap::Linktype(1))
            .and_then(|c| c.compile(expr, true))
            .is_ok()
    }
    #[cfg(not(feature = "live"))]
    {
        const PRIMITIVES: [&str; 16] = [
            "tcp",
            "udp",
            "icmp",
            "ip",
            "ip6",
            "arp",
            "host",
            "net",
            "port",
            "portrange",
            "src",
            "dst",
            "not",
            "ether",
            "vlan",
            "less",
        ];
        let first = expr.split_whitespace().next().unwrap_or("");
        PRIMITIVES.contains(&first.trim_start_matches(['(', '!']))
    }
}

/// libpcap's own version line (`libpcap version 1.10.5 (with TPACKET_V3)`),
/// when live capture is compiled in.
pub fn libpcap_version() -> Option<String> {
    #[cfg(feature = "live")]
    {
        extern "C" {
            fn pcap_lib_version() -> *const std::ffi::c_char;
        }
        // SAFETY: libpcap returns a static NUL-terminated string.
        let p = unsafe { pcap_lib_version() };
        if p.is_null() {
            return None;
        }
        // SAFETY: non-null, NUL-terminated, static (see above).
        let s = unsafe { std::ffi::CStr::from_ptr(p) };
        Some(s.to_string_lossy().into_owned())
    }
    #[cfg(not(feature = "live"))]
    None
}

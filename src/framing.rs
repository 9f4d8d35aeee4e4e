//! Write boundaries from the protocol's own framing.
//!
//! Most captures come with no write log, but many protocols mark where
//! their messages end, and applications usually write one message per call.
//! This module turns one direction's byte stream into *message-end offsets*
//! (the offset just after a message's last byte), which the analysis then
//! uses exactly like a write log (`write_source` = `framing:<name>`).
//!
//! Decoders (`--framing NAME`):
//! - `lines`: a message ends at every `\n` (Telnet, SMTP, POP3, FTP control,
//!   memcached text, Redis inline commands);
//! - `tls`: TLS/SSLv3 records (5-byte header: type 20–24, version 3.x,
//!   16-bit length);
//! - `http1`: HTTP/1.x requests and responses: start line and headers, then
//!   a `Content-Length` body, a chunked body (chunks, last chunk, trailers)
//!   or none; a response without either (read until close) has no end
//!   before the connection closes and gives no boundary;
//! - `resp`: Redis RESP2/RESP3 (nested arrays, maps, sets, pushes, bulk
//!   strings; a line that starts with no RESP type byte is an inline
//!   command);
//! - `length-prefixed:TYPE[@OFF][+ADJ|-ADJ]`: binary framing with a length
//!   field of TYPE (`u8`, `u16be`, `u16le`, `u24be`, `u24le`, `u32be`,
//!   `u32le`) that starts OFF bytes into the message (default 0); the
//!   message is `OFF + width + value + ADJ` bytes (ADJ default 0). Examples:
//!   DNS over TCP and Kafka `length-prefixed:u16be`/`u32be`; MySQL
//!   `length-prefixed:u24le+1`; TPKT (RDP) `length-prefixed:u16be@2-4`
//!   (the length counts the whole 4-byte header);
//! - `auto`: per direction, from the first payload bytes: a TLS record
//!   header, an HTTP method or `HTTP/1.` status line, a RESP type byte with
//!   a well-formed first line, or printable text with a newline (not an
//!   `SSH-` banner). Anything else (binary protocols, Telnet's option
//!   negotiation, a capture that starts mid-stream) is *not recognised*
//!   and the direction keeps the other sources; length-prefixed framing is
//!   never guessed;
//! - `none`: no framing.
//!
//! Streaming and bounded: each decoder keeps a few counters and buffers
//! only the partial header or line it is in the middle of (at most
//! [`MAX_LINE`] bytes), never message bodies.
//!
//! Missing and repeated bytes: bytes already decoded (retransmissions,
//! keep-alives) are skipped; a segment that starts beyond the next expected
//! byte leaves a gap. After a gap `lines` carries on (the next `\n` still
//! ends a message); every other decoder stops and says where, because it
//! cannot know where the next message starts. A segment whose payload was
//! cut by the snaplen stops the decoder the same way ("payload not
//! captured"). The analysis decides whether what was decoded before the
//! stop is enough (see `analysis.rs`).
//!
//! What it does not do: it does not reorder out-of-order segments (the
//! bytes that arrive after the gap was skipped are ignored), does not
//! decrypt or look inside TLS records, does not pair HTTP requests with
//! responses (a response to `HEAD` is taken to have the body its
//! `Content-Length` announces), and cannot know when an application wrote
//! several messages in one call (a TLS handshake flight, pipelined
//! requests, memcached's `set` command line and data block) or one message
//! in several calls (HTTP headers then body): it counts messages.

use std::fmt;

/// Longest partial line or header kept while waiting for its end.
pub const MAX_LINE: usize = 16 * 1024;
/// Deepest RESP nesting followed.
const MAX_DEPTH: usize = 64;
/// Largest TLS record length accepted (2^14 + 2048, RFC 5246 ciphertext).
const MAX_TLS_RECORD: usize = 16384 + 2048;

/// A framing choice for a flow or a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Auto,
    Lines,
    Tls,
    Http1,
    Resp,
    LengthPrefixed(LengthSpec),
}

/// A length-prefixed header: `width` bytes at `offset`, message length =
/// offset + width + value + adjust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthSpec {
    pub width: u8,
    pub big_endian: bool,
    pub offset: u32,
    pub adjust: i64,
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Framing::None => f.write_str("none"),
            Framing::Auto => f.write_str("auto"),
            Framing::Lines => f.write_str("lines"),
            Framing::Tls => f.write_str("tls"),
            Framing::Http1 => f.write_str("http1"),
            Framing::Resp => f.write_str("resp"),
            Framing::LengthPrefixed(s) => {
                let ty = match (s.width, s.big_endian) {
                    (1, _) => "u8".to_string(),
                    (w, true) => format!("u{}be", w as u32 * 8),
                    (w, false) => format!("u{}le", w as u32 * 8),
                };
                write!(f, "length-prefixed:{ty}")?;
                if s.offset > 0 {
                    write!(f, "@{}", s.offset)?;
                }
                if s.adjust != 0 {
                    write!(f, "{:+}", s.adjust)?;
                }
                Ok(())
            }
        }
    }
}

impl std::str::FromStr for Framing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim() {
            "none" => Framing::None,
            "auto" => Framing::Auto,
            "lines" => Framing::Lines,
            "tls" => Framing::Tls,
            "http1" | "http" => Framing::Http1,
            "resp" | "redis" => Framing::Resp,
            other => {
                let Some(spec) = other.strip_prefix("length-prefixed:") else {
                    return Err(format!(
                        "unknown framing {other:?}: use auto, none, lines, tls, http1, resp or length-prefixed:TYPE[@OFF][+ADJ]"
                    ));
                };
                Framing::LengthPrefixed(parse_length_spec(spec)?)
            }
        })
    }
}

fn parse_length_spec(spec: &str) -> Result<LengthSpec, String> {
    let bad = || {
        format!(
            "bad length-prefixed spec {spec:?}: TYPE[@OFFSET][+ADJ|-ADJ] with TYPE u8, u16be, u16le, u24be, u24le, u32be or u32le"
        )
    };
    let ty_end = spec.find(['@', '+', '-']).unwrap_or(spec.len());
    let (width, big_endian) = match &spec[..ty_end] {
        "u8" => (1, true),
        "u16be" => (2, true),
        "u16le" => (2, false),
        "u24be" => (3, true),
        "u24le" => (3, false),
        "u32be" => (4, true),
        "u32le" => (4, false),
        _ => return Err(bad()),
    };
    let mut rest = &spec[ty_end..];
    let mut offset = 0u32;
    if let Some(r) = rest.strip_prefix('@') {
        let e = r.find(['+', '-']).unwrap_or(r.len());
        offset = r[..e].parse().map_err(|_| bad())?;
        if offset > 1 << 16 {
            return Err(bad());
        }
        rest = &r[e..];
    }
    let adjust = if rest.is_empty() {
        0
    } else {
        let v: i64 = rest.parse().map_err(|_| bad())?;
        if v.unsigned_abs() > 1 << 32 {
            return Err(bad());
        }
        v
    };
    Ok(LengthSpec {
        width,
        big_endian,
        offset,
        adjust,
    })
}

/// Framing rules: a default and per-port overrides (`--framing 6379=resp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingRules {
    pub default: Framing,
    pub ports: Vec<(u16, Framing)>,
}

impl Default for FramingRules {
    fn default() -> Self {
        FramingRules {
            default: Framing::Auto,
            ports: Vec::new(),
        }
    }
}

impl FramingRules {
    /// Parse the values of repeated `--framing` options: `NAME` sets the
    /// default (the last one wins), `PORT=NAME` a port rule.
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Result<Self, String> {
        let mut r = FramingRules::default();
        for v in values {
            let v = v.as_ref();
            match v.split_once('=') {
                Some((port, name)) => {
                    let p: u16 = port
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad port in --framing {v:?}"))?;
                    r.ports.retain(|(q, _)| *q != p);
                    r.ports.push((p, name.parse()?));
                }
                None => r.default = v.parse()?,
            }
        }
        Ok(r)
    }

    /// The framing of a flow: the server port's rule, else the client
    /// port's, else the default.
    pub fn for_ports(&self, server: u16, client: u16) -> Framing {
        let find = |p: u16| self.ports.iter().find(|(q, _)| *q == p).map(|x| x.1);
        find(server)
            .or_else(|| find(client))
            .unwrap_or(self.default)
    }
}

/// Guess the framing from a direction's first payload bytes.
pub fn detect(b: &[u8]) -> Option<Framing> {
    if b.len() >= 3 && (20..=24).contains(&b[0]) && b[1] == 3 && b[2] <= 4 {
        return Some(Framing::Tls);
    }
    const METHODS: &[&[u8]] = &[
        b"GET ",
        b"POST ",
        b"PUT ",
        b"HEAD ",
        b"DELETE ",
        b"OPTIONS ",
        b"PATCH ",
        b"CONNECT ",
        b"TRACE ",
    ];
    if b.starts_with(b"HTTP/1.") || METHODS.iter().any(|m| b.starts_with(m)) {
        return Some(Framing::Http1);
    }
    let line_end = b.iter().position(|&c| c == b'\n');
    if let (Some(&t), Some(e)) = (b.first(), line_end) {
        let line = b.get(1..e).unwrap_or_default(); // e = 0: a first byte of \n
        let line = line.strip_suffix(b"\r");
        if let Some(line) = line {
            let numeric = !line.is_empty()
                && line
                    .iter()
                    .enumerate()
                    .all(|(i, c)| c.is_ascii_digit() || (i == 0 && *c == b'-'));
            let text = line.iter().all(|c| (0x20..0x7f).contains(c));
            let resp = match t {
                b'*' | b'$' | b':' | b'%' | b'~' | b'>' => numeric,
                b'+' | b'-' => text && !line.is_empty(),
                _ => false,
            };
            if resp {
                return Some(Framing::Resp);
            }
        }
    }
    let printable = b
        .iter()
        .all(|&c| matches!(c, b'\t' | b'\n' | b'\r' | 0x20..=0x7e));
    if printable && line_end.is_some() && !b.starts_with(b"SSH-") {
        return Some(Framing::Lines);
    }
    None
}

/// Why a decoder cannot go on.
pub type Stop = String;

/// A streaming message decoder for one direction.
trait Decoder {
    /// Feed the next bytes of the stream (`pos` = offset of `data[0]`),
    /// pushing the offset just after each message's last byte.
    fn feed(&mut self, data: &[u8], pos: u64, ends: &mut Vec<u64>) -> Result<(), Stop>;
    /// After a gap: true when decoding can go on.
    fn resync(&mut self) -> bool {
        false
    }
    /// Bytes held (partial header or line), for the memory bound.
    fn buffered(&self) -> usize {
        0
    }
}

/// One of the decoders (an enum, so that the analysis state stays `Clone`).
#[derive(Debug, Clone)]
enum AnyDecoder {
    Lines(Lines),
    Tls(Tls),
    Http1(Http1),
    Resp(Resp),
    LengthPrefixed(LengthPrefixed),
}

macro_rules! each {
    ($self:expr, $d:ident => $e:expr) => {
        match $self {
            AnyDecoder::Lines($d) => $e,
            AnyDecoder::Tls($d) => $e,
            AnyDecoder::Http1($d) => $e,
            AnyDecoder::Resp($d) => $e,
            AnyDecoder::LengthPrefixed($d) => $e,
        }
    };
}

impl Decoder for AnyDecoder {
    fn feed(&mut self, data: &[u8], pos: u64, ends: &mut Vec<u64>) -> Result<(), Stop> {
        each!(self, d => d.feed(data, pos, ends))
    }
    fn resync(&mut self) -> bool {
        each!(self, d => d.resync())
    }
    fn buffered(&self) -> usize {
        each!(self, d => d.buffered())
    }
}

fn new_decoder(f: Framing, strict_text: bool) -> Option<AnyDecoder> {
    Some(match f {
        Framing::None | Framing::Auto => return None,
        Framing::Lines => AnyDecoder::Lines(Lines { strict_text }),
        Framing::Tls => AnyDecoder::Tls(Tls::default()),
        Framing::Http1 => AnyDecoder::Http1(Http1::default()),
        Framing::Resp => AnyDecoder::Resp(Resp::default()),
        Framing::LengthPrefixed(s) => AnyDecoder::LengthPrefixed(LengthPrefixed {
            spec: s,
            header: Vec::new(),
            remaining: 0,
        }),
    })
}

// ---------------------------------------------------------------- lines

#[derive(Debug, Clone)]
struct Lines {
    /// Detected by `auto`: stop at bytes no text protocol sends (the text
    /// was a banner before a binary protocol).
    strict_text: bool,
}

impl Decoder for Lines {
    fn feed(&mut self, data: &[u8], pos: u64, ends: &mut Vec<u64>) -> Result<(), Stop> {
        for (i, &c) in data.iter().enumerate() {
            if c == b'\n' {
                ends.push(pos + i as u64 + 1);
            } else if self.strict_text && (c < 0x09 || (0x0e..0x1b).contains(&c)) {
                return Err(format!(
                    "binary byte 0x{c:02x} at offset {}: not a line-based protocol",
                    pos + i as u64
                ));
            }
        }
        Ok(())
    }
    fn resync(&mut self) -> bool {
        true
    }
}

// ---------------------------------------------------------------- tls

#[derive(Debug, Default, Clone)]
struct Tls {
    header: Vec<u8>,
    remaining: usize,
}

impl Decoder for Tls {
    fn feed(&mut self, mut data: &[u8], mut pos: u64, ends: &mut Vec<u64>) -> Result<(), Stop> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(data.len());
                self.remaining -= n;
                data = &data[n..];
                pos += n as u64;
                if self.remaining == 0 {
                    ends.push(pos);
                }
                continue;
            }
            let need = 5 - self.header.len();
            let n = need.min(data.len());
            self.header.extend_from_slice(&data[..n]);
            data = &data[n..];
            pos += n as u64;
            if self.header.len() < 5 {
                break;
            }
            let h = std::mem::take(&mut self.header);
            let len = u16::from_be_bytes([h[3], h[4]]) as usize;
            if !(20..=24).contains(&h[0]) || h[1] != 3 || len > MAX_TLS_RECORD {
                return Err(format!(
                    "not a TLS record header at offset {} ({:02x} {:02x} {:02x} {:02x} {:02x})",
                    pos - 5,
                    h[0],
                    h[1],
                    h[2],
                    h[3],
                    h[4]
                ));
            }
            self.remaining = len;
            if len == 0 {
                ends.push(pos);
            }
        }
        Ok(())
    }
    fn buffered(&self) -> usize {
        self.header.len()
    }
}

// ---------------------------------------------------------------- length-prefixed

#[derive(Debug, Clone)]
struct LengthPrefixed {
    spec: LengthSpec,
    header: Vec<u8>,
    remaining: u64,
}

impl Decoder for LengthPrefixed {
    fn feed(&mut self, mut data: &[u8], mut pos: u64, ends: &mut Vec<u64>) -> Result<(), Stop> {
        let hlen = self.spec.offset as usize + self.spec.width as usize;
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = (self.remaining.min(data.len() as u64)) as usize;
                self.remaining -= n as u64;
                data = &data[n..];
                pos += n as u64;
                if self.remaining == 0 {
                    ends.push(pos);
                }
                continue;
            }
            let n = (hlen - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..n]);
            data = &data[n..];
            pos += n as u64;
            if self.header.len() < hlen {
                break;
            }
            let h = std::mem::take(&mut self.header);
            let field = &h[self.spec.offset as usize..];
            let mut v: u64 = 0;
            for i in 0..self.spec.width as usize {
                let b = if self.spec.big_endian {
                    field[i]
                } else {
                    field[self.spec.width as usize - 1 - i]
                };
                v = (v << 8) | b as u64;
            }
            let total = hlen as i64 + v as i64 + self.spec.adjust;
            if total < hlen as i64 {
                return Err(format!(
                    "length {v} at offset {} gives a message shorter than its header",
                    pos - hlen as u64
                ));
            }
            self.remaining = (total - hlen as i64) as u64;
            if self.remaining == 0 {
                ends.push(pos);
            }
        }
        Ok(())
    }
    fn buffered(&self) -> usize {
        self.header.len()
    }
}

// ---------------------------------------------------------------- http1

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
enum HttpState {
    #[default]
    StartLine,
    Headers,
    Body,
    ChunkSize,
    ChunkData,
    ChunkCrlf,
    Trailers,
    /// A response body delimited by the connection close.
    UntilClose,
}

#[derive(Debug, Default, Clone)]
struct Http1 {
    state: HttpState,
    line: Vec<u8>,
    remaining: u64,
    is_response: bool,
    status: u16,
    content_length: Option<u64>,
    chunked: bool,
    connect: bool,
}

impl Http1 {
    /// A complete line (without CR LF) in the current state; Some(true)
    /// when it ends a message.
    fn line_done(&mut self, pos: u64) -> Result<bool, Stop> {
        let line = std::mem::take(&mut self.line);
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        match self.state {
            HttpState::StartLine => {
                if line.is_empty() {
                    // Stray CRLF between messages (RFC 9112 §2.2 allows it).
                    return Ok(false);
                }
                let text = String::from_utf8_lossy(line);
                let mut parts = text.split(' ');
                let first = parts.next().unwrap_or("");
                self.content_length = None;
                self.chunked = false;
                self.connect = false;
                if first.starts_with("HTTP/1.") {
                    self.is_response = true;
                    self.status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                    if !(100..=999).contains(&self.status) {
                        return Err(format!("bad HTTP status line before offset {pos}"));
                    }
                } else {
                    let ok = !first.is_empty()
                        && first.bytes().all(|c| c.is_ascii_uppercase() || c == b'-')
                        && text
                            .rsplit(' ')
                            .next()
                            .is_some_and(|v| v.starts_with("HTTP/"));
                    if !ok {
                        return Err(format!("not an HTTP/1.x start line before offset {pos}"));
                    }
                    self.is_response = false;
                    self.connect = first == "CONNECT";
                }
                self.state = HttpState::Headers;
                Ok(false)
            }
            HttpState::Headers => {
                if !line.is_empty() {
                    if let Some((name, value)) = std::str::from_utf8(line)
                        .ok()
                        .and_then(|l| l.split_once(':'))
                    {
                        let value = value.trim();
                        if name.eq_ignore_ascii_case("content-length") {
                            self.content_length = value.parse().ok();
                        } else if name.eq_ignore_ascii_case("transfer-encoding")
                            && value.to_ascii_lowercase().contains("chunked")
                        {
                            self.chunked = true;
                        }
                    }
                    return Ok(false);
                }
                // End of the header block.
                let no_body = self.is_response
                    && (self.status < 200 || self.status == 204 || self.status == 304);
                if self.is_response && self.status == 101 {
                    return Err(format!(
                        "protocol switched (101) at offset {pos}: what follows is not HTTP"
                    ));
                }
                if no_body {
                    self.state = HttpState::StartLine;
                    return Ok(true);
                }
                if self.chunked {
                    self.state = HttpState::ChunkSize;
                    return Ok(false);
                }
                match self.content_length {
                    Some(n) if n > 0 => {
                        self.remaining = n;
                        self.state = HttpState::Body;
                        Ok(false)
                    }
                    Some(_) => {
                        self.state = HttpState::StartLine;
                        Ok(true)
                    }
                    None if self.is_response => {
                        self.state = HttpState::UntilClose;
                        Ok(false)
                    }
                    None => {
                        if self.connect {
                            return Err(format!(
                                "CONNECT at offset {pos}: what follows is a tunnel"
                            ));
                        }
                        self.state = HttpState::StartLine;
                        Ok(true)
                    }
                }
            }
            HttpState::ChunkSize => {
                let text = String::from_utf8_lossy(line);
                let hex = text.split(';').next().unwrap_or("").trim();
                let n = u64::from_str_radix(hex, 16)
                    .map_err(|_| format!("bad chunk size line before offset {pos}"))?;
                if n == 0 {
                    self.state = HttpState::Trailers;
                } else {
                    self.remaining = n;
                    self.state = HttpState::ChunkData;
                }
                Ok(false)
            }
            HttpState::Trailers => {
                if line.is_empty() {
                    self.state = HttpState::StartLine;
                    Ok(true)
                } else {
                    Ok(false)
                }
            }
            _ => unreachable!("no lines in body states"),
        }
    }
}

impl Decoder for Http1 {
    fn feed(&mut self, mut data: &[u8], mut pos: u64, ends: &mut Vec<u64>) -> Result<(), Stop> {
        while !data.is_empty() {
            match self.state {
                HttpState::UntilClose => return Ok(()),
                HttpState::Body | HttpState::ChunkData => {
                    let n = (self.remaining.min(data.len() as u64)) as usize;
                    self.remaining -= n as u64;
                    data = &data[n..];
                    pos += n as u64;
                    if self.remaining == 0 {
                        if self.state == HttpState::Body {
                            self.state = HttpState::StartLine;
                            ends.push(pos);
                        } else {
                            self.state = HttpState::ChunkCrlf;
                            self.remaining = 2;
                        }
                    }
                }
                HttpState::ChunkCrlf => {
                    // CR LF after chunk data (a bare LF is tolerated).
                    let c = data[0];
                    data = &data[1..];
                    pos += 1;
                    if c == b'\n' {
                        self.state = HttpState::ChunkSize;
                    } else if c != b'\r' {
                        return Err(format!("chunk not followed by CRLF at offset {}", pos - 1));
                    }
                }
                _ => {
                    let Some(i) = data.iter().position(|&c| c == b'\n') else {
                        if self.line.len() + data.len() > MAX_LINE {
                            return Err(format!(
                                "HTTP line longer than {MAX_LINE} bytes at offset {pos}"
                            ));
                        }
                        self.line.extend_from_slice(data);
                        return Ok(());
                    };
                    if self.line.len() + i > MAX_LINE {
                        return Err(format!(
                            "HTTP line longer than {MAX_LINE} bytes at offset {pos}"
                        ));
                    }
                    self.line.extend_from_slice(&data[..i]);
                    data = &data[i + 1..];
                    pos += i as u64 + 1;
                    if self.line_done(pos)? {
                        ends.push(pos);
                    }
                }
            }
        }
        Ok(())
    }
    fn buffered(&self) -> usize {
        self.line.len()
    }
}

// ---------------------------------------------------------------- resp

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
enum RespState {
    /// Expecting a type byte.
    #[default]
    Type,
    /// In a header line of this type (numbers are collected in `line`).
    Line(u8),
    /// In bulk data: `remaining` bytes then CR LF.
    Bulk,
}

#[derive(Debug, Default, Clone)]
struct Resp {
    state: RespState,
    line: Vec<u8>,
    remaining: u64,
    /// Elements still expected at each open aggregate.
    stack: Vec<u64>,
}

impl Resp {
    /// One element finished; true when it completed a top-level message.
    fn element_done(&mut self) -> bool {
        while let Some(top) = self.stack.last_mut() {
            *top -= 1;
            if *top > 0 {
                return false;
            }
            self.stack.pop();
        }
        true
    }

    fn line_done(&mut self, t: u8, pos: u64) -> Result<bool, Stop> {
        let line = std::mem::take(&mut self.line);
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        let num = || -> Result<i64, Stop> {
            std::str::from_utf8(line)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad RESP length before offset {pos}"))
        };
        match t {
            b'$' | b'!' | b'=' => {
                let n = num()?;
                if n < 0 {
                    return Ok(self.element_done()); // null bulk string
                }
                self.remaining = n as u64 + 2;
                self.state = RespState::Bulk;
                Ok(false)
            }
            b'*' | b'%' | b'~' | b'>' | b'|' => {
                let n = num()?;
                let n = if matches!(t, b'%' | b'|') {
                    n.saturating_mul(2)
                } else {
                    n
                };
                if t == b'|' {
                    // Attributes precede the value they describe.
                    if n > 0 {
                        if self.stack.len() >= MAX_DEPTH {
                            return Err(format!("RESP nested too deep at offset {pos}"));
                        }
                        self.stack.push(n as u64 + 1);
                    }
                    return Ok(false);
                }
                if n <= 0 {
                    return Ok(self.element_done());
                }
                if self.stack.len() >= MAX_DEPTH {
                    return Err(format!("RESP nested too deep at offset {pos}"));
                }
                self.stack.push(n as u64);
                Ok(false)
            }
            // Simple types and inline commands: the line is the element.
            _ => Ok(self.element_done()),
        }
    }
}

impl Decoder for Resp {
    fn feed(&mut self, mut data: &[u8], mut pos: u64, ends: &mut Vec<u64>) -> Result<(), Stop> {
        while !data.is_empty() {
            match self.state {
                RespState::Bulk => {
                    let n = (self.remaining.min(data.len() as u64)) as usize;
                    self.remaining -= n as u64;
                    data = &data[n..];
                    pos += n as u64;
                    if self.remaining == 0 {
                        self.state = RespState::Type;
                        if self.element_done() {
                            ends.push(pos);
                        }
                    }
                }
                RespState::Type => {
                    let t = data[0];
                    if matches!(t, b'\r' | b'\n') && self.stack.is_empty() {
                        // Blank line between inline commands.
                        data = &data[1..];
                        pos += 1;
                        continue;
                    }
                    let known = matches!(
                        t,
                        b'+' | b'-'
                            | b':'
                            | b'$'
                            | b'*'
                            | b'_'
                            | b','
                            | b'#'
                            | b'('
                            | b'!'
                            | b'='
                            | b'%'
                            | b'~'
                            | b'>'
                            | b'|'
                    );
                    if !known && !self.stack.is_empty() {
                        return Err(format!("not a RESP type byte at offset {pos}"));
                    }
                    if known {
                        data = &data[1..];
                        pos += 1;
                    }
                    // Inline command: the whole line, type byte included.
                    self.state = RespState::Line(if known { t } else { 0 });
                }
                RespState::Line(t) => {
                    let numeric =
                        matches!(t, b'$' | b'!' | b'=' | b'*' | b'%' | b'~' | b'>' | b'|');
                    let Some(i) = data.iter().position(|&c| c == b'\n') else {
                        if numeric {
                            if self.line.len() + data.len() > 32 {
                                return Err(format!("RESP length line too long at offset {pos}"));
                            }
                            self.line.extend_from_slice(data);
                        }
                        return Ok(());
                    };
                    if numeric {
                        if self.line.len() + i > 32 {
                            return Err(format!("RESP length line too long at offset {pos}"));
                        }
                        self.line.extend_from_slice(&data[..i]);
                    }
                    data = &data[i + 1..];
                    pos += i as u64 + 1;
                    self.state = RespState::Type;
                    if self.line_done(t, pos)? {
                        ends.push(pos);
                    }
                }
            }
        }
        Ok(())
    }
    fn buffered(&self) -> usize {
        self.line.len()
    }
}

// ---------------------------------------------------------------- per direction

/// How a direction's framing ended up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Outcome {
    /// No framing asked for (`none`), or nothing sent yet.
    #[default]
    Off,
    /// `auto` did not recognise the first bytes.
    NotRecognised,
    /// Decoding (still) on.
    Active,
    /// Decoding stopped: why.
    Stopped(String),
}

/// One direction's framing: stream position, decoder, and counts.
#[derive(Debug, Default, Clone)]
pub struct DirFraming {
    /// The framing in use (after `auto` detection).
    pub framing: Option<Framing>,
    pub auto: bool,
    decoder: Option<AnyDecoder>,
    started: bool,
    /// Next stream offset expected.
    next: i64,
    pub outcome: Outcome,
    /// Messages found.
    pub messages: u64,
    /// Segments whose bytes were decoded.
    pub segments: u64,
    /// Gaps carried over (`lines`).
    pub gaps: u64,
    ends: Vec<u64>,
}

impl DirFraming {
    /// The name shown in `write_source`, e.g. `framing:tls`.
    pub fn source(&self) -> Option<String> {
        self.framing.map(|f| format!("framing:{f}"))
    }

    /// Feed one segment (`start` offset, `len` bytes on the wire, the
    /// captured `payload`), chosen framing `choice` on the first call.
    /// Returns the number of messages ending in this segment when the
    /// segment's new bytes were decoded, `None` otherwise (framing off,
    /// stopped, or no new bytes).
    pub fn segment(
        &mut self,
        choice: impl FnOnce() -> Framing,
        start: i64,
        len: u32,
        payload: &[u8],
    ) -> Option<u64> {
        if len == 0 {
            return None;
        }
        if !self.started {
            self.started = true;
            self.next = start;
            let f = choice();
            self.auto = f == Framing::Auto;
            if (payload.len() as u64) < len as u64 && f != Framing::None {
                self.framing = if self.auto { detect(payload) } else { Some(f) };
                self.stop(format!(
                    "payload not captured (snaplen: {} of {len} bytes in the first segment)",
                    payload.len()
                ));
                return None;
            }
            let f = if self.auto {
                match detect(payload) {
                    Some(f) => f,
                    None => {
                        self.outcome = Outcome::NotRecognised;
                        return None;
                    }
                }
            } else {
                f
            };
            self.decoder = new_decoder(f, self.auto);
            if self.decoder.is_some() {
                self.framing = Some(f);
                self.outcome = Outcome::Active;
            }
        }
        if self.outcome != Outcome::Active {
            return None;
        }
        let end = start + len as i64;
        if end <= self.next {
            return None; // already decoded
        }
        if (payload.len() as u64) < len as u64 {
            self.stop(format!(
                "payload not captured at offset {start} (snaplen: {} of {len} bytes)",
                payload.len()
            ));
            return None;
        }
        let dec = self.decoder.as_mut()?;
        if start > self.next {
            let missing = start - self.next;
            if dec.resync() {
                self.gaps += 1;
                self.next = start;
            } else {
                let at = self.next;
                self.stop(format!("{missing} bytes missing at offset {at}"));
                return None;
            }
        }
        let skip = (self.next - start) as usize;
        self.ends.clear();
        let r = dec.feed(&payload[skip..], self.next as u64, &mut self.ends);
        self.next = end;
        let n = self.ends.len() as u64;
        if let Err(e) = r {
            self.stop(e);
            return None;
        }
        debug_assert!(dec.buffered() <= MAX_LINE);
        self.messages += n;
        self.segments += 1;
        Some(n)
    }

    fn stop(&mut self, why: String) {
        self.outcome = Outcome::Stopped(why);
        self.decoder = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `chunks` as consecutive segments; the message ends found.
    fn ends(f: Framing, chunks: &[&[u8]]) -> (Vec<u64>, Result<(), Stop>) {
        let mut d = new_decoder(f, false).unwrap();
        let mut out = vec![];
        let mut pos = 0;
        for c in chunks {
            if let Err(e) = d.feed(c, pos, &mut out) {
                return (out, Err(e));
            }
            pos += c.len() as u64;
        }
        (out, Ok(()))
    }

    #[test]
    fn lines_several_per_segment_and_spanning() {
        let (e, r) = ends(Framing::Lines, &[b"get a\r\nget b\r\nge", b"t c\r", b"\n"]);
        assert!(r.is_ok());
        assert_eq!(e, vec![7, 14, 21]);
    }

    #[test]
    fn tls_records_spanning_segments() {
        // Two records of 3 and 1 bytes; the second header split 2 + 3.
        let s: &[u8] = &[0x17, 3, 3, 0, 3, 1, 2, 3, 0x17, 3];
        let (e, r) = ends(Framing::Tls, &[s, &[3, 0, 1], &[9]]);
        assert!(r.is_ok());
        assert_eq!(e, vec![8, 14]);
        let (_, r) = ends(Framing::Tls, &[b"GET / HTTP/1.1\r\n"]);
        assert!(r.unwrap_err().contains("not a TLS record"));
    }

    #[test]
    fn http_content_length_and_pipelined() {
        let req =
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST /p HTTP/1.1\r\nContent-Length: 4\r\n\r\nab";
        let (e, r) = ends(Framing::Http1, &[req, b"cd"]);
        assert!(r.is_ok());
        assert_eq!(e, vec![27, req.len() as u64 + 2]);
        // 304 and 1xx have no body even with a Content-Length.
        let resp =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n";
        let (e, _) = ends(Framing::Http1, &[resp]);
        assert_eq!(e, vec![25, resp.len() as u64]);
    }

    #[test]
    fn http_chunked_with_trailer() {
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let body: &[u8] = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\n";
        // Split inside a chunk size, chunk data, and the final CRLF.
        let (a, b) = body.split_at(4);
        let (b, c) = b.split_at(12);
        let (e, r) = ends(
            Framing::Http1,
            &[head, a, b, c, b"HTTP/1.1 204 No Content\r\n\r\n"],
        );
        assert!(r.is_ok(), "{r:?}");
        let first = (head.len() + body.len()) as u64;
        assert_eq!(e, vec![first, first + 27]);
    }

    #[test]
    fn http_response_until_close_gives_no_end() {
        let (e, r) = ends(Framing::Http1, &[b"HTTP/1.0 200 OK\r\n\r\nbody", b"more"]);
        assert!(r.is_ok());
        assert!(e.is_empty());
    }

    #[test]
    fn resp_nested_and_split() {
        // SET k v as a RESP array, split mid bulk; then +OK, :1, $-1, nested.
        let cmd: &[u8] = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        let (a, b) = cmd.split_at(10);
        let (e, r) = ends(Framing::Resp, &[a, b]);
        assert!(r.is_ok());
        assert_eq!(e, vec![cmd.len() as u64]);
        let replies: &[u8] = b"+OK\r\n:1\r\n$-1\r\n*2\r\n*1\r\n:1\r\n$2\r\nab\r\n*0\r\n";
        let (e, r) = ends(Framing::Resp, &[replies]);
        assert!(r.is_ok());
        assert_eq!(e, vec![5, 9, 14, 34, 38]);
        // Inline command.
        let (e, _) = ends(Framing::Resp, &[b"PING\r\n"]);
        assert_eq!(e, vec![6]);
    }

    #[test]
    fn length_prefixed_variants() {
        let f: Framing = "length-prefixed:u16be".parse().unwrap();
        let (e, _) = ends(f, &[&[0, 2, b'a'], &[b'b', 0, 0, 0], &[1, b'z']]);
        assert_eq!(e, vec![4, 6, 9]);
        // MySQL: 3-byte little-endian length + 1 sequence byte.
        let f: Framing = "length-prefixed:u24le+1".parse().unwrap();
        let (e, _) = ends(f, &[&[2, 0, 0, 0, b'h', b'i', 1, 0, 0, 1, b'x']]);
        assert_eq!(e, vec![6, 11]);
        // TPKT: version, reserved, then a u16be length of the whole message.
        let f: Framing = "length-prefixed:u16be@2-4".parse().unwrap();
        assert_eq!(f.to_string(), "length-prefixed:u16be@2-4");
        let (e, _) = ends(f, &[&[3, 0, 0, 7, 1, 2, 3, 3, 0, 0, 4]]);
        assert_eq!(e, vec![7, 11]);
        assert!("length-prefixed:u12".parse::<Framing>().is_err());
    }

    #[test]
    fn gap_stops_or_resyncs() {
        let mut d = DirFraming::default();
        assert_eq!(
            d.segment(|| Framing::Tls, 0, 7, &[0x17, 3, 3, 0, 2, 0, 0]),
            Some(1)
        );
        // Retransmission of the same bytes: ignored.
        assert_eq!(
            d.segment(|| Framing::Tls, 0, 7, &[0x17, 3, 3, 0, 2, 0, 0]),
            None
        );
        // 10 bytes missing.
        assert_eq!(d.segment(|| Framing::Tls, 17, 3, &[0x17, 3, 3]), None);
        assert_eq!(
            d.outcome,
            Outcome::Stopped("10 bytes missing at offset 7".into())
        );
        let mut l = DirFraming::default();
        assert_eq!(l.segment(|| Framing::Lines, 0, 4, b"ab\nc"), Some(1));
        assert_eq!(l.segment(|| Framing::Lines, 10, 4, b"d\ne\n"), Some(2));
        assert_eq!(
            (l.gaps, l.messages, l.outcome.clone()),
            (1, 3, Outcome::Active)
        );
        // Snaplen: fewer bytes captured than sent.
        assert_eq!(l.segment(|| Framing::Lines, 14, 100, b"x\n"), None);
        assert!(matches!(l.outcome, Outcome::Stopped(ref s) if s.contains("snaplen")));
    }

    #[test]
    fn partial_overlap_feeds_only_new_bytes() {
        let mut l = DirFraming::default();
        assert_eq!(l.segment(|| Framing::Lines, 0, 3, b"a\nb"), Some(1));
        assert_eq!(l.segment(|| Framing::Lines, 2, 4, b"b\nc\n"), Some(2));
        assert_eq!(l.messages, 3);
    }

    #[test]
    fn auto_detection() {
        assert_eq!(detect(&[0x16, 3, 1, 0, 5]), Some(Framing::Tls));
        assert_eq!(detect(b"GET / HTTP/1.1\r\n"), Some(Framing::Http1));
        assert_eq!(detect(b"HTTP/1.1 200 OK\r\n"), Some(Framing::Http1));
        assert_eq!(detect(b"*1\r\n$4\r\nPING\r\n"), Some(Framing::Resp));
        assert_eq!(detect(b"+PONG\r\n"), Some(Framing::Resp));
        assert_eq!(detect(b"220 mail ESMTP\r\n"), Some(Framing::Lines));
        assert_eq!(detect(b"get foo\r\n"), Some(Framing::Lines));
        assert_eq!(detect(b"SSH-2.0-OpenSSH_9\r\n"), None);
        assert_eq!(detect(&[0xff, 0xfd, 0x18]), None); // Telnet IAC DO
        assert_eq!(detect(b"a"), None);
        assert_eq!(detect(&[0, 0, 0, 0]), None);
        // A first byte of \n (0x0a in binary data) is no RESP line.
        assert_eq!(detect(&[b'\n', 0x9c, 0x01]), None);
        assert_eq!(detect(b"\nhello\n"), Some(Framing::Lines));
        // A banner before binary data: auto's strict text check stops.
        let mut d = DirFraming::default();
        assert_eq!(d.segment(|| Framing::Auto, 0, 4, b"hi\r\n"), Some(1));
        assert_eq!(d.segment(|| Framing::Auto, 4, 1, b"\x01"), None);
        assert!(matches!(d.outcome, Outcome::Stopped(_)));
    }

    #[test]
    fn rules_by_port() {
        let r = FramingRules::parse(&["6379=resp", "none", "443=tls"]).unwrap();
        assert_eq!(r.default, Framing::None);
        assert_eq!(r.for_ports(6379, 50000), Framing::Resp);
        assert_eq!(r.for_ports(80, 443), Framing::Tls);
        assert_eq!(r.for_ports(80, 50000), Framing::None);
        assert!(FramingRules::parse(&["x=resp"]).is_err());
        assert!(FramingRules::parse(&["bogus"]).is_err());
    }
}

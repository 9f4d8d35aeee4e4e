//! Compressed captures: gzip (`.gz`, concatenated members as `cat a.gz b.gz`
//! or pigz/bgzip write them) and zstd (`.zst`, any number of frames), read
//! as a stream and handed to the pcap/pcapng reader as if they were plain.
//!
//! Detection is by the first bytes, never the file name, so standard input
//! works too: gzip starts with `1f 8b`, a zstd frame with `28 b5 2f fd`.
//! [`open`] peeks at them through the reader's buffer (consuming nothing)
//! and, when they match, puts a streaming decoder over that same buffer.
//! Anything that wraps the raw input *below* the buffer — the progress
//! bar's byte counter in `pipeline.rs` — therefore counts compressed bytes,
//! which is what the file size measures.
//!
//! Memory stays bounded: gzip needs its 32 KiB window, zstd the frame's
//! window, which is capped at 2^27 bytes (128 MiB, the zstd command line's
//! own default limit; only `zstd --long=28` and above go beyond it, and
//! such a frame is reported as unreadable, not buffered).
//!
//! Damage: a decoder error is returned from `read` as an I/O error whose
//! message says which stream, whether it was corrupt or cut short, and the
//! compressed byte offset where the decoder noticed; the record reader
//! turns it into its usual "damaged after frame N at decompressed byte
//! offset X" warning, after delivering every frame decoded before it. The
//! error is sticky (every later `read` repeats it). Corruption is noticed
//! where the format can notice it: an invalid deflate code or zstd block
//! at once, otherwise at the end of the gzip member (CRC-32) or zstd frame
//! (its content checksum, which `zstd` writes by default): frames decoded
//! from corrupted bytes before that point are delivered as they are. A
//! stream cut exactly at a member or frame boundary cannot be told from a
//! complete one.
//!
//! Choices, measured on a 303 MB capture written by `nagle-analyze synth
//! --packets 400000 --flows 2000` (2 cores, AMD EPYC), decoding to a sink:
//!
//! | input | as written (20:1 gzip, 54:1 zstd) | TCP payloads replaced by random bytes (1.06:1, 1.09:1) |
//! |---|---|---|
//! | plain read | 5,600–7,400 MB/s | 3,400–4,800 MB/s |
//! | gzip, flate2 (miniz_oxide) | 2,400–2,600 MB/s | 316–339 MB/s |
//! | gzip, flate2 (zlib-rs) | 1,360 MB/s | 321–354 MB/s |
//! | zstd, `zstd` crate (libzstd 1.5.7) | 4,050–4,300 MB/s | 1,950–2,290 MB/s |
//! | zstd, `ruzstd` 0.9 (pure Rust) | 1,840–2,380 MB/s | 1,310–1,380 MB/s |
//!
//! (MB/s of decompressed capture.) The whole analysis of a plain file runs
//! at about 2,000 MB/s, so libzstd keeps zstd input close to plain speed
//! while ruzstd would be the bottleneck: the `zstd` crate it is (`zstd-sys`
//! compiles the bundled libzstd with the system C compiler, which rustc
//! already needs on Linux as its linker). End to end, `nagle-analyze
//! --format json`, best of 5: as written, plain 0.134 s (memory-mapped),
//! gzip 0.205 s, zstd 0.152 s; random payloads, plain 0.152 s, gzip 0.985 s,
//! zstd 0.191 s; peak RSS 29–34 MB in every case. flate2 keeps its
//! default pure-Rust backend (already in the dependency tree through the PNG
//! encoder); zlib-rs was no faster here. gzip members are walked here
//! rather than by flate2's `MultiGzDecoder`, which decodes the same members
//! but reports zero padding after the last one (which `gzip` ignores) and
//! trailing garbage alike as "invalid gzip header", without saying where
//! the last good member ended.

use std::fmt;
use std::io::{self, BufRead, Read};

/// How an input was compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    /// `gzip` or `zstd` (the report's `compression` field).
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// The compression whose magic number `head` starts with; `None` for
    /// anything else (and for a `head` too short to tell).
    pub fn detect(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&GZIP_MAGIC) {
            Some(Compression::Gzip)
        } else if head.starts_with(&ZSTD_MAGIC) {
            Some(Compression::Zstd)
        } else {
            None
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The largest zstd window accepted (log2): 128 MiB.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// An input after looking at its first bytes.
pub(crate) enum Opened<'a, S> {
    /// Not compressed: the source itself, nothing consumed.
    Plain(S),
    /// A stream to read instead: the decoder of a compressed input, or
    /// (`None`) a plain input whose first bytes had to be taken out of the
    /// source to be recognised and are put back in front.
    Stream(Box<dyn Read + 'a>, Option<Compression>),
}

/// Look at the first bytes of `source` and, when they are a gzip or zstd
/// magic number, return a decoder reading from it.
pub(crate) fn open<'a, S: BufRead + 'a>(mut source: S) -> io::Result<Opened<'a, S>> {
    let head = loop {
        match source.fill_buf() {
            Ok(b) => break b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    if head.len() >= ZSTD_MAGIC.len() || head.is_empty() || !could_be_magic(head) {
        return Ok(match Compression::detect(head) {
            None => Opened::Plain(source),
            Some(c) => Opened::Stream(decoder(c, source)?, Some(c)),
        });
    }
    // A pipe delivered fewer bytes than a magic number so far, and they
    // could start one: take four bytes out and put them back in front.
    let mut first = Vec::with_capacity(ZSTD_MAGIC.len());
    (&mut source)
        .take(ZSTD_MAGIC.len() as u64)
        .read_to_end(&mut first)?;
    let c = Compression::detect(&first);
    let chained = io::Cursor::new(first).chain(source);
    Ok(match c {
        None => Opened::Stream(Box::new(chained), None),
        Some(c) => Opened::Stream(decoder(c, chained)?, Some(c)),
    })
}

/// Whether `head` (shorter than any magic number) is the start of one.
fn could_be_magic(head: &[u8]) -> bool {
    GZIP_MAGIC.starts_with(&head[..head.len().min(GZIP_MAGIC.len())])
        || ZSTD_MAGIC.starts_with(head)
}

fn decoder<'a, S: BufRead + 'a>(c: Compression, source: S) -> io::Result<Box<dyn Read + 'a>> {
    let counted = Counted {
        inner: source,
        consumed: 0,
    };
    Ok(match c {
        Compression::Gzip => Box::new(GzipMembers {
            dec: Some(flate2::bufread::GzDecoder::new(counted)),
            member: 1,
            member_start: 0,
            failed: None,
        }),
        Compression::Zstd => {
            let mut dec = zstd::stream::read::Decoder::with_buffer(counted)?;
            dec.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Box::new(ZstdStream { dec, failed: None })
        }
    })
}

/// A `BufRead` that counts the bytes its reader consumed: the compressed
/// offset named in error messages.
struct Counted<S> {
    inner: S,
    consumed: u64,
}

impl<S: BufRead> Read for Counted<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed += n as u64;
        Ok(n)
    }
}

impl<S: BufRead> BufRead for Counted<S> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.consumed += amt as u64;
        self.inner.consume(amt);
    }
}

/// A decoder error, kept to be returned again by every later `read`.
struct Failure {
    kind: io::ErrorKind,
    message: String,
}

impl Failure {
    fn error(&self) -> io::Error {
        io::Error::new(self.kind, self.message.clone())
    }
}

/// gzip members one after the other, until the end of input. After the
/// last member, zero bytes (padding, which `gzip` ignores) are ignored;
/// anything else is reported as trailing garbage.
struct GzipMembers<S> {
    /// `None` once the input ended cleanly.
    dec: Option<flate2::bufread::GzDecoder<Counted<S>>>,
    /// 1-based number of the member being decoded.
    member: u64,
    /// Compressed offset of its first byte.
    member_start: u64,
    failed: Option<Failure>,
}

impl<S: BufRead> GzipMembers<S> {
    fn fail(&mut self, kind: io::ErrorKind, message: String) -> io::Error {
        let f = Failure { kind, message };
        let e = f.error();
        self.failed = Some(f);
        e
    }

    /// The decoder's error `e`, said in terms of the file.
    fn decode_error(&mut self, e: io::Error, at: u64) -> io::Error {
        let member = if self.member > 1 {
            format!(
                "gzip member {} (which starts at compressed byte {})",
                self.member, self.member_start
            )
        } else {
            "gzip member 1".to_string()
        };
        if e.kind() == io::ErrorKind::UnexpectedEof {
            self.fail(
                io::ErrorKind::UnexpectedEof,
                format!("gzip stream cut short: the compressed input ends at byte {at}, inside {member} ({e})"),
            )
        } else {
            self.fail(
                io::ErrorKind::InvalidData,
                format!("gzip stream corrupt: {e}, detected at compressed byte {at} in {member}"),
            )
        }
    }

    /// The member just decoded ended: start the next one, or end the input.
    fn next_member(&mut self) -> io::Result<()> {
        let Some(dec) = self.dec.take() else {
            return Ok(());
        };
        let mut src = dec.into_inner();
        let at = src.consumed;
        let next = match fill(&mut src) {
            Ok(b) => b,
            Err(e) => return Err(self.fail(e.kind(), format!("reading the gzip stream: {e}"))),
        };
        if next.is_empty() {
            return Ok(()); // the end
        }
        if next[0] == GZIP_MAGIC[0] {
            self.member += 1;
            self.member_start = at;
            self.dec = Some(flate2::bufread::GzDecoder::new(src));
            return Ok(());
        }
        // Not a member: zero padding to the end is fine, anything else is not.
        let first = next
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>();
        loop {
            let buf = match fill(&mut src) {
                Ok(b) => b,
                Err(e) => return Err(self.fail(e.kind(), format!("reading the gzip stream: {e}"))),
            };
            if buf.is_empty() {
                return Ok(());
            }
            if buf.iter().any(|&b| b != 0) {
                return Err(self.fail(
                    io::ErrorKind::InvalidData,
                    format!(
                        "gzip stream corrupt: the data after gzip member {} (from compressed byte {at}, starting {}) is not a gzip member: trailing garbage or a damaged member",
                        self.member,
                        first.join(" ")
                    ),
                ));
            }
            let n = buf.len();
            src.consume(n);
        }
    }
}

/// `fill_buf`, retried when interrupted.
fn fill<S: BufRead>(src: &mut S) -> io::Result<&[u8]> {
    loop {
        match src.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    src.fill_buf()
}

impl<S: BufRead> Read for GzipMembers<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(f) = &self.failed {
            return Err(f.error());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(dec) = &mut self.dec else {
                return Ok(0);
            };
            match dec.read(buf) {
                Ok(0) => self.next_member()?,
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
                Err(e) => {
                    let at = dec.get_ref().consumed;
                    return Err(self.decode_error(e, at));
                }
            }
        }
    }
}

/// A zstd stream of any number of frames (the `zstd` crate reads on
/// across frames and skips skippable ones).
struct ZstdStream<'a, S> {
    dec: zstd::stream::read::Decoder<'a, Counted<S>>,
    failed: Option<Failure>,
}

impl<S: BufRead> Read for ZstdStream<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(f) = &self.failed {
            return Err(f.error());
        }
        match self.dec.read(buf) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                let at = self.dec.get_ref().consumed;
                let f = if e.kind() == io::ErrorKind::UnexpectedEof {
                    Failure {
                        kind: io::ErrorKind::UnexpectedEof,
                        message: format!(
                            "zstd stream cut short: the compressed input ends at byte {at}, inside a zstd frame ({e})"
                        ),
                    }
                } else if e.to_string().contains("memory") {
                    // What `zstd -d` also refuses without `--memory`.
                    Failure {
                        kind: io::ErrorKind::InvalidData,
                        message: format!(
                            "zstd frame at compressed byte {at} needs a window larger than the 128 MiB accepted (written with zstd --long=28 or more?): {e}"
                        ),
                    }
                } else {
                    Failure {
                        kind: io::ErrorKind::InvalidData,
                        message: format!(
                            "zstd stream corrupt: {e}, detected at compressed byte {at}"
                        ),
                    }
                };
                let e = f.error();
                self.failed = Some(f);
                Err(e)
            }
            r => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(input: &[u8]) -> (Vec<u8>, Option<Compression>, Option<io::Error>) {
        let (mut r, c): (Box<dyn Read>, _) = match open(input).unwrap() {
            Opened::Plain(s) => (Box::new(s), None),
            Opened::Stream(r, c) => (r, c),
        };
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (out, c, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => {
                    // Sticky: the next read fails the same way.
                    let again = r.read(&mut buf).unwrap_err();
                    assert_eq!(again.to_string(), e.to_string());
                    return (out, c, Some(e));
                }
            }
        }
    }

    #[test]
    fn detects_by_magic_only() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::detect(&[0x28, 0xb5, 0x2f]), None);
        assert_eq!(Compression::detect(&[0xd4, 0xc3, 0xb2, 0xa1]), None);
        let (out, c, e) = read_all(b"plain bytes");
        assert_eq!(
            (out.as_slice(), c, e.is_none()),
            (&b"plain bytes"[..], None, true)
        );
    }

    /// A source that hands out one byte per call, like a slow pipe.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(1).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn magic_split_across_reads() {
        for data in [gzip(b"hello"), zstd::encode_all(&b"hello"[..], 3).unwrap()] {
            let src = io::BufReader::new(Trickle(&data));
            let Opened::Stream(mut r, Some(_)) = open(src).unwrap() else {
                panic!("not detected one byte at a time");
            };
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, b"hello");
        }
        // A plain input starting like a magic number loses no byte.
        let src = io::BufReader::new(Trickle(b"\x28\xb5\x2f-not zstd"));
        let Opened::Stream(mut r, None) = open(src).unwrap() else {
            panic!("expected the bytes put back in front");
        };
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"\x28\xb5\x2f-not zstd");
    }

    #[test]
    fn gzip_members_padding_and_garbage() {
        let mut two = gzip(b"first ");
        let second_at = two.len();
        two.extend(gzip(b"second"));
        let (out, c, e) = read_all(&two);
        assert_eq!(
            (out.as_slice(), c),
            (&b"first second"[..], Some(Compression::Gzip))
        );
        assert!(e.is_none());

        let mut padded = two.clone();
        padded.extend([0u8; 1000]);
        let (out, _, e) = read_all(&padded);
        assert_eq!(out, b"first second");
        assert!(e.is_none(), "zero padding is ignored: {e:?}");

        let mut garbage = two.clone();
        garbage.extend(b"\0\0hello");
        let (out, _, e) = read_all(&garbage);
        assert_eq!(out, b"first second");
        let e = e.expect("trailing garbage is an error").to_string();
        assert!(e.contains("after gzip member 2"), "{e}");
        assert!(e.contains(&format!("compressed byte {}", two.len())), "{e}");

        // A cut inside the second member names it.
        let (out, _, e) = read_all(&two[..two.len() - 3]);
        assert_eq!(out, b"first second", "the deflate data was complete");
        let e = e.expect("cut").to_string();
        assert!(e.starts_with("gzip stream cut short"), "{e}");
        assert!(
            e.contains(&format!(
                "member 2 (which starts at compressed byte {second_at})"
            )),
            "{e}"
        );
    }

    #[test]
    fn zstd_frames_and_cuts() {
        let mut two = zstd::encode_all(&b"first "[..], 3).unwrap();
        two.extend(zstd::encode_all(&b"second"[..], 19).unwrap());
        let (out, c, e) = read_all(&two);
        assert_eq!(
            (out.as_slice(), c),
            (&b"first second"[..], Some(Compression::Zstd))
        );
        assert!(e.is_none());
        let (_, _, e) = read_all(&two[..two.len() - 2]);
        let e = e.expect("cut").to_string();
        assert!(e.starts_with("zstd stream cut short"), "{e}");
        assert!(
            e.contains(&format!("ends at byte {}", two.len() - 2)),
            "{e}"
        );
        let mut garbage = two.clone();
        garbage.extend(b"hello garbage");
        let (out, _, e) = read_all(&garbage);
        assert_eq!(out, b"first second");
        assert!(e
            .expect("garbage")
            .to_string()
            .starts_with("zstd stream corrupt"));
    }

    #[test]
    fn zstd_window_beyond_the_limit_is_refused() {
        // One frame whose header asks for a 1 GiB window (no content size).
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        e.window_log(30).unwrap();
        e.long_distance_matching(true).unwrap();
        e.write_all(&[7u8; 1000]).unwrap();
        let big = e.finish().unwrap();
        let (out, c, e) = read_all(&big);
        assert_eq!((out.len(), c), (0, Some(Compression::Zstd)));
        let e = e.expect("refused").to_string();
        assert!(
            e.contains("needs a window larger than the 128 MiB accepted"),
            "{e}"
        );
    }
}

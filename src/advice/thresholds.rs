//! When a rule's saving is material: every threshold of the rule table in
//! one place (the README's "Advice" table repeats them).
//!
//! Each comes from how TCP works, not from one capture: a delayed-ACK
//! timer is tens of milliseconds, a stall or a Nagle hold costs up to one
//! RTT per write, a segment costs one header. Below these figures the
//! advice would cost a reader more time than it saves.
//!
//! What it does not do: decide anything by itself; the rules read these.

/// TCP_NODELAY / TCP_QUICKACK for Nagle × delayed-ACK stalls: the stalls'
/// total latency in the capture, ms.
pub const STALL_MIN_MS: f64 = 5.0;

/// TCP_NODELAY where Nagle held writes (a write log shows each write's
/// wait from the call to the wire): the held writes' total wait, ms …
pub const NAGLE_HELD_MIN_MS: f64 = 5.0;
/// … and their mean wait per write, ms (a hold under this is noise
/// beside the scheduler).
pub const NAGLE_HELD_MIN_MEAN_MS: f64 = 0.1;

/// TCP_CORK in a request/response exchange: at least this many turns
/// from the direction …
pub const CORK_MIN_TURNS: u64 = 2;
/// … and at least this many segments beyond ⌈bytes / MSS⌉ in all (and
/// at least half a segment per turn).
pub const CORK_MIN_EXTRA: u64 = 2;

/// Tinygrams (Nagle off): at least this many small segments …
pub const TINY_MIN_SMALL: u64 = 20;
/// … and at least this many segments beyond max(⌈bytes / MSS⌉,
/// duration / RTT).
pub const TINY_MIN_EXTRA: u64 = 10;

/// TCP_DEFER_ACCEPT: the client's first data came at least this long
/// after its handshake ACK, ns (1 ms).
pub const DEFER_ACCEPT_MIN_GAP_NS: i64 = 1_000_000;

/// Buffer rules: a bulk direction carried at least 64 KiB of new data …
pub const BULK_MIN_BYTES: u64 = 65536;
/// … in at least this many segments sent with a known peer window.
pub const BULK_MIN_SEGMENTS: u64 = 20;
/// SO_SNDBUF: a direction whose data came in at least this many turns,
/// each ended by the peer's data, is application-limited (request /
/// response, pipelining): its sender waited for the peer, not for a
/// buffer, and its transfer time includes that wait. No SO_SNDBUF advice
/// is given for it.
pub const APP_LIMITED_MIN_TURNS: u64 = 2;
/// SO_RCVBUF: share of new segments that left no room for another full
/// segment in the receiver's window.
pub const RCVBUF_MIN_LIMITED: f64 = 0.3;
/// SO_SNDBUF: in-flight samples needed for a percentile …
pub const SNDBUF_MIN_SAMPLES: usize = 50;
/// … the 90th percentile within this share of the maximum (a plateau) …
pub const SNDBUF_PLATEAU: f64 = 0.9;
/// … and that maximum below this share of the smallest advertised window.
pub const SNDBUF_MAX_WINDOW_SHARE: f64 = 0.6;

/// Zero window: the episodes' total time, ms.
pub const ZERO_WINDOW_MIN_MS: f64 = 1.0;

//! Where write boundaries come from: a log of the sender's write calls.
//!
//! A capture shows segments, not the application's `write()` calls. With a
//! log of those calls, each write maps to a byte range of the sender's
//! stream by cumulative byte count, and every figure becomes exact — but only
//! on the connection the writes were made on. This module reads a log into
//! the *sockets* it shows, each with what the log says of its identity
//! (descriptor, process, endpoints, lifetime) and its writes; choosing the
//! connection and checking that the bytes fit is [`LogSet::candidates`] and
//! [`fit`]'s job, called by the analysis.
//!
//! Two formats are read:
//!
//! - JSON lines, one object per write: `{"t": <epoch seconds>, "bytes": n}`
//!   (what the lab writes). Unknown keys are ignored. An optional `"conn"`
//!   names the writing socket's local endpoint (`"10.0.0.1:40000"`), and an
//!   optional `"peer"` the remote one; lines with different `conn` values are
//!   different sockets.
//! - `strace -f -ttt` output. Recommended line, which names every socket's
//!   endpoints and lifetime:
//!   `strace -f -ttt -yy -e trace=socket,connect,accept,accept4,close,dup,dup2,dup3,write,writev,sendto,sendmsg,send -o trace.txt PROGRAM`.
//!   `socket`/`accept`/`accept4` (and `connect`'s address) open a socket on a
//!   descriptor, `close` ends it, `dup*` copy it, `clone`/`fork` give the child
//!   the parent's descriptors; `-yy` decorations (`3<TCP:[a:p->b:q]>`) give
//!   both endpoints. `<unfinished ...>`/`<... NAME resumed>` pairs are joined
//!   per thread. The return value is the byte count (short writes count what
//!   was written; errors are skipped). Without lifecycle calls a descriptor's
//!   writes are one socket, which the analysis splits by connection lifetime
//!   and byte count.
//!
//! What it does not do: it never decides which connection a log belongs to
//! on its own, and it never reads the written bytes' content.

use crate::TsNs;
use anyhow::{bail, Context};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

/// The sender's writes: call time and cumulative end offset of each.
#[derive(Debug, Clone, Default)]
pub struct WriteLog {
    pub times: Vec<TsNs>,
    /// `ends[i]` = total bytes written by writes `0..=i`.
    pub ends: Vec<u64>,
}

impl WriteLog {
    pub fn total(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// The median time between consecutive write calls (ns), saturating on
    /// absurd timestamps.
    pub fn median_gap(&self) -> Option<TsNs> {
        let mut gaps: Vec<TsNs> = self
            .times
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]))
            .collect();
        gaps.sort_unstable();
        gaps.get(gaps.len() / 2).copied()
    }

    fn push(&mut self, t: TsNs, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let end = self.total() + bytes;
        self.times.push(t);
        self.ends.push(end);
    }

    /// Build a log from (time, bytes) pairs.
    pub fn from_writes(writes: impl IntoIterator<Item = (TsNs, u64)>) -> Self {
        let mut log = WriteLog::default();
        for (t, b) in writes {
            log.push(t, b);
        }
        log
    }

    /// The writes `range` as a log of their own (offsets from the first).
    pub fn slice(&self, range: std::ops::Range<usize>) -> WriteLog {
        let base = range.start.checked_sub(1).map_or(0, |i| self.ends[i]);
        WriteLog {
            times: self.times[range.clone()].to_vec(),
            ends: self.ends[range].iter().map(|e| e - base).collect(),
        }
    }

    /// Sizes of the writes, in order.
    pub fn sizes(&self) -> impl Iterator<Item = u64> + '_ {
        let mut prev = 0;
        self.ends.iter().map(move |&e| {
            let s = e - prev;
            prev = e;
            s
        })
    }
}

/// What a log says about the socket a run of writes was made on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketId {
    /// Process (or thread) id, when the log has one.
    pub pid: Option<u32>,
    /// The descriptor (strace), when known.
    pub fd: Option<i32>,
    /// The writing side's own address (`-yy`, JSON `conn`).
    pub local: Option<SocketAddr>,
    /// The address it writes to (`connect`, `accept`, `-yy`, JSON `peer`).
    pub peer: Option<SocketAddr>,
    /// When the log shows the socket appear (`socket`, `accept`, `connect`).
    pub opened: Option<TsNs>,
    /// When the log shows it closed.
    pub closed: Option<TsNs>,
}

impl SocketId {
    /// Whether the socket's known endpoints allow it to send `from` → `to`.
    /// Unknown endpoints allow anything.
    pub fn may_send(&self, from: SocketAddr, to: SocketAddr) -> bool {
        self.local.is_none_or(|l| same_endpoint(l, from))
            && self.peer.is_none_or(|p| same_endpoint(p, to))
    }

    /// Both endpoints are known (so a match is certain, not just allowed).
    pub fn endpoints_known(&self) -> bool {
        self.local.is_some() && self.peer.is_some()
    }

    /// A short description for warnings ("fd 4 of pid 1234", "10.0.0.1:4000").
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(fd) = self.fd {
            parts.push(format!("fd {fd}"));
        }
        if let Some(pid) = self.pid {
            parts.push(format!("pid {pid}"));
        }
        match (self.local, self.peer) {
            (Some(l), Some(p)) => parts.push(format!("{l}→{p}")),
            (Some(l), None) => parts.push(format!("from {l}")),
            (None, Some(p)) => parts.push(format!("to {p}")),
            (None, None) => {}
        }
        if parts.is_empty() {
            "the log".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// IPv4-mapped IPv6 addresses equal their IPv4 form.
fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    let canon = |s: SocketAddr| (s.ip().to_canonical(), s.port());
    canon(a) == canon(b)
}

/// A socket's TCP_NODELAY and TCP_CORK as the kernel had them at a send
/// call (what `getsockopt` would have said then).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NagleBits {
    pub nodelay: bool,
    pub cork: bool,
}

/// One socket's life in a log: who it is, and the writes made on it.
#[derive(Debug, Clone, Default)]
pub struct LogSocket {
    pub id: SocketId,
    pub writes: WriteLog,
    /// The writes come from the kernel (`--trace-writes`, or a log it saved).
    pub kernel: bool,
    /// The socket's Nagle state, when the log knows it: (index of a write,
    /// state from that write on), at the first write and at each change.
    pub states: Vec<(usize, NagleBits)>,
}

impl LogSocket {
    /// Add a write, with the socket's state at its call when known.
    pub fn push(&mut self, t: TsNs, bytes: u64, state: Option<NagleBits>) {
        if bytes == 0 {
            return;
        }
        if let Some(st) = state {
            if self.states.last().is_none_or(|&(_, last)| last != st) {
                self.states.push((self.writes.len(), st));
            }
        }
        self.writes.push(t, bytes);
    }

    /// The states of writes `range`, indexed from its start.
    pub fn states_in(&self, range: std::ops::Range<usize>) -> Vec<(usize, NagleBits)> {
        let from = self.states.partition_point(|&(i, _)| i <= range.start);
        let first = from.checked_sub(1).map(|k| (0, self.states[k].1));
        first
            .into_iter()
            .chain(
                self.states[from..]
                    .iter()
                    .take_while(|&&(i, _)| i < range.end)
                    .map(|&(i, st)| (i - range.start, st)),
            )
            .collect()
    }
}

/// Everything a write log holds: one entry per socket it shows, in order of
/// first write.
#[derive(Debug, Clone, Default)]
pub struct LogSet {
    pub sockets: Vec<LogSocket>,
    /// Calls that failed or wrote nothing, and lines that were not understood.
    pub skipped: u64,
}

/// A log shared by every flow's analysis. Read once from a file it never
/// changes; a live kernel trace (`--trace-writes`) adds writes while the
/// capture runs, each before the packets it produced are analyzed.
#[derive(Debug, Clone, Default)]
pub struct SharedLog(std::sync::Arc<std::sync::RwLock<LogSet>>);

impl SharedLog {
    pub fn new(set: LogSet) -> Self {
        SharedLog(std::sync::Arc::new(std::sync::RwLock::new(set)))
    }
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, LogSet> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, LogSet> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A log of one socket whose identity is unknown (writes made in memory).
impl From<WriteLog> for LogSet {
    fn from(writes: WriteLog) -> Self {
        LogSet {
            sockets: vec![LogSocket {
                id: SocketId::default(),
                writes,
                ..Default::default()
            }],
            skipped: 0,
        }
    }
}

impl LogSet {
    /// Total writes over all sockets.
    pub fn writes(&self) -> usize {
        self.sockets.iter().map(|s| s.writes.len()).sum()
    }

    /// The sockets that may have sent `from` → `to`: endpoints allow it and
    /// the socket had writes. Sockets whose endpoints are known and match
    /// come first; a socket whose endpoints are known never matches another
    /// connection.
    pub fn candidates(&self, from: SocketAddr, to: SocketAddr) -> Vec<&LogSocket> {
        let mut v: Vec<&LogSocket> = self
            .sockets
            .iter()
            .filter(|s| !s.writes.is_empty() && s.id.may_send(from, to))
            .collect();
        v.sort_by_key(|s| !s.id.endpoints_known());
        v
    }
}

/// Seconds with a fractional part ("1700000000.123456") to nanoseconds,
/// without going through a float.
fn parse_epoch(s: &str) -> Option<TsNs> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = int.parse().ok()?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut ns: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..9 {
        ns *= 10;
    }
    secs.checked_mul(1_000_000_000)?.checked_add(ns)
}

/// Load a write log, detecting its format from the first non-empty line.
/// `fd` keeps only that descriptor's sockets (strace).
pub fn load(path: &Path, fd: Option<i32>) -> anyhow::Result<LogSet> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read write log {}", path.display()))?;
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut set = if first.trim_start().starts_with('{') {
        parse_jsonl(&text).with_context(|| format!("write log {}", path.display()))?
    } else {
        parse_strace(&text).with_context(|| format!("write log {}", path.display()))?
    };
    if let Some(fd) = fd {
        set.sockets.retain(|s| s.id.fd.is_none_or(|f| f == fd));
        if set.writes() == 0 {
            bail!("write log {} holds no writes on fd {fd}", path.display());
        }
    }
    if set.writes() == 0 {
        bail!("write log {} holds no writes", path.display());
    }
    Ok(set)
}

/// JSON lines: one socket per distinct `conn`/`peer`/`sk` triple, in order
/// of first appearance. A line with `"source": "kernel"` is a kernel-traced
/// write (`--save` with `--trace-writes`); `nodelay`/`cork` give the
/// socket's state at the call.
pub fn parse_jsonl(text: &str) -> anyhow::Result<LogSet> {
    let mut set = LogSet::default();
    type Key = (Option<SocketAddr>, Option<SocketAddr>, Option<u64>);
    let mut index: HashMap<Key, usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("line {}: not JSON", i + 1))?;
        let t = v
            .get("t")
            .and_then(|t| t.as_f64())
            .with_context(|| format!("line {}: missing number \"t\" (epoch seconds)", i + 1))?;
        let bytes = v
            .get("bytes")
            .and_then(|b| b.as_u64())
            .with_context(|| format!("line {}: missing integer \"bytes\"", i + 1))?;
        let addr = |key: &str| -> anyhow::Result<Option<SocketAddr>> {
            match v.get(key).and_then(|c| c.as_str()) {
                None => Ok(None),
                Some(s) => s.parse().map(Some).with_context(|| {
                    format!("line {}: \"{key}\" is not an ip:port address: {s}", i + 1)
                }),
            }
        };
        let key = (
            addr("conn")?,
            addr("peer")?,
            v.get("sk").and_then(|k| k.as_u64()),
        );
        let kernel = v.get("source").and_then(|s| s.as_str()) == Some("kernel");
        let n = *index.entry(key).or_insert_with(|| {
            set.sockets.push(LogSocket {
                id: SocketId {
                    local: key.0,
                    peer: key.1,
                    pid: v.get("pid").and_then(|p| p.as_u64()).map(|p| p as u32),
                    ..Default::default()
                },
                kernel,
                ..Default::default()
            });
            set.sockets.len() - 1
        });
        let flag = |k: &str| v.get(k).and_then(|b| b.as_bool());
        let state = flag("nodelay").map(|nodelay| NagleBits {
            nodelay,
            cork: flag("cork").unwrap_or(false),
        });
        set.sockets[n].push((t * 1e9).round() as TsNs, bytes, state);
    }
    Ok(set)
}

/// strace output: see the module docs.
pub fn parse_strace(text: &str) -> anyhow::Result<LogSet> {
    let mut st = StraceState::default();
    for line in text.lines() {
        st.line(line);
    }
    st.finish()
}

/// One parsed strace line: thread id, time, and the call text after it.
struct StraceLine<'a> {
    pid: Option<u32>,
    t: TsNs,
    call: &'a str,
}

fn split_strace_line(line: &str) -> Option<StraceLine<'_>> {
    let mut rest = line.trim();
    let mut pid = None;
    if let Some(r) = rest.strip_prefix("[pid") {
        let (p, r) = r.trim_start().split_once(']')?;
        pid = p.trim().parse().ok();
        rest = r.trim_start();
    } else if let Some((p, r)) = rest.split_once(' ') {
        // `strace -f -o file` prefixes a bare pid.
        let r2 = r.trim_start();
        if p.bytes().all(|b| b.is_ascii_digit())
            && r2
                .split_once(' ')
                .is_some_and(|(t, _)| parse_epoch(t).is_some())
        {
            pid = p.parse().ok();
            rest = r2;
        }
    }
    let (ts, call) = rest.split_once(' ')?;
    Some(StraceLine {
        pid,
        t: parse_epoch(ts)?,
        call: call.trim_start(),
    })
}

/// A call split into name, first argument (the descriptor, with any `-yy`
/// decoration) and the return value.
struct Call<'a> {
    name: &'a str,
    args: &'a str,
    ret: Option<i64>,
}

fn split_call(call: &str) -> Option<Call<'_>> {
    let open = call.find('(')?;
    let name = &call[..open];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let ret = call
        .rsplit_once(") = ")
        .and_then(|(_, r)| r.split_whitespace().next()?.parse::<i64>().ok());
    Some(Call {
        name,
        args: &call[open + 1..],
        ret,
    })
}

/// The leading descriptor of an argument list, and the `-yy` endpoints when
/// decorated: `3<TCP:[10.0.0.1:40000->10.0.0.2:5001]>`.
fn leading_fd(args: &str) -> Option<(i32, Option<(SocketAddr, SocketAddr)>)> {
    let digits = args.bytes().take_while(|b| b.is_ascii_digit()).count();
    let fd = args[..digits].parse().ok()?;
    let rest = &args[digits..];
    let ends = rest.strip_prefix('<').and_then(decorated_endpoints);
    Some((fd, ends))
}

/// `TCP:[a:p->b:q]>` or `TCPv6:[[::1]:p->[::1]:q]>`.
fn decorated_endpoints(s: &str) -> Option<(SocketAddr, SocketAddr)> {
    let s = s
        .strip_prefix("TCPv6:[")
        .or_else(|| s.strip_prefix("TCP:["))?;
    let end = s.find("]>")?;
    let (a, b) = s[..end].split_once("->")?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// A `struct sockaddr` as strace prints it (IPv4 and IPv6).
fn sockaddr(s: &str) -> Option<SocketAddr> {
    let port: u16 = s
        .split("port=htons(")
        .nth(1)?
        .split(')')
        .next()?
        .parse()
        .ok()?;
    let ip: std::net::IpAddr = if let Some(r) = s.split("inet_addr(\"").nth(1) {
        r.split('"').next()?.parse().ok()?
    } else {
        let r = s.split("inet_pton(AF_INET6, \"").nth(1)?;
        r.split('"').next()?.parse().ok()?
    };
    Some(SocketAddr::new(ip, port))
}

/// A socket open on a descriptor: its index in `sockets`.
#[derive(Default)]
struct StraceState {
    sockets: Vec<LogSocket>,
    /// (process key, fd) -> open socket index.
    open: HashMap<(u32, i32), usize>,
    /// Thread -> (call text start) of an unfinished call.
    pending: HashMap<Option<u32>, (TsNs, String)>,
    /// Thread id -> process key (a thread shares its creator's descriptors).
    process: HashMap<u32, u32>,
    skipped: u64,
}

impl StraceState {
    fn line(&mut self, line: &str) {
        let Some(l) = split_strace_line(line) else {
            return;
        };
        if l.call.starts_with("+++") || l.call.starts_with("---") {
            return;
        }
        if let Some(r) = l.call.strip_prefix("<...") {
            // "<... write resumed>) = 4": join with the unfinished start.
            if let Some((t0, start)) = self.pending.remove(&l.pid) {
                let tail = r.split_once("resumed>").map_or(r, |x| x.1);
                let joined = format!("{start}{tail}");
                self.call(l.pid, t0, &joined);
            }
            return;
        }
        if let Some(start) = l.call.strip_suffix("<unfinished ...>") {
            self.pending
                .insert(l.pid, (l.t, start.trim_end().to_string()));
            return;
        }
        self.call(l.pid, l.t, l.call);
    }

    fn proc_of(&self, pid: Option<u32>) -> u32 {
        pid.map_or(0, |p| self.process.get(&p).copied().unwrap_or(p))
    }

    fn call(&mut self, pid: Option<u32>, t: TsNs, text: &str) {
        let Some(c) = split_call(text) else {
            return;
        };
        let proc = self.proc_of(pid);
        match c.name {
            "write" | "writev" | "sendto" | "sendmsg" | "send" => self.write(proc, pid, t, &c),
            "socket" | "accept" | "accept4" => {
                if let Some(fd) = c.ret.filter(|&r| r >= 0) {
                    let peer = (c.name != "socket").then(|| sockaddr(c.args)).flatten();
                    self.open_socket(proc, pid, fd as i32, t, peer);
                }
            }
            "connect" => self.connect(proc, pid, t, &c),
            "close" => {
                if let Some((fd, _)) = leading_fd(c.args) {
                    if let Some(i) = self.open.remove(&(proc, fd)) {
                        self.sockets[i].id.closed = Some(t);
                    }
                }
            }
            "dup" | "dup2" | "dup3" | "fcntl" => self.dup(proc, &c),
            "clone" | "clone3" | "fork" | "vfork" => self.fork(proc, &c),
            _ => {}
        }
    }

    fn open_socket(
        &mut self,
        proc: u32,
        pid: Option<u32>,
        fd: i32,
        t: TsNs,
        peer: Option<SocketAddr>,
    ) {
        if let Some(i) = self.open.get(&(proc, fd)) {
            self.sockets[*i].id.closed.get_or_insert(t);
        }
        self.sockets.push(LogSocket {
            id: SocketId {
                pid,
                fd: Some(fd),
                peer,
                opened: Some(t),
                ..Default::default()
            },
            ..Default::default()
        });
        self.open.insert((proc, fd), self.sockets.len() - 1);
    }

    /// The socket on `fd`, opened implicitly when the log never showed it.
    fn socket_on(&mut self, proc: u32, pid: Option<u32>, fd: i32) -> usize {
        if let Some(&i) = self.open.get(&(proc, fd)) {
            return i;
        }
        self.sockets.push(LogSocket {
            id: SocketId {
                pid,
                fd: Some(fd),
                ..Default::default()
            },
            ..Default::default()
        });
        self.open.insert((proc, fd), self.sockets.len() - 1);
        self.sockets.len() - 1
    }

    fn connect(&mut self, proc: u32, pid: Option<u32>, t: TsNs, c: &Call) {
        let Some((fd, ends)) = leading_fd(c.args) else {
            return;
        };
        // 0, or -1 EINPROGRESS for a non-blocking connect.
        if c.ret.is_some_and(|r| r < 0) && !c.args.contains("EINPROGRESS") {
            return;
        }
        let i = self.socket_on(proc, pid, fd);
        let id = &mut self.sockets[i].id;
        id.opened.get_or_insert(t);
        if let Some(p) = sockaddr(c.args) {
            id.peer = Some(p);
        }
        if let Some((l, p)) = ends {
            id.local.get_or_insert(l);
            id.peer.get_or_insert(p);
        }
    }

    fn write(&mut self, proc: u32, pid: Option<u32>, t: TsNs, c: &Call) {
        let Some((fd, ends)) = leading_fd(c.args) else {
            return;
        };
        let Some(n) = c.ret.and_then(|r| u64::try_from(r).ok()).filter(|&n| n > 0) else {
            self.skipped += 1;
            return;
        };
        let i = self.socket_on(proc, pid, fd);
        let s = &mut self.sockets[i];
        if let Some((l, p)) = ends {
            if s.id.local.is_some_and(|x| x != l) || s.id.peer.is_some_and(|x| x != p) {
                // A decorated descriptor names another connection: a new socket.
                self.open.remove(&(proc, fd));
                let j = self.socket_on(proc, pid, fd);
                return self.write_to(j, t, n, Some((l, p)));
            }
        }
        self.write_to(i, t, n, ends)
    }

    fn write_to(&mut self, i: usize, t: TsNs, n: u64, ends: Option<(SocketAddr, SocketAddr)>) {
        let s = &mut self.sockets[i];
        if let Some((l, p)) = ends {
            s.id.local = Some(l);
            s.id.peer = Some(p);
        }
        s.writes.push(t, n);
    }

    fn dup(&mut self, proc: u32, c: &Call) {
        let (Some((old, _)), Some(new)) = (leading_fd(c.args), c.ret.filter(|&r| r >= 0)) else {
            return;
        };
        if c.name == "fcntl" && !c.args.contains("F_DUPFD") {
            return;
        }
        if let Some(&i) = self.open.get(&(proc, old)) {
            self.open.insert((proc, new as i32), i);
        }
    }

    /// A child process gets copies of the parent's descriptors; a thread
    /// (CLONE_THREAD) shares them.
    fn fork(&mut self, proc: u32, c: &Call) {
        let Some(child) = c.ret.filter(|&r| r > 0).map(|r| r as u32) else {
            return;
        };
        if c.args.contains("CLONE_THREAD") {
            self.process.insert(child, proc);
            return;
        }
        let inherited: Vec<((u32, i32), usize)> = self
            .open
            .iter()
            .filter(|((p, _), _)| *p == proc)
            .map(|(&(_, fd), &i)| ((child, fd), i))
            .collect();
        self.open.extend(inherited);
    }

    fn finish(mut self) -> anyhow::Result<LogSet> {
        for s in &mut self.sockets {
            // Concurrent calls complete out of order: keep the order made.
            if s.writes.times.windows(2).any(|w| w[1] < w[0]) {
                let mut pairs: Vec<(TsNs, u64)> = s
                    .writes
                    .times
                    .iter()
                    .copied()
                    .zip(s.writes.sizes())
                    .collect();
                pairs.sort_by_key(|p| p.0);
                s.writes = WriteLog::from_writes(pairs);
            }
        }
        self.sockets
            .retain(|s| !s.writes.is_empty() && s.id.fd.is_none_or(|fd| fd > 2));
        if self.sockets.is_empty() {
            bail!("no write/send calls on a socket (fd > 2) found in strace output");
        }
        self.sockets.sort_by_key(|s| s.writes.times[0]);
        Ok(LogSet {
            sockets: self.sockets,
            skipped: self.skipped,
        })
    }
}

/// Why a run of logged writes does not belong to a direction.
#[derive(Debug, Clone, PartialEq)]
pub enum Misfit {
    /// The writes hold more bytes than the direction sent.
    TooManyBytes { log: u64, flow: u64 },
    /// The writes hold fewer bytes than the direction sent.
    TooFewBytes { log: u64, flow: u64 },
    /// Segments ended where no write ended (the byte stream does not line up).
    Boundaries { misaligned: u64, segments: u64 },
    /// Writes were called after the segment carrying them had left.
    Late { writes: u64, worst_ms: f64 },
    /// The log's endpoints name another connection.
    OtherConnection,
    /// The direction's bytes did not start at a write (the capture began
    /// after the connection's first data).
    MidStream,
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Misfit::TooManyBytes { log, flow } => {
                write!(f, "its writes hold {log} bytes but the direction sent {flow}")
            }
            Misfit::TooFewBytes { log, flow } => {
                write!(f, "its writes hold {log} bytes but the direction sent {flow}")
            }
            Misfit::Boundaries { misaligned, segments } => write!(
                f,
                "{misaligned} of {segments} small segments end where no logged write ends"
            ),
            Misfit::Late { writes, worst_ms } => write!(
                f,
                "{writes} write(s) were called after their bytes were on the wire (up to {worst_ms:.1} ms)"
            ),
            Misfit::OtherConnection => f.write_str("the log names another connection"),
            Misfit::MidStream => f.write_str("the capture does not hold the direction's first bytes"),
        }
    }
}

/// Checks that `log` is exactly the byte stream of one direction: the same
/// total, small segments ending on write ends (a sub-MSS segment ends where
/// the sender's queue ended, which is a write's end unless the write was cut
/// by a full window: one such segment, or one in ten, is allowed), and no write called after its last byte left (beyond
/// `clock_tolerance`: the log's and the capture's clocks, and the path from
/// the sender to the capture point). `segments` are (departure time at the
/// capture point, end offset, small) of the direction's new-data segments.
pub fn fit(
    log: &WriteLog,
    payload_bytes: u64,
    segments: &[(TsNs, u64, bool)],
    clock_tolerance: TsNs,
) -> Result<(), Misfit> {
    let total = log.total();
    if total > payload_bytes {
        return Err(Misfit::TooManyBytes {
            log: total,
            flow: payload_bytes,
        });
    }
    if total < payload_bytes {
        return Err(Misfit::TooFewBytes {
            log: total,
            flow: payload_bytes,
        });
    }
    let small: Vec<&(TsNs, u64, bool)> = segments.iter().filter(|s| s.2).collect();
    let misaligned = small
        .iter()
        .filter(|s| log.ends.binary_search(&s.1).is_err())
        .count() as u64;
    // A few may be cut by the receive window (one, or one in ten); the rest
    // must line up.
    if misaligned > 1 && misaligned * 10 > small.len() as u64 {
        return Err(Misfit::Boundaries {
            misaligned,
            segments: small.len() as u64,
        });
    }
    let mut late = 0u64;
    let mut worst: TsNs = 0;
    for (i, &end) in log.ends.iter().enumerate() {
        let k = segments.partition_point(|s| s.1 < end);
        if let Some(&(ts, _, _)) = segments.get(k) {
            let early = log.times[i].saturating_sub(ts);
            if early > clock_tolerance {
                late += 1;
                worst = worst.max(early);
            }
        }
    }
    if late * 20 > log.len() as u64 {
        return Err(Misfit::Late {
            writes: late,
            worst_ms: worst as f64 / 1e6,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(set: &LogSet) -> &WriteLog {
        assert_eq!(set.sockets.len(), 1, "{set:?}");
        &set.sockets[0].writes
    }

    #[test]
    fn jsonl_ignores_unknown_keys() {
        let set = parse_jsonl("{\"t\": 1.5, \"bytes\": 4, \"x\": 1}\n\n{\"bytes\":8,\"t\":2.0}\n")
            .unwrap();
        let log = one(&set);
        assert_eq!(log.ends, vec![4, 12]);
        assert_eq!(log.times, vec![1_500_000_000, 2_000_000_000]);
    }

    #[test]
    fn jsonl_rejects_missing_fields() {
        let e = parse_jsonl("{\"t\": 1.5}\n").unwrap_err();
        assert!(format!("{e:#}").contains("bytes"), "{e:#}");
    }

    #[test]
    fn jsonl_conn_names_sockets() {
        let text = r#"{"t":1,"bytes":4,"conn":"10.0.0.1:40000"}
{"t":2,"bytes":4,"conn":"10.0.0.1:40001"}
{"t":3,"bytes":6,"conn":"10.0.0.1:40000"}"#;
        let set = parse_jsonl(text).unwrap();
        assert_eq!(set.sockets.len(), 2);
        assert_eq!(set.sockets[0].writes.ends, vec![4, 10]);
        let a: SocketAddr = "10.0.0.1:40001".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:5001".parse().unwrap();
        let c = set.candidates(a, b);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].writes.ends, vec![4]);
        assert!(parse_jsonl(r#"{"t":1,"bytes":4,"conn":"nope"}"#).is_err());
    }

    #[test]
    fn strace_joins_unfinished_and_orders_by_call() {
        let text = r#"
[pid  4242] 1700000000.000100 write(1, "hello\n", 6) = 6
[pid  4242] 1700000000.001000 write(3, "\0\0\0\1", 4) = 4
[pid  4243] 1700000000.002000 write(3, "\0\0\0\2", 4 <unfinished ...>
[pid  4242] 1700000000.002500 sendto(3, "abcdefgh", 8, 0, NULL, 0) = 8
[pid  4243] 1700000000.003000 <... write resumed>) = 4
[pid  4242] 1700000000.004000 write(3, "x", 1) = -1 EAGAIN (Resource temporarily unavailable)
"#;
        let set = parse_strace(text).unwrap();
        // Threads 4242 and 4243 were never tied by a clone line: two sockets.
        let all: u64 = set.sockets.iter().map(|s| s.writes.total()).sum();
        assert_eq!(all, 16);
        assert_eq!(set.skipped, 1);
        let cloned = format!(
            "4242 1699999999.000000 clone(child_stack=NULL, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_THREAD) = 4243\n{}",
            text.replace("[pid  4242] ", "4242 ").replace("[pid  4243] ", "4243 ")
        );
        let set = parse_strace(&cloned).unwrap();
        let log = one(&set);
        assert_eq!(log.ends, vec![4, 8, 16]);
        assert_eq!(log.times[1], 1_700_000_000_002_000_000);
    }

    #[test]
    fn strace_reused_descriptor_is_two_sockets() {
        // redis-benchmark style: connect, write, close, then the same fd again.
        let text = r#"1.000000 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 4
1.000100 connect(4, {sa_family=AF_INET, sin_port=htons(6379), sin_addr=inet_addr("10.0.0.2")}, 16) = 0
1.001000 write(4, "PING\r\n", 6) = 6
1.002000 close(4) = 0
1.003000 openat(AT_FDCWD, "log.txt", O_WRONLY) = 4
1.004000 write(4, "a long line of log output", 25) = 25
1.005000 close(4) = 0
2.000000 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 4
2.000100 connect(4, {sa_family=AF_INET, sin_port=htons(6379), sin_addr=inet_addr("10.0.0.2")}, 16) = 0
2.001000 write(4, "PING\r\nPING\r\n", 12) = 12
"#;
        let set = parse_strace(text).unwrap();
        let socks: Vec<(Option<SocketAddr>, u64)> = set
            .sockets
            .iter()
            .map(|s| (s.id.peer, s.writes.total()))
            .collect();
        let peer: SocketAddr = "10.0.0.2:6379".parse().unwrap();
        assert_eq!(socks, vec![(Some(peer), 6), (None, 25), (Some(peer), 12)]);
        assert!(set.sockets[0].id.closed.is_some());
    }

    #[test]
    fn strace_yy_decoration_gives_endpoints_and_fork_inherits() {
        let text = r#"100 1.000000 accept4(3<TCP:[10.0.0.2:5432]>, {sa_family=AF_INET, sin_port=htons(40000), sin_addr=inet_addr("10.0.0.1")}, [16], SOCK_CLOEXEC) = 7<TCP:[10.0.0.2:5432->10.0.0.1:40000]>
100 1.000500 clone(child_stack=NULL, flags=CLONE_CHILD_SETTID|SIGCHLD) = 200
100 1.000600 close(7<TCP:[10.0.0.2:5432->10.0.0.1:40000]>) = 0
200 1.001000 sendto(7<TCP:[10.0.0.2:5432->10.0.0.1:40000]>, "R\0\0\0\10\0\0\0\0", 9, 0, NULL, 0) = 9
200 1.002000 write(7<TCP:[10.0.0.2:5432->10.0.0.1:40001]>, "Z", 1) = 1
"#;
        let set = parse_strace(text).unwrap();
        assert_eq!(set.sockets.len(), 2);
        let from: SocketAddr = "10.0.0.2:5432".parse().unwrap();
        let to: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let c = set.candidates(from, to);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].writes.ends, vec![9]);
        assert_eq!(c[0].id.peer, Some(to));
    }

    #[test]
    fn strace_ipv6_sockaddr() {
        let s = r#"{sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}"#;
        assert_eq!(sockaddr(s), Some("[::1]:80".parse().unwrap()));
    }

    #[test]
    fn fit_checks_total_boundaries_and_time() {
        let log = WriteLog::from_writes([(100, 4), (200, 4), (300, 4)]);
        let segs = [(150, 4, true), (350, 12, true)];
        assert_eq!(fit(&log, 12, &segs, 0), Ok(()));
        assert!(matches!(
            fit(&log, 16, &segs, 0),
            Err(Misfit::TooFewBytes { .. })
        ));
        assert!(matches!(
            fit(&log, 8, &segs, 0),
            Err(Misfit::TooManyBytes { .. })
        ));
        // One small segment cut mid-write is allowed (a full receive
        // window); two of three are not.
        let odd = [(150, 6, true), (350, 12, true)];
        assert_eq!(fit(&log, 12, &odd, 0), Ok(()));
        let odd = [(150, 2, true), (250, 6, true), (350, 12, true)];
        assert!(matches!(
            fit(&log, 12, &odd, 0),
            Err(Misfit::Boundaries { .. })
        ));
        let early = [(50, 4, true), (60, 12, true)];
        assert!(matches!(fit(&log, 12, &early, 0), Err(Misfit::Late { .. })));
        assert_eq!(fit(&log, 12, &early, 1_000), Ok(()));
    }

    #[test]
    fn slice_rebases_offsets() {
        let log = WriteLog::from_writes([(1, 4), (2, 6), (3, 8)]);
        let s = log.slice(1..3);
        assert_eq!(s.ends, vec![6, 14]);
        assert_eq!(s.times, vec![2, 3]);
        assert_eq!(log.sizes().collect::<Vec<_>>(), vec![4, 6, 8]);
    }

    #[test]
    fn epoch_parsing_is_exact() {
        assert_eq!(
            parse_epoch("1700000000.123456"),
            Some(1_700_000_000_123_456_000)
        );
        assert_eq!(parse_epoch("12"), Some(12_000_000_000));
        assert_eq!(parse_epoch("x.1"), None);
    }
}

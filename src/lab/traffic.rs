//! The lab's two TCP endpoints: a paced sender that logs every write call,
//! and a receiver that discards or answers requests.
//!
//! What it does: the sender connects from `10.77.0.1` with the requested
//! socket options (TCP_NODELAY, TCP_CORK, TCP_QUICKACK, SO_SNDBUF, SO_RCVBUF
//! set before `connect` so they shape the window scale), times the handshake,
//! then performs `writes` calls of `size` bytes at a fixed schedule
//! (`start + i × interval`, absolute sleeps, so a late wake-up does not shift
//! later writes), taking the wall-clock time just before each `write(2)`.
//!
//! - `discard`: writes only; then shuts down its side and reads to EOF so the
//!   capture holds the whole close.
//! - `reqresp`: the write-write-read pattern that stalls with Nagle and
//!   delayed ACK: each request is two writes of `size` bytes back to back,
//!   then a blocking read of `reply_size` bytes; requests start every
//!   `interval` (or at once when a reply came late). `writes` counts write
//!   calls, so there are `ceil(writes/2)` requests. Each request's latency
//!   is logged as the client measures it ([`RequestRec`]): from just before
//!   its first write to the return of the read that completed the reply.
//!
//! TCP_QUICKACK is not sticky in Linux: it is set again after every read, on
//! both ends, when requested.
//!
//! What it does not do: no capture, no analysis; the write log is the only
//! truth it records (plus the request latencies of `reqresp`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};

use super::netns::STOP;

/// What the sender and receiver do, taken from the command line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrafficSpec {
    pub writes: u64,
    pub size: usize,
    pub interval_ns: u64,
    pub nodelay: bool,
    pub cork: bool,
    pub quickack: bool,
    pub sndbuf: Option<u32>,
    pub rcvbuf: Option<u32>,
    pub mode: String,
    pub reply_size: usize,
    pub think_time_ns: u64,
    pub port: u16,
}

/// One write call, as logged.
#[derive(Debug, Clone, Copy)]
pub struct WriteRec {
    pub t: f64,
    pub bytes: usize,
    pub ret: isize,
}

/// One request of `reqresp`, as the client measured it.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct RequestRec {
    /// Start: wall-clock time just before the request's first write (epoch s).
    pub t: f64,
    /// From just before the first write to the last byte of the reply read.
    pub latency_ms: f64,
    /// Request bytes written.
    pub bytes: u64,
    /// Reply bytes read.
    pub reply_bytes: u64,
}

/// Socket options read back with getsockopt after connect.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SockOpts {
    pub tcp_nodelay: i32,
    pub tcp_cork: i32,
    pub so_sndbuf: i32,
    pub so_rcvbuf: i32,
    pub tcp_maxseg: i32,
}

#[derive(Debug, Clone, Default)]
pub struct SenderResult {
    pub log: Vec<WriteRec>,
    pub handshake_ms: f64,
    pub sockopts: SockOpts,
    pub bytes_written: u64,
    /// Requests with their latencies (reqresp only).
    pub requests: Vec<RequestRec>,
    pub stopped_early: bool,
    /// Whether the sender thread ran under SCHED_FIFO.
    pub realtime: bool,
}

fn setopt(fd: RawFd, level: i32, name: i32, v: i32) -> anyhow::Result<()> {
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &v as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("setsockopt({level}, {name}, {v})"));
    }
    Ok(())
}

fn getopt(fd: RawFd, level: i32, name: i32) -> i32 {
    let mut v: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            &mut v as *mut i32 as *mut libc::c_void,
            &mut len,
        )
    };
    v
}

fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sleep until CLOCK_MONOTONIC reaches `t_ns`.
fn sleep_until(t_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (t_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (t_ns % 1_000_000_000) as libc::c_long,
    };
    while unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    } == libc::EINTR
    {}
}

/// Bytes of request `r` (0-based) of `reqresp` with `writes` write calls.
fn request_writes(writes: u64, r: u64) -> u64 {
    (writes - 2 * r).min(2)
}

/// Create the sender's socket with the requested options (set before
/// `connect`, so buffer sizes shape the window scale) and connect it;
/// returns the stream and the handshake time in ms.
fn connect_sender(spec: &TrafficSpec, dst: &str) -> anyhow::Result<(TcpStream, f64)> {
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("socket");
    }
    // From here the TcpStream owns the fd.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    if let Some(b) = spec.sndbuf {
        setopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, b as i32)?;
    }
    if let Some(b) = spec.rcvbuf {
        setopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, b as i32)?;
    }
    if spec.nodelay {
        setopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    }
    if spec.cork {
        setopt(fd, libc::IPPROTO_TCP, libc::TCP_CORK, 1)?;
    }
    let addr: std::net::Ipv4Addr = dst.parse()?;
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: spec.port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    let t0 = mono_ns();
    let r = unsafe {
        libc::connect(
            fd,
            &sa as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("connect to {dst}:{}", spec.port));
    }
    let handshake_ms = (mono_ns() - t0) as f64 / 1e6;
    if spec.quickack {
        setopt(fd, libc::IPPROTO_TCP, libc::TCP_QUICKACK, 1)?;
    }
    Ok((stream, handshake_ms))
}

fn read_sockopts(fd: RawFd) -> SockOpts {
    SockOpts {
        tcp_nodelay: getopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY),
        tcp_cork: getopt(fd, libc::IPPROTO_TCP, libc::TCP_CORK),
        so_sndbuf: getopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF),
        so_rcvbuf: getopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF),
        tcp_maxseg: getopt(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG),
    }
}

/// One logged `write(2)` of `buf`: the wall-clock time just before the call
/// is the log's `t`; a short write is finished without a second log line.
fn write_one(fd: RawFd, buf: &[u8], res: &mut SenderResult) -> anyhow::Result<()> {
    let t = epoch_now();
    let ret = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
    res.log.push(WriteRec {
        t,
        bytes: buf.len(),
        ret,
    });
    if ret < 0 {
        return Err(std::io::Error::last_os_error()).context("write");
    }
    res.bytes_written += ret as u64;
    let mut done = ret as usize;
    while done < buf.len() {
        let n = stream_write(fd, &buf[done..])?;
        done += n;
        res.bytes_written += n as u64;
    }
    Ok(())
}

/// `reqresp`: requests of two writes each, every `interval` from `start`
/// (at once when the previous reply came late), each timed to its reply.
fn send_requests(
    spec: &TrafficSpec,
    stream: &mut TcpStream,
    buf: &[u8],
    start: u64,
    res: &mut SenderResult,
) -> anyhow::Result<()> {
    let fd = stream.as_raw_fd();
    let mut reply = vec![0u8; spec.reply_size.max(1)];
    for r in 0..spec.writes.div_ceil(2) {
        if STOP.load(Ordering::Relaxed) {
            res.stopped_early = true;
            break;
        }
        sleep_until(start + r * spec.interval_ns);
        let t_epoch = epoch_now();
        let t_req = mono_ns();
        let n_writes = request_writes(spec.writes, r);
        for _ in 0..n_writes {
            write_one(fd, buf, res)?;
        }
        let mut got = 0;
        while got < spec.reply_size {
            let n = stream
                .read(&mut reply[..spec.reply_size - got])
                .context("reading reply")?;
            if n == 0 {
                bail!("receiver closed the connection during request {r}");
            }
            got += n;
            if spec.quickack {
                let _ = setopt(fd, libc::IPPROTO_TCP, libc::TCP_QUICKACK, 1);
            }
        }
        res.requests.push(RequestRec {
            t: t_epoch,
            latency_ms: (mono_ns() - t_req) as f64 / 1e6,
            bytes: n_writes * spec.size as u64,
            reply_bytes: got as u64,
        });
    }
    Ok(())
}

/// `discard`: `writes` calls at `start + i × interval`.
fn send_paced(
    spec: &TrafficSpec,
    fd: RawFd,
    buf: &[u8],
    start: u64,
    res: &mut SenderResult,
) -> anyhow::Result<()> {
    for i in 0..spec.writes {
        if STOP.load(Ordering::Relaxed) {
            res.stopped_early = true;
            break;
        }
        sleep_until(start + i * spec.interval_ns);
        write_one(fd, buf, res)?;
    }
    Ok(())
}

/// Connect and run the sender's side. Must run in the sender's namespace.
pub fn run_sender(spec: &TrafficSpec, dst: &str) -> anyhow::Result<SenderResult> {
    super::delay::precise_timers();
    let realtime = super::delay::realtime(40);
    let (mut stream, handshake_ms) = connect_sender(spec, dst)?;
    let fd = stream.as_raw_fd();
    let mut res = SenderResult {
        realtime,
        handshake_ms,
        sockopts: read_sockopts(fd),
        log: Vec::with_capacity(spec.writes as usize),
        ..Default::default()
    };
    let buf = vec![b'n'; spec.size];
    // Start one interval after connect: the handshake's ACK is out of the way.
    let start = mono_ns() + spec.interval_ns.min(50_000_000);
    if spec.mode == "reqresp" {
        send_requests(spec, &mut stream, &buf, start, &mut res)?;
    } else {
        send_paced(spec, fd, &buf, start, &mut res)?;
    }
    if spec.cork {
        setopt(fd, libc::IPPROTO_TCP, libc::TCP_CORK, 0)?;
    }
    stream.flush().ok();
    stream
        .shutdown(std::net::Shutdown::Write)
        .context("shutdown")?;
    // Drain to EOF so the close handshake is in the capture.
    let mut sink = [0u8; 4096];
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    while let Ok(n) = stream.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
    Ok(res)
}

fn stream_write(fd: RawFd, b: &[u8]) -> anyhow::Result<usize> {
    let n = unsafe { libc::write(fd, b.as_ptr() as *const libc::c_void, b.len()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error()).context("write");
    }
    Ok(n as usize)
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReceiverResult {
    pub bytes_received: u64,
    pub replies: u64,
}

/// Wait for one connection on a non-blocking listener, until `abort`.
fn accept_one(listener: &TcpListener, abort: &AtomicBool) -> anyhow::Result<TcpStream> {
    loop {
        match listener.accept() {
            Ok((s, _)) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if abort.load(Ordering::Relaxed) || STOP.load(Ordering::Relaxed) {
                    bail!("receiver: no connection arrived");
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(e).context("accept"),
        }
    }
}

/// Listen on `addr:port`, report readiness on `ready`, serve one connection.
/// Must run in the receiver's namespace. Gives up when `abort` is set.
pub fn run_receiver(
    spec: &TrafficSpec,
    addr: &str,
    ready: Sender<()>,
    abort: &AtomicBool,
) -> anyhow::Result<ReceiverResult> {
    let listener = TcpListener::bind((addr, spec.port))
        .with_context(|| format!("bind {addr}:{}", spec.port))?;
    if let Some(b) = spec.rcvbuf {
        setopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            b as i32,
        )?;
    }
    listener.set_nonblocking(true)?;
    let _ = ready.send(());
    let mut stream = accept_one(&listener, abort)?;
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let fd = stream.as_raw_fd();
    if spec.quickack {
        setopt(fd, libc::IPPROTO_TCP, libc::TCP_QUICKACK, 1)?;
    }
    let mut res = ReceiverResult::default();
    let mut buf = vec![0u8; 65536];
    let reqresp = spec.mode == "reqresp";
    let reply = vec![b'r'; spec.reply_size];
    let mut r = 0u64;
    // Bytes still missing from the current request (reqresp).
    let mut want = if reqresp {
        request_writes(spec.writes, 0) * spec.size as u64
    } else {
        0
    };
    loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                if abort.load(Ordering::Relaxed) {
                    break;
                }
                continue;
            }
            Err(e) => return Err(e).context("receiver read"),
        };
        if n == 0 {
            break;
        }
        res.bytes_received += n as u64;
        if spec.quickack {
            let _ = setopt(fd, libc::IPPROTO_TCP, libc::TCP_QUICKACK, 1);
        }
        if reqresp {
            let mut n = n as u64;
            while n > 0 && want > 0 {
                let take = n.min(want);
                n -= take;
                want -= take;
                if want == 0 {
                    if spec.think_time_ns > 0 {
                        std::thread::sleep(Duration::from_nanos(spec.think_time_ns));
                    }
                    stream.write_all(&reply).context("writing reply")?;
                    res.replies += 1;
                    r += 1;
                    if 2 * r < spec.writes {
                        want = request_writes(spec.writes, r) * spec.size as u64;
                    }
                }
            }
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_split_write_calls_in_pairs() {
        assert_eq!(request_writes(20, 0), 2);
        assert_eq!(request_writes(20, 9), 2);
        assert_eq!(request_writes(21, 10), 1);
        assert_eq!(21u64.div_ceil(2), 11);
    }
}

//! The kernel interfaces the write tracer uses, through raw system calls:
//! `bpf(2)` (maps, program load), `perf_event_open(2)` (attach a program to
//! a tracepoint) and the BPF ring buffer's shared memory.
//!
//! What it does not do: decide what to load or what the records mean
//! (`super::program`, `super`). Every descriptor is an [`OwnedFd`]: dropping
//! it detaches and frees what it holds.

use anyhow::{anyhow, bail, Context};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const BPF_MAP_CREATE: i64 = 0;
const BPF_MAP_LOOKUP_ELEM: i64 = 1;
const BPF_PROG_LOAD: i64 = 5;
const PROG_TYPE_TRACEPOINT: u32 = 5;
const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_FLAG_FD_CLOEXEC: u64 = 8;
/// `_IOW('$', 8, u32)` and `_IO('$', 0)`.
const PERF_EVENT_IOC_SET_BPF: u64 = 0x4004_2408;
const PERF_EVENT_IOC_ENABLE: u64 = 0x2400;

/// Map types used.
#[derive(Debug, Clone, Copy)]
pub enum MapType {
    Array = 2,
    LruHash = 9,
    Ringbuf = 27,
}

fn bpf(cmd: i64, attr: &mut [u8]) -> std::io::Result<i64> {
    // SAFETY: `attr` is a valid, writable buffer of the size passed.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    buf[off..off + bytes.len()].copy_from_slice(bytes);
}

fn owned(fd: i64) -> OwnedFd {
    // SAFETY: a descriptor the kernel just returned to us, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// Create a map.
pub fn map_create(kind: MapType, key: u32, value: u32, entries: u32) -> std::io::Result<OwnedFd> {
    let mut attr = [0u8; 20];
    for (i, v) in [kind as u32, key, value, entries, 0].iter().enumerate() {
        put(&mut attr, 4 * i, &v.to_le_bytes());
    }
    bpf(BPF_MAP_CREATE, &mut attr).map(owned)
}

/// Read the u64 value of key `key` of an array map.
pub fn array_u64(map: &OwnedFd, key: u32) -> std::io::Result<u64> {
    let (k, mut v) = (key, 0u64);
    let mut attr = [0u8; 32];
    put(&mut attr, 0, &(map.as_raw_fd() as u32).to_le_bytes());
    put(&mut attr, 8, &(&k as *const u32 as u64).to_le_bytes());
    put(&mut attr, 16, &(&mut v as *mut u64 as u64).to_le_bytes());
    bpf(BPF_MAP_LOOKUP_ELEM, &mut attr)?;
    Ok(v)
}

/// Load a tracepoint program; on refusal the verifier's last lines are in
/// the error.
pub fn prog_load(insns: &[u8], name: &str) -> anyhow::Result<OwnedFd> {
    let license = c"GPL";
    let attempt = |log: Option<&mut Vec<u8>>| {
        let mut attr = [0u8; 64];
        put(&mut attr, 0, &PROG_TYPE_TRACEPOINT.to_le_bytes());
        put(&mut attr, 4, &((insns.len() / 8) as u32).to_le_bytes());
        put(&mut attr, 8, &(insns.as_ptr() as u64).to_le_bytes());
        put(&mut attr, 16, &(license.as_ptr() as u64).to_le_bytes());
        if let Some(log) = log {
            put(&mut attr, 24, &1u32.to_le_bytes());
            put(&mut attr, 28, &(log.len() as u32).to_le_bytes());
            put(&mut attr, 32, &(log.as_mut_ptr() as u64).to_le_bytes());
        }
        let n = name.as_bytes();
        put(&mut attr, 48, &n[..n.len().min(15)]);
        bpf(BPF_PROG_LOAD, &mut attr).map(owned)
    };
    match attempt(None) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            let mut log = vec![0u8; 1 << 16];
            let _ = attempt(Some(&mut log));
            let text =
                String::from_utf8_lossy(&log[..log.iter().position(|&b| b == 0).unwrap_or(0)])
                    .to_string();
            let tail: Vec<&str> = text.lines().rev().take(4).collect();
            bail!(
                "the kernel refused the BPF program {name}: {e} ({})",
                tail.join(" / ")
            )
        }
    }
}

/// Where tracefs is, mounting it if it is not (root can).
pub fn tracefs() -> anyhow::Result<&'static str> {
    for dir in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if std::path::Path::new(dir).join("events").is_dir() {
            return Ok(dir);
        }
    }
    let dir = c"/sys/kernel/tracing";
    // SAFETY: constant C strings; mount(2) copies them.
    let r = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            dir.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r == 0 && std::path::Path::new("/sys/kernel/tracing/events").is_dir() {
        return Ok("/sys/kernel/tracing");
    }
    bail!(
        "tracefs is not mounted and could not be mounted at /sys/kernel/tracing ({})",
        std::io::Error::last_os_error()
    )
}

/// A tracepoint's id (`events/CATEGORY/NAME/id`).
pub fn tracepoint_id(category: &str, name: &str) -> anyhow::Result<u64> {
    let path = format!("{}/events/{category}/{name}/id", tracefs()?);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("no tracepoint {category}:{name} ({path})"))?;
    text.trim()
        .parse()
        .map_err(|_| anyhow!("{path}: not a number"))
}

/// Run `prog` at every hit of tracepoint `id`, on every CPU (a tracepoint's
/// programs run wherever it fires; the event is opened on CPU 0 only to
/// hold them).
pub fn attach_tracepoint(id: u64, prog: &OwnedFd) -> std::io::Result<OwnedFd> {
    let mut attr = [0u8; 64];
    put(&mut attr, 0, &PERF_TYPE_TRACEPOINT.to_le_bytes());
    put(&mut attr, 4, &64u32.to_le_bytes());
    put(&mut attr, 8, &id.to_le_bytes());
    put(&mut attr, 16, &1u64.to_le_bytes()); // sample_period
    put(&mut attr, 48, &1u32.to_le_bytes()); // wakeup_events
                                             // SAFETY: a valid perf_event_attr of the size it states.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            -1i32,
            0i32,
            -1i32,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = owned(fd);
    // SAFETY: ioctls on the perf descriptor we own, with a descriptor argument.
    unsafe {
        if libc::ioctl(
            fd.as_raw_fd(),
            PERF_EVENT_IOC_SET_BPF as _,
            prog.as_raw_fd(),
        ) < 0
            || libc::ioctl(fd.as_raw_fd(), PERF_EVENT_IOC_ENABLE as _, 0) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(fd)
}

/// The consumer side of a BPF ring buffer.
pub struct RingBuf {
    _map: OwnedFd,
    consumer: *mut u8,
    producer: *const u8,
    size: usize,
    page: usize,
}

// SAFETY: the mappings belong to this value alone; the kernel is the only
// other party, and it is synchronised through the positions' atomics.
unsafe impl Send for RingBuf {}

const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;

impl RingBuf {
    /// Map ring buffer `map` of `size` bytes (a power of two, page multiple).
    pub fn new(map: OwnedFd, size: usize) -> anyhow::Result<RingBuf> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let fd = map.as_raw_fd();
        // SAFETY: mapping a ring buffer map as the kernel documents: the
        // consumer page read-write, then the producer page and the data
        // (mapped twice, so a record never wraps) read-only.
        let (consumer, producer) = unsafe {
            let c = libc::mmap(
                std::ptr::null_mut(),
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            let p = libc::mmap(
                std::ptr::null_mut(),
                page + 2 * size,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                page as i64,
            );
            (c, p)
        };
        if consumer == libc::MAP_FAILED || producer == libc::MAP_FAILED {
            bail!(
                "cannot map the BPF ring buffer: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(RingBuf {
            _map: map,
            consumer: consumer.cast(),
            producer: producer.cast_const().cast(),
            size,
            page,
        })
    }

    /// Hand every complete record to `f`, in order, and free its space.
    pub fn drain(&mut self, f: &mut dyn FnMut(&[u8])) {
        // SAFETY: positions are u64s at the start of their pages; records
        // lie within the doubly mapped data area, whose length covers
        // any record starting inside it.
        unsafe {
            let cons_pos = &*(self.consumer as *const AtomicU64);
            let prod_pos = &*(self.producer as *const AtomicU64);
            let data = self.producer.add(self.page);
            let mask = self.size as u64 - 1;
            let mut cons = cons_pos.load(Ordering::Acquire);
            loop {
                let prod = prod_pos.load(Ordering::Acquire);
                if cons >= prod {
                    break;
                }
                let rec = data.add((cons & mask) as usize);
                let hdr = (*(rec as *const AtomicU32)).load(Ordering::Acquire);
                if hdr & BUSY != 0 {
                    break;
                }
                let len = (hdr & !(BUSY | DISCARD)) as usize;
                if hdr & DISCARD == 0 {
                    f(std::slice::from_raw_parts(rec.add(8), len));
                }
                cons += ((len + 8 + 7) & !7) as u64;
                cons_pos.store(cons, Ordering::Release);
            }
        }
    }
}

impl Drop for RingBuf {
    fn drop(&mut self) {
        // SAFETY: the two mappings made in `new`, with their lengths.
        unsafe {
            libc::munmap(self.consumer.cast(), self.page);
            libc::munmap(self.producer.cast_mut().cast(), self.page + 2 * self.size);
        }
    }
}

//! Kernel writes joined to a live capture (`--trace-writes`).
//!
//! The tracer reports a send call when it returns, which is after the
//! packets it produced were captured. So that each write is in the write
//! log before the analysis meets its bytes, captured frames are held for
//! [`LAG`] (or until [`MAX_HELD_BYTES`] are held) and released only after
//! the tracer's ring has been drained. Writes join the shared log as the
//! sockets they were made on (kernel socket + 4-tuple: exact, whatever
//! descriptors the program reused); the write-log machinery then maps them
//! onto their connection and direction as it does a log file.
//!
//! Only writes on connections the capture saw are kept (the capture filter
//! decides, not the tracer, which sees every TCP send on the machine);
//! `--save FILE` also gets them as JSON lines in `FILE.writes.jsonl`, which
//! `--writes` reads back with the same figures.
//!
//! What it does not do: see a send call that lasts longer than [`LAG`]
//! (blocked on a full send buffer) before its bytes are analyzed: such a
//! write is refused for its direction with a note, as a log that does not
//! fit is.

use crate::capture::kernel::{KernelWrite, Unavailable, WriteTracer};
use crate::capture::Frame;
use crate::pipeline::Analyzer;
use crate::writes::{LogSocket, SharedLog, SocketId};
use crate::TsNs;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// How long a frame is held for the writes that produced it.
pub const LAG: TsNs = 500_000_000;
/// How often the tracer's ring is drained (and waiting writes re-checked):
/// not at every packet, whose rate can be far higher.
const DRAIN_EVERY: TsNs = 10_000_000;
/// Frames held at most (bytes), whatever their age.
pub const MAX_HELD_BYTES: usize = 64 << 20;
/// Connections remembered as seen in the capture.
const MAX_SEEN: usize = 1 << 20;

/// A captured frame, owned while it waits.
struct Held {
    number: u64,
    ts_ns: TsNs,
    link_type: u32,
    data: Vec<u8>,
    orig_len: u32,
}

/// Counters for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KernelCounters {
    /// Send calls on connections the capture saw.
    pub recorded: u64,
    /// Send calls on connections the capture never showed (not kept).
    pub other: u64,
    /// Send calls lost because the ring buffer was full.
    pub lost: u64,
}

pub struct KernelJoin {
    tracer: WriteTracer,
    log: SharedLog,
    sockets: HashMap<(u64, SocketAddr, SocketAddr), usize>,
    held: VecDeque<Held>,
    held_bytes: usize,
    seen: HashSet<(SocketAddr, SocketAddr)>,
    /// Writes whose connection the capture has not shown yet.
    pending: Vec<KernelWrite>,
    /// When the ring was last drained: frames held [`LAG`] before it are due.
    drained_at: TsNs,
    save: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
    pub counters: KernelCounters,
    pub warnings: Vec<String>,
}

/// The connection of a send call or a segment, direction-free.
fn conn(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    let canon = |s: SocketAddr| SocketAddr::new(s.ip().to_canonical(), s.port());
    let (a, b) = (canon(a), canon(b));
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// A write as a JSON line of the log format (`crate::writes`).
pub fn json_line(w: &KernelWrite) -> String {
    let mut v = serde_json::json!({
        "t": w.call as f64 / 1e9,
        "bytes": w.bytes,
        "conn": w.local.to_string(),
        "peer": w.peer.to_string(),
        "sk": w.sk,
        "pid": w.pid,
        "source": "kernel",
    });
    if let Some(n) = w.nagle {
        v["nodelay"] = n.nodelay.into();
        v["cork"] = n.cork.into();
    }
    v.to_string()
}

impl KernelJoin {
    /// Start the tracer; `save` is the capture's save file, if any.
    pub fn start(
        log: SharedLog,
        save: Option<&std::path::Path>,
    ) -> Result<KernelJoin, Unavailable> {
        let tracer = WriteTracer::start()?;
        let mut warnings = Vec::new();
        let save = save.and_then(|p| {
            let path = PathBuf::from(format!("{}.writes.jsonl", p.display()));
            match std::fs::File::create(&path) {
                Ok(f) => Some((path, std::io::BufWriter::new(f))),
                Err(e) => {
                    warnings.push(format!(
                        "cannot write the kernel's write log {}: {e}",
                        path.display()
                    ));
                    None
                }
            }
        });
        Ok(KernelJoin {
            tracer,
            log,
            sockets: HashMap::new(),
            held: VecDeque::new(),
            held_bytes: 0,
            seen: HashSet::new(),
            pending: Vec::new(),
            drained_at: 0,
            save,
            counters: KernelCounters::default(),
            warnings,
        })
    }

    /// Hold a captured frame, noting its connection.
    pub fn hold(&mut self, f: &Frame) {
        if let Ok(seg) = crate::decode::decode(f) {
            if self.seen.len() >= MAX_SEEN {
                self.seen.clear();
            }
            self.seen.insert(conn(seg.src, seg.dst));
        }
        self.held_bytes += f.data.len();
        self.held.push_back(Held {
            number: f.number,
            ts_ns: f.ts_ns,
            link_type: f.link_type,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
        });
    }

    /// Drain the tracer into the log (every [`DRAIN_EVERY`]), then release to
    /// `an` the frames held long enough before that drain (all of them with
    /// `all`), in capture order.
    pub fn pump(&mut self, an: &mut Analyzer, now: TsNs, all: bool) {
        let full = self.held_bytes > MAX_HELD_BYTES;
        if all || full || now - self.drained_at >= DRAIN_EVERY {
            self.drain(now, all);
            self.drained_at = now;
        }
        while let Some(h) = self.held.front() {
            if !(all || h.ts_ns + LAG <= self.drained_at || self.held_bytes > MAX_HELD_BYTES) {
                break;
            }
            let h = self.held.pop_front().expect("front exists");
            self.held_bytes -= h.data.len();
            an.frame(&Frame {
                number: h.number,
                ts_ns: h.ts_ns,
                link_type: h.link_type,
                data: &h.data,
                orig_len: h.orig_len,
            });
        }
    }

    /// New writes into the log; those of connections not seen yet wait
    /// (for at most two lags, or until `all`).
    fn drain(&mut self, now: TsNs, all: bool) {
        let mut fresh = std::mem::take(&mut self.pending);
        self.tracer.drain(&mut |w| fresh.push(w));
        for w in fresh {
            if self.seen.contains(&conn(w.local, w.peer)) {
                self.record(w);
            } else if all || w.returned + 2 * LAG < now {
                self.counters.other += 1;
            } else {
                self.pending.push(w);
            }
        }
    }

    fn record(&mut self, w: KernelWrite) {
        self.counters.recorded += 1;
        if let Some((path, f)) = self.save.as_mut() {
            if let Err(e) = writeln!(f, "{}", json_line(&w)) {
                self.warnings.push(format!(
                    "kernel write log {}: {e}; later writes not saved",
                    path.display()
                ));
                self.save = None;
            }
        }
        let mut set = self.log.write();
        let n = *self
            .sockets
            .entry((w.sk, w.local, w.peer))
            .or_insert_with(|| {
                set.sockets.push(LogSocket {
                    id: SocketId {
                        pid: Some(w.pid),
                        local: Some(w.local),
                        peer: Some(w.peer),
                        ..Default::default()
                    },
                    kernel: true,
                    ..Default::default()
                });
                set.sockets.len() - 1
            });
        set.sockets[n].push(w.call, w.bytes, w.nagle);
    }

    /// Release everything and say what the tracer saw.
    pub fn finish(mut self, an: &mut Analyzer, now: TsNs) -> (KernelCounters, Vec<String>) {
        self.pump(an, now, true);
        self.counters.lost = self.tracer.lost();
        if let Some((path, mut f)) = self.save.take() {
            if let Err(e) = f.flush() {
                self.warnings
                    .push(format!("kernel write log {}: {e}", path.display()));
            }
        }
        if self.counters.lost > 0 {
            self.warnings.push(format!(
                "kernel write tracer: {} send calls were lost (its ring buffer was full): write logs of the connections they belonged to may be refused",
                self.counters.lost
            ));
        }
        (self.counters, self.warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_write_reads_back_as_a_kernel_socket() {
        let w = KernelWrite {
            call: 1_700_000_000_123_456_789,
            returned: 1_700_000_000_123_457_000,
            bytes: 4,
            local: "10.0.0.1:40000".parse().unwrap(),
            peer: "10.0.0.2:6379".parse().unwrap(),
            sk: 0xffff_8880_1234_5678,
            pid: 42,
            nagle: Some(crate::writes::NagleBits {
                nodelay: true,
                cork: false,
            }),
        };
        let set = crate::writes::parse_jsonl(&json_line(&w)).unwrap();
        let s = &set.sockets[0];
        assert!(s.kernel);
        assert_eq!(
            (s.id.local, s.id.peer, s.id.pid),
            (Some(w.local), Some(w.peer), Some(42))
        );
        assert_eq!(s.writes.ends, vec![4]);
        assert!(
            (s.writes.times[0] - w.call).abs() < 1_000,
            "{} vs {}",
            s.writes.times[0],
            w.call
        );
        assert_eq!(
            s.states,
            vec![(
                0,
                crate::writes::NagleBits {
                    nodelay: true,
                    cork: false
                }
            )]
        );
        assert_eq!(conn(w.local, w.peer), conn(w.peer, w.local));
    }
}

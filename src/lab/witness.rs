//! The kernel as a second witness of the sender's own write log.
//!
//! While the lab's traffic runs, the kernel write tracer
//! (`crate::capture::kernel`) records every send call of the sender's
//! connection (sender address → receiver address). Afterwards the two logs
//! must agree: the same number of writes, each of the same size in the
//! same order, and the socket's TCP_NODELAY what the lab set. The result
//! goes to `lab.json` (`kernel_witness`) and the kernel's writes to
//! `kernel-writes.jsonl` (the `--writes` format).
//!
//! What it does not do: stop a run when the tracer is unavailable (the
//! record says why) or judge anything beyond the two logs.

use super::traffic::WriteRec;
use crate::capture::kernel::{KernelWrite, WriteTracer};
use crate::lab_record::KernelWitness;
use std::net::IpAddr;

/// A tracer running for one lab run, or why there is none.
pub struct Witness(Result<WriteTracer, String>);

impl Witness {
    pub fn start() -> Witness {
        Witness(WriteTracer::start().map_err(|e| e.0))
    }

    /// The sender's writes the kernel recorded (`from` → `to`).
    pub fn finish(self, from: IpAddr, to: IpAddr) -> Result<Vec<KernelWrite>, String> {
        let mut t = self.0?;
        let mut v = Vec::new();
        t.drain(&mut |w| {
            if w.local.ip() == from && w.peer.ip() == to {
                v.push(w)
            }
        });
        match t.lost() {
            0 => Ok(v),
            n => Err(format!("the tracer lost {n} send calls")),
        }
    }
}

/// Compare the kernel's writes with the sender's log (`nodelay`: what the
/// lab set).
pub fn compare(
    kernel: &Result<Vec<KernelWrite>, String>,
    log: &[WriteRec],
    nodelay: bool,
) -> KernelWitness {
    let sender: Vec<u64> = log
        .iter()
        .filter(|r| r.ret > 0)
        .map(|r| r.ret as u64)
        .collect();
    let kw = match kernel {
        Ok(k) => k,
        Err(why) => {
            return KernelWitness {
                sender_writes: sender.len() as u64,
                problem: Some(format!("no kernel witness: {why}")),
                ..Default::default()
            }
        }
    };
    let sizes: Vec<u64> = kw.iter().map(|w| w.bytes).collect();
    let states: Vec<bool> = kw
        .iter()
        .filter_map(|w| w.nagle.map(|n| n.nodelay))
        .collect();
    let problem = if sizes.len() != sender.len() {
        Some(format!(
            "the kernel saw {} writes, the sender logged {}",
            sizes.len(),
            sender.len()
        ))
    } else if let Some(i) = (0..sizes.len()).find(|&i| sizes[i] != sender[i]) {
        Some(format!(
            "write {}: the kernel saw {} bytes, the sender logged {}",
            i + 1,
            sizes[i],
            sender[i]
        ))
    } else {
        states.iter().position(|&s| s != nodelay).map(|i| {
            format!(
                "write {}: TCP_NODELAY was {} but the lab set it {nodelay}",
                i + 1,
                states[i]
            )
        })
    };
    KernelWitness {
        writes: sizes.len() as u64,
        sender_writes: sender.len() as u64,
        nodelay: (states.len() == sizes.len() && !states.is_empty()).then(|| states[0]),
        agrees: problem.is_none(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writes::NagleBits;

    fn kw(bytes: u64, nodelay: bool) -> KernelWrite {
        KernelWrite {
            call: 0,
            returned: 0,
            bytes,
            local: "10.77.0.1:40000".parse().unwrap(),
            peer: "10.77.0.2:5001".parse().unwrap(),
            sk: 1,
            pid: 1,
            nagle: Some(NagleBits {
                nodelay,
                cork: false,
            }),
        }
    }
    fn rec(ret: isize) -> WriteRec {
        WriteRec {
            t: 0.0,
            bytes: 4,
            ret,
        }
    }

    #[test]
    fn the_two_logs_must_agree_write_for_write() {
        let log = [rec(4), rec(-11), rec(4)];
        let ok = compare(&Ok(vec![kw(4, false), kw(4, false)]), &log, false);
        assert!(ok.agrees && ok.problem.is_none());
        assert_eq!(
            (ok.writes, ok.sender_writes, ok.nodelay),
            (2, 2, Some(false))
        );
        let short = compare(&Ok(vec![kw(4, false)]), &log, false);
        assert!(
            !short.agrees
                && short
                    .problem
                    .unwrap()
                    .contains("1 writes, the sender logged 2")
        );
        let size = compare(&Ok(vec![kw(4, false), kw(3, false)]), &log, false);
        assert!(size.problem.unwrap().starts_with("write 2"));
        let opt = compare(&Ok(vec![kw(4, true), kw(4, true)]), &log, false);
        assert!(opt.problem.unwrap().contains("TCP_NODELAY was true"));
        let none = compare(&Err("needs root".into()), &log, false);
        assert!(!none.agrees && none.problem.unwrap().contains("needs root"));
    }
}

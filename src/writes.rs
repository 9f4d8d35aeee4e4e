//! Where write boundaries come from: a log of the sender's write calls.
//!
//! A capture shows segments, not the application's `write()` calls. With a
//! log of those calls, each write maps to a byte range of the sender's
//! stream by cumulative byte count, and every figure becomes exact. Two
//! formats are read:
//!
//! - JSON lines, one object per write: `{"t": <epoch seconds>, "bytes": n}`
//!   (what the lab writes). Unknown keys are ignored.
//! - `strace -f -ttt -e trace=write,writev,sendto,sendmsg` output. The return
//!   value is the byte count (short writes count what was written; errors
//!   are skipped); `<unfinished ...>`/`resumed>` pairs are joined. The socket
//!   is chosen by `fd`, or else the descriptor with the most bytes written,
//!   ignoring 0-2.
//!
//! What it does not do: it does not know which flow the log belongs to; the
//! analysis matches it to the direction whose byte count it fits.

use crate::TsNs;
use anyhow::{bail, Context};
use std::collections::HashMap;
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
pub fn load(path: &Path, fd: Option<i32>) -> anyhow::Result<WriteLog> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read write log {}", path.display()))?;
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let log = if first.trim_start().starts_with('{') {
        parse_jsonl(&text).with_context(|| format!("write log {}", path.display()))?
    } else {
        parse_strace(&text, fd).with_context(|| format!("write log {}", path.display()))?
    };
    if log.is_empty() {
        bail!("write log {} holds no writes", path.display());
    }
    Ok(log)
}

pub fn parse_jsonl(text: &str) -> anyhow::Result<WriteLog> {
    let mut log = WriteLog::default();
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
        log.push((t * 1e9).round() as TsNs, bytes);
    }
    Ok(log)
}

pub fn parse_strace(text: &str, fd: Option<i32>) -> anyhow::Result<WriteLog> {
    // (fd, time, bytes) for every successful call.
    let mut calls: Vec<(i32, TsNs, u64)> = Vec::new();
    // pid -> (fd, time) of an unfinished call.
    let mut pending: HashMap<String, (i32, TsNs)> = HashMap::new();
    for line in text.lines() {
        let mut rest = line.trim();
        let mut pid = String::new();
        if let Some(r) = rest.strip_prefix("[pid") {
            let (p, r) = r.trim_start().split_once(']').unwrap_or(("", r));
            pid = p.trim().to_string();
            rest = r.trim_start();
        } else if let Some((p, r)) = rest.split_once(' ') {
            // `strace -f -o file` prefixes a bare pid.
            if p.bytes().all(|b| b.is_ascii_digit()) && r.trim_start().contains('(') {
                let r2 = r.trim_start();
                if r2
                    .split_once(' ')
                    .is_some_and(|(t, _)| parse_epoch(t).is_some())
                {
                    pid = p.to_string();
                    rest = r2;
                }
            }
        }
        let Some((ts_str, call)) = rest.split_once(' ') else {
            continue;
        };
        let Some(t) = parse_epoch(ts_str) else {
            continue;
        };
        let call = call.trim_start();
        if let Some(r) = call.strip_prefix("<...") {
            // "<... write resumed>) = 4"
            if let Some((fd, t0)) = pending.remove(&pid) {
                if let Some(n) = return_value(r) {
                    calls.push((fd, t0, n));
                }
            }
            continue;
        }
        let name_end = call.find('(').unwrap_or(0);
        let name = &call[..name_end];
        if !matches!(name, "write" | "writev" | "sendto" | "sendmsg" | "send") {
            continue;
        }
        let args = &call[name_end + 1..];
        let Some(fdv) = args
            .split([',', ')'])
            .next()
            .and_then(|s| s.trim().parse::<i32>().ok())
        else {
            continue;
        };
        if call.contains("<unfinished") {
            pending.insert(pid, (fdv, t));
            continue;
        }
        if let Some(n) = return_value(call) {
            calls.push((fdv, t, n));
        }
    }
    // Concurrent calls complete out of order: keep the order they were made.
    calls.sort_by_key(|c| c.1);
    let fd = match fd {
        Some(fd) => fd,
        None => {
            let mut per_fd: HashMap<i32, u64> = HashMap::new();
            for (f, _, n) in &calls {
                if *f > 2 {
                    *per_fd.entry(*f).or_default() += n;
                }
            }
            match per_fd.into_iter().max_by_key(|(f, n)| (*n, -f)) {
                Some((f, _)) => f,
                None => bail!("no write/send calls on a socket (fd > 2) found in strace output"),
            }
        }
    };
    Ok(WriteLog::from_writes(
        calls.into_iter().filter(|c| c.0 == fd).map(|c| (c.1, c.2)),
    ))
}

/// The `= N` at the end of an strace line, when N >= 0.
fn return_value(s: &str) -> Option<u64> {
    let (_, r) = s.rsplit_once(") = ")?;
    r.split_whitespace()
        .next()?
        .parse::<i64>()
        .ok()
        .and_then(|n| u64::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_ignores_unknown_keys() {
        let log = parse_jsonl("{\"t\": 1.5, \"bytes\": 4, \"x\": 1}\n\n{\"bytes\":8,\"t\":2.0}\n")
            .unwrap();
        assert_eq!(log.ends, vec![4, 12]);
        assert_eq!(log.times, vec![1_500_000_000, 2_000_000_000]);
    }

    #[test]
    fn jsonl_rejects_missing_fields() {
        let e = parse_jsonl("{\"t\": 1.5}\n").unwrap_err();
        assert!(format!("{e:#}").contains("bytes"), "{e:#}");
    }

    #[test]
    fn strace_picks_socket_and_joins_unfinished() {
        let text = r#"
[pid  4242] 1700000000.000100 write(1, "hello\n", 6) = 6
[pid  4242] 1700000000.001000 write(3, "\0\0\0\1", 4) = 4
[pid  4243] 1700000000.002000 write(3, "\0\0\0\2", 4 <unfinished ...>
[pid  4242] 1700000000.002500 sendto(3, "abcdefgh", 8, 0, NULL, 0) = 8
[pid  4243] 1700000000.003000 <... write resumed>) = 4
[pid  4242] 1700000000.004000 write(3, "x", 1) = -1 EAGAIN (Resource temporarily unavailable)
1700000000.005000 writev(3, [{iov_base="ab", iov_len=2}], 1) = 2
"#;
        let log = parse_strace(text, None).unwrap();
        assert_eq!(log.ends, vec![4, 8, 16, 18]);
        assert_eq!(log.times[1], 1_700_000_000_002_000_000);
        let only_stdout = parse_strace(text, Some(1)).unwrap();
        assert_eq!(only_stdout.ends, vec![6]);
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

//! Stage 6b (`kernel`): the socket's own Nagle setting, from kernel-traced
//! writes, beside the verdict from packets.
//!
//! With `--trace-writes` (or a kernel log saved by it) each write carries
//! the socket's TCP_NODELAY and TCP_CORK state at the call. This stage
//! summarises them for the direction (`on`, `off`, `changed` with each
//! change) and checks the packets' verdict against them: `on` with
//! TCP_NODELAY set at every call, or `off` with it clear at every call and
//! no cork, is a contradiction the report states loudly.
//!
//! What it does not do: change the verdict. The verdict stays what the
//! packets show, so that a disagreement stays visible.

use super::logs::Applied;
use crate::report::{secs, KernelChange, KernelNagle, KernelSetting, Verdict};

/// `nagle.kernel` of a direction whose applied writes came from the kernel.
pub(super) fn kernel_nagle(log: Option<&Applied>, verdict: Verdict) -> Option<KernelNagle> {
    let log = log?;
    let states = log.kernel.as_ref()?;
    let n = log.writes.len();
    let setting = match (
        states.iter().any(|s| s.1.nodelay),
        states.iter().all(|s| s.1.nodelay),
    ) {
        _ if states.is_empty() => KernelSetting::Unknown,
        (_, true) => KernelSetting::Off,
        (false, _) => KernelSetting::On,
        _ => KernelSetting::Changed,
    };
    let corked_writes = states
        .iter()
        .enumerate()
        .filter(|(_, s)| s.1.cork)
        .map(|(k, &(from, _))| states.get(k + 1).map_or(n, |s| s.0) - from)
        .sum::<usize>() as u64;
    let changes = states
        .iter()
        .skip(1)
        .map(|&(i, st)| KernelChange {
            ts: secs(log.writes.times[i]),
            write: i as u64 + 1,
            nodelay: st.nodelay,
            cork: st.cork,
        })
        .collect();
    let disagrees = match verdict {
        Verdict::On => setting == KernelSetting::Off,
        Verdict::Off => setting == KernelSetting::On && corked_writes == 0,
        Verdict::Inconclusive => false,
    };
    Some(KernelNagle {
        setting,
        changes,
        corked_writes,
        disagrees,
    })
}

/// The note for a disagreement (`side`: "client→server" ...).
pub(super) fn disagreement_note(k: &KernelNagle, verdict: Verdict, side: &str) -> Option<String> {
    k.disagrees.then(|| {
        format!(
            "{side}: DISAGREEMENT: the packets say Nagle is {verdict} but the kernel says TCP_NODELAY was {} at every send call; a rule of this tool is wrong or the capture misses packets (please report it)",
            if k.setting == KernelSetting::Off { "set" } else { "clear" }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writes::{NagleBits, WriteLog};
    use std::collections::BTreeMap;

    fn applied(states: Vec<(usize, NagleBits)>) -> Applied {
        Applied {
            writes: WriteLog::from_writes((0..6).map(|i| (i * 1_000_000_000, 4))),
            wps: BTreeMap::new(),
            delays: Vec::new(),
            kernel: Some(states),
        }
    }
    const ON: NagleBits = NagleBits {
        nodelay: false,
        cork: false,
    };
    const OFF: NagleBits = NagleBits {
        nodelay: true,
        cork: false,
    };

    #[test]
    fn setting_changes_and_disagreements() {
        let k = kernel_nagle(Some(&applied(vec![(0, ON), (3, OFF)])), Verdict::On).unwrap();
        assert_eq!(k.setting, KernelSetting::Changed);
        assert_eq!(
            (k.changes.len(), k.changes[0].write, k.changes[0].ts),
            (1, 4, 3.0)
        );
        assert!(!k.disagrees);
        // TCP_NODELAY at every call, yet the packets say on: the worst bug.
        let k = kernel_nagle(Some(&applied(vec![(0, OFF)])), Verdict::On).unwrap();
        assert!(k.disagrees && k.setting == KernelSetting::Off);
        assert!(disagreement_note(&k, Verdict::On, "client→server")
            .unwrap()
            .contains("TCP_NODELAY was set"));
        // Nagle on throughout and the packets say off: also a contradiction,
        // unless TCP_CORK was in play.
        assert!(
            kernel_nagle(Some(&applied(vec![(0, ON)])), Verdict::Off)
                .unwrap()
                .disagrees
        );
        let corked = NagleBits {
            nodelay: false,
            cork: true,
        };
        let k = kernel_nagle(Some(&applied(vec![(0, ON), (4, corked)])), Verdict::Off).unwrap();
        assert_eq!((k.corked_writes, k.disagrees), (2, false));
        assert_eq!(
            kernel_nagle(Some(&applied(vec![])), Verdict::On)
                .unwrap()
                .setting,
            KernelSetting::Unknown
        );
        // A log from a program, not the kernel: nothing to say.
        let mut a = applied(vec![]);
        a.kernel = None;
        assert!(kernel_nagle(Some(&a), Verdict::On).is_none());
    }
}

//! Rule 7: keep-alive probes (SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL,
//! TCP_KEEPCNT).
//!
//! Fires on a direction that sent at least one keep-alive probe (0 or 1
//! byte at next sequence − 1 while the peer's window is open; the same
//! segment into a zero window is a window probe and is not counted). It
//! reports the idle time before the first probe and the median interval
//! between probes against Linux's defaults ([`KEEPALIVE_DEFAULTS`]); an idle
//! time below 90 % of the default means TCP_KEEPIDLE (or an application
//! setting) was changed. Not a saving: advice goes last.
//!
//! What it does not do: see TCP_KEEPCNT unless probes go unanswered, or
//! the settings of a side that sent no probe.

use super::evidence::{secs_text, sender, Draft, Evidence};
use crate::flow::Dir;

/// Keep-alive defaults on Linux (`tcp_keepalive_time`, `_intvl`, `_probes`).
pub const KEEPALIVE_DEFAULTS: (f64, f64, u32) = (7200.0, 75.0, 9);

/// Keep-alive is on at the sender of `d`.
pub(super) fn keepalive(ev: &Evidence, d: Dir) -> Option<Draft> {
    let dir = ev.direction(d)?;
    let dc = ev.collect(d);
    if dc.keepalive_count == 0 {
        return None;
    }
    let first_idle = dc.keepalives.first().map_or(0, |k| k.1);
    let mut gaps: Vec<i64> = dc.keepalives.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.sort_unstable();
    let interval = gaps.get(gaps.len() / 2).copied();
    let (di, dv, dn) = KEEPALIVE_DEFAULTS;
    let mut evidence = vec![format!(
        "{} keep-alive probe(s) from {}; the first after {} idle",
        dc.keepalive_count,
        dir.from,
        secs_text(first_idle)
    )];
    if let Some(g) = interval {
        evidence.push(format!(
            "probes {} apart on median (answered probes recur every idle period; unanswered ones every TCP_KEEPINTVL)",
            secs_text(g)
        ));
    }
    evidence.push(format!(
        "Linux defaults: idle {di:.0} s, interval {dv:.0} s, {dn} probes before giving up"
    ));
    let verdict = if (first_idle as f64 / 1e9) < di * 0.9 {
        format!(
            "keep-alive is on with an idle time of about {} (shorter than the {di:.0} s default: TCP_KEEPIDLE or an application-level setting)",
            secs_text(first_idle)
        )
    } else {
        "keep-alive is on with about the default idle time".to_string()
    };
    let saving = match interval.map(|g| 3600.0 / (g as f64 / 1e9).max(1e-3)) {
        Some(n) => format!(
            "not a saving: about {n:.0} probe(s) and their ACKs per idle hour; a dead peer is found after idle + interval × count"
        ),
        None => "not a saving: detection of a dead peer after idle + interval × count".into(),
    };
    Some(Draft::new(
        sender(d),
        format!(
            "{verdict}; keep TCP_KEEPIDLE below the idle timeout of any NAT or load balancer on the path, and set TCP_KEEPINTVL/TCP_KEEPCNT for how soon a dead peer must be noticed"
        ),
        evidence,
        saving,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advice::testkit::Flow;
    use crate::flow::{C2S, S2C};
    use crate::report::Side;

    const S: i64 = 1_000_000_000;

    #[test]
    fn fires_on_the_prober_with_idle_and_interval() {
        let mut f = Flow::new();
        let dc = &mut f.collected.dirs[C2S];
        dc.keepalive_count = 3;
        dc.keepalives = vec![(60 * S, 60 * S), (75 * S, 15 * S), (90 * S, 15 * S)];
        let a = keepalive(&f.evidence(), C2S).unwrap();
        assert_eq!(a.side, Side::Client);
        assert_eq!(a.saving_ms, None);
        assert!(a.evidence[0].contains("the first after 60.0 s idle"));
        assert!(a.evidence[1].contains("15.0 s apart"));
        assert!(a.action.contains("shorter than the 7200 s default"));
        assert!(a.saving.contains("about 240 probe(s)"));
    }

    #[test]
    fn default_idle_is_named_as_such() {
        let mut f = Flow::new();
        let dc = &mut f.collected.dirs[S2C];
        dc.keepalive_count = 1;
        dc.keepalives = vec![(7200 * S, 7200 * S)];
        let a = keepalive(&f.evidence(), S2C).unwrap();
        assert_eq!(a.side, Side::Server);
        assert!(a
            .action
            .starts_with("keep-alive is on with about the default idle time"));
    }

    #[test]
    fn silent_without_probes() {
        let mut f = Flow::new();
        f.collected.dirs[C2S].window_probes = 4;
        assert!(keepalive(&f.evidence(), C2S).is_none());
    }
}

//! Rules 2a and 2b: segments that batching the writes would save
//! (TCP_CORK, MSG_MORE, one write per message).
//!
//! - [`cork`]: in a request/response exchange, a direction's turns carried
//!   more segments than their bytes needed.
//! - [`tinygrams`]: Nagle is off and a direction streams small segments
//!   faster than the path RTT.
//!
//! What they do not do: tell TCP_CORK from an application that buffers its
//! writes (both coalesce the same way), or count a final turn that no
//! answer closed.

use super::evidence::{bytes_text, header_per_frame, sender, Draft, Evidence};
use super::thresholds::{CORK_MIN_EXTRA, CORK_MIN_TURNS, TINY_MIN_EXTRA, TINY_MIN_SMALL};
use crate::flow::{Dir, C2S, S2C};
use crate::report::{ms, Verdict};

/// MSS assumed when the direction's is unknown.
const DEFAULT_MSS: u64 = 1448;

/// TCP_CORK on a writer whose turns carried, on average, at least half a
/// segment more than their bytes needed (at least 2 turns, 2 extra
/// segments, and the peer answered at least once).
pub(super) fn cork(ev: &Evidence, d: Dir) -> Option<Draft> {
    let dir = ev.direction(d)?;
    let dc = ev.collect(d);
    let exchange = ev.collect(C2S).turns >= 1 && ev.collect(S2C).turns >= 1;
    let extra = dc.turn_segments.saturating_sub(dc.turn_min_segments);
    if !exchange || dc.turns < CORK_MIN_TURNS || extra < CORK_MIN_EXTRA || extra * 2 < dc.turns {
        return None;
    }
    let per_turn = extra as f64 / dc.turns as f64;
    let header = header_per_frame(dir);
    let evidence = vec![
        format!(
            "{} transaction turn(s) from {} carried {} segments where their bytes needed {} ({:.2} extra per turn, {} turn(s) with extra segments{})",
            dc.turns, dir.from, dc.turn_segments, dc.turn_min_segments, per_turn, dc.turns_over,
            starting_at(&dc.turns_over_frames)
        ),
        format!(
            "Nagle verdict {}; {} of {} data segments below the MSS",
            dir.nagle.verdict, dir.small_segments, dir.data_segments
        ),
    ];
    let side = sender(d);
    let draft = Draft::new(
        side,
        format!(
            "on the {side} ({}), build each message before sending: TCP_CORK around the writes (uncork to send), MSG_MORE on all but the last, or one writev",
            ev.address(side)
        ),
        evidence,
        format!(
            "{per_turn:.2} packets per transaction, {extra} packets and about {} of headers in this capture",
            bytes_text(extra as f64 * header)
        ),
    );
    Some(
        draft
            .packets(extra)
            .bytes((extra as f64 * header).round() as u64)
            .frames(dc.turns_over_frames.iter().copied()),
    )
}

/// ", starting at frames 3, 9, …" for the turns with extra segments.
fn starting_at(frames: &[u64]) -> String {
    if frames.is_empty() {
        return String::new();
    }
    let list: Vec<String> = frames.iter().map(|f| f.to_string()).collect();
    format!(", the first starting at frames {}", list.join(", "))
}

/// The figures of a tinygram stream: path RTT and median send interval
/// (ms), segments needed, and segments beyond that.
struct Tiny {
    rtt: f64,
    interval: f64,
    needed: u64,
    extra: u64,
}

/// Nagle off, at least 20 small segments sent faster than the path RTT, and
/// at least 10 segments beyond max(⌈bytes / MSS⌉, duration / RTT).
fn tiny(ev: &Evidence, d: Dir) -> Option<Tiny> {
    let dir = ev.direction(d)?;
    let (r, iv) = (ev.rtt_ms()?, dir.send_interval_ms.median?);
    if dir.nagle.verdict != Verdict::Off
        || dir.small_segments < TINY_MIN_SMALL
        || iv >= r
        || r <= 0.0
    {
        return None;
    }
    let dur = ms(ev.collect(d).duration()?);
    let mss = dir.mss.unwrap_or(DEFAULT_MSS as u32).max(1) as u64;
    let needed = (dir.payload_bytes.div_ceil(mss)).max((dur / r).ceil() as u64);
    let extra = dir.data_segments.saturating_sub(needed);
    (extra >= TINY_MIN_EXTRA).then_some(Tiny {
        rtt: r,
        interval: iv,
        needed,
        extra,
    })
}

/// TCP_CORK (or leave Nagle on) for a stream of tinygrams with Nagle off,
/// outside a request/response exchange; with Nagle at most one small
/// segment per RTT would leave.
pub(super) fn tinygrams(ev: &Evidence, d: Dir) -> Option<Draft> {
    let Tiny {
        rtt: r,
        interval,
        needed,
        extra,
    } = tiny(ev, d)?;
    let dir = ev.direction(d)?;
    let header = header_per_frame(dir);
    let side = sender(d);
    let draft = Draft::new(
        side,
        format!(
            "Nagle is off on the {side} ({}) and it sends tinygrams: batch the writes (TCP_CORK, MSG_MORE, one write per message), or, if per-write latency does not matter here, leave Nagle on (do not set TCP_NODELAY)",
            ev.address(side)
        ),
        vec![
            format!(
                "{} of {} data segments below the MSS, sent {:.3} ms apart on median against a path RTT of {r:.3} ms",
                dir.small_segments, dir.data_segments, interval
            ),
            dir.nagle.evidence.first().cloned().unwrap_or_default(),
            format!(
                "coalescing to one small segment per RTT (or full segments) would need about {needed} segments"
            ),
        ],
        format!(
            "{extra} packets and about {} of headers, at the price of up to one RTT ({r:.3} ms) of delay per write",
            bytes_text(extra as f64 * header)
        ),
    );
    Some(
        draft
            .packets(extra)
            .bytes((extra as f64 * header).round() as u64),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advice::testkit::{Flow, MS};
    use crate::report::Side;

    /// Client turns: `turns` turns of `segs` segments that needed `min`.
    fn exchange(turns: u64, segs: u64, min: u64, answers: u64) -> Flow {
        let mut f = Flow::new();
        let dc = &mut f.collected.dirs[C2S];
        dc.turns = turns;
        dc.turn_segments = segs;
        dc.turn_min_segments = min;
        f.collected.dirs[S2C].turns = answers;
        f
    }

    #[test]
    fn cork_fires_on_extra_segments_per_turn() {
        let mut f = exchange(5, 15, 5, 5);
        let d = f.dir(C2S);
        (d.frames, d.wire_bytes, d.all_payload_bytes) = (10, 1660, 1000);
        let a = cork(&f.evidence(), C2S).unwrap();
        assert_eq!(a.side, Side::Client);
        assert_eq!(a.saving_packets, Some(10));
        assert_eq!(a.saving_bytes, Some(660));
        assert!(cork(&f.evidence(), S2C).is_none());
    }

    #[test]
    fn cork_needs_an_exchange_and_enough_extra() {
        assert!(cork(&exchange(5, 15, 5, 0).evidence(), C2S).is_none());
        assert!(cork(&exchange(1, 4, 1, 1).evidence(), C2S).is_none());
        assert!(cork(&exchange(10, 14, 10, 1).evidence(), C2S).is_none());
    }

    /// 100 small segments 1 ms apart over 100 ms, RTT 10 ms.
    fn stream(verdict: Verdict) -> Flow {
        let mut f = Flow::new();
        let d = f.dir(C2S);
        d.nagle.verdict = verdict;
        (d.small_segments, d.data_segments, d.payload_bytes) = (100, 100, 10_000);
        d.send_interval_ms.median = Some(1.0);
        let dc = &mut f.collected.dirs[C2S];
        (dc.first_data, dc.last_data) = (Some(0), Some(100 * MS));
        f
    }

    #[test]
    fn tinygrams_fire_with_nagle_off_faster_than_the_rtt() {
        let f = stream(Verdict::Off);
        let a = tinygrams(&f.evidence(), C2S).unwrap();
        assert_eq!(a.side, Side::Client);
        // needed = max(⌈10000 / 1448⌉, 100 ms / 10 ms) = 10
        assert_eq!(a.saving_packets, Some(90));
        assert!(a.evidence[2].contains("about 10 segments"));
    }

    #[test]
    fn tinygrams_silent_with_nagle_on_or_slow_sends() {
        assert!(tinygrams(&stream(Verdict::On).evidence(), C2S).is_none());
        let mut f = stream(Verdict::Off);
        f.dir(C2S).send_interval_ms.median = Some(10.0);
        assert!(tinygrams(&f.evidence(), C2S).is_none());
        let mut f = stream(Verdict::Off);
        f.report.rtt_ms.min = None;
        assert!(tinygrams(&f.evidence(), C2S).is_none());
    }
}

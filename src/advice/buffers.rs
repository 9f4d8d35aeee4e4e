//! Rules 4 and 5: bulk transfers held by a buffer.
//!
//! A direction is *bulk* when it carried at least [`BULK_MIN_BYTES`] in at
//! least [`BULK_MIN_SEGMENTS`] new segments with a known peer window, over a
//! positive time (thresholds in `super::thresholds`). Of a bulk direction:
//! - [`rcvbuf`]: at least 30 % of new segments left no room in the peer's
//!   window for another full segment, the receiver never closed its window
//!   (that is rule 6), and the rate × path RTT is at least a quarter of the
//!   window it was pinned at (else something else held the sender);
//! - [`sndbuf`]: otherwise, with no retransmission and at least 50
//!   in-flight samples, bytes in flight plateaued (90th percentile within
//!   10 % of the maximum) below 60 % of the smallest advertised window, and
//!   the direction was not application-limited: data sent in at least
//!   [`APP_LIMITED_MIN_TURNS`] turns that the peer's data ended (request /
//!   response, pipelining) waited for the peer's requests, and its plateau
//!   is the size of a reply, not of a buffer. (A full receive window is
//!   direct evidence of its own, so `rcvbuf` is not gated so.)
//!
//! What they do not do: see the buffer sizes set (autotuning changes them),
//! the path's capacity, or tell a small send buffer from an application
//! that writes too slowly.

use super::evidence::{bytes_text, receiver, sender, Draft, Evidence};
use crate::flow::Dir;
use crate::report::{ms, Direction};

use super::thresholds::{
    APP_LIMITED_MIN_TURNS, BULK_MIN_BYTES, BULK_MIN_SEGMENTS, RCVBUF_MIN_LIMITED,
    SNDBUF_MAX_WINDOW_SHARE, SNDBUF_MIN_SAMPLES, SNDBUF_PLATEAU,
};

/// A bulk direction's figures: its findings, data duration (ns), rate
/// (bytes/s) and rate × path RTT (bytes).
struct Bulk<'a> {
    dir: &'a Direction,
    dur: i64,
    rate: f64,
    bdp: Option<f64>,
}

fn bulk<'a>(ev: &Evidence<'a>, d: Dir) -> Option<Bulk<'a>> {
    let dir = ev.direction(d)?;
    let dc = ev.collect(d);
    if dir.payload_bytes < BULK_MIN_BYTES || dc.window_known < BULK_MIN_SEGMENTS {
        return None;
    }
    let dur = dc.duration()?;
    let rate = dir.payload_bytes as f64 / (dur as f64 / 1e9);
    let bdp = ev.rtt_ms().map(|r| rate * r / 1000.0);
    Some(Bulk {
        dir,
        dur,
        rate,
        bdp,
    })
}

/// The sender of `d` sent in turns that the peer's data ended, at least
/// [`APP_LIMITED_MIN_TURNS`] of them: it waited for the peer's requests
/// (request/response, pipelining), so neither a buffer nor the window set
/// its pace, and its transfer time includes the wait.
fn application_limited(ev: &Evidence, d: Dir) -> bool {
    ev.collect(d).turns >= APP_LIMITED_MIN_TURNS
}

/// The receiver's window held the bulk direction `d` (rule 4's trigger).
fn window_limited(ev: &Evidence, d: Dir, b: &Bulk) -> bool {
    let dc = ev.collect(d);
    let frac = dc.window_limited as f64 / dc.window_known as f64;
    // A receiver that closed its window reads too slowly (rule 6), and a
    // rate far below window / RTT means something else held the sender.
    let zero = ev.stats(d.reverse()).zero_window_episodes > 0;
    let consistent = b.bdp.is_none_or(|x| x >= 0.25 * dc.pinned_window as f64);
    frac >= RCVBUF_MIN_LIMITED && !zero && consistent
}

/// SO_RCVBUF on the receiver of a window-limited bulk direction.
pub(super) fn rcvbuf(ev: &Evidence, d: Dir) -> Option<Draft> {
    let b = bulk(ev, d)?;
    if !window_limited(ev, d, &b) {
        return None;
    }
    let dc = ev.collect(d);
    let rtt_ms = ev.rtt_ms();
    let mut evidence = vec![
        format!(
            "{} of {} new segments ({:.0} %) left no room in {}'s advertised window for another full segment",
            dc.window_limited,
            dc.window_known,
            dc.window_limited as f64 / dc.window_known as f64 * 100.0,
            b.dir.to
        ),
        format!(
            "bytes in flight reached {}; the window was pinned at up to {} (largest advertised {})",
            bytes_text(dc.max_inflight as f64),
            bytes_text(dc.pinned_window as f64),
            bytes_text(dc.max_window_seen as f64)
        ),
    ];
    if let (Some(bdp), Some(r)) = (b.bdp, rtt_ms) {
        evidence.push(format!(
            "{} in {:.3} s = {:.2} Mbit/s; × path RTT {r:.3} ms = {} in flight (the BDP this window allowed)",
            bytes_text(b.dir.payload_bytes as f64),
            b.dur as f64 / 1e9,
            b.rate * 8.0 / 1e6,
            bytes_text(bdp)
        ));
    }
    let want = 2 * dc.pinned_window.max(dc.max_inflight as u64);
    let per_gbit = rtt_ms.map_or(String::new(), |r| {
        format!(
            "; each 1 Gbit/s of path needs {} at this RTT",
            bytes_text(125_000_000.0 * r / 1000.0)
        )
    });
    let side = receiver(d);
    let draft = Draft::new(
        side,
        format!(
            "raise the receive buffer of the {side} ({}) to at least {} (twice the window it was pinned at{per_gbit}); or let autotuning grow it (net.ipv4.tcp_rmem max)",
            ev.address(side),
            bytes_text(want as f64),
        ),
        evidence,
        format!(
            "up to {:.0} ms (half the {:.0} ms transfer) if the path has room for twice the rate; the capture cannot show the path's capacity",
            ms(b.dur) / 2.0,
            ms(b.dur)
        ),
    );
    Some(draft.ms(Some(ms(b.dur) / 2.0)).bytes(want))
}

/// The 90th percentile of the in-flight samples of `d` when bytes in
/// flight plateaued below 60 % of the smallest window (rule 5's trigger).
fn plateau(ev: &Evidence, d: Dir, b: &Bulk) -> Option<i64> {
    let dc = ev.collect(d);
    if window_limited(ev, d, b)
        || application_limited(ev, d)
        || b.dir.retransmissions != 0
        || dc.inflight.values().len() < SNDBUF_MIN_SAMPLES
    {
        return None;
    }
    let mut v = dc.inflight.values().to_vec();
    v.sort_unstable();
    let p90 = v[(v.len() * 9 / 10).min(v.len() - 1)];
    let minw = dc.min_window.unwrap_or(0);
    (dc.max_inflight > 0
        && p90 as f64 >= SNDBUF_PLATEAU * dc.max_inflight as f64
        && (dc.max_inflight as f64) < SNDBUF_MAX_WINDOW_SHARE * minw as f64)
        .then_some(p90)
}

/// SO_SNDBUF on the sender of a bulk direction whose bytes in flight
/// plateaued well below the peer's window, without loss.
pub(super) fn sndbuf(ev: &Evidence, d: Dir) -> Option<Draft> {
    let b = bulk(ev, d)?;
    let p90 = plateau(ev, d, &b)?;
    let dc = ev.collect(d);
    let minw = dc.min_window.unwrap_or(0);
    let mut evidence = vec![format!(
        "bytes in flight plateaued at {} (90th percentile {}), below 60 % of the smallest window {} advertised ({}), with no retransmission",
        bytes_text(dc.max_inflight as f64),
        bytes_text(p90 as f64),
        b.dir.to,
        bytes_text(minw as f64)
    )];
    if let (Some(bdp), Some(r)) = (b.bdp, ev.rtt_ms()) {
        evidence.push(format!(
            "{:.2} Mbit/s × path RTT {r:.3} ms = {}",
            b.rate * 8.0 / 1e6,
            bytes_text(bdp)
        ));
    }
    let want = (2 * dc.max_inflight as u64).min(minw);
    let saving = ms(b.dur) * (1.0 - dc.max_inflight as f64 / want.max(1) as f64);
    let side = sender(d);
    let draft = Draft::new(
        side,
        format!(
            "raise the send buffer of the {side} ({}) towards {} (or check that the application writes fast enough: an application-limited sender looks the same)",
            ev.address(side),
            bytes_text(want as f64)
        ),
        evidence,
        format!(
            "up to {saving:.0} ms of the {:.0} ms transfer if the sender, not the application, was the limit",
            ms(b.dur)
        ),
    );
    Some(draft.ms(Some(saving)).bytes(want))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advice::testkit::{Flow, MS};
    use crate::flow::{C2S, S2C};
    use crate::report::Side;

    /// 1 MiB client→server in 100 ms (RTT 10 ms), 100 segments with a
    /// known window, `limited` of them window-limited.
    fn transfer(limited: u64) -> Flow {
        let mut f = Flow::new();
        f.dir(C2S).payload_bytes = 1 << 20;
        let dc = &mut f.collected.dirs[C2S];
        (dc.first_data, dc.last_data) = (Some(0), Some(100 * MS));
        (dc.window_known, dc.window_limited) = (100, limited);
        dc.pinned_window = if limited > 0 { 65536 } else { 0 };
        dc.max_window_seen = 65536;
        dc.min_window = Some(1 << 20);
        dc.max_inflight = 65536;
        for _ in 0..60 {
            dc.inflight.push(65536);
        }
        f
    }

    /// Request/response turns (the peer's data ended each): the plateau
    /// is a reply's size, not a buffer's: no SO_SNDBUF advice.
    #[test]
    fn no_sndbuf_advice_for_an_application_limited_direction() {
        let mut f = transfer(0);
        f.collected.dirs[C2S].turns = APP_LIMITED_MIN_TURNS;
        assert!(sndbuf(&f.evidence(), C2S).is_none());
        f.collected.dirs[C2S].turns = APP_LIMITED_MIN_TURNS - 1;
        assert!(sndbuf(&f.evidence(), C2S).is_some());
    }

    #[test]
    fn rcvbuf_on_the_receiver_of_a_window_limited_transfer() {
        let f = transfer(50);
        let a = rcvbuf(&f.evidence(), C2S).unwrap();
        assert_eq!(a.side, Side::Server);
        assert_eq!(a.saving_ms, Some(50.0));
        assert_eq!(a.saving_bytes, Some(131072));
        assert!(sndbuf(&f.evidence(), C2S).is_none(), "one or the other");
    }

    #[test]
    fn rcvbuf_silent_below_the_thresholds_or_with_a_zero_window() {
        assert!(rcvbuf(&transfer(20).evidence(), C2S).is_none());
        let mut f = transfer(50);
        f.summary.dirs[S2C].zero_window_episodes = 1;
        assert!(rcvbuf(&f.evidence(), C2S).is_none());
        let mut f = transfer(50);
        f.dir(C2S).payload_bytes = 60_000;
        assert!(rcvbuf(&f.evidence(), C2S).is_none());
        assert!(rcvbuf(&transfer(50).evidence(), S2C).is_none());
    }

    #[test]
    fn sndbuf_on_the_sender_of_a_plateau_below_the_window() {
        let f = transfer(0);
        let a = sndbuf(&f.evidence(), C2S).unwrap();
        assert_eq!(a.side, Side::Client);
        assert_eq!(a.saving_bytes, Some(131072));
        assert_eq!(a.saving_ms, Some(50.0));
    }

    #[test]
    fn sndbuf_silent_with_loss_or_few_samples() {
        let mut f = transfer(0);
        f.dir(C2S).retransmissions = 1;
        assert!(sndbuf(&f.evidence(), C2S).is_none());
        let mut f = transfer(0);
        f.collected.dirs[C2S].inflight = Default::default();
        assert!(sndbuf(&f.evidence(), C2S).is_none());
        let mut f = transfer(0);
        f.collected.dirs[C2S].min_window = Some(100_000);
        assert!(sndbuf(&f.evidence(), C2S).is_none());
    }
}

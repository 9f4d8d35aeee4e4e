//! Rule 3: TCP_DEFER_ACCEPT.
//!
//! On a connection whose handshake was seen complete: when the client
//! spoke first and its first data came at least
//! [`DEFER_ACCEPT_MIN_GAP_NS`] after its pure handshake ACK, set
//! TCP_DEFER_ACCEPT on the server (or delay the client's ACK); when the
//! server spoke first (a banner protocol), do not.
//!
//! What it does not do: tell whether the option is already set (a deferred
//! accept leaves the same packets at the client), or advise on a request
//! that followed the ACK at once (nothing worth deferring).

use super::evidence::{Draft, Evidence};
use crate::flow::{C2S, S2C};
use crate::report::{ms, Side};

pub use super::thresholds::DEFER_ACCEPT_MIN_GAP_NS;

/// Set TCP_DEFER_ACCEPT (client spoke first, late), or do not (server
/// spoke first).
pub(super) fn defer_accept(ev: &Evidence) -> Option<Draft> {
    let s = ev.summary;
    let ack = s.handshake.ack?;
    let (first_dir, first_ts) = ev.collected.first_data?;
    if !(s.handshake.complete() && s.handshake_seen) {
        return None;
    }
    // A request right behind the ACK (most clients send it within
    // microseconds) leaves nothing worth deferring: only a gap of at least
    // DEFER_ACCEPT_MIN_GAP_NS, an accepted connection sitting idle, is
    // advice.
    if first_dir == C2S && first_ts.saturating_sub(ack) >= DEFER_ACCEPT_MIN_GAP_NS {
        Some(set_it(ev, first_ts - ack))
    } else if first_dir == S2C {
        Some(Draft::new(
            Side::Server,
            "do not set TCP_DEFER_ACCEPT on this server: it speaks first (a banner protocol), so deferring accept would stall every connection until the timeout".into(),
            vec!["the server sent the first data of the connection".into()],
            "none".into(),
        ))
    } else {
        None
    }
}

/// The advice to set it, the client's data `gap` ns after its ACK.
fn set_it(ev: &Evidence, gap: i64) -> Draft {
    let draft = Draft::new(
        Side::Server,
        format!(
            "set TCP_DEFER_ACCEPT on the listening socket ({}) so accept() returns when the request is there; on the client, TCP_DEFER_ACCEPT (or TCP_QUICKACK=0 before connect) lets the request ride on the third handshake packet",
            ev.address(Side::Server)
        ),
        vec![
            "the client's third handshake packet was a pure ACK".into(),
            format!(
                "the client spoke first: its first data (frame {}) followed that ACK {:.3} ms later",
                ev.collected.first_data_frame,
                ms(gap)
            ),
            ev.seen_sentence(),
        ],
        format!(
            "one packet per connection (the pure ACK), and a server that wakes once per connection instead of accepting {:.3} ms before the request arrives",
            ms(gap)
        ),
    );
    draft.packets(1).frames([ev.collected.first_data_frame])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advice::testkit::{Flow, MS};

    fn handshake(first: crate::flow::Dir, gap: i64) -> Flow {
        let mut f = Flow::new();
        let h = &mut f.summary.handshake;
        (h.syn, h.syn_ack, h.ack) = (Some(0), Some(10 * MS), Some(10 * MS));
        f.summary.handshake_seen = true;
        f.collected.first_data = Some((first, 10 * MS + gap));
        f
    }

    #[test]
    fn fires_when_the_client_speaks_late() {
        let f = handshake(C2S, 5 * MS);
        let a = defer_accept(&f.evidence()).unwrap();
        assert_eq!(a.side, Side::Server);
        assert_eq!(a.saving_packets, Some(1));
        assert!(a.evidence[1].contains("5.000 ms later"));
    }

    #[test]
    fn silent_when_the_request_follows_the_ack_at_once() {
        assert!(defer_accept(&handshake(C2S, MS / 10).evidence()).is_none());
        let mut f = handshake(C2S, 5 * MS);
        f.summary.handshake_seen = false;
        assert!(defer_accept(&f.evidence()).is_none());
    }

    #[test]
    fn advises_against_it_when_the_server_speaks_first() {
        let a = defer_accept(&handshake(S2C, 0).evidence()).unwrap();
        assert!(a.action.starts_with("do not set TCP_DEFER_ACCEPT"));
        assert_eq!((a.saving_ms, a.saving_packets), (None, None));
    }
}

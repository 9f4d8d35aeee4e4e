//! Stopping on SIGINT, SIGTERM and SIGHUP (ctrlc's `termination` feature),
//! for live capture and the lab: the first signal asks the run to stop and
//! finish its report; a second one, later, exits at once.
//!
//! "Later" matters: one request to stop often arrives as two signals.
//! timeout(1) sends its signal to the command and then to the command's
//! process group, and sudo passes on a Ctrl-C that the terminal also sent
//! to the command. Taking the second of those as "exit now" lost the whole
//! report of `timeout 60 nagle-analyze -i eth0 -o report.json`. Signals
//! within [`SAME_STOP`] of the first are the same request.
//!
//! What it does not do: stop anything itself (the callers poll their flag
//! and wind down).

use std::time::{Duration, Instant};

/// Signals within this of the first are the same request to stop.
pub const SAME_STOP: Duration = Duration::from_millis(500);

/// Run `first` at the first signal, and `again` at any signal more than
/// [`SAME_STOP`] after it (the handler runs on ctrlc's own thread).
pub fn on_stop_signals(
    first: impl FnOnce() + Send + 'static,
    again: impl FnMut() + Send + 'static,
) -> Result<(), ctrlc::Error> {
    let mut requests = Requests::new(first, again);
    ctrlc::set_handler(move || requests.signal(Instant::now()))
}

/// What each signal means, from when the first came.
struct Requests<F, A> {
    first: Option<F>,
    at: Option<Instant>,
    again: A,
}

impl<F: FnOnce(), A: FnMut()> Requests<F, A> {
    fn new(first: F, again: A) -> Self {
        Requests {
            first: Some(first),
            at: None,
            again,
        }
    }

    fn signal(&mut self, now: Instant) {
        match self.at {
            None => {
                self.at = Some(now);
                if let Some(f) = self.first.take() {
                    f();
                }
            }
            Some(t) if now.duration_since(t) > SAME_STOP => (self.again)(),
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn signals_close_together_are_one_request() {
        let (stops, exits) = (Cell::new(0), Cell::new(0));
        let mut r = Requests::new(|| stops.set(stops.get() + 1), || exits.set(exits.get() + 1));
        let t = Instant::now();
        r.signal(t);
        r.signal(t + Duration::from_millis(1));
        r.signal(t + SAME_STOP);
        assert_eq!((stops.get(), exits.get()), (1, 0));
        r.signal(t + SAME_STOP + Duration::from_millis(1));
        assert_eq!((stops.get(), exits.get()), (1, 1));
    }
}

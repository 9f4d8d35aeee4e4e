//! Stage: whether a direction's protocol framing gives its write
//! boundaries, and what the report and the flow notes say about it.
//!
//! Rule (README "Framing"): framing is used when it decoded at least one
//! message end over at least half of the direction's data segments; else a
//! flow note says why not (stopped, or too few segments) and the write
//! boundaries come from the other sources. This stage does not decode: that
//! is `crate::framing`, fed by the observer.

use crate::framing::{DirFraming, Outcome};
use crate::report::{self, FramingState};

/// What the framing stage found for one direction.
pub(super) struct FramingUse {
    /// Framing gives this direction's write boundaries.
    pub used: bool,
    /// The report's `framing` object (None when framing was off).
    pub status: Option<report::FramingStatus>,
    /// A flow note when framing stopped or could not be applied.
    pub note: Option<String>,
}

/// Framing is used when it found a message over half the data segments.
pub(super) fn framing_used(fr: &DirFraming, data_segments: u64) -> bool {
    fr.framing.is_some() && fr.messages > 0 && fr.segments * 2 >= data_segments && data_segments > 0
}

pub(super) fn framing_use(fr: &DirFraming, data_segments: u64) -> FramingUse {
    let used = framing_used(fr, data_segments);
    FramingUse {
        used,
        status: framing_status(fr, used, data_segments),
        note: framing_note(fr, used, data_segments),
    }
}

/// The report's `framing` object of a direction (None when framing was off).
fn framing_status(
    fr: &DirFraming,
    used: bool,
    data_segments: u64,
) -> Option<report::FramingStatus> {
    let status = match (&fr.outcome, used) {
        (Outcome::Off, _) => return None,
        (Outcome::NotRecognised, _) => FramingState::NotRecognised,
        (Outcome::Active, true) => FramingState::Used,
        (Outcome::Stopped(_), true) => FramingState::Partial,
        (_, false) => FramingState::NotUsed,
    };
    Some(report::FramingStatus {
        protocol: fr.framing.map(|f| f.to_string()),
        status,
        messages: fr.messages,
        segments: fr.segments,
        data_segments,
        gaps: fr.gaps,
        stopped: match &fr.outcome {
            Outcome::Stopped(why) => Some(why.clone()),
            _ => None,
        },
    })
}

/// A flow note when framing stopped or could not be applied.
fn framing_note(fr: &DirFraming, used: bool, data_segments: u64) -> Option<String> {
    let name = fr.source().unwrap_or_else(|| "framing".to_string());
    match (&fr.outcome, used) {
        (Outcome::Stopped(why), true) => Some(format!(
            "{name} stopped ({why}): writes per segment cover the first {} of {data_segments} data segments",
            fr.segments
        )),
        (Outcome::Stopped(why), false) => Some(format!(
            "{name} could not be applied ({why}); write boundaries come from the other sources"
        )),
        (Outcome::Active, false) if fr.framing.is_some() && data_segments > 0 => Some(format!(
            "{name} found {} message end(s) in {} segment(s): not used",
            fr.messages, fr.segments
        )),
        _ => None,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::framing::Framing;

    /// Lines framing that decoded `segments` segments with `messages` ends.
    pub(in crate::analysis) fn lines(messages: u64, segments: u64, outcome: Outcome) -> DirFraming {
        let mut fr = DirFraming::default();
        fr.framing = Some(Framing::Lines);
        fr.messages = messages;
        fr.segments = segments;
        fr.outcome = outcome;
        fr
    }

    #[test]
    fn used_over_half_the_data_segments() {
        assert!(framing_used(&lines(3, 5, Outcome::Active), 10));
        assert!(!framing_used(&lines(3, 4, Outcome::Active), 10));
        assert!(!framing_used(&lines(0, 10, Outcome::Active), 10));
        assert!(!framing_used(&lines(1, 0, Outcome::Active), 0));
        assert!(!framing_used(&DirFraming::default(), 10));
    }

    #[test]
    fn status_and_note() {
        let u = framing_use(&lines(3, 5, Outcome::Active), 10);
        assert_eq!(u.status.unwrap().status, FramingState::Used);
        assert!(u.note.is_none());
        let stopped = framing_use(&lines(3, 2, Outcome::Stopped("gap".into())), 10);
        assert_eq!(stopped.status.unwrap().status, FramingState::NotUsed);
        assert!(stopped.note.unwrap().contains("could not be applied (gap)"));
        let partial = framing_use(&lines(3, 6, Outcome::Stopped("gap".into())), 10);
        assert_eq!(partial.status.unwrap().status, FramingState::Partial);
        assert!(partial.note.unwrap().contains("cover the first 6 of 10"));
        let off = framing_use(&DirFraming::default(), 10);
        assert!(off.status.is_none() && off.note.is_none());
    }
}

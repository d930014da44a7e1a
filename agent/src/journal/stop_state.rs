//! The protective stop's step, journaled on the entry's row (docs/design.md §3): `none →
//! sending → placed`, or `→ closing → closed | close_failed` (not final: protected again), or
//! `→ gone`. `sending` and `closing` commit before the request leaves, so a later run looks up
//! the ids up to `stop_attempt` instead of sending blindly; a fresh fill's first attempt is the
//! exception (`none` is looked up from attempt 0 anyway, [`Journal::stop_send_later`]).
//!
//! [`Journal::stop_send_later`]: super::Journal::stop_send_later

use strum::{Display, EnumIter, EnumString};

/// Where the protective stop of a filled entry stands, stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Display, EnumString, EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum StopState {
    /// No stop request has left yet.
    None,
    /// A stop request (attempt `stop_attempt`) may be on the wire; outcome not recorded.
    Sending,
    /// The exchange holds the stop: the position is protected.
    Placed,
    /// The stop could not be placed; a market close may be on the wire.
    Closing,
    /// The position was closed at market (a failed execution).
    Closed,
    /// Neither stop nor close succeeded: open, unprotected, counted; protected again later.
    CloseFailed,
    /// A later run found the position gone or not this entry's: nothing sent; the entry counts.
    Gone,
}

/// What happened in the stop step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter)]
pub enum StopEvent {
    /// A stop attempt goes on the wire.
    Send,
    /// The exchange holds the stop.
    Place,
    /// The stop could not be placed: a close goes on the wire.
    Close,
    /// The close filled (or the position was already gone).
    Closed,
    /// Every close attempt failed.
    CloseFailed,
    /// A later run found the position gone or not this entry's: nothing is sent.
    Gone,
}

/// A stop-step change the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stop in state {from} cannot take event {event:?}")]
pub struct StopTransitionError {
    /// State before.
    pub from: StopState,
    /// Refused event.
    pub event: StopEvent,
}

impl StopState {
    /// The state after `event`, or an error for any pair not listed.
    pub fn transition(self, event: StopEvent) -> Result<StopState, StopTransitionError> {
        use StopEvent as E;
        use StopState as S;
        match (self, event) {
            // A retry is another `Send`; `CloseFailed`: a later run protects it again.
            (S::None | S::Sending | S::CloseFailed, E::Send) => Ok(S::Sending),
            // Found by lookup: a send never journaled, or an earlier attempt placed after all.
            (S::None | S::Sending | S::CloseFailed, E::Place) => Ok(S::Placed),
            (S::None | S::Sending | S::Closing, E::Close) => Ok(S::Closing),
            // `CloseFailed`: a close that got no answer is found filled by lookup.
            (S::Closing | S::CloseFailed, E::Closed) => Ok(S::Closed),
            (S::Closing, E::CloseFailed) => Ok(S::CloseFailed),
            (S::None | S::Sending | S::CloseFailed, E::Gone) => Ok(S::Gone),
            (from, event) => Err(StopTransitionError { from, event }),
        }
    }

    /// True when nothing is left to look up or send (`CloseFailed` is not: a re-run retries).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Placed | Self::Closed | Self::Gone)
    }
}

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::*;
    use StopEvent as E;
    use StopState as S;

    #[test]
    fn exactly_the_listed_transitions_are_allowed() {
        let allowed = [
            (S::None, E::Send, S::Sending),
            (S::Sending, E::Send, S::Sending),
            (S::None, E::Place, S::Placed),
            (S::Sending, E::Place, S::Placed),
            (S::None, E::Close, S::Closing),
            (S::Sending, E::Close, S::Closing),
            (S::Closing, E::Close, S::Closing),
            (S::Closing, E::Closed, S::Closed),
            (S::Closing, E::CloseFailed, S::CloseFailed),
            (S::None, E::Gone, S::Gone),
            (S::Sending, E::Gone, S::Gone),
            (S::CloseFailed, E::Send, S::Sending),
            (S::CloseFailed, E::Place, S::Placed),
            (S::CloseFailed, E::Closed, S::Closed),
            (S::CloseFailed, E::Gone, S::Gone),
        ];
        crate::journal::tests::assert_transitions(&allowed, S::transition, |from, event| {
            StopTransitionError { from, event }
        });
        for s in S::iter() {
            let sends = s.transition(E::Send).is_ok() || s.transition(E::Close).is_ok();
            assert_eq!(s.is_final(), !sends, "{s}");
        }
    }
}

//! The protective stop's step, journaled on the entry's row (docs/design.md §3).
//!
//! `none → sending → placed`, or `none | sending → closing → closed | close_failed`. `sending`
//! and `closing` are committed before the request leaves, so a run that finds a filled entry
//! whose stop step is not final knows exactly what may have reached the exchange: stops with
//! derived ids up to `stop_attempt` are looked up, never blindly sent again. A later run that
//! finds the entry's position gone (or someone else's) settles the step `none | sending →
//! gone` without sending anything; one that finds a stop by lookup whose sending the journal
//! never recorded (it refused the step, and the stop was sent anyway) goes `none → placed`.
//! `close_failed` (a position left open without a stop) is not final: a later run of the wave
//! tries again to protect it — `close_failed → placed | closed | gone` when an earlier stop or
//! close is found by lookup or the position is gone or not the entry's, else
//! `close_failed → sending` and on as above. Like
//! [`OrderState::transition`](super::OrderState::transition), one exhaustive `match` lists
//! the allowed changes and refuses everything else.

use std::fmt;

/// Where the protective stop of a filled entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Neither stop nor close succeeded: the position is open, unprotected, and counts; a
    /// later run of the wave tries again to protect it.
    CloseFailed,
    /// A later run found no stop of this entry and its position gone, or not this entry's
    /// (closed outside the agent, e.g. liquidated or stopped out, and maybe opened again by
    /// another wave): nothing was sent, the other position is left alone; the entry counts.
    Gone,
}

/// What happened in the stop step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
            // A retry is another `Send` with the next attempt number; `CloseFailed`: a later
            // run tries again to protect the position.
            (S::None | S::Sending | S::CloseFailed, E::Send) => Ok(S::Sending),
            // `None`: a stop found by lookup whose sending was never journaled; `CloseFailed`:
            // one an earlier attempt placed after all.
            (S::None | S::Sending | S::CloseFailed, E::Place) => Ok(S::Placed),
            (S::None | S::Sending | S::Closing, E::Close) => Ok(S::Closing),
            // `CloseFailed`: a close that got no answer is found filled by lookup.
            (S::Closing | S::CloseFailed, E::Closed) => Ok(S::Closed),
            (S::Closing, E::CloseFailed) => Ok(S::CloseFailed),
            (S::None | S::Sending | S::CloseFailed, E::Gone) => Ok(S::Gone),
            (from, event) => Err(StopTransitionError { from, event }),
        }
    }

    /// True when the stop step is settled (nothing to look up or send on a re-run).
    /// `CloseFailed` is not: its position is open without a stop, and a re-run retries.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            StopState::Placed | StopState::Closed | StopState::Gone
        )
    }

    /// Column value.
    pub fn as_str(self) -> &'static str {
        match self {
            StopState::None => "none",
            StopState::Sending => "sending",
            StopState::Placed => "placed",
            StopState::Closing => "closing",
            StopState::Closed => "closed",
            StopState::CloseFailed => "close_failed",
            StopState::Gone => "gone",
        }
    }

    /// Parses a column value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => StopState::None,
            "sending" => StopState::Sending,
            "placed" => StopState::Placed,
            "closing" => StopState::Closing,
            "closed" => StopState::Closed,
            "close_failed" => StopState::CloseFailed,
            "gone" => StopState::Gone,
            _ => return None,
        })
    }
}

impl fmt::Display for StopState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StopEvent as E;
    use StopState as S;

    #[test]
    fn exactly_the_listed_transitions_are_allowed() {
        let all_s = [
            S::None,
            S::Sending,
            S::Placed,
            S::Closing,
            S::Closed,
            S::CloseFailed,
            S::Gone,
        ];
        let all_e = [
            E::Send,
            E::Place,
            E::Close,
            E::Closed,
            E::CloseFailed,
            E::Gone,
        ];
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
        for s in all_s {
            for e in all_e {
                let want = allowed
                    .iter()
                    .find(|(a, b, _)| *a == s && *b == e)
                    .map(|t| t.2);
                match want {
                    Some(to) => assert_eq!(s.transition(e), Ok(to)),
                    None => assert_eq!(
                        s.transition(e),
                        Err(StopTransitionError { from: s, event: e })
                    ),
                }
            }
            assert_eq!(S::parse(s.as_str()), Some(s));
            assert_eq!(
                s.is_final(),
                s.transition(E::Send).is_err() && s.transition(E::Close).is_err()
            );
        }
    }
}

//! One position lifecycle over the journal's three step columns (`state`, `stop_state`,
//! `trailing_state`): a row is in exactly one [`Phase`] ([`Phase::of`]), and
//! [`Phase::transition`] is the one table of what may follow what. The tests check for every
//! (phase, event) pair that the column machines (`journal/{order_state,stop_state,trailing}.rs`)
//! move exactly as the table says; `lifecycle::plan` decides a row's next step from its phase.
//!
//! ```text
//! EntryPending ─submit→ EntrySent ─fill→ Filled ─stop_send→ Protecting ─stop_placed→ Protected{trailing}
//!      └lost→ EntryUnknown ←lost┘ │ └reject→ EntryFailed        │ └close→ Closing ─closed→ Closed
//!             EntryExists ←duplicate┘   (unknown|exists ─found→ Filled | EntryFailed)  └close_failed→ Unprotected
//! Protected{pending ─trail_send→ sending ─trail_placed→ placed | trail_failed→ failed | trail_dropped→ dropped}
//! Filled | Protecting | Unprotected ─position_gone→ Gone
//! ```

use crate::journal::{OrderState, StopState, TrailingState};

/// Where one journaled order's position stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(test, derive(strum::EnumIter))]
pub enum Phase {
    /// Journaled, not (known to be) sent.
    EntryPending,
    /// Sent, no answer yet.
    EntrySent,
    /// No answer: looked up, never sent again.
    EntryUnknown,
    /// Refused as a duplicate id: an order under it exists; looked up until found.
    EntryExists,
    /// No position: refused, not received, or settled failed by lookup.
    EntryFailed,
    /// Filled; no stop sent yet.
    Filled,
    /// A protective stop may be on the wire.
    Protecting,
    /// The protective stop is in place; the trailing stop's step as given.
    #[cfg_attr(test, strum(disabled))]
    Protected(TrailingState),
    /// The stop could not be placed: a market close may be on the wire.
    Closing,
    /// Closed at market after its stop failed.
    Closed,
    /// Open without a stop (stop and close failed): protection is tried again.
    Unprotected,
    /// A later run found the position gone or not the entry's: left alone.
    Gone,
    /// Settled by an earlier version's bookkeeping: reported as journaled, nothing sent.
    Settled,
}

/// What happens to a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(strum::EnumIter))]
pub enum Event {
    /// The entry goes on the wire.
    Submit,
    /// The venue filled the entry.
    Fill,
    /// The venue refused the entry.
    Reject,
    /// No answer (timeout, crash).
    Lost,
    /// The venue refused the entry as a duplicate client order id.
    Duplicate,
    /// A lookup found the unknown entry filled.
    FoundFilled,
    /// A lookup found it refused, or (position flat) never received.
    FoundFailed,
    /// A protective stop attempt goes on the wire.
    StopSend,
    /// The protective stop is in place (answered or found).
    StopPlaced {
        /// A trailing stop is asked for.
        trailing: bool,
    },
    /// The stop could not be placed: a close goes on the wire.
    Close,
    /// The close filled, or the position was already gone.
    Closed,
    /// Every close attempt failed.
    CloseFailed,
    /// A later run found the position gone or not the entry's.
    PositionGone,
    /// A trailing-stop attempt goes on the wire.
    TrailSend,
    /// The trailing stop is in place.
    TrailPlaced,
    /// The trailing stop was refused or ran out of attempts.
    TrailFailed,
    /// The position was gone when the trailing stop's turn came.
    TrailDropped,
}

/// A (phase, event) pair the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("position in phase {from:?} cannot take event {event:?}")]
pub struct PhaseError {
    /// Phase before.
    pub from: Phase,
    /// Refused event.
    pub event: Event,
}

impl Phase {
    /// The phase of a journaled row (`executed`: a position may have opened; `error`: has one).
    pub fn of(
        state: OrderState,
        stop: StopState,
        trailing: TrailingState,
        executed: bool,
        error: bool,
    ) -> Phase {
        use OrderState as O;
        use StopState as S;
        match (state, stop) {
            (O::Pending, _) => Phase::EntryPending,
            (O::Sent, _) => Phase::EntrySent,
            (O::Unknown, _) => Phase::EntryUnknown,
            (O::Exists, _) => Phase::EntryExists,
            (O::Failed, _) => Phase::EntryFailed,
            (O::Filled | O::Resolved, S::None) if !executed => Phase::EntryFailed,
            (O::Filled | O::Resolved, S::CloseFailed) => Phase::Unprotected,
            (O::Filled | O::Resolved, S::Closed) => Phase::Closed,
            (O::Filled | O::Resolved, S::Gone) => Phase::Gone,
            // An error beside an unfinished step: an earlier version settled it.
            (O::Filled | O::Resolved, S::None | S::Sending) if error => Phase::Settled,
            (O::Filled | O::Resolved, S::None) => Phase::Filled,
            (O::Filled | O::Resolved, S::Sending) => Phase::Protecting,
            (O::Filled | O::Resolved, S::Closing) => Phase::Closing,
            // A position reported with an error is not pursued further.
            (O::Filled | O::Resolved, S::Placed) if error && !trailing.is_final() => Phase::Settled,
            (O::Filled | O::Resolved, S::Placed) => Phase::Protected(trailing),
        }
    }

    /// The phase after `event`, or an error for any pair not listed.
    pub fn transition(self, event: Event) -> Result<Phase, PhaseError> {
        use Event as E;
        use Phase as P;
        use TrailingState as T;
        match (self, event) {
            (P::EntryPending, E::Submit) => Ok(P::EntrySent),
            (P::EntryPending | P::EntrySent, E::Lost) => Ok(P::EntryUnknown),
            (P::EntrySent, E::Fill) => Ok(P::Filled),
            (P::EntrySent, E::Reject) => Ok(P::EntryFailed),
            (P::EntrySent, E::Duplicate) => Ok(P::EntryExists),
            (P::EntryUnknown | P::EntryExists, E::FoundFilled) => Ok(P::Filled),
            (P::EntryUnknown | P::EntryExists, E::FoundFailed) => Ok(P::EntryFailed),
            // A retry is another send; an unprotected position is tried again.
            (P::Filled | P::Protecting | P::Unprotected, E::StopSend) => Ok(P::Protecting),
            (P::Filled | P::Protecting | P::Unprotected, E::StopPlaced { trailing }) => {
                Ok(P::Protected(if trailing { T::Pending } else { T::Off }))
            }
            (P::Filled | P::Protecting | P::Closing, E::Close) => Ok(P::Closing),
            // `Unprotected`: a close that got no answer is found filled by lookup.
            (P::Closing | P::Unprotected, E::Closed) => Ok(P::Closed),
            (P::Closing, E::CloseFailed) => Ok(P::Unprotected),
            (P::Filled | P::Protecting | P::Unprotected, E::PositionGone) => Ok(P::Gone),
            // The trailing stop only ever follows the protective stop.
            (P::Protected(T::Pending | T::Sending), E::TrailSend) => Ok(P::Protected(T::Sending)),
            (P::Protected(T::Pending | T::Sending), E::TrailPlaced) => Ok(P::Protected(T::Placed)),
            (P::Protected(T::Pending | T::Sending), E::TrailFailed) => Ok(P::Protected(T::Failed)),
            (P::Protected(T::Pending | T::Sending), E::TrailDropped) => {
                Ok(P::Protected(T::Dropped))
            }
            (from, event) => Err(PhaseError { from, event }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{OrderEvent, StopEvent, TrailingEvent};
    use Event as E;
    use OrderState as O;
    use Phase as P;
    use StopState as S;
    use TrailingState as T;
    use strum::IntoEnumIterator;

    /// Every phase, each trailing step of `Protected` included.
    fn all_phases() -> Vec<Phase> {
        let protected = T::iter().map(P::Protected);
        Phase::iter().chain(protected).collect()
    }

    /// Every event, `StopPlaced` with and without a trailing stop.
    fn all_events() -> Vec<Event> {
        let trailing = E::StopPlaced { trailing: true };
        Event::iter().chain([trailing]).collect()
    }

    /// Every allowed pair and where it leads; every other pair must be refused.
    fn allowed() -> Vec<(Phase, Event, Phase)> {
        let mut v = vec![
            (P::EntryPending, E::Submit, P::EntrySent),
            (P::EntryPending, E::Lost, P::EntryUnknown),
            (P::EntrySent, E::Lost, P::EntryUnknown),
            (P::EntrySent, E::Fill, P::Filled),
            (P::EntrySent, E::Reject, P::EntryFailed),
            (P::EntrySent, E::Duplicate, P::EntryExists),
            (P::EntryUnknown, E::FoundFilled, P::Filled),
            (P::EntryExists, E::FoundFilled, P::Filled),
            (P::EntryUnknown, E::FoundFailed, P::EntryFailed),
            (P::EntryExists, E::FoundFailed, P::EntryFailed),
            (P::Filled, E::Close, P::Closing),
            (P::Protecting, E::Close, P::Closing),
            (P::Closing, E::Close, P::Closing),
            (P::Closing, E::Closed, P::Closed),
            (P::Unprotected, E::Closed, P::Closed),
            (P::Closing, E::CloseFailed, P::Unprotected),
        ];
        for p in [P::Filled, P::Protecting, P::Unprotected] {
            v.push((p, E::StopSend, P::Protecting));
            let off = E::StopPlaced { trailing: false };
            v.push((p, off, P::Protected(T::Off)));
            let on = E::StopPlaced { trailing: true };
            v.push((p, on, P::Protected(T::Pending)));
            v.push((p, E::PositionGone, P::Gone));
        }
        for t in [T::Pending, T::Sending] {
            let p = P::Protected(t);
            v.push((p, E::TrailSend, P::Protected(T::Sending)));
            v.push((p, E::TrailPlaced, P::Protected(T::Placed)));
            v.push((p, E::TrailFailed, P::Protected(T::Failed)));
            v.push((p, E::TrailDropped, P::Protected(T::Dropped)));
        }
        v
    }

    #[test]
    fn every_phase_and_event_pair_is_listed_or_refused() {
        let allowed = allowed();
        let mut n = 0;
        for p in all_phases() {
            for e in all_events() {
                n += 1;
                let want = allowed
                    .iter()
                    .find(|(a, b, _)| *a == p && *b == e)
                    .map(|t| t.2);
                let want = want.ok_or(PhaseError { from: p, event: e });
                assert_eq!(p.transition(e), want, "{p:?} {e:?}");
            }
        }
        assert_eq!(n, 18 * 18);
        // Never backwards: nothing is ever sent again for a filled entry.
        for p in all_phases() {
            assert!(p.transition(E::Submit).is_err() || p == P::EntryPending);
        }
    }

    /// A representative row of each phase: (entry, stop, trailing, executed, error).
    fn row_of(p: Phase) -> Option<(O, S, T, bool, bool)> {
        Some(match p {
            P::EntryPending => (O::Pending, S::None, T::Off, false, false),
            P::EntrySent => (O::Sent, S::None, T::Off, false, false),
            P::EntryUnknown => (O::Unknown, S::None, T::Off, false, false),
            P::EntryExists => (O::Exists, S::None, T::Off, false, false),
            P::EntryFailed => (O::Failed, S::None, T::Off, false, true),
            P::Filled => (O::Filled, S::None, T::Off, true, false),
            P::Protecting => (O::Filled, S::Sending, T::Off, true, false),
            P::Protected(t) => (O::Filled, S::Placed, t, true, false),
            P::Closing => (O::Filled, S::Closing, T::Off, true, false),
            P::Closed => (O::Filled, S::Closed, T::Off, false, true),
            P::Unprotected => (O::Filled, S::CloseFailed, T::Off, true, true),
            P::Gone => (O::Filled, S::Gone, T::Off, true, true),
            P::Settled => return None,
        })
    }

    /// What the journal's column machines do on `e`; `None`: they refuse it.
    fn columns_after(
        (o, s, t, executed, error): (O, S, T, bool, bool),
        e: Event,
    ) -> Option<(O, S, T, bool, bool)> {
        let settle =
            |ev, executed, error| o.transition(ev).ok().map(|o| (o, s, t, executed, error));
        let order = |ev| settle(ev, executed, error);
        let stop = |ev, executed, error| s.transition(ev).ok().map(|s| (o, s, t, executed, error));
        let trail = |ev| t.transition(ev).ok().map(|t| (o, s, t, executed, error));
        match e {
            E::Submit => order(OrderEvent::Submit),
            E::Fill => settle(OrderEvent::Fill, true, false),
            E::Reject => settle(OrderEvent::Reject, false, true),
            E::Lost => order(OrderEvent::Lost),
            E::Duplicate => order(OrderEvent::Duplicate),
            E::FoundFilled => settle(OrderEvent::Resolve, true, false),
            E::FoundFailed => settle(OrderEvent::Resolve, false, true),
            // Only a filled entry's stop columns move (the machines there know no entry).
            _ if !matches!(o, O::Filled | O::Resolved) => None,
            // Sending again for an unprotected position clears its `close_failed` error.
            E::StopSend => stop(StopEvent::Send, executed, error && s != S::CloseFailed),
            E::StopPlaced { trailing } => s.transition(StopEvent::Place).ok().map(|s| {
                let t = if trailing { T::Pending } else { T::Off };
                (o, s, t, true, false)
            }),
            E::Close => stop(StopEvent::Close, executed, error),
            E::Closed => stop(StopEvent::Closed, false, true),
            E::CloseFailed => stop(StopEvent::CloseFailed, true, true),
            E::PositionGone => stop(StopEvent::Gone, true, true),
            // The trailing step only after the stop is in place.
            _ if s != S::Placed => None,
            E::TrailSend => trail(TrailingEvent::Send),
            E::TrailPlaced => trail(TrailingEvent::Place),
            E::TrailFailed => trail(TrailingEvent::Fail),
            E::TrailDropped => trail(TrailingEvent::Drop),
        }
    }

    #[test]
    fn the_journal_columns_move_exactly_as_the_table_says() {
        for p in all_phases() {
            let Some(row) = row_of(p) else { continue };
            let (o, s, t, executed, error) = row;
            assert_eq!(Phase::of(o, s, t, executed, error), p, "{row:?}");
            for e in all_events() {
                let by_table = p.transition(e).ok();
                let by_columns =
                    columns_after(row, e).map(|(o, s, t, x, err)| Phase::of(o, s, t, x, err));
                assert_eq!(by_columns, by_table, "{p:?} {e:?}");
            }
        }
    }

    #[test]
    fn legacy_rows_are_settled() {
        let settled = [
            (O::Filled, S::Sending, T::Off, true, true),
            (O::Filled, S::None, T::Off, true, true),
            (O::Resolved, S::Placed, T::Pending, true, true),
        ];
        for (o, s, t, x, e) in settled {
            assert_eq!(Phase::of(o, s, t, x, e), P::Settled);
        }
        assert_eq!(
            Phase::of(O::Resolved, S::None, T::Off, false, true),
            P::EntryFailed,
            "not received"
        );
    }
}

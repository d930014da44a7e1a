//! The order lifecycle's decisions as pure functions (no I/O, in the style of NautilusTrader's
//! `OrderStatus::transition`): [`plan`] for a journaled row, [`after_lookup`],
//! [`after_position_check`], [`after_holder`], [`after_send`]; `recover.rs` carries them out.

use super::phase::Phase;
use crate::journal::{OrderState, StopState, TrailingState};

/// Why an order is looked up, which decides what "not found" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// No answer: "not found" every time (and a flat symbol) means the venue never got it.
    Unanswered,
    /// Refused as a duplicate client order id: "not found" is not believed.
    Exists,
}

/// Which run sent the entry: decides whether a position it filled can be taken as its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// This run, under the symbol's lock held since its duplicate check: a fill is its own.
    ThisRun,
    /// An earlier run: the position may have been closed and opened again since.
    EarlierRun,
}

/// The part of a journal row the plan depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row<'a> {
    /// Entry state.
    pub state: OrderState,
    /// A position opened (or may have).
    pub executed: bool,
    /// Stop step.
    pub stop: StopState,
    /// Trailing-stop step.
    pub trailing: TrailingState,
    /// Journaled error, if any.
    pub error: Option<&'a str>,
}

/// The next step for a journaled row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Look the entry up (`mark_lost`: first journal it `unknown`).
    LookUp {
        /// What "not found" means.
        lookup: Lookup,
        /// The row is `pending`/`sent`: journal it `unknown` first.
        mark_lost: bool,
    },
    /// A close was journaled (its stop could not be placed): finish it, on its own position.
    FinishClose,
    /// The position was left without a stop and its close failed: protect it again.
    Reprotect,
    /// A filled entry whose stop step did not finish: give it its stop, on its own position.
    ProtectOwn,
    /// A protected position whose trailing stop is unsettled: look it up, else place it.
    Trail,
    /// Settled: report it as journaled.
    Report,
}

/// The row's phase in the one position lifecycle ([`Phase`]).
pub fn phase(row: &Row) -> Phase {
    Phase::of(
        row.state,
        row.stop,
        row.trailing,
        row.executed,
        row.error.is_some(),
    )
}

/// The next step for a journaled row, by its phase.
pub fn plan(row: &Row) -> Next {
    use Phase as P;
    match phase(row) {
        P::EntryPending | P::EntrySent => Next::LookUp {
            lookup: Lookup::Unanswered,
            mark_lost: true,
        },
        P::EntryUnknown => Next::LookUp {
            lookup: Lookup::Unanswered,
            mark_lost: false,
        },
        P::EntryExists => Next::LookUp {
            lookup: Lookup::Exists,
            mark_lost: false,
        },
        // Never report a fill executed before its stop is known to exist (docs/design.md §3).
        P::Filled | P::Protecting => Next::ProtectOwn,
        P::Closing => Next::FinishClose,
        P::Unprotected => Next::Reprotect,
        P::Protected(TrailingState::Pending | TrailingState::Sending) => Next::Trail,
        P::Protected(_) | P::EntryFailed | P::Closed | P::Gone | P::Settled => Next::Report,
    }
}

/// What one lookup of an unsettled entry found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Filled (a position opened).
    Filled,
    /// Refused or cancelled without a fill.
    Rejected,
    /// Accepted, not filled yet.
    Open,
    /// The venue knows no order under the id.
    Missing,
    /// The lookup itself failed (unreachable, throttled).
    Unreadable,
}

/// What to do after a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterLookup {
    /// Place the stop of this run's own fill.
    Protect,
    /// Place the stop only if the position is still the entry's own.
    ProtectOwn,
    /// Settled failed (with the venue's reason).
    Failed,
    /// Look again after a pause.
    LookAgain,
    /// The last lookup found nothing: decide by the position ([`after_position_check`]).
    CheckPosition,
    /// Settled "not received".
    NotReceived,
    /// Unresolved: the order holds its slot for a later run.
    HoldSlot,
}

/// The decision after lookup `found` (`last`: no lookup attempts left).
pub fn after_lookup(found: Found, lookup: Lookup, sender: Sender, last: bool) -> AfterLookup {
    match (found, lookup, sender) {
        // A fill is this run's own only if this run sent the order that filled.
        (Found::Filled, Lookup::Unanswered, Sender::ThisRun) => AfterLookup::Protect,
        (Found::Filled, _, _) => AfterLookup::ProtectOwn,
        (Found::Rejected, _, _) => AfterLookup::Failed,
        // An order answered late may show up only after a moment; an existing id is believed.
        (Found::Missing, Lookup::Unanswered, _) if last => AfterLookup::CheckPosition,
        (Found::Missing | Found::Open | Found::Unreadable, _, _) if last => AfterLookup::HoldSlot,
        (Found::Missing | Found::Open | Found::Unreadable, _, _) => AfterLookup::LookAgain,
    }
}

/// "Not found" by every lookup: not received only when the symbol is flat on the order's side
/// (`None`: unreadable).
pub fn after_position_check(flat_on_side: Option<bool>) -> AfterLookup {
    match flat_on_side {
        Some(true) => AfterLookup::NotReceived,
        Some(false) | None => AfterLookup::HoldSlot,
    }
}

/// Whose the symbol's position is, as far as a journaled fill can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// Open, with the fill's side and size: the entry's own position.
    This,
    /// Gone, or not the entry's (another side or size): closed outside the agent.
    NotThis,
    /// The position could not be read, or the fill's size is not known.
    Unknown,
}

/// What to do with a filled entry of an earlier run once its position's holder is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnStep {
    /// Its own position: protect it (stop, else close).
    Protect,
    /// Not its own: settle it without touching the position.
    LeaveAlone,
    /// Unknown: send nothing, hold the slot.
    HoldSlot,
}

/// The decision for a filled entry of an earlier run by its position's holder.
pub fn after_holder(holder: Holder) -> OwnStep {
    match holder {
        Holder::This => OwnStep::Protect,
        Holder::NotThis => OwnStep::LeaveAlone,
        Holder::Unknown => OwnStep::HoldSlot,
    }
}

/// Which protective order an attempt sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protective {
    /// The protective stop: the position is unprotected until it is in place.
    Stop,
    /// The trailing stop, behind a protective stop already in place.
    Trailing,
}

/// The venue's answer to one stop or trailing-stop attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// In place.
    Placed,
    /// Refused by the venue's rules.
    Refused,
    /// Not sent (unreachable).
    NotSent,
    /// No position to protect.
    NoPosition,
    /// Held back by the venue's rate limit (nothing sent).
    Throttled,
    /// No answer, or "duplicate id": it may be in place.
    Unanswered,
}

/// What to do after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterSend {
    /// In place: record it.
    Done,
    /// Send the next attempt (a fresh derived id).
    NextAttempt,
    /// Wait out the cool-down, then send this attempt again (nothing was sent).
    CoolDownThenSame,
    /// Wait out the cool-down, then send the next attempt.
    CoolDownThenNext,
    /// Look the attempt up: in place is [`AfterSend::Done`], else the next attempt.
    LookUp,
    /// Stop trying (the stop: go on to close; the trailing stop: it failed).
    GiveUp,
}

/// The decision after one attempt. The stop retries a refusal (the price may have moved) and
/// waits through throttling: a position is never left unprotected for a rate limit. The
/// trailing stop gives up on a refusal (it would be refused again); the stop stays.
pub fn after_send(kind: Protective, answer: Answer) -> AfterSend {
    use AfterSend as A;
    match (kind, answer) {
        (_, Answer::Placed) => A::Done,
        (_, Answer::Unanswered) => A::LookUp,
        (_, Answer::NotSent) => A::NextAttempt,
        (_, Answer::NoPosition) => A::GiveUp,
        (Protective::Stop, Answer::Refused) => A::NextAttempt,
        (Protective::Trailing, Answer::Refused) => A::GiveUp,
        (Protective::Stop, Answer::Throttled) => A::CoolDownThenSame,
        (Protective::Trailing, Answer::Throttled) => A::CoolDownThenNext,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderState as O;
    use StopState as S;
    use TrailingState as T;

    fn row(state: O, executed: bool, stop: S, error: Option<&str>) -> Row<'_> {
        Row {
            state,
            executed,
            stop,
            trailing: T::Off,
            error,
        }
    }

    fn rt(trailing: T, state: O, executed: bool, stop: S, error: Option<&str>) -> Row<'_> {
        Row {
            trailing,
            ..row(state, executed, stop, error)
        }
    }

    #[test]
    fn plan_of_every_journal_row() {
        use super::super::STOP_FAILED_CLOSE_FAILED as CLOSE_FAILED;
        use super::super::{CLOSED_ELSEWHERE as ELSEWHERE, STOP_FAILED_CLOSED as CLOSED};
        use Next::{FinishClose, ProtectOwn as Own, Report, Reprotect, Trail};
        let look = |lookup, mark_lost| Next::LookUp { lookup, mark_lost };
        let lost = look(Lookup::Unanswered, true);
        let unknown = look(Lookup::Unanswered, false);
        let exists = look(Lookup::Exists, false);
        let table: Vec<(Row, Next)> = vec![
            (row(O::Pending, false, S::None, None), lost),
            (row(O::Sent, false, S::None, None), lost),
            (row(O::Unknown, false, S::None, None), unknown),
            (row(O::Exists, false, S::None, None), exists),
            (row(O::Filled, true, S::None, None), Own),
            (row(O::Filled, true, S::Sending, None), Own),
            (row(O::Resolved, true, S::Sending, None), Own),
            (row(O::Filled, true, S::Closing, None), FinishClose),
            (
                row(O::Filled, true, S::CloseFailed, Some(CLOSE_FAILED)),
                Reprotect,
            ),
            (row(O::Resolved, true, S::CloseFailed, Some("x")), Reprotect),
            (row(O::Filled, true, S::Placed, None), Report),
            (row(O::Filled, false, S::Closed, Some(CLOSED)), Report),
            (row(O::Filled, true, S::Gone, Some(ELSEWHERE)), Report),
            // An earlier version's bookkeeping settled it (error without a finished step).
            (row(O::Filled, true, S::Sending, Some(CLOSED)), Report),
            (row(O::Failed, false, S::None, Some("rejected")), Report),
            (
                row(O::Resolved, false, S::None, Some("not_received")),
                Report,
            ),
            // The trailing stop follows the protective stop, never precedes it.
            (rt(T::Pending, O::Filled, true, S::Placed, None), Trail),
            (rt(T::Sending, O::Resolved, true, S::Placed, None), Trail),
            (rt(T::Pending, O::Filled, true, S::Sending, None), Own),
            (
                rt(T::Pending, O::Filled, true, S::CloseFailed, Some("x")),
                Reprotect,
            ),
            (
                rt(T::Pending, O::Filled, false, S::Closed, Some("c")),
                Report,
            ),
            (rt(T::Pending, O::Filled, true, S::Gone, Some("g")), Report),
            (rt(T::Placed, O::Filled, true, S::Placed, None), Report),
            (rt(T::Failed, O::Filled, true, S::Placed, None), Report),
            (rt(T::Dropped, O::Filled, true, S::Placed, None), Report),
        ];
        for (r, want) in table {
            assert_eq!(plan(&r), want, "{r:?}");
        }
    }

    #[test]
    fn decision_after_every_protective_answer() {
        use AfterSend as A;
        use Answer as N;
        use Protective::{Stop, Trailing};
        let table = [
            (Stop, N::Placed, A::Done),
            (Stop, N::Refused, A::NextAttempt),
            (Stop, N::NotSent, A::NextAttempt),
            (Stop, N::NoPosition, A::GiveUp),
            (Stop, N::Throttled, A::CoolDownThenSame),
            (Stop, N::Unanswered, A::LookUp),
            (Trailing, N::Placed, A::Done),
            (Trailing, N::Refused, A::GiveUp),
            (Trailing, N::NotSent, A::NextAttempt),
            (Trailing, N::NoPosition, A::GiveUp),
            (Trailing, N::Throttled, A::CoolDownThenNext),
            (Trailing, N::Unanswered, A::LookUp),
        ];
        for (kind, answer, want) in table {
            assert_eq!(after_send(kind, answer), want, "{kind:?} {answer:?}");
        }
    }

    #[test]
    fn decisions_after_every_lookup() {
        use AfterLookup as A;
        use Found as F;
        use Lookup::{Exists, Unanswered};
        use Sender::{EarlierRun, ThisRun};
        let table = [
            (F::Filled, Unanswered, ThisRun, false, A::Protect),
            (F::Filled, Unanswered, ThisRun, true, A::Protect),
            (F::Filled, Exists, ThisRun, false, A::ProtectOwn),
            (F::Filled, Unanswered, EarlierRun, false, A::ProtectOwn),
            (F::Rejected, Unanswered, ThisRun, false, A::Failed),
            (F::Rejected, Exists, EarlierRun, true, A::Failed),
            (F::Missing, Unanswered, ThisRun, false, A::LookAgain),
            (F::Missing, Unanswered, ThisRun, true, A::CheckPosition),
            (F::Missing, Unanswered, EarlierRun, true, A::CheckPosition),
            (F::Missing, Exists, ThisRun, false, A::LookAgain),
            (F::Missing, Exists, ThisRun, true, A::HoldSlot),
            (F::Open, Unanswered, ThisRun, false, A::LookAgain),
            (F::Open, Unanswered, ThisRun, true, A::HoldSlot),
            (F::Unreadable, Exists, EarlierRun, false, A::LookAgain),
            (F::Unreadable, Unanswered, ThisRun, true, A::HoldSlot),
        ];
        for (found, lookup, sender, last, want) in table {
            assert_eq!(
                after_lookup(found, lookup, sender, last),
                want,
                "{found:?} {lookup:?} {sender:?} last={last}"
            );
        }
        assert_eq!(after_position_check(Some(true)), A::NotReceived);
        assert_eq!(after_position_check(Some(false)), A::HoldSlot);
        assert_eq!(after_position_check(None), A::HoldSlot);
        assert_eq!(after_holder(Holder::This), OwnStep::Protect);
        assert_eq!(after_holder(Holder::NotThis), OwnStep::LeaveAlone);
        assert_eq!(after_holder(Holder::Unknown), OwnStep::HoldSlot);
    }
}

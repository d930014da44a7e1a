//! The trailing stop's step, journaled on the entry's row: `off` (none asked), or `pending →
//! sending → placed | failed | dropped` (position gone or not the entry's). `sending` commits
//! before each attempt leaves, so a later run looks up the ids up to it: never placed twice.

use chrono::Utc;
use strum::{Display, EnumIter, EnumString};

use super::writer::Stmt;
use super::{Journal, JournalError};

/// Where the trailing stop of a filled entry stands, stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Display, EnumString, EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum TrailingState {
    /// No trailing stop asked for.
    Off,
    /// Asked for; nothing sent yet (waits for the protective stop).
    Pending,
    /// Attempt `trailing_attempt` may be on the wire; outcome not recorded.
    Sending,
    /// The exchange holds it.
    Placed,
    /// The venue refused it or every attempt failed; the protective stop stays.
    Failed,
    /// The entry's position was gone (or not its own) when a later run came to place it.
    Dropped,
}

/// What happened in the trailing step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter)]
pub enum TrailingEvent {
    /// An attempt goes on the wire.
    Send,
    /// The exchange holds it (answered, or found by lookup).
    Place,
    /// Refused, or out of attempts.
    Fail,
    /// The position is gone or not the entry's: nothing is sent.
    Drop,
}

/// A trailing-step change the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("trailing stop in state {from} cannot take event {event:?}")]
pub struct TrailingTransitionError {
    /// State before.
    pub from: TrailingState,
    /// Refused event.
    pub event: TrailingEvent,
}

impl TrailingState {
    /// The state after `event`, or an error for any pair not listed.
    pub fn transition(self, event: TrailingEvent) -> Result<Self, TrailingTransitionError> {
        use TrailingEvent as E;
        use TrailingState as S;
        match (self, event) {
            // A retry is another `Send` with the next attempt number.
            (S::Pending | S::Sending, E::Send) => Ok(S::Sending),
            // `Pending → Placed`: found by lookup, so the find is recorded.
            (S::Pending | S::Sending, E::Place) => Ok(S::Placed),
            (S::Pending | S::Sending, E::Fail) => Ok(S::Failed),
            (S::Pending | S::Sending, E::Drop) => Ok(S::Dropped),
            (from, event) => Err(TrailingTransitionError { from, event }),
        }
    }

    /// True when nothing is left to look up or send.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Sending)
    }
}

/// The compare-and-set statement of a trailing step (`attempt` and `error` stored when given).
fn trailing_stmt(
    client_order_id: &str,
    from: TrailingState,
    event: TrailingEvent,
    attempt: Option<u32>,
    error: Option<&str>,
) -> Result<(TrailingState, Stmt), TrailingTransitionError> {
    let to = from.transition(event)?;
    let stmt = Stmt::new(
        "UPDATE orders SET trailing_state = ?,
             trailing_attempt = COALESCE(?, trailing_attempt),
             trailing_error = COALESCE(?, trailing_error), updated_at = ?
         WHERE client_order_id = ? AND trailing_state = ?",
        vec![
            to.to_string().into(),
            attempt.map(i64::from).into(),
            error.into(),
            Utc::now().to_rfc3339().into(),
            client_order_id.into(),
            from.to_string().into(),
        ],
    )
    .expecting_a_row();
    Ok((to, stmt))
}

impl Journal {
    /// Records that trailing attempt `attempt` is about to leave; returns once committed.
    pub async fn trailing_step(
        &self,
        client_order_id: &str,
        from: TrailingState,
        attempt: u32,
    ) -> Result<TrailingState, JournalError> {
        let send = TrailingEvent::Send;
        let (to, stmt) = trailing_stmt(client_order_id, from, send, Some(attempt), None)?;
        let stale = format!("order {client_order_id}: trailing stop not in state {from}");
        self.commit(stmt, Some(JournalError::Write(stale))).await?;
        Ok(to)
    }

    /// Queues a trailing step's outcome (`Place`, `Fail` with its reason, `Drop`).
    pub fn trailing_step_later(
        &self,
        client_order_id: &str,
        from: TrailingState,
        event: TrailingEvent,
        error: Option<&str>,
    ) -> Result<TrailingState, JournalError> {
        let (to, stmt) = trailing_stmt(client_order_id, from, event, None, error)?;
        self.writer().queue(
            format!("order {client_order_id} trailing {from} -> {to}"),
            vec![stmt],
        );
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::*;
    use TrailingEvent as E;
    use TrailingState as S;

    #[test]
    fn exactly_the_listed_transitions_are_allowed() {
        let allowed = [
            (S::Pending, E::Send, S::Sending),
            (S::Sending, E::Send, S::Sending),
            (S::Pending, E::Place, S::Placed),
            (S::Sending, E::Place, S::Placed),
            (S::Pending, E::Fail, S::Failed),
            (S::Sending, E::Fail, S::Failed),
            (S::Pending, E::Drop, S::Dropped),
            (S::Sending, E::Drop, S::Dropped),
        ];
        crate::journal::tests::assert_transitions(&allowed, S::transition, |from, event| {
            TrailingTransitionError { from, event }
        });
        for s in S::iter() {
            assert_eq!(s.is_final(), s.transition(E::Send).is_err(), "{s}");
        }
        assert!("placed ".parse::<S>().is_err());
    }
}

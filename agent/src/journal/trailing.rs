//! The trailing stop's step, journaled on the entry's row next to the protective stop's.
//!
//! `off` (none asked) is final. Otherwise `pending → sending → placed | failed`, or
//! `pending | sending → dropped` when the position is gone or not the entry's. `sending`
//! commits before each attempt leaves, so a later run looks up the derived ids up to it and a
//! trailing stop is never placed twice; `pending` means none ever left. One exhaustive `match`
//! refuses unlisted changes.

use chrono::Utc;

use super::writer::Stmt;
use super::{Journal, JournalError};

/// Where the trailing stop of a filled entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        !matches!(self, TrailingState::Pending | TrailingState::Sending)
    }
}

column_enum!(TrailingState {
    Off => "off",
    Pending => "pending",
    Sending => "sending",
    Placed => "placed",
    Failed => "failed",
    Dropped => "dropped",
});

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
            to.as_str().into(),
            attempt.map(i64::from).into(),
            error.into(),
            Utc::now().to_rfc3339().into(),
            client_order_id.into(),
            from.as_str().into(),
        ],
    )
    .expecting_a_row();
    Ok((to, stmt))
}

impl Journal {
    /// Records that trailing attempt `attempt` is about to leave, and returns once committed
    /// (everything queued before it, such as the protective stop's `placed`, commits first).
    pub async fn trailing_step(
        &self,
        client_order_id: &str,
        from: TrailingState,
        attempt: u32,
    ) -> Result<TrailingState, JournalError> {
        let (to, stmt) = trailing_stmt(
            client_order_id,
            from,
            TrailingEvent::Send,
            Some(attempt),
            None,
        )?;
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
    use super::*;
    use TrailingEvent as E;
    use TrailingState as S;

    #[test]
    fn exactly_the_listed_transitions_are_allowed() {
        let all_s = [
            S::Off,
            S::Pending,
            S::Sending,
            S::Placed,
            S::Failed,
            S::Dropped,
        ];
        let all_e = [E::Send, E::Place, E::Fail, E::Drop];
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
        for s in all_s {
            for e in all_e {
                let want = allowed
                    .iter()
                    .find(|(a, b, _)| *a == s && *b == e)
                    .map(|t| t.2);
                match want {
                    Some(to) => assert_eq!(s.transition(e), Ok(to), "{s} {e:?}"),
                    None => assert_eq!(
                        s.transition(e),
                        Err(TrailingTransitionError { from: s, event: e }),
                        "{s} {e:?}"
                    ),
                }
            }
            assert_eq!(S::parse(s.as_str()), Some(s));
            assert_eq!(s.is_final(), s.transition(E::Send).is_err());
        }
        assert_eq!(S::parse("placed "), None);
    }
}

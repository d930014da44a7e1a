//! The journal's order states: `pending → sent → filled | failed | unknown | exists →
//! resolved`; [`OrderState::transition`] refuses every unlisted pair (never backwards).

use strum::{Display, EnumIter, EnumString};

/// State of one journaled order, stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Display, EnumString, EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum OrderState {
    /// Recorded with its client order id; not (known to be) on the wire yet.
    Pending,
    /// Handed to the exchange; no answer yet.
    Sent,
    /// The exchange filled the entry.
    Filled,
    /// The exchange rejected it, or it was never placed.
    Failed,
    /// Outcome unknown (timeout, dropped connection, crash): must be looked up, never re-sent.
    Unknown,
    /// Refused as a duplicate client order id: looked up until found ("not found" is not
    /// believed).
    Exists,
    /// An unknown outcome settled by looking the order up by its client order id.
    Resolved,
}

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter)]
pub enum OrderEvent {
    /// The request goes on the wire.
    Submit,
    /// The exchange reported a fill.
    Fill,
    /// The exchange refused it.
    Reject,
    /// No answer: timeout, connection lost, or a crash found it `pending`/`sent`.
    Lost,
    /// The exchange refused it as a duplicate client order id: an order under the id exists.
    Duplicate,
    /// A lookup by client order id settled an unknown outcome.
    Resolve,
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("order in state {from} cannot take event {event:?}")]
pub struct TransitionError {
    /// State before.
    pub from: OrderState,
    /// Refused event.
    pub event: OrderEvent,
}

impl OrderState {
    /// The state after `event`, or an error for any pair not listed.
    pub fn transition(self, event: OrderEvent) -> Result<OrderState, TransitionError> {
        use OrderEvent as E;
        use OrderState as S;
        match (self, event) {
            (S::Pending, E::Submit) => Ok(S::Sent),
            // A crash between journaling and sending: whether it left is unknown.
            (S::Pending, E::Lost) => Ok(S::Unknown),
            (S::Sent, E::Fill) => Ok(S::Filled),
            (S::Sent, E::Reject) => Ok(S::Failed),
            (S::Sent, E::Lost) => Ok(S::Unknown),
            (S::Sent, E::Duplicate) => Ok(S::Exists),
            (S::Unknown | S::Exists, E::Resolve) => Ok(S::Resolved),
            (from, event) => Err(TransitionError { from, event }),
        }
    }

    /// True when the outcome is settled (no lookup needed).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Filled | Self::Failed | Self::Resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderEvent as E;
    use OrderState as S;

    #[test]
    fn exactly_the_listed_transitions_are_allowed() {
        let allowed = [
            (S::Pending, E::Submit, S::Sent),
            (S::Pending, E::Lost, S::Unknown),
            (S::Sent, E::Fill, S::Filled),
            (S::Sent, E::Reject, S::Failed),
            (S::Sent, E::Lost, S::Unknown),
            (S::Sent, E::Duplicate, S::Exists),
            (S::Unknown, E::Resolve, S::Resolved),
            (S::Exists, E::Resolve, S::Resolved),
        ];
        crate::journal::tests::assert_transitions(&allowed, S::transition, |from, event| {
            TransitionError { from, event }
        });
        assert!(S::Filled.transition(E::Submit).is_err(), "never re-sent");
    }
}

//! SQL of the stop step (see [`StopState`]): compare-and-set updates of the entry's row.

use chrono::Utc;

use super::stop_state::{StopEvent, StopState, StopTransitionError};
use super::writer::Stmt;

/// The compare-and-set statement of a step sending attempt `attempt`. `Send` also raises
/// `stops_sent`, which a close's attempt does not overwrite, so those stops are looked up.
pub(super) fn stop_stmt(
    client_order_id: &str,
    from: StopState,
    event: StopEvent,
    attempt: u32,
) -> Result<(StopState, Stmt), StopTransitionError> {
    let to = from.transition(event)?;
    let stops_sent = if event == StopEvent::Send {
        i64::from(attempt) + 1
    } else {
        0
    };
    // Protecting a `close_failed` position again clears its error, so it never reads settled.
    let stmt = Stmt::new(
        "UPDATE orders SET stop_state = ?, stop_attempt = ?, stops_sent = MAX(stops_sent, ?),
             updated_at = ?, error = CASE WHEN ? THEN NULL ELSE error END
         WHERE client_order_id = ? AND stop_state = ?",
        vec![
            to.to_string().into(),
            i64::from(attempt).into(),
            stops_sent.into(),
            Utc::now().to_rfc3339().into(),
            (from == StopState::CloseFailed).into(),
            client_order_id.into(),
            from.to_string().into(),
        ],
    )
    .expecting_a_row();
    Ok((to, stmt))
}

/// The compare-and-set statement of a stop step's outcome (attempt unchanged).
pub(super) fn stop_outcome_stmt(
    client_order_id: &str,
    from: StopState,
    event: StopEvent,
) -> Result<(StopState, Stmt), StopTransitionError> {
    let to = from.transition(event)?;
    let stmt = Stmt::new(
        "UPDATE orders SET stop_state = ?, updated_at = ?
         WHERE client_order_id = ? AND stop_state = ?",
        vec![
            to.to_string().into(),
            Utc::now().to_rfc3339().into(),
            client_order_id.into(),
            from.to_string().into(),
        ],
    )
    .expecting_a_row();
    Ok((to, stmt))
}

//! SQL of the stop step (see [`StopState`]): compare-and-set updates of the entry's row.

use chrono::Utc;

use super::stop_state::{StopEvent, StopState, StopTransitionError};
use super::writer::Stmt;

/// The compare-and-set statement of a stop step that sends attempt `attempt`.
pub(super) fn stop_stmt(
    client_order_id: &str,
    from: StopState,
    event: StopEvent,
    attempt: u32,
) -> Result<(StopState, Stmt), StopTransitionError> {
    let to = from.transition(event)?;
    let stmt = Stmt::new(
        "UPDATE orders SET stop_state = ?, stop_attempt = ?, updated_at = ?
         WHERE client_order_id = ? AND stop_state = ?",
        vec![
            to.as_str().into(),
            i64::from(attempt).into(),
            Utc::now().to_rfc3339().into(),
            client_order_id.into(),
            from.as_str().into(),
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
            to.as_str().into(),
            Utc::now().to_rfc3339().into(),
            client_order_id.into(),
            from.as_str().into(),
        ],
    )
    .expecting_a_row();
    Ok((to, stmt))
}

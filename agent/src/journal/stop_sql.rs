//! SQL of the stop step (see [`StopState`]): compare-and-set updates of the entry's row.

use chrono::Utc;

use super::stop_state::{StopEvent, StopState, StopTransitionError};
use super::writer::Stmt;

/// The compare-and-set statement of a stop step that sends attempt `attempt`. A stop attempt
/// (`Send`) also raises `stops_sent` past it, which the close step's attempt number does not
/// overwrite: a run retrying protection of a `close_failed` position looks those stops up.
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
    // A stop sent again for a position left unprotected (`close_failed`) clears its error, so
    // a crash now leaves an unfinished step (`sending`) that a later run finishes, not a row
    // that reads as settled by an earlier version.
    let sql = if from == StopState::CloseFailed {
        "UPDATE orders SET stop_state = ?, stop_attempt = ?, stops_sent = MAX(stops_sent, ?),
             updated_at = ?, error = NULL
         WHERE client_order_id = ? AND stop_state = ?"
    } else {
        "UPDATE orders SET stop_state = ?, stop_attempt = ?, stops_sent = MAX(stops_sent, ?),
             updated_at = ?
         WHERE client_order_id = ? AND stop_state = ?"
    };
    let stmt = Stmt::new(
        sql,
        vec![
            to.as_str().into(),
            i64::from(attempt).into(),
            stops_sent.into(),
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

//! A batch of signal outcomes, and the events they produce, in a few multi-row statements.
//! On SQLite every statement is a round trip to sqlx's worker thread: a wave of 8 × 100
//! signals has ~900 outcomes, and one upsert each held the file's write lock (every ingest,
//! claim and completion waits for it) for tens of milliseconds (docs/benchmarks.md).

use std::collections::HashMap;

use wavegate_common::proto::v1 as pb;

use super::{NewEvent, insert_events, numbered};

/// Outcomes per statement at most: 16 placeholders each, 2048 in all (SQLite allows 32 766
/// since 3.32, PostgreSQL 65 535). A power of two: see [`chunks`].
const ROWS_PER_STATEMENT: usize = 128;

/// Placeholders of one outcome row.
const COLUMNS: usize = 16;

/// One outcome to store: exchange id, exchange name, the outcome.
pub(super) type OutcomeRow<'a> = (u32, &'a str, &'a pb::SignalOutcome);

/// The event a signal outcome produces, if any, with its severity.
fn outcome_event(o: &pb::SignalOutcome) -> Option<(&'static str, &'static str)> {
    match pb::OutcomeKind::try_from(o.kind).ok()? {
        pb::OutcomeKind::Executed => Some(("SIGNAL_EXECUTED", "info")),
        pb::OutcomeKind::ExecutionFailed => Some(("SIGNAL_EXECUTION_FAILED", "error")),
        pb::OutcomeKind::ValidationFailed => Some(("SIGNAL_VALIDATION_FAILED", "warning")),
        pb::OutcomeKind::Duplicate => Some(("POSITION_DUPLICATE_PREVENTED", "info")),
        pb::OutcomeKind::Validated | pb::OutcomeKind::Unspecified => None,
    }
}

/// Upserts `rows` (a re-sent outcome overwrites its row) and inserts their events once each,
/// as one upsert and one event insert per outcome, in order, would leave them.
pub(super) async fn upsert_outcomes(
    conn: &mut sqlx::AnyConnection,
    wave_id: &str,
    rows: &[OutcomeRow<'_>],
) -> Result<(), sqlx::Error> {
    for chunk in chunks(&last_of_each_row(rows)) {
        upsert_chunk(conn, wave_id, chunk).await?;
    }
    // Every outcome's event, in order: of one key the first stands (`DO NOTHING`), as before.
    let events: Vec<NewEvent<'_>> = rows
        .iter()
        .filter_map(|&(ex, name, o)| event(wave_id, ex, name, o))
        .collect();
    for chunk in chunks(&events) {
        insert_events(conn, chunk).await?;
    }
    Ok(())
}

/// `rows` in runs of [`ROWS_PER_STATEMENT`], then the rest in powers of two (27 = 16 + 8 +
/// 2 + 1): a handful of statement texts per table, each prepared once per connection and then
/// taken from sqlx's statement cache. A text per row count would be parsed anew almost every
/// time (for ~25 outcomes that cost more than the one-by-one upserts it replaced).
pub(super) fn chunks<T>(mut rows: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut size = ROWS_PER_STATEMENT;
    while !rows.is_empty() {
        if rows.len() >= size {
            let (head, rest) = rows.split_at(size);
            out.push(head);
            rows = rest;
        } else {
            size /= 2;
        }
    }
    out
}

/// The last content of each row (exchange, signal, stage): what upserts in order leave, and
/// one statement must not touch a row twice (PostgreSQL refuses `ON CONFLICT DO UPDATE` so).
fn last_of_each_row<'a>(rows: &[OutcomeRow<'a>]) -> Vec<OutcomeRow<'a>> {
    let mut last = HashMap::with_capacity(rows.len());
    for (i, (ex, _, o)) in rows.iter().enumerate() {
        last.insert((*ex, o.signal_id, o.stage), i);
    }
    rows.iter()
        .enumerate()
        .filter(|(i, (ex, _, o))| last.get(&(*ex, o.signal_id, o.stage)) == Some(i))
        .map(|(_, r)| *r)
        .collect()
}

async fn upsert_chunk(
    conn: &mut sqlx::AnyConnection,
    wave_id: &str,
    rows: &[OutcomeRow<'_>],
) -> Result<(), sqlx::Error> {
    let values: Vec<String> = (0..rows.len())
        .map(|i| format!("({})", numbered(1 + i * COLUMNS, COLUMNS)))
        .collect();
    let sql = format!(
        "INSERT INTO signal_outcomes (wave_id, exchange_id, signal_id, stage, idx, symbol, kind, \
         executed, error, client_order_id, exchange_order_id, fill_price, quantity, latency_us, \
         round, trailing_stop) VALUES {} \
         ON CONFLICT (wave_id, exchange_id, signal_id, stage) DO UPDATE SET idx = excluded.idx, \
         symbol = excluded.symbol, kind = excluded.kind, executed = excluded.executed, \
         error = excluded.error, client_order_id = excluded.client_order_id, \
         exchange_order_id = excluded.exchange_order_id, fill_price = excluded.fill_price, \
         quantity = excluded.quantity, latency_us = excluded.latency_us, round = excluded.round, \
         trailing_stop = excluded.trailing_stop",
        values.join(",")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for &(ex, _, o) in rows {
        q = q
            .bind(wave_id)
            .bind(i64::from(ex))
            .bind(o.signal_id)
            .bind(i64::from(o.stage))
            .bind(i64::from(o.index))
            .bind(o.symbol.as_str())
            .bind(i64::from(o.kind))
            .bind(i64::from(o.executed))
            .bind(o.error.as_str())
            .bind(o.client_order_id.as_str())
            .bind(o.exchange_order_id.as_str())
            .bind(o.fill_price)
            .bind(o.quantity)
            .bind(i64::try_from(o.exchange_latency_us).unwrap_or(i64::MAX))
            .bind(i64::from(o.round))
            .bind(o.trailing.as_str());
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// The event row of an outcome that produces one.
fn event<'a>(
    wave_id: &'a str,
    exchange_id: u32,
    exchange_name: &'a str,
    o: &'a pb::SignalOutcome,
) -> Option<NewEvent<'a>> {
    let (event_type, severity) = outcome_event(o)?;
    let data = serde_json::json!({
        "wave_id": wave_id,
        "exchange_id": exchange_id,
        "signal_id": o.signal_id,
        "index": o.index,
        "symbol": o.symbol,
        "error": o.error,
        "client_order_id": o.client_order_id,
        "exchange_order_id": o.exchange_order_id,
        "fill_price": o.fill_price,
        "quantity": o.quantity,
    });
    Some(NewEvent {
        event_type,
        event_data: data.to_string(),
        correlation_id: wave_id,
        symbol: Some(&o.symbol),
        exchange: Some(exchange_name),
        severity,
        dedup_key: Some(format!(
            "outcome:{wave_id}:{exchange_id}:{}:{}",
            o.signal_id, o.stage
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_outcome as outcome;

    #[test]
    fn rows_go_in_full_runs_then_powers_of_two_in_order() {
        let rows: Vec<usize> = (0..ROWS_PER_STATEMENT * 2 + 27).collect();
        let parts = chunks(&rows);
        let sizes: Vec<usize> = parts.iter().map(|c| c.len()).collect();
        let full = ROWS_PER_STATEMENT;
        assert_eq!(sizes, vec![full, full, 16, 8, 2, 1]);
        assert_eq!(parts.concat(), rows, "every row once, in order");
        assert!(chunks::<usize>(&[]).is_empty());
    }

    #[test]
    fn a_row_written_twice_keeps_its_last_content_and_rows_are_told_apart() {
        use pb::Stage::{Execution, Validation};
        let (a, b, c, d) = (
            outcome(7, Execution, "first"),
            outcome(7, Execution, "second"),
            outcome(7, Validation, ""),
            outcome(7, Execution, "other exchange"),
        );
        let rows = [(1, "x", &a), (1, "x", &c), (1, "x", &b), (2, "y", &d)];
        let kept: Vec<(u32, &str)> = last_of_each_row(&rows)
            .iter()
            .map(|(ex, _, o)| (*ex, o.error.as_str()))
            .collect();
        assert_eq!(kept, vec![(1, ""), (1, "second"), (2, "other exchange")]);
    }
}

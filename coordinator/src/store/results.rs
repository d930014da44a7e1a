//! Outcomes, results and a wave's completion (status and `WAVE_COMPLETED` once, one transaction).

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Acquire, Row as _};
use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::{ExchangeStats, WaveCompleted, WaveTotals};
use wavegate_common::timing::ExchangeTiming;

use super::waves::WaveStatus;
use super::{
    Backend, NewEvent, Store, insert_event, insert_events, ms, one_row, statement_chunks,
    values_rows,
};
use crate::error::CoordinatorError;

/// A signal outcome with its exchange.
pub type StoredOutcome = (u32, pb::SignalOutcome);

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

/// Columns of a `signal_outcomes` row, as [`upsert_outcomes`] binds them.
const OUTCOME_COLUMNS: usize = 16;

/// Outcomes written per statement at most (16 values each; see [`statement_chunks`]).
const OUTCOMES_PER_STATEMENT: usize = 128;

/// An outcome to store: exchange id, exchange name, outcome.
type OutcomeRow<'a> = (u32, &'a str, &'a pb::SignalOutcome);

/// A stored outcome's row: exchange, signal, stage (`signal_outcomes`' key).
pub(crate) type OutcomeKey = (u32, i64, i32);

/// The row an outcome of `exchange_id` is stored in.
pub(crate) fn outcome_key(exchange_id: u32, o: &pb::SignalOutcome) -> OutcomeKey {
    (exchange_id, o.signal_id, o.stage)
}

/// Stores `outcomes` in order (a later one of the same row overwrites an earlier one) and the
/// events they produce (a re-sent one is skipped), a few hundred rows per statement: one
/// round trip per statement, not two per outcome.
async fn upsert_outcomes(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    wave_id: &str,
    outcomes: &[OutcomeRow<'_>],
) -> Result<(), sqlx::Error> {
    // One statement may not update a row twice (PostgreSQL refuses it): the last one per row.
    let row = |(ex, _, o): &OutcomeRow<'_>| outcome_key(*ex, o);
    let last: std::collections::HashMap<_, usize> = outcomes
        .iter()
        .enumerate()
        .map(|(i, r)| (row(r), i))
        .collect();
    let lasts: Vec<&OutcomeRow<'_>> = outcomes
        .iter()
        .enumerate()
        .filter(|(i, r)| last.get(&row(r)) == Some(i))
        .map(|(_, r)| r)
        .collect();
    for chunk in statement_chunks(&lasts, OUTCOMES_PER_STATEMENT) {
        outcomes_upsert(backend, wave_id, chunk)
            .execute(&mut *conn)
            .await?;
    }
    let events: Vec<NewEvent<'_>> = outcomes
        .iter()
        .filter_map(|&(ex, name, o)| outcome_event_row(wave_id, ex, name, o))
        .collect();
    insert_events(conn, backend, &events).await
}

/// One statement upserting `rows` (distinct rows).
fn outcomes_upsert<'a>(
    backend: Backend,
    wave_id: &'a str,
    rows: &[&OutcomeRow<'a>],
) -> sqlx::query::Query<'a, sqlx::Any, sqlx::any::AnyArguments> {
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
        values_rows(backend, rows.len(), OUTCOME_COLUMNS)
    );
    // Built from constants and placeholder numbers only; every value is bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for &&(exchange_id, _, o) in rows {
        q = q
            .bind(wave_id)
            .bind(i64::from(exchange_id))
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
    q
}

/// The `events` row outcome `o` produces, if any.
fn outcome_event_row<'a>(
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

/// A wave's completion, written at once.
#[derive(Debug)]
pub struct Completion<'a> {
    /// Wave id.
    pub wave_id: &'a str,
    /// Coordinator holding the lease.
    pub owner: &'a str,
    /// `completed`, `partial` or `failed`.
    pub status: WaveStatus,
    /// Per-exchange results.
    pub exchanges: &'a [ExchangeStats],
    /// Every final outcome, by exchange.
    pub outcomes: &'a [StoredOutcome],
    /// Totals.
    pub totals: WaveTotals,
    /// The `WAVE_COMPLETED` payload.
    pub event: &'a WaveCompleted,
    /// Completion instant.
    pub now: DateTime<Utc>,
    /// Why the wave ended early (an operator's cancel), stored as its `reason`.
    pub reason: Option<&'a str>,
    /// When each exchange ran (stored with its statistics; one may be missing).
    pub timings: &'a [ExchangeTiming],
}

/// The `stats` column: the statistics with the exchange's timing (optional) beside them.
#[derive(Serialize)]
struct StoredStats<'a> {
    #[serde(flatten)]
    stats: &'a ExchangeStats,
    #[serde(skip_serializing_if = "Option::is_none")]
    timing: Option<&'a ExchangeTiming>,
}

/// The timing part of a `stats` column.
#[derive(Deserialize)]
struct StoredTiming {
    #[serde(default)]
    timing: Option<ExchangeTiming>,
}

impl Store {
    /// Stores outcomes (exchange id, exchange name, outcome) and their events in one
    /// transaction: a row's latest outcome wins (within `outcomes` too), an event is stored
    /// once per outcome row (the first).
    pub async fn record_outcomes(
        &self,
        wave_id: &str,
        outcomes: &[(u32, String, pb::SignalOutcome)],
    ) -> Result<(), CoordinatorError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let rows: Vec<OutcomeRow<'_>> = outcomes
            .iter()
            .map(|(ex, name, o)| (*ex, name.as_str(), o))
            .collect();
        upsert_outcomes(&mut tx, self.backend, wave_id, &rows).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Completes a wave in one transaction while `owner` holds it; false, writing nothing, else.
    pub async fn complete_wave(&self, c: &Completion<'_>) -> Result<bool, CoordinatorError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let totals = serde_json::to_string(&c.totals)
            .map_err(|e| CoordinatorError::Corrupt(format!("totals: {e}")))?;
        let q = sqlx::query(
            "UPDATE waves SET status = $1, completed_at = $2, totals = $3, lease_until = NULL, \
             reason = COALESCE($6, reason) \
             WHERE id = $4 AND owner = $5 AND status = 'dispatching'",
        )
        .bind(c.status.as_str())
        .bind(ms(c.now))
        .bind(totals)
        .bind(c.wave_id)
        .bind(c.owner)
        .bind(c.reason);
        if !one_row(q, &mut *tx).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        if !c.exchanges.is_empty() {
            // One row per exchange (distinct ids), one statement.
            let stats = c
                .exchanges
                .iter()
                .map(|e| {
                    serde_json::to_string(&StoredStats {
                        stats: e,
                        timing: c.timings.iter().find(|t| t.exchange_id == e.exchange_id),
                    })
                    .map_err(|err| CoordinatorError::Corrupt(format!("stats: {err}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let sql = format!(
                "INSERT INTO wave_exchange_results (wave_id, exchange_id, exchange_name, \
                 executed, target, error, stats) VALUES {} \
                 ON CONFLICT (wave_id, exchange_id) DO UPDATE SET \
                 exchange_name = excluded.exchange_name, executed = excluded.executed, \
                 target = excluded.target, error = excluded.error, stats = excluded.stats",
                values_rows(self.backend, c.exchanges.len(), 7)
            );
            // Built from constants and placeholder numbers only; every value is bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (e, stats) in c.exchanges.iter().zip(stats) {
                q = q
                    .bind(c.wave_id)
                    .bind(i64::from(e.exchange_id))
                    .bind(e.exchange_name.as_str())
                    .bind(i64::from(e.executed))
                    .bind(i64::from(e.target))
                    .bind(e.error.as_deref())
                    .bind(stats);
            }
            q.execute(&mut *tx).await?;
        }
        let rows: Vec<OutcomeRow<'_>> = c
            .outcomes
            .iter()
            .map(|(ex, o)| {
                let name = c
                    .exchanges
                    .iter()
                    .find(|e| e.exchange_id == *ex)
                    .map_or("", |e| e.exchange_name.as_str());
                (*ex, name, o)
            })
            .collect();
        upsert_outcomes(&mut tx, self.backend, c.wave_id, &rows).await?;
        let payload = serde_json::to_string(c.event)
            .map_err(|e| CoordinatorError::Corrupt(format!("event: {e}")))?;
        insert_event(
            &mut tx,
            &NewEvent {
                event_type: "WAVE_COMPLETED",
                event_data: payload,
                correlation_id: c.wave_id,
                severity: if c.status == WaveStatus::Completed {
                    "info"
                } else {
                    "warning"
                },
                dedup_key: Some(format!("wave_completed:{}", c.wave_id)),
                ..NewEvent::default()
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Per-exchange results of a wave, by exchange id.
    pub async fn exchange_results(
        &self,
        wave_id: &str,
    ) -> Result<Vec<ExchangeStats>, CoordinatorError> {
        self.stats_column(wave_id).await
    }

    /// When each exchange of a wave ran, by exchange id.
    pub async fn exchange_timings(
        &self,
        wave_id: &str,
    ) -> Result<Vec<ExchangeTiming>, CoordinatorError> {
        let rows: Vec<StoredTiming> = self.stats_column(wave_id).await?;
        Ok(rows.into_iter().filter_map(|t| t.timing).collect())
    }

    /// The `stats` column of a wave's exchanges, by exchange id.
    async fn stats_column<T: DeserializeOwned>(
        &self,
        wave_id: &str,
    ) -> Result<Vec<T>, CoordinatorError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT stats FROM wave_exchange_results WHERE wave_id = $1 ORDER BY exchange_id",
        )
        .bind(wave_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                serde_json::from_str(&r.0)
                    .map_err(|e| CoordinatorError::Corrupt(format!("stats of {wave_id}: {e}")))
            })
            .collect()
    }

    /// Stored outcomes of a wave, per exchange in rank order (validation before execution).
    pub async fn outcomes(&self, wave_id: &str) -> Result<Vec<StoredOutcome>, CoordinatorError> {
        let rows = sqlx::query(
            "SELECT exchange_id, signal_id, stage, idx, symbol, kind, executed, error, \
             client_order_id, exchange_order_id, fill_price, quantity, latency_us, round, \
             trailing_stop \
             FROM signal_outcomes WHERE wave_id = $1 ORDER BY exchange_id, idx, stage",
        )
        .bind(wave_id)
        .fetch_all(&self.pool)
        .await?;
        let int = |r: &AnyRow, col| r.try_get::<i64, _>(col);
        let u32_of =
            |r: &AnyRow, col| Ok::<_, sqlx::Error>(u32::try_from(int(r, col)?).unwrap_or_default());
        let outcome = |r: AnyRow| {
            let o = pb::SignalOutcome {
                signal_id: int(&r, "signal_id")?,
                stage: i32::try_from(int(&r, "stage")?).unwrap_or_default(),
                index: u32_of(&r, "idx")?,
                symbol: r.try_get("symbol")?,
                kind: i32::try_from(int(&r, "kind")?).unwrap_or_default(),
                executed: int(&r, "executed")? != 0,
                error: r.try_get("error")?,
                client_order_id: r.try_get("client_order_id")?,
                exchange_order_id: r.try_get("exchange_order_id")?,
                fill_price: r.try_get("fill_price")?,
                quantity: r.try_get("quantity")?,
                exchange_latency_us: u64::try_from(int(&r, "latency_us")?).unwrap_or_default(),
                round: u32_of(&r, "round")?,
                trailing: r.try_get("trailing_stop")?,
            };
            Ok((u32_of(&r, "exchange_id")?, o))
        };
        rows.into_iter().map(outcome).collect()
    }

    /// The `WAVE_COMPLETED` payload of a wave, once recorded.
    pub async fn completed_event(&self, wave_id: &str) -> Result<Option<String>, CoordinatorError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT event_data FROM events WHERE correlation_id = $1 \
             AND event_type = 'WAVE_COMPLETED' ORDER BY id LIMIT 1",
        )
        .bind(wave_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.0))
    }
}

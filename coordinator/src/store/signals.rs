//! `signals`: batched, transactional ingest and loading a wave's signals back.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{Acquire, Row as _};
use wavegate_common::signal::{SignalDraft, SignalParams};
use wavegate_common::time::wave_id;
use wavegate_common::{Action, MarginMode, Signal};

use super::waves::{ensure_wave, lock_collecting, touch_collecting};
use super::{Backend, NewEvent, Store, from_ms, insert_event, ms, statement_chunks, values_rows};
use crate::error::CoordinatorError;

/// Rows per multi-row INSERT on SQLite: the fastest measured (docs/benchmarks.md, ingest).
/// Full-size chunks share one SQL text, the rest go in falling powers of two
/// ([`statement_chunks`]): a few texts, each prepared once per connection.
const SQLITE_ROWS_PER_STATEMENT: usize = 100;
/// Rows per multi-row INSERT on PostgreSQL, where each statement is a round trip.
const POSTGRES_ROWS_PER_STATEMENT: usize = 200;

/// What happened to each signal of a batch, by its position in the batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct InsertOutcome {
    /// Stored (and committed).
    pub accepted: Vec<usize>,
    /// Rejected because the wave is no longer collecting: (position, wave id, status).
    pub closed: Vec<(usize, String, String)>,
    /// Rejected because the wave already holds a signal with the same id (also when the wave
    /// has closed since: a retry of a stored signal is told it is stored, not that it is late).
    pub duplicates: Vec<usize>,
    /// Waves that received at least one signal.
    pub waves: Vec<String>,
}

impl Store {
    /// Stores checked signals in ONE transaction: creates their waves, refuses signals for waves
    /// no longer collecting and duplicate ids. `close_by`: a new wave's latest closing instant.
    pub async fn insert_signals(
        &self,
        batch: &[Signal],
        close_by: impl Fn(DateTime<Utc>) -> DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<InsertOutcome, CoordinatorError> {
        let mut out = InsertOutcome::default();
        if batch.is_empty() {
            return Ok(out);
        }
        let mut by_wave: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, s) in batch.iter().enumerate() {
            by_wave
                .entry(wave_id(s.wave_timestamp()))
                .or_default()
                .push(i);
        }
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        for (wid, positions) in &by_wave {
            let ts = batch[positions[0]].wave_timestamp();
            if ensure_wave(&mut tx, wid, ts, close_by(ts), now).await? {
                insert_event(
                    &mut tx,
                    &NewEvent {
                        event_type: "WAVE_DETECTED",
                        event_data: serde_json::json!({ "wave_timestamp": wid }).to_string(),
                        correlation_id: wid,
                        severity: "info",
                        dedup_key: Some(format!("wave_detected:{wid}")),
                        ..NewEvent::default()
                    },
                )
                .await?;
            }
            // Locks the row (PostgreSQL) and checks the status in the same write.
            if !lock_collecting(&mut tx, wid).await? {
                let status: String = sqlx::query_scalar("SELECT status FROM waves WHERE id = $1")
                    .bind(wid)
                    .fetch_optional(&mut *tx)
                    .await?
                    .unwrap_or_default();
                let stored: HashSet<i64> =
                    sqlx::query_scalar("SELECT signal_id FROM signals WHERE wave_id = $1")
                        .bind(wid)
                        .fetch_all(&mut *tx)
                        .await?
                        .into_iter()
                        .collect();
                for &p in positions {
                    if stored.contains(&batch[p].id()) {
                        out.duplicates.push(p);
                    } else {
                        out.closed.push((p, wid.clone(), status.clone()));
                    }
                }
                continue;
            }
            let mut inserted: HashSet<i64> = HashSet::with_capacity(positions.len());
            let rows = match self.backend {
                Backend::Sqlite => SQLITE_ROWS_PER_STATEMENT,
                Backend::Postgres => POSTGRES_ROWS_PER_STATEMENT,
            };
            for chunk in statement_chunks(positions, rows) {
                let ids = insert_chunk(&mut tx, self.backend, wid, batch, chunk).await?;
                inserted.extend(ids);
            }
            let mut added = 0u32;
            for &p in positions {
                // `remove` so a repeated id within the batch counts once (the first).
                if inserted.remove(&batch[p].id()) {
                    out.accepted.push(p);
                    added += 1;
                } else {
                    out.duplicates.push(p);
                }
            }
            // Only new signals extend the quiet period, from the commit's time.
            if added > 0 {
                touch_collecting(&mut tx, wid, Utc::now(), added).await?;
                out.waves.push(wid.clone());
            }
        }
        tx.commit().await?;
        out.accepted.sort_unstable();
        out.duplicates.sort_unstable();
        Ok(out)
    }

    /// The signals of a wave (in no particular order; rank them with `common::rank`).
    pub async fn wave_signals(
        &self,
        wave_id: &str,
        wave_ts: DateTime<Utc>,
    ) -> Result<Vec<Signal>, CoordinatorError> {
        let mut conn = self.pool.acquire().await?;
        wave_signals_in(&mut conn, wave_id, wave_ts).await
    }
}

/// [`Store::wave_signals`] on `conn` (inside the claim's transaction, when it is one).
pub(super) async fn wave_signals_in(
    conn: &mut sqlx::AnyConnection,
    wave_id: &str,
    wave_ts: DateTime<Utc>,
) -> Result<Vec<Signal>, CoordinatorError> {
    let rows = sqlx::query(
        "SELECT signal_id, exchange_id, symbol, action, score_week, score_month, created_at, \
         max_trades, stop_loss_percent, trailing_activation_percent, \
         trailing_distance_percent, leverage, margin_mode, position_size_usd \
         FROM signals WHERE wave_id = $1",
    )
    .bind(wave_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.try_get("signal_id")?;
        let corrupt = |what: String| CoordinatorError::Corrupt(format!("signal {id}: {what}"));
        let margin_mode = (r.try_get::<Option<String>, _>("margin_mode")?)
            .map(|m| MarginMode::parse(&m).ok_or_else(|| corrupt(format!("margin mode {m:?}"))))
            .transpose()?;
        let opt_u32 = |col| {
            Ok::<_, sqlx::Error>(
                r.try_get::<Option<i64>, _>(col)?
                    .and_then(|v| u32::try_from(v).ok()),
            )
        };
        let params = SignalParams {
            max_trades: opt_u32("max_trades")?,
            stop_loss_percent: r.try_get("stop_loss_percent")?,
            trailing_activation_percent: r.try_get("trailing_activation_percent")?,
            trailing_distance_percent: r.try_get("trailing_distance_percent")?,
            leverage: opt_u32("leverage")?,
            margin_mode,
            position_size_usd: r.try_get("position_size_usd")?,
        };
        let created_at = from_ms(r.try_get("created_at")?);
        let draft = SignalDraft {
            id: Some(id),
            symbol: Some(r.try_get("symbol")?),
            exchange_id: u32::try_from(r.try_get::<i64, _>("exchange_id")?).ok(),
            action: Action::parse(&r.try_get::<String, _>("action")?),
            score_week: Some(r.try_get("score_week")?),
            score_month: Some(r.try_get("score_month")?),
            wave_timestamp: Some(wave_ts),
            created_at: Some(created_at),
            params: Some(params),
        };
        let s = draft
            .check(1, created_at)
            .map_err(|e| corrupt(e.to_string()))?;
        out.push(s);
    }
    Ok(out)
}

async fn insert_chunk(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    wid: &str,
    batch: &[Signal],
    chunk: &[usize],
) -> Result<Vec<i64>, sqlx::Error> {
    const COLS: usize = 15;
    let sql = format!(
        "INSERT INTO signals (wave_id, signal_id, exchange_id, symbol, action, score_week, \
         score_month, created_at, max_trades, stop_loss_percent, trailing_activation_percent, \
         trailing_distance_percent, leverage, margin_mode, position_size_usd) VALUES {} \
         ON CONFLICT (wave_id, signal_id) DO NOTHING RETURNING signal_id",
        values_rows(backend, chunk.len(), COLS)
    );
    let mut q = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(sql));
    for &p in chunk {
        let s = &batch[p];
        let params = s.params().copied().unwrap_or_default();
        q = q
            .bind(wid)
            .bind(s.id())
            .bind(i64::from(s.exchange_id()))
            .bind(s.symbol())
            .bind(s.action().as_str())
            .bind(s.score_week())
            .bind(s.score_month())
            .bind(ms(s.created_at()))
            .bind(params.max_trades.map(i64::from))
            .bind(params.stop_loss_percent)
            .bind(params.trailing_activation_percent)
            .bind(params.trailing_distance_percent)
            .bind(params.leverage.map(i64::from))
            .bind(params.margin_mode.map(MarginMode::as_str))
            .bind(params.position_size_usd);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

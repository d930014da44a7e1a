//! `exchange_params`: stored per-exchange params (docs/design.md §1 step 1).

use chrono::{DateTime, Utc};
use wavegate_common::{MarginMode, SignalParams};

use std::collections::BTreeMap;

use super::row::{Columns, Statement, Value, sqlx_query};
use super::{Backend, Store, from_ms, ms, push_numbered, values_rows};
use crate::error::CoordinatorError;
use crate::params::PositionParams;

/// Params stored for one exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredParams {
    /// Exchange id.
    pub exchange_id: u32,
    /// Exchange name.
    pub exchange_name: String,
    /// Target positions per wave.
    pub max_trades: u32,
    /// Explicit buffer size; `None` means `max_trades + buffer_fixed`.
    pub buffer_size: Option<u32>,
    /// Stop-loss percent.
    pub stop_loss_percent: Option<f64>,
    /// Trailing activation percent.
    pub trailing_activation_percent: Option<f64>,
    /// Trailing distance percent.
    pub trailing_distance_percent: Option<f64>,
    /// Position params (leverage, margin mode, size) set by `Params.Set`.
    pub position: PositionParams,
    /// Last write.
    pub updated_at: DateTime<Utc>,
}

/// An `exchange_params` row (the columns of `params_columns!`) from either driver.
pub(super) fn from_row(r: &impl Columns) -> Result<StoredParams, CoordinatorError> {
    let corrupt = |col: &str| CoordinatorError::Corrupt(format!("exchange_params.{col}"));
    let u32_of = |col: &str, v: i64| u32::try_from(v).map_err(|_| corrupt(col));
    let opt_u32 = |col: &str| -> Result<Option<u32>, CoordinatorError> {
        (r.int_opt(col)?).map(|v| u32_of(col, v)).transpose()
    };
    Ok(StoredParams {
        exchange_id: u32_of("exchange_id", r.int("exchange_id")?)?,
        exchange_name: r.text("exchange_name")?,
        max_trades: u32_of("max_trades", r.int("max_trades")?)?,
        buffer_size: opt_u32("buffer_size")?,
        stop_loss_percent: r.real_opt("stop_loss_percent")?,
        trailing_activation_percent: r.real_opt("trailing_activation_percent")?,
        trailing_distance_percent: r.real_opt("trailing_distance_percent")?,
        updated_at: from_ms(r.int("updated_at")?),
        position: PositionParams {
            leverage: opt_u32("leverage")?,
            margin_mode: (r.text_opt("margin_mode")?)
                .map(|m| {
                    let mode = MarginMode::parse(&m).map(MarginMode::to_proto);
                    mode.ok_or_else(|| corrupt("margin_mode"))
                })
                .transpose()?,
            position_size_usd: r.real_opt("position_size_usd")?,
        },
    })
}

macro_rules! params_columns {
    () => {
        "exchange_id, exchange_name, max_trades, buffer_size, stop_loss_percent, \
                       trailing_activation_percent, trailing_distance_percent, updated_at, \
                       leverage, margin_mode, position_size_usd"
    };
}

impl Store {
    /// All stored params, by exchange id.
    pub async fn all_params(&self) -> Result<Vec<StoredParams>, CoordinatorError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            params_columns!(),
            " FROM exchange_params ORDER BY exchange_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Stored params of one exchange.
    pub async fn params(&self, exchange_id: u32) -> Result<Option<StoredParams>, CoordinatorError> {
        let mut conn = self.pool.acquire().await?;
        read_params(&mut conn, exchange_id).await
    }

    /// `Params.Set`: writes what `f` builds from the stored row, locked (no lost update).
    pub(crate) async fn set_params_with(
        &self,
        exchange_id: u32,
        f: impl FnOnce(Option<&StoredParams>) -> StoredParams,
    ) -> Result<StoredParams, CoordinatorError> {
        let mut tx = self.pool.begin().await?;
        lock_params_row(&mut tx, exchange_id).await?;
        let current = read_params(&mut tx, exchange_id).await?;
        let next = f(current.as_ref());
        upsert_params(&mut tx, self.backend, &next).await?;
        tx.commit().await?;
        Ok(next)
    }

    /// Applies a wave's signal params (`merge_wave_params`); whether anything was written.
    pub async fn update_params_from_wave(
        &self,
        exchange_id: u32,
        exchange_name: &str,
        p: &SignalParams,
        now: DateTime<Utc>,
    ) -> Result<bool, CoordinatorError> {
        let current = self.params(exchange_id).await?;
        let Some(next) = merge_wave_params(current, exchange_id, exchange_name, p, now) else {
            return Ok(false);
        };
        upsert_params(&mut *self.pool.acquire().await?, self.backend, &next).await?;
        Ok(true)
    }
}

/// docs/design.md §1 step 1: `current` after a wave's signal params. Carried fields replace
/// stored ones; a new `max_trades` drops an explicit buffer size. `None`: nothing to store.
pub fn merge_wave_params(
    current: Option<StoredParams>,
    exchange_id: u32,
    exchange_name: &str,
    p: &SignalParams,
    now: DateTime<Utc>,
) -> Option<StoredParams> {
    match current {
        Some(mut c) => {
            // A buffer size set for the old target does not carry over.
            if let Some(m) = p.max_trades
                && m != c.max_trades
            {
                c.max_trades = m;
                c.buffer_size = None;
            }
            c.stop_loss_percent = p.stop_loss_percent.or(c.stop_loss_percent);
            c.trailing_activation_percent = p
                .trailing_activation_percent
                .or(c.trailing_activation_percent);
            c.trailing_distance_percent =
                p.trailing_distance_percent.or(c.trailing_distance_percent);
            c.position = position_of(p, Some(&c.position));
            c.updated_at = now;
            Some(c)
        }
        None => p.max_trades.map(|m| StoredParams {
            exchange_id,
            exchange_name: exchange_name.to_owned(),
            max_trades: m,
            buffer_size: None,
            stop_loss_percent: p.stop_loss_percent,
            trailing_activation_percent: p.trailing_activation_percent,
            trailing_distance_percent: p.trailing_distance_percent,
            position: position_of(p, None),
            updated_at: now,
        }),
    }
}

/// The position params after a signal's: each one it carries replaces the kept one.
fn position_of(p: &SignalParams, kept: Option<&PositionParams>) -> PositionParams {
    PositionParams {
        leverage: p.leverage.or_else(|| kept.and_then(|k| k.leverage)),
        margin_mode: p
            .margin_mode
            .map(MarginMode::to_proto)
            .or_else(|| kept.and_then(|k| k.margin_mode)),
        position_size_usd: p
            .position_size_usd
            .or_else(|| kept.and_then(|k| k.position_size_usd)),
    }
}

/// Locks an exchange's params row to the transaction's end, so read-merge-writes do not interleave.
pub(super) async fn lock_params_row(
    conn: &mut sqlx::AnyConnection,
    exchange_id: u32,
) -> Result<(), CoordinatorError> {
    sqlx::query("UPDATE exchange_params SET exchange_id = exchange_id WHERE exchange_id = $1")
        .bind(i64::from(exchange_id))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Reads one exchange's stored params on `conn` (inside a transaction, when it is one).
pub(super) async fn read_params(
    conn: &mut sqlx::AnyConnection,
    exchange_id: u32,
) -> Result<Option<StoredParams>, CoordinatorError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        params_columns!(),
        " FROM exchange_params WHERE exchange_id = $1"
    ))
    .bind(i64::from(exchange_id))
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| from_row(&r)).transpose()
}

/// The statement reading the stored params of `ids` (not empty) inside a transaction; on
/// PostgreSQL their rows are locked to its end (SQLite's transaction already holds the
/// database's write lock), so read-merge-writes do not interleave.
pub(super) fn select_for_update(backend: Backend, ids: &[u32]) -> Statement {
    let mut sql = concat!(
        "SELECT ",
        params_columns!(),
        " FROM exchange_params WHERE exchange_id IN ("
    )
    .to_owned();
    push_numbered(&mut sql, 1, ids.len());
    // In id order: two transactions lock rows in the same order, never in a cycle.
    sql.push_str(") ORDER BY exchange_id");
    if backend == Backend::Postgres {
        sql.push_str(" FOR UPDATE");
    }
    (sql, ids.iter().map(|id| Value::int(*id)).collect())
}

/// Reads the stored params of `ids` on `conn` in one statement ([`select_for_update`]).
pub(super) async fn read_params_for_update(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    ids: &[u32],
) -> Result<BTreeMap<u32, StoredParams>, CoordinatorError> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows = sqlx_query(select_for_update(backend, ids))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| from_row(r).map(|p| (p.exchange_id, p)))
        .collect()
}

/// Inserts or replaces one exchange's params on `conn`.
pub(super) async fn upsert_params(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    p: &StoredParams,
) -> Result<(), CoordinatorError> {
    upsert_params_all(conn, backend, &[p]).await
}

/// The statement inserting or replacing the params of distinct exchanges (`rows`, not empty).
pub(super) fn upsert_statement(backend: Backend, rows: &[&StoredParams]) -> Statement {
    const COLUMNS: usize = 11;
    let sql = format!(
        concat!(
            "INSERT INTO exchange_params (",
            params_columns!(),
            ") VALUES {} \
             ON CONFLICT (exchange_id) DO UPDATE SET exchange_name = excluded.exchange_name, \
             max_trades = excluded.max_trades, buffer_size = excluded.buffer_size, \
             stop_loss_percent = excluded.stop_loss_percent, \
             trailing_activation_percent = excluded.trailing_activation_percent, \
             trailing_distance_percent = excluded.trailing_distance_percent, \
             updated_at = excluded.updated_at, leverage = excluded.leverage, \
             margin_mode = excluded.margin_mode, position_size_usd = excluded.position_size_usd"
        ),
        values_rows(backend, rows.len(), COLUMNS)
    );
    let mut values = Vec::with_capacity(rows.len() * COLUMNS);
    for p in rows {
        let mode = (p.position.margin_mode)
            .and_then(|m| MarginMode::from_proto(m as i32).ok().flatten())
            .map(|m| m.as_str().to_owned());
        values.extend([
            Value::int(p.exchange_id),
            Value::text(&p.exchange_name),
            Value::int(p.max_trades),
            Value::Int(p.buffer_size.map(i64::from)),
            Value::Real(p.stop_loss_percent),
            Value::Real(p.trailing_activation_percent),
            Value::Real(p.trailing_distance_percent),
            Value::int(ms(p.updated_at)),
            Value::Int(p.position.leverage.map(i64::from)),
            Value::Text(mode),
            Value::Real(p.position.position_size_usd),
        ]);
    }
    (sql, values)
}

/// Inserts or replaces the params of distinct exchanges on `conn`, in one statement.
pub(super) async fn upsert_params_all(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    rows: &[&StoredParams],
) -> Result<(), CoordinatorError> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx_query(upsert_statement(backend, rows))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(max_trades: u32, buffer_size: Option<u32>) -> StoredParams {
        StoredParams {
            exchange_id: 1,
            exchange_name: "binance".into(),
            max_trades,
            buffer_size,
            stop_loss_percent: Some(4.0),
            trailing_activation_percent: None,
            trailing_distance_percent: None,
            position: PositionParams::default(),
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn wave(max_trades: Option<u32>) -> SignalParams {
        SignalParams {
            max_trades,
            ..Default::default()
        }
    }

    #[test]
    fn a_new_target_drops_an_explicit_buffer_and_other_fields_stay() {
        let now = Utc::now();
        // A different target drops the old target's buffer; the same target, or none, keeps it.
        for (target, want) in [
            (Some(4), (4, None)),
            (Some(6), (6, Some(9))),
            (None, (6, Some(9))),
        ] {
            let m = merge_wave_params(Some(stored(6, Some(9))), 1, "binance", &wave(target), now)
                .unwrap();
            assert_eq!((m.max_trades, m.buffer_size), want, "target {target:?}");
            assert_eq!(m.stop_loss_percent, Some(4.0), "fields the wave lacks stay");
            assert_eq!(m.updated_at, now);
        }
        // Nothing stored and no target: nothing to store.
        assert_eq!(merge_wave_params(None, 1, "b", &wave(None), now), None);
    }

    #[test]
    fn a_signals_position_params_replace_the_stored_ones_it_carries() {
        use wavegate_common::proto::v1 as pb;
        let now = Utc::now();
        let mut cur = stored(6, None);
        cur.position = PositionParams {
            leverage: Some(2),
            margin_mode: Some(pb::MarginMode::Cross),
            position_size_usd: Some(20.0),
        };
        let p = SignalParams {
            leverage: Some(5),
            margin_mode: Some(MarginMode::Isolated),
            ..Default::default()
        };
        let m = merge_wave_params(Some(cur), 1, "binance", &p, now).unwrap();
        assert_eq!(
            m.position,
            PositionParams {
                leverage: Some(5),
                margin_mode: Some(pb::MarginMode::Isolated),
                position_size_usd: Some(20.0),
            },
            "carried fields replace, the size it lacks stays"
        );
        // Nothing stored: a signal with a target stores its position params too.
        let p = SignalParams {
            max_trades: Some(3),
            position_size_usd: Some(40.0),
            ..Default::default()
        };
        let m = merge_wave_params(None, 1, "binance", &p, now).unwrap();
        assert_eq!(m.position.position_size_usd, Some(40.0));
        assert_eq!(m.position.leverage, None);
    }
}

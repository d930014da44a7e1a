//! The agent's journal: a SQLite file recording every order before it is sent, and the final
//! `Result` of every completed wave.
//!
//! It is what makes re-sent waves and restarts safe (DESIGN §3): an order is written as
//! `pending` with its deterministic client order id before it reaches the exchange; a filled
//! order is reported from here and never placed again; an order in `pending`, `sent` or
//! `unknown` is looked up at the exchange, never re-sent. WAL mode with `synchronous = NORMAL`
//! keeps a commit off the fsync path (durable across a process crash, which is the failure this
//! guards against), so journaling adds microseconds, not milliseconds, before an order.

pub mod order_state;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use prost::Message;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use wavegate_common::proto::v1 as pb;

pub use order_state::{OrderEvent, OrderState, TransitionError};

/// A journal failure.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A refused state change.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The row was not in the state the caller expected (changed concurrently or missing).
    #[error("order {client_order_id}: not in state {expected}")]
    Stale {
        /// Order.
        client_order_id: String,
        /// State the caller expected.
        expected: OrderState,
    },
    /// A stored value cannot be read back.
    #[error("corrupt journal: {0}")]
    Corrupt(String),
}

/// One journaled order.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalOrder {
    /// Deterministic client order id (primary key).
    pub client_order_id: String,
    /// Wave.
    pub wave_id: String,
    /// Signal.
    pub signal_id: i64,
    /// Instrument.
    pub symbol: String,
    /// State.
    pub state: OrderState,
    /// Exchange's order id, when known.
    pub exchange_order_id: Option<String>,
    /// True when the order left a position that counts toward the target.
    pub executed: bool,
    /// Reason of a failure (or of an error after the position opened).
    pub error: Option<String>,
    /// Average fill price of the entry.
    pub fill_price: f64,
    /// Filled quantity.
    pub quantity: f64,
}

/// Fields set along with a state change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderUpdate {
    /// Exchange's order id.
    pub exchange_order_id: Option<String>,
    /// Position counts toward the target.
    pub executed: bool,
    /// Failure reason.
    pub error: Option<String>,
    /// Fill price.
    pub fill_price: f64,
    /// Filled quantity.
    pub quantity: f64,
}

/// The journal database (shared with the paper exchange's tables).
#[derive(Debug, Clone)]
pub struct Journal {
    pool: SqlitePool,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS orders (
        client_order_id TEXT PRIMARY KEY,
        wave_id TEXT NOT NULL,
        signal_id INTEGER NOT NULL,
        symbol TEXT NOT NULL,
        state TEXT NOT NULL,
        exchange_order_id TEXT,
        executed INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        fill_price REAL NOT NULL DEFAULT 0,
        quantity REAL NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS orders_by_wave ON orders (wave_id, signal_id)",
    "CREATE TABLE IF NOT EXISTS wave_results (
        wave_id TEXT PRIMARY KEY,
        result BLOB NOT NULL,
        completed_at TEXT NOT NULL
    )",
];

impl Journal {
    /// Opens (creating if missing) the journal at `path` and its tables.
    pub async fn open(path: &Path) -> Result<Self, JournalError> {
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        for stmt in SCHEMA {
            sqlx::query(*stmt).execute(&pool).await?;
        }
        Ok(Self { pool })
    }

    /// The connection pool (the paper exchange keeps its tables in the same file).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Records an order as `pending` before it is sent. Fails if the id is journaled already,
    /// so an order can never be recorded (and thus sent) twice.
    pub async fn insert_pending(
        &self,
        client_order_id: &str,
        wave_id: &str,
        signal_id: i64,
        symbol: &str,
    ) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO orders (client_order_id, wave_id, signal_id, symbol, state, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(client_order_id)
        .bind(wave_id)
        .bind(signal_id)
        .bind(symbol)
        .bind(OrderState::Pending.as_str())
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Moves an order from `from` by `event`, storing `update`. The update only applies if
    /// the row is still in `from` (compare-and-set), so two writers cannot both win.
    pub async fn apply(
        &self,
        client_order_id: &str,
        from: OrderState,
        event: OrderEvent,
        update: &OrderUpdate,
    ) -> Result<OrderState, JournalError> {
        let to = from.transition(event)?;
        let done = sqlx::query(
            "UPDATE orders SET state = ?, exchange_order_id = COALESCE(?, exchange_order_id),
                executed = ?, error = ?, fill_price = ?, quantity = ?, updated_at = ?
             WHERE client_order_id = ? AND state = ?",
        )
        .bind(to.as_str())
        .bind(update.exchange_order_id.as_deref())
        .bind(update.executed)
        .bind(update.error.as_deref())
        .bind(update.fill_price)
        .bind(update.quantity)
        .bind(Utc::now().to_rfc3339())
        .bind(client_order_id)
        .bind(from.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(JournalError::Stale {
                client_order_id: client_order_id.to_owned(),
                expected: from,
            });
        }
        Ok(to)
    }

    /// Records what became of a filled order's position after the entry (stop failed and
    /// closed → not executed; close failed too → executed with an error). No state change.
    pub async fn set_execution(
        &self,
        client_order_id: &str,
        executed: bool,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        sqlx::query(
            "UPDATE orders SET executed = ?, error = ?, updated_at = ? WHERE client_order_id = ?",
        )
        .bind(executed)
        .bind(error)
        .bind(Utc::now().to_rfc3339())
        .bind(client_order_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every journaled order of `wave_id`.
    pub async fn wave_orders(&self, wave_id: &str) -> Result<Vec<JournalOrder>, JournalError> {
        let rows = sqlx::query(
            "SELECT client_order_id, wave_id, signal_id, symbol, state, exchange_order_id,
                    executed, error, fill_price, quantity
             FROM orders WHERE wave_id = ? ORDER BY signal_id",
        )
        .bind(wave_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("state")?;
                Ok(JournalOrder {
                    client_order_id: r.try_get("client_order_id")?,
                    wave_id: r.try_get("wave_id")?,
                    signal_id: r.try_get("signal_id")?,
                    symbol: r.try_get("symbol")?,
                    state: OrderState::parse(&state)
                        .ok_or_else(|| JournalError::Corrupt(format!("order state {state:?}")))?,
                    exchange_order_id: r.try_get("exchange_order_id")?,
                    executed: r.try_get("executed")?,
                    error: r.try_get("error")?,
                    fill_price: r.try_get("fill_price")?,
                    quantity: r.try_get("quantity")?,
                })
            })
            .collect()
    }

    /// Orders that left (or may have left) for the exchange: everything past `pending`.
    pub async fn orders_sent(&self) -> Result<u64, JournalError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE state <> 'pending'")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Stores the final `Result` of a wave (replayed when the wave is sent again).
    pub async fn save_result(
        &self,
        wave_id: &str,
        result: &pb::Result,
    ) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO wave_results (wave_id, result, completed_at) VALUES (?, ?, ?)
             ON CONFLICT (wave_id) DO NOTHING",
        )
        .bind(wave_id)
        .bind(result.encode_to_vec())
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The stored final `Result` of a wave, if it completed.
    pub async fn load_result(&self, wave_id: &str) -> Result<Option<pb::Result>, JournalError> {
        let blob: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT result FROM wave_results WHERE wave_id = ?")
                .bind(wave_id)
                .fetch_optional(&self.pool)
                .await?;
        blob.map(|b| {
            pb::Result::decode(b.as_slice())
                .map_err(|e| JournalError::Corrupt(format!("result of wave {wave_id}: {e}")))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn orders_move_only_forward_and_results_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("j.db")).await.unwrap();
        j.insert_pending("wg-1", "W", 1, "BTCUSDT").await.unwrap();
        assert!(j.insert_pending("wg-1", "W", 1, "BTCUSDT").await.is_err());
        assert_eq!(j.orders_sent().await.unwrap(), 0);
        let s = j
            .apply(
                "wg-1",
                OrderState::Pending,
                OrderEvent::Submit,
                &OrderUpdate::default(),
            )
            .await
            .unwrap();
        assert_eq!(s, OrderState::Sent);
        let stale = j
            .apply(
                "wg-1",
                OrderState::Pending,
                OrderEvent::Submit,
                &OrderUpdate::default(),
            )
            .await;
        assert!(matches!(stale, Err(JournalError::Stale { .. })));
        let up = OrderUpdate {
            exchange_order_id: Some("X1".into()),
            executed: true,
            fill_price: 2.5,
            quantity: 4.0,
            ..OrderUpdate::default()
        };
        j.apply("wg-1", OrderState::Sent, OrderEvent::Fill, &up)
            .await
            .unwrap();
        let rows = j.wave_orders("W").await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].state, OrderState::Filled);
        assert!(rows[0].executed);
        assert_eq!(rows[0].exchange_order_id.as_deref(), Some("X1"));
        assert_eq!(j.orders_sent().await.unwrap(), 1);

        assert_eq!(j.load_result("W").await.unwrap(), None);
        let r = pb::Result {
            wave_id: "W".into(),
            ..Default::default()
        };
        j.save_result("W", &r).await.unwrap();
        assert_eq!(j.load_result("W").await.unwrap(), Some(r));
    }
}

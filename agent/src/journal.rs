//! The agent's journal: a SQLite file recording every order before it is sent, and the final
//! `Result` of every completed wave (docs/design.md §3). An order commits as `sent` before it
//! reaches the exchange ([`Journal::insert_sent`]), so it is never placed twice; what follows
//! the answer is queued to the file's single [`Writer`] ([`Journal::apply_later`]), committed
//! before any later `Result`. WAL with `synchronous = NORMAL` survives a process crash;
//! [`JournalSync::Full`] survives power loss too, for one fsync per order.

mod identity;
mod known_waves;
mod leverage;
mod migrate;
mod order_row;
mod order_state;
mod stop_sql;
mod stop_state;
mod trailing;
mod venue_ack;
mod writer;

use std::future::ready;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use prost::Message;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use wavegate_common::fault_clock::FaultClock;
use wavegate_common::proto::v1 as pb;

pub use identity::{Identity, Standing};
pub use order_row::{JournalOrder, NewOrder, Trailing};
pub use order_state::{OrderEvent, OrderState, TransitionError};
pub use stop_state::{StopEvent, StopState, StopTransitionError};
pub use trailing::{TrailingEvent, TrailingState, TrailingTransitionError};
pub use writer::{Stmt, TIMING_TARGET, Value, WriteError, Writer};

use known_waves::KnownWaves;
use stop_sql::{stop_outcome_stmt, stop_stmt};

/// A journal failure.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("journal schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A refused state change.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A refused stop-step change.
    #[error(transparent)]
    StopTransition(#[from] StopTransitionError),
    /// A refused trailing-step change.
    #[error(transparent)]
    TrailingTransition(#[from] TrailingTransitionError),
    /// The row was not in the state the caller expected (changed concurrently or missing).
    #[error("order {client_order_id}: not in state {expected}")]
    Stale {
        /// Order.
        client_order_id: String,
        /// State the caller expected.
        expected: OrderState,
    },
    /// A statement of a write failed (e.g. a duplicate key).
    #[error("journal statement: {0}")]
    Statement(rusqlite::Error),
    /// The journal's writer failed or stopped.
    #[error("journal write: {0}")]
    Write(String),
    /// A stored value cannot be read back, or `PRAGMA quick_check` found damage.
    #[error("corrupt journal: {0}")]
    Corrupt(String),
    /// The journal belongs to another agent (another exchange, name or adapter).
    #[error(
        "journal belongs to another agent: its {key} is {journal:?}, this agent's is {config:?}; \
         point `journal` at this agent's own file"
    )]
    Foreign {
        /// The identity key that differs.
        key: &'static str,
        /// The journal's value.
        journal: String,
        /// This agent's value.
        config: String,
    },
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
    pub fill_price: crate::exchange::Decimal,
    /// Filled quantity.
    pub quantity: crate::exchange::Decimal,
}

/// The journal database (shared with the paper exchange's tables).
#[derive(Debug, Clone)]
pub struct Journal {
    pool: SqlitePool,
    writer: Writer,
    /// Waves that may have rows: a wave not in it skips both reads at its session's start.
    waves: KnownWaves,
}

/// How durable a journal commit is before the order it records is sent (`journal_sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalSync {
    /// `synchronous = NORMAL`: a commit survives a process crash, not power loss; no fsync.
    #[default]
    Normal,
    /// `synchronous = FULL`: a commit survives power loss too; one fsync per order.
    Full,
}

impl Journal {
    /// Opens (creating if missing) the journal at `path`, with [`JournalSync::Normal`].
    pub async fn open(path: &Path) -> Result<Self, JournalError> {
        Self::open_with(path, JournalSync::Normal).await
    }

    /// [`Journal::open`] with the given commit durability.
    pub async fn open_with(path: &Path, sync: JournalSync) -> Result<Self, JournalError> {
        let synchronous = match sync {
            JournalSync::Normal => SqliteSynchronous::Normal,
            JournalSync::Full => SqliteSynchronous::Full,
        };
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(10));
        // A connection that saw a storage fault may hold an open transaction: not reused.
        let clock = std::sync::Arc::new(FaultClock::default());
        let (c1, c2) = (clock.clone(), clock.clone());
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // No ping per acquire (a round trip to SQLite's worker thread): a local file's
            // connection does not go away, and a failing one errors on use.
            .test_before_acquire(false)
            .before_acquire(move |_, meta| Box::pin(ready(Ok(!c1.stale(meta.age)))))
            .after_release(move |_, meta| Box::pin(ready(Ok(!c2.stale(meta.age)))))
            .connect_with(opts)
            .await?;
        // Damage anywhere in the file refuses the start, before anything is read from it.
        identity::quick_check(&pool).await?;
        migrate::run(&pool).await?;
        let waves = KnownWaves::load(&pool).await?;
        let writer = Writer::spawn_with(pool.clone(), clock, sync);
        Ok(Self {
            pool,
            writer,
            waves,
        })
    }

    /// True while the storage fails (disk full, I/O error): no order may be sent unjournaled.
    pub fn faulted(&self) -> bool {
        self.writer.faulted()
    }

    /// A write that clears [`Journal::faulted`] once the storage takes writes again.
    pub async fn probe(&self) -> Result<(), JournalError> {
        let stmt = Stmt::new(
            "INSERT INTO journal_meta (key, value) VALUES ('probed_at', ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            vec![Utc::now().to_rfc3339().into()],
        );
        self.commit(stmt, None).await
    }

    /// The connection pool (the paper exchange's tables live in the same file).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The file's single writer, shared with the paper exchange so they never contend.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Waits until every queued update is committed.
    pub async fn flush(&self) -> Result<(), JournalError> {
        self.writer.flush().await.map_err(JournalError::from_write)
    }

    /// Commits everything queued, stops the writer and closes the pool; later writes fail
    /// with [`WriteError::Stopped`].
    pub async fn close(&self) -> Result<(), JournalError> {
        let flushed = self.flush().await;
        self.writer.close().await;
        self.pool.close().await;
        flushed
    }

    /// False when `wave_id` certainly has nothing journaled (its reads can be skipped).
    pub fn knows_wave(&self, wave_id: &str) -> bool {
        self.waves.contains(wave_id)
    }

    /// Records an order as `pending`; fails if the id is journaled already.
    pub async fn insert_pending(&self, order: &NewOrder<'_>) -> Result<(), JournalError> {
        self.insert(order, OrderState::Pending).await
    }

    /// Records an order as `sent` before it goes on the wire; fails if the id is journaled
    /// already, so no order is ever sent twice.
    pub async fn insert_sent(&self, order: &NewOrder<'_>) -> Result<OrderState, JournalError> {
        let state = OrderState::Pending.transition(OrderEvent::Submit)?;
        self.insert(order, state).await?;
        Ok(state)
    }

    async fn insert(&self, o: &NewOrder<'_>, state: OrderState) -> Result<(), JournalError> {
        self.waves.note(o.wave_id);
        let stmt = Stmt::new(
            "INSERT INTO orders (client_order_id, wave_id, signal_id, symbol, state, updated_at,
                 side, wave_target, rank_index, round, trailing_state, trailing_activation,
                 trailing_distance)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                o.client_order_id.into(),
                o.wave_id.into(),
                o.signal_id.into(),
                o.symbol.into(),
                state.to_string().into(),
                Utc::now().to_rfc3339().into(),
                o.side.as_str().into(),
                i64::from(o.wave_target).into(),
                i64::from(o.index).into(),
                i64::from(o.round).into(),
                // A restart's sweep has no wave params: it places the trailing stop from here.
                match o.trailing {
                    Some(_) => TrailingState::Pending,
                    None => TrailingState::Off,
                }
                .to_string()
                .into(),
                o.trailing.map(|t| t.activation_percent).into(),
                o.trailing.map(|t| t.distance_percent).into(),
            ],
        );
        self.commit(stmt, None).await
    }

    /// Moves an order from `from` by `event` (compare-and-set), storing `update`; waits for the
    /// commit.
    pub async fn apply(
        &self,
        client_order_id: &str,
        from: OrderState,
        event: OrderEvent,
        update: &OrderUpdate,
    ) -> Result<OrderState, JournalError> {
        let (to, stmt) = transition_stmt(client_order_id, from, event, update)?;
        let stale = JournalError::Stale {
            client_order_id: client_order_id.to_owned(),
            expected: from,
        };
        self.commit(stmt, Some(stale)).await?;
        Ok(to)
    }

    /// As [`Journal::apply`], but queued (a failure is logged): for bookkeeping after the
    /// exchange answered, where a lost commit only means a lookup later.
    pub fn apply_later(
        &self,
        client_order_id: &str,
        from: OrderState,
        event: OrderEvent,
        update: &OrderUpdate,
    ) -> Result<OrderState, JournalError> {
        let (to, stmt) = transition_stmt(client_order_id, from, event, update)?;
        self.writer.queue(
            format!("order {client_order_id} {from} -> {to}"),
            vec![stmt],
        );
        Ok(to)
    }

    /// Queues whether a filled order's position still counts, without a state change.
    pub fn set_execution_later(&self, client_order_id: &str, executed: bool, error: Option<&str>) {
        self.writer.queue(
            format!("order {client_order_id} execution"),
            vec![execution_stmt(client_order_id, executed, error)],
        );
    }

    /// Records a stop step that sends something (`Send`, `Close`), committed before the request
    /// leaves, so a later run looks up attempts up to `attempt` instead of sending blindly.
    pub async fn stop_step(
        &self,
        client_order_id: &str,
        from: StopState,
        event: StopEvent,
        attempt: u32,
    ) -> Result<StopState, JournalError> {
        let (to, stmt) = stop_stmt(client_order_id, from, event, attempt)?;
        let stale = format!("order {client_order_id}: stop not in state {from}");
        self.commit(stmt, Some(JournalError::Write(stale))).await?;
        Ok(to)
    }

    /// As [`Journal::stop_step`] for `Send`, but queued: only for a fresh fill's first stop
    /// attempt, which needs no commit of its own before it leaves. A later run reads a filled
    /// entry's stop step `none` as "attempt 0 may be out" and looks up every stop id from 0
    /// before it sends anything (`execute::recover::protect_own`); a close or a retry commits
    /// after this write (one queue), so what a later run reads is never behind a send it must
    /// know of.
    pub fn stop_send_later(
        &self,
        client_order_id: &str,
        from: StopState,
        attempt: u32,
    ) -> Result<StopState, JournalError> {
        let (to, stmt) = stop_stmt(client_order_id, from, StopEvent::Send, attempt)?;
        self.writer.queue(
            format!("order {client_order_id} stop {from} -> {to} (attempt {attempt})"),
            vec![stmt],
        );
        Ok(to)
    }

    /// As [`Journal::stop_step`], but queued, for an answered outcome; `execution` sets the
    /// order's `executed`/`error` in the same write (an empty error clears it).
    pub fn stop_step_later(
        &self,
        client_order_id: &str,
        from: StopState,
        event: StopEvent,
        execution: Option<(bool, &str)>,
    ) -> Result<StopState, JournalError> {
        let (to, stmt) = stop_outcome_stmt(client_order_id, from, event)?;
        let mut stmts = vec![stmt];
        if let Some((executed, error)) = execution {
            let error = (!error.is_empty()).then_some(error);
            stmts.push(execution_stmt(client_order_id, executed, error));
        }
        self.writer.queue(
            format!("order {client_order_id} stop {from} -> {to}"),
            stmts,
        );
        Ok(to)
    }

    /// True when an order of `symbol` was journaled after `client_order_id`'s: orders are
    /// journaled only when the symbol had no position, so the earlier one's was closed by then.
    pub async fn journaled_after(
        &self,
        client_order_id: &str,
        symbol: &str,
    ) -> Result<bool, JournalError> {
        // Rowids grow with every insert (no deletes): a range scan, no index for a rare read.
        let later: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM orders
                 WHERE rowid > (SELECT rowid FROM orders WHERE client_order_id = ?)
                   AND symbol = ?)",
        )
        .bind(client_order_id)
        .bind(symbol)
        .fetch_one(&self.pool)
        .await?;
        Ok(later)
    }

    /// Every journaled order of `wave_id`, by signal id.
    pub async fn wave_orders(&self, wave_id: &str) -> Result<Vec<JournalOrder>, JournalError> {
        let rows = sqlx::query(order_row::SELECT_BY_WAVE)
            .bind(wave_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(JournalOrder::from_row).collect()
    }

    /// Orders of any wave with an unfinished outcome, stop or trailing step, oldest first.
    pub async fn open_orders(&self) -> Result<Vec<JournalOrder>, JournalError> {
        let rows = sqlx::query(order_row::SELECT_OPEN)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(JournalOrder::from_row).collect()
    }

    /// Orders that left (or may have left) for the exchange: everything past `pending`.
    pub async fn orders_sent(&self) -> Result<u64, JournalError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE state <> 'pending'")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Stores a wave's final `Result` (replayed on a re-send) after every update queued before.
    pub async fn save_result(
        &self,
        wave_id: &str,
        result: &pb::Result,
    ) -> Result<(), JournalError> {
        self.waves.note(wave_id);
        let stmt = Stmt::new(
            "INSERT INTO wave_results (wave_id, result, completed_at) VALUES (?, ?, ?)
             ON CONFLICT (wave_id) DO NOTHING",
            vec![
                wave_id.into(),
                Value::Blob(result.encode_to_vec()),
                Utc::now().to_rfc3339().into(),
            ],
        );
        self.commit(stmt, None).await
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

    /// Queues `stmt` and waits for its commit; `stale`: the error when it matched no row.
    async fn commit(&self, stmt: Stmt, stale: Option<JournalError>) -> Result<(), JournalError> {
        self.writer
            .write(vec![stmt])
            .await
            .map_err(|e| match (e, stale) {
                (WriteError::NoRow, Some(stale)) => stale,
                (e, _) => JournalError::from_write(e),
            })
    }
}

impl JournalError {
    fn from_write(e: WriteError) -> Self {
        match e {
            WriteError::Statement(e) => JournalError::Statement(e),
            e => JournalError::Write(e.to_string()),
        }
    }
}

/// The compare-and-set statement of a state change, and the state it leads to.
fn transition_stmt(
    client_order_id: &str,
    from: OrderState,
    event: OrderEvent,
    update: &OrderUpdate,
) -> Result<(OrderState, Stmt), TransitionError> {
    let to = from.transition(event)?;
    let stmt = Stmt::new(
        "UPDATE orders SET state = ?, exchange_order_id = COALESCE(?, exchange_order_id),
            executed = ?, error = ?, fill_price = ?, quantity = ?, updated_at = ?
         WHERE client_order_id = ? AND state = ?",
        vec![
            to.to_string().into(),
            update.exchange_order_id.as_deref().into(),
            update.executed.into(),
            update.error.as_deref().into(),
            update.fill_price.into(),
            update.quantity.into(),
            Utc::now().to_rfc3339().into(),
            client_order_id.into(),
            from.to_string().into(),
        ],
    )
    .expecting_a_row();
    Ok((to, stmt))
}

fn execution_stmt(client_order_id: &str, executed: bool, error: Option<&str>) -> Stmt {
    Stmt::new(
        "UPDATE orders SET executed = ?, error = ?, updated_at = ? WHERE client_order_id = ?",
        vec![
            executed.into(),
            error.into(),
            Utc::now().to_rfc3339().into(),
            client_order_id.into(),
        ],
    )
}

#[cfg(test)]
mod tests;

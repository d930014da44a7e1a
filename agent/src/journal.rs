//! The agent's journal: a SQLite file recording every order before it is sent, and the final
//! `Result` of every completed wave.
//!
//! It is what makes re-sent waves and restarts safe (docs/design.md §3): an order is written with its
//! deterministic client order id before it reaches the exchange — ONE committed write, straight
//! in state `sent` ([`Journal::insert_sent`]: the `pending → sent` step applied in the same
//! write); a filled order is reported from here and never placed again; an order in `pending`,
//! `sent` or `unknown` is looked up at the exchange, never re-sent. What happens after the
//! exchange answered (fill, rejection, stop outcome) is queued to the file's single
//! [`writer`] and committed in batches off the order path ([`Journal::apply_later`]); losing
//! it in a crash is safe because the row stays `sent` and is looked up. A wave's `Result` is
//! committed after everything queued before it, so a stored result implies its orders' rows.
//!
//! WAL mode with `synchronous = NORMAL` by default: a commit is durable against a process
//! crash, not against power loss, and stays off the fsync path. `journal_sync = "full"`
//! ([`JournalSync::Full`]) makes every commit survive power loss too, for one fsync per order.

pub mod identity;
mod known_waves;
mod leverage;
mod migrate;
mod order_row;
pub mod order_state;
mod stop_sql;
pub mod stop_state;
pub mod trailing;
mod venue_ack;
pub mod writer;

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
pub use order_row::{JournalOrder, NewOrder};
pub use order_state::{OrderEvent, OrderState, TransitionError};
pub use stop_state::{StopEvent, StopState, StopTransitionError};
pub use trailing::{TrailingEvent, TrailingState, TrailingTransitionError};
pub use writer::{Stmt, Value, WriteError, Writer};

use known_waves::KnownWaves;
use stop_sql::{stop_outcome_stmt, stop_stmt};

/// A journal failure.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
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
    /// Every wave id with a row in `orders` or `wave_results`: loaded at open, added on every
    /// insert (before its write, so it can only over-approximate). A wave not in it has
    /// nothing journaled, so its session start skips both reads (docs/design.md §5: they sit between
    /// the wave's close and its first order).
    waves: KnownWaves,
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
        updated_at TEXT NOT NULL,
        stop_state TEXT NOT NULL DEFAULT 'none',
        stop_attempt INTEGER NOT NULL DEFAULT 0,
        stops_sent INTEGER NOT NULL DEFAULT 0,
        side TEXT,
        wave_target INTEGER,
        rank_index INTEGER,
        round INTEGER,
        trailing_state TEXT NOT NULL DEFAULT 'off',
        trailing_attempt INTEGER NOT NULL DEFAULT 0,
        trailing_activation REAL,
        trailing_distance REAL,
        trailing_error TEXT
    )",
    "CREATE INDEX IF NOT EXISTS orders_by_wave ON orders (wave_id, signal_id)",
    "CREATE TABLE IF NOT EXISTS wave_results (
        wave_id TEXT PRIMARY KEY,
        result BLOB NOT NULL,
        completed_at TEXT NOT NULL
    )",
];

/// How durable a journal commit is before the order it records is sent (`journal_sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalSync {
    /// SQLite `synchronous = NORMAL` in WAL mode: a commit survives a crash of the agent
    /// process, not of its host (power loss, kernel panic); no fsync on the order path.
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit is on disk before the order leaves, so the record
    /// survives power loss too (a lost record could let an order be sent again on an exchange
    /// that accepts a reused client order id once the first one filled); one fsync per order.
    Full,
}

impl JournalSync {
    /// Parses `normal` or `full`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "normal" => Some(Self::Normal),
            "full" => Some(Self::Full),
            _ => None,
        }
    }
}

impl Journal {
    /// Opens (creating if missing) the journal at `path` and its tables, with
    /// [`JournalSync::Normal`].
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
        // A connection that saw a storage fault may hold a transaction its failed COMMIT left
        // open (`wavegate_common::fault_clock`): closed instead of reused.
        let clock = std::sync::Arc::new(FaultClock::default());
        let (c1, c2) = (clock.clone(), clock.clone());
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .before_acquire(move |_, meta| {
                let fresh = !c1.stale(meta.age);
                Box::pin(async move { Ok(fresh) })
            })
            .after_release(move |_, meta| {
                let fresh = !c2.stale(meta.age);
                Box::pin(async move { Ok(fresh) })
            })
            .connect_with(opts)
            .await?;
        // Damage anywhere in the file refuses the start, before anything is read from it.
        identity::quick_check(&pool).await?;
        for stmt in SCHEMA
            .iter()
            .chain([&identity::SCHEMA, &leverage::SCHEMA, &venue_ack::SCHEMA])
        {
            sqlx::query(*stmt).execute(&pool).await?;
        }
        migrate::add_missing_columns(&pool).await?;
        let waves = KnownWaves::load(&pool).await?;
        let writer = Writer::spawn_with(pool.clone(), clock);
        Ok(Self {
            pool,
            writer,
            waves,
        })
    }

    /// True while the journal's storage fails (disk full, I/O error): no new order may be
    /// sent, since it could not be journaled first.
    pub fn faulted(&self) -> bool {
        self.writer.faulted()
    }

    /// A write that commits only if the storage takes writes again; clears
    /// [`Journal::faulted`] when it does.
    pub async fn probe(&self) -> Result<(), JournalError> {
        let stmt = Stmt::new(
            "INSERT INTO journal_meta (key, value) VALUES ('probed_at', ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            vec![Utc::now().to_rfc3339().into()],
        );
        self.writer
            .write(vec![stmt])
            .await
            .map_err(JournalError::from_write)
    }

    /// Compares the journal's identity with `me`: [`JournalError::Foreign`] when it is another
    /// agent's, [`Standing::New`] when it has neither identity nor history. Writes nothing.
    pub async fn check_identity(&self, me: &Identity) -> Result<Standing, JournalError> {
        identity::check(&self.pool, me).await
    }

    /// Records `me` as the journal's agent (kept once written).
    pub async fn stamp_identity(&self, me: &Identity) -> Result<(), JournalError> {
        identity::stamp(&self.pool, me).await
    }

    /// Symbols the journal accounts for at the venue: those of its orders that may have
    /// opened a position, and the positions an operator acknowledged.
    pub async fn known_position_symbols(&self) -> Result<Vec<String>, JournalError> {
        venue_ack::known_symbols(&self.pool).await
    }

    /// Records `symbols` as positions the operator confirmed (`--confirm-new-journal`): later
    /// start-up checks take them as known.
    pub async fn acknowledge_positions(&self, symbols: &[String]) -> Result<(), JournalError> {
        venue_ack::acknowledge(&self.pool, symbols).await
    }

    /// The connection pool (the paper exchange keeps its tables in the same file and reads
    /// them through it).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The file's single writer: the paper exchange writes its tables through it, so the two
    /// never contend for SQLite's file lock.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Waits until every queued update is committed. Called when a wave session ends, so a
    /// shutdown (which closes the pool after the sessions) loses nothing.
    pub async fn flush(&self) -> Result<(), JournalError> {
        self.writer.flush().await.map_err(JournalError::from_write)
    }

    /// Commits everything queued (updates, the paper exchange's records), stops the writer
    /// (which gives its held connection back) and closes the pool. Writes queued after this
    /// fail with [`WriteError::Stopped`].
    pub async fn close(&self) -> Result<(), JournalError> {
        let flushed = self.flush().await;
        self.writer.close().await;
        self.pool.close().await;
        flushed
    }

    /// True when `wave_id` may have something journaled (an order or a result); false means
    /// certainly nothing, so [`Journal::load_result`] and [`Journal::wave_orders`] can be
    /// skipped.
    pub fn knows_wave(&self, wave_id: &str) -> bool {
        self.waves.contains(wave_id)
    }

    /// Records an order as `pending` (journaled, not yet handed to the exchange). Fails if the
    /// id is journaled already, so an order can never be recorded (and thus sent) twice.
    pub async fn insert_pending(&self, order: &NewOrder<'_>) -> Result<(), JournalError> {
        self.insert(order, OrderState::Pending).await
    }

    /// Records an order in state `sent` — `pending` and its `Submit` in one committed write —
    /// right before it goes on the wire; returns once committed. Fails if the id is journaled
    /// already, so an order can never be recorded (and thus sent) twice. A crash after this
    /// leaves the order `sent`, which a later run looks up instead of sending.
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
                state.as_str().into(),
                Utc::now().to_rfc3339().into(),
                o.side.as_str().into(),
                i64::from(o.wave_target).into(),
                i64::from(o.index).into(),
                i64::from(o.round).into(),
                // The trailing stop's distances are journaled with the order, so a later run
                // (a restart's sweep has no wave params) can place it.
                match o.trailing {
                    Some(_) => TrailingState::Pending,
                    None => TrailingState::Off,
                }
                .as_str()
                .into(),
                o.trailing.map(|t| t.activation_percent).into(),
                o.trailing.map(|t| t.distance_percent).into(),
            ],
        );
        self.writer
            .write(vec![stmt])
            .await
            .map_err(JournalError::from_write)
    }

    /// Moves an order from `from` by `event`, storing `update`, and waits for the commit. The
    /// update only applies if the row is still in `from` (compare-and-set), so two writers
    /// cannot both win.
    pub async fn apply(
        &self,
        client_order_id: &str,
        from: OrderState,
        event: OrderEvent,
        update: &OrderUpdate,
    ) -> Result<OrderState, JournalError> {
        let (to, stmt) = transition_stmt(client_order_id, from, event, update)?;
        self.writer.write(vec![stmt]).await.map_err(|e| match e {
            WriteError::NoRow => JournalError::Stale {
                client_order_id: client_order_id.to_owned(),
                expected: from,
            },
            e => JournalError::from_write(e),
        })?;
        Ok(to)
    }

    /// As [`Journal::apply`], but queued: committed with the next batch, off the caller's
    /// path (a lost compare-and-set or a failure is logged). For bookkeeping after the
    /// exchange answered, where a crash before the commit only means a lookup later.
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

    /// Records what became of a filled order's position after the entry (stop failed and
    /// closed → not executed; close failed too → executed with an error). No state change.
    pub async fn set_execution(
        &self,
        client_order_id: &str,
        executed: bool,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        self.writer
            .write(vec![execution_stmt(client_order_id, executed, error)])
            .await
            .map_err(JournalError::from_write)
    }

    /// As [`Journal::set_execution`], but queued (see [`Journal::apply_later`]).
    pub fn set_execution_later(&self, client_order_id: &str, executed: bool, error: Option<&str>) {
        self.writer.queue(
            format!("order {client_order_id} execution"),
            vec![execution_stmt(client_order_id, executed, error)],
        );
    }

    /// Records a stop-step change that sends something (`Send`, `Close`) and returns once it
    /// is committed, so the request never leaves before the journal knows it may have: a
    /// later run looks up the stop attempts up to `attempt` instead of sending blindly.
    pub async fn stop_step(
        &self,
        client_order_id: &str,
        from: StopState,
        event: StopEvent,
        attempt: u32,
    ) -> Result<StopState, JournalError> {
        let (to, stmt) = stop_stmt(client_order_id, from, event, attempt)?;
        self.writer.write(vec![stmt]).await.map_err(|e| match e {
            WriteError::NoRow => {
                JournalError::Write(format!("order {client_order_id}: stop not in state {from}"))
            }
            e => JournalError::from_write(e),
        })?;
        Ok(to)
    }

    /// As [`Journal::stop_step`], but queued (see [`Journal::apply_later`]): for an outcome
    /// the exchange answered (stop placed, position closed). With `execution`, the order's
    /// `executed`/`error` are set in the same write (an empty error clears it).
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
            // An empty error clears it (a stop placed after all for an unprotected position).
            let error = (!error.is_empty()).then_some(error);
            stmts.push(execution_stmt(client_order_id, executed, error));
        }
        self.writer.queue(
            format!("order {client_order_id} stop {from} -> {to}"),
            stmts,
        );
        Ok(to)
    }

    /// True when an order of `symbol` was journaled after `client_order_id`'s. Every order is
    /// journaled under its symbol's lock after the exchange listed no open position in the
    /// symbol, so a later one means the earlier order's position had been closed by then:
    /// the symbol's position now, if any, is not the earlier order's (whatever its size).
    pub async fn journaled_after(
        &self,
        client_order_id: &str,
        symbol: &str,
    ) -> Result<bool, JournalError> {
        // A range scan of the rowids after the order's (rows are never deleted, so rowids
        // grow with every insert); no index on the order path for this rare read.
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

    /// Every journaled order, of any wave, whose outcome is unknown or whose position has no
    /// stop yet (see [`crate::reprotect`]), oldest first.
    pub async fn open_orders(&self) -> Result<Vec<JournalOrder>, JournalError> {
        let rows = sqlx::query(order_row::SELECT_OPEN)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(JournalOrder::from_row)
            .filter(|r| r.as_ref().map_or(true, crate::execute::needs_side))
            .collect()
    }

    /// Orders that left (or may have left) for the exchange: everything past `pending`.
    pub async fn orders_sent(&self) -> Result<u64, JournalError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE state <> 'pending'")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Stores the final `Result` of a wave (replayed when the wave is sent again), after every
    /// update queued before it (one FIFO writer), so the orders' rows are committed with it.
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
        self.writer
            .write(vec![stmt])
            .await
            .map_err(JournalError::from_write)
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

impl JournalError {
    pub(crate) fn from_write(e: WriteError) -> Self {
        match e {
            WriteError::Statement(e) => JournalError::Db(e),
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
            to.as_str().into(),
            update.exchange_order_id.as_deref().into(),
            update.executed.into(),
            update.error.as_deref().into(),
            update.fill_price.into(),
            update.quantity.into(),
            Utc::now().to_rfc3339().into(),
            client_order_id.into(),
            from.as_str().into(),
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

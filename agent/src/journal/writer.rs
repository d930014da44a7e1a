//! The journal file's single writer: a task that commits whatever has queued up (FIFO) in one
//! transaction. Only writes a caller must see committed wait for an acknowledgement (the
//! order's row before it is sent, the paper exchange's record of an order, a wave's `Result`);
//! bookkeeping after an answer is queued and committed with whatever comes next.
//!
//! Guarantees: one queue, one task, so an acknowledged write ([`Writer::flush`], a `Result`)
//! implies every earlier write committed; after a crash the file holds a prefix of the queue.
//! The paper exchange shares this writer (its tables live in the same file), so SQLite's file
//! lock is never contended between them.
//!
//! The writer has its own rusqlite connection (a sqlx worker round trip costs two thread
//! wake-ups per write, docs/benchmarks.md) and commits on the task's thread between
//! `BEGIN IMMEDIATE` and `COMMIT`; a batch that would wait (`journal_sync = "full"`, or another
//! connection's write lock) runs on the blocking pool, as does every 256th batch, followed by
//! a WAL checkpoint (SQLite's own is off: it would fsync inside an inline `COMMIT`). The
//! connection is dropped by [`Writer::close`], when the pool closes, and after a storage fault
//! (an open transaction would keep the write lock); the next batch opens a fresh one.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, warn};
use wavegate_common::fault_clock::FaultClock;

use super::JournalSync;

/// Most writes committed in one transaction (bounds how long one commit holds the file).
const MAX_BATCH: usize = 512;

/// Prepared statements the writer's connection keeps (as many as sqlx's connections keep).
const STATEMENT_CACHE: usize = 100;

/// How long a write waits for SQLite's file lock (as long as the journal's pool waits).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Batches between two WAL checkpoints. SQLite's own auto-checkpoint (every 1000 pages,
/// sqlite.org/wal.html) would fsync inside an inline `COMMIT` on a runtime worker, so it is off
/// and every this many batches one runs on the blocking pool followed by a checkpoint; a
/// journal batch dirties a few pages (a row, its indexes), so this is about SQLite's cadence.
const CHECKPOINT_EVERY: u32 = 256;

/// Log target of an acknowledged write's timing line (queue wait, commit, way back).
pub const TIMING_TARGET: &str = "wavegate_agent::journal_timing";

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// Floating point.
    Real(f64),
    /// Bytes.
    Blob(Vec<u8>),
    /// SQL NULL.
    Null,
}

/// `From` impls for the plain types a statement binds.
macro_rules! value_from {
    ($($t:ty => $f:expr),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                $f(v)
            }
        }
    )*};
}

value_from! {
    &str => |v: &str| Value::Text(v.to_owned()),
    String => Value::Text,
    Option<&str> => |v: Option<&str>| v.map_or(Value::Null, Value::from),
    Option<i64> => |v: Option<i64>| v.map_or(Value::Null, Value::Int),
    Option<f64> => |v: Option<f64>| v.map_or(Value::Null, Value::Real),
    i64 => Value::Int,
    bool => |v| Value::Int(i64::from(v)),
    f64 => Value::Real,
}

/// Money is stored in REAL columns: a venue decimal (far fewer than 15 significant digits)
/// reads back exactly ([`crate::exchange::money::decimal`]).
impl From<crate::exchange::Decimal> for Value {
    fn from(v: crate::exchange::Decimal) -> Self {
        Value::Real(crate::exchange::money::to_f64(v))
    }
}

/// One statement of a write.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    sql: &'static str,
    args: Vec<Value>,
    expect_row: bool,
}

impl Stmt {
    /// A statement with its arguments, in placeholder order.
    pub fn new(sql: &'static str, args: Vec<Value>) -> Self {
        Self {
            sql,
            args,
            expect_row: false,
        }
    }

    /// The write fails with [`WriteError::NoRow`] when this statement changes no row (a
    /// compare-and-set that lost).
    pub fn expecting_a_row(mut self) -> Self {
        self.expect_row = true;
        self
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Blob(v) => ValueRef::Blob(v),
            Value::Null => ValueRef::Null,
        }))
    }
}

/// Why a write did not commit.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A statement of this write failed (e.g. a duplicate key); the others of its batch commit.
    #[error("statement failed: {0}")]
    Statement(#[from] rusqlite::Error),
    /// A compare-and-set statement changed no row.
    #[error("no row matched")]
    NoRow,
    /// The batch's transaction could not begin or commit: nothing of it is stored.
    #[error("batch not committed: {0}")]
    Batch(String),
    /// The writer stopped (its pool closed or its runtime ended).
    #[error("journal writer stopped")]
    Stopped,
}

enum Msg {
    /// A write to commit.
    Write(Write),
    /// Commit everything before, give the connection back and stop.
    Close(oneshot::Sender<()>),
}

struct Write {
    stmts: Vec<Stmt>,
    /// What the write is, for the log when nobody waits for its outcome.
    what: String,
    ack: Option<oneshot::Sender<Done>>,
}

/// A write's outcome, with the timings of [`TIMING_TARGET`]'s line.
struct Done {
    outcome: Result<(), WriteError>,
    /// The batch's writes: (acknowledged, queued).
    batch: (usize, usize),
    picked: Instant,
    committed: Instant,
}

/// Handle to the writer of one database file (cheap to clone).
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Msg>,
    /// Set by a storage fault, cleared by the next batch that commits: no new order meanwhile.
    faulted: Arc<AtomicBool>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("stopped", &self.tx.is_closed())
            .finish()
    }
}

impl Writer {
    /// Starts the writer of `pool`'s file (a tokio task, ending with its last handle); whoever
    /// else writes the file gets a clone, never a second writer.
    pub fn spawn(pool: SqlitePool) -> Self {
        Self::spawn_with(pool, Arc::default(), JournalSync::Normal)
    }

    /// [`Writer::spawn`] with the commit durability, noting storage faults in `clock`.
    pub fn spawn_with(pool: SqlitePool, clock: Arc<FaultClock>, sync: JournalSync) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let faulted = Arc::default();
        let store = Store {
            path: pool.connect_options().get_filename().to_owned(),
            full: sync == JournalSync::Full,
            conn: None,
            pool_open: true,
            since_checkpoint: 0,
        };
        tokio::spawn(run(store, pool, rx, Arc::clone(&faulted), clock));
        Self { tx, faulted }
    }

    /// True after a storage fault (disk full, I/O error) until a batch commits again.
    pub fn faulted(&self) -> bool {
        self.faulted.load(Ordering::Acquire)
    }

    /// Queues a write and waits until it is committed (or failed).
    pub async fn write(&self, stmts: Vec<Stmt>) -> Result<(), WriteError> {
        let queued = Instant::now();
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Msg::Write(Write {
                stmts,
                what: String::new(),
                ack: Some(ack),
            }))
            .map_err(|_| WriteError::Stopped)?;
        let Ok(done) = done.await else {
            return Err(WriteError::Stopped);
        };
        if tracing::enabled!(target: TIMING_TARGET, tracing::Level::DEBUG) {
            let us = |a: Instant, b: Instant| (b.saturating_duration_since(a)).as_micros();
            debug!(
                target: TIMING_TARGET,
                total_us = us(queued, Instant::now()),
                queue_us = us(queued, done.picked),
                commit_us = us(done.picked, done.committed),
                back_us = us(done.committed, Instant::now()),
                acked = done.batch.0,
                queued_writes = done.batch.1,
                "journal write timing"
            );
        }
        done.outcome
    }

    /// Queues a write without waiting; a failure is logged with `what`. It commits before any
    /// write queued after it is acknowledged.
    pub fn queue(&self, what: String, stmts: Vec<Stmt>) {
        let w = Write {
            stmts,
            what,
            ack: None,
        };
        if let Err(mpsc::error::SendError(Msg::Write(w))) = self.tx.send(Msg::Write(w)) {
            error!(what = %w.what, "journal writer stopped; write lost");
        }
    }

    /// Commits every write queued before, closes the connection and stops the writer (of
    /// every handle): later writes fail with [`WriteError::Stopped`].
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.tx.send(Msg::Close(done)).is_ok() {
            // An error means the task ended anyway (its runtime is shutting down).
            let _ = closed.await;
        }
    }

    /// Waits until every write queued so far is committed.
    pub async fn flush(&self) -> Result<(), WriteError> {
        self.write(Vec::new()).await
    }
}

/// The writer's connection and how to open it.
struct Store {
    path: PathBuf,
    /// `synchronous = FULL`: every commit is an fsync (run on the blocking pool).
    full: bool,
    conn: Option<Connection>,
    /// False once the journal's pool started closing: no write commits after that.
    pool_open: bool,
    /// Batches committed since the last WAL checkpoint ([`CHECKPOINT_EVERY`]).
    since_checkpoint: u32,
}

/// Why a batch did not commit: nothing of it is stored.
struct BatchFailed {
    reason: String,
    /// The storage failed (disk full, I/O error, corruption), not the batch.
    fault: bool,
}

impl From<rusqlite::Error> for BatchFailed {
    fn from(e: rusqlite::Error) -> Self {
        Self {
            fault: storage_fault(&e),
            reason: e.to_string(),
        }
    }
}

/// The outcome of each write of a batch, or why the batch failed.
type Outcomes = Result<Vec<Result<(), WriteError>>, BatchFailed>;

impl Store {
    /// Commits `batch`, dropping the connection when the batch failed or saw a storage fault.
    /// Empties `batch` only when its outcomes are lost with a failed thread.
    async fn commit(&mut self, batch: &mut Vec<Write>) -> Outcomes {
        if !self.pool_open {
            return Err(BatchFailed {
                reason: "the journal's pool is closed".into(),
                fault: false,
            });
        }
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => open(&self.path, self.full)?,
        };
        self.since_checkpoint += 1;
        let checkpoint = self.since_checkpoint >= CHECKPOINT_EVERY;
        if checkpoint {
            self.since_checkpoint = 0;
        }
        let inline = (!self.full && !checkpoint).then(|| run_all(&mut conn, batch));
        let outcomes = match inline {
            Some(ran) if !ran.as_ref().err().is_some_and(busy) => ran,
            // `journal_sync = "full"` (a commit is an fsync), a WAL checkpoint is due (fsyncs),
            // or another connection holds the file's write lock: on the blocking pool, waiting
            // for the lock as the pool would.
            _ => {
                let writes = std::mem::take(batch);
                let ran = tokio::task::spawn_blocking(move || {
                    let ran = conn
                        .busy_timeout(BUSY_TIMEOUT)
                        .and_then(|()| run_all(&mut conn, &writes));
                    if checkpoint && ran.is_ok() {
                        // Readers may keep it from finishing; the next one goes further.
                        if let Err(e) =
                            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                        {
                            warn!(error = %e, "journal WAL checkpoint failed");
                        }
                    }
                    // Not waiting again: the next batch runs inline. When that cannot be
                    // set, the batch's outcomes stand but the connection is not kept.
                    let reset = conn.busy_timeout(Duration::ZERO).is_ok();
                    (reset.then_some(conn), writes, ran)
                })
                .await;
                match ran {
                    Ok((Some(c), writes, outcomes)) => {
                        conn = c;
                        *batch = writes;
                        outcomes
                    }
                    Ok((None, writes, outcomes)) => {
                        *batch = writes;
                        return outcomes.map_err(BatchFailed::from);
                    }
                    // Its writes' callers hear `Stopped` (their acknowledgements are dropped).
                    Err(e) => {
                        return Err(BatchFailed {
                            reason: format!("journal commit thread failed: {e}"),
                            fault: false,
                        });
                    }
                }
            }
        };
        if outcomes.as_ref().is_ok_and(|o| !any_fault(o)) {
            self.conn = Some(conn);
        }
        outcomes.map_err(BatchFailed::from)
    }
}

/// Opens the writer's connection to the journal file (created by the pool already).
fn open(path: &std::path::Path, full: bool) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    // Inline batches never wait for the lock (a runtime worker); `Store::commit` retries on
    // the blocking pool.
    conn.busy_timeout(Duration::ZERO)?;
    // As the pool's connections.
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", if full { "FULL" } else { "NORMAL" })?;
    // Checkpoints run on the blocking pool (`CHECKPOINT_EVERY`), never inside a `COMMIT`.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

async fn run(
    mut store: Store,
    pool: SqlitePool,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    faulted: Arc<AtomicBool>,
    clock: Arc<FaultClock>,
) {
    let mut batch = Vec::new();
    let mut closing = None;
    let mut pool_closed = std::pin::pin!(pool.close_event());
    loop {
        let first = if store.pool_open {
            tokio::select! {
                // The pool's close first: a write sent after `pool.close()` returned fails.
                biased;
                () = &mut pool_closed => {
                    store.pool_open = false;
                    store.conn = None;
                    continue;
                }
                m = rx.recv() => m,
            }
        } else {
            rx.recv().await
        };
        let Some(first) = first else { break };
        let picked = Instant::now();
        match first {
            Msg::Write(w) => batch.push(w),
            Msg::Close(done) => closing = Some(done),
        }
        while closing.is_none() && batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Write(w)) => batch.push(w),
                Ok(Msg::Close(done)) => closing = Some(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            commit(&mut store, &mut batch, &faulted, &clock, picked).await;
        }
        if let Some(done) = closing {
            // Closed before the caller hears back: the file is let go when `close` returns.
            store.conn = None;
            rx.close();
            // Writes that raced the close: refused, not left waiting.
            while let Ok(m) = rx.try_recv() {
                match m {
                    Msg::Write(w) => {
                        let now = Instant::now();
                        report(w, Err(WriteError::Stopped), (now, now, (0, 0)));
                    }
                    Msg::Close(also) => {
                        let _ = also.send(());
                    }
                }
            }
            let _ = done.send(());
            return;
        }
    }
}

/// SQLite primary result codes of a failing storage (`sqlite3.h`): `SQLITE_IOERR` (10),
/// `SQLITE_CORRUPT` (11), `SQLITE_FULL` (13), `SQLITE_CANTOPEN` (14); extended codes carry
/// the primary one in their low byte.
fn storage_fault(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if [10, 11, 13, 14].contains(&(f.extended_code & 0xff)))
}

/// True when a write of the batch failed for the storage's sake.
fn any_fault(outcomes: &[Result<(), WriteError>]) -> bool {
    outcomes
        .iter()
        .any(|r| matches!(r, Err(WriteError::Statement(e)) if storage_fault(e)))
}

/// Commits `batch` in one transaction and reports each write's outcome; a storage fault sets
/// `faulted` (and drops the connection), a committed batch of writes clears it.
async fn commit(
    store: &mut Store,
    batch: &mut Vec<Write>,
    faulted: &AtomicBool,
    clock: &FaultClock,
    picked: Instant,
) {
    let writes = batch.iter().any(|w| !w.stmts.is_empty());
    let outcomes = if writes {
        store.commit(batch).await
    } else {
        Ok(batch.iter().map(|_| Ok(())).collect())
    };
    if writes {
        if outcomes.as_ref().map_or_else(|e| e.fault, |o| any_fault(o)) {
            clock.note();
            if !faulted.swap(true, Ordering::AcqRel) {
                error!("journal storage failing (disk full or I/O error): no new order is sent");
            }
        } else if outcomes.is_ok() && faulted.swap(false, Ordering::AcqRel) {
            warn!("journal writes commit again: trading resumes");
        }
    }
    let acked = batch.iter().filter(|w| w.ack.is_some()).count();
    let at = (picked, Instant::now(), (acked, batch.len() - acked));
    match outcomes {
        Ok(outcomes) => {
            for (w, outcome) in batch.drain(..).zip(outcomes) {
                report(w, outcome, at);
            }
        }
        Err(e) => {
            for w in batch.drain(..) {
                report(w, Err(WriteError::Batch(e.reason.clone())), at);
            }
        }
    }
}

/// Tells `w`'s caller its outcome; `at`: when its batch was taken up, when it committed, and
/// its (acknowledged, queued) writes.
fn report(w: Write, outcome: Result<(), WriteError>, at: (Instant, Instant, (usize, usize))) {
    match w.ack {
        // The caller may have gone (e.g. its wave was cancelled): nothing to tell.
        Some(ack) => {
            let (picked, committed, batch) = at;
            let _ = ack.send(Done {
                outcome,
                batch,
                picked,
                committed,
            });
        }
        None => match outcome {
            Ok(()) => {}
            Err(WriteError::NoRow) => warn!(what = %w.what, "journal update matched no row"),
            Err(e) => error!(what = %w.what, error = %e, "journal write failed"),
        },
    }
}

/// Runs a batch between `BEGIN IMMEDIATE` (a busy file fails before anything ran) and
/// `COMMIT`. Err: nothing is stored (a failed `COMMIT` is rolled back, so it can run again).
fn run_all(
    conn: &mut Connection,
    batch: &[Write],
) -> Result<Vec<Result<(), WriteError>>, rusqlite::Error> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for w in batch {
        let outcome = run_one(conn, &w.stmts);
        // On SQLITE_FULL or an I/O error SQLite may roll the whole transaction back itself
        // (sqlite.org/lang_transaction.html, "Response To Errors Within A Transaction"); the
        // writes after it would then commit one by one, not a prefix of the queue.
        if lost_transaction(conn, &outcome) {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return Err(match outcome {
                Err(WriteError::Statement(e)) => e,
                _ => rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some("the batch's transaction was rolled back".into()),
                ),
            });
        }
        outcomes.push(outcome);
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        // Failing here (e.g. no transaction left open) leaves nothing to undo.
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e);
    }
    Ok(outcomes)
}

/// True when a write's `outcome` leaves the batch's transaction unusable: a storage fault,
/// or SQLite rolled the transaction back.
fn lost_transaction(conn: &Connection, outcome: &Result<(), WriteError>) -> bool {
    conn.is_autocommit() || matches!(outcome, Err(WriteError::Statement(e)) if storage_fault(e))
}

/// SQLite's `SQLITE_BUSY`: another connection holds the lock.
fn busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy)
}

/// Runs one write's statements. A failed statement leaves the transaction usable (SQLite
/// undoes only that statement), so one bad write does not sink its batch.
fn run_one(conn: &Connection, stmts: &[Stmt]) -> Result<(), WriteError> {
    for s in stmts {
        // One statement per `Stmt`; a trailing `;` would read as a second, empty one.
        let mut stmt = conn.prepare_cached(s.sql.trim_end().trim_end_matches(';'))?;
        let changed = stmt.execute(rusqlite::params_from_iter(&s.args))?;
        if s.expect_row && changed == 0 {
            return Err(WriteError::NoRow);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

//! The journal file's single writer: one connection whose commits keep the order writes were
//! made in. Only writes a caller must see committed wait for an acknowledgement (the order's
//! row before it is sent, the paper exchange's record of an order, a wave's `Result`);
//! bookkeeping after an answer is queued and committed with whatever comes next. Queued writes
//! go to a task that commits whatever has queued up (FIFO) in one transaction.
//!
//! Guarantees: one queue and one connection, so an acknowledged write ([`Writer::flush`], a
//! `Result`) implies every earlier write committed; after a crash the file holds a prefix of
//! the commit order, in which every write follows those that happened before it. The paper
//! exchange shares this writer (its tables live in the same file), so SQLite's file lock is
//! never contended between them.
//!
//! The writer has its own rusqlite connection (a sqlx worker round trip costs two thread
//! wake-ups per write, docs/benchmarks.md) and commits on the task's thread between
//! `BEGIN IMMEDIATE` and `COMMIT`; a batch that would wait (`journal_sync = "full"`, or another
//! connection's write lock) runs on the blocking pool, as does every 256th batch, followed by
//! a WAL checkpoint (SQLite's own is off: it would fsync inside an inline `COMMIT`). An
//! acknowledged write with nothing queued ahead of it, the connection free, commits the same
//! way on its caller's task instead: no hand-off to the task and back (ninth round). The
//! connection is dropped by [`Writer::close`], when the pool closes, and after a storage fault
//! (an open transaction would keep the write lock); the next batch opens a fresh one
//! (`writer/store.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, warn};
use wavegate_common::fault_clock::FaultClock;

use super::JournalSync;

/// Most writes committed in one transaction (bounds how long one commit holds the file).
const MAX_BATCH: usize = 512;

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
    /// Committed on the caller's task (its queue wait is the lock's).
    inline: bool,
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
    shared: Arc<Shared>,
}

/// What the writer's task and the callers committing on their own task share.
struct Shared {
    /// The connection, held by whoever commits: the task, or a caller ([`Writer::write`]).
    store: tokio::sync::Mutex<Store>,
    /// Writes sent to the task and not yet committed (or failed): a caller commits on its own
    /// task only when none is, so the queue's order holds.
    pending: AtomicUsize,
    /// Set by a storage fault, cleared by the next batch that commits: no new order meanwhile.
    faulted: AtomicBool,
    /// Where storage faults are noted for the journal's pool.
    clock: Arc<FaultClock>,
    /// The journal's pool: once it closes no write commits (the task hears of it first).
    pool: SqlitePool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("stopped", &self.tx.is_closed())
            .finish()
    }
}

impl Shared {
    /// `n` writes sent to the task are committed (or failed, or refused).
    fn sent_done(&self, n: usize) {
        let before = self.pending.fetch_sub(n, Ordering::SeqCst);
        debug_assert!(before >= n, "pending writes {before}, done {n}");
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
        let store = Store {
            path: pool.connect_options().get_filename().to_owned(),
            full: sync == JournalSync::Full,
            conn: None,
            pool_open: true,
            since_checkpoint: 0,
        };
        let shared = Arc::new(Shared {
            store: tokio::sync::Mutex::new(store),
            pending: AtomicUsize::new(0),
            faulted: AtomicBool::new(false),
            clock,
            pool: pool.clone(),
        });
        tokio::spawn(run(Arc::clone(&shared), rx));
        Self { tx, shared }
    }

    /// True after a storage fault (disk full, I/O error) until a batch commits again.
    pub fn faulted(&self) -> bool {
        self.shared.faulted.load(Ordering::Acquire)
    }

    /// Writes and waits until it is committed (or failed). With nothing queued ahead of it
    /// and the connection free, it commits on the caller's task when that cannot wait
    /// (`Store::commit_inline`): no hand-off to the writer's task and back (docs/benchmarks.md,
    /// ninth round). Else it is queued.
    pub async fn write(&self, stmts: Vec<Stmt>) -> Result<(), WriteError> {
        let queued = Instant::now();
        let stmts = match self.try_inline(stmts, queued) {
            Ok(outcome) => return outcome,
            Err(stmts) => stmts,
        };
        let (ack, done) = oneshot::channel();
        self.send(Write {
            stmts,
            what: String::new(),
            ack: Some(ack),
        })
        .map_err(|_| WriteError::Stopped)?;
        let Ok(done) = done.await else {
            return Err(WriteError::Stopped);
        };
        log_timing(queued, &done);
        done.outcome
    }

    /// `stmts` committed on the caller's task (see [`Writer::write`]); `Err(stmts)`, nothing
    /// run, when it must be queued.
    fn try_inline(
        &self,
        stmts: Vec<Stmt>,
        queued: Instant,
    ) -> Result<Result<(), WriteError>, Vec<Stmt>> {
        let Ok(mut store) = self.shared.store.try_lock() else {
            return Err(stmts);
        };
        // Under the lock: the task decrements only once its batch is committed. A closing
        // pool or writer is the task's to refuse.
        let stopping = self.tx.is_closed() || self.shared.pool.is_closed();
        if stopping || self.shared.pending.load(Ordering::SeqCst) != 0 {
            return Err(stmts);
        }
        if stmts.is_empty() {
            // A flush with nothing queued: everything is committed already.
            return Ok(Ok(()));
        }
        let batch = [Write {
            stmts,
            what: String::new(),
            ack: None,
        }];
        let picked = Instant::now();
        let Some(outcomes) = store.commit_inline(&batch) else {
            let [w] = batch;
            return Err(w.stmts);
        };
        // Under the lock, so faults and recoveries are noted in commit order.
        note(&self.shared, &outcomes);
        drop(store);
        let done = Done {
            outcome: match outcomes {
                Ok(o) => o.into_iter().next().unwrap_or(Ok(())),
                Err(e) => Err(WriteError::Batch(e.reason)),
            },
            batch: (1, 0),
            inline: true,
            picked,
            committed: Instant::now(),
        };
        log_timing(queued, &done);
        Ok(done.outcome)
    }

    /// Sends `w` to the task, counted as pending until it is committed; `Err` with the write
    /// when the task stopped.
    fn send(&self, w: Write) -> Result<(), Option<Write>> {
        self.shared.pending.fetch_add(1, Ordering::SeqCst);
        let Err(mpsc::error::SendError(m)) = self.tx.send(Msg::Write(w)) else {
            return Ok(());
        };
        self.shared.sent_done(1);
        Err(match m {
            Msg::Write(w) => Some(w),
            Msg::Close(_) => None,
        })
    }

    /// Queues a write without waiting; a failure is logged with `what`. It commits before any
    /// write queued after it is acknowledged.
    pub fn queue(&self, what: String, stmts: Vec<Stmt>) {
        let w = Write {
            stmts,
            what,
            ack: None,
        };
        if let Err(w) = self.send(w) {
            let what = w.map(|w| w.what).unwrap_or_default();
            error!(%what, "journal writer stopped; write lost");
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

    /// Waits until every write queued so far is committed (or failed: those were logged).
    pub async fn flush(&self) -> Result<(), WriteError> {
        self.write(Vec::new()).await
    }
}

/// [`TIMING_TARGET`]'s line for an acknowledged write queued at `queued`.
fn log_timing(queued: Instant, done: &Done) {
    if tracing::enabled!(target: TIMING_TARGET, tracing::Level::DEBUG) {
        let us = |a: Instant, b: Instant| (b.saturating_duration_since(a)).as_micros();
        debug!(
            target: TIMING_TARGET,
            total_us = us(queued, Instant::now()),
            queue_us = us(queued, done.picked),
            commit_us = us(done.picked, done.committed),
            back_us = us(done.committed, Instant::now()),
            inline = done.inline,
            acked = done.batch.0,
            queued_writes = done.batch.1,
            "journal write timing"
        );
    }
}

async fn run(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Msg>) {
    let pool = shared.pool.clone();
    let mut batch = Vec::new();
    let mut closing = None;
    let mut pool_open = true;
    let mut pool_closed = std::pin::pin!(pool.close_event());
    loop {
        let first = if pool_open {
            tokio::select! {
                // The pool's close first: a write sent after `pool.close()` returned fails.
                biased;
                () = &mut pool_closed => {
                    pool_open = false;
                    let mut store = shared.store.lock().await;
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
            commit(&shared, &mut batch, picked).await;
        }
        if let Some(done) = closing {
            // Closed before the caller hears back: the file is let go when `close` returns.
            shared.store.lock().await.conn = None;
            rx.close();
            // Writes that raced the close: refused, not left waiting.
            while let Ok(m) = rx.try_recv() {
                match m {
                    Msg::Write(w) => {
                        shared.sent_done(1);
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

/// Commits `batch` in one transaction (holding the connection) and reports each write's
/// outcome ([`note`]).
async fn commit(shared: &Shared, batch: &mut Vec<Write>, picked: Instant) {
    let writes = batch.iter().any(|w| !w.stmts.is_empty());
    // Counted now: a failed commit thread takes the batch with it.
    let sent = batch.len();
    let outcomes = if writes {
        let mut store = shared.store.lock().await;
        let outcomes = store.commit(batch).await;
        // Before the lock goes: faults and recoveries noted in commit order, and a caller that
        // then finds nothing pending commits on its own task after these.
        note(shared, &outcomes);
        shared.sent_done(sent);
        outcomes
    } else {
        shared.sent_done(sent);
        Ok(batch.iter().map(|_| Ok(())).collect())
    };
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

/// A committed batch's outcomes: a storage fault notes the clock and sets `faulted` (the
/// connection is dropped already), a batch that committed clears it.
fn note(shared: &Shared, outcomes: &Outcomes) {
    if outcomes.as_ref().map_or_else(|e| e.fault, |o| any_fault(o)) {
        shared.clock.note();
        if !shared.faulted.swap(true, Ordering::AcqRel) {
            error!("journal storage failing (disk full or I/O error): no new order is sent");
        }
    } else if outcomes.is_ok() && shared.faulted.swap(false, Ordering::AcqRel) {
        warn!("journal writes commit again: trading resumes");
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
                inline: false,
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

mod store;

#[cfg(test)]
use store::CHECKPOINT_EVERY;
use store::{Outcomes, Store, any_fault};

#[cfg(test)]
mod tests;

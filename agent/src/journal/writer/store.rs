//! The writer's connection to the journal file and its commits: a batch between `BEGIN
//! IMMEDIATE` and `COMMIT`, on the calling thread when that cannot wait, else on the blocking
//! pool (`journal_sync = "full"`, a WAL checkpoint due, another connection's write lock).

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tracing::warn;
use wavegate_common::fault_clock::is_sqlite_storage_code;

use super::{Stmt, Write, WriteError};

/// Prepared statements the writer's connection keeps (as many as sqlx's connections keep).
const STATEMENT_CACHE: usize = 100;

/// How long a write waits for SQLite's file lock (as long as the journal's pool waits).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Batches between two WAL checkpoints. SQLite's own auto-checkpoint (every 1000 pages,
/// sqlite.org/wal.html) would fsync inside an inline `COMMIT` on a runtime worker, so it is off
/// and every this many batches one runs on the blocking pool followed by a checkpoint; a
/// journal batch dirties a few pages (a row, its indexes), so this is about SQLite's cadence.
pub(super) const CHECKPOINT_EVERY: u32 = 256;

/// The writer's connection and how to open it.
pub(super) struct Store {
    pub(super) path: PathBuf,
    /// `synchronous = FULL`: every commit is an fsync (run on the blocking pool).
    pub(super) full: bool,
    pub(super) conn: Option<Connection>,
    /// False once the journal's pool started closing: no write commits after that.
    pub(super) pool_open: bool,
    /// Batches committed since the last WAL checkpoint ([`CHECKPOINT_EVERY`]).
    pub(super) since_checkpoint: u32,
}

/// Why a batch did not commit: nothing of it is stored.
pub(super) struct BatchFailed {
    pub(super) reason: String,
    /// The storage failed (disk full, I/O error, corruption), not the batch.
    pub(super) fault: bool,
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
pub(super) type Outcomes = Result<Vec<Result<(), WriteError>>, BatchFailed>;

impl Store {
    /// `batch` committed on the calling thread when that cannot wait: the connection is open,
    /// a commit does not fsync (`journal_sync = "normal"`), no WAL checkpoint is due and no
    /// other connection holds the write lock. `None`: nothing ran. The connection is dropped
    /// when the batch failed or saw a storage fault.
    pub(super) fn commit_inline(&mut self, batch: &[Write]) -> Option<Outcomes> {
        if !self.pool_open || self.full || self.since_checkpoint + 1 >= CHECKPOINT_EVERY {
            return None;
        }
        let conn = self.conn.as_mut()?;
        let ran = run_all(conn, batch);
        if ran.as_ref().err().is_some_and(busy) {
            return None;
        }
        self.since_checkpoint += 1;
        if !ran.as_ref().is_ok_and(|o| !any_fault(o)) {
            self.conn = None;
        }
        Some(ran.map_err(BatchFailed::from))
    }

    /// Commits `batch` ([`Store::commit_inline`], else on the blocking pool), dropping the
    /// connection when the batch failed or saw a storage fault. Empties `batch` only when its
    /// outcomes are lost with a failed thread.
    pub(super) async fn commit(&mut self, batch: &mut Vec<Write>) -> Outcomes {
        if !self.pool_open {
            return Err(BatchFailed {
                reason: "the journal's pool is closed".into(),
                fault: false,
            });
        }
        if self.conn.is_none() {
            self.conn = Some(open(&self.path, self.full)?);
        }
        if let Some(done) = self.commit_inline(batch) {
            return done;
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
        // `journal_sync = "full"` (a commit is an fsync), a WAL checkpoint is due (fsyncs), or
        // another connection holds the file's write lock: on the blocking pool, waiting for
        // the lock as the pool would.
        let writes = std::mem::take(batch);
        let ran = tokio::task::spawn_blocking(move || {
            let ran = conn
                .busy_timeout(BUSY_TIMEOUT)
                .and_then(|()| run_all(&mut conn, &writes));
            if checkpoint && ran.is_ok() {
                // Readers may keep it from finishing; the next one goes further.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    warn!(error = %e, "journal WAL checkpoint failed");
                }
            }
            // Not waiting again: the next batch runs inline. When that cannot be set, the
            // batch's outcomes stand but the connection is not kept.
            let reset = conn.busy_timeout(Duration::ZERO).is_ok();
            (reset.then_some(conn), writes, ran)
        })
        .await;
        let outcomes = match ran {
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
        };
        if outcomes.as_ref().is_ok_and(|o| !any_fault(o)) {
            self.conn = Some(conn);
        }
        outcomes.map_err(BatchFailed::from)
    }
}

/// Opens the writer's connection to the journal file (created by the pool already).
pub(super) fn open(path: &std::path::Path, full: bool) -> rusqlite::Result<Connection> {
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

/// True when `e` is a failing storage's (disk full, I/O error, corruption, not a database).
pub(super) fn storage_fault(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if is_sqlite_storage_code(i64::from(f.extended_code)))
}

/// True when a write of the batch failed for the storage's sake.
pub(super) fn any_fault(outcomes: &[Result<(), WriteError>]) -> bool {
    outcomes
        .iter()
        .any(|r| matches!(r, Err(WriteError::Statement(e)) if storage_fault(e)))
}

/// Runs a batch between `BEGIN IMMEDIATE` (a busy file fails before anything ran) and
/// `COMMIT`. Err: nothing is stored (a failed `COMMIT` is rolled back, so it can run again).
pub(super) fn run_all(
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
pub(super) fn lost_transaction(conn: &Connection, outcome: &Result<(), WriteError>) -> bool {
    conn.is_autocommit() || matches!(outcome, Err(WriteError::Statement(e)) if storage_fault(e))
}

/// SQLite's `SQLITE_BUSY`: another connection holds the lock.
pub(super) fn busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy)
}

/// Runs one write's statements. A failed statement leaves the transaction usable (SQLite
/// undoes only that statement), so one bad write does not sink its batch.
pub(super) fn run_one(conn: &Connection, stmts: &[Stmt]) -> Result<(), WriteError> {
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

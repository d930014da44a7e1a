//! A SQLite file's claim with its params ([`Store::claim_with_params`]) on a rusqlite
//! connection of its own: the whole transaction in one go on one thread, where sqlx hands
//! each of its six statements to its worker thread and back, about 1 ms of the wave's close →
//! first order (docs/benchmarks.md, eighth round). The agent's journal writer made the same
//! move. Same statements as the sqlx path (`waves.rs`, `params.rs`, `wave_params.rs`), same
//! rows decoded (`row.rs`).
//!
//! With `sqlite_sync = "normal"` a commit does not fsync, so the claim runs on the caller's
//! task with no busy wait: no hand-off at all. When it would wait (another writer holds the
//! lock), and always with `"full"`, it runs on the blocking pool, which may wait and fsync.
//! The connection is dropped after any error (a failed `COMMIT` may leave its transaction
//! open, holding the write lock) and after a storage fault seen anywhere in the store; the
//! next claim opens a fresh one.
//!
//! [`Store::claim_with_params`]: super::Store::claim_with_params

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};
use wavegate_common::Signal;
use wavegate_common::fault_clock::FaultClock;

use super::params::{from_row as params_from_row, select_for_update, upsert_statement};
use super::row::Statement;
use super::wave_params::{ClaimedWave, merge_updates, record_statement};
use super::waves::from_row as wave_from_row;
use super::{Backend, ByExchange, ParamsUpdate, SqliteSync, StoredParams, WaveParams, checkpoint};
use crate::error::CoordinatorError;

/// How long a claim on the blocking pool waits for the write lock (as the pool's connections).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Prepared statements kept: the claim's few texts (they vary with its conditions and counts).
const STATEMENT_CACHE: usize = 32;

/// The claim's connection to the store's SQLite file.
#[derive(Debug)]
pub(super) struct ClaimConn {
    path: PathBuf,
    sync: SqliteSync,
    faults: Arc<FaultClock>,
    open: Mutex<Option<Open>>,
    closed: AtomicBool,
}

#[derive(Debug)]
struct Open {
    conn: Connection,
    at: Instant,
}

/// One claim: its statement and what the transaction needs after it.
pub(super) struct Job<C, P, Ch> {
    /// The claim's statement (`waves::claim_statement`).
    pub claim: Statement,
    /// The wave.
    pub wave_id: String,
    /// The claiming coordinator.
    pub owner: String,
    /// The claim's instant: params are merged as of it.
    pub as_of: DateTime<Utc>,
    /// The wave's signals when it holds the claimed count.
    pub cached: C,
    /// The caller's plan for the signals.
    pub plan: P,
    /// The caller's choice of params.
    pub choose: Ch,
}

/// A claim's end, or why it failed.
type Outcome<G, P, Ch> = Result<Ran<G, P, Ch>, CoordinatorError>;

/// How a claim ended.
pub(super) enum Ran<G, P, Ch> {
    /// Claimed, params recorded, committed.
    Claimed(Box<ClaimedWave<G>>),
    /// Not claimed; nothing written.
    NotClaimed,
    /// `cached` had no whole wave: rolled back, nothing written; the caller claims again on
    /// sqlx, reading the signals inside its transaction.
    Miss {
        /// The caller's plan, unused.
        plan: P,
        /// The caller's choice, unused.
        choose: Ch,
    },
}

impl ClaimConn {
    /// The claim's connection to the file at `path` (created and migrated by the pool).
    pub(super) fn new(path: PathBuf, sync: SqliteSync, faults: Arc<FaultClock>) -> Self {
        Self {
            path,
            sync,
            faults,
            open: Mutex::new(None),
            closed: AtomicBool::new(false),
        }
    }

    /// Opens the connection now, so the first claim does not.
    pub(super) fn warm(&self) -> Result<(), CoordinatorError> {
        let mut slot = lock(&self.open);
        self.conn(&mut slot).map(|_| ())
    }

    /// Drops the connection; later claims fail as the closed pool's queries do.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        lock(&self.open).take();
    }

    /// Runs `job`: on the caller's task when that cannot wait (see the module doc), else on
    /// the blocking pool.
    pub(super) async fn claim<G, C, P, Ch>(
        self: &Arc<Self>,
        job: Job<C, P, Ch>,
    ) -> Result<Ran<G, P, Ch>, CoordinatorError>
    where
        G: Send + 'static,
        C: FnOnce(u32) -> Option<Vec<Signal>> + Send + 'static,
        P: FnOnce(Vec<Signal>) -> (G, Vec<ParamsUpdate>) + Send + 'static,
        Ch: FnOnce(&G, &ByExchange, &ByExchange) -> WaveParams + Send + 'static,
    {
        let mut job = job;
        if self.sync == SqliteSync::Normal
            && let Ok(mut slot) = self.open.try_lock()
        {
            match self.attempt(&mut slot, Duration::ZERO, job) {
                Attempt::Ran(ran) => return self.after(&mut slot, ran),
                // Another writer holds the lock: wait for it off the runtime's threads.
                Attempt::Busy(j) => job = j,
            }
        }
        let me = self.clone();
        let blocking = tokio::task::spawn_blocking(move || {
            let mut slot = lock(&me.open);
            match me.attempt(&mut slot, BUSY_TIMEOUT, job) {
                Attempt::Ran(ran) => me.after(&mut slot, ran),
                // Only a claim that may not wait comes back busy.
                Attempt::Busy(_) => Err(CoordinatorError::Unavailable(
                    "the database's write lock is held; retry later".into(),
                )),
            }
        });
        match blocking.await {
            Ok(ran) => ran,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(CoordinatorError::Database(sqlx::Error::PoolClosed)),
        }
    }

    /// `job` on the connection, waiting at most `wait` for the write lock; `Busy` when `wait`
    /// is zero and another writer holds it (nothing ran).
    fn attempt<G, C, P, Ch>(
        &self,
        slot: &mut Option<Open>,
        wait: Duration,
        job: Job<C, P, Ch>,
    ) -> Attempt<Job<C, P, Ch>, Outcome<G, P, Ch>>
    where
        C: FnOnce(u32) -> Option<Vec<Signal>>,
        P: FnOnce(Vec<Signal>) -> (G, Vec<ParamsUpdate>),
        Ch: FnOnce(&G, &ByExchange, &ByExchange) -> WaveParams,
    {
        match self.begin(slot, wait) {
            Ok(tx) => Attempt::Ran(run(tx, job)),
            Err(e) if wait.is_zero() && busy(&e) => Attempt::Busy(job),
            Err(e) => Attempt::Ran(Err(e)),
        }
    }

    /// The open connection, opened anew when there is none or a storage fault came after it.
    fn conn<'a>(&self, slot: &'a mut Option<Open>) -> Result<&'a mut Connection, CoordinatorError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(CoordinatorError::Database(sqlx::Error::PoolClosed));
        }
        let fresh = match slot.take() {
            Some(o) if !self.faults.stale(o.at.elapsed()) => o,
            _ => Open {
                conn: self.open_conn()?,
                at: Instant::now(),
            },
        };
        Ok(&mut slot.insert(fresh).conn)
    }

    fn open_conn(&self) -> Result<Connection, CoordinatorError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        // As the pool's connections (`Store::connect_checkpointing`); WAL is the file's own.
        let synchronous = match self.sync {
            SqliteSync::Full => "FULL",
            SqliteSync::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", synchronous)?;
        for pragma in checkpoint::PRAGMAS {
            conn.execute_batch(pragma)?;
        }
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    /// `BEGIN IMMEDIATE`, waiting at most `wait` for the write lock.
    fn begin<'a>(
        &self,
        slot: &'a mut Option<Open>,
        wait: Duration,
    ) -> Result<Transaction<'a>, CoordinatorError> {
        let conn = self.conn(slot)?;
        conn.busy_timeout(wait)?;
        Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// After an error the connection goes: its transaction may still be open.
    fn after<T>(
        &self,
        slot: &mut Option<Open>,
        ran: Result<T, CoordinatorError>,
    ) -> Result<T, CoordinatorError> {
        if ran.is_err() {
            *slot = None;
        }
        ran
    }
}

/// What [`ClaimConn::attempt`] did.
enum Attempt<J, R> {
    /// It ran, to this end.
    Ran(R),
    /// The write lock was taken; the job comes back unrun.
    Busy(J),
}

/// The connection's lock; a claim that panicked left no transaction open (rusqlite rolls it
/// back on drop), so a poisoned lock is taken as it is.
fn lock(m: &Mutex<Option<Open>>) -> MutexGuard<'_, Option<Open>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// SQLite could not take the write lock at once.
fn busy(e: &CoordinatorError) -> bool {
    matches!(e, CoordinatorError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
        if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// SQLite refused a statement for a constraint (a trigger's `RAISE(ABORT)` too): with the
/// default `ABORT` conflict resolution only that statement is backed out and the transaction
/// stays active (sqlite.org/lang_conflict.html).
fn constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

/// The claim's transaction (as `Store::claim_with_params` on sqlx); dropped uncommitted, it
/// rolls back.
fn run<G, C, P, Ch>(
    tx: Transaction<'_>,
    job: Job<C, P, Ch>,
) -> Result<Ran<G, P, Ch>, CoordinatorError>
where
    C: FnOnce(u32) -> Option<Vec<Signal>>,
    P: FnOnce(Vec<Signal>) -> (G, Vec<ParamsUpdate>),
    Ch: FnOnce(&G, &ByExchange, &ByExchange) -> WaveParams,
{
    let row = {
        let (sql, values) = &job.claim;
        let mut st = tx.prepare_cached(sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(values))?;
        match rows.next()? {
            Some(r) => Some(wave_from_row(r)?),
            None => None,
        }
    };
    let Some(row) = row else {
        return Ok(Ran::NotClaimed);
    };
    let Some(signals) = (job.cached)(row.signal_count) else {
        return Ok(Ran::Miss {
            plan: job.plan,
            choose: job.choose,
        });
    };
    let (kept, updates) = (job.plan)(signals);
    let ids: Vec<u32> = updates.iter().map(|u| u.exchange_id).collect();
    let stored = read_params(&tx, &ids)?;
    let (merged, stood) = merge_updates(&stored, &updates, job.as_of);
    let written = write_merged(&tx, &job.wave_id, merged)?;
    let params = (job.choose)(&kept, &written, &stood);
    if execute(&tx, &record_statement(&job.wave_id, &job.owner, &params)?)? != 1 {
        // Unreachable while the claim's lock is held; never commit a claim without params.
        return Ok(Ran::NotClaimed);
    }
    tx.commit()?;
    Ok(Ran::Claimed(Box::new(ClaimedWave {
        row,
        signals: kept,
        read_in_claim: false,
        params,
        written: written.into_values().collect(),
    })))
}

fn execute(tx: &Transaction<'_>, (sql, values): &Statement) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?
        .execute(rusqlite::params_from_iter(values))
}

fn read_params(tx: &Transaction<'_>, ids: &[u32]) -> Result<ByExchange, CoordinatorError> {
    let mut stored = ByExchange::new();
    if ids.is_empty() {
        return Ok(stored);
    }
    let (sql, values) = select_for_update(Backend::Sqlite, ids);
    let mut st = tx.prepare_cached(&sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(&values))?;
    while let Some(r) = rows.next()? {
        let p = params_from_row(r)?;
        stored.insert(p.exchange_id, p);
    }
    Ok(stored)
}

/// Writes `merged` in one statement; should SQLite refuse it for a constraint, each row alone,
/// a refused one logged and its stored params standing (as the sqlx path's savepoints do).
/// Any other failure fails the claim.
fn write_merged(
    tx: &Transaction<'_>,
    wave_id: &str,
    merged: ByExchange,
) -> Result<ByExchange, CoordinatorError> {
    let upsert = |rows: &[&StoredParams]| execute(tx, &upsert_statement(Backend::Sqlite, rows));
    if merged.is_empty() {
        return Ok(merged);
    }
    let all: Vec<&StoredParams> = merged.values().collect();
    match upsert(&all) {
        Ok(_) => return Ok(merged),
        Err(e) if constraint(&e) => {
            tracing::debug!(wave_id, error = %e, "params rows written one by one");
        }
        Err(e) => return Err(e.into()),
    }
    let mut written = ByExchange::new();
    for (id, next) in merged {
        match upsert(&[&next]) {
            Ok(_) => {
                written.insert(id, next);
            }
            Err(e) if constraint(&e) => tracing::warn!(
                wave_id,
                exchange_id = id,
                error = %e,
                "params update from the wave failed; the stored params stand"
            ),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(written)
}

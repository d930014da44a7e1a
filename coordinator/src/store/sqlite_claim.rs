//! A SQLite file's claim with its params ([`Store::claim_with_params`]) on a rusqlite
//! connection of its own: the whole transaction in one go on one thread, where sqlx hands
//! each of its six statements to its worker thread and back (0.2–0.3 ms of each claim,
//! docs/benchmarks.md, ninth round). The agent's journal writer made the same
//! move. Same statements as the sqlx path (`waves.rs`, `params.rs`, `wave_params.rs`), same
//! rows decoded (`row.rs`).
//!
//! With `sqlite_sync = "normal"` on a WAL file a commit does not fsync, so the claim runs on
//! the caller's task when it need not wait: no hand-off at all. (SQLite's auto-checkpoint
//! stays only as a 64 MiB backstop, `checkpoint.rs`, so a commit here copies nothing back
//! unless the store's checkpoint task is gone.) Otherwise, and always with `"full"`, it runs
//! on the blocking pool, which may wait for the lock, open the file and fsync. There, a caller
//! that stops waiting no longer rolls the claim back: it commits. A producer's close runs on a
//! task of its own (`ingest.rs`) so it goes on to dispatch; were a close dropped anyway, the
//! wave, dispatching and this coordinator's, is resumed by the next tick (`wave::tick`).
//!
//! The connection is dropped after any error (a failed `COMMIT` may leave its transaction
//! open, holding the write lock) and after a storage fault seen anywhere in the store; the
//! next claim opens a fresh one.
//!
//! [`Store::claim_with_params`]: super::Store::claim_with_params

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{
    CachedStatement, Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior,
};
use wavegate_common::Signal;
use wavegate_common::fault_clock::FaultClock;

use super::fault::is_sqlite_constraint;
use super::params::{from_row as params_from_row, select_for_update, upsert_statement};
use super::row::Statement;
use super::wave_params::{ClaimedWave, merge_updates, record_statement};
use super::waves::from_row as wave_from_row;
use super::{
    BUSY_TIMEOUT, Backend, ByExchange, ParamsUpdate, SqliteSync, StoredParams, WaveParams,
    checkpoint,
};
use crate::error::CoordinatorError;

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
    committed: AtomicU64,
}

#[derive(Debug)]
struct Open {
    conn: Connection,
    /// When it opened (a storage fault since makes it stale).
    at: Instant,
    /// The file is in WAL mode.
    wal: bool,
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
            committed: AtomicU64::new(0),
        }
    }

    /// Opens the connection now, so the first claim does not.
    pub(super) fn warm(&self) -> Result<(), CoordinatorError> {
        let mut slot = lock(&self.open);
        self.conn(&mut slot).map(|_| ())
    }

    /// Drops the connection; later claims fail as the closed pool's queries do. A claim
    /// running now drops it when it ends.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Some(mut slot) = try_lock(&self.open) {
            slot.take();
        }
    }

    /// Claims committed on this connection.
    pub(super) fn committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
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
        let job = match self.try_inline(job) {
            Ok(ran) => return ran,
            Err(job) => job,
        };
        let me = self.clone();
        let blocking = tokio::task::spawn_blocking(move || {
            let mut slot = lock(&me.open);
            let ran = me
                .begin(&mut slot, BUSY_TIMEOUT)
                .and_then(|tx| run(tx, job));
            me.after(&mut slot, ran)
        });
        match blocking.await {
            Ok(ran) => ran,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down: not a fault of the storage.
            Err(_) => Err(CoordinatorError::Unavailable(
                "the coordinator is shutting down; retry later".into(),
            )),
        }
    }

    /// With `normal`, `job` on the caller's task, never waiting: `Err(job)`, unrun, when it
    /// would (another claim or writer holds the lock) or would open a file (no open WAL
    /// connection: opening is left to the blocking pool).
    fn try_inline<G, C, P, Ch>(
        &self,
        job: Job<C, P, Ch>,
    ) -> Result<Outcome<G, P, Ch>, Job<C, P, Ch>>
    where
        C: FnOnce(u32) -> Option<Vec<Signal>>,
        P: FnOnce(Vec<Signal>) -> (G, Vec<ParamsUpdate>),
        Ch: FnOnce(&G, &ByExchange, &ByExchange) -> WaveParams,
    {
        if self.sync != SqliteSync::Normal {
            return Err(job);
        }
        let Some(mut slot) = try_lock(&self.open) else {
            return Err(job);
        };
        let ready = slot
            .as_ref()
            .is_some_and(|o| o.wal && !self.faults.stale(o.at.elapsed()));
        if !ready || self.closed.load(Ordering::Acquire) {
            return Err(job);
        }
        let ran = match self.begin(&mut slot, Duration::ZERO) {
            Ok(tx) => run(tx, job),
            Err(e) if busy(&e) => return Err(job),
            Err(e) => Err(e),
        };
        Ok(self.after(&mut slot, ran))
    }

    /// The open connection, opened anew when there is none or a storage fault came after it.
    fn conn<'a>(&self, slot: &'a mut Option<Open>) -> Result<&'a mut Connection, CoordinatorError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(CoordinatorError::Database(sqlx::Error::PoolClosed));
        }
        let fresh = match slot.take() {
            Some(o) if !self.faults.stale(o.at.elapsed()) => o,
            _ => self.open_conn()?,
        };
        Ok(&mut slot.insert(fresh).conn)
    }

    fn open_conn(&self) -> Result<Open, CoordinatorError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        // As the pool's connections (`Store::connect_checkpointing`, sqlx's foreign keys).
        conn.execute_batch(self.sync.pragma())?;
        conn.execute_batch("PRAGMA foreign_keys = ON")?;
        for pragma in checkpoint::PRAGMAS {
            conn.execute_batch(pragma)?;
        }
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // The pool asked for WAL; a file system without it keeps a rollback journal, where a
        // `NORMAL` commit syncs too: then never on the caller's task.
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        Ok(Open {
            conn,
            at: Instant::now(),
            wal: mode.eq_ignore_ascii_case("wal"),
        })
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

    /// After an error the connection goes (its transaction may still be open), as it does
    /// once the store closed.
    fn after<G, P, Ch>(
        &self,
        slot: &mut Option<Open>,
        ran: Outcome<G, P, Ch>,
    ) -> Outcome<G, P, Ch> {
        if ran.is_err() || self.closed.load(Ordering::Acquire) {
            *slot = None;
        }
        if let Ok(Ran::Claimed(_)) = ran {
            self.committed.fetch_add(1, Ordering::Relaxed);
        }
        ran
    }
}

/// The connection's lock; a claim that panicked left no transaction open (rusqlite rolls it
/// back on drop), so a poisoned lock is taken as it is.
fn lock(m: &Mutex<Option<Open>>) -> MutexGuard<'_, Option<Open>> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`lock`] unless another holds it.
fn try_lock(m: &Mutex<Option<Open>>) -> Option<MutexGuard<'_, Option<Open>>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// SQLite could not take the write lock at once.
fn busy(e: &CoordinatorError) -> bool {
    matches!(e, CoordinatorError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
        if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
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
        let mut st = prepare(&tx, sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(values))?;
        match rows.next()? {
            Some(r) => Some(wave_from_row(r)?),
            None => None,
        }
    };
    let Some(row) = row else {
        tx.rollback()?;
        return Ok(Ran::NotClaimed);
    };
    let Some(signals) = (job.cached)(row.signal_count) else {
        tx.rollback()?;
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
        tx.rollback()?;
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

/// `sql` from the connection's cache. rusqlite binds by position where sqlx binds `$N` by its
/// number; SQLite numbers a `$N` where it first appears, so each must first appear in order.
fn prepare<'t>(tx: &'t Transaction<'_>, sql: &str) -> rusqlite::Result<CachedStatement<'t>> {
    let st = tx.prepare_cached(sql)?;
    debug_assert!(
        (1..=st.parameter_count())
            .all(|i| st.parameter_name(i).is_none_or(|n| n == format!("${i}"))),
        "parameters out of order: {sql}"
    );
    Ok(st)
}

fn execute(tx: &Transaction<'_>, (sql, values): &Statement) -> rusqlite::Result<usize> {
    prepare(tx, sql)?.execute(rusqlite::params_from_iter(values))
}

fn read_params(tx: &Transaction<'_>, ids: &[u32]) -> Result<ByExchange, CoordinatorError> {
    let mut stored = ByExchange::new();
    if ids.is_empty() {
        return Ok(stored);
    }
    let (sql, values) = select_for_update(Backend::Sqlite, ids);
    let mut st = prepare(tx, &sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(&values))?;
    while let Some(r) = rows.next()? {
        let p = params_from_row(r)?;
        stored.insert(p.exchange_id, p);
    }
    Ok(stored)
}

/// Writes `merged` in one statement; should SQLite refuse it for a constraint, each row alone,
/// a refused one logged and its stored params standing. Any other failure fails the claim
/// (retried at the next tick), where the pool's savepoints go on past any row's failure: a
/// write that failed for the storage is not committed around.
fn write_merged(
    tx: &Transaction<'_>,
    wave_id: &str,
    merged: ByExchange,
) -> Result<ByExchange, CoordinatorError> {
    let upsert = |rows: &[&StoredParams]| {
        execute(tx, &upsert_statement(Backend::Sqlite, rows)).map_err(CoordinatorError::from)
    };
    if merged.is_empty() {
        return Ok(merged);
    }
    let all: Vec<&StoredParams> = merged.values().collect();
    match upsert(&all) {
        Ok(_) => return Ok(merged),
        Err(e) if is_sqlite_constraint(&e) => {
            tracing::debug!(wave_id, error = %e, "params rows written one by one");
        }
        Err(e) => return Err(e),
    }
    let mut written = ByExchange::new();
    for (id, next) in merged {
        match upsert(&[&next]) {
            Ok(_) => {
                written.insert(id, next);
            }
            Err(e) if is_sqlite_constraint(&e) => tracing::warn!(
                wave_id,
                exchange_id = id,
                error = %e,
                "params update from the wave failed; the stored params stand"
            ),
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

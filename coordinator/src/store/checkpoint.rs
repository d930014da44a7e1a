//! SQLite's WAL checkpoints, out of the commits. SQLite's own auto-checkpoint runs inside the
//! `COMMIT` that takes the WAL past 1000 pages (sqlite.org/wal.html, "Automatic Checkpoint"):
//! that commit copies the pages back and fsyncs the database file, a stall of milliseconds for
//! whichever statement it falls on, a wave's claim included (docs/benchmarks.md, seventh round).
//! So every connection raises that threshold to a backstop that only a task gone or far behind
//! reaches, and this task checkpoints on a pooled connection at a fixed interval instead.
//! `PASSIVE` takes no writer lock and waits for no reader or writer
//! (sqlite.org/pragma.html#pragma_wal_checkpoint): commits go on meanwhile, sharing only the
//! disk. The agent's journal writer likewise keeps checkpoints out of its inline commits.

use std::time::Duration;

use sqlx::AnyPool;

/// How often the WAL is checkpointed: it usually holds about this long's writes.
pub const EVERY: Duration = Duration::from_secs(1);

/// The pragmas every SQLite connection runs when it opens. The auto-checkpoint stays only as
/// a backstop past 16 384 pages (64 MiB): reached by a second of bulk ingest at most, it bounds
/// the WAL should the task be gone. A WAL that a burst grew (bulk ingest, a reader holding an
/// old snapshot so no checkpoint can finish) is trimmed to 64 MiB when it restarts
/// (sqlite.org/pragma.html#pragma_journal_size_limit).
pub const PRAGMAS: [&str; 2] = [
    "PRAGMA wal_autocheckpoint = 16384",
    "PRAGMA journal_size_limit = 67108864",
];

/// The checkpointing task, stopped when the last handle to it goes (with the store's last
/// clone), so the pool it holds does not outlive the store.
#[derive(Debug)]
pub(crate) struct Checkpoints(tokio::task::JoinHandle<()>);

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Checkpoints `pool`'s file every `every` until the pool closes. A failed checkpoint (a full
/// disk, say) is tried again at the next tick; the WAL keeps every commit meanwhile. The first
/// failure of a run of them is a warning and the recovery is logged, not every tick.
pub(crate) fn spawn(pool: AnyPool, every: Duration) -> Checkpoints {
    // `interval` panics on zero; a dead task would leave only the backstop.
    let every = every.max(Duration::from_millis(1));
    Checkpoints(tokio::spawn(async move {
        let closed = pool.close_event();
        tokio::pin!(closed);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: nothing to copy yet.
        tick.tick().await;
        let mut failing = false;
        loop {
            tokio::select! {
                () = &mut closed => return,
                _ = tick.tick() => {}
            }
            // Not while the pool closes: the last connection's close checkpoints anyway.
            let run = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool);
            tokio::select! {
                () = &mut closed => return,
                r = run => match r {
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "database WAL checkpoint failed; retried every {every:?}");
                    }
                    Err(e) => tracing::debug!(error = %e, "database WAL checkpoint failed again"),
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("database WAL checkpoints succeed again");
                    }
                    Ok(_) => {}
                },
            }
        }
    }))
}

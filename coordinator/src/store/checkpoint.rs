//! SQLite's WAL checkpoints, off every commit's path. SQLite's own auto-checkpoint runs inside
//! the `COMMIT` that takes the WAL past 1000 pages (sqlite.org/wal.html, "Automatic
//! Checkpoint"): that commit copies the pages back and fsyncs the database file, a stall of
//! milliseconds for whichever statement it falls on, a wave's claim included (docs/benchmarks.md,
//! seventh round). So every connection turns it off (`PRAGMA wal_autocheckpoint = 0`) and this
//! task checkpoints on a pooled connection at a fixed interval instead. `PASSIVE` waits for no
//! reader or writer (sqlite.org/pragma.html#pragma_wal_checkpoint): commits go on meanwhile.
//! The agent's journal writer does the same for its file.

use std::time::Duration;

use sqlx::AnyPool;

/// How often the WAL is checkpointed: bounds its growth to about this long's writes.
pub const EVERY: Duration = Duration::from_secs(1);

/// The pragmas every SQLite connection runs when it opens: no checkpoint inside a commit, and
/// a WAL that a burst (say a backfill's ingest within one interval) grew is cut back to 64 MiB
/// once a checkpoint has copied it (sqlite.org/pragma.html#pragma_journal_size_limit).
pub const PRAGMAS: [&str; 2] = [
    "PRAGMA wal_autocheckpoint = 0",
    "PRAGMA journal_size_limit = 67108864",
];

/// The checkpointing task, stopped when the last handle to it goes (with the store's last
/// clone), so the pool it holds does not outlive the store.
#[derive(Debug)]
pub struct Checkpoints(tokio::task::JoinHandle<()>);

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Checkpoints `pool`'s file every `every` until the pool closes. A failed checkpoint (a full
/// disk, say) is logged and tried again at the next tick; the WAL keeps every commit meanwhile.
pub fn spawn(pool: AnyPool, every: Duration) -> Checkpoints {
    Checkpoints(tokio::spawn(async move {
        let closed = pool.close_event();
        tokio::pin!(closed);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: nothing to copy yet.
        tick.tick().await;
        loop {
            tokio::select! {
                () = &mut closed => return,
                _ = tick.tick() => {}
            }
            // Not while the pool closes: the last connection's close checkpoints anyway.
            let run = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool);
            tokio::select! {
                () = &mut closed => return,
                r = run => if let Err(e) = r {
                    tracing::warn!(error = %e, "database WAL checkpoint failed; retried in {every:?}");
                }
            }
        }
    }))
}

//! The floor's SQLite files, opened as wavegate's agent journal writer opens its own
//! (`agent/src/journal/writer.rs`): rusqlite, WAL, no auto-checkpoint, one commit per write on
//! the caller's thread. Checkpoints run between waves, outside the timed part: a floor leaves
//! them out, where wavegate's agent pays one in every 256th journal batch and the
//! coordinator's once-a-second checkpoint shares the disk with its claims.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

/// Commits between two checkpoints of an agent's journal (the agent's writer: every 256th
/// batch).
pub const CHECKPOINT_EVERY: i64 = 256;

/// Opens (creating) `path` with `synchronous` (`FULL` or `NORMAL`) and the one table `rows`.
pub fn open(path: &Path, synchronous: &str) -> anyhow::Result<Connection> {
    let conn = Connection::open(path)?;
    // `journal_mode` answers with the mode it set: a query, not an update.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    anyhow::ensure!(mode == "wal", "journal_mode is {mode}");
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, wave INTEGER NOT NULL, \
         n INTEGER NOT NULL, at_us INTEGER NOT NULL)",
    )?;
    Ok(conn)
}

/// One row in a transaction of its own (`BEGIN IMMEDIATE` … `COMMIT`, as the writer's batch).
pub fn commit_row(conn: &mut Connection, wave: u32, n: i64) -> anyhow::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.prepare_cached("INSERT INTO rows (wave, n, at_us) VALUES (?1, ?2, ?3)")?
        .execute((i64::from(wave), n, crate::frame::now_us()))?;
    tx.commit()?;
    Ok(())
}

/// Copies the WAL back into the database file (`PASSIVE`: never waits for a reader).
pub fn checkpoint(conn: &Connection) -> anyhow::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(())
}

//! Storage faults (disk full, I/O errors, a lost database connection): which errors are
//! faults of the storage rather than of the request, and the pool hygiene after one.
//!
//! Why connections are dropped: when SQLite fails a `COMMIT` with `SQLITE_FULL` or
//! `SQLITE_IOERR`, the transaction may stay open on its connection (SQLite's docs on
//! `SQLITE_FULL`: "the application should … ROLLBACK"). Back in the pool, that connection
//! keeps the write lock — every other writer answers `database is locked` — and its next user
//! reads rows that were never committed, so a write answered "failed" could be acted on and
//! then vanish. So every connection opened before the latest fault is closed (which rolls
//! back whatever it held) instead of being used again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// SQLite primary result codes that mean the storage failed (`sqlite3.h`): `SQLITE_IOERR`
/// (10), `SQLITE_CORRUPT` (11), `SQLITE_FULL` (13), `SQLITE_CANTOPEN` (14), `SQLITE_NOTADB`
/// (26). Extended codes carry the primary one in their low byte.
const SQLITE_STORAGE: [i64; 5] = [10, 11, 13, 14, 26];

/// True when `e` is a fault of the storage (the request may succeed once it recovers), not
/// of the request: disk full or I/O errors on either backend, a lost connection.
pub fn is_storage_fault(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            // PostgreSQL's SQLSTATE has five characters (SQLite's codes, extended ones
            // included, have at most four digits). Classes 53 (insufficient resources:
            // disk_full 53100), 58 (system error: io_error 58030), 08 (connection exception).
            if code.len() == 5 {
                return ["53", "58", "08"]
                    .iter()
                    .any(|class| code.starts_with(class));
            }
            // SQLite: the (extended) result code as a number.
            code.parse::<i64>()
                .is_ok_and(|c| SQLITE_STORAGE.contains(&(c & 0xff)))
        }
        _ => false,
    }
}

/// When the latest storage fault happened; shared with the pool's hooks.
#[derive(Debug)]
pub struct Faults {
    base: Instant,
    /// Milliseconds after `base` of the latest fault, plus one (0: none yet).
    last: AtomicU64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            last: AtomicU64::new(0),
        }
    }
}

impl Faults {
    /// A storage fault happened now: every connection open now is closed at its next use.
    pub fn note(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms.saturating_add(1), Ordering::Release);
    }

    /// True when a connection of this `age` was opened before the latest fault.
    pub fn stale(&self, age: Duration) -> bool {
        let last = self.last.load(Ordering::Acquire);
        if last == 0 {
            return false;
        }
        let fault_at = self.base + Duration::from_millis(last - 1);
        match Instant::now().checked_sub(age) {
            // Opened at or before the fault (millisecond precision: err on closing).
            Some(opened) => opened <= fault_at + Duration::from_millis(1),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_older_than_the_latest_fault_are_stale() {
        let f = Faults::default();
        assert!(!f.stale(Duration::from_secs(3600)), "no fault yet");
        f.note();
        assert!(
            f.stale(Duration::from_secs(3600)),
            "opened before the fault"
        );
        std::thread::sleep(Duration::from_millis(20));
        assert!(!f.stale(Duration::from_millis(5)), "opened after the fault");
    }
}

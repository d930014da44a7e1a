//! When a storage fault last happened, so a connection pool can stop reusing connections
//! opened before it (SQLite may leave a transaction open on a connection whose `COMMIT`
//! failed with `SQLITE_FULL` or `SQLITE_IOERR`; reused, it holds the write lock and shows
//! uncommitted rows). Used by the coordinator's store and the agent's journal, which also
//! tell a storage fault from SQLite's result code alike ([`is_sqlite_storage_code`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// When the latest storage fault happened; shared with a pool's hooks.
#[derive(Debug)]
pub struct FaultClock {
    base: Instant,
    /// Milliseconds after `base` of the latest fault, plus one (0: none yet).
    last: AtomicU64,
}

impl Default for FaultClock {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            last: AtomicU64::new(0),
        }
    }
}

impl FaultClock {
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

/// SQLite primary result codes of a failing storage (`sqlite3.h`): `SQLITE_IOERR` (10),
/// `SQLITE_CORRUPT` (11), `SQLITE_FULL` (13), `SQLITE_CANTOPEN` (14), `SQLITE_NOTADB` (26).
const SQLITE_STORAGE: [i64; 5] = [10, 11, 13, 14, 26];

/// True when a SQLite result code (primary or extended: an extended code carries its primary
/// one in the low byte) says the storage failed (disk full, I/O error, corruption), not the
/// statement: the request may succeed once the storage recovers.
pub fn is_sqlite_storage_code(code: i64) -> bool {
    SQLITE_STORAGE.contains(&(code & 0xff))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_codes_are_told_from_statement_codes_extended_ones_too() {
        // SQLITE_FULL, SQLITE_IOERR_WRITE (778), SQLITE_NOTADB.
        for code in [13, 778, 26] {
            assert!(is_sqlite_storage_code(code), "{code}");
        }
        // SQLITE_CONSTRAINT_TRIGGER (1811), SQLITE_BUSY, SQLITE_ERROR.
        for code in [1811, 5, 1] {
            assert!(!is_sqlite_storage_code(code), "{code}");
        }
    }

    #[test]
    fn connections_older_than_the_latest_fault_are_stale() {
        let f = FaultClock::default();
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

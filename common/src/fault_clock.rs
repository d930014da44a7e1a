//! When a storage fault last happened, so a connection pool can stop reusing connections
//! opened before it (SQLite may leave a transaction open on a connection whose `COMMIT`
//! failed with `SQLITE_FULL` or `SQLITE_IOERR`; reused, it holds the write lock and shows
//! uncommitted rows). Used by the coordinator's store and the agent's journal.

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

#[cfg(test)]
mod tests {
    use super::*;

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

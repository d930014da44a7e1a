//! Where one order's time goes on the walk's path, step by step, logged once per order at
//! debug level under [`TARGET`] (`wavegate bench` reads these lines from the agents' logs).
//! With the target off it costs a few clock reads per order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tracing::debug;

/// The log target of the per-order timing line.
pub const TARGET: &str = "wavegate_agent::timing";

/// A timed step of an order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    /// Waiting for the symbol's lock.
    Lock,
    /// The open-positions read under the lock.
    Positions,
    /// Waiting for the rate limiter (entry and stop).
    Limiter,
    /// Journal commits before a request leaves (the entry's row, each stop step).
    Journal,
    /// The entry call at the exchange.
    Entry,
    /// Stop (or close) calls at the exchange.
    Stop,
}

/// Microseconds spent per [`Step`] by one order (shared by the entry and its stop step).
#[derive(Debug, Default)]
pub(crate) struct StepTimes {
    us: [AtomicU64; 6],
}

impl StepTimes {
    /// Adds the time since `since` to `step`; returns now, the next step's start.
    pub(crate) fn add(&self, step: Step, since: Instant) -> Instant {
        let now = Instant::now();
        let us = u64::try_from((now - since).as_micros()).unwrap_or(u64::MAX);
        self.us[step as usize].fetch_add(us, Ordering::Relaxed);
        now
    }

    fn get(&self, step: Step) -> u64 {
        self.us[step as usize].load(Ordering::Relaxed)
    }

    /// Logs the order's line: its steps and its start and end (µs since the epoch).
    pub(crate) fn log(&self, coid: &str, started: DateTime<Utc>) {
        if !tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
            return;
        }
        debug!(
            target: TARGET,
            coid,
            start_us = started.timestamp_micros(),
            end_us = Utc::now().timestamp_micros(),
            lock_us = self.get(Step::Lock),
            positions_us = self.get(Step::Positions),
            limiter_us = self.get(Step::Limiter),
            journal_us = self.get(Step::Journal),
            entry_us = self.get(Step::Entry),
            stop_us = self.get(Step::Stop),
            "order timing"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_accumulate_separately() {
        let t = StepTimes::default();
        let start = Instant::now() - std::time::Duration::from_millis(3);
        let next = t.add(Step::Journal, start);
        t.add(Step::Journal, next - std::time::Duration::from_millis(2));
        assert!(t.get(Step::Journal) >= 5_000);
        assert_eq!(t.get(Step::Entry), 0);
        assert_eq!(t.get(Step::Lock), 0);
    }
}

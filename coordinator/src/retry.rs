//! Backoff for waves whose dispatch failed, so one that cannot complete does not spin.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use wavegate_common::backoff::Doubling;

/// Delay after the first failure.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// Longest delay between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Pending {
    not_before: Instant,
    delays: Doubling,
}

/// Per-wave retry times (in memory: a restarted coordinator tries each wave once at once).
#[derive(Debug, Default)]
pub struct Retries {
    waves: Mutex<HashMap<String, Pending>>,
}

impl Retries {
    /// True when the wave may be tried now (never failed, or its delay has passed).
    pub fn due(&self, wave_id: &str) -> bool {
        self.due_at(wave_id, Instant::now())
    }

    fn due_at(&self, wave_id: &str, now: Instant) -> bool {
        self.waves
            .lock()
            .get(wave_id)
            .is_none_or(|p| now >= p.not_before)
    }

    /// Records a failed attempt; returns the delay before the next one.
    pub fn failed(&self, wave_id: &str) -> Duration {
        self.failed_at(wave_id, Instant::now())
    }

    fn failed_at(&self, wave_id: &str, now: Instant) -> Duration {
        let mut map = self.waves.lock();
        let p = map.entry(wave_id.to_owned()).or_insert_with(|| Pending {
            not_before: now,
            delays: Doubling::new(FIRST_DELAY, MAX_DELAY),
        });
        let delay = p.delays.next_delay();
        p.not_before = now + delay;
        delay
    }

    /// Forgets the wave (its dispatch finished).
    pub fn succeeded(&self, wave_id: &str) {
        self.waves.lock().remove(wave_id);
    }

    /// Keeps only the waves for which `keep` is true (the others finished elsewhere).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.waves.lock().retain(|id, _| keep(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_success_forgets() {
        let r = Retries::default();
        let t0 = Instant::now();
        assert!(r.due_at("w", t0));
        assert_eq!(r.failed_at("w", t0), FIRST_DELAY);
        assert!(!r.due_at("w", t0), "not before the delay");
        assert!(r.due_at("other", t0), "per wave");
        let t1 = t0 + FIRST_DELAY;
        assert!(r.due_at("w", t1));
        assert_eq!(r.failed_at("w", t1), FIRST_DELAY * 2);
        assert!(!r.due_at("w", t1 + FIRST_DELAY));
        for _ in 0..10 {
            r.failed_at("w", t1);
        }
        assert_eq!(r.failed_at("w", t1), MAX_DELAY);
        r.retain(|id| id != "w");
        assert!(r.due_at("w", t1), "forgotten once finished elsewhere");
        r.failed_at("w", t1);
        r.succeeded("w");
        assert!(r.due_at("w", t1));
        assert_eq!(
            r.failed_at("w", t1),
            FIRST_DELAY,
            "starts over after a success"
        );
    }
}

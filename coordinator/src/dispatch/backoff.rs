//! The wait between an exchange's attempts: doubling within the backoff bounds and the limit.

use std::time::Duration;

use tokio::time::Instant;
use wavegate_common::backoff::Doubling;

use crate::config::DispatchConfig;

/// The delays of one exchange's attempts, in order.
pub(super) struct Backoff {
    delays: Doubling,
}

impl Backoff {
    /// The schedule `cfg` sets, from its first delay.
    pub(super) fn new(cfg: &DispatchConfig) -> Self {
        let delays = Doubling::new(
            Duration::from_millis(cfg.retry_backoff_min_ms),
            Duration::from_millis(cfg.retry_backoff_max_ms),
        );
        Self { delays }
    }

    /// Sleeps the next delay, or until `limit` when that comes first.
    pub(super) async fn wait(&mut self, limit: Instant) {
        let delay = self.delays.next_delay();
        // A delay too long to add to the clock (a huge configured cap) waits for the limit.
        let until = Instant::now()
            .checked_add(delay)
            .map_or(limit, |t| t.min(limit));
        tokio::time::sleep_until(until).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `expected` waits (ms) under `limit_ms` on the paused clock, to its 1 ms resolution.
    async fn assert_waits(cfg: &DispatchConfig, limit_ms: u64, expected: &[u64]) {
        let mut backoff = Backoff::new(cfg);
        let start = Instant::now();
        let limit = start + Duration::from_millis(limit_ms);
        let mut last = start;
        let mut waited = Vec::new();
        for _ in expected {
            backoff.wait(limit).await;
            let now = Instant::now();
            waited.push(u64::try_from((now - last).as_millis()).unwrap());
            last = now;
        }
        let close = waited
            .iter()
            .zip(expected)
            .all(|(w, e)| w.abs_diff(*e) <= 1);
        assert!(close, "waited {waited:?}, expected {expected:?}");
        assert!(last <= limit, "waited past the limit: {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_default_schedule_doubles_from_200_ms_up_to_5_s() {
        let cfg = DispatchConfig::default();
        let expected = [200, 400, 800, 1600, 3200, 5000, 5000, 5000];
        assert_waits(&cfg, 60_000, &expected).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_configured_schedule_is_followed_and_never_waits_past_the_limit() {
        let cfg = DispatchConfig {
            retry_backoff_min_ms: 50,
            retry_backoff_max_ms: 150,
            ..DispatchConfig::default()
        };
        // 50 + 100 + 150 + 150 = 450; the next 150 ends at the limit (500), then no wait.
        assert_waits(&cfg, 500, &[50, 100, 150, 150, 50, 0, 0]).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_cap_beyond_the_clock_waits_until_the_limit() {
        let cfg = DispatchConfig {
            retry_backoff_min_ms: u64::MAX,
            retry_backoff_max_ms: u64::MAX,
            ..DispatchConfig::default()
        };
        assert_waits(&cfg, 700, &[700, 0]).await;
    }

    #[tokio::test(start_paused = true)]
    async fn equal_bounds_wait_the_same_delay_every_time() {
        let cfg = DispatchConfig {
            retry_backoff_min_ms: 250,
            retry_backoff_max_ms: 250,
            ..DispatchConfig::default()
        };
        assert_waits(&cfg, 60_000, &[250, 250, 250, 250]).await;
    }
}

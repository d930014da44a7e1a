//! The waits between the lookups of one unknown outcome: none before the first, then
//! `lookup_backoff_ms`, doubling (15 × the first pause over [`LOOKUP_ATTEMPTS`] lookups), and
//! a venue cool-down met by a lookup waited out, bounded.
//!
//! [`LOOKUP_ATTEMPTS`]: super::LOOKUP_ATTEMPTS

use std::time::Duration;

use wavegate_common::backoff::Doubling;

/// Longest wait for a venue cool-down between two lookups.
const MAX_LOOKUP_WAIT: Duration = Duration::from_secs(10);

/// The pause before the next lookup of one order.
#[derive(Debug)]
pub(super) struct LookupBackoff {
    pauses: Doubling,
}

impl LookupBackoff {
    /// Pauses starting at `first` (`lookup_backoff_ms`), uncapped: the lookups are few.
    pub(super) fn new(first: Duration) -> Self {
        Self {
            pauses: Doubling::uncapped(first),
        }
    }

    /// Waits before lookup `attempt` (0-based): not before the first, then doubling pauses.
    pub(super) async fn before(&mut self, attempt: u32) {
        if attempt > 0 {
            tokio::time::sleep(self.pauses.next_delay()).await;
        }
    }

    /// Waits out a cool-down a lookup met, at most [`MAX_LOOKUP_WAIT`].
    pub(super) async fn cool_down(retry_in_ms: u64) {
        tokio::time::sleep(Duration::from_millis(retry_in_ms).min(MAX_LOOKUP_WAIT)).await;
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;
    use crate::execute::LOOKUP_ATTEMPTS;

    /// When each lookup of one order goes out with pauses from `first_ms`, in ms from the
    /// start (the paused clock advances exactly by the sleeps).
    async fn schedule(first_ms: u64) -> Vec<u128> {
        let start = Instant::now();
        let mut backoff = LookupBackoff::new(Duration::from_millis(first_ms));
        let mut at = Vec::new();
        for attempt in 0..LOOKUP_ATTEMPTS {
            backoff.before(attempt).await;
            at.push(start.elapsed().as_millis());
        }
        at
    }

    #[tokio::test(start_paused = true)]
    async fn lookups_are_spaced_by_doubling_pauses_from_the_configured_first() {
        // The default 200 ms: five lookups over 3 s.
        assert_eq!(schedule(200).await, [0, 200, 600, 1_400, 3_000]);
        assert_eq!(schedule(10).await, [0, 10, 30, 70, 150]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cool_down_met_by_a_lookup_is_waited_out_at_most_ten_seconds() {
        let start = Instant::now();
        LookupBackoff::cool_down(1_500).await;
        assert_eq!(start.elapsed(), Duration::from_millis(1_500));
        LookupBackoff::cool_down(600_000).await;
        assert_eq!(start.elapsed(), Duration::from_millis(11_500));
    }
}

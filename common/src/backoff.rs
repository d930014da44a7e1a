//! The one doubling schedule wavegate's retries wait by: the coordinator's wave and exchange
//! retries, the agent's lookups of an unknown order, its start-of-wave reads and Bybit's polls
//! after an acknowledgement. No jitter: each of these waits on one process's own work, so there
//! is no herd to spread. Exact in integer time (backon's doubling goes through `f32` and lands
//! a nanosecond off, a whole tick late on tokio's millisecond clock).

use std::time::Duration;

/// Delays from a first one, doubling, at most a cap, without end.
#[derive(Debug, Clone)]
pub struct Doubling {
    next: Duration,
    max: Duration,
}

impl Doubling {
    /// `first`, `2 × first`, `4 × first`, … up to `max` (`Duration::MAX`: no cap; the doubling
    /// saturates instead of overflowing).
    pub fn new(first: Duration, max: Duration) -> Self {
        Self { next: first, max }
    }

    /// `first`, `2 × first`, … without a cap (for a schedule its count of attempts bounds).
    pub fn uncapped(first: Duration) -> Self {
        Self::new(first, Duration::MAX)
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next.min(self.max);
        self.next = self.next.saturating_mul(2);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(d: &mut Doubling, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| u64::try_from(d.next_delay().as_millis()).unwrap_or(u64::MAX))
            .collect()
    }

    #[test]
    fn doubles_from_the_first_up_to_the_cap_and_never_ends() {
        let mut d = Doubling::new(Duration::from_millis(100), Duration::from_millis(700));
        assert_eq!(take(&mut d, 6), [100, 200, 400, 700, 700, 700]);
    }

    #[test]
    fn delays_are_exact_to_the_nanosecond() {
        let mut d = Doubling::uncapped(Duration::from_millis(200));
        let got: Vec<Duration> = (0..5).map(|_| d.next_delay()).collect();
        let want: Vec<Duration> = [200, 400, 800, 1_600, 3_200]
            .map(Duration::from_millis)
            .into();
        assert_eq!(got, want);
    }

    #[test]
    fn without_a_cap_it_saturates_instead_of_overflowing() {
        let mut d = Doubling::uncapped(Duration::from_secs(1));
        assert_eq!(take(&mut d, 4), [1_000, 2_000, 4_000, 8_000]);
        // Far past any real retry count: still a delay, never a panic.
        take(&mut d, 200);
        assert_eq!(d.next_delay(), Duration::MAX);
    }
}

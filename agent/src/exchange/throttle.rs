//! The venue-wide rate-limit state of one live adapter: a cool-down after the venue throttled
//! or banned us, during which nothing is sent, and pacing when the venue's usage headers say a
//! limit is close, so requests slow down before they are throttled.
//!
//! A throttled call is [`ExchangeError::Throttled`], never a refusal: the venue refused the
//! request for its rate, not the order. Continuing to send during a cool-down is what turns a
//! Binance 429 into a 418 IP ban ("from 2 minutes to 3 days") and a Bybit limit into a 403
//! IP ban of at least 10 minutes, so every request of the adapter passes [`Throttle::admit`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::ExchangeError;
use crate::exchange::Result;

/// Longest a request is held back by pacing; longer waits are a cool-down instead.
pub const MAX_PACE: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct State {
    /// Nothing is sent before this.
    cool_until: Option<Instant>,
    /// What the venue said when the cool-down began.
    reason: String,
    /// Requests wait until this (usage close to a limit).
    slow_until: Option<Instant>,
}

/// Cool-down and pacing of one venue.
#[derive(Debug)]
pub struct Throttle {
    venue: &'static str,
    state: Mutex<State>,
}

impl Throttle {
    /// No cool-down, no pacing.
    pub fn new(venue: &'static str) -> Self {
        Self {
            venue,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called before every request: `Throttled` while a cool-down runs (nothing is sent);
    /// otherwise waits out any pacing window (at most [`MAX_PACE`]) and lets it go.
    pub async fn admit(&self) -> Result<()> {
        let now = Instant::now();
        let slow = {
            let st = self.lock();
            if let Some(until) = st.cool_until.filter(|u| *u > now) {
                return Err(throttled(&st.reason, until - now));
            }
            st.slow_until.filter(|u| *u > now)
        };
        if let Some(until) = slow {
            let wait = (until - now).min(MAX_PACE);
            tracing::info!(
                venue = self.venue,
                wait_ms = wait.as_millis() as u64,
                "rate limit usage is high; pacing requests"
            );
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// The venue throttled or banned us: nothing is sent for `wait` (a running longer
    /// cool-down is kept). Returns the error for the call that met it.
    pub fn cool_down(&self, wait: Duration, reason: String) -> ExchangeError {
        let until = Instant::now() + wait;
        let mut st = self.lock();
        if st.cool_until.is_none_or(|u| u < until) {
            st.cool_until = Some(until);
            st.reason = reason.clone();
        }
        tracing::error!(venue = self.venue, wait_ms = wait.as_millis() as u64, %reason,
                        "venue rate limit hit: nothing is sent until the cool-down ends");
        let left = st
            .cool_until
            .map_or(wait, |u| u.saturating_duration_since(Instant::now()));
        throttled(&st.reason, left)
    }

    /// Usage is close to a limit: requests wait until `wait` from now.
    pub fn slow_for(&self, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_PACE);
        let mut st = self.lock();
        if st.slow_until.is_none_or(|u| u < until) {
            st.slow_until = Some(until);
        }
    }
}

/// Runs `call` again after each venue cool-down it meets — a throttled call sent nothing, so
/// running it again is safe — while the waits add up to at most `max_wait`; then the last
/// answer (still `Throttled` when the venue keeps refusing).
pub async fn through_cool_downs<T, F, Fut>(max_wait: Duration, mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut waited = Duration::ZERO;
    loop {
        match call().await {
            Err(ExchangeError::Throttled {
                detail,
                retry_in_ms,
            }) => {
                let wait = Duration::from_millis(retry_in_ms);
                if waited + wait > max_wait {
                    return Err(ExchangeError::Throttled {
                        detail,
                        retry_in_ms,
                    });
                }
                waited += wait;
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

fn throttled(reason: &str, left: Duration) -> ExchangeError {
    ExchangeError::Throttled {
        detail: reason.to_owned(),
        retry_in_ms: u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1),
    }
}

/// `Retry-After` in seconds (the form Binance sends), bounded to a sane range.
pub fn retry_after(secs: Option<i64>, default: Duration) -> Duration {
    secs.filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s.unsigned_abs()))
        .unwrap_or(default)
        .min(Duration::from_secs(3 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_passes_during_a_cool_down() {
        let t = Throttle::new("x");
        assert_eq!(t.admit().await, Ok(()));
        let e = t.cool_down(Duration::from_secs(30), "429".into());
        assert!(matches!(e, ExchangeError::Throttled { retry_in_ms, .. } if retry_in_ms > 29_000));
        assert!(matches!(
            t.admit().await,
            Err(ExchangeError::Throttled { .. })
        ));
        // A shorter cool-down does not shorten a running one.
        let e = t.cool_down(Duration::from_millis(1), "again".into());
        assert!(matches!(e, ExchangeError::Throttled { retry_in_ms, .. } if retry_in_ms > 29_000));
    }

    #[tokio::test]
    async fn pacing_waits_then_lets_the_request_go() {
        let t = Throttle::new("x");
        t.slow_for(Duration::from_millis(30));
        let started = Instant::now();
        assert_eq!(t.admit().await, Ok(()));
        assert!(started.elapsed() >= Duration::from_millis(25));
    }

    #[test]
    fn retry_after_defaults_and_bounds() {
        assert_eq!(retry_after(Some(7), Duration::ZERO), Duration::from_secs(7));
        assert_eq!(
            retry_after(None, Duration::from_secs(60)),
            Duration::from_secs(60)
        );
        assert_eq!(
            retry_after(Some(-1), Duration::from_secs(2)),
            Duration::from_secs(2)
        );
    }
}

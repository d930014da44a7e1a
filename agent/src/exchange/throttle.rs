//! One live adapter's venue-wide rate-limit state: a cool-down after a throttle (sending on
//! turns a Binance 429 into a 418 ban, a Bybit limit into a 403) and pacing near a limit. A
//! throttled call is [`ExchangeError::Throttled`]; every request passes [`Throttle::admit`].

use std::sync::Mutex;
use std::time::Duration;

// tokio's clock, so a paused test clock drives cool-downs and pacing.
use tokio::time::Instant;

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

    /// Before every request: `Throttled` in a cool-down, else waits out pacing (≤ [`MAX_PACE`]).
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

    /// The venue throttled us: nothing is sent for `wait` (a longer cool-down stands).
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

/// Runs `call` again after each cool-down (nothing was sent) while waits total ≤ `max_wait`.
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
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn retry_in(e: &Result<()>) -> Option<u64> {
        match e {
            Err(ExchangeError::Throttled { retry_in_ms, .. }) => Some(*retry_in_ms),
            _ => None,
        }
    }

    /// Sends one request through `t` as an adapter does: admitted, then counted as sent.
    async fn send(t: &Throttle, sent: &AtomicU32) -> Result<()> {
        t.admit().await?;
        sent.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_sent_during_a_cool_down_and_requests_go_again_after_it() {
        let (t, sent) = (Throttle::new("x"), AtomicU32::new(0));
        assert_eq!(send(&t, &sent).await, Ok(()));
        let e = t.cool_down(Duration::from_secs(30), "429".into());
        assert_eq!(retry_in(&Err(e)), Some(30_000));
        // Refused at once, without waiting, for as long as the cool-down runs.
        let start = Instant::now();
        assert_eq!(retry_in(&send(&t, &sent).await), Some(30_000));
        tokio::time::advance(Duration::from_millis(29_999)).await;
        assert_eq!(retry_in(&send(&t, &sent).await), Some(1));
        assert_eq!(start.elapsed(), Duration::from_millis(29_999));
        assert_eq!(
            sent.load(Ordering::SeqCst),
            1,
            "nothing sent during the cool-down"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(send(&t, &sent).await, Ok(()));
        assert_eq!(start.elapsed(), Duration::from_secs(30), "no wait after it");
        assert_eq!(sent.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_cool_down_does_not_shorten_a_running_one() {
        let t = Throttle::new("x");
        t.cool_down(Duration::from_secs(30), "429".into());
        tokio::time::advance(Duration::from_secs(10)).await;
        let e = t.cool_down(Duration::from_secs(1), "again".into());
        assert!(
            matches!(&e, ExchangeError::Throttled { detail, retry_in_ms: 20_000 } if detail == "429"),
            "{e:?}"
        );
        // A longer one replaces it.
        let e = t.cool_down(Duration::from_secs(60), "418".into());
        assert_eq!(retry_in(&Err(e)), Some(60_000));
        assert_eq!(retry_in(&t.admit().await), Some(60_000));
    }

    #[tokio::test(start_paused = true)]
    async fn paced_requests_are_held_until_the_window_turns_then_go_together() {
        let (t, sent) = (Throttle::new("x"), AtomicU32::new(0));
        // The venue said usage is close to its limit: its window turns in 700 ms.
        t.slow_for(Duration::from_millis(700));
        let start = Instant::now();
        let held = futures::future::join_all((0..3).map(|_| async {
            send(&t, &sent).await.unwrap();
            start.elapsed()
        }))
        .await;
        assert_eq!(held, [Duration::from_millis(700); 3]);
        assert_eq!(sent.load(Ordering::SeqCst), 3);
        // The window has turned: the next request goes at once.
        send(&t, &sent).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(700));
        // A shorter pacing does not cut a longer one; none holds longer than MAX_PACE.
        t.slow_for(Duration::from_secs(2));
        t.slow_for(Duration::from_millis(10));
        send(&t, &sent).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(2_700));
        t.slow_for(Duration::from_secs(3_600));
        send(&t, &sent).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(2_700) + MAX_PACE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_is_run_again_after_each_cool_down_within_the_bound() {
        let calls = AtomicU32::new(0);
        let throttled_twice = || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(ExchangeError::Throttled {
                    detail: "429".into(),
                    retry_in_ms: 1_000,
                }),
                _ => Ok("filled"),
            }
        };
        let start = Instant::now();
        let r = through_cool_downs(Duration::from_secs(5), throttled_twice).await;
        assert_eq!(r, Ok("filled"));
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(calls.swap(0, Ordering::SeqCst), 3);
        // A second cool-down would pass the bound: throttled after the first.
        let start = Instant::now();
        let r = through_cool_downs(Duration::from_millis(1_500), throttled_twice).await;
        assert!(matches!(r, Err(ExchangeError::Throttled { .. })), "{r:?}");
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
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

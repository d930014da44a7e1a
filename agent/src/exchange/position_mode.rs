//! One-way position mode only: a hedge-mode account (Binance `positionSide/dual`, Bybit
//! `positionIdx`) is refused at validation with [`HEDGE_MODE`] rather than on every entry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::ExchangeError;
use crate::exchange::Result;

/// Validation reason of a signal on a hedge-mode account (or symbol).
pub const HEDGE_MODE: &str = "hedge_mode_unsupported";

/// Position mode readings by key (Binance: `""`; Bybit: the symbol), kept a refresh period.
#[derive(Debug)]
pub struct ModeCache {
    refresh: Duration,
    seen: tokio::sync::Mutex<HashMap<String, (Instant, bool)>>,
}

impl ModeCache {
    /// An empty cache whose readings expire after `refresh`.
    pub fn new(refresh: Duration) -> Self {
        Self {
            refresh,
            seen: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` in one-way mode, `Rejected(HEDGE_MODE)` in hedge mode; `read` (true = hedge) runs
    /// when the reading is missing or stale, and its error is returned (mode unknown: no send).
    pub async fn one_way<F, Fut>(&self, key: &str, read: F) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        let mut seen = self.seen.lock().await;
        let hedge = match seen.get(key) {
            Some((at, hedge)) if at.elapsed() < self.refresh => *hedge,
            _ => {
                let hedge = read().await?;
                seen.insert(key.to_owned(), (Instant::now(), hedge));
                hedge
            }
        };
        if hedge {
            tracing::error!(
                key,
                "account is in hedge (dual-side) position mode; wavegate trades one-way mode only"
            );
            return Err(ExchangeError::Rejected(HEDGE_MODE.into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readings_are_cached_and_hedge_is_refused() {
        let c = ModeCache::new(Duration::from_secs(60));
        assert_eq!(c.one_way("", || async { Ok(false) }).await, Ok(()));
        // Cached: the second read is not called.
        assert_eq!(
            c.one_way("", || async { Err(ExchangeError::Unavailable("x".into())) })
                .await,
            Ok(())
        );
        assert_eq!(
            c.one_way("ETHUSDT", || async { Ok(true) }).await,
            Err(ExchangeError::Rejected(HEDGE_MODE.into()))
        );
    }
}

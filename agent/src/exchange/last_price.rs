//! A venue's last price per symbol, reused for [`MAX_AGE`]. One order reads it for its size, for
//! its fill's sanity check and for its stop's check (and validation read it just before): read
//! each time, that was two or three round trips of venue latency per order on top of the order
//! and its stop. Only a price the venue answered is kept; a refused symbol is asked again.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::{Decimal, Result};

/// How long a read price stands in for the venue's. Long enough for one order's steps (a few
/// round trips), short enough that a size or a sanity check never rests on a stale market:
/// the checks' margins (a stop 4 % away, `max_fill_deviation_percent`) are far wider than a
/// quarter second's move.
pub const MAX_AGE: Duration = Duration::from_millis(250);

/// Last prices by symbol, each with when it was read.
#[derive(Debug, Default)]
pub struct LastPrices {
    read: Mutex<HashMap<String, (Decimal, Instant)>>,
}

impl LastPrices {
    /// `symbol`'s price read within [`MAX_AGE`], else `read`'s answer (kept when it is one).
    pub async fn get<F, Fut>(&self, symbol: &str, read: F) -> Result<Decimal>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Decimal>>,
    {
        if let Some((price, at)) = self.map().get(symbol)
            && at.elapsed() < MAX_AGE
        {
            return Ok(*price);
        }
        let price = read().await?;
        self.map()
            .insert(symbol.to_owned(), (price, Instant::now()));
        Ok(price)
    }

    /// The map; a panic elsewhere while it was held left nothing half-written in it.
    fn map(&self) -> MutexGuard<'_, HashMap<String, (Decimal, Instant)>> {
        self.read.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::exchange::ExchangeError;

    #[tokio::test(start_paused = true)]
    async fn a_price_is_reused_for_a_quarter_second_and_a_refusal_is_not_kept() {
        let prices = LastPrices::default();
        let reads = AtomicU32::new(0);
        let read = |p: i64| {
            let reads = &reads;
            move || async move {
                reads.fetch_add(1, Ordering::SeqCst);
                Ok(Decimal::from(p))
            }
        };
        assert_eq!(
            prices.get("BTCUSDT", read(100)).await,
            Ok(Decimal::from(100))
        );
        tokio::time::advance(MAX_AGE - Duration::from_millis(1)).await;
        assert_eq!(
            prices.get("BTCUSDT", read(101)).await,
            Ok(Decimal::from(100))
        );
        assert_eq!(reads.load(Ordering::SeqCst), 1, "read once within MAX_AGE");
        // Another symbol is its own.
        assert_eq!(prices.get("ETHUSDT", read(5)).await, Ok(Decimal::from(5)));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(
            prices.get("BTCUSDT", read(102)).await,
            Ok(Decimal::from(102))
        );
        assert_eq!(
            reads.load(Ordering::SeqCst),
            3,
            "read again once it is MAX_AGE old"
        );

        let refused = || async { Err(ExchangeError::Rejected("symbol_not_tradable".into())) };
        assert!(prices.get("XYZUSDT", refused).await.is_err());
        assert_eq!(prices.get("XYZUSDT", read(7)).await, Ok(Decimal::from(7)));
    }
}

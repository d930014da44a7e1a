//! Token-bucket limit on orders, one per agent: the exchange's limit is per account.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::RateLimitConfig;

/// The order rate limiter.
#[derive(Debug)]
pub struct OrderLimiter {
    inner: DefaultDirectRateLimiter,
}

impl OrderLimiter {
    /// A bucket refilled at `orders_per_second`, up to `burst`; zeros read as 1.
    pub fn new(cfg: &RateLimitConfig) -> Self {
        let rate = NonZeroU32::new(cfg.orders_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(cfg.burst).unwrap_or(NonZeroU32::MIN);
        Self {
            inner: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// Waits until one more order may be sent.
    pub async fn acquire(&self) {
        self.inner.until_ready().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn burst_passes_then_the_bucket_is_empty() {
        let l = OrderLimiter::new(&RateLimitConfig {
            orders_per_second: 1,
            burst: 3,
        });
        for _ in 0..3 {
            l.acquire().await;
        }
        assert!(l.inner.check().is_err(), "fourth order must wait");
    }
}

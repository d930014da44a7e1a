//! Is a fill price believable? The stop is computed from it, so a missing, ≤ 0 or far-off price
//! would protect nothing. A fill off the last price by more than `max_fill_deviation_percent` is
//! read back (Binance `GET /fapi/v1/order`, Bybit `/v5/order/realtime` `avgPrice`), and one
//! still off is replaced by the last price (logged, `wavegate_fill_price_replaced_total`).

use std::sync::{Arc, OnceLock};

use tracing::error;
use wavegate_common::telemetry::Metrics;

use super::Fill;
use super::money::{Decimal, percent_of};

/// The fill-price check of one adapter.
#[derive(Debug)]
pub struct FillCheck {
    venue: &'static str,
    max_deviation_percent: Decimal,
    metrics: OnceLock<(Arc<Metrics>, String)>,
}

impl FillCheck {
    /// A check for `venue` allowing fills within `max_deviation_percent` of the last price.
    pub fn new(venue: &'static str, max_deviation_percent: Decimal) -> Self {
        Self {
            venue,
            max_deviation_percent,
            metrics: OnceLock::new(),
        }
    }

    /// Counts replaced fill prices in `metrics` under `exchange` (the agent's exchange name).
    pub fn attach(&self, metrics: Arc<Metrics>, exchange: &str) {
        let _ = self.metrics.set((metrics, exchange.to_owned()));
    }

    /// True when `price` is positive and within the allowed share of the positive `last`.
    pub fn sane(&self, price: Decimal, last: Decimal) -> bool {
        price > Decimal::ZERO
            && last > Decimal::ZERO
            && (price - last).abs() <= percent_of(last, self.max_deviation_percent)
    }

    /// `fill` if sane against `last`, else a sane `read_back`, else `fill` at `last` (counted).
    pub async fn checked<F, Fut>(&self, fill: Fill, last: Decimal, read_back: F) -> Fill
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<Fill>>,
    {
        if self.sane(fill.price, last) {
            return fill;
        }
        if let Some(again) = read_back().await
            && self.sane(again.price, last)
            && again.quantity > Decimal::ZERO
        {
            return again;
        }
        error!(venue = self.venue, order = %fill.exchange_order_id, reported = %fill.price,
               %last, "fill price missing or far from the last price, also when read back; \
               the position is protected from the last price");
        if let Some((m, exchange)) = self.metrics.get() {
            m.fill_price_replaced(exchange);
        }
        Fill {
            price: last,
            ..fill
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn fill(price: &str) -> Fill {
        Fill {
            exchange_order_id: "7".into(),
            price: d(price),
            quantity: d("0.003"),
        }
    }

    #[tokio::test]
    async fn a_fill_off_the_last_price_is_read_back_then_replaced() {
        let c = FillCheck::new("test", Decimal::TEN);
        assert!(c.sane(d("54000"), d("60000")) && c.sane(d("66000"), d("60000")));
        assert!(!c.sane(d("53999.9"), d("60000")) && !c.sane(d("0"), d("60000")));
        assert!(!c.sane(d("60000"), d("0")));
        // Sane: kept, never read back.
        let kept = c.checked(fill("60010"), d("60000"), || async { unreachable!() });
        assert_eq!(kept.await, fill("60010"));
        // Missing (0): the read-back price is taken when it is sane.
        let read = c.checked(fill("0"), d("60000"), || async { Some(fill("59990")) });
        assert_eq!(read.await, fill("59990"));
        // Still off when read back (or not found): the last price, same order and quantity.
        let off = c.checked(fill("6000"), d("60000"), || async { Some(fill("6000")) });
        assert_eq!(off.await, fill("60000"));
        let gone = c.checked(fill("-1"), d("60000"), || async { None });
        assert_eq!(gone.await, fill("60000"));
    }
}

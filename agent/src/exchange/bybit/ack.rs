//! What Bybit's answers do not say at once. `POST /v5/order/create` is asynchronous
//! (docs/v5/order/create-order.mdx: "please use the websocket to confirm the order status"):
//! the fill is polled for within `ack_visibility_ms`, then read off the position; never taken
//! for "not received". A `trading-stop` stop is confirmed by `stopLoss` of `/v5/position/list`
//! (docs/v5/position/position.mdx). `positionIdx` `0` is one-way, `1`/`2` hedge mode.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tracing::warn;
use wavegate_common::backoff::Doubling;

use super::super::money::{Decimal, parse};
use super::super::rest::{number, text};
use super::super::{Exchange, ExchangeError, Fill, OrderReport};
use super::parse::list;
use super::{BybitLinear, NAME};
use crate::exchange::Result;

/// First pause between polls (doubling, at most [`MAX_POLL`]).
const FIRST_POLL: Duration = Duration::from_millis(50);
/// Longest pause between polls.
const MAX_POLL: Duration = Duration::from_millis(800);

/// What polling the order lists for an acknowledged order came to.
#[derive(Debug, Clone, PartialEq)]
enum Polled {
    /// Visible and filled at a positive price.
    Filled(Fill),
    /// Visible and refused or cancelled.
    Rejected(String),
    /// Not visible with a usable fill within the window.
    NotVisible,
}

/// Polls `lookup` until a fill at a positive price or a rejection, from [`FIRST_POLL`] doubling
/// to [`MAX_POLL`], for `window`. A failed poll is logged and retried: the order exists.
async fn poll_ack<F, Fut>(window: Duration, link_id: &str, mut lookup: F) -> Polled
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<OrderReport>>>,
{
    // tokio's clock, so a paused test clock drives the schedule (the same clock otherwise).
    let started = tokio::time::Instant::now();
    let mut pauses = Doubling::new(FIRST_POLL, MAX_POLL);
    loop {
        match lookup().await {
            Ok(Some(OrderReport::Filled(f))) if f.price > Decimal::ZERO => {
                return Polled::Filled(f);
            }
            Ok(Some(OrderReport::Rejected(r))) => return Polled::Rejected(r),
            Ok(_) => {}
            Err(e) => warn!(%link_id, error = %e, "order lookup after ack failed"),
        }
        if started.elapsed() >= window {
            return Polled::NotVisible;
        }
        tokio::time::sleep(pauses.next_delay()).await;
    }
}

impl BybitLinear {
    /// The fill of the Market order acknowledged as `order_id`: polled until visible; past
    /// `ack_visibility_ms` an entry whose position has exactly its side and size takes the
    /// position's average price (entries go only to flat symbols, under the symbol's lock, so
    /// that position is this order's). Anything else is `Unknown`.
    pub(super) async fn fill_after_ack(
        &self,
        symbol: &str,
        link_id: &str,
        order_id: &str,
        qty: &str,
        side: &str,
        reduce_only: bool,
    ) -> Result<Fill> {
        let window = self.ack_visibility;
        let polled = poll_ack(window, link_id, || {
            self.lookup_order(symbol.to_owned(), link_id.to_owned())
        })
        .await;
        match polled {
            Polled::Filled(f) => return Ok(f),
            Polled::Rejected(r) => {
                return Err(ExchangeError::Rejected(format!("{NAME} order {r}")));
            }
            Polled::NotVisible => {}
        }
        if !reduce_only
            && let Some(fill) = self.fill_from_position(symbol, order_id, qty, side).await
        {
            warn!(%link_id, "acknowledged order not visible yet; fill read from its position");
            return Ok(fill);
        }
        Err(ExchangeError::Unknown(format!(
            "{NAME}: order {order_id} acknowledged, not visible after {window:?}"
        )))
    }

    /// The fill an entry left on a flat symbol: the one-way position, same side and size.
    async fn fill_from_position(
        &self,
        symbol: &str,
        order_id: &str,
        qty: &str,
        side: &str,
    ) -> Option<Fill> {
        let rows = self.positions(Some(symbol)).await.ok()?;
        let row = rows.first()?;
        let size = number(row, "size")?;
        let price = number(row, "avgPrice")?;
        let same = text(row, "side").as_deref() == Some(side) && parse(qty) == Some(size);
        (same && price > Decimal::ZERO).then(|| Fill {
            exchange_order_id: order_id.to_owned(),
            price,
            quantity: size,
        })
    }

    /// True when `symbol`'s open position has a stop loss set (`stopLoss` > 0).
    pub(super) async fn stop_loss_set(&self, symbol: &str) -> Result<bool> {
        let rows = self.positions(Some(symbol)).await?;
        Ok(rows
            .iter()
            .any(|r| number(r, "stopLoss").is_some_and(|p| p > Decimal::ZERO)))
    }

    /// `Ok` in one-way mode; hedge mode is refused ([`super::super::position_mode`]).
    pub(super) async fn one_way(&self, symbol: &str) -> Result<()> {
        self.mode
            .one_way(symbol, || async {
                let params = [
                    ("category", "linear".to_owned()),
                    ("symbol", symbol.to_owned()),
                ];
                let v = self.get("/v5/position/list", &params).await?;
                Ok(list(&v)
                    .iter()
                    .any(|r| r.get("positionIdx").and_then(Value::as_i64).unwrap_or(0) != 0))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn fill(price: i64) -> Fill {
        Fill {
            exchange_order_id: "1".into(),
            price: Decimal::from(price),
            quantity: Decimal::ONE,
        }
    }

    /// Runs `poll_ack` against `answer(ms)`: the result, when, and the poll times (paused clock).
    async fn run(
        window_ms: u64,
        answer: impl Fn(u64) -> Result<Option<OrderReport>>,
    ) -> (Polled, u64, Vec<u64>) {
        let start = tokio::time::Instant::now();
        let ms = move || u64::try_from(start.elapsed().as_millis()).unwrap();
        let polls = Mutex::new(Vec::new());
        let polled = poll_ack(Duration::from_millis(window_ms), "wg-x", || {
            polls.lock().unwrap().push(ms());
            let a = answer(ms());
            async move { a }
        })
        .await;
        (polled, ms(), polls.into_inner().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn an_order_visible_later_is_polled_with_doubling_pauses_until_it_shows() {
        let (polled, at, polls) = run(5_000, |ms| {
            Ok((ms >= 400).then(|| OrderReport::Filled(fill(60_000))))
        })
        .await;
        assert_eq!(polled, Polled::Filled(fill(60_000)));
        assert_eq!(polls, [0, 50, 150, 350, 750]);
        assert_eq!(at, 750);
    }

    #[tokio::test(start_paused = true)]
    async fn an_order_never_visible_is_given_up_once_the_window_has_passed() {
        let (polled, _, polls) = run(5_000, |_| Ok(None)).await;
        assert_eq!(polled, Polled::NotVisible);
        // Pauses double to 800 ms and stay there; the first poll past 5 s is the last.
        assert_eq!(
            polls,
            [
                0, 50, 150, 350, 750, 1_550, 2_350, 3_150, 3_950, 4_750, 5_550
            ]
        );
        let (polled, _, polls) = run(300, |_| Ok(None)).await;
        assert_eq!((polled, polls), (Polled::NotVisible, vec![0, 50, 150, 350]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_fill_without_a_price_or_a_failed_poll_is_polled_again() {
        // Bybit lists a just-filled order with `avgPrice` "" for a moment; a lookup may fail.
        let (polled, at, _) = run(5_000, |ms| match ms {
            0 => Err(ExchangeError::Unavailable("reset".into())),
            1..=100 => Ok(Some(OrderReport::Filled(fill(0)))),
            _ => Ok(Some(OrderReport::Filled(fill(60_000)))),
        })
        .await;
        assert_eq!((polled, at), (Polled::Filled(fill(60_000)), 150));
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejected_order_ends_the_polling_at_once() {
        let (polled, at, polls) = run(5_000, |ms| {
            Ok(Some(if ms < 100 {
                OrderReport::Open
            } else {
                OrderReport::Rejected("Cancelled".into())
            }))
        })
        .await;
        assert_eq!(polled, Polled::Rejected("Cancelled".into()));
        assert_eq!((at, polls.len()), (150, 3));
    }
}

//! What Bybit's answers do not say at once: the fill of an acknowledged order, whether a
//! position's stop is set, and the position mode.
//!
//! - `POST /v5/order/create` is an asynchronous acknowledgement (docs/v5/order/create-order.mdx
//!   in bybit-exchange/docs: "This request is asynchronous so please use the websocket to
//!   confirm the order status"): the order shows in `/v5/order/realtime` and
//!   `/v5/order/history` a little later. The fill is polled for within [`ACK_VISIBILITY`];
//!   an acknowledged order still not visible is read off the position before anything is
//!   decided, and is never taken for "not received".
//! - A stop set with `/v5/position/trading-stop` is a position attribute, not an order under
//!   our id: it is confirmed by `stopLoss` of `/v5/position/list` (docs/v5/position/position.mdx).
//! - `positionIdx` of the position rows tells the mode: `0` one-way, `1`/`2` hedge mode.

use std::time::{Duration, Instant};

use serde_json::Value;
use tracing::warn;

use super::super::money::{Decimal, parse};
use super::super::rest::{number, text};
use super::super::{Exchange, ExchangeError, Fill, OrderReport};
use super::parse::list;
use super::{BybitLinear, NAME};
use crate::exchange::Result;

/// How long an acknowledged order is polled for before its position is read instead.
pub(super) const ACK_VISIBILITY: Duration = Duration::from_secs(5);
/// First pause between polls (doubling, at most [`MAX_POLL`]).
const FIRST_POLL: Duration = Duration::from_millis(50);
/// Longest pause between polls.
const MAX_POLL: Duration = Duration::from_millis(800);

impl BybitLinear {
    /// The fill of the Market order acknowledged as `order_id` under `link_id`: polled from
    /// the order lists until visible; if it stays invisible for [`ACK_VISIBILITY`], an entry
    /// (not `reduce_only`) whose position has exactly its side and size is filled at the
    /// position's average price — the agent sends an entry only on a flat symbol, under the
    /// symbol's lock, so that position is this order's. Anything else is `Unknown`.
    pub(super) async fn fill_after_ack(
        &self,
        symbol: &str,
        link_id: &str,
        order_id: &str,
        qty: &str,
        side: &str,
        reduce_only: bool,
    ) -> Result<Fill> {
        let started = Instant::now();
        let mut pause = FIRST_POLL;
        loop {
            match self
                .lookup_order(symbol.to_owned(), link_id.to_owned())
                .await
            {
                Ok(Some(OrderReport::Filled(f))) if f.price > Decimal::ZERO => return Ok(f),
                Ok(Some(OrderReport::Rejected(r))) => {
                    return Err(ExchangeError::Rejected(format!("{NAME} order {r}")));
                }
                Ok(_) => {}
                Err(e) => warn!(%link_id, error = %e, "order lookup after ack failed"),
            }
            if started.elapsed() >= ACK_VISIBILITY {
                break;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_POLL);
        }
        if !reduce_only
            && let Some(fill) = self.fill_from_position(symbol, order_id, qty, side).await
        {
            warn!(%link_id, "acknowledged order not visible yet; fill read from its position");
            return Ok(fill);
        }
        Err(ExchangeError::Unknown(format!(
            "{NAME}: order {order_id} acknowledged, not visible after {ACK_VISIBILITY:?}"
        )))
    }

    /// The fill an entry of `qty` on `side` (`Buy`/`Sell`) left on a flat symbol, read off the
    /// one-way position row: same side, same size, a positive average price.
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

    /// `Ok` when `symbol` is in one-way mode; hedge mode is refused
    /// ([`super::super::position_mode`]).
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

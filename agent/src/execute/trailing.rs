//! The trailing stop placed after a position's protective stop (issue 11), when the wave's
//! params (or the agent's `[positions]`) give its activation and distance.
//!
//! Activation at `activation_percent` from the fill on the profit side (above it for a long,
//! below for a short), callback `distance_percent`. The id is derived from the entry's (tag
//! `t`), so a retry never creates a second one: an unanswered request is looked up by that id
//! before another attempt. A trailing stop that cannot be placed is reported
//! (`failed(<reason>)`) and nothing else changes — the protective stop stays, the position
//! counts as executed.

use std::time::Duration;

use tracing::warn;

use super::{Report, derived_id};
use crate::context::AgentCtx;
use crate::exchange::{ExchangeError, Fill, OrderReport, Side, TrailingStopOrder};
use crate::protocol::Trailing;

/// The `trailing` of an outcome whose trailing stop is in place.
pub const PLACED: &str = "placed";
/// The `trailing` of an outcome without one asked for (or without a protective stop).
pub const OFF: &str = "off";

/// The trailing stop for a position filled at `fill`.
pub fn order(
    coid: &str,
    symbol: &str,
    side: Side,
    fill: &Fill,
    t: Trailing,
    attempt: u32,
) -> TrailingStopOrder {
    let a = t.activation_percent / 100.0;
    let activation_price = match side {
        Side::Long => fill.price * (1.0 + a),
        Side::Short => fill.price * (1.0 - a),
    };
    TrailingStopOrder {
        client_order_id: derived_id(coid, 't', attempt),
        symbol: symbol.to_owned(),
        side,
        quantity: fill.quantity,
        activation_price,
        callback_percent: t.distance_percent,
    }
}

/// Places the trailing stop with the stop's retry budget; returns the outcome's `trailing`.
pub(super) async fn place(ctx: &AgentCtx, r: &Report, fill: &Fill, t: Trailing) -> String {
    let coid = &r.client_order_id;
    let timeout = Duration::from_millis(ctx.config.order_timeout_ms);
    let retries = ctx.config.stop_retries.max(1);
    let mut last = String::from("not_placed");
    for attempt in 0..retries {
        ctx.limiter.acquire().await;
        let o = order(coid, &r.symbol, r.side, fill, t, attempt);
        let id = o.client_order_id.clone();
        match tokio::time::timeout(timeout, ctx.exchange.place_trailing_stop(o)).await {
            Ok(Ok(_)) => return PLACED.to_owned(),
            Ok(Err(ExchangeError::Rejected(e))) => {
                // The same request would be refused the same way: a rule, not a blip.
                warn!(%coid, attempt, error = %e, "trailing stop rejected");
                return format!("failed({e})");
            }
            Ok(Err(ExchangeError::Throttled {
                retry_in_ms,
                detail,
            })) => {
                // Nothing was sent: wait out the venue's cool-down, then try again.
                warn!(%coid, attempt, retry_in_ms, "trailing stop throttled");
                tokio::time::sleep(Duration::from_millis(retry_in_ms)).await;
                last = detail;
            }
            Ok(Err(ExchangeError::Unavailable(e))) => {
                // Nothing was sent: try again.
                warn!(%coid, attempt, error = %e, "trailing stop not sent");
                last = e;
            }
            Ok(Err(ExchangeError::Unknown(e) | ExchangeError::DuplicateId(e))) => {
                last = e;
                if in_place(ctx, &r.symbol, &id).await {
                    return PLACED.to_owned();
                }
            }
            Err(_) => {
                last = "timeout".into();
                if in_place(ctx, &r.symbol, &id).await {
                    return PLACED.to_owned();
                }
            }
        }
    }
    format!("failed({last})")
}

/// Whether a trailing stop sent under `id` is in place (lookup after an unknown outcome).
async fn in_place(ctx: &AgentCtx, symbol: &str, id: &str) -> bool {
    matches!(
        ctx.exchange
            .lookup_trailing_stop(symbol.to_owned(), id.to_owned())
            .await,
        Ok(Some(OrderReport::Open | OrderReport::Filled(_)))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_on_the_profit_side() {
        let fill = Fill {
            exchange_order_id: String::new(),
            price: 100.0,
            quantity: 2.0,
        };
        let t = Trailing {
            activation_percent: 2.0,
            distance_percent: 0.5,
        };
        let long = order("wg-abc", "BTCUSDT", Side::Long, &fill, t, 0);
        assert!((long.activation_price - 102.0).abs() < 1e-9);
        assert!((long.callback_percent - 0.5).abs() < 1e-12);
        assert!((long.quantity - 2.0).abs() < 1e-12);
        let short = order("wg-abc", "BTCUSDT", Side::Short, &fill, t, 1);
        assert!((short.activation_price - 98.0).abs() < 1e-9);
        assert_ne!(long.client_order_id, short.client_order_id);
    }
}

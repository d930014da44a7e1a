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
use crate::exchange::money::{NotMoney, decimal, percent_of};
use crate::exchange::{ExchangeError, Fill, OrderReport, Side, TrailingStopOrder};
use crate::protocol::Trailing;

/// The `trailing` of an outcome whose trailing stop is in place.
pub const PLACED: &str = "placed";
/// The `trailing` of an outcome without one asked for (or without a protective stop).
pub const OFF: &str = "off";

/// The trailing stop for a position filled at `fill`; an error when the wire's percents
/// are not decimal numbers.
pub fn order(
    coid: &str,
    symbol: &str,
    side: Side,
    fill: &Fill,
    t: Trailing,
    attempt: u32,
) -> Result<TrailingStopOrder, NotMoney> {
    let away = percent_of(
        fill.price,
        decimal(t.activation_percent, "activation_percent")?,
    );
    let activation_price = match side {
        Side::Long => fill.price + away,
        Side::Short => fill.price - away,
    };
    Ok(TrailingStopOrder {
        client_order_id: derived_id(coid, 't', attempt),
        symbol: symbol.to_owned(),
        side,
        quantity: fill.quantity,
        activation_price,
        callback_percent: decimal(t.distance_percent, "distance_percent")?,
    })
}

/// Places the trailing stop with the stop's retry budget; returns the outcome's `trailing`.
pub(super) async fn place(ctx: &AgentCtx, r: &Report, fill: &Fill, t: Trailing) -> String {
    let coid = &r.client_order_id;
    let timeout = Duration::from_millis(ctx.config.order_timeout_ms);
    let retries = ctx.config.stop_retries.max(1);
    let mut last = String::from("not_placed");
    for attempt in 0..retries {
        ctx.limiter.acquire().await;
        let o = match order(coid, &r.symbol, r.side, fill, t, attempt) {
            Ok(o) => o,
            Err(e) => {
                warn!(%coid, error = %e, "trailing stop not computed");
                return format!("failed({e})");
            }
        };
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
        let d = |s: &str| s.parse::<crate::exchange::Decimal>().unwrap();
        let fill = Fill {
            exchange_order_id: String::new(),
            price: d("100"),
            quantity: d("2"),
        };
        let t = Trailing {
            activation_percent: 2.0,
            distance_percent: 0.5,
        };
        let long = order("wg-abc", "BTCUSDT", Side::Long, &fill, t, 0).unwrap();
        assert_eq!(long.activation_price, d("102"));
        assert_eq!(long.callback_percent, d("0.5"));
        assert_eq!(long.quantity, d("2"));
        let short = order("wg-abc", "BTCUSDT", Side::Short, &fill, t, 1).unwrap();
        assert_eq!(short.activation_price, d("98"));
        assert_ne!(long.client_order_id, short.client_order_id);
    }
}

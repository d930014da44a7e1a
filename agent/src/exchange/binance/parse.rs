//! Reading Binance answers: `exchangeInfo` rules, order and algo-order objects.

use std::collections::HashMap;

use serde_json::Value;

use super::super::lots::{Rules, Step};
use super::super::money::Decimal;
use super::super::rest::{number, text};
use super::super::{ExchangeError, Fill, OrderReport, Side};
use super::NAME;
use crate::exchange::Result;

/// BUY/SELL of an order for a position of `side`: opening, or (`closing`) against it.
pub(super) fn order_side(side: Side, closing: bool) -> &'static str {
    match (side, closing) {
        (Side::Long, false) | (Side::Short, true) => "BUY",
        (Side::Short, false) | (Side::Long, true) => "SELL",
    }
}

/// The rules of every listed symbol from `exchangeInfo`.
pub(super) fn parse_exchange_info(info: &Value) -> HashMap<String, Rules> {
    let mut out = HashMap::new();
    for s in info
        .get("symbols")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(symbol) = text(s, "symbol") else {
            continue;
        };
        let filters: Vec<&Value> = s
            .get("filters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        let filter = |t: &str| {
            filters
                .iter()
                .copied()
                .find(|f| text(f, "filterType").as_deref() == Some(t))
        };
        let tick = filter("PRICE_FILTER")
            .and_then(|f| text(f, "tickSize"))
            .and_then(|t| Step::parse(&t));
        let lot = filter("LOT_SIZE");
        let market = filter("MARKET_LOT_SIZE");
        // Market orders obey MARKET_LOT_SIZE; keep LOT_SIZE's bounds too where stricter.
        let step = market
            .and_then(|f| text(f, "stepSize"))
            .and_then(|t| Step::parse(&t))
            .or_else(|| {
                lot.and_then(|f| text(f, "stepSize"))
                    .and_then(|t| Step::parse(&t))
            });
        let (Some(tick), Some(qty_step)) = (tick, step) else {
            continue;
        };
        let bound = |key: &str| {
            [lot, market]
                .into_iter()
                .flatten()
                .filter_map(|f| number(f, key))
                .collect::<Vec<Decimal>>()
        };
        let min_qty = bound("minQty")
            .into_iter()
            .fold(Decimal::ZERO, Decimal::max);
        let max_qty = bound("maxQty")
            .into_iter()
            .filter(|m| *m > Decimal::ZERO)
            .min();
        let min_notional = filter("MIN_NOTIONAL")
            .and_then(|f| number(f, "notional"))
            .unwrap_or_default();
        out.insert(
            symbol,
            Rules {
                tradable: text(s, "status").as_deref() == Some("TRADING"),
                qty_step,
                min_qty,
                max_qty: max_qty.unwrap_or_default(),
                min_notional,
                tick,
            },
        );
    }
    out
}

/// What an order object says.
pub(super) fn order_report(v: &Value) -> OrderReport {
    let executed = number(v, "executedQty").unwrap_or_default();
    // No `avgPrice` (the POST answer since connector v62.0.0) reads as zero: "no price",
    // which the adapter reads back by order id — never a price to compute a stop from.
    let fill = || Fill {
        exchange_order_id: text(v, "orderId").unwrap_or_default(),
        price: number(v, "avgPrice").unwrap_or_default(),
        quantity: executed,
    };
    match text(v, "status").as_deref() {
        Some("FILLED") => OrderReport::Filled(fill()),
        Some("NEW" | "PARTIALLY_FILLED") => OrderReport::Open,
        // Ended: a partial fill still opened a position, so it counts as filled.
        _ if executed > Decimal::ZERO => OrderReport::Filled(fill()),
        status => OrderReport::Rejected(status.unwrap_or("unknown").to_ascii_lowercase()),
    }
}

/// What a conditional order says: resting or fired = in place.
pub(super) fn algo_report(v: &Value) -> OrderReport {
    match text(v, "algoStatus").as_deref() {
        Some("NEW" | "TRIGGERING") => OrderReport::Open,
        Some("TRIGGERED" | "FINISHED") => OrderReport::Filled(Fill {
            exchange_order_id: text(v, "actualOrderId").unwrap_or_default(),
            price: number(v, "actualPrice").unwrap_or_default(),
            quantity: number(v, "quantity").unwrap_or_default(),
        }),
        status => OrderReport::Rejected(status.unwrap_or("unknown").to_ascii_lowercase()),
    }
}

/// A placed market order's fill; open → unknown (look it up); ended unfilled → rejected.
pub(super) fn filled_or_unknown(v: &Value) -> Result<Fill> {
    match order_report(v) {
        OrderReport::Filled(f) => Ok(f),
        OrderReport::Open => Err(ExchangeError::Unknown(format!(
            "{NAME}: accepted, not filled yet"
        ))),
        OrderReport::Rejected(status) => {
            Err(ExchangeError::Rejected(format!("{NAME} order {status}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exchange_info_takes_the_market_lot_bounds() {
        let info = json!({"symbols": [{
            "symbol": "BTCUSDT", "status": "TRADING",
            "filters": [
                {"filterType": "PRICE_FILTER", "tickSize": "0.10"},
                {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.002", "maxQty": "120", "stepSize": "0.001"},
                {"filterType": "MIN_NOTIONAL", "notional": "100"}
            ]}, {"symbol": "OLDUSDT", "status": "SETTLING", "filters": [
                {"filterType": "PRICE_FILTER", "tickSize": "1"},
                {"filterType": "LOT_SIZE", "minQty": "1", "maxQty": "10", "stepSize": "1"}]}]});
        let m = parse_exchange_info(&info);
        let b = &m["BTCUSDT"];
        assert!(b.tradable);
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            (b.min_qty, b.max_qty, b.min_notional),
            (d("0.002"), d("120"), d("100"))
        );
        assert_eq!(b.tick.format(1), "0.1");
        assert!(!m["OLDUSDT"].tradable);
    }

    #[test]
    fn order_statuses() {
        let f = json!({"orderId": 7, "status": "FILLED", "avgPrice": "60000.0", "executedQty": "0.002"});
        assert_eq!(
            filled_or_unknown(&f),
            Ok(Fill {
                exchange_order_id: "7".into(),
                price: "60000.0".parse().unwrap(),
                quantity: "0.002".parse().unwrap()
            })
        );
        let n = json!({"orderId": 7, "status": "NEW", "executedQty": "0"});
        assert!(matches!(
            filled_or_unknown(&n),
            Err(ExchangeError::Unknown(_))
        ));
        let x = json!({"orderId": 7, "status": "EXPIRED", "executedQty": "0"});
        assert_eq!(order_report(&x), OrderReport::Rejected("expired".into()));
        assert_eq!(order_side(Side::Long, true), "SELL");
        assert_eq!(order_side(Side::Short, false), "SELL");
    }
}

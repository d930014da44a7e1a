//! Reading Bybit answers: `result.list`, instrument rules, order rows.

use std::collections::HashMap;

use serde_json::Value;

use super::super::lots::{Rules, Step};
use super::super::money::Decimal;
use super::super::rest::{number, text};
use super::super::{Fill, OrderReport, Side};

/// `result.list`.
pub(super) fn list(v: &Value) -> &[Value] {
    v.get("list")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// `result.list[0]`.
pub(super) fn first(v: &Value) -> Option<&Value> {
    list(v).first()
}

/// Buy/Sell of an order for a position of `side`: opening, or (`closing`) against it.
pub(super) fn order_side(side: Side, closing: bool) -> &'static str {
    match (side, closing) {
        (Side::Long, false) | (Side::Short, true) => "Buy",
        (Side::Short, false) | (Side::Long, true) => "Sell",
    }
}

/// The rules of every instrument on one page of `instruments-info`.
pub(super) fn parse_instruments(v: &Value) -> HashMap<String, Rules> {
    let mut out = HashMap::new();
    for i in list(v) {
        let Some(symbol) = text(i, "symbol") else {
            continue;
        };
        let lot = i.get("lotSizeFilter").cloned().unwrap_or(Value::Null);
        let tick = i
            .get("priceFilter")
            .and_then(|p| text(p, "tickSize"))
            .and_then(|t| Step::parse(&t));
        let step = text(&lot, "qtyStep").and_then(|t| Step::parse(&t));
        let (Some(tick), Some(qty_step)) = (tick, step) else {
            continue;
        };
        out.insert(
            symbol,
            Rules {
                tradable: text(i, "status").as_deref() == Some("Trading"),
                qty_step,
                min_qty: number(&lot, "minOrderQty").unwrap_or_default(),
                max_qty: number(&lot, "maxMktOrderQty")
                    .or_else(|| number(&lot, "maxOrderQty"))
                    .unwrap_or_default(),
                min_notional: number(&lot, "minNotionalValue").unwrap_or_default(),
                tick,
            },
        );
    }
    out
}

/// What an order row says.
pub(super) fn order_report(o: &Value) -> OrderReport {
    let executed = number(o, "cumExecQty").unwrap_or_default();
    let fill = || Fill {
        exchange_order_id: text(o, "orderId").unwrap_or_default(),
        price: number(o, "avgPrice").unwrap_or_default(),
        quantity: executed,
    };
    match text(o, "orderStatus").as_deref() {
        Some("Filled") => OrderReport::Filled(fill()),
        Some("New" | "PartiallyFilled" | "Untriggered" | "Triggered" | "Created") => {
            OrderReport::Open
        }
        // Ended: a partial fill still opened a position, so it counts as filled.
        _ if executed > Decimal::ZERO => OrderReport::Filled(fill()),
        status => {
            let reason = text(o, "rejectReason")
                .filter(|r| !r.is_empty() && r != "EC_NoError")
                .unwrap_or_else(|| status.unwrap_or("unknown").to_owned());
            OrderReport::Rejected(reason.to_ascii_lowercase())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn instruments_and_orders_parse() {
        let page = json!({"list": [{
            "symbol": "ETHUSDT", "status": "Trading",
            "priceFilter": {"tickSize": "0.01"},
            "lotSizeFilter": {"qtyStep": "0.01", "minOrderQty": "0.01", "maxOrderQty": "1500",
                              "maxMktOrderQty": "500", "minNotionalValue": "5"}}]});
        let r = &parse_instruments(&page)["ETHUSDT"];
        assert!(r.tradable);
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            (r.min_qty, r.max_qty, r.min_notional),
            (d("0.01"), d("500"), d("5"))
        );
        let filled = json!({"orderId": "u-1", "orderStatus": "Filled", "avgPrice": "3000.00",
                            "cumExecQty": "0.03"});
        assert_eq!(
            order_report(&filled),
            OrderReport::Filled(Fill {
                exchange_order_id: "u-1".into(),
                price: d("3000.00"),
                quantity: d("0.03")
            })
        );
        let rejected = json!({"orderStatus": "Rejected", "cumExecQty": "0",
                              "rejectReason": "EC_PerCancelRequest"});
        assert_eq!(
            order_report(&rejected),
            OrderReport::Rejected("ec_percancelrequest".into())
        );
        assert_eq!(order_side(Side::Short, true), "Buy");
    }
}

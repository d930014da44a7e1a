//! Bybit public market data: `instruments-info` and `tickers` (linear).

use serde_json::{Value, json};

use super::super::server::{Outcome, Req};
use super::super::state::Shared;
use super::super::world::Instrument;
use super::auth::{check_category, query};
use super::{error, ok};

/// Bybit's status for an instrument.
fn status(i: &Instrument) -> &'static str {
    if i.tradable { "Trading" } else { "Closed" }
}

/// `GET /v5/market/instruments-info`. Like Bybit, only `Trading` symbols unless `status` asks for
/// another one.
pub fn instruments_info(shared: &Shared, req: &Req) -> Outcome {
    let q = query(req);
    let st = shared.lock();
    let now = st.now_ms();
    if let Err(e) = check_category(q.get("category").map(String::as_str), now) {
        return e;
    }
    let wanted_status = q.get("status").map(String::as_str).unwrap_or("Trading");
    let list: Vec<Value> = st
        .instruments
        .values()
        .filter(|i| q.get("symbol").is_none_or(|s| *s == i.symbol))
        .filter(|i| status(i) == wanted_status)
        .map(|i| {
            let base = i.symbol.strip_suffix("USDT").unwrap_or(&i.symbol);
            json!({
                "symbol": i.symbol,
                "contractType": "LinearPerpetual",
                "status": status(i),
                "baseCoin": base,
                "quoteCoin": "USDT",
                "launchTime": "1585526400000",
                "deliveryTime": "0",
                "deliveryFeeRate": "",
                "priceScale": i.tick_size.decimals().to_string(),
                "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
                "priceFilter": {
                    "minPrice": i.tick_size.to_string(),
                    "maxPrice": "1999999.80",
                    "tickSize": i.tick_size.to_string()
                },
                "lotSizeFilter": {
                    "maxOrderQty": i.max_qty.to_string(),
                    "maxMktOrderQty": i.max_qty.to_string(),
                    "minOrderQty": i.min_qty.to_string(),
                    "qtyStep": i.qty_step.to_string(),
                    "postOnlyMaxOrderQty": i.max_qty.to_string(),
                    "minNotionalValue": i.min_notional.to_string()
                },
                "unifiedMarginTrade": true,
                "fundingInterval": 480,
                "settleCoin": "USDT",
                "copyTrading": "both",
                "upperFundingRate": "0.00375",
                "lowerFundingRate": "-0.00375",
                "isPreListing": false,
                "preListingInfo": null,
                "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
                "displayName": ""
            })
        })
        .collect();
    ok(
        now,
        json!({ "category": "linear", "list": list, "nextPageCursor": "" }),
    )
}

/// `GET /v5/market/tickers`. An unknown symbol is `10001 Not supported symbols`.
pub fn tickers(shared: &Shared, req: &Req) -> Outcome {
    let q = query(req);
    let st = shared.lock();
    let now = st.now_ms();
    if let Err(e) = check_category(q.get("category").map(String::as_str), now) {
        return e;
    }
    let rows: Vec<&Instrument> = match q.get("symbol") {
        Some(s) => match st.instruments.get(s) {
            Some(i) => vec![i],
            None => return error(now, 10001, "Not supported symbols"),
        },
        None => st.instruments.values().collect(),
    };
    let list: Vec<Value> = rows
        .into_iter()
        .map(|i| {
            let p = i.price.to_fixed(i.tick_size.decimals());
            json!({
                "symbol": i.symbol,
                "lastPrice": p,
                "indexPrice": p,
                "markPrice": p,
                "prevPrice24h": p,
                "price24hPcnt": "0",
                "highPrice24h": p,
                "lowPrice24h": p,
                "prevPrice1h": p,
                "openInterest": "0",
                "openInterestValue": "0",
                "turnover24h": "0",
                "volume24h": "0",
                "fundingRate": "0.0001",
                "nextFundingTime": "0",
                "predictedDeliveryPrice": "",
                "basisRate": "",
                "deliveryFeeRate": "",
                "deliveryTime": "0",
                "ask1Size": "1",
                "bid1Price": p,
                "ask1Price": p,
                "bid1Size": "1",
                "basis": ""
            })
        })
        .collect();
    ok(now, json!({ "category": "linear", "list": list }))
}

//! Binance market data and positions: `exchangeInfo`, `ticker/price`, `positionRisk` (v2, v3).

use http::StatusCode;
use serde_json::{Value, json};

use super::super::decimal::Dec;
use super::super::server::{Outcome, Req};
use super::super::state::{Shared, State};
use super::super::world::Instrument;
use super::auth::{Params, authenticate};
use super::{bad_symbol, fixed, ok};

/// `GET /fapi/v1/exchangeInfo`: every listed symbol with its filters.
pub fn exchange_info(shared: &Shared) -> Outcome {
    let st = shared.lock();
    let symbols: Vec<Value> = st.instruments.values().map(symbol_info).collect();
    // The request-weight limit is the world's budget when it sets one (its window in whole
    // seconds or minutes), else Binance's default of 2400 a minute.
    let weight = match &st.rate_limit {
        Some(l) if l.window.as_secs().is_multiple_of(60) => {
            json!({"rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE", "intervalNum": (l.window.as_secs() / 60).max(1), "limit": l.limit})
        }
        Some(l) => json!({"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND",
            "intervalNum": l.window.as_secs().max(1), "limit": l.limit}),
        None => json!({"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
            "intervalNum": 1, "limit": 2400}),
    };
    ok(json!({
        "timezone": "UTC",
        "serverTime": st.now_ms(),
        "futuresType": "U_MARGINED",
        "rateLimits": [
            weight,
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300}
        ],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": true, "autoAssetExchange": "-10000"}],
        "symbols": symbols,
    }))
}

fn symbol_info(i: &Instrument) -> Value {
    let base = i.symbol.strip_suffix("USDT").unwrap_or(&i.symbol);
    let qp = i.qty_step.decimals();
    let pp = i.tick_size.decimals();
    json!({
        "symbol": i.symbol,
        "pair": i.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000i64,
        "onboardDate": 1569398400000i64,
        "status": if i.tradable { "TRADING" } else { "SETTLING" },
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": pp,
        "quantityPrecision": qp,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": i.tick_size.to_string(),
             "maxPrice": "10000000", "tickSize": i.tick_size.to_string()},
            {"filterType": "LOT_SIZE", "minQty": i.min_qty.to_string(),
             "maxQty": i.max_qty.to_string(), "stepSize": i.qty_step.to_string()},
            {"filterType": "MARKET_LOT_SIZE", "minQty": i.min_qty.to_string(),
             "maxQty": i.max_qty.to_string(), "stepSize": i.qty_step.to_string()},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": i.min_notional.to_string()},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500",
             "multiplierDown": "0.9500", "multiplierDecimal": "4"}
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                       "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    })
}

/// `GET /fapi/v1/ticker/price`: one symbol (object) or all (array).
pub fn ticker_price(shared: &Shared, req: &Req) -> Outcome {
    let params = Params::parse(req);
    if let Err(e) = params.only(&["symbol"]) {
        return e;
    }
    let st = shared.lock();
    let now = st.now_ms();
    let one = |i: &Instrument| {
        json!({
            "symbol": i.symbol,
            "price": fixed(i.price, i.tick_size.decimals()),
            "time": now,
        })
    };
    match params.get("symbol") {
        Some(s) => match st.instruments.get(s) {
            Some(i) => ok(one(i)),
            None => bad_symbol(),
        },
        None => ok(Value::Array(st.instruments.values().map(one).collect())),
    }
}

/// `GET /fapi/v2/positionRisk` (every symbol, flat ones included) and `GET /fapi/v3/positionRisk`
/// (only symbols with a position), one-way mode.
pub fn position_risk(shared: &Shared, req: &Req, version: u8) -> Outcome {
    let params = match authenticate(shared, req) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if let Err(e) = params.only(&["symbol", "recvWindow", "timestamp", "signature"]) {
        return e;
    }
    let st = shared.lock();
    let symbols: Vec<&Instrument> = match params.get("symbol") {
        Some(s) => match st.instruments.get(s) {
            Some(i) => vec![i],
            None => return bad_symbol(),
        },
        None => st.instruments.values().collect(),
    };
    let rows: Vec<Value> = symbols
        .into_iter()
        .filter(|i| version == 2 || !st.position_qty(&i.symbol).is_zero())
        .map(|i| position_row(&st, i, version))
        .collect();
    ok(Value::Array(rows))
}

fn position_row(st: &State, i: &Instrument, version: u8) -> Value {
    let qty = st.position_qty(&i.symbol);
    let entry = st
        .positions
        .get(&i.symbol)
        .map(|p| p.entry_price)
        .unwrap_or(Dec::ZERO);
    let notional = qty.times(i.price);
    let upnl = qty.times(i.price.minus(entry));
    let qp = i.qty_step.decimals();
    let pp = i.tick_size.decimals().max(2);
    let mut row = json!({
        "symbol": i.symbol,
        "positionSide": "BOTH",
        "positionAmt": fixed(qty, qp),
        "entryPrice": fixed(entry, pp),
        "breakEvenPrice": fixed(entry, pp),
        "markPrice": fixed(i.price, 8),
        "unRealizedProfit": fixed(upnl, 8),
        "liquidationPrice": "0",
        "isolatedMargin": "0",
        "notional": fixed(notional, 8),
        "isolatedWallet": "0",
        "updateTime": if qty.is_zero() { 0 } else { st.now_ms() },
    });
    if let Some(obj) = row.as_object_mut() {
        if version == 2 {
            obj.insert("leverage".into(), json!("10"));
            obj.insert("marginType".into(), json!("cross"));
            obj.insert("isAutoAddMargin".into(), json!("false"));
            obj.insert("maxNotionalValue".into(), json!("1000000"));
        } else {
            let im = notional.abs().percent(Dec::from_int(10));
            obj.insert("marginAsset".into(), json!("USDT"));
            obj.insert("initialMargin".into(), json!(fixed(im, 8)));
            obj.insert(
                "maintMargin".into(),
                json!(fixed(im.percent(Dec::from_int(20)), 8)),
            );
            obj.insert("positionInitialMargin".into(), json!(fixed(im, 8)));
            obj.insert("openOrderInitialMargin".into(), json!("0"));
            obj.insert("adl".into(), json!(1));
            obj.insert("bidNotional".into(), json!("0"));
            obj.insert("askNotional".into(), json!("0"));
        }
    }
    row
}

/// `-1102`-free check used by trade endpoints: the instrument or `-1121`.
pub fn instrument<'a>(st: &'a State, symbol: &str) -> Result<&'a Instrument, Outcome> {
    st.instruments.get(symbol).ok_or_else(bad_symbol)
}

/// An HTTP 400 answer with a Binance code (re-exported for the trade modules).
pub fn reject(code: i64, msg: &str) -> Outcome {
    super::error(StatusCode::BAD_REQUEST, code, msg)
}

/// `GET /fapi/v1/positionSide/dual` (SIGNED): `{"dualSidePosition": true}` in hedge mode,
/// `false` in one-way mode — binance-connector-rust
/// src/derivatives_trading_usds_futures/rest_api/models/get_current_position_mode_response.rs.
pub fn position_mode(shared: &Shared, req: &Req) -> Outcome {
    let params = match authenticate(shared, req) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if let Err(e) = params.only(&["recvWindow", "timestamp", "signature"]) {
        return e;
    }
    ok(json!({ "dualSidePosition": shared.lock().hedge_mode }))
}

/// `GET /fapi/v2/account` (SIGNED), the fields a preflight reads: `canTrade`, `canDeposit`,
/// `canWithdraw`, `availableBalance`, `totalWalletBalance`, `assets` —
/// binance-connector-rust src/derivatives_trading_usds_futures/rest_api/models/
/// account_information_v2_response.rs.
pub fn account(shared: &Shared, req: &Req) -> Outcome {
    let params = match authenticate(shared, req) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if let Err(e) = params.only(&["recvWindow", "timestamp", "signature"]) {
        return e;
    }
    let st = shared.lock();
    let a = &st.account;
    let bal = fixed(a.available, 8);
    ok(json!({
        "feeTier": 0,
        "canTrade": a.can_trade,
        "canDeposit": true,
        "canWithdraw": a.can_withdraw,
        "updateTime": 0,
        "multiAssetsMargin": false,
        "totalWalletBalance": bal,
        "availableBalance": bal,
        "maxWithdrawAmount": bal,
        "assets": [{"asset": "USDT", "walletBalance": bal, "availableBalance": bal,
                    "marginBalance": bal, "maxWithdrawAmount": bal}],
        "positions": [],
    }))
}

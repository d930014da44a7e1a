//! Binance USDⓈ-M account endpoints and the trailing stop, after
//! `binance/binance-connector-rust` (`src/derivatives_trading_usds_futures/rest_api/apis/
//! {account_api,trade_api}.rs` and `models/`):
//! - `GET /fapi/v2/balance` → `[{accountAlias, asset, balance, crossWalletBalance, crossUnPnl,
//!   availableBalance, maxWithdrawAmount, marginAvailable, updateTime}]`
//!   (`FuturesAccountBalanceV2ResponseInner`);
//! - `GET /fapi/v1/leverageBracket[?symbol]` → `[{symbol, notionalCoef, brackets: [{bracket,
//!   initialLeverage, notionalCap, notionalFloor, maintMarginRatio, cum}]}]` (numbers, as in
//!   `NotionalAndLeverageBracketsResponse1InnerBracketsInner`);
//! - `POST /fapi/v1/marginType` `symbol`, `marginType=ISOLATED|CROSSED` → `{code: 200, msg:
//!   "success"}`; unchanged → `-4046 No need to change margin type.` (Binance error codes, as
//!   ccxt maps them: `NO_NEED_TO_CHANGE_MARGIN_TYPE`);
//! - `POST /fapi/v1/leverage` `symbol`, `leverage` (1..=max) → `{leverage, maxNotionalValue,
//!   symbol}` (`ChangeInitialLeverageResponse`); out of range → `-4028 Leverage N is not valid`;
//! - `GET /fapi/v1/symbolConfig[?symbol]` → `[{symbol, marginType: "CROSSED"|"ISOLATED",
//!   isAutoAddMargin, leverage (a number), maxNotionalValue (a string)}]`
//!   (`symbol_configuration`, `SymbolConfigurationResponseInner`); an unlisted symbol →
//!   `-1121 Invalid symbol.`;
//! - `POST /fapi/v1/algoOrder` `type=TRAILING_STOP_MARKET` with `quantity` or `reduceOnly`,
//!   `activatePrice`, `callbackRate` in [0.1, 10] (Binance New Order docs: "callbackRate …
//!   range [0.1, 10], where 1 for 1%"; out of range `-2007 INVALID_CALLBACK_RATE`), an
//!   activation on the wrong side of the price `-2021 Order would immediately trigger.`
//!   Queried and cancelled like any algo order (it is kept with the stops, type
//!   `TRAILING_STOP_MARKET`, its trigger the activation price).

use serde_json::{Value, json};

use super::super::decimal::Dec;
use super::super::margin::{MarginKind, MarginRefusal, TrailingRecord};
use super::super::server::{Outcome, Req};
use super::super::state::{Shared, Side, State, StopRecord};
use super::auth::{Params, authenticate, invalid};
use super::market::{instrument, reject};
use super::trade::{parse_dec, qty_error};
use super::{fixed, ok, side_str};

/// The refusal of an opening fill the account cannot carry.
pub fn margin_refusal(r: MarginRefusal) -> Outcome {
    match r {
        MarginRefusal::Insufficient => reject(-2019, "Margin is insufficient."),
        MarginRefusal::AboveBracket => reject(
            -2027,
            "Exceeded the maximum allowable position at current leverage.",
        ),
    }
}

fn run(f: impl FnOnce() -> Result<Outcome, Outcome>) -> Outcome {
    match f() {
        Ok(o) | Err(o) => o,
    }
}

/// `GET /fapi/v1/symbolConfig`: every listed symbol, or the one asked for.
pub fn symbol_config(shared: &Shared, req: &Req) -> Outcome {
    run(|| {
        let params = authenticate(shared, req)?;
        params.only(&["symbol", "recvWindow", "timestamp", "signature"])?;
        let st = shared.lock();
        let symbols: Vec<String> = match params.get("symbol") {
            Some(s) => vec![instrument(&st, s)?.symbol.clone()],
            None => st.instruments.keys().cloned().collect(),
        };
        let rows: Vec<Value> = symbols
            .iter()
            .map(|s| {
                let leverage = st.margin.leverage_of(s);
                let margin = match st.margin.margin.get(s) {
                    Some(MarginKind::Isolated) => "ISOLATED",
                    _ => "CROSSED",
                };
                let cap = st
                    .margin
                    .cap_at(leverage)
                    .map_or_else(|| "9223372036854775807".to_owned(), |c| c.to_string());
                json!({
                    "symbol": s,
                    "marginType": margin,
                    "isAutoAddMargin": false,
                    "leverage": leverage,
                    "maxNotionalValue": cap,
                })
            })
            .collect();
        Ok(ok(Value::Array(rows)))
    })
}

/// `GET /fapi/v2/balance`.
pub fn balance(shared: &Shared, req: &Req) -> Outcome {
    run(|| {
        let params = authenticate(shared, req)?;
        params.only(&["recvWindow", "timestamp", "signature"])?;
        let st = shared.lock();
        let avail = st.account.available;
        let wallet = st
            .positions
            .values()
            .map(|p| {
                let lev = Dec::from_int(i64::from(st.margin.leverage_of(&p.symbol)));
                p.qty
                    .abs()
                    .times(p.entry_price)
                    .checked_div(lev)
                    .unwrap_or(Dec::ZERO)
            })
            .fold(avail, Dec::plus);
        Ok(ok(json!([{
            "accountAlias": "SgsR",
            "asset": "USDT",
            "balance": fixed(wallet, 8),
            "crossWalletBalance": fixed(wallet, 8),
            "crossUnPnl": "0.00000000",
            "availableBalance": fixed(avail, 8),
            "maxWithdrawAmount": fixed(avail, 8),
            "marginAvailable": true,
            "updateTime": st.now_ms(),
        }])))
    })
}

/// `GET /fapi/v1/leverageBracket`.
pub fn leverage_bracket(shared: &Shared, req: &Req) -> Outcome {
    run(|| {
        let params = authenticate(shared, req)?;
        params.only(&["symbol", "recvWindow", "timestamp", "signature"])?;
        let st = shared.lock();
        let symbols: Vec<String> = match params.get("symbol") {
            Some(s) => {
                instrument(&st, s)?;
                vec![s.to_owned()]
            }
            None => st.instruments.keys().cloned().collect(),
        };
        let mut sorted = st.margin.brackets.clone();
        sorted.sort_by_key(|b| std::cmp::Reverse(b.max_leverage));
        let mut floor = Dec::ZERO;
        let brackets: Vec<Value> = sorted
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let v = json!({
                    "bracket": i + 1,
                    "initialLeverage": b.max_leverage,
                    "notionalCap": b.notional_cap.to_fixed(0).parse::<i64>().unwrap_or(0),
                    "notionalFloor": floor.to_fixed(0).parse::<i64>().unwrap_or(0),
                    "maintMarginRatio": 0.004,
                    "cum": 0.0,
                });
                floor = b.notional_cap;
                v
            })
            .collect();
        let rows: Vec<Value> = symbols
            .iter()
            .map(|s| json!({ "symbol": s, "notionalCoef": 1.0, "brackets": brackets }))
            .collect();
        Ok(ok(Value::Array(rows)))
    })
}

/// `POST /fapi/v1/marginType`.
pub fn margin_type(shared: &Shared, req: &Req) -> Outcome {
    run(|| {
        let params = authenticate(shared, req)?;
        params.only(&[
            "symbol",
            "marginType",
            "recvWindow",
            "timestamp",
            "signature",
        ])?;
        let symbol = params.required("symbol")?;
        let kind = match params.required("marginType")? {
            "ISOLATED" => MarginKind::Isolated,
            "CROSSED" => MarginKind::Cross,
            _ => return Err(invalid("marginType")),
        };
        let mut st = shared.lock();
        instrument(&st, symbol)?;
        let now = st
            .margin
            .margin
            .get(symbol)
            .copied()
            .unwrap_or(MarginKind::Cross);
        if now == kind {
            return Err(reject(-4046, "No need to change margin type."));
        }
        st.margin.margin.insert(symbol.to_owned(), kind);
        st.margin.changes += 1;
        Ok(ok(json!({ "code": 200, "msg": "success" })))
    })
}

/// `POST /fapi/v1/leverage`.
pub fn leverage(shared: &Shared, req: &Req) -> Outcome {
    run(|| {
        let params = authenticate(shared, req)?;
        params.only(&["symbol", "leverage", "recvWindow", "timestamp", "signature"])?;
        let symbol = params.required("symbol")?;
        let raw = params.required("leverage")?;
        let mut st = shared.lock();
        instrument(&st, symbol)?;
        let max = st.margin.max_leverage();
        let lev = match raw.parse::<u32>() {
            Ok(l) if (1..=max).contains(&l) => l,
            _ => return Err(reject(-4028, &format!("Leverage {raw} is not valid"))),
        };
        if st.margin.leverage_of(symbol) != lev {
            st.margin.leverage.insert(symbol.to_owned(), lev);
            st.margin.changes += 1;
        }
        let cap = st
            .margin
            .cap_at(lev)
            .map_or_else(|| "1000000".to_owned(), |c| c.to_fixed(0));
        Ok(ok(
            json!({ "leverage": lev, "maxNotionalValue": cap, "symbol": symbol }),
        ))
    })
}

/// `POST /fapi/v1/algoOrder` with `type=TRAILING_STOP_MARKET` (after the common checks of
/// `algo.rs`: authentication, known parameters, `algoType`, side, position side).
pub fn new_trailing(
    st: &mut State,
    params: &Params,
    symbol: &str,
    side: Side,
    client_id: String,
) -> Result<Outcome, Outcome> {
    if params.flag("closePosition")? {
        return Err(reject(
            -4136,
            "Target strategy invalid for orderType TRAILING_STOP_MARKET,closePosition true",
        ));
    }
    let reduce_only = params.flag("reduceOnly")?;
    let qty = parse_dec(params, "quantity")?;
    let activation = parse_dec(params, "activatePrice")?;
    let rate = parse_dec(params, "callbackRate")?;
    let inst = instrument(st, symbol)?.clone();
    State::check_qty(&inst, qty).map_err(qty_error)?;
    let (lo, hi) = ("0.1".parse::<Dec>(), "10".parse::<Dec>());
    let (Ok(lo), Ok(hi)) = (lo, hi) else {
        return Err(reject(-1000, "fake: bad constant"));
    };
    if rate < lo || rate > hi || rate.decimals() > 1 {
        return Err(reject(-2007, "Invalid callBackRate."));
    }
    if !activation.is_multiple_of(inst.tick_size) {
        return Err(reject(-4014, "Price not increased by tick size."));
    }
    // A SELL trailing stop (closing a long) activates on a rise, a BUY one on a fall: an
    // activation already reached would trigger at once.
    let reached = match side {
        Side::Sell => inst.price >= activation,
        Side::Buy => inst.price <= activation,
    };
    if reached {
        return Err(reject(-2021, "Order would immediately trigger."));
    }
    let id = st.next_id().to_string();
    let time_ms = st.now_ms();
    st.stops.push(StopRecord {
        id: id.clone(),
        client_id: client_id.clone(),
        symbol: symbol.to_owned(),
        order_type: "TRAILING_STOP_MARKET".into(),
        side,
        reduce_only,
        trigger_price: activation,
        close_position: false,
        qty: Some(qty),
        active: true,
        time_ms,
    });
    st.margin.trailing.push(TrailingRecord {
        id: id.clone(),
        client_id: client_id.clone(),
        symbol: symbol.to_owned(),
        side,
        qty: Some(qty),
        activation_price: activation,
        callback: rate,
        active: true,
    });
    let pp = inst.tick_size.decimals();
    let fault = st.take_trailing_fault(symbol);
    let mut out = ok(json!({
        "algoId": id.parse::<u64>().unwrap_or(0),
        "clientAlgoId": client_id,
        "algoType": "CONDITIONAL",
        "orderType": "TRAILING_STOP_MARKET",
        "symbol": symbol,
        "side": side_str(side),
        "positionSide": "BOTH",
        "timeInForce": "GTC",
        "quantity": fixed(qty, inst.qty_step.decimals()),
        "algoStatus": "NEW",
        "triggerPrice": fixed(Dec::ZERO, pp),
        "price": fixed(Dec::ZERO, pp),
        "workingType": "CONTRACT_PRICE",
        "priceMatch": "NONE",
        "closePosition": false,
        "priceProtect": false,
        "reduceOnly": reduce_only,
        "activatePrice": fixed(activation, pp),
        "callbackRate": rate.to_string(),
        "createTime": time_ms,
        "updateTime": time_ms,
        "triggerTime": 0,
        "goodTillDate": 0,
    }));
    out.fault = fault;
    out.stop_fault = true;
    Ok(out)
}

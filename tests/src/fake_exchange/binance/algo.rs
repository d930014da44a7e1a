//! Binance Algo Service conditional orders, where protective stops live since 2025-12-09:
//! `POST|GET|DELETE /fapi/v1/algoOrder`, `GET /fapi/v1/openAlgoOrders`.
//!
//! Supported: `algoType=CONDITIONAL` with `type=STOP_MARKET` or `TAKE_PROFIT_MARKET`, either
//! `closePosition=true` (no `quantity`, no `reduceOnly`) or a `quantity`. A trigger on the wrong
//! side of the current price is refused with `-2021 Order would immediately trigger.`

use serde_json::{Value, json};

use super::super::decimal::Dec;
use super::super::server::{Outcome, Req};
use super::super::state::{Shared, Side, State, StopRecord};
use super::super::world::Instrument;
use super::auth::{Params, authenticate, invalid};
use super::market::{instrument, reject};
use super::trade::{check_position_side, parse_dec, qty_error};
use super::{fixed, ok, parse_side, side_str, valid_client_id};

const NEW_ALGO_PARAMS: &[&str] = &[
    "algoType",
    "symbol",
    "side",
    "positionSide",
    "type",
    "timeInForce",
    "quantity",
    "price",
    "triggerPrice",
    "workingType",
    "priceMatch",
    "closePosition",
    "priceProtect",
    "reduceOnly",
    "activatePrice",
    "callbackRate",
    "clientAlgoId",
    "newOrderRespType",
    "selfTradePreventionMode",
    "goodTillDate",
    "recvWindow",
    "timestamp",
    "signature",
];

const LOOKUP_PARAMS: &[&str] = &[
    "algoId",
    "clientAlgoId",
    "recvWindow",
    "timestamp",
    "signature",
];

/// `POST /fapi/v1/algoOrder`.
pub fn new_algo_order(shared: &Shared, req: &Req) -> Outcome {
    match place(shared, req) {
        Ok(o) | Err(o) => o,
    }
}

fn place(shared: &Shared, req: &Req) -> Result<Outcome, Outcome> {
    let params = authenticate(shared, req)?;
    params.only(NEW_ALGO_PARAMS)?;
    if params.required("algoType")? != "CONDITIONAL" {
        return Err(invalid("algoType"));
    }
    let symbol = params.required("symbol")?;
    let side =
        parse_side(params.required("side")?).ok_or_else(|| reject(-1117, "Invalid side."))?;
    let kind = params.required("type")?;
    if !matches!(
        kind,
        "STOP_MARKET" | "TAKE_PROFIT_MARKET" | "TRAILING_STOP_MARKET"
    ) {
        return Err(reject(
            -1116,
            "Invalid orderType. (the fake supports STOP_MARKET, TAKE_PROFIT_MARKET and \
             TRAILING_STOP_MARKET)",
        ));
    }
    check_position_side(shared, &params)?;
    match params.get("workingType") {
        None | Some("MARK_PRICE" | "CONTRACT_PRICE") => {}
        Some(_) => return Err(invalid("workingType")),
    }
    if kind == "TRAILING_STOP_MARKET" {
        let mut st = shared.lock();
        let client_id = algo_client_id(&mut st, &params)?;
        return super::account::new_trailing(&mut st, &params, symbol, side, client_id);
    }
    let close_position = params.flag("closePosition")?;
    let reduce_only = params.flag("reduceOnly")?;
    let trigger = parse_dec(&params, "triggerPrice")?;
    let qty = if close_position {
        for p in ["quantity", "reduceOnly"] {
            if params.get(p).is_some() {
                return Err(reject(
                    -1106,
                    &format!("Parameter '{p}' sent when not required."),
                ));
            }
        }
        None
    } else {
        Some(parse_dec(&params, "quantity")?)
    };

    let mut st = shared.lock();
    let inst = instrument(&st, symbol)?.clone();
    let client_id = algo_client_id(&mut st, &params)?;
    if !inst.tradable {
        return Err(reject(-1122, "Invalid symbol status."));
    }
    if !trigger.is_positive() {
        return Err(reject(-4006, "Stop price less than zero."));
    }
    if !trigger.is_multiple_of(inst.tick_size) {
        return Err(reject(-4014, "Price not increased by tick size."));
    }
    if let Some(q) = qty {
        State::check_qty(&inst, q).map_err(qty_error)?;
    }
    if would_trigger(kind, side, trigger, &inst) {
        return Err(reject(-2021, "Order would immediately trigger."));
    }
    // One close-all stop (or take-profit) per symbol and direction: while one rests, another
    // is refused with -4130 "An open stop or take profit order with GTE and closePosition in
    // the direction is existing." (Binance USDⓈ-M futures error codes). Close-all stops are not
    // cancelled when their position closes: they rest until triggered or cancelled.
    if close_position
        && st
            .stops
            .iter()
            .any(|s| s.active && s.close_position && s.symbol == symbol && s.side == side)
    {
        return Err(reject(
            -4130,
            "An open stop or take profit order with GTE and closePosition in the direction is existing.",
        ));
    }
    if st.reject_stop.contains(symbol) {
        return Err(reject(-4045, "Reach max stop order limit."));
    }
    let rec = StopRecord {
        id: st.next_id().to_string(),
        client_id,
        symbol: symbol.to_owned(),
        order_type: kind.to_owned(),
        side,
        reduce_only,
        trigger_price: trigger,
        close_position,
        qty,
        active: true,
        time_ms: st.now_ms(),
    };
    st.stops.push(rec.clone());
    st.counters.stops_placed += 1;
    // A stop fault loses the answer of a stop that was placed (as an order fault does).
    let fault = st.take_stop_fault(symbol);
    let mut out = ok(algo_json(&rec, &inst));
    out.fault = fault;
    out.stop_fault = true;
    Ok(out)
}

/// The order's `clientAlgoId` (or a generated one); `-4015` when malformed, `-4116` when an
/// algo order already carries it.
fn algo_client_id(st: &mut State, params: &Params) -> Result<String, Outcome> {
    let client_id = match params.get("clientAlgoId") {
        Some(id) if !valid_client_id(id) => {
            return Err(reject(-4015, "Client order id is not valid."));
        }
        Some(id) => id.to_owned(),
        None => format!("autoalgoid{}", st.next_id()),
    };
    if st.stops.iter().any(|s| s.client_id == client_id) {
        st.counters.duplicate_rejections += 1;
        return Err(reject(-4116, "clientOrderId is duplicated"));
    }
    Ok(client_id)
}

/// Binance's trigger rule: STOP_MARKET BUY fires at price ≥ trigger, SELL at ≤; TAKE_PROFIT_MARKET
/// the other way round. An order whose condition already holds would fire at once.
fn would_trigger(kind: &str, side: Side, trigger: Dec, inst: &Instrument) -> bool {
    let p = inst.price;
    match (kind, side) {
        ("STOP_MARKET", Side::Buy) | ("TAKE_PROFIT_MARKET", Side::Sell) => p >= trigger,
        _ => p <= trigger,
    }
}

fn algo_json(s: &StopRecord, inst: &Instrument) -> Value {
    let pp = inst.tick_size.decimals();
    json!({
        "algoId": s.id.parse::<u64>().unwrap_or(0),
        "clientAlgoId": s.client_id,
        "algoType": "CONDITIONAL",
        "orderType": s.order_type,
        "symbol": s.symbol,
        "side": side_str(s.side),
        "positionSide": "BOTH",
        "timeInForce": "GTC",
        "quantity": s.qty.map(|q| fixed(q, inst.qty_step.decimals())).unwrap_or_else(|| "0".into()),
        "algoStatus": if s.active { "NEW" } else { "CANCELED" },
        "actualOrderId": "",
        "actualPrice": "0.00000",
        "triggerPrice": fixed(s.trigger_price, pp),
        "price": fixed(Dec::ZERO, pp),
        "icebergQuantity": null,
        "tpOrderType": "",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "workingType": "CONTRACT_PRICE",
        "priceMatch": "NONE",
        "closePosition": s.close_position,
        "priceProtect": false,
        "reduceOnly": s.reduce_only,
        "activatePrice": "",
        "callbackRate": "",
        "createTime": s.time_ms,
        "updateTime": s.time_ms,
        "triggerTime": 0,
        "goodTillDate": 0,
    })
}

/// Finds a stop by `algoId` (wins) or `clientAlgoId`.
fn find<'a>(st: &'a State, params: &Params) -> Result<&'a StopRecord, Outcome> {
    let by_id = params.get("algoId");
    let by_client = params.get("clientAlgoId");
    if by_id.is_none() && by_client.is_none() {
        return Err(reject(
            -1102,
            "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!",
        ));
    }
    st.stops
        .iter()
        .find(|s| match by_id {
            Some(id) => s.id == id,
            None => Some(s.client_id.as_str()) == by_client,
        })
        .ok_or_else(|| reject(-2013, "Order does not exist."))
}

/// `GET /fapi/v1/algoOrder`.
pub fn query_algo_order(shared: &Shared, req: &Req) -> Outcome {
    let run = || -> Result<Outcome, Outcome> {
        let params = authenticate(shared, req)?;
        params.only(LOOKUP_PARAMS)?;
        let mut st = shared.lock();
        st.counters.lookups += 1;
        let s = find(&st, &params)?;
        let inst = instrument(&st, &s.symbol)?;
        Ok(ok(algo_json(s, inst)))
    };
    match run() {
        Ok(o) | Err(o) => o,
    }
}

/// `DELETE /fapi/v1/algoOrder`.
pub fn cancel_algo_order(shared: &Shared, req: &Req) -> Outcome {
    let run = || -> Result<Outcome, Outcome> {
        let params = authenticate(shared, req)?;
        params.only(LOOKUP_PARAMS)?;
        let mut st = shared.lock();
        let (id, client) = {
            let s = find(&st, &params)?;
            if !s.active {
                return Err(reject(-2011, "Unknown order sent."));
            }
            (s.id.clone(), s.client_id.clone())
        };
        if let Some(s) = st.stops.iter_mut().find(|s| s.id == id) {
            s.active = false;
        }
        Ok(ok(json!({
            "algoId": id.parse::<u64>().unwrap_or(0),
            "clientAlgoId": client,
            "code": "200",
            "msg": "success",
        })))
    };
    match run() {
        Ok(o) | Err(o) => o,
    }
}

/// `GET /fapi/v1/openAlgoOrders`.
pub fn open_algo_orders(shared: &Shared, req: &Req) -> Outcome {
    let run = || -> Result<Outcome, Outcome> {
        let params = authenticate(shared, req)?;
        params.only(&[
            "algoType",
            "symbol",
            "algoId",
            "recvWindow",
            "timestamp",
            "signature",
        ])?;
        let mut st = shared.lock();
        st.counters.lookups += 1;
        let symbol = params.get("symbol");
        if let Some(s) = symbol {
            instrument(&st, s)?;
        }
        let rows: Vec<Value> = st
            .stops
            .iter()
            .filter(|s| s.active && symbol.is_none_or(|sym| sym == s.symbol))
            .filter_map(|s| st.instruments.get(&s.symbol).map(|i| algo_json(s, i)))
            .collect();
        Ok(ok(Value::Array(rows)))
    };
    match run() {
        Ok(o) | Err(o) => o,
    }
}

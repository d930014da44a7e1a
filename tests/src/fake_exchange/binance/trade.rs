//! Binance `POST /fapi/v1/order` (MARKET) and `GET /fapi/v1/order`.

use serde_json::{Value, json};

use super::super::decimal::{Dec, DecError};
use super::super::server::{Outcome, Req};
use super::super::state::{FillRefusal, OrderRecord, QtyIssue, Shared, State};
use super::super::world::Instrument;
use super::auth::{Params, authenticate, invalid, mandatory};
use super::market::{instrument, reject};
use super::{fixed, ok, parse_side, side_str, valid_client_id};

const NEW_ORDER_PARAMS: &[&str] = &[
    "symbol",
    "side",
    "positionSide",
    "type",
    "timeInForce",
    "quantity",
    "reduceOnly",
    "price",
    "newClientOrderId",
    "newOrderRespType",
    "priceMatch",
    "selfTradePreventionMode",
    "goodTillDate",
    "recvWindow",
    "timestamp",
    "signature",
];

/// Order types Binance moved to the Algo service (`-4120` on this endpoint).
const CONDITIONAL_TYPES: &[&str] = &[
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
];

/// Parses a quantity or price parameter: `-1102` when malformed, `-1111` when finer than 10⁻¹².
pub fn parse_dec(params: &Params, name: &str) -> Result<Dec, Outcome> {
    let raw = params.required(name)?;
    raw.parse::<Dec>().map_err(|e| match e {
        DecError::TooPrecise => reject(
            -1111,
            "Precision is over the maximum defined for this asset.",
        ),
        _ => mandatory(name),
    })
}

/// Maps a lot-rule failure to Binance's code.
pub fn qty_error(issue: QtyIssue) -> Outcome {
    match issue {
        QtyIssue::NotPositive => reject(-4003, "Quantity less than or equal to zero."),
        QtyIssue::TooPrecise => reject(
            -1111,
            "Precision is over the maximum defined for this asset.",
        ),
        QtyIssue::NotStep => reject(-4023, "Qty not increased by step size."),
        QtyIssue::BelowMin => reject(-4004, "Quantity less than min quantity."),
        QtyIssue::AboveMax => reject(-4005, "Quantity greater than max quantity."),
    }
}

/// `POST /fapi/v1/order`.
pub fn new_order(shared: &Shared, req: &Req) -> Outcome {
    match place(shared, req) {
        Ok(o) | Err(o) => o,
    }
}

fn place(shared: &Shared, req: &Req) -> Result<Outcome, Outcome> {
    let params = authenticate(shared, req)?;
    params.only(NEW_ORDER_PARAMS)?;
    let symbol = params.required("symbol")?;
    let side =
        parse_side(params.required("side")?).ok_or_else(|| reject(-1117, "Invalid side."))?;
    let order_type = params.required("type")?;
    if CONDITIONAL_TYPES.contains(&order_type) {
        return Err(reject(
            -4120,
            "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
        ));
    }
    if order_type == "LIMIT" {
        return Err(reject(
            -1116,
            "Invalid orderType. (the fake supports MARKET only)",
        ));
    }
    if order_type != "MARKET" {
        return Err(reject(-1116, "Invalid orderType."));
    }
    check_position_side(shared, &params)?;
    if params.get("price").is_some() {
        return Err(reject(-1106, "Parameter 'price' sent when not required."));
    }
    if params.get("timeInForce").is_some() {
        return Err(reject(
            -1106,
            "Parameter 'timeInForce' sent when not required.",
        ));
    }
    let qty = parse_dec(&params, "quantity")?;
    let reduce_only = params.flag("reduceOnly")?;
    let result_resp = match params.get("newOrderRespType") {
        None | Some("ACK") => false,
        Some("RESULT") => true,
        Some(_) => return Err(reject(-1136, "Invalid newOrderRespType.")),
    };

    let mut st = shared.lock();
    let inst = instrument(&st, symbol)?.clone();
    let client_id = match params.get("newClientOrderId") {
        Some(id) if !valid_client_id(id) => {
            return Err(reject(-4015, "Client order id is not valid."));
        }
        Some(id) => id.to_owned(),
        None => format!("autoclientid{}", st.next_id()),
    };
    *st.place_attempts.entry(client_id.clone()).or_insert(0) += 1;
    // `newClientOrderId` is "A unique id among open orders" (binance-connector-rust
    // src/derivatives_trading_usds_futures/rest_api/apis/trade_api.rs, NewOrderParams): -4116
    // guards open orders only. This fake's orders are MARKET and fill at once, so none is open:
    // a filled order's id is accepted again and opens a second position, as on Binance.
    if !inst.tradable {
        return Err(reject(-1122, "Invalid symbol status."));
    }
    State::check_qty(&inst, qty).map_err(qty_error)?;
    if !reduce_only && qty.times(inst.price) < inst.min_notional {
        return Err(reject(
            -4164,
            &format!(
                "Order's notional must be no smaller than {} (unless you choose reduce only).",
                inst.min_notional
            ),
        ));
    }
    if !reduce_only && st.reject_entry.contains(symbol) {
        return Err(reject(-2019, "Margin is insufficient."));
    }
    let order_id = st.next_id().to_string();
    let rec = st
        .fill_market(symbol, side, qty, reduce_only, client_id, order_id)
        .map_err(|r| match r {
            FillRefusal::ReduceOnlyRejected => reject(-2022, "ReduceOnly Order is rejected."),
            FillRefusal::Margin(m) => super::account::margin_refusal(m),
        })?;
    let fault = st.take_fault(symbol);
    let body = if result_resp {
        new_order_json(&rec, &inst)
    } else {
        ack_json(&rec, &inst)
    };
    drop(st);
    let mut out = ok(body);
    out.fault = fault;
    Ok(out)
}

/// `GET /fapi/v1/order` by `orderId` (wins) or `origClientOrderId`.
pub fn query_order(shared: &Shared, req: &Req) -> Outcome {
    let run = || -> Result<Outcome, Outcome> {
        let params = authenticate(shared, req)?;
        params.only(&[
            "symbol",
            "orderId",
            "origClientOrderId",
            "recvWindow",
            "timestamp",
            "signature",
        ])?;
        let symbol = params.required("symbol")?;
        let mut st = shared.lock();
        let inst = instrument(&st, symbol)?.clone();
        let by_id = params.get("orderId");
        let by_client = params.get("origClientOrderId");
        if by_id.is_none() && by_client.is_none() {
            return Err(reject(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            ));
        }
        st.counters.lookups += 1;
        let found = st.orders.iter().find(|o| {
            o.symbol == symbol
                && match by_id {
                    Some(id) => o.order_id == id,
                    None => Some(o.client_order_id.as_str()) == by_client,
                }
        });
        match found {
            Some(o) => Ok(ok(order_json(o, &inst))),
            None => Err(reject(-2013, "Order does not exist.")),
        }
    };
    match run() {
        Ok(o) | Err(o) => o,
    }
}

/// The full order object (`newOrderRespType=RESULT` and `GET /fapi/v1/order`).
fn order_json(o: &OrderRecord, inst: &Instrument) -> Value {
    let qp = inst.qty_step.decimals();
    let pp = inst.tick_size.decimals();
    let mut v = json!({
        "orderId": o.order_id.parse::<u64>().unwrap_or(0),
        "symbol": o.symbol,
        "status": "FILLED",
        "clientOrderId": o.client_order_id,
        "price": "0",
        "avgPrice": fixed(o.avg_price, pp.max(1)),
        "origQty": fixed(o.orig_qty, qp),
        "executedQty": fixed(o.executed_qty, qp),
        "cumQty": fixed(o.executed_qty, qp),
        "cumQuote": fixed(o.executed_qty.times(o.avg_price), 8),
        "timeInForce": "GTC",
        "type": "MARKET",
        "origType": "MARKET",
        "reduceOnly": o.reduce_only,
        "closePosition": false,
        "side": side_str(o.side),
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": false,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "time": o.time_ms,
        "updateTime": o.time_ms,
    });
    // `avg_price: Option<String>` (query_order_response.rs): absent when there is none.
    if let (Some(reported), Some(obj)) = (&inst.reported_avg_price, v.as_object_mut()) {
        if reported.is_empty() {
            obj.remove("avgPrice");
        } else {
            obj.insert("avgPrice".into(), Value::String(reported.clone()));
        }
    }
    v
}

/// The `POST /fapi/v1/order` answer (`RESULT`): the order object without `avgPrice` and
/// `cumQuote` — binance-connector-rust CHANGELOG 62.0.0 "Modified response for `new_order()`
/// (`POST /fapi/v1/order`): property `cumQuote` deleted, property `avgPrice` deleted"; see
/// src/derivatives_trading_usds_futures/rest_api/models/new_order_response.rs. The fill price
/// is read with `GET /fapi/v1/order` (query_order_response.rs still has `avgPrice`).
fn new_order_json(o: &OrderRecord, inst: &Instrument) -> Value {
    let mut v = order_json(o, inst);
    if let Some(obj) = v.as_object_mut() {
        obj.remove("avgPrice");
        obj.remove("cumQuote");
    }
    v
}

/// `positionSide` against the account's position mode: one-way takes none or `BOTH`, hedge
/// mode requires `LONG`/`SHORT`; a mismatch is `-4061` ("Order's position side does not match
/// user's setting.", Binance USDⓈ-M error codes). The fake models no hedge-mode positions, so
/// a hedge-mode order is refused either way.
pub fn check_position_side(shared: &Shared, params: &Params) -> Result<(), Outcome> {
    let hedge = shared.lock().hedge_mode;
    match (params.get("positionSide"), hedge) {
        (None | Some("BOTH"), false) => Ok(()),
        (None | Some("BOTH" | "LONG" | "SHORT"), _) => Err(reject(
            -4061,
            "Order's position side does not match user's setting.",
        )),
        (Some(_), _) => Err(invalid("positionSide")),
    }
}

/// The `ACK` answer: the order as accepted, before any fill is reported.
fn ack_json(o: &OrderRecord, inst: &Instrument) -> Value {
    let mut v = order_json(o, inst);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("status".into(), json!("NEW"));
        obj.remove("avgPrice");
        obj.remove("cumQuote");
        obj.insert("executedQty".into(), json!("0"));
        obj.insert("cumQty".into(), json!("0"));
        obj.remove("time");
    }
    v
}

//! Bybit `POST /v5/order/create` (linear Market) and `GET /v5/order/realtime|history`.

use serde_json::{Value, json};

use super::super::decimal::{Dec, DecError};
use super::super::server::{Outcome, Req};
use super::super::state::{FillRefusal, OrderRecord, QtyIssue, Shared, State};
use super::super::world::Instrument;
use super::auth::{
    authenticate, body, check_category, opt_bool, opt_int, opt_str, params_error, query, req_str,
};
use super::{error, ok, parse_side, side_str};

/// Bybit order link ids: at most 36 of `[A-Za-z0-9_-]`.
fn valid_link_id(id: &str) -> bool {
    id.len() <= 36
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses a decimal string field.
pub fn parse_dec(raw: &str, name: &str, now: i64) -> Result<Dec, Outcome> {
    raw.parse::<Dec>().map_err(|e| match e {
        DecError::TooPrecise => params_error(now, &format!("{name} has too many decimals")),
        _ => params_error(now, &format!("{name} is not a number")),
    })
}

fn qty_error(issue: QtyIssue, inst: &Instrument, now: i64) -> Outcome {
    match issue {
        QtyIssue::NotPositive => params_error(now, "qty must be greater than 0"),
        QtyIssue::TooPrecise | QtyIssue::NotStep => params_error(
            now,
            &format!("qty must be a multiple of qtyStep {}", inst.qty_step),
        ),
        QtyIssue::BelowMin => error(
            now,
            10001,
            "The number of contracts exceeds minimum limit allowed",
        ),
        QtyIssue::AboveMax => error(
            now,
            10001,
            "The number of contracts exceeds maximum limit allowed",
        ),
    }
}

/// `POST /v5/order/create`.
pub fn create(shared: &Shared, req: &Req) -> Outcome {
    match place(shared, req) {
        Ok(o) | Err(o) => o,
    }
}

fn place(shared: &Shared, req: &Req) -> Result<Outcome, Outcome> {
    authenticate(shared, req)?;
    let now = shared.lock().now_ms();
    let b = body(req, now)?;
    check_category(opt_str(&b, "category", now)?, now)?;
    let symbol = req_str(&b, "symbol", now)?;
    let side =
        parse_side(req_str(&b, "side", now)?).ok_or_else(|| params_error(now, "side invalid"))?;
    match req_str(&b, "orderType", now)? {
        "Market" => {}
        "Limit" => return Err(params_error(now, "the fake supports orderType Market only")),
        _ => return Err(params_error(now, "orderType invalid")),
    }
    let qty = parse_dec(req_str(&b, "qty", now)?, "qty", now)?;
    check_position_idx(shared, opt_int(&b, "positionIdx", now)?, false, now)?;
    let reduce_only = opt_bool(&b, "reduceOnly", now)?;
    opt_bool(&b, "closeOnTrigger", now)?;
    for unsupported in ["triggerPrice", "takeProfit", "stopLoss"] {
        if opt_str(&b, unsupported, now)?.is_some() {
            return Err(params_error(
                now,
                &format!("the fake does not support {unsupported} on order/create"),
            ));
        }
    }
    let link_id = opt_str(&b, "orderLinkId", now)?;

    let mut st = shared.lock();
    let inst = st
        .instruments
        .get(symbol)
        .cloned()
        .ok_or_else(|| params_error(now, "symbol invalid"))?;
    let client_id = match link_id {
        Some(id) if !valid_link_id(id) => {
            return Err(params_error(now, "orderLinkId invalid"));
        }
        Some(id) => id.to_owned(),
        // Bybit leaves orderLinkId empty when the client sends none; keep ids unique internally.
        None => String::new(),
    };
    if !client_id.is_empty() {
        *st.place_attempts.entry(client_id.clone()).or_insert(0) += 1;
        if st.client_id_used(&client_id) {
            st.counters.duplicate_rejections += 1;
            return Err(error(now, 110072, "OrderLinkedID is duplicate"));
        }
    }
    if !inst.tradable {
        return Err(error(now, 110074, "This contract is not live"));
    }
    State::check_qty(&inst, qty).map_err(|i| qty_error(i, &inst, now))?;
    if !reduce_only && qty.times(inst.price) < inst.min_notional {
        return Err(error(
            now,
            110094,
            "Order notional value below the lower limit",
        ));
    }
    if !reduce_only && st.reject_entry.contains(symbol) {
        return Err(error(now, 110007, "Available balance is insufficient"));
    }
    let order_id = uuid_like(st.next_id());
    let rec = st
        .fill_market(symbol, side, qty, reduce_only, client_id, order_id)
        .map_err(|r| match r {
            FillRefusal::ReduceOnlyRejected => error(now, 110017, "Reduce-only rule not satisfied"),
            FillRefusal::Margin(m) => super::margin::margin_refusal(m, now),
        })?;
    let fault = st.take_fault(symbol);
    drop(st);
    let mut out = ok(
        now,
        json!({ "orderId": rec.order_id, "orderLinkId": rec.client_order_id }),
    );
    out.fault = fault;
    Ok(out)
}

/// `positionIdx` against the position mode (docs/v5/order/create-order.mdx: "0: one-way mode,
/// 1: hedge-mode Buy side, 2: hedge-mode Sell side"; required under hedge mode). A mismatch is
/// `10001 position idx not match position mode`. The fake models no hedge-mode positions, so
/// under hedge mode every order is refused. `required`: trading-stop needs it in both modes.
pub fn check_position_idx(
    shared: &Shared,
    idx: Option<i64>,
    required: bool,
    now: i64,
) -> Result<(), Outcome> {
    let hedge = shared.lock().hedge_mode;
    match (idx, hedge) {
        (None, _) if required => Err(params_error(now, "positionIdx is required")),
        (None | Some(0), false) => Ok(()),
        _ => Err(params_error(now, "position idx not match position mode")),
    }
}

/// Bybit order ids are UUIDs.
fn uuid_like(n: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (n >> 32) as u32,
        (n >> 16) & 0xffff,
        n & 0xfff,
        (n >> 12) & 0xfff,
        n
    )
}

/// `GET /v5/order/realtime` (`history == false`) and `GET /v5/order/history`.
///
/// Market orders fill at once, so realtime lists them only when asked by `orderId`/`orderLinkId`
/// or with `openOnly=1` (recent closed orders); history always lists them.
pub fn list_orders(shared: &Shared, req: &Req, history: bool) -> Outcome {
    let run = || -> Result<Outcome, Outcome> {
        authenticate(shared, req)?;
        let q = query(req);
        let mut st = shared.lock();
        let now = st.now_ms();
        check_category(q.get("category").map(String::as_str), now)?;
        let symbol = q.get("symbol");
        if symbol.is_none() && !q.contains_key("baseCoin") && !q.contains_key("settleCoin") {
            return Err(error(
                now,
                10001,
                "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin",
            ));
        }
        if let Some(s) = symbol
            && !st.instruments.contains_key(s)
        {
            return Err(params_error(now, "symbol invalid"));
        }
        st.counters.lookups += 1;
        let by_id = q.get("orderId");
        let by_link = q.get("orderLinkId");
        let closed_ok = history
            || by_id.is_some()
            || by_link.is_some()
            || q.get("openOnly").is_some_and(|v| v != "0");
        let limit: usize = q
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(20)
            .clamp(1, 50);
        let list: Vec<Value> = st
            .orders
            .iter()
            .rev()
            .filter(|_| closed_ok)
            // The create ack is asynchronous (docs/v5/order/create-order.mdx: "This request is
            // asynchronous so please use the websocket to confirm the order status"): an order
            // shows in realtime and history only after `ack_visibility_delay`.
            .filter(|o| st.visible(o.time_ms))
            .filter(|o| symbol.is_none_or(|s| *s == o.symbol))
            .filter(|o| by_id.is_none_or(|id| *id == o.order_id))
            .filter(|o| by_link.is_none_or(|l| *l == o.client_order_id))
            .take(limit)
            .filter_map(|o| st.instruments.get(&o.symbol).map(|i| order_json(o, i)))
            .collect();
        Ok(ok(
            now,
            json!({ "category": "linear", "list": list, "nextPageCursor": "" }),
        ))
    };
    match run() {
        Ok(o) | Err(o) => o,
    }
}

fn order_json(o: &OrderRecord, inst: &Instrument) -> Value {
    let pp = inst.tick_size.decimals();
    let qp = inst.qty_step.decimals();
    let mut head = json!({
        "orderId": o.order_id,
        "orderLinkId": o.client_order_id,
        "blockTradeId": "",
        "symbol": o.symbol,
        "price": o.avg_price.to_fixed(pp),
        "qty": o.orig_qty.to_fixed(qp),
        "side": side_str(o.side),
        "isLeverage": "",
        "positionIdx": 0,
        "orderStatus": "Filled",
        "createType": "CreateByUser",
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": inst
            .reported_avg_price
            .clone()
            .unwrap_or_else(|| o.avg_price.to_fixed(pp)),
        "leavesQty": "0",
        "leavesValue": "0",
        "cumExecQty": o.executed_qty.to_fixed(qp),
        "cumExecValue": o.executed_qty.times(o.avg_price).to_string(),
        "cumExecFee": "0",
    });
    // Two literals: one would exceed serde_json's macro recursion limit.
    let rest = json!({
        "timeInForce": "IOC",
        "orderType": "Market",
        "stopOrderType": "",
        "orderIv": "",
        "triggerPrice": "",
        "takeProfit": "",
        "stopLoss": "",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "triggerBy": "",
        "lastPriceOnCreated": o.avg_price.to_fixed(pp),
        "reduceOnly": o.reduce_only,
        "closeOnTrigger": false,
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "tpslMode": "",
        "tpLimitPrice": "",
        "slLimitPrice": "",
        "placeType": "",
        "createdTime": o.time_ms.to_string(),
        "updatedTime": o.time_ms.to_string(),
    });
    if let (Some(a), Value::Object(b)) = (head.as_object_mut(), rest) {
        a.extend(b);
    }
    head
}

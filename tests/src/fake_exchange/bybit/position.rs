//! Bybit `GET /v5/position/list` and `POST /v5/position/trading-stop` (one-way mode, linear).
//!
//! The protective stop is a position attribute (`stopLoss`, `tpslMode=Full`): setting it again
//! replaces it, `"0"` cancels it, and it disappears when the position closes. A stop on the wrong
//! side of the last price is refused like Bybit does (`10001`, "should lower/higher than
//! base_price").

use serde_json::{Value, json};

use super::super::decimal::Dec;
use super::super::server::{Outcome, Req};
use super::super::state::{Shared, Side, State, StopRecord};
use super::super::world::Instrument;
use super::auth::{
    authenticate, body, check_category, opt_int, opt_str, params_error, query, req_str,
};
use super::error;
use super::ok;
use super::trade::{check_position_idx, parse_dec};

/// `GET /v5/position/list`: by `symbol` (one row, flat or not) or `settleCoin` (open positions).
pub fn list(shared: &Shared, req: &Req) -> Outcome {
    let run = || -> Result<Outcome, Outcome> {
        authenticate(shared, req)?;
        let q = query(req);
        let st = shared.lock();
        let now = st.now_ms();
        check_category(q.get("category").map(String::as_str), now)?;
        let rows: Vec<Value> = match (q.get("symbol"), q.get("settleCoin")) {
            (Some(s), _) => {
                let inst = st
                    .instruments
                    .get(s)
                    .ok_or_else(|| params_error(now, "symbol invalid"))?;
                rows(&st, inst)
            }
            (None, Some(coin)) if coin == "USDT" => st
                .positions
                .keys()
                .filter_map(|s| st.instruments.get(s))
                .flat_map(|i| rows(&st, i))
                .collect(),
            (None, Some(_)) => Vec::new(),
            (None, None) => {
                return Err(error(
                    now,
                    10001,
                    "Missing some parameters that must be filled in, symbol or settleCoin",
                ));
            }
        };
        Ok(ok(
            now,
            json!({ "category": "linear", "list": rows, "nextPageCursor": "" }),
        ))
    };
    match run() {
        Ok(o) | Err(o) => o,
    }
}

fn active_stop<'a>(st: &'a State, symbol: &str) -> Option<&'a StopRecord> {
    st.stops.iter().find(|s| s.active && s.symbol == symbol)
}

/// The rows of one symbol: one with `positionIdx 0` in one-way mode; in hedge mode one per
/// side, `positionIdx` 1 (Buy side) and 2 (Sell side) (docs/v5/position/position.mdx,
/// `positionIdx`). The fake holds no hedge-mode positions, so both are empty then.
fn rows(st: &State, i: &Instrument) -> Vec<Value> {
    if !st.hedge_mode {
        return vec![row(st, i)];
    }
    (1..=2)
        .map(|idx| {
            let mut r = row(st, i);
            r["positionIdx"] = json!(idx);
            r
        })
        .collect()
}

fn row(st: &State, i: &Instrument) -> Value {
    let qty = st.position_qty(&i.symbol);
    let pp = i.tick_size.decimals();
    let entry = st
        .positions
        .get(&i.symbol)
        .map(|p| p.entry_price)
        .unwrap_or(Dec::ZERO);
    let side = if qty.is_positive() {
        "Buy"
    } else if qty.is_negative() {
        "Sell"
    } else {
        ""
    };
    let value = qty.abs().times(entry);
    let stop = active_stop(st, &i.symbol)
        .map(|s| s.trigger_price.to_fixed(pp))
        .unwrap_or_default();
    let now = st.now_ms().to_string();
    json!({
        "positionIdx": 0,
        "riskId": 1,
        "riskLimitValue": "2000000",
        "symbol": i.symbol,
        "side": side,
        "size": qty.abs().to_fixed(i.qty_step.decimals()),
        "avgPrice": entry.to_string(),
        "positionValue": value.to_string(),
        "tradeMode": 0,
        "positionStatus": "Normal",
        "autoAddMargin": 0,
        "adlRankIndicator": if qty.is_zero() { 0 } else { 2 },
        // The symbol's leverage as set (`/v5/position/set-leverage`), a string.
        "leverage": st.margin.leverage_of(&i.symbol).to_string(),
        "positionBalance": value.percent(Dec::from_int(10)).to_string(),
        "markPrice": i.price.to_fixed(pp),
        "liqPrice": "",
        "bustPrice": "",
        "positionMM": "0",
        "positionIM": value.percent(Dec::from_int(10)).to_string(),
        "tpslMode": "Full",
        "takeProfit": "",
        "stopLoss": stop,
        "trailingStop": st
            .margin
            .trailing_of(&i.symbol)
            .map_or_else(|| "0".to_owned(), |t| t.callback.to_string()),
        "unrealisedPnl": qty.times(i.price.minus(entry)).to_string(),
        "curRealisedPnl": "0",
        "cumRealisedPnl": "0",
        "sessionAvgPrice": "",
        "seq": 1,
        "isReduceOnly": false,
        "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "",
        "createdTime": now,
        "updatedTime": now,
    })
}

/// `POST /v5/position/trading-stop` with `stopLoss` (`takeProfit`/`trailingStop` only as `"0"`).
pub fn trading_stop(shared: &Shared, req: &Req) -> Outcome {
    match set_stop(shared, req) {
        Ok(o) | Err(o) => o,
    }
}

fn set_stop(shared: &Shared, req: &Req) -> Result<Outcome, Outcome> {
    authenticate(shared, req)?;
    let now = shared.lock().now_ms();
    let b = body(req, now)?;
    check_category(opt_str(&b, "category", now)?, now)?;
    let symbol = req_str(&b, "symbol", now)?;
    match req_str(&b, "tpslMode", now)? {
        "Full" => {}
        "Partial" => return Err(params_error(now, "the fake supports tpslMode Full only")),
        _ => return Err(params_error(now, "tpslMode invalid")),
    }
    check_position_idx(shared, opt_int(&b, "positionIdx", now)?, true, now)?;
    if opt_str(&b, "takeProfit", now)?.is_some_and(|v| v != "0") {
        return Err(params_error(
            now,
            "the fake supports stopLoss and trailingStop, not takeProfit",
        ));
    }
    if opt_str(&b, "trailingStop", now)?.is_some() {
        if opt_str(&b, "stopLoss", now)?.is_some() {
            return Err(params_error(
                now,
                "the fake sets stopLoss and trailingStop in separate requests",
            ));
        }
        return super::margin::set_trailing(shared, &b, symbol, now);
    }
    match opt_str(&b, "slTriggerBy", now)? {
        None | Some("LastPrice" | "MarkPrice" | "IndexPrice") => {}
        Some(_) => return Err(params_error(now, "slTriggerBy invalid")),
    }
    let stop_loss = match opt_str(&b, "stopLoss", now)? {
        Some(raw) => Some(parse_dec(raw, "stopLoss", now)?),
        None => None,
    };

    let mut st = shared.lock();
    let inst = st
        .instruments
        .get(symbol)
        .cloned()
        .ok_or_else(|| params_error(now, "symbol invalid"))?;
    let qty = st.position_qty(symbol);
    if qty.is_zero() {
        return Err(error(now, 10001, "can not set tp/sl/ts for zero position"));
    }
    let Some(sl) = stop_loss else {
        return Ok(ok(now, json!({})));
    };
    if sl.is_negative() {
        return Err(params_error(now, "stopLoss cannot be less than 0"));
    }
    if sl.is_zero() {
        for s in st.stops.iter_mut().filter(|s| s.symbol == symbol) {
            s.active = false;
        }
        return Ok(ok(now, json!({})));
    }
    if !sl.is_multiple_of(inst.tick_size) {
        return Err(params_error(
            now,
            &format!("stopLoss must be a multiple of tickSize {}", inst.tick_size),
        ));
    }
    let long = qty.is_positive();
    let price = inst.price.to_fixed(inst.tick_size.decimals());
    if long && sl >= inst.price {
        return Err(error(
            now,
            10001,
            &format!(
                "StopLoss:{sl} set for Buy position should lower than base_price:{price}??LastPrice"
            ),
        ));
    }
    if !long && sl <= inst.price {
        return Err(error(
            now,
            10001,
            &format!(
                "StopLoss:{sl} set for Sell position should higher than base_price:{price}??LastPrice"
            ),
        ));
    }
    if st.reject_stop.contains(symbol) {
        return Err(error(
            now,
            110009,
            "The number of stop orders exceeds the maximum allowable limit",
        ));
    }
    for s in st.stops.iter_mut().filter(|s| s.symbol == symbol) {
        s.active = false;
    }
    let rec = StopRecord {
        id: format!("{symbol}-sl-{}", st.next_id()),
        client_id: String::new(),
        symbol: symbol.to_owned(),
        order_type: "StopLoss".to_owned(),
        side: if long { Side::Sell } else { Side::Buy },
        reduce_only: true,
        trigger_price: sl,
        close_position: true,
        qty: None,
        active: true,
        time_ms: now,
    };
    st.stops.push(rec);
    st.counters.stops_placed += 1;
    let fault = st.take_stop_fault(symbol);
    drop(st);
    let mut out = ok(now, json!({}));
    out.fault = fault;
    out.stop_fault = true;
    Ok(out)
}

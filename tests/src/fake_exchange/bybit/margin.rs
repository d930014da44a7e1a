//! Bybit v5 margin endpoints and the trailing stop, after `bybit-exchange/docs` (`docs/v5/…`)
//! (the wallet balance, `totalAvailableBalance`, is served by `account.rs` from the account's
//! available balance, which fills change through `margin.rs`):
//! - `GET /v5/market/risk-limit?category=linear[&symbol]` → `result.list[{id, symbol,
//!   riskLimitValue, maintenanceMargin, initialMargin, isLowestRisk, maxLeverage,
//!   mmDeduction}]` (`market/risk-limit.mdx`; public);
//! - `POST /v5/position/set-leverage` `buyLeverage` = `sellLeverage` in [1, max] (one-way
//!   mode) → `{}`; unchanged → `110043 Set leverage has not been modified.`; above the tiers'
//!   max → `110013 Cannot set leverage due to risk limit level.` (`position/leverage.mdx`,
//!   `error.mdx`);
//! - `POST /v5/account/set-margin-mode` `setMarginMode=ISOLATED_MARGIN|REGULAR_MARGIN` →
//!   `{reasons: []}`, account-wide (`account/set-margin-mode.mdx`; the per-symbol
//!   `/v5/position/switch-isolated` is abandoned, `abandon/cross-isolate.mdx`); unchanged →
//!   `110026 Cross/isolated margin mode has not been modified.`;
//! - `POST /v5/position/trading-stop` with `trailingStop` (a price distance, `"0"` cancels)
//!   and `activePrice` (`position/trading-stop.mdx`): an attribute of the position, shown in
//!   `/v5/position/list` as `trailingStop`, gone with the position.

use serde_json::{Map, Value, json};

use super::super::margin::{MarginKind, MarginRefusal, TrailingRecord};
use super::super::server::{Outcome, Req};
use super::super::state::{Shared, Side};
use super::auth::{authenticate, body, check_category, opt_str, params_error, query, req_str};
use super::trade::parse_dec;
use super::{error, ok};

/// The refusal of an opening fill the account cannot carry.
pub fn margin_refusal(r: MarginRefusal, now: i64) -> Outcome {
    match r {
        MarginRefusal::Insufficient => error(now, 110007, "Available balance is insufficient"),
        MarginRefusal::AboveBracket => error(
            now,
            110090,
            "Order placement failed as your position may exceed the max limit.",
        ),
    }
}

fn run(f: impl FnOnce() -> Result<Outcome, Outcome>) -> Outcome {
    match f() {
        Ok(o) | Err(o) => o,
    }
}

/// `GET /v5/market/risk-limit` (public).
pub fn risk_limit(shared: &Shared, req: &Req) -> Outcome {
    run(|| {
        let q = query(req);
        let st = shared.lock();
        let now = st.now_ms();
        check_category(q.get("category").map(String::as_str), now)?;
        let symbols: Vec<String> = match q.get("symbol") {
            Some(s) if st.instruments.contains_key(s) => vec![s.clone()],
            Some(_) => return Err(error(now, 10001, "Not supported symbols")),
            None => st.instruments.keys().cloned().collect(),
        };
        let mut tiers = st.margin.brackets.clone();
        tiers.sort_by_key(|b| std::cmp::Reverse(b.max_leverage));
        let mut list = Vec::new();
        for s in &symbols {
            for (i, t) in tiers.iter().enumerate() {
                list.push(json!({
                    "id": i + 1,
                    "symbol": s,
                    "riskLimitValue": t.notional_cap.to_string(),
                    "maintenanceMargin": "0.005",
                    "initialMargin": "0.01",
                    "isLowestRisk": i32::from(i == 0),
                    "maxLeverage": format!("{}.00", t.max_leverage),
                    "mmDeduction": "0",
                }));
            }
        }
        Ok(ok(
            now,
            json!({ "category": "linear", "list": list, "nextPageCursor": "" }),
        ))
    })
}

/// `POST /v5/position/set-leverage`.
pub fn set_leverage(shared: &Shared, req: &Req) -> Outcome {
    run(|| {
        authenticate(shared, req)?;
        let now = shared.lock().now_ms();
        let b = body(req, now)?;
        check_category(opt_str(&b, "category", now)?, now)?;
        let symbol = req_str(&b, "symbol", now)?;
        let buy = req_str(&b, "buyLeverage", now)?;
        let sell = req_str(&b, "sellLeverage", now)?;
        if buy != sell {
            return Err(params_error(
                now,
                "buy leverage not equal to sell leverage in one-way mode",
            ));
        }
        let mut st = shared.lock();
        if !st.instruments.contains_key(symbol) {
            return Err(params_error(now, "symbol invalid"));
        }
        let max = st.margin.max_leverage();
        let lev = match buy.parse::<u32>() {
            Ok(l) if l >= 1 && l <= max => l,
            Ok(l) if l > max => {
                return Err(error(
                    now,
                    110013,
                    "Cannot set leverage due to risk limit level.",
                ));
            }
            _ => return Err(params_error(now, "buyLeverage invalid")),
        };
        if st.margin.leverage_of(symbol) == lev {
            return Err(error(now, 110043, "Set leverage has not been modified."));
        }
        st.margin.leverage.insert(symbol.to_owned(), lev);
        st.margin.changes += 1;
        Ok(ok(now, json!({})))
    })
}

/// `POST /v5/account/set-margin-mode`.
pub fn set_margin_mode(shared: &Shared, req: &Req) -> Outcome {
    run(|| {
        authenticate(shared, req)?;
        let now = shared.lock().now_ms();
        let b = body(req, now)?;
        let kind = match req_str(&b, "setMarginMode", now)? {
            "ISOLATED_MARGIN" => MarginKind::Isolated,
            "REGULAR_MARGIN" => MarginKind::Cross,
            "PORTFOLIO_MARGIN" => {
                return Err(params_error(
                    now,
                    "the fake does not model portfolio margin",
                ));
            }
            _ => return Err(params_error(now, "setMarginMode invalid")),
        };
        let mut st = shared.lock();
        if st.margin.account_margin == kind {
            return Err(error(
                now,
                110026,
                "Cross/isolated margin mode has not been modified.",
            ));
        }
        st.margin.account_margin = kind;
        st.margin.changes += 1;
        Ok(ok(now, json!({ "reasons": [] })))
    })
}

/// The `trailingStop`/`activePrice` part of `POST /v5/position/trading-stop` (the caller
/// checked category, symbol, `tpslMode` and `positionIdx`).
pub fn set_trailing(
    shared: &Shared,
    b: &Map<String, Value>,
    symbol: &str,
    now: i64,
) -> Result<Outcome, Outcome> {
    let Some(raw) = opt_str(b, "trailingStop", now)? else {
        return Err(params_error(now, "trailingStop is required"));
    };
    let distance = parse_dec(raw, "trailingStop", now)?;
    let active = match opt_str(b, "activePrice", now)? {
        Some(p) => Some(parse_dec(p, "activePrice", now)?),
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
    if distance.is_negative() {
        return Err(params_error(now, "trailingStop cannot be less than 0"));
    }
    if distance.is_zero() {
        for t in st.margin.trailing.iter_mut().filter(|t| t.symbol == symbol) {
            t.active = false;
        }
        return Ok(ok(now, json!({})));
    }
    for (name, v) in [("trailingStop", Some(distance)), ("activePrice", active)] {
        if v.is_some_and(|v| !v.is_multiple_of(inst.tick_size)) {
            return Err(params_error(
                now,
                &format!("{name} must be a multiple of tickSize {}", inst.tick_size),
            ));
        }
    }
    let long = qty.is_positive();
    let activation = active.unwrap_or(inst.price);
    if active.is_some() && (long && activation <= inst.price || !long && activation >= inst.price) {
        return Err(error(
            now,
            10001,
            &format!(
                "activePrice:{activation} set for {} position should {} than base_price:{}",
                if long { "Buy" } else { "Sell" },
                if long { "higher" } else { "lower" },
                inst.price
            ),
        ));
    }
    if st
        .margin
        .trailing_of(symbol)
        .is_some_and(|t| t.callback == distance && t.activation_price == activation)
    {
        return Err(error(now, 34040, "not modified"));
    }
    for t in st.margin.trailing.iter_mut().filter(|t| t.symbol == symbol) {
        t.active = false;
    }
    st.margin.trailing.push(TrailingRecord {
        id: symbol.to_owned(),
        client_id: String::new(),
        symbol: symbol.to_owned(),
        side: if long { Side::Sell } else { Side::Buy },
        qty: None,
        activation_price: activation,
        callback: distance,
        active: true,
    });
    let fault = st.take_trailing_fault(symbol);
    drop(st);
    let mut out = ok(now, json!({}));
    out.fault = fault;
    out.stop_fault = true;
    Ok(out)
}

//! `binance`: Binance USDⓈ-M futures over REST (one-way position mode).
//!
//! - Rules: `GET /fapi/v1/exchangeInfo` (cached, refreshed every `rules_refresh_secs`): status,
//!   `PRICE_FILTER.tickSize`, `LOT_SIZE`/`MARKET_LOT_SIZE` step/min/max, `MIN_NOTIONAL.notional`.
//! - Price: `GET /fapi/v2/ticker/price`. Quantity = notional / price rounded down to the step.
//! - Entry: `POST /fapi/v1/order` `type=MARKET`, `newClientOrderId`, `newOrderRespType=RESULT`.
//! - Stop: `POST /fapi/v1/algoOrder` `algoType=CONDITIONAL`, `type=STOP_MARKET`,
//!   `closePosition=true`, `triggerPrice` on the tick, `clientAlgoId` (conditional orders left
//!   `/fapi/v1/order` on 2025-12-09; that endpoint now answers `-4120`).
//! - Close: reduce-only `MARKET` for the position's size from `GET /fapi/v3/positionRisk`.
//! - Lookup: `GET /fapi/v1/order?symbol&origClientOrderId`, then `GET /fapi/v1/algoOrder`
//!   (stops); `-2013` on both → never received.
//!
//! SIGNED requests: `timestamp` (the exchange's clock, synced from `GET /fapi/v1/time`) and
//! `recvWindow`, then `signature` = hex HMAC-SHA256 over exactly the string sent, appended last;
//! the key in `X-MBX-APIKEY`. GET carries it in the query, POST in a form body.
//!
//! Answers: 2xx → done; 4xx with a code → refused (nothing happened), except `-1000`, `-1006`,
//! `-1007` and 408 ("execution status unknown"); 5xx or those codes on an order → unknown;
//! `-4116` on an order → [`ExchangeError::DuplicateId`] (an order under that id exists: the
//! agent looks it up).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use http::Method;
use serde_json::Value;

use super::lots::{self, Rules, RulesCache, Step, num};
use super::rest::{Call, Failure, Reply, RestClient, ServerClock, number, query_string, text};
use super::signing::hmac_sha256_hex;
use super::{EntryOrder, Exchange, ExchangeError, Fill, OrderReport, Position, Side, StopOrder};
use crate::config::{Credentials, LiveConfig};

const NAME: &str = "binance";
const FORM: &str = "application/x-www-form-urlencoded";

/// Codes Binance documents as "execution status unknown".
const UNKNOWN_CODES: &[i64] = &[-1000, -1006, -1007];
/// Order does not exist.
const NOT_FOUND: i64 = -2013;
/// Timestamp outside the window: resync the clock.
const BAD_TIMESTAMP: i64 = -1021;
/// ReduceOnly order rejected: there is no position to reduce.
const REDUCE_ONLY_REJECTED: i64 = -2022;
/// Invalid symbol.
const BAD_SYMBOL: i64 = -1121;
/// An order (or algo order) with this client order id already exists.
const DUPLICATE_ID: i64 = -4116;

/// The Binance USDⓈ-M futures adapter.
#[derive(Debug)]
pub struct BinanceFutures {
    rest: RestClient,
    creds: Credentials,
    recv_window_ms: u64,
    refresh: Duration,
    clock: ServerClock,
    rules: RulesCache,
}

impl BinanceFutures {
    /// An adapter for the account `creds` with the settings of `[adapter.binance]`.
    pub fn new(cfg: &LiveConfig, creds: Credentials) -> Result<Self, String> {
        let refresh = Duration::from_secs(cfg.rules_refresh_secs);
        Ok(Self {
            rest: RestClient::new(
                &cfg.base_url,
                Duration::from_millis(cfg.request_timeout_ms),
                Duration::from_millis(cfg.connect_timeout_ms),
            )?,
            creds,
            recv_window_ms: cfg.recv_window_ms,
            refresh,
            clock: ServerClock::default(),
            rules: RulesCache::new(refresh),
        })
    }

    /// Turns an HTTP answer into JSON or a classified failure.
    fn answer(
        &self,
        reply: Result<Reply, super::rest::Transport>,
        call: Call,
    ) -> Result<Value, Failure> {
        let reply = reply.map_err(|t| t.classify(NAME, call))?;
        let json: Option<Value> = serde_json::from_slice(&reply.body).ok();
        let code = json
            .as_ref()
            .and_then(|j| j.get("code"))
            .and_then(Value::as_i64);
        let msg = json
            .as_ref()
            .and_then(|j| text(j, "msg"))
            .unwrap_or_default();
        let status = reply.status;
        let unknown =
            status >= 500 || status == 408 || code.is_some_and(|c| UNKNOWN_CODES.contains(&c));
        if unknown {
            let detail = format!("{NAME} HTTP {status} {}: {msg}", code.unwrap_or(0));
            return Err(Failure::Other(call.unknown_outcome(detail)));
        }
        if (200..300).contains(&status) {
            return json.ok_or_else(|| {
                Failure::Other(
                    call.unknown_outcome(format!("{NAME}: unreadable answer (HTTP {status})")),
                )
            });
        }
        if code == Some(BAD_TIMESTAMP) {
            self.clock.invalidate();
        }
        if call == Call::Order && code == Some(DUPLICATE_ID) {
            return Err(Failure::Other(ExchangeError::DuplicateId(format!(
                "{NAME} {DUPLICATE_ID}: {msg}"
            ))));
        }
        Err(Failure::Refused {
            exchange: NAME,
            code: code.unwrap_or(i64::from(status)),
            msg: if msg.is_empty() {
                format!("HTTP {status}")
            } else {
                msg
            },
        })
    }

    async fn public(&self, path_and_query: &str) -> Result<Value, Failure> {
        let reply = self.rest.send(Method::GET, path_and_query, &[], None).await;
        self.answer(reply, Call::Read)
    }

    /// A SIGNED request: `params`, then `recvWindow`, `timestamp` and `signature` last.
    async fn signed(
        &self,
        method: Method,
        path: &str,
        mut params: Vec<(&str, String)>,
        call: Call,
    ) -> Result<Value, Failure> {
        self.clock
            .sync_if_stale(self.refresh, || async {
                let v = self
                    .public("/fapi/v1/time")
                    .await
                    .map_err(Failure::into_error)?;
                v.get("serverTime")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| ExchangeError::Unavailable(format!("{NAME}: bad server time")))
            })
            .await;
        params.push(("recvWindow", self.recv_window_ms.to_string()));
        params.push(("timestamp", self.clock.now_ms().to_string()));
        let payload = query_string(&params);
        let signed = format!(
            "{payload}&signature={}",
            hmac_sha256_hex(&self.creds.api_secret, &payload)
        );
        let headers = [("x-mbx-apikey", self.creds.api_key.expose())];
        let reply = if method == Method::GET || method == Method::DELETE {
            let pq = format!("{path}?{signed}");
            self.rest.send(method, &pq, &headers, None).await
        } else {
            self.rest
                .send(method, path, &headers, Some((FORM, signed)))
                .await
        };
        self.answer(reply, call)
    }

    async fn rules_of(&self, symbol: &str) -> Result<Option<Rules>, ExchangeError> {
        self.rules
            .get(symbol, || async {
                let info = self
                    .public("/fapi/v1/exchangeInfo")
                    .await
                    .map_err(Failure::into_error)?;
                Ok(parse_exchange_info(&info))
            })
            .await
    }

    async fn price(&self, symbol: &str) -> Result<f64, ExchangeError> {
        let pq = format!(
            "/fapi/v2/ticker/price?{}",
            query_string(&[("symbol", symbol.to_owned())])
        );
        match self.public(&pq).await {
            Ok(v) => match number(&v, "price") {
                Some(p) if p > 0.0 => Ok(p),
                _ => Err(ExchangeError::Rejected("no_price".into())),
            },
            Err(Failure::Refused {
                code: BAD_SYMBOL, ..
            }) => Err(ExchangeError::Rejected("symbol_not_tradable".into())),
            Err(f) => Err(f.into_error()),
        }
    }

    /// Rules and quantity for an order of `notional` now; `Rejected` with the rule's reason.
    async fn sized(
        &self,
        symbol: &str,
        notional: f64,
    ) -> Result<super::lots::Quantity, ExchangeError> {
        let rules = lots::tradable(self.rules_of(symbol).await?)?;
        rules.quantity(notional, self.price(symbol).await?)
    }

    async fn entry(&self, o: EntryOrder) -> Result<Fill, ExchangeError> {
        // Everything before the POST is a read: a failure there means nothing was sent.
        let qty = self.sized(&o.symbol, o.notional).await?;
        let params = vec![
            ("symbol", o.symbol.clone()),
            ("side", order_side(o.side, false).to_owned()),
            ("type", "MARKET".to_owned()),
            ("quantity", qty.text),
            ("newClientOrderId", o.client_order_id.clone()),
            ("newOrderRespType", "RESULT".to_owned()),
        ];
        let v = self
            .signed(Method::POST, "/fapi/v1/order", params, Call::Order)
            .await
            .map_err(Failure::into_error)?;
        filled_or_unknown(&v)
    }

    async fn stop(&self, o: StopOrder) -> Result<String, ExchangeError> {
        let rules = self
            .rules_of(&o.symbol)
            .await?
            .ok_or_else(|| ExchangeError::Rejected("symbol_not_tradable".into()))?;
        let params = vec![
            ("algoType", "CONDITIONAL".to_owned()),
            ("symbol", o.symbol.clone()),
            ("side", order_side(o.side, true).to_owned()),
            ("type", "STOP_MARKET".to_owned()),
            ("triggerPrice", rules.stop_trigger(o.side, o.stop_price)),
            ("closePosition", "true".to_owned()),
            ("clientAlgoId", o.client_order_id.clone()),
        ];
        let v = self
            .signed(Method::POST, "/fapi/v1/algoOrder", params, Call::Order)
            .await
            .map_err(Failure::into_error)?;
        Ok(text(&v, "algoId").unwrap_or(o.client_order_id))
    }

    /// Signed position rows with a non-zero amount (optionally for one symbol).
    async fn positions(&self, symbol: Option<&str>) -> Result<Vec<Value>, ExchangeError> {
        let params = symbol
            .map(|s| vec![("symbol", s.to_owned())])
            .unwrap_or_default();
        let v = self
            .signed(Method::GET, "/fapi/v3/positionRisk", params, Call::Read)
            .await
            .map_err(Failure::into_error)?;
        let rows = v.as_array().ok_or_else(|| {
            ExchangeError::Unavailable(format!("{NAME}: positionRisk is not a list"))
        })?;
        Ok(rows
            .iter()
            .filter(|r| number(r, "positionAmt").is_some_and(|a| a != 0.0))
            .cloned()
            .collect())
    }

    async fn close(&self, symbol: String, client_order_id: String) -> Result<Fill, ExchangeError> {
        let rows = self.positions(Some(&symbol)).await?;
        let Some(row) = rows
            .iter()
            .find(|r| text(r, "symbol").as_deref() == Some(symbol.as_str()))
        else {
            return Err(ExchangeError::Rejected("no_position".into()));
        };
        let amount = text(row, "positionAmt").unwrap_or_default();
        let long = num(&amount).is_some_and(|a| a > 0.0);
        let params = vec![
            ("symbol", symbol.clone()),
            ("side", if long { "SELL" } else { "BUY" }.to_owned()),
            ("type", "MARKET".to_owned()),
            // The exchange printed the size on its own step: send it back as printed.
            ("quantity", amount.trim_start_matches('-').to_owned()),
            ("reduceOnly", "true".to_owned()),
            ("newClientOrderId", client_order_id),
            ("newOrderRespType", "RESULT".to_owned()),
        ];
        match self
            .signed(Method::POST, "/fapi/v1/order", params, Call::Order)
            .await
        {
            Ok(v) => filled_or_unknown(&v),
            Err(Failure::Refused {
                code: REDUCE_ONLY_REJECTED,
                ..
            }) => Err(ExchangeError::Rejected("no_position".into())),
            Err(f) => Err(f.into_error()),
        }
    }

    async fn lookup(
        &self,
        symbol: String,
        client_order_id: String,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        let params = vec![
            ("symbol", symbol.clone()),
            ("origClientOrderId", client_order_id.clone()),
        ];
        match self
            .signed(Method::GET, "/fapi/v1/order", params, Call::Read)
            .await
        {
            Ok(v) => return Ok(Some(order_report(&v))),
            Err(Failure::Refused {
                code: NOT_FOUND, ..
            }) => {}
            Err(f) => return Err(f.into_error()),
        }
        // Not a regular order: maybe a conditional (stop) order under that id.
        let params = vec![("clientAlgoId", client_order_id)];
        match self
            .signed(Method::GET, "/fapi/v1/algoOrder", params, Call::Read)
            .await
        {
            Ok(v) => Ok(Some(algo_report(&v))),
            Err(Failure::Refused {
                code: NOT_FOUND, ..
            }) => Ok(None),
            Err(f) => Err(f.into_error()),
        }
    }
}

/// BUY/SELL of an order for a position of `side`: opening, or (`closing`) against it.
fn order_side(side: Side, closing: bool) -> &'static str {
    match (side, closing) {
        (Side::Long, false) | (Side::Short, true) => "BUY",
        (Side::Short, false) | (Side::Long, true) => "SELL",
    }
}

/// The rules of every listed symbol from `exchangeInfo`.
fn parse_exchange_info(info: &Value) -> HashMap<String, Rules> {
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
                .collect::<Vec<f64>>()
        };
        let min_qty = bound("minQty").into_iter().fold(0.0, f64::max);
        let max_qty = bound("maxQty")
            .into_iter()
            .filter(|m| *m > 0.0)
            .fold(f64::INFINITY, f64::min);
        let min_notional = filter("MIN_NOTIONAL")
            .and_then(|f| number(f, "notional"))
            .unwrap_or(0.0);
        out.insert(
            symbol,
            Rules {
                tradable: text(s, "status").as_deref() == Some("TRADING"),
                qty_step,
                min_qty,
                max_qty: if max_qty.is_finite() { max_qty } else { 0.0 },
                min_notional,
                tick,
            },
        );
    }
    out
}

/// What an order object says.
fn order_report(v: &Value) -> OrderReport {
    let executed = number(v, "executedQty").unwrap_or(0.0);
    let fill = || Fill {
        exchange_order_id: text(v, "orderId").unwrap_or_default(),
        price: number(v, "avgPrice").unwrap_or(0.0),
        quantity: executed,
    };
    match text(v, "status").as_deref() {
        Some("FILLED") => OrderReport::Filled(fill()),
        Some("NEW" | "PARTIALLY_FILLED") => OrderReport::Open,
        // Ended: a partial fill still opened a position, so it counts as filled.
        _ if executed > 0.0 => OrderReport::Filled(fill()),
        status => OrderReport::Rejected(status.unwrap_or("unknown").to_ascii_lowercase()),
    }
}

/// What a conditional order says: resting or fired = in place.
fn algo_report(v: &Value) -> OrderReport {
    match text(v, "algoStatus").as_deref() {
        Some("NEW" | "TRIGGERING") => OrderReport::Open,
        Some("TRIGGERED" | "FINISHED") => OrderReport::Filled(Fill {
            exchange_order_id: text(v, "actualOrderId").unwrap_or_default(),
            price: number(v, "actualPrice").unwrap_or(0.0),
            quantity: number(v, "quantity").unwrap_or(0.0),
        }),
        status => OrderReport::Rejected(status.unwrap_or("unknown").to_ascii_lowercase()),
    }
}

/// The answer to a placed market order: its fill; still open → unknown (look it up);
/// ended without a fill → rejected.
fn filled_or_unknown(v: &Value) -> Result<Fill, ExchangeError> {
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

impl Exchange for BinanceFutures {
    fn kind(&self) -> &'static str {
        NAME
    }

    fn check_rules(
        &self,
        symbol: String,
        _side: Side,
        notional: f64,
    ) -> BoxFuture<'_, Result<(), ExchangeError>> {
        async move { self.sized(&symbol, notional).await.map(|_| ()) }.boxed()
    }

    fn open_positions(&self) -> BoxFuture<'_, Result<Vec<String>, ExchangeError>> {
        async move {
            let rows = self.positions(None).await?;
            let set: BTreeSet<String> = rows.iter().filter_map(|r| text(r, "symbol")).collect();
            Ok(set.into_iter().collect())
        }
        .boxed()
    }

    fn position(&self, symbol: String) -> BoxFuture<'_, Result<Option<Position>, ExchangeError>> {
        async move {
            let rows = self.positions(Some(&symbol)).await?;
            Ok(rows
                .iter()
                .filter(|r| text(r, "symbol").as_deref() == Some(symbol.as_str()))
                .find_map(|r| number(r, "positionAmt"))
                .map(|amount| Position {
                    side: if amount > 0.0 {
                        Side::Long
                    } else {
                        Side::Short
                    },
                    quantity: amount.abs(),
                }))
        }
        .boxed()
    }

    fn place_entry(&self, order: EntryOrder) -> BoxFuture<'_, Result<Fill, ExchangeError>> {
        self.entry(order).boxed()
    }

    fn place_stop(&self, order: StopOrder) -> BoxFuture<'_, Result<String, ExchangeError>> {
        self.stop(order).boxed()
    }

    fn close_position(
        &self,
        symbol: String,
        client_order_id: String,
    ) -> BoxFuture<'_, Result<Fill, ExchangeError>> {
        self.close(symbol, client_order_id).boxed()
    }

    fn lookup_order(
        &self,
        symbol: String,
        client_order_id: String,
    ) -> BoxFuture<'_, Result<Option<OrderReport>, ExchangeError>> {
        self.lookup(symbol, client_order_id).boxed()
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
        assert_eq!(
            (b.min_qty, b.max_qty, b.min_notional),
            (0.002, 120.0, 100.0)
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
                price: 60000.0,
                quantity: 0.002
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

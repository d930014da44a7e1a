//! `bybit`: Bybit v5 linear (USDT) perpetuals over REST (one-way position mode).
//!
//! - Rules: `GET /v5/market/instruments-info?category=linear` (paged, cached): `lotSizeFilter`,
//!   `priceFilter.tickSize`, `Trading` symbols only. Price: `GET /v5/market/tickers` `lastPrice`
//!   (reused for [`super::last_price::MAX_AGE`]).
//! - Entry: `POST /v5/order/create` `orderType=Market`, `orderLinkId`; no fill in the answer,
//!   it is read from `GET /v5/order/realtime`.
//! - Stop: `POST /v5/position/trading-stop` `tpslMode=Full`, `positionIdx=0`, `stopLoss` (a
//!   position attribute; `34040 not modified` = in place). Close: reduce-only Market.
//! - Lookup: `GET /v5/order/realtime`, then `GET /v5/order/history`.
//!
//! Private requests: `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP` (venue clock, `GET /v5/market/time`),
//! `X-BAPI-RECV-WINDOW`, `X-BAPI-SIGN` = hex HMAC-SHA256 of `timestamp + apiKey + recvWindow +
//! payload`. `retCode` ≠ 0 → refused, except `10000`/`10016` and HTTP 5xx (unknown on an order)
//! and `110072` → [`ExchangeError::DuplicateId`].

mod ack;
mod limits;
mod parse;
mod preflight;
mod settings;

use std::collections::HashMap;
use std::time::Duration;

use http::Method;
use serde_json::{Value, json};

use super::fill_check::FillCheck;
use super::last_price::LastPrices;
use super::lots::{self, Quantity, Rules, RulesCache};
use super::money::Decimal;
use super::position_mode::ModeCache;
use super::rest::{
    Call, Failure, Reply, RestClient, ServerClock, Transport, number, query_string, symbols, text,
    unless_refused,
};
use super::signing::hmac_sha256_hex;
use super::throttle::Throttle;
use super::{
    AccountState, EntryOrder, Exchange, ExchangeError, Fill, LeverageSetting, MarginMode,
    OrderReport, Position, Side, StopOrder, TrailingStopOrder,
};
use crate::exchange::Result;

mod account;
use crate::config::{Credentials, LiveConfig};
use parse::{first, list, order_report, order_side, parse_instruments};

const NAME: &str = "bybit";
const JSON: &str = "application/json";

/// Server timeout / server error: the request may have been executed.
const UNKNOWN_CODES: &[i64] = &[10000, 10016];
/// Timestamp outside the window: resync the clock.
const BAD_TIMESTAMP: i64 = 10002;
/// trading-stop: the stop already has this value.
const NOT_MODIFIED: i64 = 34040;
/// Reduce-only order with nothing to reduce.
const REDUCE_ONLY_REJECTED: i64 = 110017;
/// An order with this `orderLinkId` already exists.
const DUPLICATE_ID: i64 = 110072;
/// Page size of the paged lists.
const PAGE: &str = "200";

/// The Bybit v5 linear adapter.
#[derive(Debug)]
pub struct BybitLinear {
    rest: RestClient,
    creds: Credentials,
    recv_window_ms: u64,
    refresh: Duration,
    clock: ServerClock,
    rules: RulesCache,
    mode: ModeCache,
    throttle: Throttle,
    ban_cooldown: Duration,
    /// How long an acknowledged order is polled for before its position is read (`ack.rs`).
    ack_visibility: Duration,
    /// `X-Bapi-Limit-Status` and `X-Bapi-Limit` of the last answer that had them.
    last_limit: std::sync::Mutex<Option<(i64, i64)>>,
    /// The account-wide margin mode once set by this process (`bybit/account.rs`).
    margin_mode_set: tokio::sync::Mutex<Option<MarginMode>>,
    fills: FillCheck,
    prices: LastPrices,
}

impl BybitLinear {
    /// An adapter for the account `creds` with the settings of `[adapter.bybit]`.
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
            mode: ModeCache::new(refresh),
            throttle: Throttle::new(NAME),
            ban_cooldown: Duration::from_secs(cfg.ban_cooldown_secs),
            ack_visibility: Duration::from_millis(cfg.ack_visibility_ms),
            last_limit: std::sync::Mutex::new(None),
            margin_mode_set: tokio::sync::Mutex::new(None),
            fills: FillCheck::new(NAME, cfg.max_fill_deviation_percent),
            prices: LastPrices::default(),
        })
    }

    /// Turns an HTTP answer into the `result` object or a classified failure.
    fn answer(&self, reply: Result<Reply, Transport>, call: Call) -> Result<Value, Failure> {
        let reply = reply.map_err(|t| t.classify(NAME, call))?;
        let status = reply.status;
        let json: Option<Value> = serde_json::from_slice(&reply.body).ok();
        let code = json
            .as_ref()
            .and_then(|j| j.get("retCode"))
            .and_then(Value::as_i64);
        let msg = json
            .as_ref()
            .and_then(|j| text(j, "retMsg"))
            .unwrap_or_default();
        if let Some(e) = self.rate_limited(&reply, code, &msg) {
            return Err(Failure::Other(e));
        }
        let unknown = |detail: String| Failure::Other(call.unknown_outcome(detail));
        if status >= 500 || status == 408 || code.is_some_and(|c| UNKNOWN_CODES.contains(&c)) {
            return Err(unknown(format!(
                "{NAME} HTTP {status} {}: {msg}",
                code.unwrap_or(0)
            )));
        }
        match (code, json) {
            (Some(0), Some(mut j)) if (200..300).contains(&status) => {
                Ok(j.get_mut("result").map(Value::take).unwrap_or(Value::Null))
            }
            (Some(c), _) => {
                if c == BAD_TIMESTAMP {
                    self.clock.invalidate();
                }
                if call == Call::Order && c == DUPLICATE_ID {
                    return Err(Failure::Other(ExchangeError::DuplicateId(format!(
                        "{NAME} {c}: {msg}"
                    ))));
                }
                Err(Failure::Refused {
                    exchange: NAME,
                    code: c,
                    msg,
                })
            }
            // Answered, but no envelope: a 2xx we cannot read may hide an executed order.
            (None, _) if (200..300).contains(&status) => Err(unknown(format!(
                "{NAME}: unreadable answer (HTTP {status})"
            ))),
            (None, _) => Err(Failure::Refused {
                exchange: NAME,
                code: i64::from(status),
                msg: format!("HTTP {status}"),
            }),
        }
    }

    async fn public(&self, path: &str, params: &[(&str, String)]) -> Result<Value, Failure> {
        self.throttle.admit().await?;
        let pq = format!("{path}?{}", query_string(params));
        let reply = self.rest.send(Method::GET, &pq, &[], None).await;
        self.answer(reply, Call::Read)
    }

    /// A private request: GET with `params` as the query, POST with `body` as JSON.
    async fn private(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        body: Option<Value>,
        call: Call,
    ) -> Result<Value, Failure> {
        self.clock
            .sync_if_stale(self.refresh, || async {
                let v = self.public("/v5/market/time", &[]).await?;
                text(&v, "timeNano")
                    .and_then(|n| n.parse::<i128>().ok())
                    .and_then(|n| i64::try_from(n / 1_000_000).ok())
                    .ok_or_else(|| ExchangeError::Unavailable(format!("{NAME}: bad server time")))
            })
            .await;
        self.throttle.admit().await?;
        let ts = self.clock.now_ms().to_string();
        let recv = self.recv_window_ms.to_string();
        let key = self.creds.api_key.expose();
        let (pq, payload, body) = match body {
            Some(b) => {
                let raw = b.to_string();
                (path.to_owned(), raw.clone(), Some((JSON, raw)))
            }
            None => {
                let q = query_string(params);
                (format!("{path}?{q}"), q, None)
            }
        };
        let sign = hmac_sha256_hex(&self.creds.api_secret, &format!("{ts}{key}{recv}{payload}"));
        let headers = [
            ("x-bapi-api-key", key),
            ("x-bapi-timestamp", ts.as_str()),
            ("x-bapi-recv-window", recv.as_str()),
            ("x-bapi-sign", sign.as_str()),
        ];
        let reply = self.rest.send(method, &pq, &headers, body).await;
        self.answer(reply, call)
    }

    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Value, Failure> {
        self.private(Method::GET, path, params, None, Call::Read)
            .await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, Failure> {
        self.private(Method::POST, path, &[], Some(body), Call::Order)
            .await
    }

    async fn load_rules(&self) -> Result<HashMap<String, Rules>> {
        let mut out = HashMap::new();
        let mut cursor = String::new();
        // Bounded: a misbehaving cursor cannot loop forever.
        for _ in 0..50 {
            let mut params = vec![
                ("category", "linear".to_owned()),
                ("limit", "1000".to_owned()),
            ];
            if !cursor.is_empty() {
                params.push(("cursor", cursor.clone()));
            }
            let v = self.public("/v5/market/instruments-info", &params).await?;
            out.extend(parse_instruments(&v));
            cursor = text(&v, "nextPageCursor").unwrap_or_default();
            if cursor.is_empty() {
                break;
            }
        }
        Ok(out)
    }

    async fn rules_of(&self, symbol: &str) -> Result<Option<Rules>> {
        self.rules.get(symbol, || self.load_rules()).await
    }

    /// The last price, read within [`last_price::MAX_AGE`](super::last_price::MAX_AGE).
    async fn price(&self, symbol: &str) -> Result<Decimal> {
        self.prices.get(symbol, || self.read_price(symbol)).await
    }

    /// `GET /v5/market/tickers` for `symbol`: its `lastPrice`.
    async fn read_price(&self, symbol: &str) -> Result<Decimal> {
        let params = [
            ("category", "linear".to_owned()),
            ("symbol", symbol.to_owned()),
        ];
        // 10001 "Not supported symbols".
        let sent = self.public("/v5/market/tickers", &params).await;
        let Some(v) = unless_refused(sent, 10001)? else {
            return Err(ExchangeError::Rejected("symbol_not_tradable".into()));
        };
        match first(&v).and_then(|t| number(t, "lastPrice")) {
            Some(p) if p > Decimal::ZERO => Ok(p),
            _ => Err(ExchangeError::Rejected("no_price".into())),
        }
    }

    async fn sized(&self, symbol: &str, notional: Decimal) -> Result<Quantity> {
        let rules = lots::tradable(self.rules_of(symbol).await?)?;
        self.one_way(symbol).await?;
        rules.quantity(notional, self.price(symbol).await?)
    }

    /// Places a Market order and reads its fill back (the create answer has none).
    async fn market(
        &self,
        symbol: &str,
        side: &str,
        qty: String,
        reduce_only: bool,
        link_id: &str,
    ) -> Result<Fill, Failure> {
        let mut body = json!({
            "category": "linear",
            "symbol": symbol,
            "side": side,
            "orderType": "Market",
            "qty": &qty,
            "orderLinkId": link_id,
            "positionIdx": 0,
        });
        if reduce_only {
            body["reduceOnly"] = Value::Bool(true);
        }
        let ack = self.post("/v5/order/create", body).await?;
        // Accepted: the order exists, so anything short of its fill is unknown, never failed.
        let order_id = text(&ack, "orderId").unwrap_or_default();
        self.fill_after_ack(symbol, link_id, &order_id, &qty, side, reduce_only)
            .await
            .map_err(Failure::Other)
    }

    /// `fill` checked ([`FillCheck`]): read back (`/v5/order/realtime` `avgPrice`), else last.
    async fn checked(&self, symbol: &str, link_id: &str, fill: Fill) -> Fill {
        let Ok(last) = self.price(symbol).await else {
            return fill;
        };
        let read_back = || async {
            match self
                .lookup_order(symbol.to_owned(), link_id.to_owned())
                .await
            {
                Ok(Some(OrderReport::Filled(f))) => Some(f),
                _ => None,
            }
        };
        self.fills.checked(fill, last, read_back).await
    }

    /// Position rows with a non-zero size: one symbol, or every USDT position (paged).
    async fn positions(&self, symbol: Option<&str>) -> Result<Vec<Value>> {
        let mut rows = Vec::new();
        let mut cursor = String::new();
        for _ in 0..50 {
            let mut params = vec![("category", "linear".to_owned())];
            match symbol {
                Some(s) => params.push(("symbol", s.to_owned())),
                None => params.push(("settleCoin", "USDT".to_owned())),
            }
            params.push(("limit", PAGE.to_owned()));
            if !cursor.is_empty() {
                params.push(("cursor", cursor.clone()));
            }
            let v = self.get("/v5/position/list", &params).await?;
            rows.extend(
                list(&v)
                    .iter()
                    .filter(|r| number(r, "size").is_some_and(|s| s > Decimal::ZERO))
                    .cloned(),
            );
            cursor = text(&v, "nextPageCursor").unwrap_or_default();
            if cursor.is_empty() {
                break;
            }
        }
        Ok(rows)
    }
}

#[async_trait::async_trait]
impl Exchange for BybitLinear {
    fn kind(&self) -> &'static str {
        NAME
    }

    async fn check_rules(&self, symbol: String, _side: Side, notional: Decimal) -> Result<()> {
        self.sized(&symbol, notional).await.map(|_| ())
    }

    async fn open_positions(&self) -> Result<Vec<String>> {
        Ok(symbols(&self.positions(None).await?))
    }

    async fn position(&self, symbol: String) -> Result<Option<Position>> {
        let rows = self.positions(Some(&symbol)).await?;
        Ok(rows.first().and_then(|r| {
            Some(Position {
                side: if text(r, "side").as_deref() == Some("Buy") {
                    Side::Long
                } else {
                    Side::Short
                },
                quantity: number(r, "size")?,
            })
        }))
    }

    async fn stop_in_place(&self, symbol: String, _id: String) -> Result<bool> {
        self.stop_loss_set(&symbol).await
    }

    fn attach_metrics(
        &self,
        metrics: std::sync::Arc<wavegate_common::telemetry::Metrics>,
        exchange: &str,
    ) {
        self.fills.attach(metrics, exchange);
    }

    async fn place_entry(&self, o: EntryOrder) -> Result<Fill> {
        let qty = self.sized(&o.symbol, o.notional).await?;
        let fill = self
            .market(
                &o.symbol,
                order_side(o.side, false),
                qty.text,
                false,
                &o.client_order_id,
            )
            .await?;
        Ok(self.checked(&o.symbol, &o.client_order_id, fill).await)
    }

    async fn place_stop(&self, o: StopOrder) -> Result<String> {
        let rules = self
            .rules_of(&o.symbol)
            .await?
            .ok_or_else(|| ExchangeError::Rejected("symbol_not_tradable".into()))?;
        lots::check_stop_price(o.side, o.stop_price, self.price(&o.symbol).await?)?;
        let body = json!({
            "category": "linear",
            "symbol": o.symbol,
            "tpslMode": "Full",
            "positionIdx": 0,
            "stopLoss": rules.stop_trigger(o.side, o.stop_price),
        });
        unless_refused(
            self.post("/v5/position/trading-stop", body).await,
            NOT_MODIFIED,
        )?;
        Ok(o.client_order_id)
    }

    async fn close_position(&self, symbol: String, id: String) -> Result<Fill> {
        let rows = self.positions(Some(&symbol)).await?;
        let Some(row) = rows.first() else {
            return Err(ExchangeError::NoPosition);
        };
        let long = text(row, "side").as_deref() == Some("Buy");
        let size = text(row, "size").unwrap_or_default();
        let sent = self.market(&symbol, if long { "Sell" } else { "Buy" }, size, true, &id);
        unless_refused(sent.await, REDUCE_ONLY_REJECTED)?.ok_or(ExchangeError::NoPosition)
    }

    async fn lookup_order(&self, symbol: String, id: String) -> Result<Option<OrderReport>> {
        let params = [
            ("category", "linear".to_owned()),
            ("symbol", symbol),
            ("orderLinkId", id),
        ];
        for path in ["/v5/order/realtime", "/v5/order/history"] {
            let v = self.get(path, &params).await?;
            if let Some(o) = first(&v) {
                return Ok(Some(order_report(o)));
            }
        }
        Ok(None)
    }

    async fn min_order_notional(&self, symbol: String) -> Result<Option<Decimal>> {
        lots::min_order(self.rules_of(&symbol), self.price(&symbol)).await
    }

    async fn account(&self) -> Result<AccountState> {
        self.account_state().await
    }

    async fn bracket_max_notional(&self, symbol: String, leverage: u32) -> Result<Option<Decimal>> {
        self.bracket_cap(symbol, leverage).await
    }

    async fn set_leverage(&self, symbol: String, setting: LeverageSetting) -> Result<()> {
        self.apply_leverage(symbol, setting).await
    }

    async fn place_trailing_stop(&self, order: TrailingStopOrder) -> Result<String> {
        self.trailing(order).await
    }

    async fn lookup_trailing_stop(
        &self,
        symbol: String,
        _id: String,
    ) -> Result<Option<OrderReport>> {
        self.lookup_trailing(symbol).await
    }
}

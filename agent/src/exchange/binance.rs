//! `binance`: Binance USDⓈ-M futures over REST (one-way position mode).
//!
//! - Rules: `GET /fapi/v1/exchangeInfo` (cached): status, `PRICE_FILTER.tickSize`,
//!   `LOT_SIZE`/`MARKET_LOT_SIZE`, `MIN_NOTIONAL.notional`. Price: `GET /fapi/v2/ticker/price`
//!   (reused for [`super::last_price::MAX_AGE`]).
//! - Entry: `POST /fapi/v1/order` `type=MARKET`, `newClientOrderId`, `newOrderRespType=RESULT`.
//! - Stop: `POST /fapi/v1/algoOrder` `algoType=CONDITIONAL`, `type=STOP_MARKET`,
//!   `closePosition=true`, `clientAlgoId` (conditional orders left `/fapi/v1/order` on
//!   2025-12-09: `-4120`). Close: reduce-only `MARKET` sized from `GET /fapi/v3/positionRisk`.
//! - Lookup: `GET /fapi/v1/order?origClientOrderId`, then `GET /fapi/v1/algoOrder`; `-2013` on
//!   both → never received.
//!
//! SIGNED: `timestamp` (venue clock, `GET /fapi/v1/time`), `recvWindow`, then `signature` = hex
//! HMAC-SHA256 of exactly the string sent; key in `X-MBX-APIKEY`. 4xx with a code → refused,
//! except `-1000`, `-1006`, `-1007` and 408 ("execution status unknown") and 5xx → unknown on an
//! order; `-4116` → [`ExchangeError::DuplicateId`].

mod limits;
mod parse;
mod preflight;
mod settings;
mod stale_stops;

pub(crate) use preflight::mode_line as preflight_mode_line;

use std::time::Duration;

use http::Method;
use serde_json::Value;

use super::fill_check::FillCheck;
use super::last_price::LastPrices;
use super::lots::{self, Rules, RulesCache};
use super::money::{self, Decimal};
use super::position_mode::ModeCache;
use super::rest::{
    Call, Failure, Reply, RestClient, ServerClock, number, query_string, symbols, text, typed,
    unless_refused,
};
use super::signing::hmac_sha256_hex;
use super::throttle::{Throttle, retry_after};
use super::{
    AccountState, EntryOrder, Exchange, ExchangeError, Fill, LeverageSetting, OrderReport,
    Position, Side, StopOrder, TrailingStopOrder,
};
use crate::exchange::Result;

mod account;
use crate::config::{Credentials, LiveConfig};
use parse::{algo_report, filled_or_unknown, order_report, order_side, parse_exchange_info};

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
/// A close-all stop (or take-profit) already rests for this symbol and direction.
const CLOSE_ALL_EXISTS: i64 = -4130;

/// `GET /fapi/v1/positionSide/dual` (binance-connector-rust `GetCurrentPositionModeResponse`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PositionMode {
    dual_side_position: bool,
}

/// The Binance USDⓈ-M futures adapter.
#[derive(Debug)]
pub struct BinanceFutures {
    rest: RestClient,
    creds: Credentials,
    recv_window_ms: u64,
    refresh: Duration,
    clock: ServerClock,
    rules: RulesCache,
    mode: ModeCache,
    throttle: Throttle,
    limits: limits::UsageLimits,
    ban_cooldown: Duration,
    fills: FillCheck,
    prices: LastPrices,
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
            mode: ModeCache::new(refresh),
            throttle: Throttle::new(NAME),
            limits: limits::UsageLimits::default(),
            ban_cooldown: Duration::from_secs(cfg.ban_cooldown_secs),
            fills: FillCheck::new(NAME, cfg.max_fill_deviation_percent),
            prices: LastPrices::default(),
        })
    }

    /// Turns an HTTP answer into JSON or a classified failure.
    fn answer(
        &self,
        reply: Result<Reply, super::rest::Transport>,
        call: Call,
    ) -> Result<Value, Failure> {
        let reply = reply.map_err(|t| t.classify(NAME, call))?;
        if let Some(wait) = self.limits.pace(&reply, self.clock.now_ms()) {
            self.throttle.slow_for(wait);
        }
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
        // 429: a limit was hit (-1003/-1015); 418: IP banned for continuing after 429s ("from
        // 2 minutes to 3 days"). Neither did anything; nothing is sent until Retry-After.
        if status == 429 || status == 418 {
            let default = if status == 418 {
                self.ban_cooldown
            } else {
                Duration::from_secs(60)
            };
            let wait = retry_after(reply.header_num("retry-after"), default);
            let reason = format!("{NAME} HTTP {status} {}: {msg}", code.unwrap_or(0));
            return Err(Failure::Other(self.throttle.cool_down(wait, reason)));
        }
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
        self.throttle.admit().await?;
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
                let v = self.public("/fapi/v1/time").await?;
                v.get("serverTime")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| ExchangeError::Unavailable(format!("{NAME}: bad server time")))
            })
            .await;
        self.throttle.admit().await?;
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

    async fn rules_of(&self, symbol: &str) -> Result<Option<Rules>> {
        self.rules
            .get(symbol, || async {
                let info = self.public("/fapi/v1/exchangeInfo").await?;
                self.limits.read(&info);
                Ok(parse_exchange_info(&info))
            })
            .await
    }

    /// The last price, read within [`last_price::MAX_AGE`](super::last_price::MAX_AGE).
    async fn price(&self, symbol: &str) -> Result<Decimal> {
        self.prices.get(symbol, || self.read_price(symbol)).await
    }

    /// `GET /fapi/v2/ticker/price` for `symbol`.
    async fn read_price(&self, symbol: &str) -> Result<Decimal> {
        let pq = format!(
            "/fapi/v2/ticker/price?{}",
            query_string(&[("symbol", symbol.to_owned())])
        );
        let Some(v) = unless_refused(self.public(&pq).await, BAD_SYMBOL)? else {
            return Err(ExchangeError::Rejected("symbol_not_tradable".into()));
        };
        match number(&v, "price") {
            Some(p) if p > Decimal::ZERO => Ok(p),
            _ => Err(ExchangeError::Rejected("no_price".into())),
        }
    }

    /// Rules and quantity for an order of `notional` now; `Rejected` with the rule's reason.
    async fn sized(&self, symbol: &str, notional: Decimal) -> Result<super::lots::Quantity> {
        let rules = lots::tradable(self.rules_of(symbol).await?)?;
        self.one_way().await?;
        rules.quantity(notional, self.price(symbol).await?)
    }

    /// `Ok` in one-way position mode; hedge mode is refused ([`super::position_mode`]).
    async fn one_way(&self) -> Result<()> {
        self.mode
            .one_way("", || async {
                let v = self
                    .signed(
                        Method::GET,
                        "/fapi/v1/positionSide/dual",
                        vec![],
                        Call::Read,
                    )
                    .await?;
                let mode: PositionMode = typed(NAME, "position mode", v)?;
                Ok(mode.dual_side_position)
            })
            .await
    }

    /// The order under `client_order_id`, `None` when Binance never received it (`-2013`).
    async fn query_order(
        &self,
        symbol: &str,
        key: (&'static str, String),
    ) -> Result<Option<Value>> {
        let params = vec![("symbol", symbol.to_owned()), key];
        let sent = self.signed(Method::GET, "/fapi/v1/order", params, Call::Read);
        unless_refused(sent.await, NOT_FOUND)
    }

    /// The fill of a filled order answer, its price checked ([`FillCheck`]). `POST
    /// /fapi/v1/order` no longer carries `avgPrice` (binance-connector-rust CHANGELOG 62.0.0), so
    /// it is read back by `orderId` (`query_order_response.rs`). No price at all leaves the
    /// outcome unknown; a fill is never returned with a price ≤ 0.
    async fn priced(&self, symbol: &str, answer: &Value) -> Result<Fill> {
        let fill = filled_or_unknown(answer)?;
        let id = fill.exchange_order_id.clone();
        let read_back = || async {
            match self.query_order(symbol, ("orderId", id.clone())).await {
                Ok(Some(v)) => match order_report(&v) {
                    OrderReport::Filled(f) => Some(f),
                    _ => None,
                },
                _ => None,
            }
        };
        match self.price(symbol).await {
            Ok(last) => Ok(self.fills.checked(fill, last, read_back).await),
            Err(_) if fill.price > Decimal::ZERO => Ok(fill),
            Err(e) => match read_back().await {
                Some(f) if f.price > Decimal::ZERO => Ok(f),
                _ => Err(ExchangeError::Unknown(format!(
                    "{NAME}: filled order {id} has no readable price (last price: {e})"
                ))),
            },
        }
    }

    /// Signed position rows with a non-zero amount (optionally for one symbol).
    async fn positions(&self, symbol: Option<&str>) -> Result<Vec<Value>> {
        let params = symbol
            .map(|s| vec![("symbol", s.to_owned())])
            .unwrap_or_default();
        let v = self
            .signed(Method::GET, "/fapi/v3/positionRisk", params, Call::Read)
            .await?;
        let rows = v.as_array().ok_or_else(|| {
            ExchangeError::Unavailable(format!("{NAME}: positionRisk is not a list"))
        })?;
        Ok(rows
            .iter()
            .filter(|r| number(r, "positionAmt").is_some_and(|a| !a.is_zero()))
            .cloned()
            .collect())
    }
}

#[async_trait::async_trait]
impl Exchange for BinanceFutures {
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
        Ok(rows
            .iter()
            .filter(|r| text(r, "symbol").as_deref() == Some(symbol.as_str()))
            .find_map(|r| number(r, "positionAmt"))
            .map(|amount| Position {
                side: if amount > Decimal::ZERO {
                    Side::Long
                } else {
                    Side::Short
                },
                quantity: amount.abs(),
            }))
    }

    fn attach_metrics(
        &self,
        metrics: std::sync::Arc<wavegate_common::telemetry::Metrics>,
        exchange: &str,
    ) {
        self.fills.attach(metrics, exchange);
    }

    async fn place_entry(&self, o: EntryOrder) -> Result<Fill> {
        // Everything before the POST is a read: a failure there means nothing was sent. Both
        // at once (one round trip). Client order ids are unique among OPEN orders only
        // (binance-connector-rust trade_api.rs `new_client_order_id`): a filled MARKET id is
        // accepted again and would open a second position, so it is looked up first (-4116
        // cannot be relied on).
        let (qty, existing) = tokio::join!(
            self.sized(&o.symbol, o.notional),
            self.query_order(&o.symbol, ("origClientOrderId", o.client_order_id.clone()))
        );
        let qty = qty?;
        if existing?.is_some() {
            return Err(ExchangeError::DuplicateId(format!(
                "{NAME}: an order under {} exists",
                o.client_order_id
            )));
        }
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
            .await?;
        self.priced(&o.symbol, &v).await
    }

    async fn place_stop(&self, o: StopOrder) -> Result<String> {
        let rules = self
            .rules_of(&o.symbol)
            .await?
            .ok_or_else(|| ExchangeError::Rejected("symbol_not_tradable".into()))?;
        lots::check_stop_price(o.side, o.stop_price, self.price(&o.symbol).await?)?;
        let params = vec![
            ("algoType", "CONDITIONAL".to_owned()),
            ("symbol", o.symbol.clone()),
            ("side", order_side(o.side, true).to_owned()),
            ("type", "STOP_MARKET".to_owned()),
            ("triggerPrice", rules.stop_trigger(o.side, o.stop_price)),
            ("closePosition", "true".to_owned()),
            ("clientAlgoId", o.client_order_id.clone()),
        ];
        let mut sent = self
            .signed(
                Method::POST,
                "/fapi/v1/algoOrder",
                params.clone(),
                Call::Order,
            )
            .await;
        if let Err(Failure::Refused {
            code: CLOSE_ALL_EXISTS,
            ..
        }) = sent
        {
            // A close-all stop of a closed position (Binance leaves them) is stale: the symbol
            // was flat when this entry was sent under its lock. Cancel it, then place ours.
            self.cancel_stale_close_stops(&o.symbol, order_side(o.side, true))
                .await?;
            sent = self
                .signed(Method::POST, "/fapi/v1/algoOrder", params, Call::Order)
                .await;
        }
        let v = sent?;
        Ok(text(&v, "algoId").unwrap_or(o.client_order_id))
    }

    async fn close_position(&self, symbol: String, id: String) -> Result<Fill> {
        let rows = self.positions(Some(&symbol)).await?;
        let Some(row) = rows
            .iter()
            .find(|r| text(r, "symbol").as_deref() == Some(symbol.as_str()))
        else {
            return Err(ExchangeError::NoPosition);
        };
        let amount = text(row, "positionAmt").unwrap_or_default();
        let long = money::parse(&amount).is_some_and(|a| a > Decimal::ZERO);
        let params = vec![
            ("symbol", symbol.clone()),
            ("side", if long { "SELL" } else { "BUY" }.to_owned()),
            ("type", "MARKET".to_owned()),
            // The exchange printed the size on its own step: send it back as printed.
            ("quantity", amount.trim_start_matches('-').to_owned()),
            ("reduceOnly", "true".to_owned()),
            ("newClientOrderId", id),
            ("newOrderRespType", "RESULT".to_owned()),
        ];
        let sent = self.signed(Method::POST, "/fapi/v1/order", params, Call::Order);
        match unless_refused(sent.await, REDUCE_ONLY_REJECTED)? {
            Some(v) => self.priced(&symbol, &v).await,
            None => Err(ExchangeError::NoPosition),
        }
    }

    async fn lookup_order(&self, symbol: String, id: String) -> Result<Option<OrderReport>> {
        let params = vec![
            ("symbol", symbol.clone()),
            ("origClientOrderId", id.clone()),
        ];
        let sent = self.signed(Method::GET, "/fapi/v1/order", params, Call::Read);
        if let Some(v) = unless_refused(sent.await, NOT_FOUND)? {
            return Ok(Some(order_report(&v)));
        }
        // Not a regular order: maybe a conditional (stop) order under that id.
        let params = vec![("clientAlgoId", id)];
        let sent = self.signed(Method::GET, "/fapi/v1/algoOrder", params, Call::Read);
        Ok(unless_refused(sent.await, NOT_FOUND)?.map(|v| algo_report(&v)))
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
        id: String,
    ) -> Result<Option<OrderReport>> {
        self.lookup_order(symbol, id).await
    }
}

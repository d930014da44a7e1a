//! A fake Bybit v5 REST server (`/v5/...`, `category=linear`) for the subset the agent uses, with
//! Bybit's real signing, the `{"retCode", "retMsg", "result", "retExtInfo", "time"}` envelope and
//! its codes.
//!
//! Endpoints: `GET /v5/market/time`, `GET /v5/market/instruments-info`, `GET /v5/market/tickers`,
//! `GET /v5/position/list`, `POST /v5/order/create` (Market), `GET /v5/order/realtime`,
//! `GET /v5/order/history`, `POST /v5/position/trading-stop` (stop loss, `tpslMode=Full`),
//! `GET /v5/user/query-api`, `GET /v5/account/wallet-balance`.
//! The margin side (`margin.rs`): `GET /v5/market/risk-limit`,
//! `POST /v5/position/set-leverage`, `POST /v5/account/set-margin-mode`, and `trailingStop` /
//! `activePrice` on `POST /v5/position/trading-stop`.

mod account;
mod auth;
mod margin;
mod market;
mod position;
mod trade;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::server::{FakeServer, Outcome, Protocol, Req, Resp, json_response};
use super::state::{Shared, Side};
use super::world::World;

/// Starts fake Bybit servers.
#[derive(Debug, Clone, Copy)]
pub struct FakeBybit;

impl FakeBybit {
    /// Serves `world` on `127.0.0.1:<free port>` until the returned handle is dropped.
    pub async fn start(world: World) -> std::io::Result<FakeServer> {
        FakeServer::start(BybitProtocol, Shared::new(&world)).await
    }
}

struct BybitProtocol;

impl Protocol for BybitProtocol {
    fn handle(&self, shared: &Shared, req: &Req) -> Outcome {
        // Public market endpoints are limited per IP only; the budget covers the private ones.
        if req.path.starts_with("/v5/market/") {
            return route(shared, req);
        }
        super::limits::bybit(shared, req, || route(shared, req))
    }

    fn server_error(&self) -> Resp {
        server_error()
    }
}

fn route(shared: &Shared, req: &Req) -> Outcome {
    {
        let m = &req.method;
        let now = shared.lock().now_ms();
        match req.path.as_str() {
            "/v5/market/time" if m == Method::GET => ok(
                now,
                json!({
                    "timeSecond": (now / 1000).to_string(),
                    "timeNano": (i128::from(now) * 1_000_000).to_string(),
                }),
            ),
            "/v5/market/instruments-info" if m == Method::GET => {
                market::instruments_info(shared, req)
            }
            "/v5/market/tickers" if m == Method::GET => market::tickers(shared, req),
            "/v5/position/list" if m == Method::GET => position::list(shared, req),
            "/v5/position/trading-stop" if m == Method::POST => position::trading_stop(shared, req),
            "/v5/order/create" if m == Method::POST => trade::create(shared, req),
            "/v5/user/query-api" if m == Method::GET => account::query_api(shared, req),
            "/v5/account/info" if m == Method::GET => account::account_info(shared, req),
            "/v5/account/wallet-balance" if m == Method::GET => {
                account::wallet_balance(shared, req)
            }
            "/v5/order/realtime" if m == Method::GET => trade::list_orders(shared, req, false),
            "/v5/order/history" if m == Method::GET => trade::list_orders(shared, req, true),
            "/v5/market/risk-limit" if m == Method::GET => margin::risk_limit(shared, req),
            "/v5/position/set-leverage" if m == Method::POST => margin::set_leverage(shared, req),
            "/v5/account/set-margin-mode" if m == Method::POST => {
                margin::set_margin_mode(shared, req)
            }
            _ => error_status(StatusCode::NOT_FOUND, now, 10017, "Route not found."),
        }
    }
}

/// Bybit's server error envelope.
fn server_error() -> Resp {
    {
        json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({
                "retCode": 10016,
                "retMsg": "Server error.",
                "result": {},
                "retExtInfo": {},
                "time": super::state::real_now_ms(),
            }),
        )
    }
}

/// A successful envelope.
fn ok(now: i64, result: Value) -> Outcome {
    Outcome::new(
        json_response(
            StatusCode::OK,
            &json!({
                "retCode": 0,
                "retMsg": "OK",
                "result": result,
                "retExtInfo": {},
                "time": now,
            }),
        ),
        0,
    )
}

/// An error envelope with HTTP 200, as Bybit answers business errors.
fn error(now: i64, code: i64, msg: &str) -> Outcome {
    error_status(StatusCode::OK, now, code, msg)
}

/// An error envelope with a chosen HTTP status.
fn error_status(status: StatusCode, now: i64, code: i64, msg: &str) -> Outcome {
    Outcome::new(
        json_response(
            status,
            &json!({
                "retCode": code,
                "retMsg": msg,
                "result": {},
                "retExtInfo": {},
                "time": now,
            }),
        ),
        code,
    )
}

/// Bybit's spelling of a side.
fn side_str(s: Side) -> &'static str {
    match s {
        Side::Buy => "Buy",
        Side::Sell => "Sell",
    }
}

/// Parses `Buy`/`Sell`.
fn parse_side(s: &str) -> Option<Side> {
    match s {
        "Buy" => Some(Side::Buy),
        "Sell" => Some(Side::Sell),
        _ => None,
    }
}

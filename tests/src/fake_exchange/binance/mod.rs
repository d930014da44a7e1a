//! A fake Binance USDⓈ-M futures REST server (`/fapi/...`) for the subset the agent uses, with
//! Binance's real signing, error shapes (`{"code": -1022, "msg": "..."}`) and codes.
//!
//! Endpoints: `GET /fapi/v1/ping`, `GET /fapi/v1/time`, `GET /fapi/v1/exchangeInfo`,
//! `GET /fapi/v1/ticker/price` (and `/fapi/v2/ticker/price`), `GET /fapi/v2/positionRisk`,
//! `GET /fapi/v3/positionRisk`, `GET /fapi/v1/positionSide/dual`, `GET /fapi/v2/account`, `POST /fapi/v1/order` (MARKET), `GET /fapi/v1/order`,
//! `POST|GET|DELETE /fapi/v1/algoOrder`, `GET /fapi/v1/openAlgoOrders`; the account side
//! (`account.rs`): `GET /fapi/v2/balance`, `GET /fapi/v1/leverageBracket`,
//! `POST /fapi/v1/marginType`, `POST /fapi/v1/leverage`, and `TRAILING_STOP_MARKET` algo orders. Since 2025-12-09 Binance
//! refuses conditional types on `/fapi/v1/order` with `-4120`; so does the fake.

mod account;
mod algo;
mod auth;
mod market;
mod trade;

use http::{Method, StatusCode};
use serde_json::json;

use super::decimal::Dec;
use super::server::{FakeServer, Outcome, Protocol, Req, Resp, json_response};
use super::state::{Shared, Side};
use super::world::World;

/// Starts fake Binance servers.
#[derive(Debug, Clone, Copy)]
pub struct FakeBinance;

impl FakeBinance {
    /// Serves `world` on `127.0.0.1:<free port>` until the returned handle is dropped.
    pub async fn start(world: World) -> std::io::Result<FakeServer> {
        FakeServer::start(BinanceProtocol, Shared::new(&world)).await
    }
}

struct BinanceProtocol;

impl Protocol for BinanceProtocol {
    fn handle(&self, shared: &Shared, req: &Req) -> Outcome {
        super::limits::binance(shared, || route(shared, req))
    }

    fn server_error(&self) -> Resp {
        server_error()
    }
}

fn route(shared: &Shared, req: &Req) -> Outcome {
    let m = &req.method;
    match req.path.as_str() {
        "/fapi/v1/ping" if m == Method::GET => ok(json!({})),
        "/fapi/v1/time" if m == Method::GET => ok(json!({ "serverTime": shared.lock().now_ms() })),
        "/fapi/v1/exchangeInfo" if m == Method::GET => market::exchange_info(shared),
        "/fapi/v1/ticker/price" | "/fapi/v2/ticker/price" if m == Method::GET => {
            market::ticker_price(shared, req)
        }
        "/fapi/v2/positionRisk" if m == Method::GET => market::position_risk(shared, req, 2),
        "/fapi/v3/positionRisk" if m == Method::GET => market::position_risk(shared, req, 3),
        "/fapi/v1/positionSide/dual" if m == Method::GET => market::position_mode(shared, req),
        "/fapi/v2/account" if m == Method::GET => market::account(shared, req),
        "/fapi/v1/order" if m == Method::POST => trade::new_order(shared, req),
        "/fapi/v1/order" if m == Method::GET => trade::query_order(shared, req),
        "/fapi/v1/algoOrder" if m == Method::POST => algo::new_algo_order(shared, req),
        "/fapi/v1/algoOrder" if m == Method::GET => algo::query_algo_order(shared, req),
        "/fapi/v1/algoOrder" if m == Method::DELETE => algo::cancel_algo_order(shared, req),
        "/fapi/v1/openAlgoOrders" if m == Method::GET => algo::open_algo_orders(shared, req),
        "/fapi/v2/balance" if m == Method::GET => account::balance(shared, req),
        "/fapi/v1/leverageBracket" if m == Method::GET => account::leverage_bracket(shared, req),
        "/fapi/v1/marginType" if m == Method::POST => account::margin_type(shared, req),
        "/fapi/v1/leverage" if m == Method::POST => account::leverage(shared, req),
        "/fapi/v1/symbolConfig" if m == Method::GET => account::symbol_config(shared, req),
        path => error(
            StatusCode::NOT_FOUND,
            -1000,
            &format!("fake Binance has no endpoint {m} {path}"),
        ),
    }
}

/// Binance's documented "execution status unknown" answer.
fn server_error() -> Resp {
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({
            "code": -1007,
            "msg": "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
        }),
    )
}

/// A 200 answer.
fn ok(body: serde_json::Value) -> Outcome {
    Outcome::new(json_response(StatusCode::OK, &body), 0)
}

/// An error answer in Binance's shape.
fn error(status: StatusCode, code: i64, msg: &str) -> Outcome {
    Outcome::new(
        json_response(status, &json!({ "code": code, "msg": msg })),
        code,
    )
}

/// `-1121 Invalid symbol.`
fn bad_symbol() -> Outcome {
    error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.")
}

/// Binance's spelling of a side.
fn side_str(s: Side) -> &'static str {
    match s {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

/// Parses `BUY`/`SELL`.
fn parse_side(s: &str) -> Option<Side> {
    match s {
        "BUY" => Some(Side::Buy),
        "SELL" => Some(Side::Sell),
        _ => None,
    }
}

/// A decimal with a fixed number of places, as Binance prints prices and quantities.
fn fixed(d: Dec, places: u32) -> String {
    d.to_fixed(places)
}

/// Binance client ids: `^[\.A-Z\:/a-z0-9_-]{1,36}$`.
fn valid_client_id(id: &str) -> bool {
    (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
}

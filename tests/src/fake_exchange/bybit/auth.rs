//! Bybit v5 parameters and authentication, as the "Integration Guidance" page defines them.
//!
//! - Headers `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP`, `X-BAPI-SIGN`, optional `X-BAPI-RECV-WINDOW`
//!   (default 5000).
//! - Missing or unknown key: HTTP 401, `retCode 10003`.
//! - Timestamp rule `server_time - recv_window <= timestamp < server_time + 1000`, else
//!   `retCode 10002`.
//! - `X-BAPI-SIGN` = hex HMAC-SHA256 of `timestamp + apiKey + recvWindow + payload`, payload = the
//!   query string as sent (GET) or the raw body (POST); wrong or missing: `retCode 10004`.
//! - POST bodies are JSON objects; the documented types are enforced (`qty` is a string,
//!   `reduceOnly` a boolean, `positionIdx` an integer); a wrong type is `retCode 10001`.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde_json::{Map, Value};

use super::super::server::{Outcome, Req};
use super::super::sign::verify_hex;
use super::super::state::Shared;
use super::{error, error_status};

/// Default `X-BAPI-RECV-WINDOW`, ms.
const DEFAULT_RECV_WINDOW: i64 = 5000;

fn header<'a>(req: &'a Req, name: &str) -> &'a str {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Checks key, timestamp and signature of a private request.
pub fn authenticate(shared: &Shared, req: &Req) -> Result<(), Outcome> {
    let now = shared.lock().now_ms();
    let key = header(req, "X-BAPI-API-KEY");
    if key.is_empty() || key != shared.credentials.api_key {
        shared.lock().counters.key_rejections += 1;
        return Err(error_status(
            StatusCode::UNAUTHORIZED,
            now,
            10003,
            "API key is invalid.",
        ));
    }
    let ts_raw = header(req, "X-BAPI-TIMESTAMP");
    let recv_raw = header(req, "X-BAPI-RECV-WINDOW");
    let recv: i64 = if recv_raw.is_empty() {
        DEFAULT_RECV_WINDOW
    } else {
        recv_raw.parse().unwrap_or(-1)
    };
    let in_window = ts_raw
        .parse::<i64>()
        .is_ok_and(|ts| recv >= 0 && now - recv <= ts && ts < now + 1000);
    if !in_window {
        shared.lock().counters.timestamp_rejections += 1;
        return Err(error(
            now,
            10002,
            &format!(
                "invalid request, please check your server timestamp or recv_window param. req_timestamp[{ts_raw}],server_timestamp[{now}],recv_window[{recv_raw}]"
            ),
        ));
    }
    let payload = if req.method == Method::GET {
        req.query.clone()
    } else {
        String::from_utf8_lossy(&req.body).into_owned()
    };
    // The client signs the recv window exactly as it sent it (empty when it sent none).
    let signed = format!("{ts_raw}{key}{recv_raw}{payload}");
    let sign = header(req, "X-BAPI-SIGN");
    if sign.is_empty() || !verify_hex(&shared.credentials.secret, &signed, sign) {
        shared.lock().counters.signature_rejections += 1;
        return Err(error(
            now,
            10004,
            "error sign! Error sign, please check your signature generation algorithm.",
        ));
    }
    Ok(())
}

/// Query-string parameters of a GET request.
pub fn query(req: &Req) -> BTreeMap<String, String> {
    form_urlencoded::parse(req.query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// The JSON object body of a POST request, or `10001`.
pub fn body(req: &Req, now: i64) -> Result<Map<String, Value>, Outcome> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(params_error(now, "request body is not a JSON object")),
    }
}

/// `10001` with Bybit's `params error:` prefix.
pub fn params_error(now: i64, detail: &str) -> Outcome {
    error(now, 10001, &format!("params error: {detail}"))
}

/// A string field: absent = `None`, present but not a string = `10001`.
pub fn opt_str<'a>(
    body: &'a Map<String, Value>,
    name: &str,
    now: i64,
) -> Result<Option<&'a str>, Outcome> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(params_error(now, &format!("{name} must be a string"))),
    }
}

/// A mandatory string field.
pub fn req_str<'a>(body: &'a Map<String, Value>, name: &str, now: i64) -> Result<&'a str, Outcome> {
    opt_str(body, name, now)?.ok_or_else(|| params_error(now, &format!("{name} is required")))
}

/// A boolean field: absent = false, present but not a boolean = `10001`.
pub fn opt_bool(body: &Map<String, Value>, name: &str, now: i64) -> Result<bool, Outcome> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(params_error(now, &format!("{name} must be a boolean"))),
    }
}

/// An integer field: absent = `None`, present but not an integer = `10001`.
pub fn opt_int(body: &Map<String, Value>, name: &str, now: i64) -> Result<Option<i64>, Outcome> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| params_error(now, &format!("{name} must be an integer"))),
    }
}

/// `category` must be `linear` (the only category the fake lists).
pub fn check_category(category: Option<&str>, now: i64) -> Result<(), Outcome> {
    match category {
        Some("linear") => Ok(()),
        None => Err(params_error(now, "category is required")),
        Some(other) => Err(params_error(
            now,
            &format!("category {other} is not listed on this fake (linear only)"),
        )),
    }
}

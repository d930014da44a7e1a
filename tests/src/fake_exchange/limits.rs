//! Rate limits of the fake venues, as their documentation describes them.
//!
//! Binance (USDⓈ-M futures "Limits": each request has a weight counted per IP in a fixed
//! window and reported in `X-MBX-USED-WEIGHT-(intervalNum)(intervalLetter)`; over the limit
//! the answer is HTTP 429 `-1003` with `Retry-After`; "repeatedly violating rate limits and/or
//! failing to back off after receiving 429s will result in an automated IP ban (HTTP status
//! 418)", also with `Retry-After`, "from 2 minutes to 3 days"). The fake counts weight 1 per
//! request, and publishes its limit in `exchangeInfo.rateLimits`.
//!
//! Bybit (docs/v5/rate-limit/rate-limit.mdx in bybit-exchange/docs: per-endpoint limits per
//! rolling second, reported in `X-Bapi-Limit`, `X-Bapi-Limit-Status`,
//! `X-Bapi-Limit-Reset-Timestamp`; over the limit `retCode 10006 "Too many visits!"`; an IP
//! over its own limit gets "403, access too frequent" and must "wait for at least 10
//! minutes"). The fake keeps fixed windows per endpoint; requests that keep coming while an
//! endpoint is throttled count against the IP and earn the 403 ban.
//!
//! Both: requests that arrive while throttled are refused again; more of them than the limit
//! (a client that does not back off, not one whose requests were already in flight) earn the
//! ban.

use std::collections::HashMap;
use std::time::Duration;

use http::{HeaderValue, StatusCode};
use serde_json::json;

use super::server::{Outcome, Req, json_response};
use super::state::Shared;

/// A fake venue's rate budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests (Binance: weight) allowed per window.
    pub limit: u32,
    /// Window length (Binance publishes it in `rateLimits`; use whole seconds).
    pub window: Duration,
    /// Least a 429 / 10006 asks the client to wait (it asks up to the window's end).
    pub retry_after: Duration,
    /// Length of the IP ban (Binance 418, Bybit 403) for requests sent while throttled.
    pub ban: Duration,
}

impl RateLimit {
    /// `limit` requests per `window`, with a 1 s retry-after and a 3 s ban (test-sized).
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            retry_after: Duration::from_secs(1),
            ban: Duration::from_secs(3),
        }
    }
}

/// The counting state.
#[derive(Debug, Default)]
pub struct Budget {
    /// Window index per key (Binance: `""`, Bybit: the path) and its use.
    used: HashMap<String, (i64, u32)>,
    /// Requests now are throttled (429 / 10006) until this exchange time.
    throttled_until: i64,
    /// The IP is banned (418 / 403) until this exchange time.
    banned_until: i64,
    /// Requests that came while throttled, since the throttling began.
    violations: u32,
    /// Answers that were 429 / 10006.
    pub throttled: usize,
    /// Answers that were 418 / 403.
    pub banned: usize,
}

/// What the budget says about one request.
enum Verdict {
    /// Goes through; `used` of the limit so far in this window.
    Pass { used: u32 },
    /// Over the limit: wait until `until_ms`.
    Throttled { until_ms: i64 },
    /// Banned until `until_ms`.
    Banned { until_ms: i64 },
}

fn admit(shared: &Shared, key: &str) -> Option<(Verdict, RateLimit)> {
    let mut st = shared.lock();
    let limit = st.rate_limit.clone()?;
    let now = st.now_ms();
    let window_ms = i64::try_from(limit.window.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let b = &mut st.budget;
    if b.banned_until > now {
        b.banned += 1;
        return Some((
            Verdict::Banned {
                until_ms: b.banned_until,
            },
            limit,
        ));
    }
    if b.throttled_until > now {
        // Not backing off after being throttled earns the ban: requests already in flight
        // when the first refusal went out are forgiven (as many as the limit), more are not.
        b.violations += 1;
        if b.violations > limit.limit {
            b.banned_until = now + ms(limit.ban);
            b.banned += 1;
            let until_ms = b.banned_until;
            return Some((Verdict::Banned { until_ms }, limit));
        }
        b.throttled += 1;
        let until_ms = b.throttled_until;
        return Some((Verdict::Throttled { until_ms }, limit));
    }
    let window = now / window_ms;
    let slot = b.used.entry(key.to_owned()).or_insert((window, 0));
    if slot.0 != window {
        *slot = (window, 0);
    }
    slot.1 += 1;
    if slot.1 > limit.limit {
        // Until the window turns (when the budget is back), at least `retry_after`.
        b.throttled_until = (now + ms(limit.retry_after)).max((window + 1) * window_ms);
        b.violations = 0;
        b.throttled += 1;
        return Some((
            Verdict::Throttled {
                until_ms: b.throttled_until,
            },
            limit,
        ));
    }
    Some((Verdict::Pass { used: slot.1 }, limit))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Seconds until `until_ms`, rounded up (the unit of `Retry-After`).
fn secs_until(until_ms: i64, now: i64) -> String {
    ((until_ms - now).max(1) + 999).div_euclid(1000).to_string()
}

fn header(out: &mut Outcome, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        out.response.headers_mut().insert(name, v);
    }
}

/// The weight header name for the fake's window (`x-mbx-used-weight-1m`, `-2s`, …).
pub fn binance_weight_header(limit: &RateLimit) -> String {
    let secs = limit.window.as_secs().max(1);
    if secs.is_multiple_of(60) {
        format!("x-mbx-used-weight-{}m", secs / 60)
    } else {
        format!("x-mbx-used-weight-{secs}s")
    }
}

/// Binance: runs `handle` unless the budget refuses the request; adds the usage header.
pub fn binance(shared: &Shared, handle: impl FnOnce() -> Outcome) -> Outcome {
    let Some((verdict, limit)) = admit(shared, "") else {
        return handle();
    };
    let now = shared.lock().now_ms();
    match verdict {
        Verdict::Pass { used } => {
            let mut out = handle();
            let name = binance_weight_header(&limit);
            if let Ok(name) = http::HeaderName::from_bytes(name.as_bytes())
                && let Ok(v) = HeaderValue::from_str(&used.to_string())
            {
                out.response.headers_mut().insert(name, v);
            }
            out
        }
        Verdict::Throttled { until_ms } => {
            let body = json!({"code": -1003, "msg": format!(
                "Too many requests; current limit of IP(127.0.0.1) is {} requests per {} s. Please use the websocket for live updates to avoid bans.",
                limit.limit, limit.window.as_secs())});
            let mut out = Outcome::new(json_response(StatusCode::TOO_MANY_REQUESTS, &body), -1003);
            header(&mut out, "retry-after", secs_until(until_ms, now));
            out
        }
        Verdict::Banned { until_ms } => {
            let body = json!({"code": -1003, "msg": format!(
                "Way too many requests; IP(127.0.0.1) banned until {until_ms}. Please use the websocket for live updates to avoid bans.")});
            let status = StatusCode::from_u16(418).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            let mut out = Outcome::new(json_response(status, &body), -1003);
            header(&mut out, "retry-after", secs_until(until_ms, now));
            out
        }
    }
}

/// Bybit: runs `handle` unless the endpoint's budget refuses the request; adds the
/// `X-Bapi-Limit*` headers.
pub fn bybit(shared: &Shared, req: &Req, handle: impl FnOnce() -> Outcome) -> Outcome {
    let Some((verdict, limit)) = admit(shared, &req.path) else {
        return handle();
    };
    let now = shared.lock().now_ms();
    let (mut out, left, reset) = match verdict {
        Verdict::Pass { used } => (handle(), limit.limit.saturating_sub(used), now),
        Verdict::Throttled { until_ms } => {
            let body = json!({"retCode": 10006, "retMsg": "Too many visits!", "result": {},
                              "retExtInfo": {}, "time": now});
            (
                Outcome::new(json_response(StatusCode::OK, &body), 10006),
                0,
                until_ms,
            )
        }
        Verdict::Banned { .. } => {
            let mut r = http::Response::new(http_body_util::Full::new(bytes::Bytes::from_static(
                b"access too frequent",
            )));
            *r.status_mut() = StatusCode::FORBIDDEN;
            return Outcome::new(r, 403);
        }
    };
    header(&mut out, "x-bapi-limit", limit.limit.to_string());
    header(&mut out, "x-bapi-limit-status", left.to_string());
    header(&mut out, "x-bapi-limit-reset-timestamp", reset.to_string());
    out
}

//! Binance's rate limits: `exchangeInfo.rateLimits` and the usage headers
//! `X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`, … (binance-connector-rust
//! src/common/utils.rs; 418 `RateLimitBanError`, 429 `TooManyRequestsError`). At [`SLOW_AT`]
//! percent of a limit requests wait for the window to turn instead of earning a 429.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::super::rest::{Reply, text};

/// Share of a limit at which requests start waiting for the next window (percent).
pub const SLOW_AT: i64 = 90;

/// Extra wait past the window's turn (percent of the window, at least [`MIN_MARGIN_MS`]): our
/// estimate of the venue clock is off by up to half the sync round trip, and early earns a 429.
const MARGIN_PERCENT: i64 = 10;
const MIN_MARGIN_MS: i64 = 50;

/// One limit: the header reporting its usage, the limit, the window length.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Window {
    header: String,
    limit: i64,
    window_ms: i64,
}

/// The account's limits (Binance's defaults until `exchangeInfo`: 2400/min, 300/10 s, 1200/min).
#[derive(Debug)]
pub struct UsageLimits {
    windows: Mutex<Vec<Window>>,
    /// The fullest usage the last answer reported: header, used, limit.
    last: Mutex<Option<(String, i64, i64)>>,
}

impl Default for UsageLimits {
    fn default() -> Self {
        let w = |header: &str, limit, window_ms| Window {
            header: header.to_owned(),
            limit,
            window_ms,
        };
        Self {
            windows: Mutex::new(vec![
                w("x-mbx-used-weight-1m", 2400, 60_000),
                w("x-mbx-order-count-10s", 300, 10_000),
                w("x-mbx-order-count-1m", 1200, 60_000),
            ]),
            last: Mutex::new(None),
        }
    }
}

impl UsageLimits {
    /// Takes the limits `exchangeInfo.rateLimits` lists (none: unchanged).
    pub fn read(&self, info: &Value) {
        let read: Vec<Window> = info
            .get("rateLimits")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(window)
            .collect();
        if !read.is_empty() {
            *self.windows.lock().unwrap_or_else(|e| e.into_inner()) = read;
        }
    }

    /// The wait for `reply`'s usage at venue time `server_ms`: near a limit, until it turns.
    pub fn pace(&self, reply: &Reply, server_ms: i64) -> Option<Duration> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let fullest = windows
            .iter()
            .filter_map(|w| Some((w.header.clone(), reply.header_num(&w.header)?, w.limit)))
            .max_by_key(|(_, used, limit)| used * 1000 / limit.max(&1));
        if fullest.is_some() {
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = fullest;
        }
        windows
            .iter()
            .filter_map(|w| {
                let used = reply.header_num(&w.header)?;
                (used * 100 >= w.limit * SLOW_AT).then(|| {
                    let left = w.window_ms - server_ms.rem_euclid(w.window_ms);
                    let margin = (w.window_ms * MARGIN_PERCENT / 100).max(MIN_MARGIN_MS);
                    Duration::from_millis((left + margin).unsigned_abs())
                })
            })
            .max()
    }

    /// The fullest usage the last answer reported: header, used, limit.
    pub fn last(&self) -> Option<(String, i64, i64)> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One `rateLimits` entry as a window; `None` for kinds the adapter does not track.
fn window(l: &Value) -> Option<Window> {
    let limit = l.get("limit").and_then(Value::as_i64).filter(|l| *l > 0)?;
    let n = l
        .get("intervalNum")
        .and_then(Value::as_i64)
        .filter(|n| *n > 0)?;
    let (letter, unit_ms) = match text(l, "interval")?.as_str() {
        "SECOND" => ('s', 1_000),
        "MINUTE" => ('m', 60_000),
        "HOUR" => ('h', 3_600_000),
        "DAY" => ('d', 86_400_000),
        _ => return None,
    };
    let prefix = match text(l, "rateLimitType")?.as_str() {
        "REQUEST_WEIGHT" => "x-mbx-used-weight",
        "ORDERS" => "x-mbx-order-count",
        _ => return None,
    };
    Some(Window {
        header: format!("{prefix}-{n}{letter}"),
        limit,
        window_ms: n * unit_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(headers: &[(&'static str, &str)]) -> Reply {
        let mut h = http::HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, v.parse().unwrap());
        }
        Reply {
            status: 200,
            body: bytes::Bytes::new(),
            headers: h,
        }
    }

    #[test]
    fn usage_near_a_limit_waits_for_its_window() {
        let l = UsageLimits::default();
        assert_eq!(
            l.pace(&reply(&[("x-mbx-order-count-10s", "290")]), 123_000),
            Some(Duration::from_millis(7_000 + 1_000))
        );
        l.read(&json!({"rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 2, "limit": 10}
        ]}));
        assert_eq!(
            l.pace(&reply(&[("x-mbx-used-weight-1m", "89")]), 120_000),
            None
        );
        assert_eq!(
            l.pace(&reply(&[("x-mbx-used-weight-1m", "90")]), 125_000),
            Some(Duration::from_millis(55_000 + 6_000))
        );
        assert_eq!(
            l.pace(&reply(&[("x-mbx-order-count-2s", "9")]), 123_500),
            Some(Duration::from_millis(500 + 200))
        );
        assert_eq!(l.pace(&reply(&[]), 0), None);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_after_a_nearly_used_window_are_held_until_it_turns() {
        use crate::exchange::throttle::Throttle;
        use tokio::time::Instant;

        let l = UsageLimits::default();
        l.read(&json!({"rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 1, "limit": 20}
        ]}));
        let t = Throttle::new("binance");
        // 17 of 20 (85 %): nothing is held.
        assert_eq!(
            l.pace(&reply(&[("x-mbx-used-weight-1s", "17")]), 1_796_000_000_400),
            None
        );
        // 18 of 20 at .400 on the venue's clock: held past the turn in 600 ms, plus 100 ms.
        let wait = l.pace(&reply(&[("x-mbx-used-weight-1s", "18")]), 1_796_000_000_400);
        assert_eq!(wait, Some(Duration::from_millis(700)));
        t.slow_for(wait.unwrap());
        let start = Instant::now();
        assert_eq!(t.admit().await, Ok(()));
        assert_eq!(start.elapsed(), Duration::from_millis(700));
        assert_eq!(t.admit().await, Ok(()));
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(700),
            "the next goes at once"
        );
    }
}

//! Binance's rate limits as the adapter reads them: the limits from `exchangeInfo.rateLimits`
//! (`REQUEST_WEIGHT` per minute, `ORDERS` per 10 seconds and per minute) and the usage every
//! answer reports in `X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`, `X-MBX-ORDER-COUNT-1M`
//! (binance-connector-rust src/common/utils.rs reads these `x-mbx-used-weight-*` /
//! `x-mbx-order-count-*` headers and `retry-after`; 418 is its `RateLimitBanError`, 429
//! `TooManyRequestsError`). When usage reaches [`SLOW_AT`] of a limit, requests wait for the
//! window to turn instead of earning a 429.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::super::rest::{Reply, text};

/// Share of a limit at which requests start waiting for the next window (percent).
pub const SLOW_AT: i64 = 90;

/// The account's limits (Binance's published defaults until `exchangeInfo` is read).
#[derive(Debug)]
pub struct UsageLimits {
    weight_1m: AtomicI64,
    orders_10s: AtomicI64,
    orders_1m: AtomicI64,
}

impl Default for UsageLimits {
    fn default() -> Self {
        Self {
            weight_1m: AtomicI64::new(2400),
            orders_10s: AtomicI64::new(300),
            orders_1m: AtomicI64::new(1200),
        }
    }
}

impl UsageLimits {
    /// Takes the limits `exchangeInfo` lists in `rateLimits`.
    pub fn read(&self, info: &Value) {
        for l in info
            .get("rateLimits")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(limit) = l.get("limit").and_then(Value::as_i64).filter(|l| *l > 0) else {
                continue;
            };
            let kind = text(l, "rateLimitType");
            let interval = text(l, "interval");
            let n = l.get("intervalNum").and_then(Value::as_i64);
            let slot = match (kind.as_deref(), interval.as_deref(), n) {
                (Some("REQUEST_WEIGHT"), Some("MINUTE"), Some(1)) => &self.weight_1m,
                (Some("ORDERS"), Some("SECOND"), Some(10)) => &self.orders_10s,
                (Some("ORDERS"), Some("MINUTE"), Some(1)) => &self.orders_1m,
                _ => continue,
            };
            slot.store(limit, Ordering::Relaxed);
        }
    }

    /// How long requests should wait given the usage `reply` reports at `server_ms` (the
    /// exchange's clock): until the fullest window near its limit turns; `None` when every
    /// usage is below [`SLOW_AT`].
    pub fn pace(&self, reply: &Reply, server_ms: i64) -> Option<Duration> {
        let windows = [
            ("x-mbx-used-weight-1m", &self.weight_1m, 60_000),
            ("x-mbx-order-count-10s", &self.orders_10s, 10_000),
            ("x-mbx-order-count-1m", &self.orders_1m, 60_000),
        ];
        windows
            .into_iter()
            .filter_map(|(header, limit, window_ms)| {
                let used = reply.header_num(header)?;
                let limit = limit.load(Ordering::Relaxed);
                (used * 100 >= limit * SLOW_AT).then(|| {
                    let left = window_ms - server_ms.rem_euclid(window_ms);
                    Duration::from_millis(left.unsigned_abs())
                })
            })
            .max()
    }
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
        l.read(&json!({"rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 100}
        ]}));
        assert_eq!(l.pace(&reply(&[("x-mbx-used-weight-1m", "89")]), 120_000), None);
        assert_eq!(
            l.pace(&reply(&[("x-mbx-used-weight-1m", "90")]), 125_000),
            Some(Duration::from_millis(55_000))
        );
        assert_eq!(
            l.pace(&reply(&[("x-mbx-order-count-10s", "290")]), 123_000),
            Some(Duration::from_millis(7_000))
        );
        assert_eq!(l.pace(&reply(&[]), 0), None);
    }
}

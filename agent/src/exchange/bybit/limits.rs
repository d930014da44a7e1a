//! Bybit's rate limits (docs/v5/rate-limit/rate-limit.mdx): `retCode 10006` per UID and
//! endpoint; `X-Bapi-Limit`, `X-Bapi-Limit-Status`, `X-Bapi-Limit-Reset-Timestamp` on every
//! answer; `403` for an IP over its limit ("wait for at least 10 minutes"); 429 likewise.

use std::time::Duration;

use super::super::ExchangeError;
use super::super::rest::Reply;
use super::super::throttle::retry_after;
use super::{BybitLinear, NAME};

/// Too many visits.
const TOO_MANY_VISITS: i64 = 10006;
/// Wait when a limit gives no usable reset time: the limits are per rolling second.
const ONE_WINDOW: Duration = Duration::from_secs(1);

impl BybitLinear {
    /// The throttling error of a rate-limited answer, or `None`; paces when none are left.
    pub(super) fn rate_limited(
        &self,
        reply: &Reply,
        code: Option<i64>,
        msg: &str,
    ) -> Option<ExchangeError> {
        let reset_in = self.reset_in(reply);
        if let (Some(left), Some(limit)) = (
            reply.header_num("x-bapi-limit-status"),
            reply.header_num("x-bapi-limit"),
        ) {
            *self.last_limit.lock().unwrap_or_else(|e| e.into_inner()) = Some((left, limit));
        }
        if reply.status == 403 {
            let reason = format!("{NAME} HTTP 403 (IP ban, access too frequent): {msg}");
            return Some(self.throttle.cool_down(self.ban_cooldown, reason));
        }
        if reply.status == 429 || code == Some(TOO_MANY_VISITS) {
            let wait = reset_in.unwrap_or(retry_after(reply.header_num("retry-after"), ONE_WINDOW));
            let reason = format!("{NAME} HTTP {} {}: {msg}", reply.status, code.unwrap_or(0));
            return Some(self.throttle.cool_down(wait, reason));
        }
        if let Some(wait) = pace_after(reply.header_num("x-bapi-limit-status"), reset_in) {
            self.throttle.slow_for(wait);
        }
        None
    }

    /// Time until `X-Bapi-Limit-Reset-Timestamp` by the exchange's clock, when in the future.
    fn reset_in(&self, reply: &Reply) -> Option<Duration> {
        let reset = reply.header_num("x-bapi-limit-reset-timestamp")?;
        let left = reset - self.clock.now_ms();
        (left > 0).then(|| Duration::from_millis(left.unsigned_abs()).min(Duration::from_secs(60)))
    }
}

/// How long requests wait after an answer that left `left`: not at all while some are left,
/// else until the reset and at least [`ONE_WINDOW`] (below its limit the reset timestamp is
/// "just the current timestamp", which a clock a few ms behind reads as a reset ahead).
fn pace_after(left: Option<i64>, reset_in: Option<Duration>) -> Option<Duration> {
    (left == Some(0)).then(|| reset_in.map_or(ONE_WINDOW, |r| r.max(ONE_WINDOW)))
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;
    use crate::exchange::throttle::Throttle;

    #[test]
    fn no_request_left_holds_requests_a_whole_window_at_least() {
        assert_eq!(pace_after(Some(1), None), None);
        assert_eq!(pace_after(None, Some(Duration::from_secs(5))), None);
        assert_eq!(pace_after(Some(0), None), Some(ONE_WINDOW));
        // "Now" on a venue clock 3 ms ahead of our estimate of it.
        assert_eq!(
            pace_after(Some(0), Some(Duration::from_millis(3))),
            Some(ONE_WINDOW)
        );
        assert_eq!(
            pace_after(Some(0), Some(Duration::from_millis(2_500))),
            Some(Duration::from_millis(2_500))
        );
    }

    /// An answer with Bybit's limit headers: `left` of 10 requests, reset at `reset_ms`.
    fn reply(left: i64, reset_ms: i64) -> Reply {
        let mut headers = http::HeaderMap::new();
        for (name, v) in [
            ("x-bapi-limit-status", left),
            ("x-bapi-limit", 10),
            ("x-bapi-limit-reset-timestamp", reset_ms),
        ] {
            headers.insert(name, v.to_string().parse().unwrap());
        }
        Reply {
            status: 200,
            body: r#"{"retCode":0,"retMsg":"OK","result":{}}"#.into(),
            headers,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_with_none_left_and_a_reset_ms_ahead_holds_the_next_request_a_second() {
        let creds = crate::config::Credentials {
            api_key: crate::config::Secret::new("k"),
            api_secret: crate::config::Secret::new("s"),
        };
        let bybit = BybitLinear::new(&crate::config::LiveConfig::bybit(), creds).unwrap();
        // The venue's "now" read a few ms ahead of our estimate of its clock.
        let answer = reply(0, bybit.clock.now_ms() + 3);
        assert!(bybit.rate_limited(&answer, Some(0), "OK").is_none());
        let start = Instant::now();
        assert_eq!(bybit.throttle.admit().await, Ok(()));
        assert_eq!(start.elapsed(), ONE_WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn the_request_after_the_last_one_left_waits_for_the_next_second() {
        let t = Throttle::new(NAME);
        t.slow_for(pace_after(Some(0), Some(Duration::from_millis(3))).unwrap());
        let start = Instant::now();
        assert_eq!(t.admit().await, Ok(()));
        assert_eq!(start.elapsed(), ONE_WINDOW);
    }
}

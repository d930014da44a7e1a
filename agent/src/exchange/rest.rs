//! The HTTP side of the live adapters: pooled hyper client over rustls, timeouts, the venue's
//! clock, and what a transport failure means (docs/design.md §3): no connection → nothing sent,
//! [`ExchangeError::Unavailable`]; written but no complete answer → [`ExchangeError::Unknown`]
//! on an order (looked up, never re-sent), `Unavailable` on a read. Nothing that may have been
//! written is retried (hyper retries only a pooled connection closed before the send).

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::ExchangeError;
use crate::exchange::Result;

/// Whether a call can change anything at the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Market data, positions, lookups: safe to repeat.
    Read,
    /// Places or changes an order (entry, stop, close): a lost answer is an unknown outcome.
    Order,
}

impl Call {
    /// The error for an unknown outcome: `Unknown` for an order, `Unavailable` for a read.
    pub fn unknown_outcome(self, detail: String) -> ExchangeError {
        match self {
            Call::Order => ExchangeError::Unknown(detail),
            Call::Read => ExchangeError::Unavailable(detail),
        }
    }
}

/// A failed live call: a refusal with the venue's code, or any other failure, classified.
#[derive(Debug)]
pub enum Failure {
    /// The exchange answered and refused: nothing happened.
    Refused {
        /// The adapter's name, for the message.
        exchange: &'static str,
        /// The exchange's error code (or the HTTP status when it gave none).
        code: i64,
        /// The exchange's message.
        msg: String,
    },
    /// A transport or server failure.
    Other(ExchangeError),
}

/// The adapter error: a refusal becomes `Rejected` naming the exchange and its code.
impl From<Failure> for ExchangeError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Refused {
                exchange,
                code,
                msg,
            } => ExchangeError::Rejected(format!("{exchange} {code}: {msg}")),
            Failure::Other(e) => e,
        }
    }
}

/// `Ok(None)` for a refusal with `code` (an expected answer), else the answer or the error.
pub fn unless_refused<T>(r: Result<T, Failure>, code: i64) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Failure::Refused { code: c, .. }) if c == code => Ok(None),
        Err(f) => Err(f.into()),
    }
}

impl From<ExchangeError> for Failure {
    fn from(e: ExchangeError) -> Self {
        Failure::Other(e)
    }
}

/// A complete HTTP answer.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Raw body.
    pub body: Bytes,
    /// Response headers (rate-limit usage, `Retry-After`).
    pub headers: http::HeaderMap,
}

impl Reply {
    /// A header as text, `None` when absent or not text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A header as a number, `None` when absent or malformed.
    pub fn header_num(&self, name: &str) -> Option<i64> {
        self.header(name).and_then(|v| v.trim().parse().ok())
    }
}

/// A call that got no complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// The connection could not be opened: nothing was sent.
    Connect(String),
    /// The call ran out of time; the request may have been sent.
    Timeout,
    /// The connection broke after the request may have been sent.
    Lost(String),
}

impl Transport {
    /// The adapter error for a `call` that failed this way (module docs).
    pub fn classify(&self, exchange: &str, call: Call) -> ExchangeError {
        match self {
            Transport::Connect(e) => {
                ExchangeError::Unavailable(format!("{exchange} unreachable: {e}"))
            }
            Transport::Timeout => {
                call.unknown_outcome(format!("{exchange}: no answer before the timeout"))
            }
            Transport::Lost(e) => call.unknown_outcome(format!("{exchange}: connection lost: {e}")),
        }
    }
}

/// An HTTP client bound to one exchange's base URL.
#[derive(Clone)]
pub struct RestClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base_url: String,
    timeout: Duration,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RestClient {
    /// A client for `base_url` (`https://…`, or `http://…` for a local test exchange).
    pub fn new(
        base_url: &str,
        request_timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Self, String> {
        let mut http = HttpConnector::new();
        http.enforce_http(false); // the TLS layer above handles https
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("TLS setup: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(50))
            .build(https);
        let base_url = base_url.trim_end_matches('/').to_owned();
        base_url
            .parse::<http::Uri>()
            .map_err(|e| format!("{base_url:?}: {e}"))?;
        Ok(Self {
            client,
            base_url,
            timeout: request_timeout,
        })
    }

    /// Sends one request: `path_and_query` is appended to the base URL.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&'static str, &str)],
        body: Option<(&'static str, String)>,
    ) -> Result<Reply, Transport> {
        let uri = format!("{}{}", self.base_url, path_and_query);
        let mut req = Request::builder().method(method).uri(&uri);
        for (name, value) in headers {
            let value = HeaderValue::from_str(value)
                .map_err(|_| Transport::Connect(format!("header {name} is not valid")))?;
            req = req.header(HeaderName::from_static(name), value);
        }
        let payload = match body {
            Some((content_type, text)) => {
                req = req.header(http::header::CONTENT_TYPE, content_type);
                Bytes::from(text)
            }
            None => Bytes::new(),
        };
        // Building fails only on a malformed URI or header: nothing was sent.
        let req = req
            .body(Full::new(payload))
            .map_err(|e| Transport::Connect(format!("request: {e}")))?;
        let call = async {
            let resp = self.client.request(req).await.map_err(|e| {
                if e.is_connect() {
                    Transport::Connect(error_chain(&e))
                } else {
                    Transport::Lost(error_chain(&e))
                }
            })?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| Transport::Lost(error_chain(&e)))?
                .to_bytes();
            Ok(Reply {
                status,
                body,
                headers,
            })
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(Transport::Timeout))
    }
}

/// `e: cause: cause…` on one line (hyper's top-level messages alone say little).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Milliseconds since the Unix epoch by the local clock.
pub fn local_now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The venue's clock offset from ours, so signed timestamps stay in its window.
#[derive(Debug, Default)]
pub struct ServerClock {
    offset_ms: AtomicI64,
    synced_at: Mutex<Option<Instant>>,
    /// One sync at a time: concurrent validations share it.
    syncing: tokio::sync::Mutex<()>,
}

impl ServerClock {
    /// Syncs with `fetch` when older than `max_age`; a failed sync keeps the old offset.
    pub async fn sync_if_stale<F, Fut>(&self, max_age: Duration, fetch: F)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<i64>>,
    {
        if !self.stale(max_age) {
            return;
        }
        let _one = self.syncing.lock().await;
        if !self.stale(max_age) {
            return; // another caller synced while this one waited
        }
        let sent = local_now_ms();
        match fetch().await {
            Ok(server) => self.record(server, sent, local_now_ms()),
            Err(e) => {
                tracing::warn!(error = %e, "exchange clock sync failed; keeping the last offset")
            }
        }
    }

    /// Now by the exchange's clock (as last synced).
    pub fn now_ms(&self) -> i64 {
        local_now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// True when never synced or synced longer than `max_age` ago.
    pub fn stale(&self, max_age: Duration) -> bool {
        let at = self.synced_at.lock().unwrap_or_else(|e| e.into_inner());
        at.is_none_or(|t| t.elapsed() >= max_age)
    }

    /// Forces a sync before the next signed request (after a timestamp refusal).
    pub fn invalidate(&self) {
        *self.synced_at.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Records a server time read between `sent_ms` and `received_ms`, taken at the midpoint.
    pub fn record(&self, server_ms: i64, sent_ms: i64, received_ms: i64) {
        let mid = sent_ms + (received_ms - sent_ms) / 2;
        self.offset_ms.store(server_ms - mid, Ordering::Relaxed);
        *self.synced_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }
}

/// A JSON field as text, whether the exchange sent it as a string or a number.
pub fn text(v: &serde_json::Value, key: &str) -> Option<String> {
    match v.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A JSON field as an exact decimal (venues send strings); `None` when absent or malformed.
pub fn number(v: &serde_json::Value, key: &str) -> Option<super::money::Decimal> {
    text(v, key).and_then(|t| super::money::parse(&t))
}

/// `v` read as `T`, the venue's model of that answer; `Unavailable` naming `what` when it is not.
pub fn typed<T: serde::de::DeserializeOwned>(
    exchange: &str,
    what: &str,
    v: serde_json::Value,
) -> Result<T> {
    serde_json::from_value(v)
        .map_err(|e| ExchangeError::Unavailable(format!("{exchange}: unreadable {what}: {e}")))
}

/// The distinct `symbol`s of position rows, sorted.
pub fn symbols(rows: &[serde_json::Value]) -> Vec<String> {
    let set: std::collections::BTreeSet<String> =
        rows.iter().filter_map(|r| text(r, "symbol")).collect();
    set.into_iter().collect()
}

/// `k=v&k=v`, form-encoded, in the given order (the order is part of what gets signed).
pub fn query_string(params: &[(&str, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connect_failure_is_unavailable_even_for_orders() {
        // A port nobody listens on: bind, note the port, close.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = RestClient::new(
            &format!("http://127.0.0.1:{port}"),
            Duration::from_secs(60),
            Duration::from_secs(60),
        )
        .unwrap();
        let e = c.send(Method::POST, "/x", &[], None).await.unwrap_err();
        assert!(matches!(e, Transport::Connect(_)), "{e:?}");
        assert!(matches!(
            e.classify("binance", Call::Order),
            ExchangeError::Unavailable(_)
        ));
        assert!(matches!(
            Transport::Timeout.classify("binance", Call::Order),
            ExchangeError::Unknown(_)
        ));
        assert!(matches!(
            Transport::Lost("eof".into()).classify("bybit", Call::Read),
            ExchangeError::Unavailable(_)
        ));
    }

    #[test]
    fn clock_offset_from_round_trip_midpoint() {
        let c = ServerClock::default();
        assert!(c.stale(Duration::from_secs(1)));
        c.record(10_500, 1_000, 1_200);
        assert!(!c.stale(Duration::from_secs(60)));
        let skew = c.now_ms() - local_now_ms();
        assert!((9_399..=9_401).contains(&skew), "{skew}");
        c.invalidate();
        assert!(c.stale(Duration::from_secs(60)));
    }

    #[test]
    fn query_strings_keep_order_and_encode() {
        let q = query_string(&[("symbol", "BTCUSDT".into()), ("a b", "c&d".into())]);
        assert_eq!(q, "symbol=BTCUSDT&a+b=c%26d");
    }
}

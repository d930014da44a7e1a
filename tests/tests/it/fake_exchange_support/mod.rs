//! A minimal HTTP/1 client for the fake exchange tests: real sockets, raw control over query
//! strings, bodies and headers (so tests can sign exactly as the docs say, or deliberately wrong),
//! and a distinction between "answered", "connection closed without an answer" and "timed out".

#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Failure guard for requests that should answer.
pub const GUARD: Duration = Duration::from_secs(60);

/// What came back.
#[derive(Debug)]
pub enum Sent {
    /// An HTTP answer.
    Reply {
        /// HTTP status.
        status: u16,
        /// JSON body (`Null` when not JSON).
        json: serde_json::Value,
    },
    /// The server closed the connection without answering.
    Closed,
    /// No answer within the client's timeout.
    TimedOut,
}

impl Sent {
    /// The status and JSON of an answer; panics (test failure) otherwise.
    pub fn reply(self) -> (u16, serde_json::Value) {
        match self {
            Sent::Reply { status, json } => (status, json),
            other => panic!("expected an HTTP answer, got {other:?}"),
        }
    }
}

/// Sends one request on a fresh connection.
pub async fn send(
    base_url: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, String)],
    body: &str,
    timeout: Duration,
) -> Sent {
    let addr = base_url.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).await.expect("connect to fake");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = http::Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("host", addr);
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    match tokio::time::timeout(timeout, sender.send_request(req)).await {
        Err(_) => Sent::TimedOut,
        Ok(Err(_)) => Sent::Closed,
        Ok(Ok(resp)) => {
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.expect("body").to_bytes();
            let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            Sent::Reply { status, json }
        }
    }
}

/// Wall-clock ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

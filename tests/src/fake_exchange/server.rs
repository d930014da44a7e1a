//! The HTTP side of a fake exchange: a hyper server on `127.0.0.1:0` that hands every request to
//! a protocol (Binance or Bybit), adds the scripted latency, logs it, and applies faults — answer
//! 500, answer late, or close the TCP connection with no answer at all. The test keeps a
//! [`FakeServer`] handle to read what happened; dropping it stops the server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use super::state::{Counters, OrderRecord, Position, RequestRecord, Shared, StopRecord};
use super::world::{Fault, FaultKind};

/// An HTTP response as the fake builds it.
pub type Resp = Response<Full<Bytes>>;

/// A request, fully read.
#[derive(Debug)]
pub struct Req {
    /// Method.
    pub method: Method,
    /// Path without query.
    pub path: String,
    /// Raw query string, as sent (empty when none).
    pub query: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Raw body.
    pub body: Bytes,
}

/// What a protocol handler decided.
#[derive(Debug)]
pub struct Outcome {
    /// The answer the client should get (boxed: it travels in `Err` variants).
    pub response: Box<Resp>,
    /// Exchange code for the log: `0` success, else the error code.
    pub code: i64,
    /// A fault that replaces or hides the answer (the order is already filled).
    pub fault: Option<FaultKind>,
    /// The fault hides a stop's answer, not an order's (the order log is left alone).
    pub stop_fault: bool,
}

impl Outcome {
    /// A plain answer with no fault.
    pub fn new(response: Resp, code: i64) -> Self {
        Outcome {
            response: Box::new(response),
            code,
            fault: None,
            stop_fault: false,
        }
    }
}

/// One exchange's REST protocol.
pub trait Protocol: Send + Sync + 'static {
    /// Handles a request against the shared state (no I/O; the server adds timing and faults).
    fn handle(&self, shared: &Shared, req: &Req) -> Outcome;
    /// The exchange's answer for an internal error after the order was accepted.
    fn server_error(&self) -> Resp;
}

/// Builds a JSON response.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// A running fake exchange. Dropping it stops the server and closes its connections.
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FakeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeServer {
    /// Binds `127.0.0.1:0` and serves `protocol` over `shared` until dropped.
    pub(crate) async fn start<P: Protocol>(
        protocol: P,
        shared: Shared,
    ) -> std::io::Result<FakeServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(shared);
        let protocol = Arc::new(protocol);
        let task = tokio::spawn(accept_loop(listener, protocol, shared.clone()));
        Ok(FakeServer { addr, shared, task })
    }

    /// `http://127.0.0.1:<port>` — the REST base URL to give the client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every order the exchange filled, oldest first (including those whose answer a fault hid).
    pub fn orders(&self) -> Vec<OrderRecord> {
        self.shared.lock().orders.clone()
    }

    /// Filled orders carrying `client_order_id`.
    pub fn orders_with_client_id(&self, client_order_id: &str) -> Vec<OrderRecord> {
        self.shared
            .lock()
            .orders
            .iter()
            .filter(|o| o.client_order_id == client_order_id)
            .cloned()
            .collect()
    }

    /// How many times an order with `client_order_id` was sent (including refused duplicates).
    pub fn place_attempts(&self, client_order_id: &str) -> usize {
        self.shared
            .lock()
            .place_attempts
            .get(client_order_id)
            .copied()
            .unwrap_or(0)
    }

    /// Open positions by symbol order.
    pub fn positions(&self) -> Vec<Position> {
        self.shared.lock().positions.values().cloned().collect()
    }

    /// Protective stops, oldest first (cancelled ones have `active == false`).
    pub fn stops(&self) -> Vec<StopRecord> {
        self.shared.lock().stops.clone()
    }

    /// Leverage and margin settings, brackets, trailing stops.
    pub fn margin(&self) -> super::margin::Margin {
        self.shared.lock().margin.clone()
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.clone()
    }

    /// Answers refused by the rate budget: `(throttled, banned)` — Binance 429 and 418,
    /// Bybit 10006 and 403.
    pub fn rate_limited(&self) -> (usize, usize) {
        let st = self.shared.lock();
        (st.budget.throttled, st.budget.banned)
    }

    /// The tallies.
    pub fn counters(&self) -> Counters {
        self.shared.lock().counters.clone()
    }

    /// Moves the price of `symbol` (market orders fill at the new price). Returns false when the
    /// symbol is not listed. Panics on a malformed literal (test fixtures only).
    pub fn set_price(&self, symbol: &str, price: &str) -> bool {
        let p = price
            .parse()
            .unwrap_or_else(|e| panic!("test fixture {price:?} is not a decimal: {e}"));
        match self.shared.lock().instruments.get_mut(symbol) {
            Some(i) => {
                i.price = p;
                true
            }
            None => false,
        }
    }

    /// Removes every trailing stop of `symbol` as if its request had never arrived (what a
    /// client killed before the request left leaves behind). Returns how many were removed.
    pub fn forget_trailing(&self, symbol: &str) -> usize {
        let mut st = self.shared.lock();
        let before = st.margin.trailing.len();
        st.margin.trailing.retain(|t| t.symbol != symbol);
        let removed = before - st.margin.trailing.len();
        st.stops
            .retain(|s| !(s.symbol == symbol && s.order_type == "TRAILING_STOP_MARKET"));
        removed
    }

    /// Adds a fault while the server runs.
    pub fn add_fault(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// Starts or stops refusing opening orders for `symbol`.
    pub fn set_reject_entry(&self, symbol: &str, reject: bool) {
        let mut st = self.shared.lock();
        if reject {
            st.reject_entry.insert(symbol.to_owned());
        } else {
            st.reject_entry.remove(symbol);
        }
    }

    /// Starts or stops refusing stops for `symbol`.
    pub fn set_reject_stop(&self, symbol: &str, reject: bool) {
        let mut st = self.shared.lock();
        if reject {
            st.reject_stop.insert(symbol.to_owned());
        } else {
            st.reject_stop.remove(symbol);
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection task.
        self.task.abort();
    }
}

async fn accept_loop<P: Protocol>(listener: TcpListener, protocol: Arc<P>, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                conns.spawn(serve_conn(stream, protocol.clone(), shared.clone()));
            }
            // Reap finished connections so the set does not grow without bound.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_conn<P: Protocol>(
    stream: tokio::net::TcpStream,
    protocol: Arc<P>,
    shared: Arc<Shared>,
) {
    let kill = Arc::new(Notify::new());
    let svc_kill = kill.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let protocol = protocol.clone();
        let shared = shared.clone();
        let kill = svc_kill.clone();
        async move { Ok::<_, Infallible>(serve_request(req, &*protocol, &shared, &kill).await) }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        _ = conn => {}
        // A DropConnection fault: returning drops the connection future and closes the socket
        // without writing a response.
        _ = kill.notified() => {}
    }
}

/// One request the server is handling ([`RequestRecord::in_flight`]); dropped, it is not.
struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
    }
}

async fn serve_request<P: Protocol>(
    req: Request<Incoming>,
    protocol: &P,
    shared: &Shared,
    kill: &Notify,
) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let req = Req {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body,
    };
    let (latency, in_flight) = {
        let mut st = shared.lock();
        st.in_flight += 1;
        (st.latency, st.in_flight - 1)
    };
    // Counted until handled, or until the client hangs up during the latency and hyper drops
    // this future: else every later request would read one more in flight than there is.
    let counted = InFlight(shared);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let outcome = protocol.handle(shared, &req);
    drop(counted);
    {
        let mut st = shared.lock();
        st.counters.requests += 1;
        st.requests.push(RequestRecord {
            method: req.method.to_string(),
            path: req.path.clone(),
            query: req.query.clone(),
            body: String::from_utf8_lossy(&req.body).into_owned(),
            status: outcome.response.status().as_u16(),
            code: outcome.code,
            in_flight,
        });
        if let Some(kind) = &outcome.fault
            && !outcome.stop_fault
        {
            st.mark_last_order_fault(kind);
        }
    }
    match outcome.fault {
        None => *outcome.response,
        Some(FaultKind::ServerError) => protocol.server_error(),
        Some(FaultKind::Delay(d)) => {
            tokio::time::sleep(d).await;
            *outcome.response
        }
        Some(FaultKind::DropConnection) => {
            kill.notify_one();
            std::future::pending::<Resp>().await
        }
    }
}

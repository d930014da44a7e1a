//! A fake of the reference bot's signal server for the bridge's end-to-end tests: a websocket
//! server on loopback that speaks the server's protocol and can be scripted to refuse the
//! token, drop connections mid-stream, push repeats, send malformed or oversize messages, or
//! fall silent.
//!
//! The protocol facts modelled here are those of the reference bot and its public signal
//! server, as recorded in issue 10 ("Facts about the feed"):
//! - handshake: the server sends `{"type":"auth_required"}`, the client `{"type":"auth",
//!   "token":T}`, the server `{"type":"auth_success","query_interval":S,"signal_window":M}` or
//!   `{"type":"auth_failed"}`;
//! - requests `{"type":"get_signals"}`, `{"type":"get_stats"}`, `{"type":"ping"}` (answered
//!   `{"type":"pong"}`);
//! - `{"type":"signals","timestamp":<naive local ISO time>,"count":N,"data":[record,…]}` pushed
//!   every `query_interval` and in answer to `get_signals`, each push carrying EVERY signal of
//!   the server's window (so the same signal arrives many times);
//! - the 15-field record ([`record`]): `timestamp` is the open time of the signal's candle,
//!   `created_at` when it was computed, with microseconds and `+00:00`.
//!
//! [`SignalServer::start_tls`] serves the same over TLS (`wss://`) with a test certificate.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// The server's signal window in minutes, as announced in `auth_success`.
const SIGNAL_WINDOW_MINUTES: u32 = 60;

/// What the script tells live connections to do.
#[derive(Debug, Clone)]
enum Control {
    /// Close every connection at once, without a close frame (a dropped TCP connection).
    Drop,
    /// Send this text frame as is.
    Raw(String),
}

#[derive(Debug, Default)]
struct State {
    token: String,
    refuse_auth: bool,
    silent: bool,
    window: Vec<Value>,
    connections: u32,
    authenticated: u32,
    auth_failures: u32,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    control: broadcast::Sender<Control>,
    query_interval: Duration,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A test thread that panicked while holding the lock must not hide the real failure.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn envelope(&self) -> String {
        let data = self.state().window.clone();
        // The server writes its local time without an offset.
        let timestamp = chrono::Local::now()
            .naive_local()
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string();
        json!({"type": "signals", "timestamp": timestamp, "count": data.len(), "data": data})
            .to_string()
    }
}

/// The running fake; stops when dropped.
#[derive(Debug)]
pub struct SignalServer {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl SignalServer {
    /// Listens on a free loopback port; accepts `token`; pushes the window every
    /// `query_interval`.
    pub async fn start(token: &str, query_interval: Duration) -> std::io::Result<Self> {
        Self::bind(token, query_interval, None).await
    }

    /// Like [`SignalServer::start`], over TLS with the certificate and key in PEM files
    /// (e.g. from `wavegate_tests::tls::TestCa::issue`).
    pub async fn start_tls(
        token: &str,
        query_interval: Duration,
        cert: &Path,
        key: &Path,
    ) -> std::io::Result<Self> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let bad = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
        let certs = CertificateDer::pem_file_iter(cert)
            .map_err(|e| bad(&e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(&e))?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(&e))?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(&e))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Self::bind(token, query_interval, Some(acceptor)).await
    }

    async fn bind(
        token: &str,
        query_interval: Duration,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                token: token.to_owned(),
                ..State::default()
            }),
            control: broadcast::channel(64).0,
            query_interval,
        });
        let s = shared.clone();
        let is_tls = tls.is_some();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let s = s.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    // A connection's end is the client's or the script's business.
                    let _ = match tls {
                        None => serve(tcp, s).await,
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(stream) => serve(stream, s).await,
                            Err(_) => Ok(()),
                        },
                    };
                });
            }
        });
        Ok(Self {
            addr,
            tls: is_tls,
            shared,
            task,
        })
    }

    /// `ws://127.0.0.1:<port>`, or `wss://localhost:<port>` over TLS (the test certificate
    /// names `localhost`).
    pub fn url(&self) -> String {
        if self.tls {
            format!("wss://localhost:{}", self.addr.port())
        } else {
            format!("ws://{}", self.addr)
        }
    }

    /// Replaces the signal window every push carries.
    pub fn set_window(&self, records: Vec<Value>) {
        self.shared.state().window = records;
    }

    /// Answers every `auth` with `auth_failed` while `on`.
    pub fn refuse_auth(&self, on: bool) {
        self.shared.state().refuse_auth = on;
    }

    /// While `on`, authenticated connections get nothing: no pushes, no answers, no pongs.
    pub fn silence(&self, on: bool) {
        self.shared.state().silent = on;
    }

    /// Drops every live connection mid-stream.
    pub fn drop_connections(&self) {
        let _ = self.shared.control.send(Control::Drop);
    }

    /// Sends `text` to every authenticated connection (malformed or oversize messages).
    pub fn send_raw(&self, text: String) {
        let _ = self.shared.control.send(Control::Raw(text));
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u32 {
        self.shared.state().connections
    }

    /// Successful authentications so far.
    pub fn authenticated(&self) -> u32 {
        self.shared.state().authenticated
    }

    /// Refused authentications so far.
    pub fn auth_failures(&self) -> u32 {
        self.shared.state().auth_failures
    }
}

impl Drop for SignalServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = self.shared.control.send(Control::Drop);
    }
}

/// One record in the server's 15-field form.
#[allow(clippy::too_many_arguments)]
pub fn record(
    id: i64,
    symbol: &str,
    exchange_id: u32,
    score_week: f64,
    score_month: f64,
    candle: DateTime<Utc>,
    created_at: DateTime<Utc>,
    max_trades: u32,
) -> Value {
    json!({
        "id": id, "pair_symbol": symbol, "recommended_action": "BUY",
        "score_week": score_week, "score_month": score_month,
        "timestamp": candle.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
        "created_at": created_at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string(),
        "trading_pair_id": 1000 + id, "exchange_id": exchange_id,
        "score_week_filter": 50.0, "score_month_filter": null,
        "max_trades_filter": max_trades, "stop_loss_filter": 4.0,
        "trailing_activation_filter": null, "trailing_distance_filter": null,
    })
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
    text: String,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    ws.send(Message::text(text)).await
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    tcp: S,
    s: Arc<Shared>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let mut control = s.control.subscribe();
    s.state().connections += 1;
    let mut ws = tokio_tungstenite::accept_async(tcp).await?;
    send(&mut ws, json!({"type": "auth_required"}).to_string()).await?;
    // The client's `auth`.
    let auth = loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => break t.to_string(),
            Some(Ok(_)) => continue,
            _ => return Ok(()),
        }
    };
    let v: Value = serde_json::from_str(&auth).unwrap_or_default();
    let ok = {
        let mut st = s.state();
        let ok = v["type"] == "auth" && v["token"] == st.token.as_str() && !st.refuse_auth;
        if ok {
            st.authenticated += 1;
        } else {
            st.auth_failures += 1;
        }
        ok
    };
    if !ok {
        send(&mut ws, json!({"type": "auth_failed"}).to_string()).await?;
        return ws.close(None).await;
    }
    let query_interval = s.query_interval.as_secs_f64();
    send(
        &mut ws,
        json!({"type": "auth_success", "query_interval": query_interval,
               "signal_window": SIGNAL_WINDOW_MINUTES})
        .to_string(),
    )
    .await?;
    let mut push = tokio::time::interval(s.query_interval);
    loop {
        tokio::select! {
            _ = push.tick() => {
                if !s.state().silent {
                    send(&mut ws, s.envelope()).await?;
                }
            }
            c = control.recv() => match c {
                Ok(Control::Drop) | Err(broadcast::error::RecvError::Closed) => return Ok(()),
                Ok(Control::Raw(t)) => send(&mut ws, t).await?,
                Err(broadcast::error::RecvError::Lagged(_)) => {}
            },
            m = ws.next() => {
                let text = match m {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                    Some(Ok(_)) => continue,
                };
                if s.state().silent {
                    continue;
                }
                let v: Value = serde_json::from_str(&text).unwrap_or_default();
                match v["type"].as_str() {
                    Some("get_signals") => send(&mut ws, s.envelope()).await?,
                    Some("ping") => send(&mut ws, json!({"type": "pong"}).to_string()).await?,
                    Some("get_stats") => {
                        let n = s.state().window.len();
                        send(&mut ws, json!({"type": "stats", "signals": n}).to_string()).await?;
                    }
                    _ => {
                        let m = json!({"type": "error", "message": "unknown request"});
                        send(&mut ws, m.to_string()).await?;
                    }
                }
            }
        }
    }
}

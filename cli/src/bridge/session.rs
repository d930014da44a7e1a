//! One signal-server connection: authenticate, ask, read while pinging; give up on silence.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::protocol::{self, BadMessage, ServerMsg};
use super::relay::Relay;
use super::stats::BridgeStats;
use super::{BridgeArgs, Token};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// How long the server may take to ask for and to confirm authentication.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a session ended; its metric label is snake case.
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum SessionEnd {
    /// TCP, TLS or websocket failure (connecting or later).
    #[error("connection: {0}")]
    #[strum(serialize = "connection_error")]
    Connection(String),
    /// The server refused the token.
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// The server broke the protocol during the handshake.
    #[error("protocol: {0}")]
    #[strum(serialize = "protocol_error")]
    Protocol(String),
    /// Nothing came back within the pong timeout.
    #[error("no answer to ping within {0:?}")]
    Silent(Duration),
    /// The server closed the connection.
    #[error("closed by the server")]
    Closed,
}

impl SessionEnd {
    /// Label of `wavegate_bridge_connections_total{outcome}` for a session that ended so.
    pub fn label(&self) -> &'static str {
        self.into()
    }
}

fn ws_error(e: &WsError) -> SessionEnd {
    SessionEnd::Connection(e.to_string())
}

/// The TLS client for wss://: ring, Mozilla's roots and `server_ca`'s certificates.
pub fn tls_connector(server_ca: Option<&std::path::Path>) -> Result<Connector, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = server_ca {
        let shown = path.display();
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("--server-ca {shown}: {e}"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("--server-ca {shown}: {e}"))?;
        if certs.is_empty() {
            return Err(format!("--server-ca {shown}: no CERTIFICATE in the file"));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| format!("--server-ca {shown}: {e}"))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS setup: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Connector::Rustls(Arc::new(config)))
}

/// Receives the next text message within `timeout` (control frames are skipped).
async fn next_text(ws: &mut Ws, timeout: Duration) -> Result<String, SessionEnd> {
    let deadline = Instant::now() + timeout;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| {
                SessionEnd::Protocol(format!("no handshake message within {timeout:?}"))
            })?;
        match msg {
            None | Some(Ok(Message::Close(_))) => return Err(SessionEnd::Closed),
            Some(Err(e)) => return Err(ws_error(&e)),
            Some(Ok(Message::Text(t))) => return Ok(t.to_string()),
            Some(Ok(_)) => {}
        }
    }
}

/// Connects, authenticates and relays until the connection ends (always an error).
pub async fn run(
    args: &BridgeArgs,
    connector: Option<&Connector>,
    token: &Token,
    relay: &mut Relay,
    stats: &BridgeStats,
    on_authenticated: &mut dyn FnMut(),
) -> SessionEnd {
    let config = WebSocketConfig::default()
        .max_message_size(Some(args.max_message_bytes))
        .max_frame_size(Some(args.max_message_bytes));
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        args.url.as_str(),
        Some(config),
        false,
        connector.cloned(),
    );
    let mut ws = match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect).await {
        Err(_) => {
            return SessionEnd::Connection(format!("no connection within {HANDSHAKE_TIMEOUT:?}"));
        }
        Ok(Err(e)) => return ws_error(&e),
        Ok(Ok((ws, _))) => ws,
    };
    if let Err(e) = handshake(&mut ws, token, stats).await {
        return e;
    }
    on_authenticated();
    stats.set_connected(true);
    let end = relay_loop(&mut ws, args, relay, stats).await;
    stats.set_connected(false);
    end
}

async fn handshake(ws: &mut Ws, token: &Token, stats: &BridgeStats) -> Result<(), SessionEnd> {
    match protocol::parse(&next_text(ws, HANDSHAKE_TIMEOUT).await?) {
        Ok(ServerMsg::AuthRequired) => {}
        other => {
            return Err(SessionEnd::Protocol(format!(
                "expected auth_required first, got {other:?}"
            )));
        }
    }
    stats.message();
    ws.send(Message::text(protocol::auth(token.expose())))
        .await
        .map_err(|e| ws_error(&e))?;
    loop {
        let text = next_text(ws, HANDSHAKE_TIMEOUT).await?;
        stats.message();
        match protocol::parse(&text) {
            Ok(ServerMsg::AuthSuccess {
                query_interval,
                signal_window,
            }) => {
                tracing::info!(
                    ?query_interval,
                    ?signal_window,
                    "authenticated to the signal server"
                );
                return Ok(());
            }
            Ok(ServerMsg::AuthFailed) => {
                return Err(SessionEnd::AuthFailed("auth_failed".into()));
            }
            Ok(ServerMsg::Error(m)) => return Err(SessionEnd::AuthFailed(m)),
            // Anything else before the answer (e.g. an early pong) is skipped.
            Ok(_) => {}
            Err(e) => {
                stats.bad_message(e.label());
                tracing::warn!(reason = %e, "bad message from the signal server during the handshake");
            }
        }
    }
}

async fn relay_loop(
    ws: &mut Ws,
    args: &BridgeArgs,
    relay: &mut Relay,
    stats: &BridgeStats,
) -> SessionEnd {
    if let Err(e) = ws.send(Message::text(protocol::GET_SIGNALS)).await {
        return ws_error(&e);
    }
    let ping_every = Duration::from_millis(args.ping_interval_ms);
    let pong_timeout = Duration::from_millis(args.pong_timeout_ms);
    let mut next_ping = Instant::now() + ping_every;
    // Set when a ping is out and nothing has come back since.
    let mut answer_by: Option<Instant> = None;
    loop {
        let wake = answer_by.map_or(next_ping, |a| a.min(next_ping));
        let msg = tokio::select! {
            m = ws.next() => m,
            _ = tokio::time::sleep_until(wake) => {
                let now = Instant::now();
                if answer_by.is_some_and(|a| now >= a) {
                    return SessionEnd::Silent(pong_timeout);
                }
                if now >= next_ping {
                    if let Err(e) = ws.send(Message::text(protocol::PING)).await {
                        return ws_error(&e);
                    }
                    next_ping = now + ping_every;
                    answer_by.get_or_insert(now + pong_timeout);
                }
                continue;
            }
        };
        let text = match msg {
            None | Some(Ok(Message::Close(_))) => return SessionEnd::Closed,
            Some(Err(WsError::Capacity(e))) => {
                // The stream cannot go on after an oversize message: count it, reconnect.
                stats.bad_message(BadMessage::Oversize.label());
                tracing::warn!(reason = %e, "oversize message from the signal server");
                return SessionEnd::Connection(format!("oversize message: {e}"));
            }
            Some(Err(e)) => return ws_error(&e),
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Binary(_))) => {
                stats.bad_message(BadMessage::Binary.label());
                tracing::warn!("binary frame from the signal server ignored");
                continue;
            }
            // Websocket-level ping/pong: tungstenite answers pings itself.
            Some(Ok(_)) => continue,
        };
        // Anything the server says proves it alive.
        answer_by = None;
        stats.message();
        match protocol::parse(&text) {
            Ok(ServerMsg::Signals(records)) => relay.handle(records).await,
            Ok(ServerMsg::Pong) => {}
            Ok(ServerMsg::Error(m)) => {
                stats.bad_message("server_error");
                tracing::warn!(message = %m, "the signal server reported an error");
            }
            Ok(other) => tracing::debug!(?other, "signal server message not used"),
            Err(e) => {
                stats.bad_message(e.label());
                let excerpt: String = text.chars().take(80).collect();
                tracing::warn!(reason = %e, %excerpt, "bad message from the signal server ignored");
            }
        }
    }
}

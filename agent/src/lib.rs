//! `wavegate-agent`, one per exchange account: serves `ExchangeAgent` (plus health and
//! reflection) and does the money-moving half of docs/design.md §1: validation, top-ups, the
//! execution walk, the order journal and the exchange adapter. Library users build an
//! [`AgentConfig`] and call [`spawn`]; the binary installs the tracing subscriber.

#![warn(missing_docs)]

pub mod config;
pub(crate) mod context;
pub(crate) mod error;
pub mod exchange;
pub mod execute;
pub mod journal;
pub mod preflight;
pub(crate) mod protocol;
pub(crate) mod ratelimit;
pub(crate) mod reprotect;
pub(crate) mod service;
pub(crate) mod session;
pub(crate) mod spans;
pub(crate) mod validate;
pub(crate) mod venue_check;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::server::NamedService;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tracing::{error, info, warn};
use wavegate_common::auth::RequireToken;
use wavegate_common::proto::v1::exchange_agent_server::ExchangeAgentServer;
use wavegate_common::telemetry::metrics::Process;
use wavegate_common::telemetry::{Metrics, MetricsServer, serve_metrics};

pub use config::{AdapterConfig, AgentConfig, ConfigError, PaperConfig, RateLimitConfig};
pub use error::AgentError;

use crate::config::AdapterKind;
use crate::context::{AgentCtx, KeyedLocks};
use crate::exchange::Exchange;
use crate::exchange::paper::PaperExchange;
use crate::journal::{Journal, JournalError};
use crate::ratelimit::OrderLimiter;
use crate::service::{AgentService, Sessions};

/// Largest message accepted from a coordinator (a batch is at most `buffer_size` signals).
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// How long a shutdown waits for open streams to close after every session ended.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// A running agent.
pub struct AgentHandle {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    sessions: Arc<Sessions>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    health: tonic_health::server::HealthReporter,
    journal: Journal,
    metrics: Arc<Metrics>,
    metrics_server: Option<MetricsServer>,
}

impl AgentHandle {
    /// The address the agent listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address `/metrics` is served on, when `metrics_listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_server.as_ref().map(MetricsServer::local_addr)
    }

    /// The agent's metrics (also readable without the HTTP endpoint).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Graceful shutdown: running waves send nothing more and journal; the journal then closes.
    pub async fn shutdown(self) {
        self.health
            .set_not_serving::<ExchangeAgentServer<AgentService>>()
            .await;
        let _ = self.shutdown.send(true);
        self.sessions.wait().await;
        let mut server = self.server;
        match tokio::time::timeout(DRAIN_GRACE, &mut server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => warn!(error = %e, "server ended with an error"),
            Ok(Err(e)) => warn!(error = %e, "server task failed"),
            Err(_) => {
                warn!("streams still open after shutdown; closing them");
                server.abort();
            }
        }
        if let Some(metrics_server) = self.metrics_server {
            metrics_server.shutdown().await;
        }
        // The writer is shared (paper records, a session that failed to flush): commit it.
        if let Err(e) = self.journal.close().await {
            error!(error = %e, "journal writes not committed at shutdown");
        }
        info!("agent stopped");
    }
}

/// Validates `config`, opens journal and adapter, binds the listeners, serves in the background.
pub async fn spawn(config: AgentConfig) -> Result<AgentHandle, AgentError> {
    config.validate()?;
    // With the address actually served: other hosts must prove they are the coordinator.
    config.check_exposure()?;
    let require_token = RequireToken::new(config.auth.token()?);
    // HTTP/2 pings notice a coordinator that vanished without closing, so its sessions finish.
    let keepalive = (config.keepalive_interval_ms > 0)
        .then(|| Duration::from_millis(config.keepalive_interval_ms));
    let mut builder = Server::builder()
        .http2_keepalive_interval(keepalive)
        .http2_keepalive_timeout(Some(Duration::from_millis(config.keepalive_timeout_ms)));
    if let Some(tls) = &config.tls {
        builder = tls.apply(builder)?;
    }
    let journal = Journal::open_with(&config.journal, config.journal_sync).await?;
    let exchange: Arc<dyn Exchange> = match config.adapter.kind {
        AdapterKind::Paper => Arc::new(
            PaperExchange::open(config.adapter.paper.clone(), &journal)
                .await
                .map_err(JournalError::from)?,
        ),
        AdapterKind::Binance | AdapterKind::Bybit => exchange::live(&config.adapter)?,
    };
    let exchange = exchange::faults::wrap(exchange, &config.faults);
    check_journal(&config, &journal, exchange.as_ref()).await?;
    let bind_err = |source| AgentError::Bind {
        addr: config.listen,
        source,
    };
    let incoming = TcpIncoming::bind(config.listen)
        .map_err(bind_err)?
        .with_nodelay(Some(true));
    let local_addr = incoming.local_addr().map_err(bind_err)?;
    // One registry per agent, so in-process clusters and tests never mix their counts.
    let metrics = Arc::new(Metrics::new(Process::Agent)?);
    exchange.attach_metrics(metrics.clone(), &config.exchange_name);
    metrics.register_agent_exchange(&config.exchange_name);
    let metrics_server = match config.metrics_listen {
        Some(addr) => Some(serve_metrics(addr, metrics.clone()).await?),
        None => None,
    };

    let leverage = crate::execute::LeverageCache::with(journal.leverage_settings().await?);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let venue_check = venue_check::VenueCheck::new(
        config.adapter.kind != AdapterKind::Paper,
        config.confirm_new_journal,
        venue_check::Names {
            journal: config.journal.display().to_string(),
            exchange: config.exchange_name.clone(),
        },
    );
    let ctx = Arc::new(AgentCtx {
        leverage,
        limiter: OrderLimiter::new(&config.rate_limit),
        config,
        journal: journal.clone(),
        exchange,
        symbol_locks: KeyedLocks::default(),
        wave_locks: KeyedLocks::default(),
        shutdown: shutdown_rx.clone(),
        metrics: metrics.clone(),
        reprotect: reprotect::Reprotect::default(),
        venue_check,
    });
    // Before serving: protect positions left without a stop, look up unknown entries.
    let swept = ctx.reprotect.sweep(&ctx).await?;
    if swept.found > 0 {
        info!(
            found = swept.found,
            still_open = swept.still_open,
            "journal settled at start-up"
        );
    }
    ctx.venue_check
        .at_start(&ctx.journal, ctx.exchange.as_ref())
        .await;
    let sessions = Arc::new(Sessions::default());

    let (health, health_service) = tonic_health::server::health_reporter();
    ctx.venue_check.set_reporter(health.clone()).await;
    let (reflection, reflection_alpha) = wavegate_common::reflection::services(
        &[<ExchangeAgentServer<AgentService> as NamedService>::NAME],
        &[tonic_health::pb::FILE_DESCRIPTOR_SET],
    )
    .map_err(|e| AgentError::Reflection(e.to_string()))?;
    // The token is checked on the headers, before a message of the call is read.
    let service = InterceptedService::new(
        ExchangeAgentServer::new(AgentService::new(ctx.clone(), sessions.clone()))
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
        require_token,
    );
    let mut stop = shutdown_rx;
    let server = tokio::spawn(
        builder
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_alpha)
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stop.wait_for(|s| *s).await;
            }),
    );
    let tls = ctx
        .config
        .tls
        .as_ref()
        .map_or("off", |t| if t.mutual() { "mutual" } else { "on" });
    let auth = ctx.config.auth_mode();
    if auth == "none" && !local_addr.ip().is_loopback() {
        warn!(addr = %local_addr, "auth.insecure: anyone who reaches this port can place orders");
    }
    info!(addr = %local_addr, tls, auth, exchange_id = ctx.config.exchange_id,
          exchange = %ctx.config.exchange_name, adapter = ctx.exchange.kind(), "agent listening");
    Ok(AgentHandle {
        local_addr,
        shutdown: shutdown_tx,
        sessions,
        server,
        health,
        journal,
        metrics,
        metrics_server,
    })
}

/// Refuses another agent's journal, then stamps it (lag behind the venue: [`venue_check`]).
async fn check_journal(
    config: &AgentConfig,
    journal: &Journal,
    exchange: &dyn Exchange,
) -> Result<(), AgentError> {
    let me = journal::Identity {
        exchange_id: config.exchange_id,
        exchange_name: config.exchange_name.clone(),
        adapter: exchange.kind().to_owned(),
    };
    let standing = journal.check_identity(&me).await?;
    if standing == journal::Standing::New {
        info!(journal = %config.journal.display(), "new journal stamped with this agent's identity");
    }
    journal.stamp_identity(&me).await?;
    Ok(())
}

//! Starting and stopping a coordinator: migrate, bind, serve, run the wave clock.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::server::NamedService;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use wavegate_common::proto::v1::agents_server::AgentsServer;
use wavegate_common::proto::v1::params_server::ParamsServer;
use wavegate_common::proto::v1::signal_ingest_server::SignalIngestServer;
use wavegate_common::proto::v1::waves_server::WavesServer;

use crate::api::Api;
use crate::auth::{Auth, Guarded};
use crate::config::CoordinatorConfig;
use crate::error::CoordinatorError;
use crate::state::Core;
use crate::store::Store;
use crate::wave::run_clock;

const SERVICES: [&str; 4] = [
    <SignalIngestServer<Api> as NamedService>::NAME,
    <WavesServer<Api> as NamedService>::NAME,
    <ParamsServer<Api> as NamedService>::NAME,
    <AgentsServer<Api> as NamedService>::NAME,
];

/// How long shutdown waits for calls in flight.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// A running coordinator.
#[derive(Debug)]
pub struct CoordinatorHandle {
    addr: SocketAddr,
    core: Arc<Core>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    clock: JoinHandle<()>,
    prober: JoinHandle<()>,
}

impl CoordinatorHandle {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The store (for tests and in-process tools).
    pub fn store(&self) -> &Store {
        &self.core.store
    }

    /// This coordinator's Prometheus metrics (serve them with `telemetry::serve_metrics`).
    pub fn metrics(&self) -> Arc<wavegate_common::telemetry::Metrics> {
        self.core.metrics.clone()
    }

    /// Stops serving and the clock, aborts dispatches (resumed by the next coordinator), closes.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.clock.await;
        self.prober.abort();
        self.core.abort_tasks();
        let mut server = self.server;
        // Open Watch streams never end by themselves: give calls in flight a moment, then stop.
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "server ended with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "server task failed"),
            Err(_) => {
                server.abort();
                let _ = server.await;
            }
        }
        self.core.store.close().await;
    }
}

/// The connections `listener` accepts, with Nagle's algorithm off. Tonic ignores the builder's
/// `tcp_nodelay` when serving an incoming stream, and with Nagle on each small response
/// written while an earlier one is unacknowledged waits for the client's delayed ACK (up to
/// 40 ms on Linux): `Waves.Watch` events and call responses arrived tens of ms late.
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Starts a coordinator: validates, connects and migrates, binds `config.listen`, serves.
pub async fn spawn(config: CoordinatorConfig) -> Result<CoordinatorHandle, CoordinatorError> {
    config.validate()?;
    let auth = match config.auth.as_ref().and_then(|a| a.tokens_file.as_deref()) {
        Some(path) => Auth::from_file(path)?,
        None => Auth::off(),
    };
    // Certificates are read before the database is touched, so a bad path fails cleanly.
    // (No `tcp_nodelay` here: the builder's is ignored with an incoming stream; see `incoming`.)
    let mut builder = Server::builder();
    if let Some(tls) = &config.tls {
        builder = tls.apply(builder)?;
    }
    let tls = match &config.tls {
        None => "off",
        Some(t) if t.client_ca.is_some() => "mutual",
        Some(_) => "on",
    };
    let store = Store::connect_with(&config.database_url, config.sqlite_sync).await?;
    let listen = config.listen;
    let core = Arc::new(Core::new(config, store)?);
    let bind = |source| CoordinatorError::Bind {
        addr: listen,
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;

    let (shutdown, rx) = watch::channel(false);
    let clock = tokio::spawn(run_clock(core.clone(), rx.clone()));
    let prober = tokio::spawn(crate::agents::probe_loop(
        core.agents.clone(),
        core.metrics.clone(),
        rx.clone(),
    ));

    let (health, health_service) = tonic_health::server::health_reporter();
    set_health(&health, true).await;
    // From here on the storage's state decides (published in order).
    core.storage.set_reporter(health.clone());
    let (storage, probe_rx) = (core.storage.clone(), rx.clone());
    core.spawn_task(async move { storage.run_probe(probe_rx).await });
    let (reflection, reflection_alpha) =
        wavegate_common::reflection::services(&SERVICES, &[tonic_health::pb::FILE_DESCRIPTOR_SET])
            .map_err(|e| CoordinatorError::Corrupt(format!("reflection: {e}")))?;
    let api = Api::new(core.clone());
    // Messages above `max_request_bytes` are refused from their length prefix, before decoding.
    let max = core.cfg.max_request_bytes;
    let ingest = SignalIngestServer::new(api.clone()).max_decoding_message_size(max);
    let waves = WavesServer::new(api.clone()).max_decoding_message_size(max);
    let params = ParamsServer::new(api.clone()).max_decoding_message_size(max);
    let agents = AgentsServer::new(api).max_decoding_message_size(max);
    let mut rx_server = rx;
    let server = tokio::spawn(
        builder
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_alpha)
            .add_service(Guarded::new(ingest, auth.clone()))
            .add_service(Guarded::new(waves, auth.clone()))
            .add_service(Guarded::new(params, auth.clone()))
            .add_service(Guarded::new(agents, auth.clone()))
            .serve_with_incoming_shutdown(incoming(listener), async move {
                let _ = rx_server.wait_for(|stop| *stop).await;
            }),
    );
    tracing::info!(%addr, owner = %core.owner, auth = auth.enabled(), tls, "coordinator serving");
    Ok(CoordinatorHandle {
        addr,
        core,
        shutdown,
        server,
        clock,
        prober,
    })
}

/// Publishes the public services' (and the server's `""`) gRPC health.
pub async fn set_health(health: &tonic_health::server::HealthReporter, serving: bool) {
    let status = if serving {
        tonic_health::ServingStatus::Serving
    } else {
        tonic_health::ServingStatus::NotServing
    };
    for name in std::iter::once("").chain(SERVICES) {
        health.set_service_status(name, status).await;
    }
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt as _;

    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nagles_algorithm_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut accepted = incoming(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let conn = accepted.next().await.unwrap().unwrap();
        assert!(conn.nodelay().unwrap(), "TCP_NODELAY on the server's side");
    }
}

//! The `ExchangeAgent` service; `ExecuteWave` runs the session as a task outliving the stream.

use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{Instrument as _, error};
use wavegate_common::error::to_status;
use wavegate_common::proto::PROTOCOL_VERSION;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::exchange_agent_server::ExchangeAgent;
use wavegate_common::telemetry::propagation;
use wavegate_common::walk::Mode;

use crate::context::AgentCtx;
use crate::error::SessionError;
use crate::session::{self, Outbound};

/// Running sessions, so a shutdown can wait for them to finish and journal.
#[derive(Debug, Default)]
pub struct Sessions {
    set: Mutex<JoinSet<()>>,
}

impl Sessions {
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, f: F) {
        // A poisoned lock only means a panic elsewhere while spawning; the set is still usable.
        let mut set = self.set.lock().unwrap_or_else(|e| e.into_inner());
        while set.try_join_next().is_some() {}
        set.spawn(f);
    }

    /// Waits until every session has ended.
    pub async fn wait(&self) {
        loop {
            let mut set = {
                let mut guard = self.set.lock().unwrap_or_else(|e| e.into_inner());
                std::mem::take(&mut *guard)
            };
            if set.is_empty() {
                return;
            }
            while let Some(r) = set.join_next().await {
                if let Err(e) = r {
                    error!(error = %e, "wave session panicked");
                }
            }
        }
    }
}

/// The service implementation.
pub struct AgentService {
    ctx: Arc<AgentCtx>,
    sessions: Arc<Sessions>,
}

impl AgentService {
    /// A service over shared agent state.
    pub fn new(ctx: Arc<AgentCtx>, sessions: Arc<Sessions>) -> Self {
        Self { ctx, sessions }
    }
}

fn mode_to_proto(m: Mode) -> pb::ExecutionMode {
    match m {
        Mode::Sequential => pb::ExecutionMode::Sequential,
        Mode::Windowed => pb::ExecutionMode::Windowed,
    }
}

#[tonic::async_trait]
impl ExchangeAgent for AgentService {
    type ExecuteWaveStream = UnboundedReceiverStream<Result<pb::AgentMsg, Status>>;

    async fn execute_wave(
        &self,
        request: Request<Streaming<pb::CoordinatorMsg>>,
    ) -> Result<Response<Self::ExecuteWaveStream>, Status> {
        // The stream's arrival, for the wave's timing line (`session/stamps.rs`).
        let arrived = chrono::Utc::now();
        let c = &self.ctx.config;
        // A SERVER span by the OpenTelemetry RPC conventions; the session records `wave_id`.
        let span = tracing::info_span!(
            "execute_wave",
            "otel.name" = "wavegate.v1.ExchangeAgent/ExecuteWave",
            "otel.kind" = "server",
            "rpc.system" = "grpc",
            "rpc.service" = "wavegate.v1.ExchangeAgent",
            "rpc.method" = "ExecuteWave",
            wave_id = tracing::field::Empty,
            "exchange.id" = wavegate_common::telemetry::int(c.exchange_id),
            "exchange.name" = c.exchange_name.as_str(),
        );
        if let Err(refusal) = self
            .ctx
            .venue_check
            .before_wave(&self.ctx.journal, self.ctx.exchange.as_ref())
            .await
        {
            return Err(refusal.status());
        }
        // Before the span is entered: an OpenTelemetry span's parent is fixed when it starts.
        propagation::set_parent(&span, request.metadata());
        let inbound = request.into_inner();
        // Unbounded: a few messages per signal, and a slow reader must never stall the walk.
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let ctx = self.ctx.clone();
        self.sessions
            .spawn(session::run(ctx, inbound, Outbound::new(tx), arrived).instrument(span));
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }

    async fn describe(
        &self,
        _request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        let c = &self.ctx.config;
        let open_positions = self
            .ctx
            .exchange
            .open_positions()
            .await
            .map_err(|e| to_status(&SessionError::Exchange(e.to_string())))?;
        let orders_sent = self.ctx.journal.orders_sent().await.map_err(|e| {
            error!(error = %e, "journal unavailable");
            to_status(&SessionError::Journal(e))
        })?;
        Ok(Response::new(pb::DescribeResponse {
            exchange_id: c.exchange_id,
            exchange_name: c.exchange_name.clone(),
            adapter: self.ctx.exchange.kind().to_owned(),
            version: wavegate_common::VERSION.to_owned(),
            region: c.region.clone(),
            open_positions,
            protocol_versions: vec![PROTOCOL_VERSION],
            mode: mode_to_proto(c.execution_mode) as i32,
            orders_sent,
        }))
    }
}

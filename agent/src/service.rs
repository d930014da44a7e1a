//! The `ExchangeAgent` gRPC service: stream plumbing and `Describe`.
//!
//! `ExecuteWave` returns its response stream at once and runs the session as its own task, so a
//! coordinator may send `Start` before or after the call returns, and the session survives the
//! stream (docs/design.md §3: it finishes with what it holds if the coordinator goes away).
//!
//! Each stream is one `execute_wave` span, made a child of the coordinator's span from the
//! request's W3C trace context, so a wave is one trace across processes. The session task is
//! instrumented with it: spawned tasks do not inherit the caller's span.

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
        let c = &self.ctx.config;
        // `wave_id` is known once Start arrives; the session records it.
        // A SERVER span by the OpenTelemetry RPC conventions (v1.37 attributes), keyed by
        // `exchange.id`/`exchange.name` like the coordinator's spans.
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
        // A journal behind the venue trades nothing, and says why (venue_check).
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
        // Unbounded: at most a few messages per signal, and a slow reader must never stall
        // the walk while orders are in flight.
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let ctx = self.ctx.clone();
        self.sessions
            .spawn(session::run(ctx, inbound, Outbound::new(tx)).instrument(span));
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

//! The exchange agents: a lazy, self-reconnecting channel each and their `Agents.List` state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use wavegate_common::auth::{SendToken, Token};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::exchange_agent_client::ExchangeAgentClient;
use wavegate_common::telemetry::Metrics;

use crate::config::{CoordinatorConfig, tls_refused};
use crate::error::CoordinatorError;

/// Largest message to or from an agent (results list every outcome).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// What the coordinator last saw of an agent.
#[derive(Debug, Clone, Default)]
struct Seen {
    state: pb::AgentState,
    last_contact: Option<DateTime<Utc>>,
    error: String,
    describe: Option<pb::DescribeResponse>,
}

/// One exchange's agent.
#[derive(Debug)]
pub struct Agent {
    exchange_id: u32,
    name: String,
    /// Configured endpoint.
    pub endpoint: Option<String>,
    region: Option<String>,
    channel: Option<Channel>,
    /// The agent's token (`agent_token_file`), added to every call.
    token: SendToken,
    seen: Mutex<Seen>,
}

/// A client of one agent, sending its token.
type AgentClient = ExchangeAgentClient<InterceptedService<Channel, SendToken>>;

impl Agent {
    /// A client on the shared channel; `None` without a configured endpoint.
    pub fn client(&self) -> Option<AgentClient> {
        self.channel.clone().map(|c| {
            ExchangeAgentClient::with_interceptor(c, self.token.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES)
        })
    }

    /// Records a successful exchange of messages.
    pub fn mark_ok(&self) {
        let mut s = self.seen.lock();
        s.state = pb::AgentState::Ready;
        s.last_contact = Some(Utc::now());
        s.error.clear();
    }

    /// Records a failed call.
    pub fn mark_err(&self, error: &str) {
        let mut s = self.seen.lock();
        s.state = pb::AgentState::Unreachable;
        s.error = error.to_owned();
    }

    /// Calls `Describe` (bounded by `timeout`) and records the answer.
    async fn refresh(&self, timeout: Duration) {
        let Some(mut c) = self.client() else {
            return;
        };
        match tokio::time::timeout(timeout, c.describe(pb::DescribeRequest {})).await {
            Ok(Ok(r)) => {
                self.mark_ok();
                self.seen.lock().describe = Some(r.into_inner());
            }
            Ok(Err(status)) => self.mark_err(&format!("{}: {}", status.code(), status.message())),
            Err(_) => self.mark_err("describe timed out"),
        }
    }

    /// The `Agents.List` entry.
    fn info(&self) -> pb::AgentInfo {
        let s = self.seen.lock().clone();
        let d = s.describe.unwrap_or_default();
        pb::AgentInfo {
            exchange_id: self.exchange_id,
            exchange_name: self.name.clone(),
            endpoint: self.endpoint.clone().unwrap_or_default(),
            state: s.state as i32,
            last_contact: s.last_contact.map(wavegate_common::time::to_proto),
            region: self.region.clone().unwrap_or_else(|| d.region.clone()),
            reported_region: d.region,
            adapter: d.adapter,
            version: d.version,
            error: if self.endpoint.is_none() {
                "no agent endpoint configured".to_owned()
            } else {
                s.error
            },
        }
    }
}

/// Every configured agent, by exchange id.
#[derive(Debug)]
pub struct Agents {
    by_id: BTreeMap<u32, Arc<Agent>>,
    connect_timeout: Duration,
}

impl Agents {
    /// Builds the (lazy) channels of the configured exchanges; nothing is contacted yet.
    pub fn new(cfg: &CoordinatorConfig) -> Result<Self, CoordinatorError> {
        let connect_timeout = Duration::from_millis(cfg.dispatch.connect_timeout_ms);
        // Read once, shared by every https:// agent channel.
        let tls = cfg
            .agent_tls
            .as_ref()
            .map(|t| t.client_config())
            .transpose()?;
        let mut by_id = BTreeMap::new();
        for (i, e) in cfg.exchanges.iter().enumerate() {
            let channel = match &e.agent {
                None => None,
                Some(url) => Some(
                    Endpoint::from_shared(url.clone())
                        .map_err(|err| {
                            CoordinatorError::bad(format!("exchanges[{i}].agent"), err.to_string())
                        })
                        .and_then(|ep| match &tls {
                            Some(tls) if url.starts_with("https://") => ep
                                .tls_config(tls.clone())
                                .map_err(|err| tls_refused("agent_tls", "refused", &err).into()),
                            _ => Ok(ep),
                        })?
                        .connect_timeout(connect_timeout)
                        .tcp_nodelay(true)
                        .http2_keep_alive_interval(Duration::from_secs(20))
                        .keep_alive_while_idle(true)
                        .connect_lazy(),
                ),
            };
            let token = e
                .agent_token_file
                .as_deref()
                .map(Token::read_file)
                .transpose()
                .map_err(|err| {
                    CoordinatorError::bad(
                        format!("exchanges[{i}].agent_token_file"),
                        err.to_string(),
                    )
                })?;
            by_id.insert(
                e.id,
                Arc::new(Agent {
                    exchange_id: e.id,
                    name: e.name.clone(),
                    endpoint: e.agent.clone(),
                    region: e.region.clone(),
                    channel,
                    token: SendToken::new(token.as_ref()),
                    seen: Mutex::new(Seen {
                        state: pb::AgentState::Unknown,
                        ..Seen::default()
                    }),
                }),
            );
        }
        Ok(Self {
            by_id,
            connect_timeout,
        })
    }

    /// The agent of an exchange, if configured.
    pub fn get(&self, exchange_id: u32) -> Option<Arc<Agent>> {
        self.by_id.get(&exchange_id).cloned()
    }

    /// `Describe`s every agent (concurrently), lists them and sets `wavegate_agent_connected`.
    pub async fn probe(&self, metrics: &Metrics) -> Vec<pb::AgentInfo> {
        let timeout = self.connect_timeout.max(Duration::from_millis(500));
        futures::future::join_all(self.by_id.values().map(|a| a.refresh(timeout))).await;
        let infos: Vec<_> = self.by_id.values().map(|a| a.info()).collect();
        for i in &infos {
            metrics.agent_connected(&i.exchange_name, i.state == pb::AgentState::Ready as i32);
        }
        infos
    }
}

/// Probe period between waves, so `wavegate_agent_connected` follows an agent going away.
const PROBE_EVERY: Duration = Duration::from_secs(15);

/// Probes every agent at start-up (a down agent shows before any wave), then every [`PROBE_EVERY`].
pub async fn probe_loop(
    agents: Arc<Agents>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let infos = agents.probe(&metrics).await;
        for i in infos
            .iter()
            .filter(|i| i.state == pb::AgentState::Unreachable as i32)
        {
            tracing::warn!(exchange_id = i.exchange_id, exchange = %i.exchange_name,
                           endpoint = %i.endpoint, error = %i.error, "agent unreachable");
        }
        tokio::select! {
            _ = tokio::time::sleep(PROBE_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

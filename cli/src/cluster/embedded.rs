//! The in-process backend of [`super::Cluster`]: the coordinator and agent libraries spawned as
//! tasks of this process (one OTel resource, service `wavegate`, for all of them).

use std::net::SocketAddr;
use std::path::Path;

use wavegate_agent::{AgentConfig, AgentHandle};
use wavegate_coordinator::{CoordinatorConfig, CoordinatorHandle, ExchangeConfig};

use super::{AgentLinks, ClusterSpec, NEVER_SECS, PaperExchange};
use crate::error::CliError;

/// Coordinator and agents running as tasks of this process.
pub(super) struct Embedded {
    coordinator: CoordinatorHandle,
    agents: Vec<(u32, String, AgentHandle)>,
}

/// The agent config of one paper exchange; the process backend writes the same values as TOML.
pub(super) fn paper_config(x: &PaperExchange, dir: &Path) -> AgentConfig {
    let mut cfg = AgentConfig::paper(x.id, &x.name, dir.join(format!("agent-{}.db", x.id)));
    cfg.listen = x.listen;
    cfg.region = "loopback".into();
    let paper = &mut cfg.adapter.paper;
    paper.latency_ms = x.latency_ms;
    paper.open_positions = x.world.open_positions.clone();
    paper.invalid_symbols = x.world.invalid_symbols.clone();
    paper.exec_fail = x.world.exec_fail.clone();
    paper.stop_fail = x.world.stop_fail.clone();
    paper.trailing_fail = x.world.trailing_fail.clone();
    paper.balance = x.world.balance;
    paper.max_notional = x.world.max_notional;
    if let Some(r) = x.world.balance_reserve_usd {
        cfg.limits.balance_reserve_usd = r;
    }
    if let Some(n) = x.world.max_positions {
        cfg.limits.max_positions = n;
    }
    cfg.limits.max_exposure_usd = x.world.max_exposure_usd;
    if let Some(l) = x.world.leverage {
        cfg.positions.leverage = l;
    }
    cfg
}

/// The coordinator config for `spec` once its agents listen at `agent_addrs` (in spec order).
pub(super) fn coordinator_config(
    spec: &ClusterSpec,
    dir: &Path,
    agent_addrs: &[SocketAddr],
) -> CoordinatorConfig {
    let mut exchanges: Vec<ExchangeConfig> = spec
        .agents
        .iter()
        .zip(agent_addrs)
        .map(|(x, addr)| ExchangeConfig {
            id: x.id,
            name: x.name.clone(),
            agent: Some(format!("http://{addr}")),
            default_max_trades: x.default_max_trades,
            region: Some("loopback".into()),
            agent_token_file: None,
            min_size_usd: None,
            max_size_usd: None,
        })
        .collect();
    exchanges.extend(spec.bare_exchanges.iter().map(|(id, name)| ExchangeConfig {
        id: *id,
        name: name.clone(),
        agent: None,
        default_max_trades: None,
        region: None,
        agent_token_file: None,
        min_size_usd: None,
        max_size_usd: None,
    }));
    let mut config = CoordinatorConfig {
        listen: spec.listen,
        database_url: format!("sqlite://{}?mode=rwc", dir.join("coordinator.db").display()),
        exchanges,
        ..CoordinatorConfig::default()
    };
    config.dispatch.execution_mode = spec.tuning.execution_mode;
    config.waves.grace_secs = NEVER_SECS;
    config.waves.max_wave_age_secs = NEVER_SECS;
    config
}

impl Embedded {
    /// Starts the agents, then the coordinator pointing at them.
    pub(super) async fn start(
        spec: &ClusterSpec,
        dir: &Path,
        links: &mut AgentLinks,
    ) -> Result<Self, CliError> {
        let mut agents: Vec<(u32, String, AgentHandle)> = Vec::new();
        for x in &spec.agents {
            let handle = match wavegate_agent::spawn(paper_config(x, dir)).await {
                Ok(h) => h,
                Err(e) => {
                    for (_, _, a) in agents {
                        a.shutdown().await;
                    }
                    return Err(CliError::Cluster(format!(
                        "{} agent on {}: {e}",
                        x.name, x.listen
                    )));
                }
            };
            agents.push((x.id, x.name.clone(), handle));
        }
        let addrs: Vec<SocketAddr> = agents.iter().map(|(_, _, h)| h.local_addr()).collect();
        let addrs = match links.front(&spec.tuning, addrs).await {
            Ok(a) => a,
            Err(e) => {
                for (_, _, a) in agents {
                    a.shutdown().await;
                }
                return Err(e);
            }
        };
        let config = coordinator_config(spec, dir, &addrs);
        let coordinator = match wavegate_coordinator::spawn(config).await {
            Ok(c) => c,
            Err(e) => {
                for (_, _, a) in agents {
                    a.shutdown().await;
                }
                return Err(CliError::Cluster(format!(
                    "coordinator on {}: {e}",
                    spec.listen
                )));
            }
        };
        Ok(Self {
            coordinator,
            agents,
        })
    }

    /// The coordinator's public API address.
    pub(super) fn coordinator_addr(&self) -> SocketAddr {
        self.coordinator.local_addr()
    }

    /// `(exchange id, name, agent address)` of every agent.
    pub(super) fn agents(&self) -> Vec<(u32, String, SocketAddr)> {
        self.agents
            .iter()
            .map(|(id, name, h)| (*id, name.clone(), h.local_addr()))
            .collect()
    }

    /// Stops the coordinator first (no new dispatch), then the agents.
    pub(super) async fn shutdown(self) {
        self.coordinator.shutdown().await;
        for (_, _, a) in self.agents {
            a.shutdown().await;
        }
    }
}

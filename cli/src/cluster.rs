//! The cluster of `demo`, `dev` and `replay`: one coordinator (SQLite) and paper agents talking
//! real gRPC over loopback sockets, either all in this process ([`ClusterMode::InProcess`]) or
//! as the real `wavegate-coordinator` and `wavegate-agent` binaries ([`ClusterMode::Processes`],
//! `--processes`). Commands see one [`Cluster`] whatever the backend.
//!
//! Wave timing is relaxed here on purpose: the sample waves and replay scenarios carry fixed
//! timestamps (docs/design.md's worked example is dated), so the coordinator accepts waves of any age
//! and never closes one by the clock; the CLI closes each wave explicitly.

mod child;
mod config_files;
mod embedded;
mod processes;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wavegate_coordinator::config::ExecutionMode;

use crate::args::{ConnectArgs, DEFAULT_COORDINATOR};
use crate::client::{Clients, connect};
use crate::delay_proxy::DelayProxy;
use crate::error::CliError;
use crate::scenario::World;

/// "Never" for wave timing, in seconds (about 100 years).
const NEVER_SECS: u64 = 100 * 365 * 24 * 3600;

/// One paper exchange and its agent.
#[derive(Debug, Clone)]
pub struct PaperExchange {
    /// Exchange id.
    pub id: u32,
    /// Exchange name.
    pub name: String,
    /// Agent listen address (port 0: any free port).
    pub listen: SocketAddr,
    /// Scripted outcomes.
    pub world: World,
    /// Simulated latency per order call.
    pub latency_ms: u64,
    /// `max_trades` when no params are stored; `None`: such waves give `no_params`.
    pub default_max_trades: Option<u32>,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Coordinator public API address.
    pub listen: SocketAddr,
    /// Where the database and journals go; `None`: a temporary directory removed at shutdown.
    pub data_dir: Option<PathBuf>,
    /// Exchanges with a paper agent.
    pub agents: Vec<PaperExchange>,
    /// Exchanges the coordinator knows but that have no agent and no default params.
    pub bare_exchanges: Vec<(u32, String)>,
    /// In this process or as separate processes.
    pub mode: ClusterMode,
    /// Execution mode and the network between coordinator and agents (`bench`).
    pub tuning: Tuning,
}

/// What `wavegate bench` varies beyond the paper exchanges; the default is what `demo`, `dev`
/// and `replay` run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tuning {
    /// `[dispatch] execution_mode` of the coordinator.
    pub execution_mode: ExecutionMode,
    /// One-way delay between the coordinator and each agent; zero connects them directly,
    /// otherwise through a [`DelayProxy`] per agent (a far-away region on loopback).
    pub agent_one_way: Duration,
}

/// The delay proxies between the coordinator and its agents (none without a delay).
#[derive(Debug, Default)]
pub(crate) struct AgentLinks {
    proxies: Vec<DelayProxy>,
}

impl AgentLinks {
    /// The addresses the coordinator dials for agents listening at `agents`: the agents
    /// themselves, or a delay proxy in front of each.
    pub(crate) async fn front(
        &mut self,
        tuning: &Tuning,
        agents: Vec<SocketAddr>,
    ) -> Result<Vec<SocketAddr>, CliError> {
        if tuning.agent_one_way.is_zero() {
            return Ok(agents);
        }
        let mut out = Vec::with_capacity(agents.len());
        for a in agents {
            let p = DelayProxy::start(a, tuning.agent_one_way)
                .await
                .map_err(|e| CliError::Cluster(format!("delay proxy to agent {a}: {e}")))?;
            out.push(p.addr());
            self.proxies.push(p);
        }
        Ok(out)
    }
}

/// Where the coordinator and agents run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClusterMode {
    /// As tasks of this process (one OTel resource, service `wavegate`).
    #[default]
    InProcess,
    /// As child processes of the binaries next to `wavegate`, each its own OTel service.
    Processes,
}

impl ClusterMode {
    /// [`ClusterMode::Processes`] when `--processes` was given.
    pub fn from_flag(processes: bool) -> Self {
        if processes {
            Self::Processes
        } else {
            Self::InProcess
        }
    }
}

/// Loopback with any free port.
pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A running cluster.
pub struct Cluster {
    backend: Backend,
    data_dir: PathBuf,
    // Dropped after the backend has shut down (declared after it).
    _links: AgentLinks,
    // Removed on drop, after shutdown.
    _temp: Option<tempfile::TempDir>,
}

/// The running coordinator and agents.
enum Backend {
    InProcess(embedded::Embedded),
    Processes(processes::Processes),
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("coordinator", &self.coordinator_addr())
            .field("agents", &self.agents().len())
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

/// `data_dir`, created if needed, or a new temporary directory (removed when dropped).
fn data_dir(spec: &ClusterSpec) -> Result<(Option<tempfile::TempDir>, PathBuf), CliError> {
    match &spec.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .map_err(|e| CliError::Input(format!("--data-dir {}: {e}", d.display())))?;
            Ok((None, d.clone()))
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("wavegate-")
                .tempdir()
                .map_err(|e| CliError::Cluster(format!("temporary directory: {e}")))?;
            let p = t.path().to_owned();
            Ok((Some(t), p))
        }
    }
}

impl Cluster {
    /// Starts the agents, then the coordinator pointing at them, as `spec.mode` says.
    pub async fn start(spec: ClusterSpec) -> Result<Self, CliError> {
        let (temp, dir) = data_dir(&spec)?;
        let mut links = AgentLinks::default();
        let backend = match spec.mode {
            ClusterMode::InProcess => {
                Backend::InProcess(embedded::Embedded::start(&spec, &dir, &mut links).await?)
            }
            ClusterMode::Processes => {
                Backend::Processes(processes::Processes::start(&spec, &dir, &mut links).await?)
            }
        };
        Ok(Self {
            backend,
            data_dir: dir,
            _links: links,
            _temp: temp,
        })
    }

    fn coordinator_addr(&self) -> SocketAddr {
        match &self.backend {
            Backend::InProcess(b) => b.coordinator_addr(),
            Backend::Processes(b) => b.coordinator_addr(),
        }
    }

    /// The coordinator's public endpoint, e.g. `http://127.0.0.1:7000`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.coordinator_addr())
    }

    /// `(exchange id, name, agent address)` of every agent.
    pub fn agents(&self) -> Vec<(u32, String, SocketAddr)> {
        match &self.backend {
            Backend::InProcess(b) => b.agents(),
            Backend::Processes(b) => b.agents(),
        }
    }

    /// Where the database and journals (and, with processes, their configs and logs) are.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether the coordinator and agents are separate processes.
    pub fn mode(&self) -> ClusterMode {
        match &self.backend {
            Backend::InProcess(_) => ClusterMode::InProcess,
            Backend::Processes(_) => ClusterMode::Processes,
        }
    }

    /// Clients of the coordinator's public API.
    pub async fn clients(&self) -> Result<Clients, CliError> {
        connect(&ConnectArgs {
            coordinator: self.endpoint(),
            token: None,
            ca_cert: None,
            client_cert: None,
            client_key: None,
            tls_domain: None,
        })
        .await
    }

    /// Stops the coordinator first (no new dispatch), then the agents.
    pub async fn shutdown(self) {
        match self.backend {
            Backend::InProcess(b) => b.shutdown().await,
            Backend::Processes(b) => b.shutdown().await,
        }
    }
}

/// The paper world of `demo` and `dev`: the union of the shipped scenarios' worlds, so every
/// sample wave comes out as its scenario says.
pub fn demo_world(exchange_id: u32) -> World {
    let mut w = World::default();
    for (_, text) in crate::samples::SCENARIOS {
        // The shipped scenarios are checked by a unit test; one that failed to parse would add
        // nothing here rather than stop the demo.
        let Ok(s) = crate::scenario::parse_str(text, chrono::Utc::now()) else {
            continue;
        };
        if let Some(x) = s.world.get(&exchange_id) {
            w.open_positions.extend(x.open_positions.iter().cloned());
            w.invalid_symbols.extend(x.invalid_symbols.iter().cloned());
            w.exec_fail.extend(x.exec_fail.iter().cloned());
            w.stop_fail.extend(x.stop_fail.iter().cloned());
        }
    }
    for v in [
        &mut w.open_positions,
        &mut w.invalid_symbols,
        &mut w.exec_fail,
        &mut w.stop_fail,
    ] {
        v.sort();
        v.dedup();
    }
    w
}

/// The two demo exchanges: binance (id 1, default target 6) and bybit (id 2, default target 4).
pub fn demo_exchanges(
    binance: SocketAddr,
    bybit: SocketAddr,
    latency_ms: u64,
) -> Vec<PaperExchange> {
    vec![
        PaperExchange {
            id: 1,
            name: "binance".into(),
            listen: binance,
            world: demo_world(1),
            latency_ms,
            default_max_trades: Some(6),
        },
        PaperExchange {
            id: 2,
            name: "bybit".into(),
            listen: bybit,
            world: demo_world(2),
            latency_ms,
            default_max_trades: Some(4),
        },
    ]
}

/// The endpoint `wavegate dev` prints for other shells (same as the CLI default when the
/// default port is used).
pub fn shown_endpoint(endpoint: &str) -> String {
    if endpoint == DEFAULT_COORDINATOR {
        format!("{endpoint} (the default of --coordinator)")
    } else {
        format!("{endpoint} (use --coordinator {endpoint} or WAVEGATE_COORDINATOR)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_world_merges_the_scenarios() {
        let b = demo_world(1);
        assert_eq!(b.open_positions, vec!["SOLUSDT"]);
        assert_eq!(b.exec_fail, vec!["XRPUSDT"]);
        assert!(b.invalid_symbols.contains(&"LUNAUSDT".to_owned()));
        assert_eq!(demo_world(2).open_positions, vec!["LINKUSDT"]);
    }
}

//! The cluster of `demo`, `dev`, `replay`, `bench`: coordinator and paper agents on loopback, as
//! tasks or binaries (`--processes`); waves of any age accepted, closed by the CLI.

mod child;
mod config_files;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wavegate_agent::AgentHandle;
use wavegate_coordinator::config::ExecutionMode;
use wavegate_coordinator::store::SqliteSync;
use wavegate_coordinator::{CoordinatorConfig, CoordinatorHandle};

use self::child::{ChildProc, sibling_binary};
use self::config_files::{agent_toml, coordinator_config, coordinator_toml, paper_config};

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

/// What `bench` varies beyond the paper exchanges; the default is the other commands'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tuning {
    /// `[dispatch] execution_mode` of the coordinator.
    pub execution_mode: ExecutionMode,
    /// Coordinator ↔ agent one-way delay; non-zero goes through a [`DelayProxy`] per agent.
    pub agent_one_way: Duration,
    /// `sqlite_sync` of the coordinator's database.
    pub sqlite_sync: SqliteSync,
}

/// The addresses the coordinator dials: `agents`, or a delay proxy in front of each.
async fn front(
    one_way: Duration,
    agents: Vec<SocketAddr>,
    proxies: &mut Vec<DelayProxy>,
) -> Result<Vec<SocketAddr>, CliError> {
    if one_way.is_zero() {
        return Ok(agents);
    }
    let mut out = Vec::with_capacity(agents.len());
    for a in agents {
        let p = DelayProxy::start(a, one_way)
            .await
            .map_err(|e| CliError::Cluster(format!("delay proxy to agent {a}: {e}")))?;
        out.push(p.addr());
        proxies.push(p);
    }
    Ok(out)
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

/// A running coordinator or agent, in this process or as a child process.
enum Node {
    Agent(AgentHandle),
    Coordinator(CoordinatorHandle),
    Child(ChildProc),
}

impl Node {
    fn addr(&self) -> SocketAddr {
        match self {
            Node::Agent(h) => h.local_addr(),
            Node::Coordinator(h) => h.local_addr(),
            Node::Child(c) => c.addr(),
        }
    }

    /// A graceful stop, waited for, so a child exports its spans before `wavegate` exits.
    async fn stop(self) {
        match self {
            Node::Agent(h) => h.shutdown().await,
            Node::Coordinator(h) => h.shutdown().await,
            Node::Child(c) => c.terminate().await,
        }
    }
}

async fn stop_all(agents: Vec<(u32, String, Node)>) {
    futures::future::join_all(agents.into_iter().map(|(_, _, n)| n.stop())).await;
}

/// The binaries of [`ClusterMode::Processes`]: coordinator, agent.
type Binaries = Option<(PathBuf, PathBuf)>;

fn write(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::Cluster(format!("cannot write {}: {e}", path.display())))
}

/// Starts one paper agent; a child gets `agent-<id>.toml` and `agent-<id>.log` in `dir`.
async fn start_agent(x: &PaperExchange, dir: &Path, bins: &Binaries) -> Result<Node, CliError> {
    let cfg = paper_config(x, dir);
    let what = format!("{} agent on {}", x.name, x.listen);
    let Some((_, bin)) = bins else {
        return wavegate_agent::spawn(cfg)
            .await
            .map(Node::Agent)
            .map_err(|e| CliError::Cluster(format!("{what}: {e}")));
    };
    let config = dir.join(format!("agent-{}.toml", x.id));
    write(&config, &agent_toml(&cfg)?)?;
    let log = dir.join(format!("agent-{}.log", x.id));
    ChildProc::start(bin, &what, &config, &log)
        .await
        .map(Node::Child)
}

/// Starts the coordinator; a child gets `coordinator.toml` and `coordinator.log` in `dir`.
async fn start_coordinator(
    cfg: CoordinatorConfig,
    dir: &Path,
    bins: &Binaries,
) -> Result<Node, CliError> {
    let what = format!("coordinator on {}", cfg.listen);
    let Some((bin, _)) = bins else {
        return wavegate_coordinator::spawn(cfg)
            .await
            .map(Node::Coordinator)
            .map_err(|e| CliError::Cluster(format!("{what}: {e}")));
    };
    let config = dir.join("coordinator.toml");
    write(&config, &coordinator_toml(&cfg)?)?;
    let log = dir.join("coordinator.log");
    ChildProc::start(bin, &what, &config, &log)
        .await
        .map(Node::Child)
}

/// A running cluster.
pub struct Cluster {
    mode: ClusterMode,
    coordinator: Node,
    agents: Vec<(u32, String, Node)>,
    data_dir: PathBuf,
    // Dropped after the nodes (declared after them).
    _proxies: Vec<DelayProxy>,
    temp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("coordinator", &self.coordinator.addr())
            .field("agents", &self.agents.len())
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
        // Both looked up first, so a missing one fails before anything started.
        let bins = match spec.mode {
            ClusterMode::InProcess => None,
            ClusterMode::Processes => Some((
                sibling_binary("wavegate-coordinator")?,
                sibling_binary("wavegate-agent")?,
            )),
        };
        let mut agents = Vec::new();
        for x in &spec.agents {
            match start_agent(x, &dir, &bins).await {
                Ok(node) => agents.push((x.id, x.name.clone(), node)),
                Err(e) => {
                    stop_all(agents).await;
                    return Err(e);
                }
            }
        }
        let mut proxies = Vec::new();
        let addrs = agents.iter().map(|(_, _, n)| n.addr()).collect();
        let coordinator = async {
            let addrs = front(spec.tuning.agent_one_way, addrs, &mut proxies).await?;
            start_coordinator(coordinator_config(&spec, &dir, &addrs), &dir, &bins).await
        };
        let coordinator = match coordinator.await {
            Ok(c) => c,
            Err(e) => {
                stop_all(agents).await;
                return Err(e);
            }
        };
        Ok(Self {
            mode: spec.mode,
            coordinator,
            agents,
            data_dir: dir,
            _proxies: proxies,
            temp,
        })
    }

    /// The coordinator's public endpoint, e.g. `http://127.0.0.1:7000`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.coordinator.addr())
    }

    /// `(exchange id, name, agent address)` of every agent.
    pub fn agents(&self) -> Vec<(u32, String, SocketAddr)> {
        self.agents
            .iter()
            .map(|(id, name, n)| (*id, name.clone(), n.addr()))
            .collect()
    }

    /// Where the database and journals (and, with processes, their configs and logs) are.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether the coordinator and agents are separate processes.
    pub fn mode(&self) -> ClusterMode {
        self.mode
    }

    /// Clients of the coordinator's public API.
    pub async fn clients(&self) -> Result<Clients, CliError> {
        connect(&ConnectArgs::plain(self.endpoint())).await
    }

    /// Stops the coordinator first (no new dispatch), then the agents. Returns the temporary
    /// data dir, if any, so its logs can be read before it is dropped (and removed).
    pub async fn shutdown(self) -> Option<tempfile::TempDir> {
        self.coordinator.stop().await;
        stop_all(self.agents).await;
        self.temp
    }
}

/// `demo`'s and `dev`'s paper world: all scenarios' worlds, so each sample wave runs as scripted.
pub fn demo_world(exchange_id: u32) -> World {
    let mut w = World::default();
    let worlds = crate::samples::SCENARIOS
        .iter()
        // A unit test checks the shipped scenarios; a bad one adds nothing rather than fail.
        .filter_map(|(_, text)| crate::scenario::parse_str(text, chrono::Utc::now()).ok())
        .filter_map(|mut s| s.world.remove(&exchange_id));
    for x in worlds {
        for (all, more) in [
            (&mut w.open_positions, x.open_positions),
            (&mut w.invalid_symbols, x.invalid_symbols),
            (&mut w.exec_fail, x.exec_fail),
            (&mut w.stop_fail, x.stop_fail),
        ] {
            all.extend(more);
            all.sort();
            all.dedup();
        }
    }
    w
}

/// The two demo exchanges: binance (id 1, default target 6) and bybit (id 2, default target 4).
pub fn demo_exchanges(
    binance: SocketAddr,
    bybit: SocketAddr,
    latency_ms: u64,
) -> Vec<PaperExchange> {
    [(1, "binance", binance, 6), (2, "bybit", bybit, 4)]
        .into_iter()
        .map(|(id, name, listen, target)| PaperExchange {
            id,
            name: name.into(),
            listen,
            world: demo_world(id),
            latency_ms,
            default_max_trades: Some(target),
        })
        .collect()
}

/// The endpoint `wavegate dev` prints for other shells.
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

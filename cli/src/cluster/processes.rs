//! The process backend of [`super::Cluster`]: the real `wavegate-agent` and
//! `wavegate-coordinator` binaries found next to `wavegate`, each with a generated config in the
//! data directory. Each process has its own OTel resource, so with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set a wave reaches the collector as one trace from three
//! services (coordinator and one agent per exchange).

use std::net::SocketAddr;
use std::path::Path;

use super::child::{ChildProc, sibling_binary};
use super::config_files::{agent_toml, coordinator_toml};
use super::embedded::{coordinator_config, paper_config};
use super::{AgentLinks, ClusterSpec};
use crate::error::CliError;

/// Binary of the coordinator.
const COORDINATOR_BIN: &str = "wavegate-coordinator";
/// Binary of an exchange agent.
const AGENT_BIN: &str = "wavegate-agent";

/// Coordinator and agents running as child processes.
pub(super) struct Processes {
    coordinator: ChildProc,
    agents: Vec<(u32, String, ChildProc)>,
}

fn write(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::Cluster(format!("cannot write {}: {e}", path.display())))
}

impl Processes {
    /// Starts the agents, then the coordinator pointing at them; config files and logs
    /// (`agent-<id>.toml`/`.log`, `coordinator.toml`/`.log`) go to `dir`.
    pub(super) async fn start(
        spec: &ClusterSpec,
        dir: &Path,
        links: &mut AgentLinks,
    ) -> Result<Self, CliError> {
        // Both looked up first, so a missing one fails before anything started.
        let coordinator_bin = sibling_binary(COORDINATOR_BIN)?;
        let agent_bin = sibling_binary(AGENT_BIN)?;
        let mut agents: Vec<(u32, String, ChildProc)> = Vec::new();
        for x in &spec.agents {
            let config = dir.join(format!("agent-{}.toml", x.id));
            let started = async {
                write(&config, &agent_toml(&paper_config(x, dir))?)?;
                let what = format!("{} agent on {}", x.name, x.listen);
                let log = dir.join(format!("agent-{}.log", x.id));
                ChildProc::start(&agent_bin, &what, &config, &log).await
            }
            .await;
            match started {
                Ok(child) => agents.push((x.id, x.name.clone(), child)),
                Err(e) => {
                    stop_all(agents).await;
                    return Err(e);
                }
            }
        }
        let addrs: Vec<SocketAddr> = agents.iter().map(|(_, _, c)| c.addr()).collect();
        let addrs = match links.front(&spec.tuning, addrs).await {
            Ok(a) => a,
            Err(e) => {
                stop_all(agents).await;
                return Err(e);
            }
        };
        let config = dir.join("coordinator.toml");
        let started = async {
            write(
                &config,
                &coordinator_toml(&coordinator_config(spec, dir, &addrs))?,
            )?;
            let what = format!("coordinator on {}", spec.listen);
            let log = dir.join("coordinator.log");
            ChildProc::start(&coordinator_bin, &what, &config, &log).await
        }
        .await;
        match started {
            Ok(coordinator) => Ok(Self {
                coordinator,
                agents,
            }),
            Err(e) => {
                stop_all(agents).await;
                Err(e)
            }
        }
    }

    /// The coordinator's public API address.
    pub(super) fn coordinator_addr(&self) -> SocketAddr {
        self.coordinator.addr()
    }

    /// `(exchange id, name, agent address)` of every agent.
    pub(super) fn agents(&self) -> Vec<(u32, String, SocketAddr)> {
        self.agents
            .iter()
            .map(|(id, name, c)| (*id, name.clone(), c.addr()))
            .collect()
    }

    /// SIGTERM to the coordinator first (no new dispatch), then to the agents, each waited for
    /// so every span is exported before `wavegate` exits.
    pub(super) async fn shutdown(self) {
        self.coordinator.terminate().await;
        stop_all(self.agents).await;
    }
}

async fn stop_all(agents: Vec<(u32, String, ChildProc)>) {
    futures::future::join_all(agents.into_iter().map(|(_, _, c)| c.terminate())).await;
}

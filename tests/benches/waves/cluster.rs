//! The processes a benchmark runs against: the real release `wavegate-coordinator` on SQLite in
//! a temp dir and one paper `wavegate-agent` per exchange, all on 127.0.0.1; their pids (for
//! `VmHWM`), their journals (for the time an order reached the paper exchange) and gRPC
//! clients.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tonic::transport::Channel;
use wavegate_cli::args::ConnectArgs;
use wavegate_common::proto::v1::signal_ingest_client::SignalIngestClient;
use wavegate_common::proto::v1::waves_client::WavesClient;
use wavegate_tests::Proc;

/// One paper agent: its exchange, simulated latency and the symbols whose entry is rejected.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// Exchange id (also the `[[exchanges]]` id of the coordinator).
    pub exchange_id: u32,
    /// `[adapter.paper] latency_ms`: time each exchange call (entry, stop) takes.
    pub latency_ms: u64,
    /// `[faults] exec_fail`: entries rejected by the exchange.
    pub exec_fail: Vec<String>,
}

/// Coordinator settings that differ between benchmarks.
#[derive(Debug, Clone)]
pub struct CoordinatorSpec {
    /// `max_batch_signals`.
    pub max_batch_signals: usize,
    /// Exchanges configured without an agent (ingest only; never dispatched).
    pub exchanges_without_agent: Vec<u32>,
}

/// A running coordinator with its agents, all killed on drop.
pub struct Cluster {
    /// Temp dir holding configs, logs, the coordinator database and the agent journals.
    dir: tempfile::TempDir,
    /// The agents, in the order of their specs.
    pub agents: Vec<Proc>,
    /// The coordinator.
    pub coordinator: Proc,
    specs: Vec<AgentSpec>,
}

fn toml_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", items.join(", "))
}

fn agent_toml(dir: &Path, a: &AgentSpec) -> String {
    // The rate limiter is opened wide: docs/design.md §5's lower bound counts exchange latency only.
    // Positions stay open across the bench's hundreds of waves: no cap on their number (the
    // paper account has no balance unless one is configured).
    format!(
        "listen = \"127.0.0.1:0\"\nexchange_id = {id}\nexchange_name = \"ex{id}\"\n\
         region = \"bench\"\njournal = \"{journal}\"\nexecution_mode = \"sequential\"\n\
         metrics_listen = \"off\"\n\
         [rate_limit]\norders_per_second = 100000\nburst = 100000\n\
         [adapter]\nkind = \"paper\"\n[adapter.paper]\nlatency_ms = {lat}\n\
         [faults]\nexec_fail = {fail}\n[limits]\nmax_positions = 1000000\n",
        id = a.exchange_id,
        journal = journal_path(dir, a.exchange_id).display(),
        lat = a.latency_ms,
        fail = toml_list(&a.exec_fail),
    )
}

fn journal_path(dir: &Path, exchange_id: u32) -> PathBuf {
    dir.join(format!("agent-{exchange_id}.db"))
}

impl Cluster {
    /// Starts the agents (concurrently), then the coordinator pointing at them.
    pub async fn start(agents: &[AgentSpec], c: &CoordinatorSpec) -> anyhow::Result<Self> {
        // For profiling: WAVEGATE_BENCH_KEEP keeps configs, logs and databases (RUST_LOG sets
        // the processes' log level).
        let keep = std::env::var_os("WAVEGATE_BENCH_KEEP").is_some();
        let dir = tempfile::Builder::new()
            .prefix("wavegate-bench")
            .disable_cleanup(keep)
            .tempdir()?;
        if keep {
            eprintln!("      keeping {}", dir.path().display());
        }
        let tomls: Vec<String> = agents.iter().map(|a| agent_toml(dir.path(), a)).collect();
        let started = futures::future::try_join_all(
            tomls
                .iter()
                .map(|t| Proc::spawn("wavegate-agent", t, dir.path())),
        )
        .await?;
        // quiet_secs and grace_secs are long: every bench wave is closed explicitly (or never,
        // for ingest), also those of past candles.
        let mut toml = format!(
            "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}/coordinator.db?mode=rwc\"\n\
             node_id = \"bench\"\nmax_batch_signals = {}\n[waves]\nquiet_secs = 3600\n\
             max_wave_age_secs = 864000\ngrace_secs = 1000000\n",
            dir.path().display(),
            c.max_batch_signals,
        );
        for (a, p) in agents.iter().zip(&started) {
            toml.push_str(&format!(
                "[[exchanges]]\nid = {id}\nname = \"ex{id}\"\nagent = \"{}\"\n",
                p.endpoint(),
                id = a.exchange_id
            ));
        }
        for id in &c.exchanges_without_agent {
            toml.push_str(&format!("[[exchanges]]\nid = {id}\nname = \"ex{id}\"\n"));
        }
        let coordinator = Proc::spawn("wavegate-coordinator", &toml, dir.path()).await?;
        Ok(Cluster {
            dir,
            agents: started,
            coordinator,
            specs: agents.to_vec(),
        })
    }

    /// The agents' specs, in order.
    pub fn specs(&self) -> &[AgentSpec] {
        &self.specs
    }

    /// Journal database of the agent of `exchange_id` (holds the paper exchange's orders).
    pub fn journal(&self, exchange_id: u32) -> PathBuf {
        journal_path(self.dir.path(), exchange_id)
    }

    /// Pid of a process of this cluster (`bin` names it in the error).
    pub fn pid(&self, p: &Proc, bin: &str) -> anyhow::Result<u32> {
        p.id()
            .with_context(|| format!("{bin} at {} is not running", p.endpoint()))
    }

    /// Clients of the coordinator's public API, as `wavegate` connects.
    pub async fn clients(&self) -> anyhow::Result<wavegate_cli::client::Clients> {
        Ok(wavegate_cli::client::connect(&ConnectArgs {
            coordinator: self.coordinator.endpoint(),
            token: None,
            ca_cert: None,
            client_cert: None,
            client_key: None,
            tls_domain: None,
        })
        .await?)
    }

    /// `Waves` client of the coordinator.
    pub async fn waves(&self) -> anyhow::Result<WavesClient<Channel>> {
        Ok(WavesClient::new(
            connect(&self.coordinator.endpoint()).await?,
        ))
    }

    /// `SignalIngest` client of the coordinator (no message size limit on the client side).
    pub async fn ingest(&self) -> anyhow::Result<SignalIngestClient<Channel>> {
        Ok(SignalIngestClient::new(
            connect(&self.coordinator.endpoint()).await?,
        ))
    }
}

/// A connected channel.
pub async fn connect(endpoint: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(endpoint.to_owned())?
        .connect()
        .await
        .with_context(|| format!("connecting to {endpoint}"))
}

/// Peak resident set size (`VmHWM`) of a process, in KiB.
pub fn vm_hwm_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM in /proc/<pid>/status")?;
    line.trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("bad VmHWM line {line:?}"))
}

/// The `w`-th bench wave's timestamp: distinct past candles before `current` (the candle now
/// open). Wave timestamps must be candle open times; the bench's coordinator accepts any age
/// up to ten days (`max_wave_age_secs`), and each wave is closed by its publish.
pub fn past_candle(
    current: chrono::DateTime<chrono::Utc>,
    w: usize,
) -> chrono::DateTime<chrono::Utc> {
    current - chrono::Duration::seconds(900 * (w as i64 + 1))
}

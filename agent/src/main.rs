//! `wavegate-agent`: runs one exchange agent until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use wavegate_agent::AgentConfig;
use wavegate_common::shutdown::ShutdownSignal;
use wavegate_common::telemetry;

/// wavegate exchange agent.
#[derive(Debug, Parser)]
#[command(name = "wavegate-agent", version)]
struct Args {
    /// TOML config file (see agent.example.toml).
    #[arg(long, env = "WAVEGATE_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// gRPC listen address (overrides `listen`).
    #[arg(long, env = "WAVEGATE_AGENT_LISTEN")]
    listen: Option<SocketAddr>,
    /// SQLite journal file (overrides `journal`).
    #[arg(long, env = "WAVEGATE_AGENT_JOURNAL")]
    journal: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = AgentConfig::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(journal) = args.journal {
        config.journal = journal;
    }
    config.validate()?;
    // Before anything is announced, so an early SIGTERM still shuts down gracefully.
    let mut shutdown = ShutdownSignal::install().context("installing signal handlers")?;
    // Logs (and OTLP export) named wavegate-agent with this agent's region and exchange.
    let telemetry = telemetry::init(&config.telemetry_config()).context("starting telemetry")?;
    let agent = wavegate_agent::spawn(config).await?;
    println!("wavegate-agent listening on {}", agent.local_addr());
    if let Some(addr) = agent.metrics_addr() {
        println!("wavegate-agent metrics on http://{addr}/metrics");
    }
    shutdown.recv().await;
    agent.shutdown().await;
    // After the agent stopped, so the last waves' spans are exported too.
    if let Err(e) = telemetry.shutdown().await {
        eprintln!("wavegate-agent: {e}");
    }
    Ok(())
}

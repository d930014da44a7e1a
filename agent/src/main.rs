//! `wavegate-agent`: runs one exchange agent until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use wavegate_agent::AgentConfig;
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
    // Logs (and OTLP export) named wavegate-agent with this agent's region and exchange.
    let telemetry = telemetry::init(&config.telemetry_config()).context("starting telemetry")?;
    let agent = wavegate_agent::spawn(config).await?;
    println!("wavegate-agent listening on {}", agent.local_addr());
    if let Some(addr) = agent.metrics_addr() {
        println!("wavegate-agent metrics on http://{addr}/metrics");
    }
    let waited = wait_for_signal().await.context("waiting for a signal");
    agent.shutdown().await;
    // After the agent stopped, so the last waves' spans are exported too.
    if let Err(e) = telemetry.shutdown().await {
        eprintln!("wavegate-agent: {e}");
    }
    waited
}

async fn wait_for_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

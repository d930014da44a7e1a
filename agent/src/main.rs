//! `wavegate-agent`: runs one exchange agent until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use wavegate_agent::AgentConfig;

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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut config = AgentConfig::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(journal) = args.journal {
        config.journal = journal;
    }
    config.validate()?;
    let agent = wavegate_agent::spawn(config).await?;
    println!("wavegate-agent listening on {}", agent.local_addr());
    wait_for_signal().await.context("waiting for a signal")?;
    agent.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

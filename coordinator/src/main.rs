//! `wavegate-coordinator`: parses the command line, starts the coordinator from the library,
//! runs until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use wavegate_coordinator::CoordinatorConfig;

/// wavegate coordinator: wave assembly, params, parallel dispatch to exchange agents.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// TOML config file (see coordinator.example.toml).
    #[arg(long, env = "WAVEGATE_CONFIG")]
    config: Option<PathBuf>,
    /// gRPC listen address (overrides the config).
    #[arg(long, env = "WAVEGATE_LISTEN")]
    listen: Option<SocketAddr>,
    /// sqlite://file or postgres://user@host/db (overrides the config).
    #[arg(long, env = "WAVEGATE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
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
    let mut cfg = CoordinatorConfig::load(args.config.as_deref()).context("loading config")?;
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    if let Some(u) = args.database_url {
        cfg.database_url = u;
    }
    cfg.validate().context("invalid config")?;
    let handle = wavegate_coordinator::spawn(cfg)
        .await
        .context("starting coordinator")?;
    wait_for_signal().await?;
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

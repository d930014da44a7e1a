//! `wavegate-agent`: runs one exchange agent until SIGINT or SIGTERM; `check`: the preflight.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
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
    /// Read and validate the config (file, environment, flags) and exit: 0 when the agent would
    /// start with it, 1 with the reason otherwise. Opens nothing, unlike `check`.
    #[arg(long)]
    check_config: bool,
    /// Takes the account's open positions the journal does not know as known (recorded);
    /// without it such a journal refuses every wave. Restore a lost journal; don't confirm it.
    #[arg(long)]
    confirm_new_journal: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read-only preflight of the configured live account: prints a table and exits non-zero
    /// when anything would make trading fail.
    Check {
        /// The largest max_trades a wave will ask of this exchange (balance check).
        #[arg(long, default_value_t = 1)]
        max_trades: u32,
        /// Symbol whose position mode is read (Bybit's mode can differ per symbol).
        #[arg(long, default_value = "BTCUSDT")]
        symbol: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    let args = Args::parse();
    let mut config = AgentConfig::load(args.config.as_deref())?;
    config.listen = args.listen.unwrap_or(config.listen);
    if let Some(journal) = args.journal {
        config.journal = journal;
    }
    config.confirm_new_journal |= args.confirm_new_journal;
    config.validate()?;
    if args.check_config {
        let source = args
            .config
            .as_deref()
            .map_or_else(|| "defaults".to_owned(), |p| p.display().to_string());
        println!("wavegate-agent: config OK ({source})");
        return Ok(std::process::ExitCode::SUCCESS);
    }
    if let Some(Command::Check { max_trades, symbol }) = args.command {
        let opts = wavegate_agent::preflight::Options { max_trades, symbol };
        let report = wavegate_agent::preflight::run(&config, &opts).await?;
        print!("{}", report.table());
        return Ok(if report.failed() {
            eprintln!("wavegate-agent check: FAILED (see the FAIL lines)");
            std::process::ExitCode::FAILURE
        } else {
            std::process::ExitCode::SUCCESS
        });
    }
    // Before anything is announced, so an early SIGTERM still shuts down gracefully.
    let mut shutdown = ShutdownSignal::install().context("installing signal handlers")?;
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
    Ok(std::process::ExitCode::SUCCESS)
}

//! `wavegate-coordinator`: runs the coordinator until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use futures::future::OptionFuture;
use wavegate_common::shutdown::ShutdownSignal;
use wavegate_common::telemetry;
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
    /// Read and validate the config (file, environment, flags) and exit: 0 when valid, 1 with
    /// the reason otherwise. Opens nothing else (deploy/check.sh runs it on shipped configs).
    #[arg(long)]
    check_config: bool,
}

/// glibc malloc arenas at most: the default (8 per core) cost about a quarter of peak RSS on
/// the ingest run (docs/benchmarks.md); two keep the workers from queueing on one lock.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_ARENAS: libc::c_int = 2;

/// Allocations from this size up are mapped on their own and given back to the system when
/// freed. Set, it also stops glibc raising the threshold to the size of each such block freed
/// (mallopt(3), M_MMAP_THRESHOLD), which likely kept a batch's multi-MB buffers in the arenas:
/// the ingest run's peak RSS was 10–20 MB higher in some runs (docs/benchmarks.md). Setting it
/// also fixes the trim threshold (128 KiB). Costs 6–8 % of ingest throughput, measured.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_MMAP_THRESHOLD: libc::c_int = 4 << 20;

fn main() -> anyhow::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a glibc tunable, before any thread exists; a refusal is harmless.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut cfg = CoordinatorConfig::load(args.config.as_deref()).context("loading config")?;
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    if let Some(u) = args.database_url {
        cfg.database_url = u;
    }
    cfg.validate().context("invalid config")?;
    if args.check_config {
        let source = args
            .config
            .as_deref()
            .map_or_else(|| "defaults".to_owned(), |p| p.display().to_string());
        println!("wavegate-coordinator: config OK ({source})");
        return Ok(());
    }
    // Before anything is announced, so an early SIGTERM still shuts down gracefully.
    let mut shutdown = ShutdownSignal::install().context("installing signal handlers")?;
    let telemetry = telemetry::init(&cfg.telemetry_config()).context("starting telemetry")?;
    let metrics_listen = cfg.metrics_listen;
    let handle = wavegate_coordinator::spawn(cfg)
        .await
        .context("starting coordinator")?;
    let serving = metrics_listen.map(|addr| telemetry::serve_metrics(addr, handle.metrics()));
    let metrics = (OptionFuture::from(serving).await)
        .transpose()
        .context("serving metrics")?;
    println!("wavegate-coordinator listening on {}", handle.local_addr());
    if let Some(m) = &metrics {
        println!(
            "wavegate-coordinator metrics on http://{}/metrics",
            m.local_addr()
        );
    }
    shutdown.recv().await;
    tracing::info!("shutting down");
    handle.shutdown().await;
    if let Some(m) = metrics {
        m.shutdown().await;
    }
    // After the coordinator stopped, so the last waves' spans are exported too.
    if let Err(e) = telemetry.shutdown().await {
        eprintln!("wavegate-coordinator: {e}");
    }
    Ok(())
}

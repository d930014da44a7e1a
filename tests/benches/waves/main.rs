//! Benchmarks of docs/design.md §5's performance targets against the real release binaries.
//!
//! ```text
//! cargo build --release --bins                               # the binaries under test
//! cargo bench -p wavegate-tests --bench waves                # full run (< 5 min), writes docs/benchmarks.md
//! cargo bench -p wavegate-tests --bench waves -- --quick     # short run (< 1 min), prints only
//! cargo bench -p wavegate-tests --bench waves -- --ingest-only  # the ingest run alone, with the
//!                                                            # coordinator's peak RSS per phase
//! ```
//!
//! With `RUST_LOG=info,wavegate_coordinator::timing=debug,wavegate_agent::timing=debug` the report
//! also splits close → first order at the instants the processes log
//! (`wavegate_cli::bench::first_entry`).
//!
//! Each run starts its own processes on 127.0.0.1 (coordinator on SQLite in a temp dir, paper
//! agents): the 8 × 100 grid for close → first order and peak RSS, a grid with 20 ms exchange
//! latency for the makespan, and an agent-less coordinator for ingest. Nothing is tuned away:
//! every wave is checked to have opened what it should, every ingested signal to be stored.

mod cluster;
mod first_order;
mod ingest;
mod journal;
mod makespan;
mod report;
mod wave;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::cluster::{Cluster, CoordinatorSpec, vm_hwm_kib};
use crate::report::{Results, Rss};

/// How much each part does.
#[derive(Debug, Clone, Copy)]
struct Plan {
    quick: bool,
    /// Waves for close → first order.
    first_order_waves: usize,
    /// Waves for the makespan.
    makespan_waves: usize,
    /// Signals in the one `Publish` stream.
    stream_signals: usize,
    /// `PublishWave` calls × signals per call.
    batches: usize,
    batch_signals: usize,
    /// Failure guard for the whole run (the run is bounded in time).
    guard: Duration,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                first_order_waves: 30,
                makespan_waves: 2,
                stream_signals: 200_000,
                batches: 2,
                batch_signals: 50_000,
                guard: Duration::from_secs(55),
            }
        } else {
            Plan {
                quick,
                first_order_waves: 200,
                makespan_waves: 10,
                stream_signals: 1_000_000,
                // 50 000 signals (~3 MB) per call: a PublishWave must fit the coordinator's
                // request limit (max_request_bytes, 4 MiB); larger loads stream.
                batches: 10,
                batch_signals: 50_000,
                guard: Duration::from_secs(290),
            }
        }
    }
}

/// Fails with the command that builds the binaries when one is missing.
fn check_binaries() -> anyhow::Result<()> {
    let dir = wavegate_tests::target_dir();
    for bin in ["wavegate-coordinator", "wavegate-agent"] {
        let p = dir.join(bin);
        if !p.exists() {
            bail!(
                "{} is missing: run `cargo build --release --bins` first (cargo bench does not \
                 build other packages' binaries)",
                p.display()
            );
        }
    }
    Ok(())
}

fn rss_of(cluster: &Cluster, run: &'static str, out: &mut Vec<Rss>) -> anyhow::Result<()> {
    let pid = cluster.pid(&cluster.coordinator, "wavegate-coordinator")?;
    out.push(Rss {
        run,
        process: "wavegate-coordinator".into(),
        kib: vm_hwm_kib(pid)?,
    });
    for (p, spec) in cluster.agents.iter().zip(cluster.specs()) {
        let pid = cluster.pid(p, "wavegate-agent")?;
        out.push(Rss {
            run,
            process: format!("wavegate-agent (ex{})", spec.exchange_id),
            kib: vm_hwm_kib(pid)?,
        });
    }
    Ok(())
}

async fn bench(plan: Plan) -> anyhow::Result<Results> {
    let started = Instant::now();
    let mut rss = Vec::new();

    eprintln!(
        "[1/3] grid: 8 exchanges × 100 signals, {} waves",
        plan.first_order_waves
    );
    let grid_spec = CoordinatorSpec {
        max_batch_signals: 100_000,
        exchanges_without_agent: vec![],
    };
    let grid = Cluster::start(&first_order::agents(), &grid_spec).await?;
    let first_order = first_order::run(&grid, plan.first_order_waves)
        .await
        .context("close → first order")?;
    eprintln!("      done at {:.1} s", started.elapsed().as_secs_f64());
    rss_of(&grid, "grid", &mut rss)?;
    drop(grid);

    eprintln!(
        "[2/3] makespan: {} ms per exchange call, {} waves",
        makespan::LATENCY_MS,
        plan.makespan_waves
    );
    let slow = Cluster::start(&makespan::agents(plan.makespan_waves), &grid_spec).await?;
    let makespan = makespan::run(&slow, plan.makespan_waves)
        .await
        .context("makespan")?;
    eprintln!("      done at {:.1} s", started.elapsed().as_secs_f64());
    rss_of(&slow, "makespan", &mut rss)?;
    drop(slow);

    eprintln!(
        "[3/3] ingest: {} streamed, {} × {} PublishWave",
        plan.stream_signals, plan.batches, plan.batch_signals
    );
    let sink = Cluster::start(&[], &ingest::coordinator(plan.stream_signals)).await?;
    let ingest = ingest::run(
        &sink,
        plan.stream_signals,
        plan.batches,
        plan.batch_signals,
        None,
    )
    .await
    .context("ingest")?;
    eprintln!("      done at {:.1} s", started.elapsed().as_secs_f64());
    rss_of(&sink, "ingest", &mut rss)?;
    drop(sink);

    Ok(Results {
        quick: plan.quick,
        first_order,
        makespan,
        ingest,
        rss,
        elapsed_secs: started.elapsed().as_secs_f64(),
    })
}

/// The ingest run alone, printing its rates and the coordinator's peak RSS in each phase (the
/// peak is reset between them), to find what the ingest's memory goes to.
async fn ingest_only(plan: Plan) -> anyhow::Result<()> {
    let sink = Cluster::start(&[], &ingest::coordinator(plan.stream_signals)).await?;
    let pid = sink.pid(&sink.coordinator, "wavegate-coordinator")?;
    let i = ingest::run(
        &sink,
        plan.stream_signals,
        plan.batches,
        plan.batch_signals,
        Some(pid),
    )
    .await?;
    let (stream_kib, batch_kib) = i.phase_peaks_kib.context("no peaks read")?;
    let mb = |kib: u64| kib as f64 / 1024.0;
    println!("| phase | signals/s | coordinator peak RSS (MB) |\n|---|---|---|");
    println!(
        "| one `Publish` stream of {} | {:.0} | {:.1} |",
        i.stream_signals,
        i.stream_rate(),
        mb(stream_kib)
    );
    println!(
        "| {} × {} `PublishWave` | {:.0} | {:.1} |",
        i.batches,
        i.batch_signals,
        i.batch_rate(),
        mb(batch_kib)
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --benches` runs bench binaries without `--bench`: do nothing there.
    if !args.iter().any(|a| a == "--bench") {
        eprintln!("waves: run with `cargo bench -p wavegate-tests --bench waves [-- --quick]`");
        return Ok(());
    }
    let plan = Plan::new(args.iter().any(|a| a == "--quick"));
    check_binaries()?;
    if args.iter().any(|a| a == "--ingest-only") {
        return tokio::time::timeout(plan.guard, ingest_only(plan))
            .await
            .with_context(|| format!("the bench did not finish within {:?}", plan.guard))?;
    }
    let results = tokio::time::timeout(plan.guard, bench(plan))
        .await
        .with_context(|| format!("the bench did not finish within {:?}", plan.guard))??;
    let section = report::markdown(&results);
    println!("{section}");
    if !plan.quick {
        let doc = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/benchmarks.md");
        report::write(&doc, &section).with_context(|| format!("writing {}", doc.display()))?;
        eprintln!("written to {}", doc.display());
    }
    Ok(())
}

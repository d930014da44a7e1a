//! `wavegate demo`: an in-process cluster running the sample waves with progress and results.

use chrono::Utc;
use wavegate_common::time::wave_id;

use crate::args::DemoArgs;
use crate::cluster::{Cluster, ClusterMode, ClusterSpec, any_port, demo_exchanges};
use crate::error::CliError;
use crate::follow::publish_and_follow;
use crate::input::parse_signals;
use crate::progress::{ProgressMode, WaveProgress};
use crate::report::{WaveReport, render_wave};
use crate::samples::DEMO_WAVES;

/// Publishes and follows every sample wave on a running cluster; returns their reports.
async fn run_waves(cluster: &Cluster) -> Result<Vec<WaveReport>, CliError> {
    let mut clients = cluster.clients().await?;
    let mut reports = Vec::new();
    for (name, text) in DEMO_WAVES {
        let parsed = parse_signals(name, text, crate::args::Format::Json, 900, Utc::now())
            .map_err(|errs| {
                let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
                CliError::Input(msgs.join("; "))
            })?;
        let signals: Vec<_> = parsed.into_iter().map(|p| p.signal).collect();
        println!(
            "== wave {} from {name}: {} signals",
            wave_id(signals[0].wave_timestamp()),
            signals.len()
        );
        let mut progress = WaveProgress::new(ProgressMode::auto());
        let detail = publish_and_follow(&mut clients, &signals, &mut progress).await?;
        let report = WaveReport::from_detail(&detail, false);
        println!("{}", render_wave(&report));
        reports.push(report);
    }
    Ok(reports)
}

/// Runs `demo`.
pub async fn run(args: &DemoArgs) -> Result<(), CliError> {
    let cluster = Cluster::start(ClusterSpec {
        listen: any_port(),
        data_dir: None,
        agents: demo_exchanges(any_port(), any_port(), args.latency_ms),
        bare_exchanges: Vec::new(),
        mode: ClusterMode::from_flag(args.processes),
        tuning: Default::default(),
    })
    .await?;
    println!("wavegate demo: coordinator on {}", cluster.endpoint());
    for (id, name, addr) in cluster.agents() {
        println!("  paper agent {name} (exchange {id}) on {addr}");
    }
    println!();
    let result = run_waves(&cluster).await;
    cluster.shutdown().await;
    let reports = result?;
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| r.status != "completed")
        .map(|r| r.wave_id.as_str())
        .collect();
    if !failed.is_empty() {
        return Err(CliError::Failed(format!(
            "wave(s) not completed: {}",
            failed.join(", ")
        )));
    }
    println!("demo finished: {} waves completed", reports.len());
    Ok(())
}

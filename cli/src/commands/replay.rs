//! `wavegate replay SCENARIO.json [--json]`: one wave against scripted paper exchanges.

use chrono::Utc;
use wavegate_common::proto::v1 as pb;

use crate::args::ReplayArgs;
use crate::cluster::{Cluster, ClusterMode, ClusterSpec, PaperExchange, any_port};
use crate::commands::print_json;
use crate::error::CliError;
use crate::follow::publish_and_follow;
use crate::progress::{ProgressMode, WaveProgress};
use crate::report::{WaveReport, render_wave};
use crate::scenario::{Scenario, conventional_name, load};

/// A scenario's cluster: agents with params (no defaults: stored ones are used), bare others.
pub fn spec(s: &Scenario, mode: ClusterMode) -> ClusterSpec {
    let agents = s
        .params
        .iter()
        .map(|(id, p)| PaperExchange {
            id: *id,
            name: p.exchange_name.clone(),
            listen: any_port(),
            world: s.world.get(id).cloned().unwrap_or_default(),
            latency_ms: 0,
            default_max_trades: None,
        })
        .collect();
    let bare_exchanges = s
        .exchange_ids()
        .into_iter()
        .filter(|id| !s.params.contains_key(id))
        .map(|id| (id, conventional_name(id)))
        .collect();
    ClusterSpec {
        listen: any_port(),
        data_dir: None,
        agents,
        bare_exchanges,
        mode,
        tuning: Default::default(),
    }
}

/// Stores the scenario's params, publishes its wave and waits for the result.
async fn replay(
    cluster: &Cluster,
    s: &Scenario,
    progress: &mut WaveProgress,
) -> Result<pb::WaveDetail, CliError> {
    let clients = &mut cluster.clients().await?;
    for (id, p) in &s.params {
        clients
            .params
            .set(pb::SetParamsRequest {
                exchange_id: *id,
                max_trades: p.max_trades,
                buffer_size: p.buffer_size,
                stop_loss_percent: p.stop_loss_percent,
                exchange_name: p.exchange_name.clone(),
                ..Default::default()
            })
            .await
            .map_err(|st| clients.status_error("Params.Set", &st))?;
    }
    publish_and_follow(clients, &s.signals, progress).await
}

/// Runs `replay`.
pub async fn run(args: &ReplayArgs) -> Result<(), CliError> {
    let scenario = load(&args.scenario, Utc::now())?;
    let cluster = Cluster::start(spec(&scenario, ClusterMode::from_flag(args.processes))).await?;
    let mode = if args.json {
        ProgressMode::Quiet
    } else {
        ProgressMode::auto()
    };
    let mut progress = WaveProgress::new(mode);
    let result = replay(&cluster, &scenario, &mut progress).await;
    cluster.shutdown().await;
    let report = WaveReport::from_detail(&result?, false);
    if args.json {
        return print_json(&report.without_timing());
    }
    if let Some(d) = &scenario.description {
        println!("{d}");
    }
    print!("{}", render_wave(&report));
    Ok(())
}

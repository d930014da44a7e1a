//! `wavegate dev`: the demo cluster on fixed ports until Ctrl-C, for `publish` and `watch`.

use crate::args::DevArgs;
use crate::cluster::{Cluster, ClusterMode, ClusterSpec, demo_exchanges, shown_endpoint};
use crate::error::CliError;
use wavegate_common::shutdown::ShutdownSignal;

/// Runs `dev`.
pub async fn run(args: &DevArgs) -> Result<(), CliError> {
    // Before the endpoint is announced, so an early SIGTERM still stops the cluster cleanly.
    let mut shutdown = ShutdownSignal::install()?;
    let cluster = Cluster::start(ClusterSpec {
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        agents: demo_exchanges(args.binance, args.bybit, args.latency_ms),
        bare_exchanges: Vec::new(),
        mode: ClusterMode::from_flag(args.processes),
        tuning: Default::default(),
    })
    .await?;
    let endpoint = cluster.endpoint();
    println!("wavegate dev: coordinator on {}", shown_endpoint(&endpoint));
    for (id, name, addr) in cluster.agents() {
        println!("  paper agent {name} (exchange {id}) on {addr}");
    }
    println!("  data in {}", cluster.data_dir().display());
    if cluster.mode() == ClusterMode::Processes {
        println!(
            "  processes' configs and logs in {}",
            cluster.data_dir().display()
        );
    }
    println!();
    println!("try, in another shell (watch first: it shows the wave live once published):");
    println!("  wavegate --coordinator {endpoint} watch 2026-11-24T12:00:00Z");
    println!(
        "  wavegate --coordinator {endpoint} publish examples/waves/worked-example.json --close"
    );
    println!("  wavegate --coordinator {endpoint} waves show 2026-11-24T12:00:00Z");
    println!("Ctrl-C stops.");
    // Tests and scripts read the endpoint from stdout: make sure it is out.
    use std::io::Write;
    std::io::stdout().flush()?;
    shutdown.recv().await;
    eprintln!("stopping");
    cluster.shutdown().await;
    Ok(())
}

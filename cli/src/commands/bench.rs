//! `wavegate bench`: [`crate::bench`] with a progress bar, then its tables or JSON.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::BenchArgs;
use crate::bench::{self, Plan};
use crate::commands::print_json;
use crate::error::CliError;

/// Largest accepted `--waves` (a guard against a run of hours, not a measured limit).
const MAX_WAVES: usize = 1000;
/// Largest accepted latency or round trip, ms (a wave would take minutes).
const MAX_LATENCY_MS: u64 = 10_000;

/// The plan the arguments ask for; a bad value is an input error naming the option.
pub fn plan(args: &BenchArgs) -> Result<Plan, CliError> {
    let mut plan = if args.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    if let Some(l) = &args.latencies_ms {
        if l.is_empty() {
            return Err(CliError::Input("--latencies-ms: give at least one".into()));
        }
        if let Some(bad) = l.iter().find(|v| **v > MAX_LATENCY_MS) {
            return Err(CliError::Input(format!(
                "--latencies-ms: {bad} is above {MAX_LATENCY_MS}"
            )));
        }
        plan.latencies_ms = l.clone();
    }
    if let Some(w) = args.waves {
        if w == 0 || w > MAX_WAVES {
            return Err(CliError::Input(format!(
                "--waves: must be between 1 and {MAX_WAVES}, got {w}"
            )));
        }
        plan.reps = w;
    }
    for (flag, v) in [
        ("--region-rtt-ms", args.region_rtt_ms),
        ("--region-exchange-ms", args.region_exchange_ms),
    ] {
        if v > MAX_LATENCY_MS {
            return Err(CliError::Input(format!(
                "{flag}: {v} is above {MAX_LATENCY_MS}"
            )));
        }
    }
    plan.region_rtt_ms = (!args.no_regions).then_some(args.region_rtt_ms);
    plan.region_exchange_ms = args.region_exchange_ms;
    if let Some(dir) = &args.data_dir {
        // An earlier run's databases would hold the same waves: start empty.
        let used = std::fs::read_dir(dir).map(|mut d| d.next().is_some());
        if matches!(used, Ok(true)) {
            return Err(CliError::Input(format!(
                "--data-dir {}: not empty (an earlier run's databases would be reused)",
                dir.display()
            )));
        }
    }
    plan.sqlite_sync = args.sqlite_sync.into();
    plan.data_dir = args.data_dir.clone();
    Ok(plan)
}

/// Runs `bench`.
pub async fn run(args: &BenchArgs) -> Result<(), CliError> {
    let plan = plan(args)?;
    // Drawn on standard error only when it is a terminal (indicatif hides it otherwise).
    let progress = ProgressBar::with_draw_target(
        Some(bench::total_waves(&plan)?),
        ProgressDrawTarget::stderr(),
    );
    progress.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} waves  {elapsed}  {msg}")
            .map_err(|e| CliError::Failed(format!("progress bar: {e}")))?,
    );
    let result = bench::run(&plan, &progress).await;
    progress.finish_and_clear();
    let report = result?;
    if args.json {
        print_json(&report)
    } else {
        println!("{}", bench::render::text(&report));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;
    use wavegate_coordinator::store::SqliteSync;

    use super::*;
    use crate::args::{Cli, Command};

    fn parse(argv: &[&str]) -> Result<Plan, CliError> {
        let cli = Cli::try_parse_from(argv).unwrap();
        let Command::Bench(a) = cli.command else {
            panic!("not bench");
        };
        plan(&a)
    }

    #[test]
    fn arguments_shape_the_plan_and_bad_ones_name_the_option() {
        let q = parse(&["wavegate", "bench", "--quick"]).unwrap();
        assert_eq!(q.latencies_ms, vec![0, 2, 20]);
        assert_eq!(q.region_rtt_ms, Some(80));
        assert_eq!(q.sqlite_sync, SqliteSync::Full, "the coordinator's default");
        let n = parse(&["wavegate", "bench", "--sqlite-sync", "normal"]).unwrap();
        assert_eq!(n.sqlite_sync, SqliteSync::Normal);
        assert!(
            Cli::try_parse_from(["wavegate", "bench", "--sqlite-sync", "off"]).is_err(),
            "only full and normal"
        );
        let p = parse(&[
            "wavegate",
            "bench",
            "--latencies-ms",
            "0,3",
            "--waves",
            "4",
            "--no-regions",
        ])
        .unwrap();
        assert_eq!(
            (p.latencies_ms, p.reps, p.region_rtt_ms),
            (vec![0, 3], 4, None)
        );
        let e = parse(&["wavegate", "bench", "--waves", "0"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().starts_with("--waves"), "{e}");
        let e = parse(&["wavegate", "bench", "--latencies-ms", "99999"]).unwrap_err();
        assert!(e.to_string().starts_with("--latencies-ms"), "{e}");
        let used = tempfile::tempdir().unwrap();
        std::fs::write(used.path().join("coordinator.db"), b"").unwrap();
        let e = parse(&[
            "wavegate",
            "bench",
            "--data-dir",
            used.path().to_str().unwrap(),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("not empty"), "{e}");
        assert_eq!(e.exit_code(), 2);
    }
}

//! One bench cell: a fresh cluster at one latency, mode and delay, running every sample wave.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use indicatif::ProgressBar;
use serde::Serialize;
use wavegate_coordinator::config::ExecutionMode;
use wavegate_coordinator::store::SqliteSync;

use super::breakdown::{self, Breakdown, WaveWindow};
use super::round_trip;
use super::sample::{self, Sample};
use super::stats::Summary;
use super::timing_lines::{self, CoordinatorLog};
use super::wave_run::{self, Watcher, WaveRun};
use crate::cluster::{Cluster, ClusterMode, ClusterSpec, PaperExchange, Tuning, any_port};
use crate::error::CliError;
use crate::scenario::conventional_name;

/// What a cell runs.
#[derive(Debug, Clone)]
pub struct CellSpec {
    /// Paper exchange latency per exchange call (entry, stop).
    pub latency_ms: u64,
    /// Execution mode the coordinator sends.
    pub mode: ExecutionMode,
    /// One-way delay coordinator ↔ agents (zero: direct).
    pub agent_one_way: Duration,
    /// Runs of each sample wave.
    pub reps: usize,
    /// `sqlite_sync` of the coordinator.
    pub sqlite_sync: SqliteSync,
    /// Where configs, logs and databases go (kept); `None`: a temp dir, removed.
    pub data_dir: Option<PathBuf>,
}

/// One exchange of one wave, from the stored report.
#[derive(Debug, Clone, Serialize)]
pub struct ExchangeWalk {
    /// Exchange id.
    pub exchange_id: u32,
    /// Positions opened.
    pub executed: u32,
    /// Rejected entries.
    pub failed: u32,
    /// Exchange calls: two per opened position (entry, stop), one per rejected entry.
    pub calls: u32,
    /// Top-up rounds the exchange asked for.
    pub topup_rounds: u32,
}

/// The numbers of one sample wave in one cell, over its repetitions.
#[derive(Debug, Clone, Serialize)]
pub struct SampleResult {
    /// Sample name.
    pub sample: &'static str,
    /// The coordinator's decision to close → every exchange reported, ms (µs precision from its
    /// log when it logs at `info`; else the stored ms stamps `closed_at → completed_at`).
    pub makespan_ms: Summary,
    /// The slowest exchange's calls × latency, ms.
    pub calls_ms: f64,
    /// One coordinator ↔ agent round trip, ms: the median unary `Describe` to an agent plus the
    /// delay proxy's round trip.
    pub round_trip_ms: f64,
    /// Sequential lower bound (docs/design.md §5): `calls_ms` + `round_trip_ms`.
    pub bound_ms: f64,
    /// Makespan / bound per wave (absent at latency 0).
    pub ratio: Option<Summary>,
    /// wavegate's own cost per walked signal: (makespan − `calls_ms`) / walked, ms.
    pub own_cost_per_signal_ms: Summary,
    /// Walked signals (executed + failed) of the slowest exchange.
    pub walked: u32,
    /// Each exchange's walk (the same in every repetition).
    pub exchanges: Vec<ExchangeWalk>,
    /// Where the slowest exchange's time per walked signal went (needs the timing lines).
    pub breakdown: Option<Breakdown>,
}

/// The walks of a completed wave; a missed target is an error (it would measure otherwise).
fn walks(run: &WaveRun) -> Result<Vec<ExchangeWalk>, CliError> {
    let mut v = Vec::new();
    for x in &run.detail.exchanges {
        if !x.target_reached || !x.error.is_empty() {
            return Err(CliError::Failed(format!(
                "wave {} exchange {}: target {} not reached ({} executed, error {:?})",
                run.wave_id, x.exchange_id, x.target, x.executed, x.error
            )));
        }
        v.push(ExchangeWalk {
            exchange_id: x.exchange_id,
            executed: x.executed,
            failed: x.execution_failed,
            calls: 2 * x.executed + x.execution_failed,
            topup_rounds: x.topup_rounds,
        });
    }
    Ok(v)
}

/// Starts the cluster of `spec` for `samples`.
async fn start(samples: &[Sample], spec: &CellSpec) -> Result<Cluster, CliError> {
    let agents = sample::exchange_ids(samples)
        .into_iter()
        .map(|id| PaperExchange {
            id,
            name: conventional_name(id),
            listen: any_port(),
            world: sample::world(samples, id, spec.reps),
            latency_ms: spec.latency_ms,
            // Every sample wave carries its params.
            default_max_trades: None,
        })
        .collect();
    Cluster::start(ClusterSpec {
        listen: any_port(),
        data_dir: spec.data_dir.clone(),
        agents,
        bare_exchanges: Vec::new(),
        mode: ClusterMode::Processes,
        tuning: Tuning {
            execution_mode: spec.mode,
            agent_one_way: spec.agent_one_way,
            sqlite_sync: spec.sqlite_sync,
        },
    })
    .await
}

/// Runs the cell; `progress` advances by one per wave.
pub async fn run(
    samples: &[Sample],
    spec: &CellSpec,
    progress: &ProgressBar,
) -> Result<Vec<SampleResult>, CliError> {
    let cluster = start(samples, spec).await?;
    let dir = cluster.data_dir().to_owned();
    let round_trip = round_trip_ms(&cluster).await;
    let runs = waves(&cluster, samples, spec, progress).await;
    // After shutdown every log line is written; a temporary dir lives until `_temp` drops.
    let _temp = cluster.shutdown().await;
    let logged = timing_lines::read_coordinator(&dir.join("coordinator.log"));
    // The proxy delays the coordinator's calls, not this direct one.
    let round_trip = round_trip? + spec.agent_one_way.as_secs_f64() * 2e3;
    let mut results = samples
        .iter()
        .zip(runs?)
        .map(|(s, runs)| summarise(s.name, &runs, spec.latency_ms, round_trip, &logged))
        .collect::<Result<Vec<_>, _>>()?;
    if let (Some(dir), ExecutionMode::Sequential) = (&spec.data_dir, spec.mode) {
        for r in &mut results {
            r.result.breakdown = r.slowest.and_then(|id| {
                let log = dir.join(format!("agent-{id}.log"));
                let waves = timing_lines::read_agent_waves(&log);
                for w in &mut r.windows {
                    w.1.agent = waves.get(&w.0).copied();
                }
                let windows: Vec<WaveWindow> = r.windows.iter().map(|w| w.1).collect();
                breakdown::of_walks(&windows, &timing_lines::read_orders(&log))
            });
        }
    }
    Ok(results.into_iter().map(|r| r.result).collect())
}

/// Unary `Describe` calls timed for the bound's round trip.
const ROUND_TRIPS: usize = 20;

/// The median round trip to the cluster's first agent, ms (loopback, no proxy).
async fn round_trip_ms(cluster: &Cluster) -> Result<f64, CliError> {
    let (_, _, addr) = (cluster.agents().into_iter().next())
        .ok_or_else(|| CliError::Failed("the bench cluster has no agent".into()))?;
    round_trip::median_ms(&format!("http://{addr}"), ROUND_TRIPS).await
}

/// A sample's result with what its breakdown needs.
struct Measured {
    result: SampleResult,
    /// The slowest exchange.
    slowest: Option<u32>,
    /// Each wave's id and window (the slowest exchange's call in it).
    windows: Vec<(String, WaveWindow)>,
}

async fn waves(
    cluster: &Cluster,
    samples: &[Sample],
    spec: &CellSpec,
    progress: &ProgressBar,
) -> Result<Vec<Vec<WaveRun>>, CliError> {
    let mut clients = cluster.clients().await?;
    let mut watcher = Watcher::start(&mut clients).await?;
    let now = Utc::now();
    let mut runs: Vec<Vec<WaveRun>> = samples.iter().map(|_| Vec::new()).collect();
    for r in 0..spec.reps {
        for (i, s) in samples.iter().enumerate() {
            let rep = sample::repetition(i, r, samples.len());
            let ts = sample::wave_timestamp(now, rep);
            let run = wave_run::run(&mut clients, &mut watcher, ts, s.signals(rep, ts)).await?;
            runs[i].push(run);
            progress.inc(1);
        }
    }
    Ok(runs)
}

/// `logged`: the coordinator's log (each wave's makespan in µs, else the ms stamps are used).
fn summarise(
    sample: &'static str,
    runs: &[WaveRun],
    latency_ms: u64,
    round_trip_ms: f64,
    logged: &CoordinatorLog,
) -> Result<Measured, CliError> {
    let latency = latency_ms as f64;
    let (mut spans, mut ratios, mut own) = (vec![], vec![], vec![]);
    let (mut calls_ms, mut walked, mut exchanges) = (0.0, 0, vec![]);
    let (mut slowest_id, mut windows) = (None, vec![]);
    for run in runs {
        exchanges = walks(run)?;
        let slowest = exchanges
            .iter()
            .max_by_key(|x| x.calls)
            .ok_or_else(|| CliError::Failed(format!("wave {} has no exchanges", run.wave_id)))?;
        slowest_id = Some(slowest.exchange_id);
        let exact = logged.makespans.get(&run.wave_id).copied();
        let claim = logged.claims.get(&run.wave_id).copied();
        if let Some((closed, completed)) = window(run) {
            // From the decision to close, to the µs, when the coordinator logs it.
            let start_us = claim.map_or(closed, |c| c.decided_us);
            let w = WaveWindow {
                start_us,
                end_us: exact.map_or(completed, |us| start_us + us),
                exact: exact.is_some() && claim.is_some(),
                claim,
                call_us: (logged.calls)
                    .get(&(run.wave_id.clone(), slowest.exchange_id))
                    .copied(),
                result_us: (logged.results)
                    .get(&(run.wave_id.clone(), slowest.exchange_id))
                    .copied(),
                agent: None,
            };
            windows.push((run.wave_id.clone(), w));
        }
        calls_ms = f64::from(slowest.calls) * latency;
        walked = slowest.executed + slowest.failed;
        let span = match exact {
            Some(us) => us as f64 / 1e3,
            None => run.makespan_ms()?,
        };
        spans.push(span);
        if calls_ms > 0.0 {
            ratios.push(span / (calls_ms + round_trip_ms));
        }
        own.push((span - calls_ms) / f64::from(walked.max(1)));
    }
    Ok(Measured {
        result: SampleResult {
            sample,
            makespan_ms: Summary::of(&spans),
            calls_ms,
            round_trip_ms,
            bound_ms: calls_ms + round_trip_ms,
            ratio: (!ratios.is_empty()).then(|| Summary::of(&ratios)),
            own_cost_per_signal_ms: Summary::of(&own),
            walked,
            exchanges,
            breakdown: None,
        },
        slowest: slowest_id,
        windows,
    })
}

/// The coordinator's `(closed_at, completed_at)` of a wave, µs since the epoch.
fn window(run: &WaveRun) -> Option<(i64, i64)> {
    let s = run.detail.summary.as_ref()?;
    let at = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .and_then(wavegate_common::time::from_proto)
            .map(|t| t.timestamp_micros())
    };
    Some((at(&s.closed_at)?, at(&s.completed_at)?))
}

//! `wavegate bench`: how long a wave takes with the real binaries on loopback, and how much is
//! wavegate's own cost. **grid**: the sample waves at several paper latencies, sequential and
//! windowed, against the sequential lower bound; **regions**: coordinator and agents far apart
//! (`crate::delay_proxy::DelayProxy`), against the reference's one process far from every
//! exchange. [`stats`], [`wave_run`], [`round_trip`] and [`timing_lines`] are shared with the
//! repository's `waves` bench; [`first_entry`] is that bench's, kept here beside the
//! [`breakdown`] whose cut points it uses.

pub mod breakdown;
pub mod cell;
pub mod first_entry;
pub mod render;
pub mod round_trip;
pub mod sample;
pub mod stats;
pub mod timing_lines;
pub mod wave_run;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use serde::Serialize;
use wavegate_coordinator::config::ExecutionMode;
use wavegate_coordinator::store::SqliteSync;

use self::cell::{CellSpec, SampleResult};
use self::sample::Sample;
use crate::error::CliError;

/// What a bench run does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Paper latencies of the grid, ms per exchange call.
    pub latencies_ms: Vec<u64>,
    /// Runs of each sample wave per cell.
    pub reps: usize,
    /// Coordinator ↔ agents round trip of the regions part, ms; `None` skips the part.
    pub region_rtt_ms: Option<u64>,
    /// Agent ↔ exchange latency per call in the regions part, ms.
    pub region_exchange_ms: u64,
    /// `sqlite_sync` of the coordinator (its default `full`: an fsync per commit).
    pub sqlite_sync: SqliteSync,
    /// Keep each cell's configs, process logs and databases in a subdirectory of this.
    pub data_dir: Option<PathBuf>,
}

impl Plan {
    /// `--quick`: under a minute on a 2-core machine.
    pub fn quick() -> Self {
        Self {
            latencies_ms: vec![0, 2, 20],
            reps: 2,
            region_rtt_ms: Some(80),
            region_exchange_ms: 2,
            sqlite_sync: SqliteSync::Full,
            data_dir: None,
        }
    }

    /// The default run.
    pub fn full() -> Self {
        Self {
            latencies_ms: vec![0, 1, 2, 5, 20],
            reps: 10,
            region_rtt_ms: Some(80),
            region_exchange_ms: 2,
            sqlite_sync: SqliteSync::Full,
            data_dir: None,
        }
    }

    /// The cells of the grid and of the regions part, in run order.
    fn cells(&self) -> Vec<(Part, CellSpec)> {
        let mut v = Vec::new();
        for &latency_ms in &self.latencies_ms {
            for mode in [ExecutionMode::Sequential, ExecutionMode::Windowed] {
                let spec = CellSpec {
                    latency_ms,
                    mode,
                    agent_one_way: Duration::ZERO,
                    reps: self.reps,
                    sqlite_sync: self.sqlite_sync,
                    data_dir: None,
                };
                v.push((Part::Grid, spec));
            }
        }
        if let Some(rtt) = self.region_rtt_ms {
            let near = |mode| CellSpec {
                latency_ms: self.region_exchange_ms,
                mode,
                // Half the round trip each way.
                agent_one_way: Duration::from_micros(rtt * 500),
                reps: self.reps,
                sqlite_sync: self.sqlite_sync,
                data_dir: None,
            };
            v.push((Part::AgentsNearExchange, near(ExecutionMode::Sequential)));
            v.push((Part::AgentsNearExchange, near(ExecutionMode::Windowed)));
            v.push((
                Part::Reference,
                CellSpec {
                    latency_ms: rtt + self.region_exchange_ms,
                    mode: ExecutionMode::Sequential,
                    agent_one_way: Duration::ZERO,
                    reps: self.reps,
                    sqlite_sync: self.sqlite_sync,
                    data_dir: None,
                },
            ));
        }
        if let Some(dir) = &self.data_dir {
            for (i, (part, spec)) in v.iter_mut().enumerate() {
                let name = format!(
                    "{i:02}-{}-{}ms-{}",
                    part.slug(),
                    spec.latency_ms,
                    spec.mode.slug()
                );
                spec.data_dir = Some(dir.join(name));
            }
        }
        v
    }
}

/// Which part of the bench a cell belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The latency grid, coordinator and agents side by side.
    Grid,
    /// Regions: agents next to their exchange, the coordinator a long round trip away.
    AgentsNearExchange,
    /// Regions: the reference's layout, every exchange call paying the long round trip.
    Reference,
}

impl Part {
    /// Directory-name form.
    fn slug(self) -> &'static str {
        match self {
            Part::Grid => "grid",
            Part::AgentsNearExchange => "near",
            Part::Reference => "reference",
        }
    }
}

/// Directory-name form of an execution mode.
trait Slug {
    fn slug(self) -> &'static str;
}

impl Slug for ExecutionMode {
    fn slug(self) -> &'static str {
        match self {
            ExecutionMode::Sequential => "sequential",
            ExecutionMode::Windowed => "windowed",
        }
    }
}

/// One cell's results.
#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    /// Part of the bench.
    pub part: Part,
    /// Paper latency per exchange call, ms.
    pub latency_ms: u64,
    /// `sequential` or `windowed`.
    pub mode: ExecutionMode,
    /// Coordinator ↔ agent round trip added by the delay proxy, ms.
    pub agent_rtt_ms: f64,
    /// Per sample wave.
    pub samples: Vec<SampleResult>,
}

/// A whole bench run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `wavegate` version.
    pub version: &'static str,
    /// Logical CPUs of this machine.
    pub cpus: usize,
    /// 1-minute load average when the run started (Linux), for judging the numbers.
    pub load_before: Option<f64>,
    /// Runs of each sample wave per cell.
    pub reps: usize,
    /// `sqlite_sync` of the coordinator.
    pub sqlite_sync: SqliteSync,
    /// Wall time of the run, s.
    pub elapsed_secs: f64,
    /// Every cell, in run order.
    pub cells: Vec<CellResult>,
}

/// Waves the plan runs, for a progress bar.
pub fn total_waves(plan: &Plan) -> Result<u64, CliError> {
    let n = sample::samples()?.len();
    Ok((plan.cells().len() * plan.reps * n) as u64)
}

/// The 1-minute load average from `/proc/loadavg`, where there is one.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs `plan`; `progress` advances by one per wave and shows the current cell.
pub async fn run(plan: &Plan, progress: &ProgressBar) -> Result<Report, CliError> {
    let started = Instant::now();
    let load_before = load_average();
    let samples: Vec<Sample> = sample::samples()?;
    let mut cells = Vec::new();
    for (part, spec) in plan.cells() {
        progress.set_message(format!(
            "{part:?}: {} ms per call, {:?}",
            spec.latency_ms, spec.mode
        ));
        let results = cell::run(&samples, &spec, progress).await?;
        cells.push(CellResult {
            part,
            latency_ms: spec.latency_ms,
            mode: spec.mode,
            agent_rtt_ms: spec.agent_one_way.as_secs_f64() * 2e3,
            samples: results,
        });
    }
    Ok(Report {
        version: env!("CARGO_PKG_VERSION"),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        load_before,
        reps: plan.reps,
        sqlite_sync: plan.sqlite_sync,
        elapsed_secs: started.elapsed().as_secs_f64(),
        cells,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_runs_the_plans_coordinator_sync() {
        let plan = Plan {
            sqlite_sync: SqliteSync::Normal,
            ..Plan::quick()
        };
        let cells = plan.cells();
        // The grid (3 latencies × 2 modes) and the regions part (3 cells).
        assert_eq!(cells.len(), 9);
        assert!(
            cells
                .iter()
                .all(|(_, c)| c.sqlite_sync == SqliteSync::Normal)
        );
    }
}

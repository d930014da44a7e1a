//! docs/design.md §5 target 1: from wave close to the first order reaching the exchange, p99 < 1 ms,
//! with 8 exchanges × 100 signals on paper exchanges with zero latency.
//!
//! Two measurements per wave:
//! - **exact**: the coordinator's decision to close (its `wave closed and claimed` log
//!   timestamp, µs, minus its `close_us`, the time closing took, the claim's transaction
//!   included) → the earliest entry order the paper exchanges recorded for the wave
//!   (`paper_orders.created_at`, ns). Same host, same wall clock.
//! - **client**: the close call's return → the first execution `SignalOutcome` on
//!   `Waves.Watch`, an upper bound of close → order at the exchange as a client sees it.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use wavegate_cli::bench::first_entry::{self, AgentLines, FirstEntry, Split};
use wavegate_cli::bench::stats::Summary;
use wavegate_cli::bench::timing_lines::{read_agent_waves, read_coordinator, read_orders};
use wavegate_cli::bench::wave_run::{self, Watcher};
use wavegate_common::time::{floor_to_interval, from_proto};

use crate::cluster::{AgentSpec, Cluster, past_candle};
use crate::journal::{closed_and_claimed, paper_orders};
use crate::wave::{signals, wave_of_symbol};

/// Exchanges of the grid.
pub const EXCHANGES: u32 = 8;
/// Signals per exchange per wave.
pub const SIGNALS_PER_EXCHANGE: usize = 100;
/// Target per exchange.
pub const MAX_TRADES: u32 = 10;

/// Results of the close → first order runs.
#[derive(Debug)]
pub struct FirstOrder {
    /// Waves run.
    pub waves: usize,
    /// Coordinator close log line → first entry recorded by a paper exchange, ms.
    pub exact: Summary,
    /// Where the close instant came from (`log` or the ms-precision `closed_at` fallback).
    pub exact_source: &'static str,
    /// Close call returned → first execution outcome on Watch, ms.
    pub client: Summary,
    /// Close call sent → close call returned, ms.
    pub close_call: Summary,
    /// Close call returned → `completed` event, ms (whole wave, 80 orders).
    pub wave: Summary,
    /// Positions opened per wave (must be 8 × max_trades).
    pub executed_per_wave: u32,
    /// Close → first order cut at the processes' timing lines, when they were logged.
    pub split: Option<Split>,
}

/// The grid's agents: paper, zero latency, nothing scripted to fail.
pub fn agents() -> Vec<AgentSpec> {
    (1..=EXCHANGES)
        .map(|exchange_id| AgentSpec {
            exchange_id,
            latency_ms: 0,
            exec_fail: vec![],
        })
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ms_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from)
        .num_nanoseconds()
        .map_or(f64::NAN, |n| n as f64 / 1e6)
}

/// Runs `waves` waves one after another on `cluster` (started with [`agents`]).
pub async fn run(cluster: &Cluster, waves: usize) -> anyhow::Result<FirstOrder> {
    let mut clients = cluster.clients().await?;
    let mut watcher = Watcher::start(&mut clients).await?;
    let exchanges: Vec<(u32, u32)> = (1..=EXCHANGES).map(|e| (e, MAX_TRADES)).collect();
    let base = floor_to_interval(Utc::now(), 900);
    let mut runs = Vec::with_capacity(waves);
    for w in 0..waves {
        let ts = past_candle(base, w);
        let sigs = signals(w, &exchanges, SIGNALS_PER_EXCHANGE, ts);
        let r = wave_run::run(&mut clients, &mut watcher, ts, sigs).await?;
        let executed = r
            .detail
            .summary
            .as_ref()
            .and_then(|s| s.totals.as_ref())
            .map_or(0, |t| t.total_executed);
        if executed != EXCHANGES * MAX_TRADES {
            bail!("wave {} opened {executed} positions", r.wave_id);
        }
        runs.push((w, r));
    }
    // Earliest entry per bench wave over all paper exchanges, with its exchange.
    let mut first_entry: HashMap<usize, (DateTime<Utc>, u32)> = HashMap::new();
    for spec in cluster.specs() {
        for o in paper_orders(&cluster.journal(spec.exchange_id)).await? {
            let Some(w) = wave_of_symbol(&o.symbol) else {
                continue;
            };
            if o.kind == "entry" {
                let e = first_entry
                    .entry(w)
                    .or_insert((o.created_at, spec.exchange_id));
                *e = (*e).min((o.created_at, spec.exchange_id));
            }
        }
    }
    let logged = closed_and_claimed(&cluster.coordinator.log_text());
    let exact_source = if runs.iter().all(|(_, r)| logged.contains_key(&r.wave_id)) {
        "coordinator log (µs)"
    } else {
        "closed_at (ms, truncated)"
    };
    let (mut exact, mut client_ms, mut close_call, mut whole) = (vec![], vec![], vec![], vec![]);
    for (w, r) in &runs {
        let closed = match logged.get(&r.wave_id) {
            Some(t) if exact_source.starts_with("coordinator") => *t,
            _ => r
                .detail
                .summary
                .as_ref()
                .and_then(|s| s.closed_at.as_ref())
                .and_then(from_proto)
                .context("wave without closed_at")?,
        };
        let (first, _) = first_entry
            .get(w)
            .with_context(|| format!("no entry order of wave {} in any journal", r.wave_id))?;
        exact.push(ms_between(closed, *first));
        let first_exec = r
            .first_execution
            .with_context(|| format!("no execution outcome of wave {} on Watch", r.wave_id))?;
        client_ms.push(ms(first_exec.saturating_duration_since(r.close_returned)));
        close_call.push(ms(r.close_returned - r.close_sent));
        whole.push(ms(r.completed - r.close_returned));
    }
    let firsts: Vec<FirstEntry> = runs
        .iter()
        .filter_map(|(w, r)| {
            let (at, exchange_id) = first_entry.get(w)?;
            Some(FirstEntry {
                wave_id: r.wave_id.clone(),
                exchange_id: *exchange_id,
                recorded_us: at.timestamp_micros(),
            })
        })
        .collect();
    let agents: HashMap<u32, AgentLines> = cluster
        .specs()
        .iter()
        .zip(&cluster.agents)
        .map(|(spec, p)| {
            let lines = AgentLines {
                waves: read_agent_waves(p.log_path()),
                orders: read_orders(p.log_path()),
            };
            (spec.exchange_id, lines)
        })
        .collect();
    let coordinator = read_coordinator(cluster.coordinator.log_path());
    Ok(FirstOrder {
        split: first_entry::split(&coordinator, &agents, &firsts),
        waves,
        exact: Summary::of(&exact),
        exact_source,
        client: Summary::of(&client_ms),
        close_call: Summary::of(&close_call),
        wave: Summary::of(&whole),
        executed_per_wave: EXCHANGES * MAX_TRADES,
    })
}

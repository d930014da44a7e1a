//! docs/design.md §5 target 2: wave makespan within 5% of its lower bound, `max over exchanges of
//! (orders in the walk × exchange latency)` plus one coordinator↔agent round trip.
//!
//! Eight paper exchanges with `latency_ms` = [`LATENCY_MS`] and different walk lengths
//! (targets 2, 4, … 16; 0–2 rejected entries each), sequential execution. The paper exchange
//! spends the latency on every call: an opened position is two calls (market entry, then the
//! protective stop, which needs the fill price, docs/design.md §3), a rejected entry one. So the bound
//! is computed twice: per exchange call (the physical bound) and per walked signal (the
//! formula read literally). Calls are counted from the paper exchanges' own order records.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::bail;
use chrono::Utc;
use wavegate_cli::bench::round_trip;
use wavegate_cli::bench::stats::Summary;
use wavegate_cli::bench::wave_run::{self, Watcher};
use wavegate_common::time::floor_to_interval;

use crate::cluster::{AgentSpec, Cluster};
use crate::journal::paper_orders;
use crate::wave::{signals, symbol, wave_of_symbol};

/// Simulated latency of each paper exchange call.
pub const LATENCY_MS: u64 = 20;
const EXCHANGES: u32 = 8;
const SIGNALS_PER_EXCHANGE: usize = 100;
/// Unary round trips sampled for the bound's round-trip term.
const RTT_SAMPLES: usize = 50;

fn max_trades(exchange_id: u32) -> u32 {
    2 * exchange_id
}

/// Ranks whose entry the exchange rejects (never more than `buffer_fixed` = 3: no top-up).
fn failing_ranks(exchange_id: u32) -> Vec<usize> {
    [1, 4]
        .into_iter()
        .take((exchange_id % 3) as usize)
        .collect()
}

/// The agents, scripted for `waves` waves.
pub fn agents(waves: usize) -> Vec<AgentSpec> {
    (1..=EXCHANGES)
        .map(|exchange_id| AgentSpec {
            exchange_id,
            latency_ms: LATENCY_MS,
            exec_fail: (0..waves)
                .flat_map(|w| {
                    failing_ranks(exchange_id)
                        .into_iter()
                        .map(move |r| symbol(w, r))
                })
                .collect(),
        })
        .collect()
}

/// One exchange of one wave.
#[derive(Debug, Clone)]
pub struct ExchangeWalk {
    /// Exchange id.
    pub exchange_id: u32,
    /// max_trades.
    pub target: u32,
    /// Positions opened.
    pub executed: u32,
    /// Rejected entries.
    pub failed: u32,
    /// Exchange calls the paper exchange recorded (entries, stops, closes).
    pub calls: u32,
    /// Close call returned → this exchange's `exchange_finished` on Watch, ms.
    pub finished_ms: f64,
}

/// Results of the makespan runs.
#[derive(Debug)]
pub struct Makespan {
    /// Median bench→agent unary gRPC round trip (Describe), ms.
    pub rtt_ms: f64,
    /// Coordinator `closed_at → completed_at` per wave, ms (ms-precision stamps).
    pub makespan: Summary,
    /// Client: close call returned → `completed` on Watch, ms.
    pub client: Summary,
    /// Lower bound counting exchange calls, ms (same every wave).
    pub bound_calls_ms: f64,
    /// Lower bound counting walked signals (formula read literally), ms.
    pub bound_signals_ms: f64,
    /// Makespan / call bound, per wave.
    pub ratio_calls: Summary,
    /// Makespan / signal bound, per wave.
    pub ratio_signals: Summary,
    /// The last wave's exchanges.
    pub walks: Vec<ExchangeWalk>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `waves` waves on `cluster` (started with [`agents`]`(waves)`).
pub async fn run(cluster: &Cluster, waves: usize) -> anyhow::Result<Makespan> {
    let rtt_ms = round_trip::median_ms(&cluster.agents[0].endpoint(), RTT_SAMPLES).await?;
    let mut clients = cluster.clients().await?;
    let mut watcher = Watcher::start(&mut clients).await?;
    let exchanges: Vec<(u32, u32)> = (1..=EXCHANGES).map(|e| (e, max_trades(e))).collect();
    let base = floor_to_interval(Utc::now(), 900);
    let mut runs = Vec::with_capacity(waves);
    for w in 0..waves {
        let ts = crate::cluster::past_candle(base, w);
        let sigs = signals(w, &exchanges, SIGNALS_PER_EXCHANGE, ts);
        runs.push(wave_run::run(&mut clients, &mut watcher, ts, sigs).await?);
    }
    // Exchange calls per (wave, exchange), from the paper exchanges' records.
    let mut calls: HashMap<(usize, u32), u32> = HashMap::new();
    for spec in cluster.specs() {
        for o in paper_orders(&cluster.journal(spec.exchange_id)).await? {
            if let Some(w) = wave_of_symbol(&o.symbol) {
                *calls.entry((w, spec.exchange_id)).or_default() += 1;
            }
        }
    }
    let latency = LATENCY_MS as f64;
    let (mut spans, mut client_ms, mut r_calls, mut r_signals) = (vec![], vec![], vec![], vec![]);
    let (mut bound_calls_ms, mut bound_signals_ms, mut walks) = (0.0, 0.0, vec![]);
    for (w, r) in runs.iter().enumerate() {
        let span = r.makespan_ms()?;
        walks = Vec::with_capacity(r.detail.exchanges.len());
        for st in &r.detail.exchanges {
            let c = calls.get(&(w, st.exchange_id)).copied().unwrap_or(0);
            if st.executed != st.target || c != 2 * st.executed + st.execution_failed {
                bail!(
                    "wave {} exchange {}: unexpected walk {st:?}, {c} calls",
                    r.wave_id,
                    st.exchange_id
                );
            }
            let finished = r.exchange_finished.get(&st.exchange_id).copied();
            walks.push(ExchangeWalk {
                exchange_id: st.exchange_id,
                target: st.target,
                executed: st.executed,
                failed: st.execution_failed,
                calls: c,
                finished_ms: finished.map_or(f64::NAN, |f| ms(f - r.close_returned)),
            });
        }
        bound_calls_ms = walks
            .iter()
            .map(|x| x.calls as f64 * latency)
            .fold(0.0, f64::max)
            + rtt_ms;
        bound_signals_ms = walks
            .iter()
            .map(|x| f64::from(x.executed + x.failed) * latency)
            .fold(0.0, f64::max)
            + rtt_ms;
        spans.push(span);
        client_ms.push(ms(r.completed - r.close_returned));
        r_calls.push(span / bound_calls_ms);
        r_signals.push(span / bound_signals_ms);
    }
    Ok(Makespan {
        rtt_ms,
        makespan: Summary::of(&spans),
        client: Summary::of(&client_ms),
        bound_calls_ms,
        bound_signals_ms,
        ratio_calls: Summary::of(&r_calls),
        ratio_signals: Summary::of(&r_signals),
        walks,
    })
}

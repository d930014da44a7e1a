//! Dispatch of a claimed wave: params, every exchange concurrently with bounded retries,
//! outcomes stored off the critical path, the lease renewed, then the completion.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tracing::{Instrument as _, Span};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::wave_event::Event;
use wavegate_common::rank::group_by_exchange;
use wavegate_common::stats::{ExchangeStats, ParamsSource};
use wavegate_common::telemetry::propagation::SpanContext;
use wavegate_common::timing::ExchangeTiming;
use wavegate_common::{ExchangeId, Signal};

use crate::error::CoordinatorError;
use crate::params::{dispatched_params, exchange_name, wave_updates};
use crate::report;
use crate::session::{AttemptError, ExchangeRun, Known, OutcomeSink, attempt};
use crate::spans;
use crate::state::{Core, secs};
use crate::store::{ByExchange, NewEvent, WaveParams, WaveRow, WaveStatus, from_ms, ms};
use crate::verify::RESULT_MISMATCH;

mod backoff;
mod outcome_writer;
pub mod stamps;

use backoff::Backoff;
pub use outcome_writer::Written;

const NO_RESULT: &str = "no result before the wave deadline";

/// One exchange's result: statistics and final outcomes.
pub type ExchangeResult = (ExchangeStats, Vec<pb::SignalOutcome>, ExchangeTiming);

/// A just-claimed wave with what its claim settled: the close → first order path.
#[derive(Debug)]
pub struct Claimed {
    /// The row as the claim left it, so it is not read back.
    pub row: WaveRow,
    /// The wave's signals by exchange, in rank order.
    pub groups: BTreeMap<ExchangeId, Vec<Signal>>,
    /// The params each exchange is dispatched with, already recorded on the wave.
    pub params: WaveParams,
    /// The decision to close (monotonic): the makespan's start, to the µs. The stored
    /// `closed_at` is whole ms, up to 1 ms after it.
    pub decided: std::time::Instant,
}

/// Dispatches a claimed wave to completion; `claimed` is `None` for a resumed wave.
pub async fn run_wave(
    core: &Arc<Core>,
    wave_id: &str,
    claimed: Option<Claimed>,
    closed_by: Option<SpanContext>,
) -> Result<(), CoordinatorError> {
    let started = tokio::time::Instant::now();
    let (row, groups, params, decided) = match claimed {
        Some(c) => (c.row, c.groups, Some(c.params), Some(c.decided)),
        None => {
            core.signals.forget(wave_id);
            let Some(row) = core.store.wave(wave_id).await? else {
                return Err(CoordinatorError::NotFound(format!("wave {wave_id}")));
            };
            if row.status != WaveStatus::Dispatching || row.owner.as_deref() != Some(&core.owner) {
                return Ok(());
            }
            // A resumed wave may have been cancelled under a previous dispatch: it stops
            // again. A fresh one skips the read; a cancel reaches it through `core.running`.
            if let Some(reason) = core.store.cancel_reason(wave_id).await? {
                tracing::info!(wave_id, %reason, "resumed wave was cancelled: its exchanges are stopped");
                core.running.cancel(wave_id, &reason);
            }
            tracing::debug!(wave_id, "wave signals read from the database");
            let signals = core.store.wave_signals(wave_id, row.wave_timestamp).await?;
            (row, group_by_exchange(signals), None, None)
        }
    };
    let total: usize = groups.values().map(Vec::len).sum();
    let total_signals = u32::try_from(total).unwrap_or(u32::MAX);
    let span = spans::wave(wave_id, total_signals, groups.len(), closed_by);
    let result = dispatch_groups(core, &row, total_signals, groups, params, decided, &span)
        .instrument(span.clone())
        .await;
    match &result {
        Ok(Some(done)) => {
            spans::wave_finished(&span, done.status.as_str(), done.positions_opened);
            core.metrics.wave_finished(done.status, started.elapsed());
        }
        Ok(None) => {}
        Err(e) => spans::record_error(&span, &e.to_string()),
    }
    result.map(|_| ())
}

/// Params, the exchanges in parallel, the completion; `None` when taken over.
async fn dispatch_groups(
    core: &Arc<Core>,
    row: &WaveRow,
    total_signals: u32,
    groups: BTreeMap<ExchangeId, Vec<Signal>>,
    params: Option<WaveParams>,
    decided: Option<std::time::Instant>,
    wave_span: &Span,
) -> Result<Option<report::Done>, CoordinatorError> {
    let wave_id = row.id.as_str();
    let params = match params {
        Some(p) => p,
        None => match resumed_params(core, row, &groups).await? {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    let deadline = row
        .deadline_at
        .unwrap_or_else(|| Utc::now() + secs(core.cfg.waves.deadline_secs));

    // Ends when another coordinator took the wave over; aborted with this dispatch.
    let mut renewer = AbortOnDrop(tokio::spawn(renew_lease(core.clone(), wave_id.to_owned())));
    let (tx, rx) = mpsc::unbounded_channel();
    let finish = outcome_writer::Finish::default();
    // Aborted if this dispatch ends early (lease lost): the new owner writes the outcomes.
    let mut writer = AbortOnDrop(tokio::spawn(outcome_writer::run(
        core.store.clone(),
        wave_id.to_owned(),
        rx,
        finish.clone(),
    )));
    let sink = OutcomeSink {
        wave_id: wave_id.to_owned(),
        hub: core.hub.clone(),
        tx,
        metrics: core.metrics.clone(),
    };
    // Each exchange's params, looked up once; only exchanges with params make a call, and
    // each call waits its turns (below).
    let each: Vec<Option<pb::ExchangeParams>> = (groups.keys())
        .map(|ex| params.get(ex).cloned().flatten())
        .collect();
    let turns = call_turns(each.iter().map(Option::is_some));
    let runs = groups
        .iter()
        .zip(each)
        .zip(turns)
        .map(|(((ex, sigs), params), wait)| {
            let name = params
                .as_ref()
                .map(|p| p.exchange_name.clone())
                .unwrap_or_else(|| exchange_name(&core.cfg, *ex, None));
            let span = spans::exchange(wave_span, *ex, &name, params.as_ref());
            let run = run_exchange(core, row, *ex, sigs, params, deadline, &sink, span.clone());
            async move {
                // One turn of the runtime per earlier call before this one is built, lowest exchange
                // id first: the calls already made reach their connections' tasks (and the wire)
                // before the next is built, not after all of them in this task's one poll. The
                // price: the n-th call waits n turns, longer when the runtime is busy.
                for _ in 0..wait {
                    tokio::task::yield_now().await;
                }
                run.await
            }
            .instrument(span)
        });
    let results: Vec<ExchangeResult> = tokio::select! {
        r = futures::future::join_all(runs) => r,
        _ = &mut renewer.0 => {
            // The new owner re-sends the wave; stop driving the agents from here.
            tracing::warn!(wave_id, "dispatch lease lost: stopping this coordinator's dispatch");
            return Ok(None);
        }
    };
    // Every exchange has reported: the makespan ends here. Storing follows (`store_us`).
    let ended = report::Ended::now();
    // The writer ends its transaction in flight (none of its writes can follow the
    // completion's) and hands back the rest for the completion's one transaction.
    finish.now();
    drop(sink);
    let written = (&mut writer.0).await.unwrap_or_else(|e| {
        // Only a panic: with nothing known committed, the completion writes every final outcome.
        tracing::error!(wave_id, error = %e, "outcome writer failed");
        Written::default()
    });
    drop(renewer);
    let timing = report::Timing { decided, ended };
    report::complete(core, row, timing, total_signals, results, written).await
}

/// docs/design.md §1 step 1 for a resumed wave: what its first dispatch recorded, or, for a
/// wave claimed without params ([`crate::store::Store::claim`]), the same step as on a claim,
/// in one transaction before any agent is contacted. `None` when the wave was taken over.
async fn resumed_params(
    core: &Core,
    row: &WaveRow,
    groups: &BTreeMap<ExchangeId, Vec<Signal>>,
) -> Result<Option<WaveParams>, CoordinatorError> {
    if let Some(p) = core.store.wave_params(&row.id).await? {
        tracing::debug!(wave_id = %row.id, "params as first dispatched");
        return Ok(Some(p));
    }
    let stored = core.params.refresh(&core.store).await?;
    let updates = wave_updates(&core.cfg, &stored, groups);
    // As of the claim (millisecond precision, as stored): a params row written after it — a
    // later wave, a `Params.Set` — is newer and stands, also when this wave is resumed late.
    let as_of = row.closed_at.unwrap_or_else(|| from_ms(ms(Utc::now())));
    let choose = |written: &ByExchange, stood: &ByExchange| {
        dispatched_params(&core.cfg, &stored, groups, written, stood)
    };
    let Some((params, written)) = core
        .store
        .commit_wave_params(&row.id, &core.owner, &updates, as_of, choose)
        .await?
    else {
        return Ok(None);
    };
    for p in written {
        core.params.put(p);
    }
    Ok(Some(params))
}

/// The runtime turns each exchange's call waits before it is built, in dispatch order, given
/// whether each makes a call: one per earlier call, so the first call leaves at once and each
/// later one after the earlier ones have reached their connections' tasks. An exchange without
/// params makes no call and costs the later ones no turn.
fn call_turns(makes_call: impl IntoIterator<Item = bool>) -> Vec<u32> {
    makes_call
        .into_iter()
        .scan(0u32, |calls_before, makes| {
            let wait = *calls_before;
            *calls_before += u32::from(makes);
            Some(wait)
        })
        .collect()
}

/// Aborts its task when dropped (on every exit of a dispatch, also when it is aborted).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Renews the wave's lease until it is lost to another coordinator (then returns).
async fn renew_lease(core: Arc<Core>, wave_id: String) {
    let every = (core.lease() / 3)
        .to_std()
        .unwrap_or(Duration::from_secs(1));
    loop {
        tokio::time::sleep(every).await;
        let until = Utc::now() + core.lease();
        match core.store.renew_lease(&wave_id, &core.owner, until).await {
            Ok(true) => {
                // A cancel the previous owner recorded after this dispatch started.
                if let Ok(Some(reason)) = core.store.cancel_reason(&wave_id).await {
                    core.running.cancel(&wave_id, &reason);
                }
            }
            Ok(false) => {
                tracing::warn!(wave_id, "dispatch lease lost to another coordinator");
                return;
            }
            Err(e) => tracing::warn!(wave_id, error = %e, "lease renewal failed"),
        }
    }
}

#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
async fn run_exchange(
    core: &Core,
    row: &WaveRow,
    ex: ExchangeId,
    signals: &[Signal],
    params: Option<pb::ExchangeParams>,
    deadline: DateTime<Utc>,
    sink: &OutcomeSink,
    span: Span,
) -> ExchangeResult {
    let total = u32::try_from(signals.len()).unwrap_or(u32::MAX);
    let hub = &core.hub;
    let mut known = Known::default();
    let mut attempts = 0;
    let started_at = Some(Utc::now());
    let (stats, outcomes) = match params {
        None => {
            let name = exchange_name(&core.cfg, ex, None);
            let stats = ExchangeStats::skipped(ex, &name, total, "no_params");
            (stats, vec![])
        }
        Some(params) => {
            hub.send(&row.id, Event::ExchangeStarted(params.clone()));
            let run = ExchangeRun {
                wave_id: &row.id,
                wave_timestamp: row.wave_timestamp,
                params: &params,
                signals,
                deadline,
                cfg: &core.cfg.dispatch,
            };
            drive(core, &run, sink, &mut known, &mut attempts, &span).await
        }
    };
    let timing = ExchangeTiming {
        exchange_id: ex,
        started_at,
        first_order_at: known.first_order_at,
        finished_at: Some(Utc::now()),
    };
    spans::exchange_finished(&span, &stats, attempts);
    hub.send(&row.id, Event::ExchangeFinished(stats.to_proto()));
    (stats, outcomes, timing)
}

/// Runs the exchange's stream until the agent's `Result`. An agent that never took the wave
/// gets `retries` attempts with backoff, then is `agent_unavailable`. One that took it may hold
/// fills only its journal knows: it is re-sent the wave until its `Result` or
/// `result_wait_secs` past the deadline (it then only settles and reports, so asking is safe).
/// Without a `Result` the exchange is reported with the outcomes that arrived and the error;
/// the wave ends `partial`. Every attempt of a cancelled wave sends `Cancel` after the buffer.
async fn drive(
    core: &Core,
    run: &ExchangeRun<'_>,
    sink: &OutcomeSink,
    known: &mut Known,
    attempts: &mut u32,
    span: &Span,
) -> (ExchangeStats, Vec<pb::SignalOutcome>) {
    // One per exchange, held while it runs: a cancel counts the exchanges it stops.
    let mut cancel = core.running.watch(run.wave_id);
    let p = run.params;
    let total = u32::try_from(run.signals.len()).unwrap_or(u32::MAX);
    let fail = |known: &Known, error: &str| known.report(p, total, error);
    let down = |msg: &str| {
        if let Some(a) = core.agents.get(p.exchange_id) {
            a.mark_err(msg);
        }
        core.metrics.agent_connected(&p.exchange_name, false);
    };
    let Some(agent) = core
        .agents
        .get(p.exchange_id)
        .filter(|a| a.endpoint.is_some())
    else {
        tracing::warn!(exchange_id = p.exchange_id, "no agent configured");
        return fail(known, "agent_unavailable");
    };
    let until_deadline = (run.deadline - Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    let deadline_at = tokio::time::Instant::now() + until_deadline;
    let give_up_at = deadline_at + Duration::from_secs(core.cfg.dispatch.result_wait_secs);
    let mut backoff = Backoff::new(&core.cfg.dispatch);
    let mut n = 0u32;
    loop {
        n += 1;
        *attempts = n;
        let call = spans::execute_wave_call(span, agent.endpoint.as_deref().unwrap_or(""), n);
        let try_once = attempt(&agent, run, &mut cancel, sink, known, &call);
        let outcome = tokio::time::timeout_at(give_up_at, try_once).await;
        let (code, why) = match &outcome {
            Err(_) => (tonic::Code::DeadlineExceeded, Some(NO_RESULT.to_owned())),
            Ok(Ok(_)) => (tonic::Code::Ok, None),
            Ok(Err(e)) => (e.code(), Some(e.to_string())),
        };
        spans::execute_wave_call_finished(&call, code, why.as_deref());
        let msg = match outcome {
            Err(_) => {
                tracing::warn!(
                    exchange_id = p.exchange_id,
                    wave_id = run.wave_id,
                    "no result from the agent by the deadline and result wait"
                );
                down(NO_RESULT);
                return fail(known, "deadline");
            }
            Ok(Ok(r)) => return accepted(p, total, r),
            Ok(Err(AttemptError::Mismatch(why))) => {
                // Loud: a mismatch means a buggy or hostile agent, or someone else drove it.
                tracing::error!(exchange_id = p.exchange_id, wave_id = run.wave_id, reason = %why,
                                "agent result does not match what was sent: refused");
                core.metrics.agent_result_rejected(&p.exchange_name);
                if let Some(a) = core.agents.get(p.exchange_id) {
                    a.mark_err(&format!("{RESULT_MISMATCH}: {why}"));
                }
                return fail(known, RESULT_MISMATCH);
            }
            Ok(Err(AttemptError::Refused(_, msg))) => {
                tracing::error!(exchange_id = p.exchange_id, %msg, "agent refused the wave");
                down(&msg);
                return fail(known, "agent_error");
            }
            Ok(Err(AttemptError::Stalled(after))) => {
                let secs = after.as_secs();
                let msg = format!("hung: sent nothing for {secs}s in wave {}", run.wave_id);
                tracing::warn!(exchange_id = p.exchange_id, attempt = n, %msg,
                               "agent stalled; sending the wave again");
                core.metrics.agent_stalled(&p.exchange_name);
                // On the wave's record too (events), not only in the log.
                let ev = NewEvent {
                    event_type: "AGENT_STALLED",
                    event_data: serde_json::json!({
                        "exchange_id": p.exchange_id,
                        "silent_secs": secs,
                        "attempt": n,
                    })
                    .to_string(),
                    correlation_id: run.wave_id,
                    exchange: Some(&p.exchange_name),
                    severity: "warning",
                    ..NewEvent::default()
                };
                if let Err(e) = core.store.event(&ev).await {
                    tracing::warn!(error = %e, "AGENT_STALLED event not stored");
                }
                msg
            }
            Ok(Err(AttemptError::Unavailable(_, msg))) => {
                tracing::warn!(exchange_id = p.exchange_id, attempt = n, %msg, "agent attempt failed");
                msg
            }
        };
        down(&msg);
        // A wave never taken holds nothing: `retries`. One taken is asked until it answers.
        let (limit, tries_left) = if known.taken {
            (give_up_at, true)
        } else {
            (deadline_at, n < core.cfg.dispatch.retries)
        };
        let now = tokio::time::Instant::now();
        if !tries_left || now >= limit {
            let ended = if now >= deadline_at {
                "deadline"
            } else {
                "agent_unavailable"
            };
            return fail(known, ended);
        }
        backoff.wait(limit).await;
    }
}

/// The exchange's result: parameters as sent, the agent's counters, flags recomputed.
fn accepted(
    p: &pb::ExchangeParams,
    total: u32,
    r: pb::Result,
) -> (ExchangeStats, Vec<pb::SignalOutcome>) {
    let Some(s) = r.stats else {
        return Known::default().report(p, total, "agent_error");
    };
    let mut stats = ExchangeStats::from_proto(&s);
    stats.exchange_id = p.exchange_id;
    if stats.exchange_name.is_empty() {
        stats.exchange_name = p.exchange_name.clone();
    }
    stats.total_signals = total;
    stats.target = p.max_trades;
    stats.buffer_size = p.buffer_size;
    stats.params_source = ParamsSource::from_proto(p.source);
    stats.derive();
    if stats.executed > p.max_trades {
        tracing::error!(
            exchange_id = p.exchange_id,
            executed = stats.executed,
            max_trades = p.max_trades,
            "agent reports more positions than the wave's target"
        );
    }
    (stats, r.outcomes)
}

#[cfg(test)]
mod tests {
    use super::call_turns;

    #[test]
    fn each_call_waits_one_turn_per_earlier_call_and_an_exchange_without_one_costs_none() {
        assert_eq!(call_turns([]), Vec::<u32>::new());
        assert_eq!(call_turns([true]), [0]);
        assert_eq!(call_turns([true; 8]), [0, 1, 2, 3, 4, 5, 6, 7]);
        // A `no_params` exchange makes no call: the ones after it wait no turn for it.
        assert_eq!(call_turns([false, true, false, true]), [0, 0, 1, 1]);
    }
}

//! The wave clock: closes, claims, fails too-old and resumes expired waves.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use wavegate_common::proto::v1 as pb;
use wavegate_common::rank::group_by_exchange;
use wavegate_common::telemetry::propagation::{self, SpanContext};

use crate::dispatch::Claimed;
use crate::error::CoordinatorError;
use crate::state::{Core, secs};
use crate::store::{Claim, WaveRow, now_ms};
use crate::{dispatch, params, timing};

/// How often the clock looks for due waves.
const TICK: Duration = Duration::from_millis(200);

/// What closing a wave did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Claimed by this coordinator; dispatch started.
    Dispatching,
    /// Too old to execute: marked failed.
    Failed,
    /// Not claimed: closed before (maybe by another coordinator), or no longer due.
    NotClaimed,
}

/// Runs the clock until `shutdown` turns true.
pub async fn run_clock(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    loop {
        // A failed storage claims no wave (the probe brings it back); running dispatches go on.
        if !core.storage.is_down()
            && let Err(e) = tick(&core).await
        {
            core.storage.observe(&e);
            tracing::warn!(error = %e, "wave clock tick failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return },
        }
    }
}

async fn tick(core: &Arc<Core>) -> Result<(), CoordinatorError> {
    let now = Utc::now();
    let quiet_before = now - secs(core.cfg.waves.quiet_secs);
    // One wave's error must not hold up the others (nor the params refresh below).
    let due = core.store.due_waves(now, quiet_before).await?;
    core.close_retries.retain(|id| due.iter().any(|d| d == id));
    for id in due {
        if !core.close_retries.due(&id) {
            continue;
        }
        let Err(e) = close_wave(core, &id, false).await else {
            continue;
        };
        core.storage.observe(&e);
        if e.is_storage_fault() {
            // The storage probe holds the clock until writes work again.
            tracing::warn!(wave_id = %id, error = %e, "closing the wave failed; retried next tick");
        } else {
            // It would fail the same way each tick (corrupt data): wait, doubling, up to a minute.
            let retry_in = core.close_retries.failed(&id);
            tracing::warn!(wave_id = %id, error = %e, retry_in_ms = retry_in.as_millis() as u64,
                           "closing the wave failed; retried after a pause");
        }
    }
    let resumable = core.store.resumable_waves(now, &core.owner).await?;
    // A wave finished elsewhere (e.g. by the coordinator that took it over) needs no backoff.
    core.retries.retain(|id| resumable.iter().any(|r| r == id));
    for id in resumable {
        if core.running.contains(&id) || !core.retries.due(&id) {
            continue;
        }
        if let Err(e) = resume(core, &id).await {
            tracing::warn!(wave_id = %id, error = %e, "resuming the wave failed");
            core.retries.failed(&id);
        }
    }
    // Params are read from memory; another coordinator's `Params.Set` arrives within a tick.
    core.params.refresh(&core.store).await?;
    Ok(())
}

/// Closes a collecting wave: fails it if too old, else claims (re-checking due unless `forced`).
pub async fn close_wave(
    core: &Arc<Core>,
    wave_id: &str,
    forced: bool,
) -> Result<Closed, CoordinatorError> {
    // From the decision to close: the claim's transaction is part of close → first order.
    let begun = std::time::Instant::now();
    let now = now_ms();
    // A wave memory holds whole is not read before the claim: the claim returns its row and
    // leaves a wave too old to execute alone; only a claim that fails reads the row, for why.
    // Else it is read first, and its signals too, not under the claim's lock (on SQLite every
    // ingest waits for that lock). Signals are only ever added to a collecting wave, so a read
    // with the claim's count is the whole wave; else the claim reads it.
    let (read_first, read) = if core.signals.holds(wave_id) {
        (false, None)
    } else {
        let row = read_row(core, wave_id).await?;
        if too_old(core, &row, now) {
            return fail_too_old(core, wave_id, now).await;
        }
        let signals = core.store.wave_signals(wave_id, row.wave_timestamp).await?;
        (true, Some(signals))
    };
    let deadline = now + secs(core.cfg.waves.deadline_secs);
    let due = (!forced).then(|| now - secs(core.cfg.waves.quiet_secs));
    // From memory (loaded at first use), before the claim's transaction: it waits on nothing.
    let stored = core.params.snapshot(&core.store).await?;
    let claim = Claim {
        id: wave_id,
        owner: &core.owner,
        lease_until: now + core.lease(),
        deadline,
        now,
        due,
        not_before: Some(timing::oldest_executable(&core.cfg.waves, now)),
    };
    // Claim and params in one commit before any agent is contacted. The closures own what
    // they use: a SQLite file's claim may run on the blocking pool.
    let stored = Arc::new(stored);
    let (taker, planner, chooser) = (core.clone(), core.clone(), core.clone());
    let (id, stored_too) = (wave_id.to_owned(), stored.clone());
    let claimed = core
        .store
        .claim_with_params(
            claim,
            move |count| {
                let whole = |s: &Vec<_>| u32::try_from(s.len()).ok() == Some(count);
                taker
                    .signals
                    .take(&id, count)
                    .or_else(|| read.filter(whole))
            },
            move |signals| {
                let groups = group_by_exchange(signals);
                let updates = params::wave_updates(&planner.cfg, &stored, &groups);
                (groups, updates)
            },
            move |groups, written, stood| {
                params::dispatched_params(&chooser.cfg, &stored_too, groups, written, stood)
            },
        )
        .await?;
    let Some(c) = claimed else {
        // Unknown, too old (when read first: checked above), closed before or by another
        // coordinator, or no longer due.
        if !read_first && too_old(core, &read_row(core, wave_id).await?, now) {
            return fail_too_old(core, wave_id, now).await;
        }
        if forced {
            // Closed before, or by another coordinator: nothing here will dispatch it.
            core.signals.forget(wave_id);
        }
        return Ok(Closed::NotClaimed);
    };
    let count = c.row.signal_count;
    let close_us = u64::try_from(begun.elapsed().as_micros()).unwrap_or(u64::MAX);
    tracing::info!(
        wave_id,
        signals = count,
        close_us,
        "wave closed and claimed"
    );
    dispatch::stamps::claimed(wave_id, close_us);
    if c.read_in_claim {
        tracing::debug!(
            wave_id,
            "wave signals read under the claim (ingest raced the close)"
        );
    }
    for p in c.written {
        core.params.put(p);
    }
    let claimed = Claimed {
        // As the claim left it, so dispatch does not read it back.
        row: c.row,
        groups: c.signals,
        params: c.params,
        decided: begun,
    };
    // A producer's (or the CLI's) close: the wave's trace links back to that call's span.
    let closed_by = forced
        .then(|| propagation::span_context(&tracing::Span::current()))
        .flatten();
    start(core, wave_id, Some(claimed), closed_by);
    Ok(Closed::Dispatching)
}

/// The wave's row; an unknown wave is an error.
async fn read_row(core: &Core, wave_id: &str) -> Result<WaveRow, CoordinatorError> {
    (core.store.wave(wave_id).await?)
        .ok_or_else(|| CoordinatorError::NotFound(format!("wave {wave_id} not found")))
}

/// Past `max_wave_age_secs` at `now`: too old to execute.
fn too_old(core: &Core, row: &WaveRow, now: chrono::DateTime<Utc>) -> bool {
    now > timing::too_old_after(&core.cfg.waves, row.wave_timestamp)
}

/// Marks a collecting wave too old to execute failed; `NotClaimed` when it no longer collects.
async fn fail_too_old(
    core: &Core,
    wave_id: &str,
    now: chrono::DateTime<Utc>,
) -> Result<Closed, CoordinatorError> {
    core.signals.forget(wave_id);
    let reason = format!(
        "older than max_wave_age_secs ({}) when it closed",
        core.cfg.waves.max_wave_age_secs
    );
    if core.store.fail_collecting(wave_id, &reason, now).await? {
        tracing::warn!(wave_id, %reason, "wave failed");
        core.hub.status(wave_id, pb::WaveStatus::Failed);
        return Ok(Closed::Failed);
    }
    Ok(Closed::NotClaimed)
}

/// Takes over an expired (or own) dispatching wave; agents answer from their journals.
async fn resume(core: &Arc<Core>, wave_id: &str) -> Result<(), CoordinatorError> {
    let now = Utc::now();
    let deadline = now + secs(core.cfg.waves.deadline_secs);
    if core
        .store
        .take_over(wave_id, &core.owner, now + core.lease(), deadline, now)
        .await?
    {
        tracing::info!(wave_id, "resuming a wave left in dispatching");
        start(core, wave_id, None, None);
    }
    Ok(())
}

/// Starts dispatch; `claimed` is the wave this process just claimed (else it is read back).
fn start(
    core: &Arc<Core>,
    wave_id: &str,
    claimed: Option<Claimed>,
    closed_by: Option<SpanContext>,
) {
    let Some(registered) = core.running.start(wave_id) else {
        return;
    };
    core.hub.status(wave_id, pb::WaveStatus::Dispatching);
    let c = core.clone();
    let id = wave_id.to_owned();
    core.spawn_task(async move {
        // Unregistered however the task ends, so a tick can resume it.
        let _registered = registered;
        match dispatch::run_wave(&c, &id, claimed, closed_by).await {
            Ok(()) => c.retries.succeeded(&id),
            Err(e) => {
                c.storage.observe(&e);
                // Resumed later, here after a backoff or elsewhere once the lease expires.
                let after = c.retries.failed(&id);
                tracing::error!(wave_id = %id, error = %e, retry_in_ms = after.as_millis() as u64,
                    "wave dispatch failed; it will be resumed");
            }
        }
    });
}

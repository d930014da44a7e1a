//! `Waves.Cancel`: a collecting wave fails by the claim's conditional write (one wins); a
//! dispatching one stops via [`Running`]'s [`CancelWatch`]es. Recorded first, for takeovers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backon::{ConstantBuilder, Retryable};
use parking_lot::Mutex;
use tokio::sync::watch;
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::{parse_wave_id, wave_id as wave_id_of};

use crate::error::CoordinatorError;
use crate::state::Core;
use crate::store::{CancelRecord, WaveRow, WaveStatus, now_ms};

/// How often, and how many times (~1 s), a cancel looks for a just-claimed wave's dispatch.
const REGISTER_POLL: Duration = Duration::from_millis(10);
const REGISTER_POLLS: usize = 100;

/// The dispatches this process runs, by wave id, each with its cancel signal.
#[derive(Debug, Default)]
pub struct Running {
    waves: Mutex<HashMap<String, watch::Sender<Option<Arc<str>>>>>,
}

impl Running {
    /// Registers a dispatch of the wave until the guard drops; `None` if one is registered.
    pub fn start(self: &Arc<Self>, wave_id: &str) -> Option<Registered> {
        let mut waves = self.waves.lock();
        if waves.contains_key(wave_id) {
            return None;
        }
        waves.insert(wave_id.to_owned(), watch::Sender::new(None));
        Some(Registered {
            running: self.clone(),
            wave_id: wave_id.to_owned(),
        })
    }

    /// True while a dispatch of the wave is registered.
    pub fn contains(&self, wave_id: &str) -> bool {
        self.waves.lock().contains_key(wave_id)
    }

    /// A watch of the wave's cancel for one exchange run; never fires for an unregistered wave.
    pub fn watch(&self, wave_id: &str) -> CancelWatch {
        match self.waves.lock().get(wave_id) {
            Some(tx) => CancelWatch { rx: tx.subscribe() },
            None => CancelWatch::never(),
        }
    }

    /// Tells the wave's runs to stop (first reason stands): how many watch; `None` if not here.
    pub fn cancel(&self, wave_id: &str, reason: &str) -> Option<usize> {
        let waves = self.waves.lock();
        let tx = waves.get(wave_id)?;
        tx.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason.into());
            true
        });
        Some(tx.receiver_count())
    }
}

/// A wave's registration in [`Running`], removed on drop (also by a panic or an abort).
#[derive(Debug)]
pub struct Registered {
    running: Arc<Running>,
    wave_id: String,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.running.waves.lock().remove(&self.wave_id);
    }
}

/// One exchange run's view of its wave's cancel signal.
#[derive(Debug, Clone)]
pub struct CancelWatch {
    rx: watch::Receiver<Option<Arc<str>>>,
}

impl CancelWatch {
    /// A watch that never fires (a wave dispatched without registration, e.g. in tests).
    pub fn never() -> Self {
        let (_, rx) = watch::channel(None);
        Self { rx }
    }

    /// The reason, once the wave is cancelled.
    pub fn reason(&self) -> Option<Arc<str>> {
        self.rx.borrow().clone()
    }

    /// Waits until cancelled; never returns if the dispatch ends first. Cancel-safe.
    pub async fn cancelled(&mut self) -> Arc<str> {
        if let Ok(v) = self.rx.wait_for(Option::is_some).await
            && let Some(reason) = v.as_ref()
        {
            return reason.clone();
        }
        std::future::pending().await
    }
}

/// What [`cancel_wave`] did.
#[derive(Debug, Clone)]
pub struct Cancelled {
    /// The wave right after the call: failed, or still dispatching while its agents stop.
    pub wave: WaveRow,
    /// Exchange runs told to stop (0 for a collecting wave).
    pub exchanges_stopping: u32,
}

/// `Waves.Cancel`; a finished or foreign wave is `FailedPrecondition`.
pub async fn cancel_wave(
    core: &Core,
    wave_id: &str,
    reason: &str,
) -> Result<Cancelled, CoordinatorError> {
    if wave_id.is_empty() {
        return Err(CoordinatorError::bad("wave_id", "missing"));
    }
    // The stored id is the canonical RFC 3339 form; any spelling of the same instant finds it.
    let id = parse_wave_id(wave_id).map(wave_id_of).ok_or_else(|| {
        CoordinatorError::bad(
            "wave_id",
            "not an RFC 3339 timestamp (e.g. 2026-11-24T12:00:00Z)",
        )
    })?;
    let reason = wavegate_common::proto::cancel_reason(reason)
        .map_err(|why| CoordinatorError::bad("reason", why))?;
    // A wave claimed meanwhile is stopped as dispatching; status only moves forward: ≤ 2 rounds.
    loop {
        let row = core
            .store
            .wave(&id)
            .await?
            .ok_or_else(|| CoordinatorError::NotFound(format!("wave_id: no wave {id:?}")))?;
        let record = CancelRecord {
            wave_id: &id,
            reason: &reason,
            status: row.status,
            coordinator: &core.owner,
            now: now_ms(),
        };
        match row.status {
            WaveStatus::Collecting => {
                if let Some(done) = fail_collecting(core, &row, &record).await? {
                    return Ok(done);
                }
            }
            WaveStatus::Dispatching => return stop_dispatch(core, row, &record).await,
            WaveStatus::Completed | WaveStatus::Partial | WaveStatus::Failed => {
                return Err(CoordinatorError::FailedPrecondition(format!(
                    "wave {id} already finished ({}): nothing to cancel",
                    row.status.as_str()
                )));
            }
        }
    }
}

/// Closes a collecting wave as failed, with its event; `None` when it was claimed meanwhile.
async fn fail_collecting(
    core: &Core,
    row: &WaveRow,
    record: &CancelRecord<'_>,
) -> Result<Option<Cancelled>, CoordinatorError> {
    let (reason, now) = (record.reason, record.now);
    let failed_reason = format!("cancelled: {reason}");
    if !core.store.cancel_collecting(record, &failed_reason).await? {
        return Ok(None);
    }
    // Its signals will never be dispatched from memory.
    core.signals.forget(&row.id);
    core.hub.status(&row.id, pb::WaveStatus::Failed);
    tracing::warn!(wave_id = %row.id, %reason, "collecting wave cancelled: nothing executed");
    let wave = WaveRow {
        status: WaveStatus::Failed,
        closed_at: Some(now),
        completed_at: Some(now),
        reason: Some(failed_reason),
        ..row.clone()
    };
    Ok(Some(Cancelled {
        wave,
        exchanges_stopping: 0,
    }))
}

/// Records the cancel of a dispatching wave this process owns and signals its exchange runs.
async fn stop_dispatch(
    core: &Core,
    row: WaveRow,
    record: &CancelRecord<'_>,
) -> Result<Cancelled, CoordinatorError> {
    if row.owner.as_deref() != Some(core.owner.as_str()) {
        // Only the owner holds the agent streams.
        return Err(CoordinatorError::FailedPrecondition(format!(
            "wave {} is dispatched by coordinator {:?}, not this one ({:?}): cancel it there",
            row.id,
            row.owner.as_deref().unwrap_or("unknown"),
            core.owner
        )));
    }
    // Recorded first: if this process dies before its agents stop, the next owner reads it.
    let Some(first) = core.store.record_cancel(record).await? else {
        // Completed, or taken over by another coordinator, since it was read.
        let now_row = core.store.wave(&row.id).await?.unwrap_or(row);
        return Err(CoordinatorError::FailedPrecondition(format!(
            "wave {} is no longer dispatched here (status {}, owner {:?}): nothing to cancel here",
            now_row.id,
            now_row.status.as_str(),
            now_row.owner.as_deref().unwrap_or("none")
        )));
    };
    let reason = record.reason;
    let stopping = signal(core, &row.id, reason).await;
    if first {
        tracing::warn!(wave_id = %row.id, %reason, exchanges_stopping = stopping,
            "dispatching wave cancelled: agents told to stop");
    }
    let wave = core.store.wave(&row.id).await?.unwrap_or(row);
    Ok(Cancelled {
        wave,
        exchanges_stopping: u32::try_from(stopping).unwrap_or(u32::MAX),
    })
}

/// Signals the wave's dispatch, waiting briefly for one just claimed; a later one reads the record.
async fn signal(core: &Core, wave_id: &str, reason: &str) -> usize {
    let polls = ConstantBuilder::new()
        .with_delay(REGISTER_POLL)
        .with_max_times(REGISTER_POLLS);
    (|| async { core.running.cancel(wave_id, reason).ok_or(()) })
        .retry(polls)
        .await
        .unwrap_or_else(|()| {
            tracing::info!(
                wave_id,
                "no dispatch of the wave runs here now; it stops when resumed"
            );
            0
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancel_reaches_every_watch_of_a_registered_wave_once() {
        let r = Arc::new(Running::default());
        assert_eq!(r.cancel("w", "x"), None, "not registered");
        let registered = r.start("w");
        assert!(registered.is_some());
        assert!(r.start("w").is_none(), "registered once");
        let mut a = r.watch("w");
        let b = r.watch("w");
        assert_eq!(a.reason(), None);
        assert_eq!(r.cancel("w", "drill"), Some(2));
        assert_eq!(&*a.cancelled().await, "drill");
        // The first reason stands.
        assert_eq!(r.cancel("w", "other"), Some(2));
        assert_eq!(b.reason().as_deref(), Some("drill"));
        // A run that starts after the cancel sees it at once.
        assert_eq!(r.watch("w").reason().as_deref(), Some("drill"));
        drop(registered);
        assert!(!r.contains("w"));
        let mut never = r.watch("w");
        let waited = tokio::time::timeout(Duration::from_millis(20), never.cancelled()).await;
        assert!(waited.is_err(), "an unregistered wave's watch never fires");
    }
}

//! Completion (docs/design.md §1 steps 6–7): results, totals, `WAVE_COMPLETED`, stored once.

use chrono::Utc;
use wavegate_common::proto::v1::wave_event::Event;
use wavegate_common::stats::{WaveCompleted, WaveTotals};

use crate::dispatch::{ExchangeResult, Written};
use crate::error::CoordinatorError;
use crate::state::Core;
use crate::store::{Completion, WaveRow, WaveStatus};

/// What a completion recorded.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    /// Final status.
    pub status: WaveStatus,
    /// Positions opened over every exchange.
    pub positions_opened: u32,
}

/// When every exchange of a wave had reported: the makespan's end and the completion's stamp.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    at: chrono::DateTime<Utc>,
    instant: std::time::Instant,
}

impl Ended {
    /// Now.
    pub fn now() -> Self {
        Self {
            at: Utc::now(),
            instant: std::time::Instant::now(),
        }
    }
}

/// A wave's makespan: the decision to close (when this process made it) → every exchange
/// reported. What follows (the outcome writer's last transaction, the completion's) is storing.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The decision to close, when this process made it.
    pub decided: Option<std::time::Instant>,
    /// Every exchange reported.
    pub ended: Ended,
}

/// Stores and announces a wave's completion; `None` when taken over. `written`: committed
/// outcomes.
pub async fn complete(
    core: &Core,
    row: &WaveRow,
    timing: Timing,
    total_signals: u32,
    results: Vec<ExchangeResult>,
    written: Written,
) -> Result<Option<Done>, CoordinatorError> {
    let mut exchanges = Vec::with_capacity(results.len());
    let mut outcomes = Vec::new();
    let mut timings = Vec::with_capacity(results.len());
    for (stats, outs, timing) in results {
        outcomes.extend(outs.into_iter().map(|o| (stats.exchange_id, o)));
        exchanges.push(stats);
        timings.push(timing);
    }
    exchanges.sort_by_key(|e| e.exchange_id);
    let outcomes = written.still_to_store(outcomes);
    let totals = WaveTotals::from_exchanges(total_signals, &exchanges);
    let now = timing.ended.at;
    let makespan_us = makespan_us(timing.decided, row.closed_at, timing.ended);
    let event = WaveCompleted::new(&row.id, &totals, &exchanges, now);
    let status = if exchanges.iter().any(|e| e.error.is_some()) {
        WaveStatus::Partial
    } else {
        WaveStatus::Completed
    };
    // An operator's cancel shows as the wave's reason.
    let reason = core
        .store
        .cancel_reason(&row.id)
        .await?
        .map(|r| format!("cancelled: {r}"));
    let stored = core
        .store
        .complete_wave(&Completion {
            wave_id: &row.id,
            owner: &core.owner,
            status,
            exchanges: &exchanges,
            outcomes: &outcomes,
            totals,
            event: &event,
            now,
            reason: reason.as_deref(),
            timings: &timings,
        })
        .await?;
    if !stored {
        tracing::warn!(wave_id = %row.id, "wave was taken over before it completed here");
        return Ok(None);
    }
    // After the makespan's end: the outcome writer's last transaction, reading the cancel
    // reason and the completion's transaction.
    let store_us = u64::try_from(timing.ended.instant.elapsed().as_micros()).unwrap_or(u64::MAX);
    for e in &exchanges {
        core.metrics.exchange_finished(e);
    }
    tracing::info!(
        wave_id = %row.id,
        status = status.as_str(),
        makespan_us,
        store_us,
        positions_opened = totals.total_executed,
        failed = totals.total_failed,
        "wave completed"
    );
    core.hub.status(&row.id, status.to_proto());
    // Stored; the live event is best effort (watchers also poll the wave).
    match core.store.wave(&row.id).await {
        Ok(Some(done)) => core.hub.send(&row.id, Event::Completed(done.to_summary())),
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(wave_id = %row.id, error = %e, "reading the completed wave back failed")
        }
    }
    Ok(Some(Done {
        status,
        positions_opened: totals.total_executed,
    }))
}

/// Decision to close → every exchange reported, µs (the bench reads it from the log): from the
/// decision's instant when this process closed the wave. After a resume only the stored
/// `closed_at` is left, whole ms and up to 1 ms after the decision: −1 when even that is missing.
fn makespan_us(
    decided: Option<std::time::Instant>,
    closed_at: Option<chrono::DateTime<Utc>>,
    ended: Ended,
) -> i64 {
    match decided {
        Some(d) => i64::try_from(ended.instant.saturating_duration_since(d).as_micros())
            .unwrap_or(i64::MAX),
        None => closed_at
            .and_then(|c| (ended.at - c).num_microseconds())
            .unwrap_or(-1),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn the_makespan_starts_at_the_decision_not_at_the_stamp_whole_ms_before_it() {
        let now = Utc::now();
        // A stamp far from the decision, so the two cannot be mistaken on a slow machine.
        let stamp = Some(now - chrono::Duration::seconds(60));
        let Some(decided) = Instant::now().checked_sub(Duration::from_micros(3_000)) else {
            return; // a clock this young has nothing to measure
        };
        let ended = Ended {
            at: now,
            instant: Instant::now(),
        };
        let us = makespan_us(Some(decided), stamp, ended);
        assert!((3_000..30_000_000).contains(&us), "{us} µs");
        assert_eq!(
            makespan_us(None, stamp, ended),
            60_000_000,
            "a resumed wave: the stamp"
        );
        assert_eq!(makespan_us(None, None, ended), -1);
    }
}

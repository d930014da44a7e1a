//! A wave's own instants on this agent, logged once with its `Result` under the per-order
//! timing target ([`crate::execute::timing::TARGET`]): `wavegate bench` splits the makespan
//! outside the walk with them (the stream's way in, the session's start, the `Result`'s way
//! out).

use chrono::{DateTime, Utc};
use tracing::debug;

use crate::execute::timing::TARGET;

/// When the wave's stream reached the handler and when its session started (`wave started`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WaveStamps {
    /// The `ExecuteWave` handler was called (the request's headers are in).
    pub arrived: DateTime<Utc>,
    /// `Start` checked, earlier orders settled, positions and account read: the walk may begin.
    pub started: DateTime<Utc>,
}

impl WaveStamps {
    /// Logs the wave's line: `finished` when the walk ended, `sent_us` now, as the `Result`
    /// (journaled first) is handed to the stream. Nothing when the target is off.
    pub(crate) fn log(&self, wave_id: &str, finished: DateTime<Utc>) {
        if !tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
            return;
        }
        debug!(
            target: TARGET,
            wave_id,
            arrived_us = self.arrived.timestamp_micros(),
            started_us = self.started.timestamp_micros(),
            finished_us = finished.timestamp_micros(),
            sent_us = Utc::now().timestamp_micros(),
            "wave timing"
        );
    }
}

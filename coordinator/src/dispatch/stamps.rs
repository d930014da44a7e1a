//! A wave's dispatch instants, logged at debug level under [`TARGET`] (µs since the epoch):
//! with the agents' `wave timing` lines, `wavegate bench` splits a makespan into the claim,
//! this process's dispatch, the stream's way to the agent and the agent's own parts.

use chrono::Utc;
use tracing::debug;

/// The log target of the coordinator's timing lines.
pub const TARGET: &str = "wavegate_coordinator::timing";

/// After the claim committed: the decision to close was `close_us` ago.
pub fn claimed(wave_id: &str, close_us: u64) {
    if !tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
        return;
    }
    let now = Utc::now().timestamp_micros();
    debug!(
        target: TARGET,
        wave_id,
        decided_us = now.saturating_sub(i64::try_from(close_us).unwrap_or(i64::MAX)),
        claimed_us = now,
        "wave timing"
    );
}

/// As the agent's `Result` is read from its stream.
pub fn result(wave_id: &str, exchange_id: u32) {
    if !tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
        return;
    }
    debug!(
        target: TARGET,
        wave_id,
        exchange_id,
        result_us = Utc::now().timestamp_micros(),
        "result timing"
    );
}

/// As the `ExecuteWave` call to the exchange's agent leaves (its messages already queued).
pub fn call(wave_id: &str, exchange_id: u32) {
    if !tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
        return;
    }
    debug!(
        target: TARGET,
        wave_id,
        exchange_id,
        call_us = Utc::now().timestamp_micros(),
        "call timing"
    );
}

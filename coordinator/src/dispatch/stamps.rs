//! A wave's dispatch instants, logged at debug level under [`TARGET`] (µs since the epoch):
//! with the agents' `wave timing` lines, `wavegate bench` splits a makespan into the claim,
//! this process's dispatch, the stream's way to the agent and back, and the agent's own parts.

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

/// What happened on an exchange's stream.
#[derive(Debug, Clone, Copy)]
pub enum Exchange {
    /// The `ExecuteWave` call leaves (its first messages already queued).
    Call,
    /// The agent's `Result` was read.
    Result,
}

/// Logs `event` on the exchange's stream, now.
pub fn exchange(wave_id: &str, exchange_id: u32, event: Exchange) {
    if !tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
        return;
    }
    let event = match event {
        Exchange::Call => "call",
        Exchange::Result => "result",
    };
    debug!(
        target: TARGET,
        wave_id,
        exchange_id,
        event,
        at_us = Utc::now().timestamp_micros(),
        "exchange timing"
    );
}

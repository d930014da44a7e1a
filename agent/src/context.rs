//! What one agent's sessions share: config, journal, adapter, limiter, metrics, locks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedMutexGuard, watch};
use wavegate_common::telemetry::Metrics;

use crate::config::AgentConfig;
use crate::exchange::Exchange;
use crate::journal::Journal;
use crate::ratelimit::OrderLimiter;

/// Async locks by key (symbol or wave id), created on first use.
#[derive(Debug, Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Locks kept before unused ones are dropped from the map.
const KEEP_LOCKS: usize = 1024;

impl KeyedLocks {
    /// Waits for and takes the lock of `key`.
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        self.get(key).lock_owned().await
    }

    /// Takes the lock of `key` if nobody holds it.
    pub fn try_lock(&self, key: &str) -> Option<OwnedMutexGuard<()>> {
        self.get(key).try_lock_owned().ok()
    }

    fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        // Poisoned only by a panic while inserting: the map is still consistent.
        let mut map = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > KEEP_LOCKS {
            // Only the map holds these: nobody waits on or holds them.
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(key.to_owned()).or_default().clone()
    }
}

/// Shared state of the agent's sessions.
pub struct AgentCtx {
    /// Configuration.
    pub config: AgentConfig,
    /// Order journal.
    pub journal: Journal,
    /// Exchange adapter.
    pub exchange: Arc<dyn Exchange>,
    /// Order rate limiter (per account).
    pub limiter: OrderLimiter,
    /// Per-symbol locks spanning the duplicate check and the order.
    pub symbol_locks: KeyedLocks,
    /// Per-wave locks: a re-sent wave waits for a run still in progress, then replays it.
    pub wave_locks: KeyedLocks,
    /// Turns true when the agent shuts down: sessions stop waiting for the coordinator.
    pub shutdown: watch::Receiver<bool>,
    /// The agent's own registry. Recorded by exchange name, not `Metrics::exchange`, which would
    /// also create the coordinator's series (a false "agent down" alert, double counts).
    pub metrics: Arc<Metrics>,
    /// Settles journaled orders left unknown or without a stop.
    pub reprotect: crate::reprotect::Reprotect,
    /// Leverage and margin mode known to be in place per symbol.
    pub leverage: crate::execute::LeverageCache,
    /// Whether the journal accounts for the venue's positions (no trading until it does).
    pub venue_check: crate::venue_check::VenueCheck,
}

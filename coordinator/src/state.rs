//! The composition root: config, store, agents, hub, caches, and the running dispatches.

use std::sync::Arc;

use chrono::{Duration, Utc};
use parking_lot::Mutex;
use tokio::task::JoinSet;
use wavegate_common::telemetry::Metrics;
use wavegate_common::telemetry::metrics::Process;

use crate::agents::Agents;
use crate::cancel::Running;
use crate::config::CoordinatorConfig;
use crate::error::CoordinatorError;
use crate::hub::Hub;
use crate::params_cache::ParamsCache;
use crate::retry::Retries;
use crate::storage_health::StorageHealth;
use crate::store::Store;
use crate::wave_cache::WaveCache;

/// Shared by the API, the wave clock and dispatch.
#[derive(Debug)]
pub struct Core {
    /// Validated configuration.
    pub cfg: CoordinatorConfig,
    /// Database.
    pub store: Store,
    /// Agents by exchange.
    pub agents: Arc<Agents>,
    /// Live events.
    pub hub: Hub,
    /// This process' Prometheus metrics (its own registry, so in-process clusters do not mix).
    pub metrics: Arc<Metrics>,
    /// This coordinator's identity in dispatch leases.
    pub owner: String,
    /// Accepted signals of collecting waves, so dispatch need not read them back.
    pub signals: WaveCache,
    /// Stored params held in memory, so dispatch need not read them.
    pub params: ParamsCache,
    /// Backoff of waves whose dispatch failed.
    pub retries: Retries,
    /// Backoff of collecting waves whose close failed for a reason other than the storage
    /// (e.g. a signal row that cannot be read back), so the clock does not retry them each tick.
    pub close_retries: Retries,
    /// The waves this process dispatches, each with the cancel signal its exchange runs watch.
    pub running: Arc<Running>,
    /// Whether the storage takes writes; out of service after a storage fault.
    pub storage: Arc<StorageHealth>,
    tasks: Mutex<JoinSet<()>>,
}

impl Core {
    /// Builds the state; the store is connected and migrated.
    pub fn new(cfg: CoordinatorConfig, store: Store) -> Result<Self, CoordinatorError> {
        let agents = Agents::new(&cfg)?;
        let owner = cfg.node_id.clone().unwrap_or_else(|| {
            let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
            format!("coordinator-{}-{nanos:x}", std::process::id())
        });
        let metrics = Metrics::new(Process::Coordinator)
            .map_err(|e| CoordinatorError::Corrupt(format!("metrics: {e}")))?;
        for e in &cfg.exchanges {
            metrics.register_exchange(&e.name);
        }
        Ok(Self {
            storage: Arc::new(StorageHealth::new(
                store.clone(),
                std::time::Duration::from_millis(cfg.storage_probe_interval_ms),
            )),
            cfg,
            store,
            agents: Arc::new(agents),
            hub: Hub::new(),
            metrics: Arc::new(metrics),
            owner,
            signals: WaveCache::default(),
            params: ParamsCache::default(),
            retries: Retries::default(),
            close_retries: Retries::default(),
            running: Arc::default(),
            tasks: Mutex::new(JoinSet::new()),
        })
    }

    /// True when the exchange is configured or has stored params (another coordinator's too).
    pub async fn is_known_exchange(&self, id: u32) -> Result<bool, CoordinatorError> {
        Ok(self.cfg.exchange(id).is_some() || self.params.contains(&self.store, id).await?)
    }

    /// Lease length.
    pub fn lease(&self) -> Duration {
        secs(self.cfg.dispatch.lease_secs)
    }

    /// Runs a background task owned by the coordinator (aborted at shutdown).
    pub fn spawn_task(&self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut t = self.tasks.lock();
        // Reap finished tasks so the set does not grow without bound.
        while t.try_join_next().is_some() {}
        t.spawn(f);
    }

    /// Aborts every background task.
    pub fn abort_tasks(&self) {
        self.tasks.lock().abort_all();
    }
}

/// Longest configurable span: 100 years (so instant arithmetic can never overflow).
const MAX_SPAN_SECS: u64 = 100 * 365 * 24 * 3600;

/// Whole seconds as a chrono duration, capped at 100 years.
pub fn secs(s: u64) -> Duration {
    // The cap fits in i64, so the conversion cannot fail.
    Duration::seconds(i64::try_from(s.min(MAX_SPAN_SECS)).unwrap_or_default())
}

//! Storage health: after a storage fault no new work until a probe write succeeds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use parking_lot::Mutex;
use tokio::sync::watch;
use tonic_health::server::HealthReporter;

use crate::error::CoordinatorError;
use crate::store::Store;

/// Whether the storage takes writes, as last seen.
#[derive(Debug)]
pub struct StorageHealth {
    store: Store,
    /// How often a failed storage is probed.
    probe_every: Duration,
    down: AtomicBool,
    /// The outage's id (its start) and the fault that began it.
    outage: Mutex<Option<(String, String)>>,
    /// Serving or not, as last decided; one task applies it to the gRPC health in order.
    serving: watch::Sender<bool>,
}

impl StorageHealth {
    /// Healthy until a fault of `store` is observed; then probed every `probe_every`.
    pub fn new(store: Store, probe_every: Duration) -> Self {
        Self {
            store,
            probe_every,
            down: AtomicBool::new(false),
            outage: Mutex::new(None),
            serving: watch::channel(true).0,
        }
    }

    /// Publishes the storage's state on `reporter` (gRPC health) from now on. Called once.
    pub fn set_reporter(&self, reporter: HealthReporter) {
        let mut rx = self.serving.subscribe();
        tokio::spawn(async move {
            loop {
                let serving = *rx.borrow_and_update();
                crate::server::set_health(&reporter, serving).await;
                if rx.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// True while the storage is known to fail.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// `Err(UNAVAILABLE)` while the storage is down: new work is refused before it starts.
    pub fn check(&self) -> Result<(), CoordinatorError> {
        if !self.is_down() {
            return Ok(());
        }
        Err(CoordinatorError::Unavailable(
            "storage unavailable (disk full or I/O error): new signals are refused until it \
             recovers; retry later"
                .into(),
        ))
    }

    /// Looks at an error; a storage fault takes the coordinator out of service until a probe.
    pub fn observe(&self, e: &CoordinatorError) {
        if !e.is_storage_fault() {
            return;
        }
        self.store.note_fault();
        if self.down.swap(true, Ordering::AcqRel) {
            return;
        }
        let outage = format!("storage-{}", Utc::now().timestamp_millis());
        tracing::error!(error = %e, %outage,
            "storage fault: refusing new work until the storage takes writes again");
        *self.outage.lock() = Some((outage, e.to_string()));
        self.serving.send_replace(false);
    }

    /// Probes the storage every `probe_every` while it is down, until `shutdown`.
    pub async fn run_probe(&self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.probe_every) => {}
                r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return },
            }
            if !self.is_down() {
                continue;
            }
            let Some((outage, reason)) = self.outage.lock().clone() else {
                continue;
            };
            match self.store.probe(&outage, &reason).await {
                Ok(()) => {
                    tracing::info!(%outage, "storage takes writes again: serving");
                    *self.outage.lock() = None;
                    self.down.store(false, Ordering::Release);
                    self.serving.send_replace(true);
                }
                Err(e) => {
                    // Connections that saw this failure are not reused either.
                    self.store.note_fault();
                    tracing::debug!(error = %e, "storage still failing");
                }
            }
        }
    }
}

//! Writing a wave's params to the store (DESIGN §1 step 1) off the close → first order path
//! (DESIGN §5). Dispatch computes the params it sends in memory (`params_cache`) and queues the
//! write here; one writer task applies the waves' writes in the order they were queued (so a
//! later wave's params are never overwritten by an earlier one's), then reads the stored rows
//! back into the cache (a row another coordinator wrote meanwhile is newer and replaces the
//! one held). Dispatch waits for its write before it completes the wave, so a completed wave's
//! params are stored (or the failure was logged, and the stored params stand, as DESIGN says).

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use wavegate_common::{ExchangeId, SignalParams};

use crate::params_cache::ParamsCache;
use crate::store::Store;

/// One exchange's params carried by a wave.
#[derive(Debug, Clone)]
pub struct Update {
    /// Exchange id.
    pub exchange_id: ExchangeId,
    /// Its name (for a first row).
    pub exchange_name: String,
    /// The params of its first signal (in rank order) that carries them.
    pub params: SignalParams,
}

#[derive(Debug)]
struct Job {
    updates: Vec<Update>,
    now: DateTime<Utc>,
    done: oneshot::Sender<HashSet<ExchangeId>>,
}

/// The queue to the writer task (started at first use, inside the runtime).
#[derive(Debug, Default)]
pub struct ParamsWriter {
    tx: OnceLock<mpsc::UnboundedSender<Job>>,
}

impl ParamsWriter {
    /// Queues a wave's params writes, stamped `now`; the receiver yields the exchanges whose
    /// params were written (an error means the writer is gone: nothing is known to be written).
    pub fn submit(
        &self,
        store: &Store,
        cache: &Arc<ParamsCache>,
        updates: Vec<Update>,
        now: DateTime<Utc>,
    ) -> oneshot::Receiver<HashSet<ExchangeId>> {
        let (done, rx) = oneshot::channel();
        let tx = self.tx.get_or_init(|| {
            let (tx, jobs) = mpsc::unbounded_channel();
            tokio::spawn(run(store.clone(), cache.clone(), jobs));
            tx
        });
        // A send error drops `done`, which the receiver reports as an error.
        let _ = tx.send(Job { updates, now, done });
        rx
    }
}

async fn run(store: Store, cache: Arc<ParamsCache>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = jobs.recv().await {
        let mut written = HashSet::new();
        for u in &job.updates {
            match store
                .update_params_from_wave(u.exchange_id, &u.exchange_name, &u.params, job.now)
                .await
            {
                Ok(true) => {
                    written.insert(u.exchange_id);
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(
                        exchange_id = u.exchange_id,
                        error = %e,
                        "params update from wave failed; stored params stand"
                    );
                    // Later waves use what is stored, not this wave's unwritten params.
                    match store.params(u.exchange_id).await {
                        Ok(row) => cache.replace(u.exchange_id, row),
                        Err(e) => tracing::warn!(
                            exchange_id = u.exchange_id,
                            error = %e,
                            "reading params back failed"
                        ),
                    }
                }
            }
        }
        if !job.updates.is_empty()
            && let Err(e) = cache.refresh(&store).await
        {
            tracing::warn!(error = %e, "reading params back after a wave's update failed");
        }
        let _ = job.done.send(written);
    }
}

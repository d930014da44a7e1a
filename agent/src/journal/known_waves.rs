//! The wave ids the journal holds anything for, in memory, so a new wave skips two reads. A
//! wave is added before its first write, so the set only over-approximates.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use sqlx::sqlite::SqlitePool;

/// The set of journaled wave ids (shared by the journal's clones).
#[derive(Debug, Clone, Default)]
pub(super) struct KnownWaves {
    inner: Arc<Mutex<HashSet<String>>>,
}

impl KnownWaves {
    /// Every wave id with an order or a stored result.
    pub(super) async fn load(pool: &SqlitePool) -> Result<Self, sqlx::Error> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT wave_id FROM orders UNION SELECT wave_id FROM wave_results")
                .fetch_all(pool)
                .await?;
        Ok(Self {
            inner: Arc::new(Mutex::new(ids.into_iter().collect())),
        })
    }

    /// True when `wave_id` may have something journaled (a poisoned lock: true, always safe).
    pub(super) fn contains(&self, wave_id: &str) -> bool {
        self.inner.lock().map_or(true, |w| w.contains(wave_id))
    }

    /// Adds `wave_id`; called before its write, so a session starting in between reads
    /// instead of skipping.
    pub(super) fn note(&self, wave_id: &str) {
        if let Ok(mut w) = self.inner.lock()
            && !w.contains(wave_id)
        {
            w.insert(wave_id.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::journal::Journal;
    use wavegate_common::proto::v1 as pb;

    #[tokio::test]
    async fn known_waves_survive_a_reopen_and_grow_on_every_insert() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let j = Journal::open(&path).await.unwrap();
        assert!(!j.knows_wave("A") && !j.knows_wave("B"));
        j.insert_sent(&crate::journal::tests::order("wg-a", "A", 1, "BTCUSDT"))
            .await
            .unwrap();
        assert!(j.knows_wave("A"));
        let r = pb::Result {
            wave_id: "B".into(),
            ..Default::default()
        };
        j.save_result("B", &r).await.unwrap();
        assert!(j.knows_wave("B"));
        assert!(!j.knows_wave("C"));
        j.close().await.unwrap();

        let j = Journal::open(&path).await.unwrap();
        assert!(j.knows_wave("A"), "loaded from orders");
        assert!(j.knows_wave("B"), "loaded from wave_results");
        assert!(!j.knows_wave("C"));
    }
}

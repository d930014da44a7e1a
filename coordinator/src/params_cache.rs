//! Stored exchange params in memory (docs/design.md §5); a newer row replaces the one held.

use std::collections::BTreeMap;

use parking_lot::Mutex;

use crate::error::CoordinatorError;
use crate::store::{Store, StoredParams};

#[derive(Debug, Default)]
struct Inner {
    /// Read from the store at least once.
    loaded: bool,
    rows: BTreeMap<u32, StoredParams>,
}

/// Stored params by exchange id.
#[derive(Debug, Default)]
pub struct ParamsCache {
    inner: Mutex<Inner>,
}

impl ParamsCache {
    /// Every stored params row: from memory, loaded from the store on first use.
    pub async fn snapshot(
        &self,
        store: &Store,
    ) -> Result<BTreeMap<u32, StoredParams>, CoordinatorError> {
        {
            let g = self.inner.lock();
            if g.loaded {
                return Ok(g.rows.clone());
            }
        }
        self.refresh(store).await
    }

    /// Reads every row and keeps each newer than the one held; returns the result.
    pub async fn refresh(
        &self,
        store: &Store,
    ) -> Result<BTreeMap<u32, StoredParams>, CoordinatorError> {
        let rows = store.all_params().await?;
        let mut g = self.inner.lock();
        for r in rows {
            let held = g.rows.get(&r.exchange_id);
            if held.is_none_or(|held| held.updated_at < r.updated_at) {
                g.rows.insert(r.exchange_id, r);
            }
        }
        g.loaded = true;
        Ok(g.rows.clone())
    }

    /// True when the exchange has stored params: held, else read from the store (then held).
    pub async fn contains(&self, store: &Store, id: u32) -> Result<bool, CoordinatorError> {
        if self.inner.lock().rows.contains_key(&id) {
            return Ok(true);
        }
        let Some(p) = store.params(id).await? else {
            return Ok(false);
        };
        // A row put meanwhile (e.g. by `Params.Set`) is at least as new.
        self.inner.lock().rows.entry(id).or_insert(p);
        Ok(true)
    }

    /// Replaces one exchange's row (a `Params.Set` or a wave's params, already merged).
    pub fn put(&self, p: StoredParams) {
        self.inner.lock().rows.insert(p.exchange_id, p);
    }
}

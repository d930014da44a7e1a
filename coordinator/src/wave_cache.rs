//! The accepted signals of collecting waves, kept in memory as their ingest commits, so that
//! dispatch after the claim does not read them back from the database (DESIGN §5: close →
//! first order). Bounded in waves and in signals; a wave that does not fit, was evicted, or was
//! collected partly by another process or before a restart is read from the database instead:
//! dispatch only uses a wave's entry when its count equals the count the claim returned (the
//! entry only ever holds committed, accepted — hence distinct — signals of that wave, so equal
//! counts mean equal sets).

use std::collections::BTreeMap;
use std::sync::Mutex;

use wavegate_common::Signal;

/// Signals kept over all waves at most (~150 bytes each: a few MB).
pub const MAX_CACHED_SIGNALS: usize = 50_000;
/// Waves kept at most; the oldest (by id, i.e. by timestamp) goes first.
pub const MAX_CACHED_WAVES: usize = 32;

#[derive(Debug, Default)]
struct Entry {
    signals: Vec<Signal>,
    /// The wave outgrew the bound: its signals were dropped and later ones are not kept.
    overflowed: bool,
}

#[derive(Debug, Default)]
struct Inner {
    /// By wave id (RFC 3339 of the timestamp, so the order is chronological).
    waves: BTreeMap<String, Entry>,
    total: usize,
}

/// Signals of collecting waves by wave id.
#[derive(Debug, Default)]
pub struct WaveCache {
    inner: Mutex<Inner>,
}

impl WaveCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Poisoning only follows a panic elsewhere; a wrong entry is caught by the count check.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records signals of `wave_id` whose storage has committed.
    pub fn add(&self, wave_id: &str, signals: Vec<Signal>) {
        if signals.is_empty() {
            return;
        }
        let mut g = self.lock();
        let n = signals.len();
        let held = match g.waves.get(wave_id) {
            Some(e) if e.overflowed => return,
            Some(e) => e.signals.len(),
            None => 0,
        };
        if held + n > MAX_CACHED_SIGNALS {
            let e = g.waves.entry(wave_id.to_owned()).or_default();
            let dropped = e.signals.len();
            e.signals = Vec::new();
            e.overflowed = true;
            g.total -= dropped;
            return;
        }
        // Make room by evicting the oldest other waves.
        while g.total + n > MAX_CACHED_SIGNALS
            || (!g.waves.contains_key(wave_id) && g.waves.len() >= MAX_CACHED_WAVES)
        {
            let Some(oldest) = g.waves.keys().find(|k| k.as_str() != wave_id).cloned() else {
                break;
            };
            if let Some(e) = g.waves.remove(&oldest) {
                g.total -= e.signals.len();
            }
        }
        g.total += n;
        g.waves
            .entry(wave_id.to_owned())
            .or_default()
            .signals
            .extend(signals);
    }

    /// Removes the wave's entry and returns its signals when they are exactly the `expected`
    /// number the wave holds in the database; `None` means: read them from the database.
    pub fn take(&self, wave_id: &str, expected: u32) -> Option<Vec<Signal>> {
        let mut g = self.lock();
        let e = g.waves.remove(wave_id)?;
        g.total -= e.signals.len();
        let complete = !e.overflowed && u32::try_from(e.signals.len()).ok() == Some(expected);
        complete.then_some(e.signals)
    }

    /// Drops the wave's entry (it closed elsewhere, or failed).
    pub fn forget(&self, wave_id: &str) {
        let mut g = self.lock();
        if let Some(e) = g.waves.remove(wave_id) {
            g.total -= e.signals.len();
        }
    }

    /// Signals held over all waves.
    pub fn len(&self) -> usize {
        self.lock().total
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

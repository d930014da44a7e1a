//! Accepted signals of collecting waves, so dispatch need not read them back (design.md §5).
//! Entries hold committed, distinct signals: a count equal to the claim's is the claim's set.

use std::collections::BTreeMap;

use parking_lot::Mutex;
use wavegate_common::Signal;

/// Signals kept over all waves (~200 B each): far above a reference wave, below ingest peaks.
const MAX_CACHED_SIGNALS: usize = 20_000;
/// Waves kept at most; the oldest (by id, i.e. by timestamp) goes first.
const MAX_CACHED_WAVES: usize = 32;

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
    /// Records signals of `wave_id` whose storage has committed.
    pub fn add(&self, wave_id: &str, signals: Vec<Signal>) {
        if signals.is_empty() {
            return;
        }
        let mut g = self.inner.lock();
        let n = signals.len();
        let held = match g.waves.get(wave_id) {
            Some(e) if e.overflowed => return,
            Some(e) => e.signals.len(),
            None => 0,
        };
        if held + n > MAX_CACHED_SIGNALS {
            let e = g.waves.entry(wave_id.to_owned()).or_default();
            let dropped = std::mem::take(&mut e.signals).len();
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

    /// Whether the wave's signals are kept whole (it did not outgrow the bound).
    pub fn holds(&self, wave_id: &str) -> bool {
        self.inner
            .lock()
            .waves
            .get(wave_id)
            .is_some_and(|e| !e.overflowed)
    }

    /// Takes the wave's signals if exactly `expected`; `None`: read them from the database.
    pub fn take(&self, wave_id: &str, expected: u32) -> Option<Vec<Signal>> {
        let mut g = self.inner.lock();
        let e = g.waves.remove(wave_id)?;
        g.total -= e.signals.len();
        let complete = !e.overflowed && u32::try_from(e.signals.len()).ok() == Some(expected);
        complete.then_some(e.signals)
    }

    /// Drops the wave's entry (it closed elsewhere, or failed).
    pub fn forget(&self, wave_id: &str) {
        let mut g = self.inner.lock();
        if let Some(e) = g.waves.remove(wave_id) {
            g.total -= e.signals.len();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sigs(from: i64, n: usize) -> Vec<Signal> {
        (from..from + n as i64)
            .map(|id| crate::test_signal(id, &format!("S{id}USDT")))
            .collect()
    }

    #[test]
    fn a_wave_is_taken_only_with_the_count_the_claim_saw() {
        let c = WaveCache::default();
        c.add("w1", sigs(1, 3));
        c.add("w1", sigs(4, 2));
        let got = c.take("w1", 5).unwrap();
        assert_eq!(
            got.iter().map(Signal::id).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(c.len(), 0);
        // A batch committed but not yet recorded: the count differs, the database is read.
        c.add("w2", sigs(1, 3));
        assert!(c.take("w2", 4).is_none());
        assert!(c.take("w2", 3).is_none(), "the entry is gone after a take");
    }

    #[test]
    fn an_oversize_wave_is_dropped_and_the_oldest_waves_are_evicted() {
        let c = WaveCache::default();
        c.add("w-a", sigs(1, 10));
        c.add("w-big", sigs(1, MAX_CACHED_SIGNALS - 5));
        assert_eq!(
            c.len(),
            MAX_CACHED_SIGNALS - 5 + 10 - 10,
            "w-a evicted to make room"
        );
        assert!(c.take("w-a", 10).is_none());
        c.add("w-big", sigs(100_000, 10));
        assert_eq!(c.len(), 0, "the wave outgrew the bound and was dropped");
        c.add("w-big", sigs(200_000, 1));
        assert!(
            c.take("w-big", 1).is_none(),
            "nothing is kept after an overflow"
        );
        for i in 0..MAX_CACHED_WAVES + 3 {
            c.add(&format!("w{i:03}"), sigs(1, 1));
        }
        assert_eq!(c.len(), MAX_CACHED_WAVES);
        assert!(c.take("w000", 1).is_none());
        let last = format!("w{:03}", MAX_CACHED_WAVES + 2);
        assert!(c.take(&last, 1).is_some());
    }
}

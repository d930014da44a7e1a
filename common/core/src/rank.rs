//! Ranking and grouping of a wave's signals (docs/design.md §1).
//!
//! Signals are sorted by `score_week + score_month` descending; equal sums by `score_week`
//! descending (the reference bot's stable sort kept its signal server's order, which is
//! `score_week` descending); then by signal id ascending and exchange id, so the order is total
//! and deterministic even if two exchanges reuse an id. Groups by exchange keep that order.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::signal::{ExchangeId, Signal};

/// The rank order: `a` before `b` iff this returns `Less`. A total order.
pub fn compare(a: &Signal, b: &Signal) -> Ordering {
    b.score()
        .total_cmp(&a.score())
        .then_with(|| b.score_week().total_cmp(&a.score_week()))
        .then_with(|| a.id().cmp(&b.id()))
        .then_with(|| a.exchange_id().cmp(&b.exchange_id()))
}

/// Sorts signals into rank order.
pub fn rank(signals: &mut [Signal]) {
    signals.sort_by(compare);
}

/// Ranks the signals and groups them by exchange, each group in rank order.
pub fn group_by_exchange(mut signals: Vec<Signal>) -> BTreeMap<ExchangeId, Vec<Signal>> {
    rank(&mut signals);
    let mut groups: BTreeMap<ExchangeId, Vec<Signal>> = BTreeMap::new();
    for s in signals {
        groups.entry(s.exchange_id()).or_default().push(s);
    }
    groups
}

/// The params a wave supplies per exchange: those of the first signal in rank order that
/// carries any (docs/design.md §1 step 1). `groups` must be in rank order, as from
/// [`group_by_exchange`].
pub fn wave_params(
    groups: &BTreeMap<ExchangeId, Vec<Signal>>,
) -> BTreeMap<ExchangeId, crate::SignalParams> {
    groups
        .iter()
        .filter_map(|(ex, sigs)| sigs.iter().find_map(|s| s.params()).map(|p| (*ex, *p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::SignalDraft;
    use chrono::{TimeZone, Utc};

    fn sig(id: i64, week: f64, month: f64) -> Signal {
        let t = Utc.with_ymd_and_hms(2025, 10, 28, 18, 15, 0).unwrap();
        SignalDraft {
            id: Some(id),
            symbol: Some(format!("S{id}USDT")),
            exchange_id: Some(1),
            action: crate::Action::parse("BUY"),
            score_week: Some(week),
            score_month: Some(month),
            wave_timestamp: Some(t),
            created_at: Some(t),
            params: None,
        }
        .check(900, t)
        .unwrap()
    }

    #[test]
    fn equal_sums_rank_by_score_week_then_id() {
        // Sums of 162.25 each (exact in binary); a real wave had four signals at 92.9 / 69.7.
        let mut v = vec![
            sig(1, 69.75, 92.5),
            sig(9, 92.5, 69.75),
            sig(4, 92.5, 69.75),
            sig(2, 80.25, 82.0),
            sig(3, 99.0, 99.0),
        ];
        rank(&mut v);
        let ids: Vec<i64> = v.iter().map(Signal::id).collect();
        assert_eq!(ids, vec![3, 4, 9, 2, 1]);
    }
}

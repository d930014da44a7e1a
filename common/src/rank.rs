//! Ranking and grouping of a wave's signals (DESIGN §1).
//!
//! Signals are sorted by `score_week + score_month` descending; ties by signal id ascending
//! (then exchange id, so the order is total even if two exchanges reuse an id), and grouped by
//! exchange keeping that order.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::signal::{ExchangeId, Signal};

/// The rank order: `a` before `b` iff this returns `Less`. A total order.
pub fn compare(a: &Signal, b: &Signal) -> Ordering {
    b.score()
        .total_cmp(&a.score())
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
/// carries any (DESIGN §1 step 1). `groups` must be in rank order, as from
/// [`group_by_exchange`].
pub fn wave_params(
    groups: &BTreeMap<ExchangeId, Vec<Signal>>,
) -> BTreeMap<ExchangeId, crate::SignalParams> {
    groups
        .iter()
        .filter_map(|(ex, sigs)| sigs.iter().find_map(|s| s.params()).map(|p| (*ex, *p)))
        .collect()
}

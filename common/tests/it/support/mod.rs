//! A synchronous driver of the pure pieces (planner, verdict filter, walk, tally) the way an
//! agent drives them, and a naive reference written straight from docs/design.md §1, for the tests.

#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};

use wavegate_common::plan::{TopUpPlanner, next_batch, topup_count};
use wavegate_common::stats::{ExchangeStats, ParamsSource, Tally};
use wavegate_common::validate::{Verdict, VerdictFilter};
use wavegate_common::walk::{Mode, Next, Walk};

/// A signal of one exchange as the simulation sees it: its symbol, whether the adapter's rules
/// pass, and whether its order would succeed.
#[derive(Debug, Clone)]
pub struct Sim {
    pub symbol: String,
    pub rules_ok: bool,
    pub exec_ok: bool,
}

/// One exchange's setting.
#[derive(Debug, Clone)]
pub struct Setup {
    pub max_trades: u32,
    pub buffer_size: u32,
    pub max_rounds: u32,
    pub open: Vec<String>,
}

/// Outcome of a run: the statistics and the indices (rank order) of executed signals.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub stats: ExchangeStats,
    pub executed: Vec<usize>,
    pub launched: Vec<usize>,
}

/// Drives planner + filter + walk. `settle_order` picks which in-flight order settles next
/// (index into the in-flight queue, modulo its length), to exercise windowed interleavings.
pub fn drive(sigs: &[Sim], setup: &Setup, mode: Mode, settle_order: &[usize]) -> Run {
    let total = sigs.len() as u32;
    let mut tally = Tally::new(
        1,
        "x",
        total,
        setup.max_trades,
        setup.buffer_size,
        ParamsSource::Db,
    );
    let mut planner =
        TopUpPlanner::new(setup.max_trades, setup.buffer_size, total, setup.max_rounds);
    let mut filter = VerdictFilter::new(setup.open.iter().cloned());
    let mut walk = Walk::new(setup.max_trades, mode);
    let mut candidates: Vec<usize> = Vec::new();
    let mut successes = 0u32;
    let mut validate = |range: std::ops::Range<usize>,
                        round: u32,
                        tally: &mut Tally,
                        candidates: &mut Vec<usize>,
                        walk: &mut Walk,
                        successes: &mut u32| {
        for i in range {
            let s = &sigs[i];
            let check = if s.rules_ok {
                Ok(())
            } else {
                Err("symbol_not_tradable".to_string())
            };
            let v = filter.verdict(&s.symbol, check);
            tally.verdict(round, &v);
            if v == Verdict::Successful {
                candidates.push(i);
                walk.push_candidates(1);
                *successes += 1;
            }
        }
    };
    let buffer = next_batch(0, setup.buffer_size, sigs.len());
    let mut sent = buffer.end;
    validate(
        buffer,
        0,
        &mut tally,
        &mut candidates,
        &mut walk,
        &mut successes,
    );
    while let Some(ask) = planner.ask(successes) {
        tally.topup_round();
        let batch = next_batch(sent, ask.count, sigs.len());
        if batch.is_empty() {
            planner.exhausted();
            continue;
        }
        planner.received(batch.len() as u32);
        sent = batch.end;
        validate(
            batch,
            ask.round,
            &mut tally,
            &mut candidates,
            &mut walk,
            &mut successes,
        );
    }
    walk.close();
    let mut flying: VecDeque<usize> = VecDeque::new();
    let mut launched = Vec::new();
    let mut executed = Vec::new();
    let mut k = 0;
    loop {
        match walk.next_action() {
            Next::Launch(c) => {
                launched.push(candidates[c]);
                flying.push_back(c);
            }
            Next::Wait => {
                let pick = settle_order.get(k).copied().unwrap_or(0) % flying.len();
                k += 1;
                let c = flying.remove(pick).expect("in flight");
                let ok = sigs[candidates[c]].exec_ok;
                walk.settle(c, ok).expect("settle");
                tally.execution(ok);
                if ok {
                    executed.push(candidates[c]);
                }
            }
            Next::Done => break,
        }
    }
    executed.sort_unstable();
    Run {
        stats: tally.finish(),
        executed,
        launched,
    }
}

/// docs/design.md §1 steps 2–6 as plain loops (one top-up round per `max_rounds`).
pub fn reference(sigs: &[Sim], setup: &Setup) -> Run {
    let max = setup.max_trades as usize;
    let open: HashSet<&str> = setup.open.iter().map(String::as_str).collect();
    let mut taken: HashSet<&str> = HashSet::new();
    let mut stats = ExchangeStats {
        exchange_id: 1,
        exchange_name: "x".into(),
        total_signals: sigs.len() as u32,
        target: setup.max_trades,
        buffer_size: setup.buffer_size,
        params_source: ParamsSource::Db,
        ..Default::default()
    };
    let mut validated: Vec<usize> = Vec::new();
    let mut check =
        |i: usize, topup: bool, stats: &mut ExchangeStats, validated: &mut Vec<usize>| {
            let s = &sigs[i];
            if open.contains(s.symbol.as_str()) || taken.contains(s.symbol.as_str()) {
                stats.duplicates += 1;
            } else if !s.rules_ok {
                stats.validation_failed += 1;
            } else {
                taken.insert(s.symbol.as_str());
                validated.push(i);
                if topup {
                    stats.topped_up += 1
                } else {
                    stats.validated_successful += 1
                }
            }
        };
    let buffer = (setup.buffer_size as usize).min(sigs.len());
    stats.selected_for_validation = buffer as u32;
    for i in 0..buffer {
        check(i, false, &mut stats, &mut validated);
    }
    let mut next = buffer;
    let mut rounds = 0;
    while validated.len() < max && next < sigs.len() && rounds < setup.max_rounds {
        rounds += 1;
        let needed = max - validated.len();
        let extra = topup_count(needed as u32) as usize;
        let end = (next + extra).min(sigs.len());
        for i in next..end {
            check(i, true, &mut stats, &mut validated);
        }
        next = end;
    }
    stats.topup_rounds = rounds;
    let mut executed = Vec::new();
    let mut launched = Vec::new();
    for &i in &validated {
        if executed.len() >= max {
            break;
        }
        launched.push(i);
        if sigs[i].exec_ok {
            executed.push(i);
            stats.executed += 1;
        } else {
            stats.execution_failed += 1;
        }
    }
    stats.total_for_execution = stats.validated_successful + stats.topped_up;
    stats.target_reached = stats.executed >= stats.target;
    stats.buffer_saved_us =
        stats.executed < stats.total_for_execution && stats.executed == stats.target;
    Run {
        stats,
        executed,
        launched,
    }
}

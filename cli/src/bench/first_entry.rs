//! Where close → first order goes, per wave: the way of the wave's first entry from the
//! coordinator's decision to close to the paper exchange that recorded it, cut at the instants
//! the processes log under `wavegate_coordinator::timing` and `wavegate_agent::timing` (debug;
//! `wavegate bench` reads the same lines, `wavegate_cli::bench::timing_lines`). The bench does
//! not turn those lines on itself, so the default run measures without them. Used by the
//! repository's `waves` bench (close → first order, 8 exchanges × 100 signals).

use std::collections::HashMap;

use super::breakdown::{Outside, way_in};
use super::stats::Summary;
use super::timing_lines::{AgentStamps, CoordinatorLog, OrderTiming};

/// The `RUST_LOG` value that adds the split to a run.
pub const RUST_LOG: &str = "info,wavegate_coordinator::timing=debug,wavegate_agent::timing=debug";

/// The last part's label; the ones before are `wavegate bench`'s ([`Outside::LABELS`]).
const RECORDED: &str = "→ entry recorded by the paper exchange (the order's steps to it)";

/// Parts: the first five of [`Outside::LABELS`] (the same intervals `wavegate bench` spreads
/// over a walk), then [`RECORDED`].
const PARTS: usize = 6;

/// Each part's label, in the order the wave's first entry passes them.
pub fn labels() -> impl Iterator<Item = &'static str> {
    Outside::LABELS[..PARTS - 1]
        .iter()
        .copied()
        .chain([RECORDED])
}

/// One agent's lines: its waves' instants and its orders.
#[derive(Debug, Default)]
pub struct AgentLines {
    /// `wave timing`, by wave id.
    pub waves: HashMap<String, AgentStamps>,
    /// `order timing`, every order.
    pub orders: Vec<OrderTiming>,
}

/// The wave's first entry: where and when the paper exchange recorded it.
#[derive(Debug, Clone)]
pub struct FirstEntry {
    /// The wave.
    pub wave_id: String,
    /// The exchange whose paper exchange recorded it first.
    pub exchange_id: u32,
    /// When, µs since the epoch.
    pub recorded_us: i64,
}

/// The parts over the waves whose every instant was logged, ms.
#[derive(Debug)]
pub struct Split {
    /// Waves with every instant.
    pub waves: usize,
    /// One summary per part ([`labels`]).
    pub parts: Vec<Summary>,
    /// Their sum, the decision → the entry recorded.
    pub total: Summary,
}

/// The instants of one wave's first entry, each part's start in order, the end last; `None`
/// when a line is missing (the log level hid it, or the wave's lines were cut off).
fn instants(
    coordinator: &CoordinatorLog,
    agents: &HashMap<u32, AgentLines>,
    first: &FirstEntry,
) -> Option<[i64; PARTS + 1]> {
    let claim = coordinator.claims.get(&first.wave_id)?;
    let call = coordinator
        .calls
        .get(&(first.wave_id.clone(), first.exchange_id))?;
    let agent = agents.get(&first.exchange_id)?;
    let stamps = agent.waves.get(&first.wave_id)?;
    // Waves run one after another: the wave's first order is the first begun after its start,
    // and before its entry was recorded (else its line is missing: no later wave's order).
    let order = agent
        .orders
        .iter()
        .map(|o| o.start_us)
        .filter(|&s| s >= stamps.started_us && s <= first.recorded_us)
        .min()?;
    let [a, b, c, d, e, f] = way_in(claim.decided_us, claim, *call, stamps, order);
    Some([a, b, c, d, e, f, first.recorded_us])
}

/// The split over `firsts`; `None` when no wave has every instant.
pub fn split(
    coordinator: &CoordinatorLog,
    agents: &HashMap<u32, AgentLines>,
    firsts: &[FirstEntry],
) -> Option<Split> {
    let mut parts = vec![Vec::new(); PARTS];
    let mut total = Vec::new();
    for at in firsts
        .iter()
        .filter_map(|f| instants(coordinator, agents, f))
    {
        let ms = |a: i64, b: i64| (b - a) as f64 / 1e3;
        for (i, part) in parts.iter_mut().enumerate() {
            part.push(ms(at[i], at[i + 1]));
        }
        total.push(ms(at[0], at[PARTS]));
    }
    (!total.is_empty()).then(|| Split {
        waves: total.len(),
        parts: parts.iter().map(|p| Summary::of(p)).collect(),
        total: Summary::of(&total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::timing_lines::ClaimStamps;

    fn order(start_us: i64) -> OrderTiming {
        OrderTiming {
            start_us,
            end_us: start_us + 50,
            steps: [0; 6],
        }
    }

    /// Each wave on exchange 2, decided at its `base`, each instant 100 µs after the one before.
    fn logs(waves: &[(&str, i64)]) -> (CoordinatorLog, HashMap<u32, AgentLines>) {
        let mut c = CoordinatorLog::default();
        let mut a = AgentLines::default();
        for &(w, base) in waves {
            let stamps = ClaimStamps {
                decided_us: base,
                claimed_us: base + 100,
            };
            c.claims.insert(w.to_owned(), stamps);
            c.calls.insert((w.to_owned(), 2), base + 200);
            let agent = AgentStamps {
                arrived_us: base + 300,
                started_us: base + 400,
                finished_us: base + 900,
                sent_us: base + 950,
            };
            a.waves.insert(w.to_owned(), agent);
            a.orders.push(order(base + 500));
            a.orders.push(order(base + 700));
        }
        (c, HashMap::from([(2, a)]))
    }

    fn first(w: &str, recorded_us: i64) -> FirstEntry {
        FirstEntry {
            wave_id: w.to_owned(),
            exchange_id: 2,
            recorded_us,
        }
    }

    #[test]
    fn each_part_runs_from_one_logged_instant_to_the_next_and_the_total_is_their_sum() {
        let (c, a) = logs(&[("w1", 1_000)]);
        let s = split(&c, &a, &[first("w1", 1_600)]).expect("split");
        assert_eq!(s.waves, 1);
        let p50: Vec<f64> = s.parts.iter().map(|p| p.p50).collect();
        assert_eq!(p50, vec![0.1; 6]);
        assert!((s.total.p50 - 0.6).abs() < 1e-9);
        assert_eq!(labels().count(), s.parts.len());
    }

    #[test]
    fn the_split_follows_the_exchange_that_recorded_the_first_entry() {
        let (mut c, mut a) = logs(&[("w1", 1_000)]);
        // Exchange 5's call and agent, each part a length of its own (120, 130, … µs).
        c.calls.insert(("w1".to_owned(), 5), 1_220);
        let stamps = AgentStamps {
            arrived_us: 1_350,
            started_us: 1_490,
            finished_us: 1_900,
            sent_us: 1_950,
        };
        let lines = AgentLines {
            waves: HashMap::from([("w1".to_owned(), stamps)]),
            orders: vec![order(1_640)],
        };
        a.insert(5, lines);
        let on_5 = FirstEntry {
            wave_id: "w1".to_owned(),
            exchange_id: 5,
            recorded_us: 1_800,
        };
        let s = split(&c, &a, &[on_5]).expect("split");
        let p50: Vec<f64> = s.parts.iter().map(|p| (p.p50 * 1e3).round()).collect();
        assert_eq!(p50, vec![100.0, 120.0, 130.0, 140.0, 150.0, 160.0]);
        assert!((s.total.p50 - 0.8).abs() < 1e-9);
    }

    #[test]
    fn a_wave_missing_a_line_is_left_out_and_never_takes_a_later_waves_order() {
        let (c, mut a) = logs(&[("w1", 1_000), ("w2", 10_000)]);
        // Wave 1's orders were not logged: the next order begun (wave 2's) is not its first.
        if let Some(lines) = a.get_mut(&2) {
            lines.orders.retain(|o| o.start_us > 5_000);
        }
        let firsts = [first("w1", 1_600), first("w2", 10_600)];
        let s = split(&c, &a, &firsts).expect("wave 2 has every line");
        assert_eq!(s.waves, 1);
        assert!((s.total.p50 - 0.6).abs() < 1e-9);
        // No coordinator line for any wave: nothing to split.
        assert!(split(&CoordinatorLog::default(), &a, &firsts).is_none());
    }
}

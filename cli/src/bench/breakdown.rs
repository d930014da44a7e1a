//! Where a walked signal's time goes, from the timing lines of `timing_lines.rs`. Per
//! sequential wave the slowest exchange's orders inside the wave's window are its walk; per
//! walked signal: the agent's timed steps, the rest of each order, the session loop between
//! orders (orders are futures the session task polls, no spawn), and the time outside the walk,
//! spread over the walked signals. With the coordinator's and the agent's wave lines as well,
//! that time is split: the claim, the coordinator's dispatch, the stream's way to the agent, the
//! session's start, its way to the first order, the `Result` (journaled), its way back and the
//! coordinator's part until every exchange has reported.

use serde::Serialize;

use super::timing_lines::{AgentStamps, ClaimStamps, OrderTiming};

/// ms per walked signal, by part (means over the waves).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Breakdown {
    /// Waves it is computed from.
    pub waves: usize,
    /// Walked signals per wave.
    pub walked: f64,
    /// Waiting for the symbol's lock.
    pub symbol_lock_ms: f64,
    /// The open-positions read under the lock.
    pub positions_read_ms: f64,
    /// The rate limiter (entry and stop).
    pub limiter_ms: f64,
    /// Journal commits before a request leaves (entry row, stop step).
    pub journal_ms: f64,
    /// Entry and stop calls at the paper exchange (latency included).
    pub paper_exchange_ms: f64,
    /// The rest of each order's own time (outcome built, metrics, polling).
    pub order_other_ms: f64,
    /// Between one order's end and the next one's start (outcome sent, next launch).
    pub session_loop_ms: f64,
    /// Before the first order and after the last, spread over the walked signals.
    pub outside_walk_ms: f64,
    /// `outside_walk_ms` by part, when every wave has its coordinator and agent lines.
    pub outside: Option<Outside>,
    /// The makespan per walked signal (the sum of the parts above).
    pub total_ms: f64,
}

/// The time outside the walk by part, ms per walked signal; the parts add up to it.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Outside {
    /// The decision to close → the claim committed.
    pub claim_ms: f64,
    /// The claim → the `ExecuteWave` call leaves the coordinator.
    pub dispatch_ms: f64,
    /// The call → the agent's handler (both processes' HTTP/2 tasks, the loopback).
    pub to_agent_ms: f64,
    /// The handler → the session started (`Start` read, positions and account read).
    pub session_start_ms: f64,
    /// The session started → the first order (validation, the first launch).
    pub to_first_order_ms: f64,
    /// The last order's end → the `Result` sent (its journal commit).
    pub result_ms: f64,
    /// The `Result` sent → read by the coordinator (both processes' HTTP/2 tasks).
    pub to_coordinator_ms: f64,
    /// The `Result` read → every exchange reported (the makespan's end).
    pub reported_ms: f64,
}

impl Outside {
    /// Each part's label, in field order (the report's rows).
    pub const LABELS: [&str; 8] = [
        "claim (decision → committed)",
        "coordinator dispatch (→ call)",
        "call → agent's handler",
        "session start (Start, reads)",
        "→ first order (validation)",
        "last order → Result sent",
        "Result sent → read by the coordinator",
        "→ every exchange reported",
    ];

    /// The parts, in field order.
    pub fn parts(&self) -> [f64; 8] {
        [
            self.claim_ms,
            self.dispatch_ms,
            self.to_agent_ms,
            self.session_start_ms,
            self.to_first_order_ms,
            self.result_ms,
            self.to_coordinator_ms,
            self.reported_ms,
        ]
    }

    /// From parts in field order.
    fn of(p: [f64; 8]) -> Self {
        Self {
            claim_ms: p[0],
            dispatch_ms: p[1],
            to_agent_ms: p[2],
            session_start_ms: p[3],
            to_first_order_ms: p[4],
            result_ms: p[5],
            to_coordinator_ms: p[6],
            reported_ms: p[7],
        }
    }
}

/// A wave's way into one exchange's session as instants (µs since the epoch), the cut points
/// of the first five [`Outside::LABELS`]: the decision to close, the claim committed, the call
/// left, the agent's handler called, the session started, the first order begun.
pub fn way_in(
    decided_us: i64,
    claim: &ClaimStamps,
    call_us: i64,
    agent: &AgentStamps,
    first_order_us: i64,
) -> [i64; 6] {
    [
        decided_us,
        claim.claimed_us,
        call_us,
        agent.arrived_us,
        agent.started_us,
        first_order_us,
    ]
}

/// One wave of the slowest exchange: its window and, when logged, its wave lines.
#[derive(Debug, Clone, Copy, Default)]
pub struct WaveWindow {
    /// The makespan's start and end, µs since the epoch: the decision to close → completion
    /// when the coordinator logs its wave line, else from `closed_at` (ms stamps).
    pub start_us: i64,
    /// The makespan's end.
    pub end_us: i64,
    /// `start_us` is the decision to close, to the µs.
    pub exact: bool,
    /// The coordinator's claim line.
    pub claim: Option<ClaimStamps>,
    /// When the call to the slowest exchange's agent left.
    pub call_us: Option<i64>,
    /// When the coordinator read that agent's `Result`.
    pub result_us: Option<i64>,
    /// That agent's wave line.
    pub agent: Option<AgentStamps>,
}

/// The breakdown of walks: each wave's window and the slowest agent's timing lines.
pub fn of_walks(windows: &[WaveWindow], orders: &[OrderTiming]) -> Option<Breakdown> {
    let mut b = Breakdown::default();
    // Sums per part over the waves; `None` once a wave lacks a line.
    let mut split = Some([0.0; 8]);
    for w in windows {
        // The coordinator's ms stamps, when they are all there is: widen by one ms each side.
        let slack = if w.exact { 0 } else { 1000 };
        let mut walk: Vec<&OrderTiming> = orders
            .iter()
            .filter(|o| o.start_us >= w.start_us - slack && o.end_us <= w.end_us + slack)
            .collect();
        walk.sort_by_key(|o| o.start_us);
        let (Some(first), Some(last)) = (walk.first(), walk.last()) else {
            continue;
        };
        let n = walk.len() as f64;
        let sum = |i: usize| walk.iter().map(|o| o.steps[i] as f64).sum::<f64>() / 1e3 / n;
        let own: f64 = walk
            .iter()
            .map(|o| (o.end_us - o.start_us) as f64)
            .sum::<f64>()
            / 1e3;
        let steps: f64 = walk
            .iter()
            .flat_map(|o| o.steps)
            .map(|v| v as f64)
            .sum::<f64>()
            / 1e3;
        let gaps: f64 = walk
            .windows(2)
            .map(|p| (p[1].start_us - p[0].end_us).max(0) as f64)
            .sum::<f64>()
            / 1e3;
        let span = (w.end_us - w.start_us) as f64 / 1e3;
        // The rest of the makespan, so the parts add up even where ms stamps cut into µs.
        let outside = span - own - gaps;
        b.waves += 1;
        b.walked += n;
        b.symbol_lock_ms += sum(0);
        b.positions_read_ms += sum(1);
        b.limiter_ms += sum(2);
        b.journal_ms += sum(3);
        b.paper_exchange_ms += sum(4) + sum(5);
        b.order_other_ms += (own - steps) / n;
        b.session_loop_ms += gaps / n;
        b.outside_walk_ms += outside / n;
        b.total_ms += span / n;
        split = match (split, w.exact, w.claim, w.call_us, w.result_us, w.agent) {
            (Some(mut s), true, Some(c), Some(call), Some(read), Some(a)) => {
                let part = |from: i64, to: i64| (to - from) as f64 / 1e3 / n;
                let way = way_in(w.start_us, &c, call, &a, first.start_us);
                let parts = [
                    part(way[0], way[1]),
                    part(way[1], way[2]),
                    part(way[2], way[3]),
                    part(way[3], way[4]),
                    part(way[4], way[5]),
                    part(last.end_us, a.sent_us),
                    part(a.sent_us, read),
                    part(read, w.end_us),
                ];
                for (v, p) in s.iter_mut().zip(parts) {
                    *v += p;
                }
                Some(s)
            }
            _ => None,
        };
    }
    if b.waves == 0 {
        return None;
    }
    let w = b.waves as f64;
    for v in [
        &mut b.walked,
        &mut b.symbol_lock_ms,
        &mut b.positions_read_ms,
        &mut b.limiter_ms,
        &mut b.journal_ms,
        &mut b.paper_exchange_ms,
        &mut b.order_other_ms,
        &mut b.session_loop_ms,
        &mut b.outside_walk_ms,
        &mut b.total_ms,
    ] {
        *v /= w;
    }
    b.outside = split.map(|s| Outside::of(s.map(|v| v / w)));
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(start_us: i64, end_us: i64) -> OrderTiming {
        OrderTiming {
            start_us,
            end_us,
            steps: [100, 100, 100, 500, 1000, 0],
        }
    }

    fn window(start_us: i64, end_us: i64) -> WaveWindow {
        WaveWindow {
            start_us,
            end_us,
            ..WaveWindow::default()
        }
    }

    #[test]
    fn parts_add_up_to_the_makespan_per_signal() {
        // Closed at 0, orders 1 000–3 000 and 3 500–5 500, completed at 8 000 (µs).
        let b = of_walks(&[window(0, 8_000)], &[o(1_000, 3_000), o(3_500, 5_500)]).unwrap();
        assert_eq!((b.waves, b.walked), (1, 2.0));
        assert!((b.journal_ms - 0.5).abs() < 1e-9);
        assert!((b.session_loop_ms - 0.25).abs() < 1e-9);
        assert!((b.outside_walk_ms - 1.75).abs() < 1e-9);
        let parts = b.symbol_lock_ms
            + b.positions_read_ms
            + b.limiter_ms
            + b.journal_ms
            + b.paper_exchange_ms
            + b.order_other_ms
            + b.session_loop_ms
            + b.outside_walk_ms;
        assert!((parts - b.total_ms).abs() < 1e-9, "{b:?}");
        // Without the wave lines the time outside the walk is not split.
        assert!(b.outside.is_none());
        assert!(of_walks(&[window(10_000, 20_000)], &[o(1_000, 3_000)]).is_none());
    }

    #[test]
    fn with_the_wave_lines_the_time_outside_the_walk_is_split_exactly() {
        let w = WaveWindow {
            start_us: 0,
            end_us: 8_000,
            exact: true,
            claim: Some(ClaimStamps {
                decided_us: 0,
                claimed_us: 400,
            }),
            call_us: Some(500),
            result_us: Some(7_300),
            agent: Some(AgentStamps {
                arrived_us: 700,
                started_us: 800,
                finished_us: 5_600,
                sent_us: 7_000,
            }),
        };
        // An order of the wave before (outside the exact window) is not part of this walk.
        let orders = [o(-900, -100), o(1_000, 3_000), o(3_500, 5_500)];
        let b = of_walks(&[w], &orders).unwrap();
        assert_eq!(b.walked, 2.0);
        let s = b.outside.expect("split");
        // Per walked signal (two): 0.4 ms claim → 0.2; 0.1 → 0.05; … 1.5 ms result → 0.75.
        let want = [0.2, 0.05, 0.1, 0.05, 0.1, 0.75, 0.15, 0.35];
        for (got, want) in s.parts().into_iter().zip(want) {
            assert!((got - want).abs() < 1e-9, "{s:?}");
        }
        let sum: f64 = s.parts().into_iter().sum();
        assert!((sum - b.outside_walk_ms).abs() < 1e-9, "{b:?}");
        // One wave without its agent line: no split for the set.
        let partial = WaveWindow { agent: None, ..w };
        assert!(of_walks(&[w, partial], &orders).unwrap().outside.is_none());
    }
}

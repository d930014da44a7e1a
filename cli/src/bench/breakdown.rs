//! Where a walked signal's time goes, from the agents' per-order timing lines
//! (`wavegate_agent::timing`, debug level; kept with `--data-dir`). Per sequential wave the
//! slowest exchange's orders between `closed_at` and `completed_at` are its walk; per walked
//! signal: the agent's timed steps, the rest of each order, the session loop between orders
//! (orders are futures the session task polls, no spawn), and the dispatch start and result's
//! way back, spread over the walked signals.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

/// One order's timing line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OrderTiming {
    /// Start and end, µs since the epoch.
    pub start_us: i64,
    /// End, µs since the epoch.
    pub end_us: i64,
    /// µs per step: lock, positions, limiter, journal, entry, stop.
    pub steps: [u64; 6],
}

/// The step names, in [`OrderTiming::steps`] order, as the log line's fields.
const FIELDS: [&str; 6] = [
    "lock_us",
    "positions_us",
    "limiter_us",
    "journal_us",
    "entry_us",
    "stop_us",
];

/// Drops ANSI colour sequences (`ESC [ … m`) from a log line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses the `order timing` line of `line`, if it is one.
pub fn parse_line(line: &str) -> Option<OrderTiming> {
    if !line.contains("order timing") {
        return None;
    }
    let line = strip_ansi(line);
    let mut t = OrderTiming::default();
    let mut seen = 0;
    for token in line.split_whitespace() {
        let Some((k, v)) = token.split_once('=') else {
            continue;
        };
        match k {
            "start_us" => t.start_us = v.parse().ok()?,
            "end_us" => t.end_us = v.parse().ok()?,
            _ => match FIELDS.iter().position(|f| *f == k) {
                Some(i) => t.steps[i] = v.parse().ok()?,
                None => continue,
            },
        }
        seen += 1;
    }
    (seen == FIELDS.len() + 2).then_some(t)
}

/// Every timing line of the log at `path` (none if it cannot be read).
pub fn read_log(path: &Path) -> Vec<OrderTiming> {
    std::fs::read_to_string(path)
        .map(|text| text.lines().filter_map(parse_line).collect())
        .unwrap_or_default()
}

/// Each wave's makespan in µs from the coordinator's `wave completed` lines (`makespan_us`, the
/// decision to close → completion); empty when the log cannot be read or hides `info`.
pub fn read_makespans(path: &Path) -> HashMap<String, i64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("wave completed"))
        .filter_map(|l| {
            let l = strip_ansi(l);
            let field = |k: &str| {
                l.split_whitespace()
                    .find_map(|t| t.strip_prefix(k)?.strip_prefix('='))
                    .map(str::to_owned)
            };
            let us: i64 = field("makespan_us")?.parse().ok()?;
            Some((field("wave_id")?, us)).filter(|_| us >= 0)
        })
        .collect()
}

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
    /// The makespan per walked signal (the sum of the parts above).
    pub total_ms: f64,
}

/// The breakdown of walks: each wave's `(closed_at, completed_at)` (µs) and its timing lines.
pub fn of_walks(windows: &[(i64, i64)], orders: &[OrderTiming]) -> Option<Breakdown> {
    let mut b = Breakdown::default();
    for &(closed, completed) in windows {
        // The coordinator's stamps have ms precision: widen by one ms each side.
        let mut walk: Vec<&OrderTiming> = orders
            .iter()
            .filter(|o| o.start_us >= closed - 1000 && o.end_us <= completed + 1000)
            .collect();
        if walk.is_empty() {
            continue;
        }
        walk.sort_by_key(|o| o.start_us);
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
        let span = (completed - closed) as f64 / 1e3;
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
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "2026-12-07T00:10:00.000001Z DEBUG place_order{wave_id=x}: \
        wavegate_agent::timing: order timing coid=\"wgabc\" start_us=1000 end_us=4000 \
        lock_us=10 positions_us=20 limiter_us=5 journal_us=900 entry_us=1000 stop_us=800";

    #[test]
    fn a_timing_line_parses_with_or_without_colours() {
        let t = parse_line(LINE).unwrap();
        assert_eq!((t.start_us, t.end_us), (1000, 4000));
        assert_eq!(t.steps, [10, 20, 5, 900, 1000, 800]);
        let coloured = LINE.replace("lock_us=", "\u{1b}[3mlock_us\u{1b}[0m\u{1b}[2m=\u{1b}[0m");
        assert_eq!(parse_line(&coloured), Some(t));
        assert_eq!(parse_line("INFO something else start_us=1"), None);
        // A line missing a field is not counted.
        assert_eq!(parse_line(&LINE.replace(" stop_us=800", "")), None);
    }

    #[test]
    fn makespans_come_from_the_coordinators_completion_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("coordinator.log");
        let done = |id: &str, us: &str| {
            format!(
                "2026-12-07T15:03:57.428827Z  INFO wave{{wave_id=\"{id}\" signals=16}}: \
                 wavegate_coordinator::report: wave completed wave_id={id} \
                 status=\"completed\" makespan_us={us} positions_opened=10 failed=1\n"
            )
        };
        let text = [
            done("2026-12-06T16:00:00Z", "5630"),
            // Coloured field names, as a terminal-less child may still write them.
            done("2026-12-06T16:15:00Z", "\u{1b}[2m\u{1b}[0m812").replace(
                "makespan_us=",
                "\u{1b}[3mmakespan_us\u{1b}[0m\u{1b}[2m=\u{1b}[0m",
            ),
            // A resumed wave without a close instant, and another line: not counted.
            done("2026-12-06T16:30:00Z", "-1"),
            "INFO wave closed and claimed wave_id=\"x\" close_us=700\n".into(),
        ]
        .concat();
        std::fs::write(&log, text).unwrap();
        let m = read_makespans(&log);
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m["2026-12-06T16:00:00Z"], 5630);
        assert_eq!(m["2026-12-06T16:15:00Z"], 812);
        assert!(read_makespans(&dir.path().join("missing.log")).is_empty());
    }

    #[test]
    fn parts_add_up_to_the_makespan_per_signal() {
        let o = |start_us, end_us| OrderTiming {
            start_us,
            end_us,
            steps: [100, 100, 100, 500, 1000, 0],
        };
        // Closed at 0, orders 1 000–3 000 and 3 500–5 500, completed at 8 000 (µs).
        let b = of_walks(&[(0, 8_000)], &[o(1_000, 3_000), o(3_500, 5_500)]).unwrap();
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
        assert!(of_walks(&[(10_000, 20_000)], &[o(1_000, 3_000)]).is_none());
    }
}

//! The timing lines the bench reads from its processes' logs (kept with `--data-dir`):
//! the agents' `order timing` and `wave timing` lines (`wavegate_agent::timing`, debug), the
//! coordinator's `wave timing` and `exchange timing` lines (`wavegate_coordinator::timing`, debug)
//! and its `wave completed` lines (`makespan_us`, info). Every instant is µs since the epoch;
//! the processes share the host's clock.

use std::collections::HashMap;
use std::path::Path;

/// One order's timing line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OrderTiming {
    /// Start, µs since the epoch.
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

/// A wave's instants at the coordinator.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClaimStamps {
    /// The decision to close.
    pub decided_us: i64,
    /// The claim committed.
    pub claimed_us: i64,
}

/// A wave's instants at one agent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AgentStamps {
    /// The `ExecuteWave` handler was called.
    pub arrived_us: i64,
    /// The session started (`wave started`).
    pub started_us: i64,
    /// The walk ended.
    pub finished_us: i64,
    /// The `Result` was handed to the stream (after its journal commit).
    pub sent_us: i64,
}

/// Drops ANSI colour sequences (`ESC [ … m`) from a log line.
pub fn strip_ansi(line: &str) -> String {
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

/// The `key=value` fields of the line (values unquoted) when it carries `message`.
fn fields(line: &str, message: &str) -> Option<HashMap<String, String>> {
    if !line.contains(message) {
        return None;
    }
    let line = strip_ansi(line);
    let fields = line
        .split_whitespace()
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect();
    Some(fields)
}

/// Every field of `names` as an integer, in order; `None` if one is missing or malformed.
fn ints<const N: usize>(f: &HashMap<String, String>, names: [&str; N]) -> Option<[i64; N]> {
    let mut out = [0; N];
    for (slot, name) in out.iter_mut().zip(names) {
        *slot = f.get(name)?.parse().ok()?;
    }
    Some(out)
}

/// Parses the `order timing` line of `line`, if it is one.
pub fn parse_order(line: &str) -> Option<OrderTiming> {
    let f = fields(line, "order timing")?;
    let [start_us, end_us] = ints(&f, ["start_us", "end_us"])?;
    let steps = ints(&f, FIELDS)?.map(|v| u64::try_from(v).unwrap_or(0));
    Some(OrderTiming {
        start_us,
        end_us,
        steps,
    })
}

fn lines(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Every order timing line of the log at `path` (none if it cannot be read).
pub fn read_orders(path: &Path) -> Vec<OrderTiming> {
    lines(path).lines().filter_map(parse_order).collect()
}

/// The agent's `wave timing` lines of the log at `path`, by wave id.
pub fn read_agent_waves(path: &Path) -> HashMap<String, AgentStamps> {
    let names = ["arrived_us", "started_us", "finished_us", "sent_us"];
    lines(path)
        .lines()
        .filter_map(|l| fields(l, "wave timing"))
        .filter_map(|f| {
            let [arrived_us, started_us, finished_us, sent_us] = ints(&f, names)?;
            let stamps = AgentStamps {
                arrived_us,
                started_us,
                finished_us,
                sent_us,
            };
            Some((f.get("wave_id")?.clone(), stamps))
        })
        .collect()
}

/// What the coordinator's log tells of each wave.
#[derive(Debug, Clone, Default)]
pub struct CoordinatorLog {
    /// Each wave's makespan, µs (`wave completed`, the decision to close → completion).
    pub makespans: HashMap<String, i64>,
    /// Each wave's decision and claim (`wave timing`).
    pub claims: HashMap<String, ClaimStamps>,
    /// When each `(wave, exchange)` call left (`exchange timing`, `call`); the last one counts.
    pub calls: HashMap<(String, u32), i64>,
    /// When each `(wave, exchange)` `Result` was read (`exchange timing`, `result`).
    pub results: HashMap<(String, u32), i64>,
}

/// Reads the coordinator's log at `path` (empty when it cannot be read or hides the lines).
pub fn read_coordinator(path: &Path) -> CoordinatorLog {
    let mut log = CoordinatorLog::default();
    for line in lines(path).lines() {
        if let Some(f) = fields(line, "wave completed")
            && let (Some(id), Some([us])) = (f.get("wave_id"), ints(&f, ["makespan_us"]))
            && us >= 0
        {
            log.makespans.insert(id.clone(), us);
        } else if let Some(f) = fields(line, "wave timing")
            && let (Some(id), Some([decided_us, claimed_us])) =
                (f.get("wave_id"), ints(&f, ["decided_us", "claimed_us"]))
        {
            let stamps = ClaimStamps {
                decided_us,
                claimed_us,
            };
            log.claims.insert(id.clone(), stamps);
        } else if let Some(f) = fields(line, "exchange timing")
            && let (Some(id), Some([ex, at])) =
                (f.get("wave_id"), ints(&f, ["exchange_id", "at_us"]))
            && let Ok(ex) = u32::try_from(ex)
        {
            let map = match f.get("event").map(String::as_str) {
                Some("call") => &mut log.calls,
                Some("result") => &mut log.results,
                _ => continue,
            };
            map.insert((id.clone(), ex), at);
        }
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "2026-12-07T00:10:00.000001Z DEBUG place_order{wave_id=x}: \
        wavegate_agent::timing: order timing coid=\"wgabc\" start_us=1000 end_us=4000 \
        lock_us=10 positions_us=20 limiter_us=5 journal_us=900 entry_us=1000 stop_us=800";

    #[test]
    fn a_timing_line_parses_with_or_without_colours() {
        let t = parse_order(LINE).unwrap();
        assert_eq!((t.start_us, t.end_us), (1000, 4000));
        assert_eq!(t.steps, [10, 20, 5, 900, 1000, 800]);
        let coloured = LINE.replace("lock_us=", "\u{1b}[3mlock_us\u{1b}[0m\u{1b}[2m=\u{1b}[0m");
        assert_eq!(parse_order(&coloured), Some(t));
        assert_eq!(parse_order("INFO something else start_us=1"), None);
        // A line missing a field is not counted.
        assert_eq!(parse_order(&LINE.replace(" stop_us=800", "")), None);
    }

    #[test]
    fn the_coordinators_lines_give_makespans_claims_and_calls() {
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
            "DEBUG api{}: wavegate_coordinator::timing: wave timing \
             wave_id=\"2026-12-06T16:00:00Z\" decided_us=100 claimed_us=600\n"
                .into(),
            "DEBUG wave{}: wavegate_coordinator::timing: exchange timing \
             wave_id=\"2026-12-06T16:00:00Z\" exchange_id=2 event=\"call\" at_us=900\n"
                .into(),
            "DEBUG wave{}: wavegate_coordinator::timing: exchange timing \
             wave_id=\"2026-12-06T16:00:00Z\" exchange_id=2 event=\"result\" at_us=5000\n"
                .into(),
            // An event it does not know: not counted.
            "DEBUG wavegate_coordinator::timing: exchange timing \
             wave_id=\"2026-12-06T16:00:00Z\" exchange_id=2 event=\"other\" at_us=1\n"
                .into(),
        ]
        .concat();
        std::fs::write(&log, text).unwrap();
        let c = read_coordinator(&log);
        assert_eq!(c.makespans.len(), 2, "{c:?}");
        assert_eq!(c.makespans["2026-12-06T16:00:00Z"], 5630);
        assert_eq!(c.makespans["2026-12-06T16:15:00Z"], 812);
        let claim = c.claims["2026-12-06T16:00:00Z"];
        assert_eq!((claim.decided_us, claim.claimed_us), (100, 600));
        assert_eq!(c.calls[&("2026-12-06T16:00:00Z".to_owned(), 2)], 900);
        assert_eq!(c.results[&("2026-12-06T16:00:00Z".to_owned(), 2)], 5000);
        assert!(c.calls.len() == 1 && c.claims.len() == 1, "{c:?}");
        assert!(
            read_coordinator(&dir.path().join("missing.log"))
                .makespans
                .is_empty()
        );
    }

    #[test]
    fn an_agents_wave_lines_are_read_by_wave() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("agent-1.log");
        std::fs::write(
            &log,
            "DEBUG execute_wave{}: wavegate_agent::timing: wave timing wave_id=w1 \
             arrived_us=10 started_us=20 finished_us=30 sent_us=40\n\
             DEBUG wavegate_agent::timing: wave timing wave_id=w2 arrived_us=1\n",
        )
        .unwrap();
        let waves = read_agent_waves(&log);
        assert_eq!(
            waves.len(),
            1,
            "a line missing a field is not counted: {waves:?}"
        );
        assert_eq!(
            waves["w1"],
            AgentStamps {
                arrived_us: 10,
                started_us: 20,
                finished_us: 30,
                sent_us: 40
            }
        );
    }
}

//! The text form of a bench [`Report`]: the latency grid, then the multi-region comparison.

use wavegate_coordinator::config::ExecutionMode;

use super::breakdown::{Breakdown, Outside};
use super::cell::SampleResult;
use super::{CellResult, Part, Report};
use crate::table::{Align, Table};

fn ms(v: f64) -> String {
    format!("{v:.1}")
}

fn ratio(r: &SampleResult) -> String {
    r.ratio
        .map_or_else(|| "-".into(), |x| format!("{:.2}", x.p50))
}

fn find(
    cells: &[CellResult],
    part: Part,
    latency_ms: Option<u64>,
    mode: ExecutionMode,
) -> Option<&CellResult> {
    cells
        .iter()
        .find(|c| c.part == part && c.mode == mode && latency_ms.is_none_or(|l| c.latency_ms == l))
}

fn sample<'a>(c: Option<&'a CellResult>, name: &str) -> Option<&'a SampleResult> {
    c?.samples.iter().find(|s| s.sample == name)
}

fn grid(report: &Report) -> String {
    let mut t = Table::new(&[
        ("WAVE", Align::Left),
        ("LATENCY", Align::Right),
        ("CALLS", Align::Right),
        ("BOUND", Align::Right),
        ("SEQUENTIAL", Align::Right),
        ("×BOUND", Align::Right),
        ("OWN/SIGNAL", Align::Right),
        ("WINDOWED", Align::Right),
        ("×BOUND", Align::Right),
    ]);
    let mut latencies: Vec<u64> = report
        .cells
        .iter()
        .filter(|c| c.part == Part::Grid)
        .map(|c| c.latency_ms)
        .collect();
    latencies.dedup();
    for l in latencies {
        let seq = find(
            &report.cells,
            Part::Grid,
            Some(l),
            ExecutionMode::Sequential,
        );
        let win = find(&report.cells, Part::Grid, Some(l), ExecutionMode::Windowed);
        for s in seq.map_or(&[][..], |c| &c.samples[..]) {
            let w = sample(win, s.sample);
            let calls = s.exchanges.iter().map(|x| x.calls).max().unwrap_or(0);
            t.row([
                s.sample.to_owned(),
                format!("{l} ms"),
                calls.to_string(),
                ms(s.bound_ms),
                ms(s.makespan_ms.p50),
                ratio(s),
                format!("{:.3}", s.own_cost_per_signal_ms.p50),
                w.map_or_else(|| "-".into(), |w| ms(w.makespan_ms.p50)),
                w.map_or_else(|| "-".into(), ratio),
            ]);
        }
    }
    t.render()
}

fn regions(report: &Report) -> Option<String> {
    let reference = find(
        &report.cells,
        Part::Reference,
        None,
        ExecutionMode::Sequential,
    )?;
    let seq = find(
        &report.cells,
        Part::AgentsNearExchange,
        None,
        ExecutionMode::Sequential,
    );
    let win = find(
        &report.cells,
        Part::AgentsNearExchange,
        None,
        ExecutionMode::Windowed,
    );
    let near = seq.or(win)?;
    let mut t = Table::new(&[
        ("WAVE", Align::Left),
        ("TOP-UPS", Align::Right),
        ("REFERENCE", Align::Right),
        ("WAVEGATE SEQ", Align::Right),
        ("SAVED", Align::Right),
        ("WAVEGATE WIN", Align::Right),
    ]);
    for r in &reference.samples {
        let s = sample(seq, r.sample);
        let w = sample(win, r.sample);
        let topups: u32 = r.exchanges.iter().map(|x| x.topup_rounds).sum();
        t.row([
            r.sample.to_owned(),
            topups.to_string(),
            ms(r.makespan_ms.p50),
            s.map_or_else(|| "-".into(), |s| ms(s.makespan_ms.p50)),
            s.map_or_else(
                || "-".into(),
                |s| {
                    format!(
                        "{:.0}%",
                        100.0 * (1.0 - s.makespan_ms.p50 / r.makespan_ms.p50)
                    )
                },
            ),
            w.map_or_else(|| "-".into(), |w| ms(w.makespan_ms.p50)),
        ]);
    }
    Some(format!(
        "Multi-region (makespan p50, ms): wavegate = agents {} ms from their exchange, the \
         coordinator {:.0} ms round trip away (delay proxy); reference = one process, every \
         exchange call {} ms (the long round trip + the exchange).\n{}",
        near.latency_ms,
        near.agent_rtt_ms,
        reference.latency_ms,
        t.render()
    ))
}

/// One per-walk part of a breakdown.
type PartOf = fn(&Breakdown) -> f64;

fn breakdown(report: &Report) -> Option<String> {
    let cols: Vec<(String, &Breakdown)> = report
        .cells
        .iter()
        .filter(|c| c.mode == ExecutionMode::Sequential)
        .filter_map(|c| {
            let s = c.samples.iter().find(|s| s.sample == "worked-example")?;
            let label = match c.part {
                Part::Grid => format!("{} ms", c.latency_ms),
                Part::AgentsNearExchange => format!("near {} ms", c.latency_ms),
                Part::Reference => format!("reference {} ms", c.latency_ms),
            };
            Some((label, s.breakdown.as_ref()?))
        })
        .collect();
    if cols.is_empty() {
        return None;
    }
    let mut columns = vec![("PART (ms per walked signal)".to_owned(), Align::Left)];
    columns.extend(cols.iter().map(|(l, _)| (l.clone(), Align::Right)));
    let refs: Vec<(&str, Align)> = columns.iter().map(|(h, a)| (h.as_str(), *a)).collect();
    let mut t = Table::new(&refs);
    let walk: [(&str, PartOf); 8] = [
        ("symbol lock", |b| b.symbol_lock_ms),
        ("positions read", |b| b.positions_read_ms),
        ("rate limiter", |b| b.limiter_ms),
        ("journal commits", |b| b.journal_ms),
        ("paper exchange calls", |b| b.paper_exchange_ms),
        ("rest of the order", |b| b.order_other_ms),
        ("session loop (outcome send, next launch)", |b| {
            b.session_loop_ms
        }),
        ("outside the walk (dispatch, validation, result)", |b| {
            b.outside_walk_ms
        }),
    ];
    // Each row: its label and one value per column (`None`: not logged).
    let mut rows: Vec<(String, Vec<Option<f64>>)> = walk
        .iter()
        .map(|(name, f)| {
            (
                name.to_string(),
                cols.iter().map(|(_, b)| Some(f(b))).collect(),
            )
        })
        .collect();
    for (i, label) in Outside::LABELS.iter().enumerate() {
        let values = cols.iter().map(|(_, b)| b.outside.map(|o| o.parts()[i]));
        rows.push((format!("  {label}"), values.collect()));
    }
    let total = cols.iter().map(|(_, b)| Some(b.total_ms)).collect();
    rows.push(("total (makespan / walked)".into(), total));
    for (name, values) in rows {
        let mut row = vec![name];
        row.extend(
            values
                .into_iter()
                .map(|v| v.map_or_else(|| "-".into(), |v| format!("{v:.3}"))),
        );
        t.row(row);
    }
    Some(format!(
        "Breakdown of the worked example's binance walk, sequential (from the agents' timing \
         lines):\n{}",
        t.render()
    ))
}

/// The report as text tables.
pub fn text(report: &Report) -> String {
    let load = report
        .load_before
        .map_or_else(|| "unknown".into(), |l| format!("{l:.2}"));
    let mut out = format!(
        "wavegate bench {}: {} CPUs, load {} at start, {} runs of each wave per setting, \
         coordinator sqlite_sync {}, {:.0} s\n\n\
         Grid (makespan = coordinator's decision to close → completed, p50, ms; BOUND = the \
         slowest exchange's calls × latency + one coordinator ↔ agent round trip, docs/design.md \
         §5; OWN/SIGNAL = (makespan − calls × latency) / walked signals, sequential):\n{}",
        report.version,
        report.cpus,
        load,
        report.reps,
        report.sqlite_sync.as_str(),
        report.elapsed_secs,
        grid(report)
    );
    for part in [regions(report), breakdown(report)].into_iter().flatten() {
        out.push('\n');
        out.push_str(&part);
    }
    out
}

#[cfg(test)]
mod tests {
    use wavegate_coordinator::store::SqliteSync;

    use super::*;
    use crate::bench::stats::Summary;

    fn cell(latency_ms: u64, breakdown: Breakdown) -> CellResult {
        let one = Summary::of(&[1.0]);
        CellResult {
            part: Part::Grid,
            latency_ms,
            mode: ExecutionMode::Sequential,
            agent_rtt_ms: 0.0,
            samples: vec![SampleResult {
                sample: "worked-example",
                makespan_ms: one,
                calls_ms: 0.0,
                round_trip_ms: 0.0,
                bound_ms: 0.0,
                ratio: None,
                own_cost_per_signal_ms: one,
                walked: 7,
                exchanges: vec![],
                breakdown: Some(breakdown),
            }],
        }
    }

    #[test]
    fn the_breakdown_shows_each_part_per_latency_and_a_dash_where_the_split_was_not_logged() {
        // Every part a value of its own, so a row showing another part's value fails.
        let split = Outside {
            claim_ms: 0.011,
            dispatch_ms: 0.012,
            to_agent_ms: 0.013,
            session_start_ms: 0.014,
            to_first_order_ms: 0.015,
            result_ms: 0.016,
            to_coordinator_ms: 0.017,
            reported_ms: 0.018,
        };
        let logged = Breakdown {
            symbol_lock_ms: 0.001,
            positions_read_ms: 0.002,
            limiter_ms: 0.003,
            journal_ms: 0.004,
            paper_exchange_ms: 0.005,
            order_other_ms: 0.006,
            session_loop_ms: 0.007,
            outside_walk_ms: 0.008,
            outside: Some(split),
            total_ms: 1.0,
            ..Breakdown::default()
        };
        let report = Report {
            version: "test",
            cpus: 2,
            load_before: None,
            reps: 1,
            sqlite_sync: SqliteSync::Normal,
            elapsed_secs: 1.0,
            cells: vec![cell(0, logged), cell(2, Breakdown::default())],
        };
        let text = breakdown(&report).expect("a breakdown");
        let row = |label: &str| {
            let line = text.lines().find(|l| l.starts_with(label)).unwrap();
            line[label.len()..].split_whitespace().collect::<Vec<_>>()
        };
        let walk = [
            ("symbol lock", "0.001"),
            ("positions read", "0.002"),
            ("rate limiter", "0.003"),
            ("journal commits", "0.004"),
            ("paper exchange calls", "0.005"),
            ("rest of the order", "0.006"),
            ("session loop (outcome send, next launch)", "0.007"),
            ("outside the walk (dispatch, validation, result)", "0.008"),
        ];
        for (label, value) in walk {
            assert_eq!(row(label), [value, "0.000"], "{label}: {text}");
        }
        // The split's rows, in `Outside::LABELS` order; no split logged at 2 ms: a dash.
        for (i, label) in Outside::LABELS.iter().enumerate() {
            let value = format!("{:.3}", 0.011 + 0.001 * i as f64);
            assert_eq!(row(&format!("  {label}")), [value.as_str(), "-"], "{text}");
        }
        assert_eq!(
            row("total (makespan / walked)"),
            ["1.000", "0.000"],
            "{text}"
        );
    }
}

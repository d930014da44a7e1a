//! A wave report as text: header, a line per exchange, the fitted table, agreeing totals.

use std::collections::BTreeMap;

use wavegate_common::WaveTotals;
use wavegate_common::stats::ExchangeStats;

use super::{ExchangeReport, WaveReport};
use crate::table::{
    Align::{Left, Right},
    Column, Table, cell, output_width,
};

/// `1 signal`, `2 signals`.
pub fn plural(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn name_of(s: &ExchangeStats) -> String {
    if s.exchange_name.is_empty() {
        format!("exchange {}", s.exchange_id)
    } else {
        s.exchange_name.clone()
    }
}

/// True when the exchange's agent reported anything before it stopped.
fn ran(s: &ExchangeStats) -> bool {
    s.validated_successful
        + s.topped_up
        + s.validation_failed
        + s.duplicates
        + s.executed
        + s.execution_failed
        > 0
}

/// `binance 6/6 (buffer saved us)`, from the table's own fields so the two agree.
pub fn summary_line(s: &ExchangeStats) -> String {
    let mut notes = Vec::new();
    match &s.error {
        Some(err) if ran(s) => {
            notes.push(format!("stopped: {err}"));
            if s.skipped > 0 {
                notes.push(format!("{} not processed", plural(s.skipped, "signal")));
            }
        }
        Some(err) => notes.push(format!(
            "not processed: {err}, {} skipped",
            plural(s.skipped, "signal")
        )),
        None => {
            if s.buffer_saved_us {
                notes.push("buffer saved us".to_owned());
            }
            if s.topped_up > 0 {
                notes.push(format!("topped up {}", s.topped_up));
            }
            if !s.target_reached {
                notes.push("target missed".to_owned());
            }
        }
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join(", "))
    };
    format!("{} {}/{}{notes}", name_of(s), s.executed, s.target)
}

/// `validation failures: insufficient_balance 4, …` by reason code; `None` when none.
pub fn failures_line(failures: &BTreeMap<String, u32>) -> Option<String> {
    let mut by_code: BTreeMap<&str, u32> = BTreeMap::new();
    for (reason, n) in failures {
        let code = reason.split(':').next().unwrap_or(reason).trim();
        let code = if code.is_empty() { "unknown" } else { code };
        *by_code.entry(code).or_insert(0) += n;
    }
    if by_code.is_empty() {
        return None;
    }
    let mut codes: Vec<(&str, u32)> = by_code.into_iter().collect();
    // Most frequent first; ties in name order (the map's), so the line is stable.
    codes.sort_by_key(|c| std::cmp::Reverse(c.1));
    let parts: Vec<String> = codes.iter().map(|(c, n)| format!("{c} {n}")).collect();
    Some(format!("validation failures: {}", parts.join(", ")))
}

/// The per-exchange table, fitted to the output's width (see [`Table::render_within`]).
pub fn exchange_table<'a>(exchanges: impl IntoIterator<Item = &'a ExchangeReport>) -> String {
    let columns: &[Column<ExchangeReport>] = &[
        ("ID", Right, |e| e.stats.exchange_id.to_string()),
        ("EXCHANGE", Left, |e| name_of(&e.stats)),
        ("OPENED", Right, |e| {
            format!("{}/{}", e.stats.executed, e.stats.target)
        }),
        ("SIGNALS", Right, |e| e.stats.total_signals.to_string()),
        ("VALIDATED", Right, |e| {
            e.stats.validated_successful.to_string()
        }),
        ("TOPPED_UP", Right, |e| e.stats.topped_up.to_string()),
        ("EXEC_FAILED", Right, |e| {
            e.stats.execution_failed.to_string()
        }),
        ("VAL_FAILED", Right, |e| {
            e.stats.validation_failed.to_string()
        }),
        ("DUPLICATES", Right, |e| e.stats.duplicates.to_string()),
        ("BUFFER", Right, |e| e.stats.buffer_size.to_string()),
        ("PARAMS", Left, |e| {
            e.stats.params_source.as_str().to_owned()
        }),
        ("SAVED", Left, |e| {
            if e.stats.buffer_saved_us { "yes" } else { "no" }.into()
        }),
        ("FIRST_ORDER_MS", Right, |e| cell(e.timing.first_order_ms)),
        ("DURATION_MS", Right, |e| cell(e.timing.duration_ms)),
        ("ERROR", Left, |e| e.stats.error.clone().unwrap_or_default()),
    ];
    Table::of(columns, exchanges).render_within(output_width())
}

/// Wave totals in one line, then how many exchanges completed fully and why not the rest.
pub fn totals_line(t: &WaveTotals, exchanges: &[&ExchangeStats]) -> String {
    let mut line = format!(
        "totals: {}, {} opened, {}, {} validated, {}, {}",
        plural(t.total_signals, "signal"),
        plural(t.total_executed, "position"),
        plural(t.total_failed, "execution failure"),
        t.total_validated,
        plural(t.validation_errors, "validation failure"),
        plural(t.duplicates, "duplicate"),
    );
    if !exchanges.is_empty() {
        let n = u32::try_from(exchanges.len()).unwrap_or(u32::MAX);
        line.push_str(&format!(
            "\nexchanges: {} of {n} processed fully",
            t.exchanges_processed
        ));
        let why: Vec<String> = exchanges
            .iter()
            .filter_map(|s| s.error.as_ref().map(|e| format!("{}: {e}", name_of(s))))
            .collect();
        if !why.is_empty() {
            line.push_str(&format!(" ({})", why.join(", ")));
        }
    }
    line
}

/// `text` broken after its commas to fit `width`, continuation lines indented by two spaces.
pub fn wrap_at_commas(text: &str, width: Option<usize>) -> String {
    let Some(width) = width else {
        return text.to_owned();
    };
    let mut out = Vec::new();
    for line in text.lines() {
        if line.chars().count() <= width {
            out.push(line.to_owned());
            continue;
        }
        let mut current = String::new();
        for part in line.split_inclusive(", ") {
            let len = current.chars().count() + part.trim_end().chars().count();
            if !current.is_empty() && len > width {
                out.push(current.trim_end().to_owned());
                current = "  ".to_owned();
            }
            current.push_str(part);
        }
        out.push(current.trim_end().to_owned());
    }
    out.join("\n")
}

/// The wave's timing in words: collecting since …, or closed … completed … (N ms).
fn timing_line(r: &WaveReport) -> Option<String> {
    let t = &r.timing;
    match (&t.closed_at, &t.completed_at) {
        (None, _) => t
            .created_at
            .as_ref()
            .map(|c| format!("collecting since {c}")),
        (Some(closed), None) => Some(format!("closed {closed}, not finished yet")),
        (Some(closed), Some(done)) => Some(match t.duration_ms {
            Some(d) => format!("closed {closed}, finished {done} ({d} ms)"),
            None => format!("closed {closed}, finished {done}"),
        }),
    }
}

/// The whole human-readable report of a wave.
pub fn render_wave(r: &WaveReport) -> String {
    let width = output_width();
    let (n, status) = (plural(r.signal_count, "signal"), r.status);
    let mut lines = vec![format!("wave {}  {status}  {n}", r.wave_id)];
    lines.extend(r.reason.iter().map(|reason| format!("  reason: {reason}")));
    lines.extend(timing_line(r).map(|l| wrap_at_commas(&format!("  {l}"), width)));
    for e in r.exchanges.values() {
        lines.push(format!("  {}", summary_line(&e.stats)));
        let failures = failures_line(&e.validation_failures);
        lines.extend(failures.map(|l| wrap_at_commas(&format!("    {l}"), width)));
    }
    if !r.exchanges.is_empty() {
        lines.push(String::new());
        lines.push(exchange_table(r.exchanges.values()).trim_end().to_owned());
    }
    lines.push(match (&r.totals, status) {
        (Some(t), _) => {
            let stats: Vec<&ExchangeStats> = r.exchanges.values().map(|e| &e.stats).collect();
            wrap_at_commas(&totals_line(t, &stats), width)
        }
        (None, "failed") => format!(
            "nothing executed: the wave failed before dispatch ({n} not sent to any exchange)"
        ),
        (None, _) => "totals: once the wave finishes".to_owned(),
    });
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::stats;
    use crate::report::{ExchangeTimingView, WaveTimingView};

    fn report(status: &'static str, exchanges: Vec<ExchangeStats>, totals: bool) -> WaveReport {
        let t = WaveTotals::from_exchanges(17, &exchanges);
        WaveReport {
            wave_id: "2026-11-24T12:00:00Z".into(),
            status,
            reason: Some("cancelled: venue halted".into()),
            signal_count: 17,
            timing: WaveTimingView {
                created_at: Some("2026-11-24T12:14:00.000Z".into()),
                closed_at: Some("2026-11-24T12:15:00.000Z".into()),
                completed_at: Some("2026-11-24T12:15:00.750Z".into()),
                duration_ms: Some(750),
            },
            totals: totals.then_some(t),
            exchanges: exchanges
                .into_iter()
                .map(|s| {
                    (
                        s.exchange_id.to_string(),
                        ExchangeReport {
                            stats: s,
                            executed_symbols: vec![],
                            timing: ExchangeTimingView::default(),
                            validation_failures: BTreeMap::new(),
                            outcomes: None,
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            completed_event: None,
        }
    }

    #[test]
    fn validation_failures_show_per_reason_under_their_exchange() {
        let mut r = report("completed", vec![stats(2, 6, 2, 0)], true);
        let failures: BTreeMap<String, u32> = [
            ("symbol_filtered".to_owned(), 1),
            ("insufficient_balance".to_owned(), 4),
            (
                "below_min_notional: size 100.00 USD, the symbol's minimum is 120.00 USD".into(),
                1,
            ),
            (
                "below_min_notional: size 100.00 USD, the symbol's minimum is 130.00 USD".into(),
                1,
            ),
        ]
        .into_iter()
        .collect();
        r.exchanges.get_mut("1").unwrap().validation_failures = failures;
        let text = render_wave(&r);
        assert!(
            text.contains(
                "  binance 2/6 (target missed)\n    validation failures: insufficient_balance 4, \
                 below_min_notional 2, symbol_filtered 1\n"
            ),
            "{text}"
        );
        // None: no line.
        let text = render_wave(&report("completed", vec![stats(6, 6, 6, 0)], true));
        assert!(!text.contains("validation failures:"), "{text}");
    }

    #[test]
    fn summary_lines_follow_the_fields() {
        // The formula's flag shows in the line whenever the table says SAVED yes.
        let mut bybit = stats(4, 4, 6, 0);
        bybit.exchange_name = "bybit".into();
        assert!(bybit.buffer_saved_us);
        let mut cancelled = stats(2, 4, 4, 0);
        cancelled.error = Some("cancelled".into());
        let skipped = ExchangeStats::skipped(3, "kraken", 4, "no_params");
        for (s, want) in [
            (stats(6, 6, 7, 1), "binance 6/6 (buffer saved us)"),
            (bybit, "bybit 4/4 (buffer saved us)"),
            (stats(3, 5, 3, 0), "binance 3/5 (target missed)"),
            (
                skipped,
                "kraken 0/0 (not processed: no_params, 4 signals skipped)",
            ),
            (cancelled, "binance 2/4 (stopped: cancelled)"),
        ] {
            assert_eq!(summary_line(&s), want);
        }
    }

    #[test]
    fn a_cancelled_wave_reads_coherently() {
        let mut binance = stats(2, 4, 4, 0);
        binance.error = Some("cancelled".into());
        let mut bybit = stats(4, 4, 4, 0);
        bybit.exchange_id = 2;
        bybit.exchange_name = "bybit".into();
        let text = render_wave(&report("partial", vec![binance, bybit], true));
        assert!(
            text.contains("  reason: cancelled: venue halted\n"),
            "{text}"
        );
        assert!(text.contains("(750 ms)"), "{text}");
        assert!(
            text.contains("6 positions opened")
                && text.contains("\nexchanges: 1 of 2 processed fully (binance: cancelled)\n"),
            "{text}"
        );
    }

    #[test]
    fn long_lines_break_after_commas_to_fit() {
        let line = "totals: 16 signals, 2 positions opened, 0 execution failures, 13 validated";
        assert_eq!(wrap_at_commas(line, None), line);
        let wrapped = wrap_at_commas(line, Some(40));
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 40),
            "{wrapped}"
        );
        assert_eq!(wrapped.replace("\n  ", " "), line);
    }

    #[test]
    fn a_wave_failed_before_dispatch_shows_no_zero_totals() {
        let text = render_wave(&report("failed", vec![], false));
        assert!(
            text.contains("wave 2026-11-24T12:00:00Z  failed  17 signals"),
            "{text}"
        );
        assert!(text.contains("nothing executed"), "{text}");
        assert!(!text.contains("totals: 0"), "{text}");
    }
}

//! What the CLI prints about waves: per-exchange tables, one-line summaries, totals, and the
//! JSON report (`waves show --json`, `replay --json`) built on `common::stats` serde names.

use std::collections::BTreeMap;

use serde::Serialize;
use wavegate_common::WaveTotals;
use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::ExchangeStats;
use wavegate_common::time::{from_proto, wave_id};

use crate::table::{Align, Table};

/// Lower-case name of a wave status.
pub fn status_name(status: i32) -> &'static str {
    match pb::WaveStatus::try_from(status) {
        Ok(pb::WaveStatus::Collecting) => "collecting",
        Ok(pb::WaveStatus::Dispatching) => "dispatching",
        Ok(pb::WaveStatus::Completed) => "completed",
        Ok(pb::WaveStatus::Partial) => "partial",
        Ok(pb::WaveStatus::Failed) => "failed",
        _ => "unknown",
    }
}

/// True once a wave will not change any more.
pub fn is_terminal(status: i32) -> bool {
    matches!(
        pb::WaveStatus::try_from(status),
        Ok(pb::WaveStatus::Completed | pb::WaveStatus::Partial | pb::WaveStatus::Failed)
    )
}

/// RFC 3339 form of an optional protobuf timestamp.
pub fn time_str(t: Option<&prost_types::Timestamp>) -> Option<String> {
    t.and_then(from_proto).map(wave_id)
}

/// One signal's outcome, for `waves show --json`.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeView {
    /// 0-based rank within the exchange.
    pub index: u32,
    /// Producer's id.
    pub signal_id: i64,
    /// Instrument.
    pub symbol: String,
    /// `validation` or `execution`.
    pub stage: &'static str,
    /// `validated`, `validation_failed`, `duplicate`, `executed`, `execution_failed`.
    pub result: &'static str,
    /// Whether a position was opened.
    pub executed: bool,
    /// Reason of a failure or skip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Top-up round that brought the signal (0 = buffer).
    pub round: u32,
    /// Trailing stop of an executed signal: `placed`, `failed(<reason>)` or `off`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trailing: Option<String>,
}

impl OutcomeView {
    fn from_proto(o: &pb::SignalOutcome) -> Self {
        let stage = match pb::Stage::try_from(o.stage) {
            Ok(pb::Stage::Validation) => "validation",
            Ok(pb::Stage::Execution) => "execution",
            _ => "unknown",
        };
        Self {
            index: o.index,
            signal_id: o.signal_id,
            symbol: o.symbol.clone(),
            stage,
            result: kind_name(o.kind),
            executed: o.executed,
            error: (!o.error.is_empty()).then(|| o.error.clone()),
            round: o.round,
            trailing: (!o.trailing.is_empty()).then(|| o.trailing.clone()),
        }
    }
}

/// Lower-case name of an outcome kind.
pub fn kind_name(kind: i32) -> &'static str {
    match pb::OutcomeKind::try_from(kind) {
        Ok(pb::OutcomeKind::Validated) => "validated",
        Ok(pb::OutcomeKind::ValidationFailed) => "validation_failed",
        Ok(pb::OutcomeKind::Duplicate) => "duplicate",
        Ok(pb::OutcomeKind::Executed) => "executed",
        Ok(pb::OutcomeKind::ExecutionFailed) => "execution_failed",
        _ => "unknown",
    }
}

/// One exchange in a [`WaveReport`]: every DESIGN §1 step 6 field plus the executed symbols.
#[derive(Debug, Clone, Serialize)]
pub struct ExchangeReport {
    /// The statistics, with `common::stats` serde names.
    #[serde(flatten)]
    pub stats: ExchangeStats,
    /// Symbols of the positions opened, in rank order.
    pub executed_symbols: Vec<String>,
    /// Validation failures by reason (`symbol_not_tradable`, `insufficient_balance`,
    /// `symbol_filtered`, …); absent when none.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub validation_failures: BTreeMap<String, u32>,
    /// Per-signal outcomes (only in `waves show --json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<Vec<OutcomeView>>,
}

/// A wave's result, as printed by `waves show --json` and `replay --json`.
#[derive(Debug, Clone, Serialize)]
pub struct WaveReport {
    /// Wave id (RFC 3339).
    pub wave_timestamp: String,
    /// `collecting`, `dispatching`, `completed`, `partial` or `failed`.
    pub status: &'static str,
    /// Signals in the wave.
    pub signal_count: u32,
    /// Totals (zero until the wave completed).
    pub totals: WaveTotals,
    /// By exchange id.
    pub exchanges: BTreeMap<String, ExchangeReport>,
    /// The stored `WAVE_COMPLETED` event's payload, parsed (only in `waves show --json`, and
    /// only once the event is recorded). A payload that is not JSON is kept as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_event: Option<serde_json::Value>,
}

impl WaveReport {
    /// Builds the report of a wave; `full` adds each exchange's per-signal list and the
    /// stored `WAVE_COMPLETED` event (`waves show --json`).
    pub fn from_detail(d: &pb::WaveDetail, full: bool) -> Self {
        let summary = d.summary.clone().unwrap_or_default();
        let mut exchanges = BTreeMap::new();
        for e in &d.exchanges {
            let mut outs: Vec<&pb::SignalOutcome> = d
                .outcomes
                .iter()
                .filter(|o| o.exchange_id == e.exchange_id)
                .filter_map(|o| o.outcome.as_ref())
                .collect();
            outs.sort_by_key(|o| (o.index, o.stage));
            let executed_symbols = outs
                .iter()
                .filter(|o| o.executed && o.stage == pb::Stage::Execution as i32)
                .map(|o| o.symbol.clone())
                .collect();
            let mut validation_failures = BTreeMap::new();
            for o in &outs {
                if o.kind == pb::OutcomeKind::ValidationFailed as i32 {
                    *validation_failures.entry(o.error.clone()).or_insert(0) += 1;
                }
            }
            exchanges.insert(
                e.exchange_id.to_string(),
                ExchangeReport {
                    stats: ExchangeStats::from_proto(e),
                    executed_symbols,
                    validation_failures,
                    outcomes: full
                        .then(|| outs.iter().map(|o| OutcomeView::from_proto(o)).collect()),
                },
            );
        }
        Self {
            wave_timestamp: summary.wave_id.clone(),
            status: status_name(summary.status),
            signal_count: summary.signal_count,
            totals: summary
                .totals
                .as_ref()
                .map(WaveTotals::from_proto)
                .unwrap_or_default(),
            exchanges,
            completed_event: full.then(|| completed_event(&d.completed_event)).flatten(),
        }
    }
}

/// The `WAVE_COMPLETED` payload of a `WaveDetail`: `None` while not recorded (empty), parsed
/// JSON, else the raw text as a JSON string.
fn completed_event(raw: &str) -> Option<serde_json::Value> {
    if raw.trim().is_empty() {
        return None;
    }
    Some(serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.to_owned())))
}

/// `binance 6/6 (buffer saved us)`: the line a person reads first.
///
/// The note "buffer saved us" is shown when execution failures were made good by spare
/// validated signals; the `buffer_saved_us` field itself follows DESIGN's formula.
pub fn summary_line(s: &ExchangeStats) -> String {
    let name = if s.exchange_name.is_empty() {
        format!("exchange {}", s.exchange_id)
    } else {
        s.exchange_name.clone()
    };
    let mut notes = Vec::new();
    if let Some(err) = &s.error {
        notes.push(format!("{err}: {} signals skipped", s.skipped));
    } else {
        if s.buffer_saved_us && s.execution_failed > 0 {
            notes.push("buffer saved us".to_owned());
        }
        if s.topped_up > 0 {
            notes.push(format!("topped up {}", s.topped_up));
        }
        if !s.target_reached {
            notes.push("target missed".to_owned());
        }
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join(", "))
    };
    format!("{name} {}/{}{notes}", s.executed, s.target)
}

/// The per-exchange table.
pub fn exchange_table<'a, I: IntoIterator<Item = &'a ExchangeStats>>(stats: I) -> String {
    let mut t = Table::new(&[
        ("ID", Align::Right),
        ("EXCHANGE", Align::Left),
        ("EXECUTED", Align::Right),
        ("SIGNALS", Align::Right),
        ("SELECTED", Align::Right),
        ("VALIDATED", Align::Right),
        ("TOPPED_UP", Align::Right),
        ("EXEC_FAILED", Align::Right),
        ("VAL_FAILED", Align::Right),
        ("DUPLICATES", Align::Right),
        ("BUFFER", Align::Right),
        ("SOURCE", Align::Left),
        ("SAVED", Align::Left),
        ("ERROR", Align::Left),
    ]);
    for s in stats {
        t.row([
            s.exchange_id.to_string(),
            s.exchange_name.clone(),
            format!("{}/{}", s.executed, s.target),
            s.total_signals.to_string(),
            s.selected_for_validation.to_string(),
            s.validated_successful.to_string(),
            s.topped_up.to_string(),
            s.execution_failed.to_string(),
            s.validation_failed.to_string(),
            s.duplicates.to_string(),
            s.buffer_size.to_string(),
            s.params_source.as_str().to_owned(),
            if s.buffer_saved_us { "yes" } else { "no" }.to_owned(),
            s.error.clone().unwrap_or_default(),
        ]);
    }
    t.render()
}

/// Wave totals in one line.
pub fn totals_line(t: &WaveTotals) -> String {
    format!(
        "totals: {} signals, {} exchanges processed, {} executed, {} execution failures, \
         {} validated, {} validation errors, {} duplicates",
        t.total_signals,
        t.exchanges_processed,
        t.total_executed,
        t.total_failed,
        t.total_validated,
        t.validation_errors,
        t.duplicates
    )
}

/// The whole human-readable report of a wave: header, summaries, table, totals.
pub fn render_wave(r: &WaveReport) -> String {
    let mut out = format!(
        "wave {}  {}  {} signals\n",
        r.wave_timestamp, r.status, r.signal_count
    );
    for e in r.exchanges.values() {
        out.push_str("  ");
        out.push_str(&summary_line(&e.stats));
        out.push('\n');
    }
    if !r.exchanges.is_empty() {
        out.push('\n');
        out.push_str(&exchange_table(r.exchanges.values().map(|e| &e.stats)));
    }
    out.push_str(&totals_line(&r.totals));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(executed: u32, target: u32, tfe: u32, failed: u32) -> ExchangeStats {
        let mut s = ExchangeStats {
            exchange_id: 1,
            exchange_name: "binance".into(),
            executed,
            target,
            validated_successful: tfe,
            execution_failed: failed,
            ..ExchangeStats::default()
        };
        s.derive();
        s
    }

    #[test]
    fn summary_lines() {
        assert_eq!(
            summary_line(&stats(6, 6, 7, 1)),
            "binance 6/6 (buffer saved us)"
        );
        let mut bybit = stats(4, 4, 6, 0);
        bybit.exchange_name = "bybit".into();
        assert!(bybit.buffer_saved_us, "formula says true");
        assert_eq!(summary_line(&bybit), "bybit 4/4");
        assert_eq!(
            summary_line(&stats(3, 5, 3, 0)),
            "binance 3/5 (target missed)"
        );
        let skipped = ExchangeStats::skipped(3, "kraken", 4, "no_params");
        assert_eq!(
            summary_line(&skipped),
            "kraken 0/0 (no_params: 4 signals skipped)"
        );
    }

    #[test]
    fn report_collects_executed_symbols_in_rank_order() {
        let oc = |index: u32, symbol: &str, stage: pb::Stage, executed: bool| pb::ExchangeOutcome {
            exchange_id: 1,
            outcome: Some(pb::SignalOutcome {
                index,
                symbol: symbol.into(),
                stage: stage as i32,
                executed,
                ..Default::default()
            }),
        };
        let d = pb::WaveDetail {
            summary: Some(pb::WaveSummary {
                wave_id: "2026-11-24T12:00:00Z".into(),
                status: pb::WaveStatus::Completed as i32,
                ..Default::default()
            }),
            exchanges: vec![stats(2, 2, 3, 1).to_proto()],
            outcomes: vec![
                oc(2, "C", pb::Stage::Execution, true),
                oc(0, "A", pb::Stage::Validation, false),
                oc(0, "A", pb::Stage::Execution, true),
                oc(1, "B", pb::Stage::Execution, false),
            ],
            completed_event: String::new(),
        };
        let r = WaveReport::from_detail(&d, false);
        assert_eq!(r.exchanges["1"].executed_symbols, vec!["A", "C"]);
        assert_eq!(r.status, "completed");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["exchanges"]["1"]["buffer_saved_us"], true);
        assert_eq!(json["exchanges"]["1"]["params_source"], "db");
        assert!(json["exchanges"]["1"].get("outcomes").is_none());
        assert!(render_wave(&r).contains("binance 2/2 (buffer saved us)"));
    }

    #[test]
    fn completed_event_only_in_the_full_report() {
        let mut d = pb::WaveDetail {
            summary: Some(pb::WaveSummary {
                wave_id: "2026-11-24T12:00:00Z".into(),
                status: pb::WaveStatus::Completed as i32,
                ..Default::default()
            }),
            completed_event: r#"{"wave_timestamp":"2026-11-24T12:00:00Z","positions_opened":10}"#
                .into(),
            ..Default::default()
        };
        // replay --json (docs/replay.md): unchanged, no completed_event key.
        let short = serde_json::to_value(WaveReport::from_detail(&d, false)).unwrap();
        assert!(short.get("completed_event").is_none(), "{short}");
        // waves show --json: the stored event, parsed.
        let full = serde_json::to_value(WaveReport::from_detail(&d, true)).unwrap();
        assert_eq!(full["completed_event"]["positions_opened"], 10);
        assert_eq!(
            full["completed_event"]["wave_timestamp"],
            "2026-11-24T12:00:00Z"
        );
        // Not recorded yet: no key; not JSON: kept as a string.
        d.completed_event = String::new();
        let none = serde_json::to_value(WaveReport::from_detail(&d, true)).unwrap();
        assert!(none.get("completed_event").is_none(), "{none}");
        d.completed_event = "not json".into();
        let raw = serde_json::to_value(WaveReport::from_detail(&d, true)).unwrap();
        assert_eq!(raw["completed_event"], "not json");
    }
}

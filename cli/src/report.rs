//! The JSON wave report (`waves show --json`, `replay --json`); the text form is [`text`].

pub mod text;

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use wavegate_common::WaveTotals;
use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::ExchangeStats;
use wavegate_common::time::{from_proto, wave_id};
use wavegate_common::timing::{ExchangeTiming, millis_between};
use wavegate_common::wave_status::WaveStatus;

pub use text::{render_wave, summary_line};

/// Lower-case name of a wave status.
pub fn status_name(status: i32) -> &'static str {
    WaveStatus::from_proto(status).map_or("unknown", WaveStatus::as_str)
}

/// True once a wave will not change any more.
pub fn is_terminal(status: i32) -> bool {
    WaveStatus::from_proto(status).is_some_and(WaveStatus::is_final)
}

/// RFC 3339 form of an optional protobuf timestamp.
pub fn time_str(t: Option<&prost_types::Timestamp>) -> Option<String> {
    t.and_then(from_proto).map(wave_id)
}

/// RFC 3339 with milliseconds, for timing.
pub fn instant_str(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// When a wave was created, closed and completed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WaveTimingView {
    /// First signal stored.
    pub created_at: Option<String>,
    /// Closed for dispatch (or failed before dispatch).
    pub closed_at: Option<String>,
    /// Reached completed, partial or failed.
    pub completed_at: Option<String>,
    /// From closed to completed, in milliseconds.
    pub duration_ms: Option<u64>,
}

/// When one exchange of a wave ran, as the coordinator saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExchangeTimingView {
    /// Its stream started (or it was skipped).
    pub started_at: Option<String>,
    /// Its first order result arrived.
    pub first_order_at: Option<String>,
    /// Its result arrived, or the coordinator gave up on it.
    pub finished_at: Option<String>,
    /// From the wave's close to the first order result, in milliseconds.
    pub first_order_ms: Option<u64>,
    /// From started to finished, in milliseconds.
    pub duration_ms: Option<u64>,
}

impl ExchangeTimingView {
    fn new(t: &ExchangeTiming, closed_at: Option<DateTime<Utc>>) -> Self {
        Self {
            started_at: t.started_at.map(instant_str),
            first_order_at: t.first_order_at.map(instant_str),
            finished_at: t.finished_at.map(instant_str),
            first_order_ms: millis_between(closed_at, t.first_order_at),
            duration_ms: millis_between(t.started_at, t.finished_at),
        }
    }
}

/// One signal's outcome, for `waves show --json`.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeView {
    index: u32,
    signal_id: i64,
    symbol: String,
    /// `validation` or `execution`.
    stage: &'static str,
    /// `validated`, `validation_failed`, `duplicate`, `executed`, `execution_failed`.
    result: &'static str,
    executed: bool,
    /// Reason of a failure or skip.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Top-up round that brought the signal (0 = buffer).
    round: u32,
    /// Trailing stop of an executed signal: `placed`, `failed(<reason>)` or `off`.
    #[serde(skip_serializing_if = "Option::is_none")]
    trailing: Option<String>,
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

/// One exchange in a [`WaveReport`]: its statistics, executed symbols and timing.
#[derive(Debug, Clone, Serialize)]
pub struct ExchangeReport {
    /// The statistics, with `common::stats` serde names.
    #[serde(flatten)]
    pub stats: ExchangeStats,
    /// Symbols of the positions opened, in rank order.
    pub executed_symbols: Vec<String>,
    /// When the exchange ran (left out when unknown, e.g. in `replay --json`).
    #[serde(skip_serializing_if = "is_default")]
    pub timing: ExchangeTimingView,
    /// Validation failures by reason (`symbol_not_tradable`, …); absent when none.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub validation_failures: BTreeMap<String, u32>,
    /// Per-signal outcomes (only in `waves show --json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<Vec<OutcomeView>>,
}

/// A wave's result, as printed by `waves show --json` and `replay --json`.
#[derive(Debug, Clone, Serialize)]
pub struct WaveReport {
    /// Wave id (RFC 3339), as in `waves list` and `watch`.
    pub wave_id: String,
    /// `collecting`, `dispatching`, `completed`, `partial` or `failed`.
    pub status: &'static str,
    /// Why the wave failed or stopped early (e.g. `cancelled: venue halted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Signals in the wave.
    pub signal_count: u32,
    /// When the wave was created, closed and completed (left out when unknown).
    #[serde(skip_serializing_if = "is_default")]
    pub timing: WaveTimingView,
    /// Totals over the exchanges that ran; absent until the wave finishes and when none ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals: Option<WaveTotals>,
    /// By exchange id.
    pub exchanges: BTreeMap<String, ExchangeReport>,
    /// The stored `WAVE_COMPLETED` payload, once recorded; a string when not JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_event: Option<serde_json::Value>,
}

impl WaveReport {
    /// The report of a wave; `full` adds the per-signal outcomes and the `WAVE_COMPLETED` event.
    pub fn from_detail(d: &pb::WaveDetail, full: bool) -> Self {
        let summary = d.summary.clone().unwrap_or_default();
        let at = |t: &Option<prost_types::Timestamp>| t.as_ref().and_then(from_proto);
        let closed_at = at(&summary.closed_at);
        let completed_at = at(&summary.completed_at);
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
            let timing = d
                .timings
                .iter()
                .find(|t| t.exchange_id == e.exchange_id)
                .map(ExchangeTiming::from_proto)
                .unwrap_or_default();
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
                    timing: ExchangeTimingView::new(&timing, closed_at),
                    validation_failures,
                    outcomes: full
                        .then(|| outs.iter().map(|o| OutcomeView::from_proto(o)).collect()),
                },
            );
        }
        Self {
            wave_id: summary.wave_id.clone(),
            status: status_name(summary.status),
            reason: (!summary.reason.is_empty()).then(|| summary.reason.clone()),
            signal_count: summary.signal_count,
            timing: WaveTimingView {
                created_at: at(&summary.created_at).map(instant_str),
                closed_at: closed_at.map(instant_str),
                completed_at: completed_at.map(instant_str),
                duration_ms: millis_between(closed_at, completed_at),
            },
            totals: summary.totals.as_ref().map(WaveTotals::from_proto),
            exchanges,
            completed_event: full.then(|| completed_event(&d.completed_event)).flatten(),
        }
    }

    /// The report without wall-clock instants: `replay --json` is the same run after run.
    pub fn without_timing(mut self) -> Self {
        self.timing = WaveTimingView::default();
        for e in self.exchanges.values_mut() {
            e.timing = ExchangeTimingView::default();
        }
        self
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// The `WAVE_COMPLETED` payload: `None` while not recorded, else parsed (a string if not JSON).
fn completed_event(raw: &str) -> Option<serde_json::Value> {
    if raw.trim().is_empty() {
        return None;
    }
    Some(serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use wavegate_common::time::to_proto;

    /// Binance's statistics with these counts, derived fields filled in.
    pub(super) fn stats(executed: u32, target: u32, tfe: u32, failed: u32) -> ExchangeStats {
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
            ..Default::default()
        };
        let r = WaveReport::from_detail(&d, false);
        assert_eq!(r.exchanges["1"].executed_symbols, vec!["A", "C"]);
        assert_eq!(r.status, "completed");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["wave_id"], "2026-11-24T12:00:00Z");
        assert_eq!(json["exchanges"]["1"]["buffer_saved_us"], true);
        assert_eq!(json["exchanges"]["1"]["params_source"], "db");
        assert!(json["exchanges"]["1"].get("outcomes").is_none());
        assert!(render_wave(&r).contains("binance 2/2 (buffer saved us"));
    }

    #[test]
    fn reason_and_timing_reach_the_report() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 12, 14, 0).unwrap();
        let ms = |n: i64| to_proto(t0 + chrono::Duration::milliseconds(n));
        let d = pb::WaveDetail {
            summary: Some(pb::WaveSummary {
                wave_id: "2026-11-24T12:00:00Z".into(),
                status: pb::WaveStatus::Partial as i32,
                created_at: Some(ms(-5000)),
                closed_at: Some(ms(0)),
                completed_at: Some(ms(750)),
                reason: "cancelled: venue halted".into(),
                ..Default::default()
            }),
            exchanges: vec![stats(2, 4, 4, 0).to_proto()],
            timings: vec![pb::ExchangeTiming {
                exchange_id: 1,
                started_at: Some(ms(2)),
                first_order_at: Some(ms(6)),
                finished_at: Some(ms(700)),
            }],
            ..Default::default()
        };
        let json = serde_json::to_value(WaveReport::from_detail(&d, false)).unwrap();
        assert_eq!(json["reason"], "cancelled: venue halted");
        assert_eq!(json["timing"]["closed_at"], "2026-11-24T12:14:00.000Z");
        assert_eq!(json["timing"]["duration_ms"], 750);
        assert_eq!(json["exchanges"]["1"]["timing"]["first_order_ms"], 6);
        assert_eq!(json["exchanges"]["1"]["timing"]["duration_ms"], 698);
        // Not completed: no totals rather than zeros.
        assert!(json.get("totals").is_none(), "{json}");
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

//! Per-exchange statistics and wave totals with exactly the field names of docs/design.md §1 steps 6–7.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pb;
use crate::signal::ExchangeId;
use crate::validate::Verdict;

/// Where an exchange's params came from for a wave.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ParamsSource {
    /// Updated from this wave's signals.
    Wave,
    /// Stored before (an earlier wave or `Params.Set`).
    #[default]
    Db,
    /// The configured default.
    Default,
    /// No params at all: the exchange was skipped with `no_params`.
    None,
}

impl ParamsSource {
    /// `wave`, `db`, `default` or `none`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
    /// Parses `wave`, `db`, `default` or `none`.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
    /// Wire form.
    pub fn to_proto(self) -> pb::ParamsSource {
        match self {
            ParamsSource::Wave => pb::ParamsSource::Wave,
            ParamsSource::Db => pb::ParamsSource::Db,
            ParamsSource::Default => pb::ParamsSource::Default,
            ParamsSource::None => pb::ParamsSource::None,
        }
    }
    /// From the wire; unspecified reads as `db`.
    pub fn from_proto(v: i32) -> Self {
        match pb::ParamsSource::try_from(v) {
            Ok(pb::ParamsSource::Wave) => ParamsSource::Wave,
            Ok(pb::ParamsSource::Default) => ParamsSource::Default,
            Ok(pb::ParamsSource::None) => ParamsSource::None,
            _ => ParamsSource::Db,
        }
    }
}

/// Result of one exchange in one wave (docs/design.md §1 step 6).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExchangeStats {
    /// Exchange id.
    pub exchange_id: ExchangeId,
    /// Exchange name.
    pub exchange_name: String,
    /// Signals the exchange had in the wave.
    pub total_signals: u32,
    /// Signals in the first validation round: `min(buffer_size, total_signals)`.
    pub selected_for_validation: u32,
    /// Successes of the first round.
    pub validated_successful: u32,
    /// Successes added by top-up rounds.
    pub topped_up: u32,
    /// `validated_successful + topped_up`.
    pub total_for_execution: u32,
    /// Positions opened.
    pub executed: u32,
    /// Execution failures.
    pub execution_failed: u32,
    /// Validation rule failures.
    pub validation_failed: u32,
    /// Duplicates skipped.
    pub duplicates: u32,
    /// `max_trades`.
    pub target: u32,
    /// Buffer size.
    pub buffer_size: u32,
    /// `executed >= target`.
    pub target_reached: bool,
    /// `executed < total_for_execution && executed == target`.
    pub buffer_saved_us: bool,
    /// `wave`, `db` or `default`.
    pub params_source: ParamsSource,
    /// Why the exchange was not (fully) processed: `no_params`, `agent_unavailable`, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Signals not processed because of `error`.
    #[serde(default)]
    pub skipped: u32,
    /// Top-up rounds requested.
    #[serde(default)]
    pub topup_rounds: u32,
}

impl ExchangeStats {
    /// `executed < total_for_execution`: some validated signals were not needed.
    pub fn buffer_used(&self) -> bool {
        self.executed < self.total_for_execution
    }

    /// Recomputes the derived fields from the counters.
    pub fn derive(&mut self) {
        self.total_for_execution = self.validated_successful + self.topped_up;
        self.target_reached = self.executed >= self.target;
        self.buffer_saved_us = self.buffer_used() && self.executed == self.target;
    }

    /// The result of an exchange that was skipped without contacting an agent. Its params
    /// source is `none` until the caller sets the params it had (if any).
    pub fn skipped(
        exchange_id: ExchangeId,
        exchange_name: &str,
        total_signals: u32,
        error: &str,
    ) -> Self {
        Self {
            exchange_id,
            exchange_name: exchange_name.to_owned(),
            total_signals,
            error: Some(error.to_owned()),
            skipped: total_signals,
            params_source: ParamsSource::None,
            ..Self::default()
        }
    }

    /// Wire form.
    pub fn to_proto(&self) -> pb::ExchangeStats {
        pb::ExchangeStats {
            exchange_id: self.exchange_id,
            exchange_name: self.exchange_name.clone(),
            total_signals: self.total_signals,
            selected_for_validation: self.selected_for_validation,
            validated_successful: self.validated_successful,
            topped_up: self.topped_up,
            total_for_execution: self.total_for_execution,
            executed: self.executed,
            execution_failed: self.execution_failed,
            validation_failed: self.validation_failed,
            duplicates: self.duplicates,
            target: self.target,
            buffer_size: self.buffer_size,
            target_reached: self.target_reached,
            buffer_saved_us: self.buffer_saved_us,
            params_source: self.params_source.to_proto() as i32,
            error: self.error.clone().unwrap_or_default(),
            skipped: self.skipped,
            topup_rounds: self.topup_rounds,
        }
    }

    /// From the wire.
    pub fn from_proto(p: &pb::ExchangeStats) -> Self {
        Self {
            exchange_id: p.exchange_id,
            exchange_name: p.exchange_name.clone(),
            total_signals: p.total_signals,
            selected_for_validation: p.selected_for_validation,
            validated_successful: p.validated_successful,
            topped_up: p.topped_up,
            total_for_execution: p.total_for_execution,
            executed: p.executed,
            execution_failed: p.execution_failed,
            validation_failed: p.validation_failed,
            duplicates: p.duplicates,
            target: p.target,
            buffer_size: p.buffer_size,
            target_reached: p.target_reached,
            buffer_saved_us: p.buffer_saved_us,
            params_source: ParamsSource::from_proto(p.params_source),
            error: (!p.error.is_empty()).then(|| p.error.clone()),
            skipped: p.skipped,
            topup_rounds: p.topup_rounds,
        }
    }
}

/// Accumulates one exchange's statistics as verdicts and executions arrive.
#[derive(Debug, Clone)]
pub struct Tally {
    stats: ExchangeStats,
}

impl Tally {
    /// Starts the tally of an exchange.
    pub fn new(
        exchange_id: ExchangeId,
        exchange_name: &str,
        total_signals: u32,
        target: u32,
        buffer_size: u32,
        params_source: ParamsSource,
    ) -> Self {
        Self {
            stats: ExchangeStats {
                exchange_id,
                exchange_name: exchange_name.to_owned(),
                total_signals,
                selected_for_validation: buffer_size.min(total_signals),
                target,
                buffer_size,
                params_source,
                ..ExchangeStats::default()
            },
        }
    }

    /// Counts a verdict; `round` 0 is the buffer, later rounds are top-ups.
    pub fn verdict(&mut self, round: u32, v: &Verdict) {
        let s = &mut self.stats;
        match v {
            Verdict::Successful if round == 0 => s.validated_successful += 1,
            Verdict::Successful => s.topped_up += 1,
            Verdict::Failed(_) => s.validation_failed += 1,
            Verdict::Skipped(_) => s.duplicates += 1,
        }
    }

    /// Recounts a success of `round` as a duplicate: a validated signal whose symbol was found
    /// open when it came to execution (opened by another wave since). It is then neither
    /// validated nor executed, so `total_for_execution` leaves it out.
    pub fn success_turned_duplicate(&mut self, round: u32) {
        let s = &mut self.stats;
        let successes = if round == 0 {
            &mut s.validated_successful
        } else {
            &mut s.topped_up
        };
        *successes = successes.saturating_sub(1);
        s.duplicates += 1;
    }

    /// Counts an execution result.
    pub fn execution(&mut self, executed: bool) {
        if executed {
            self.stats.executed += 1;
        } else {
            self.stats.execution_failed += 1;
        }
    }

    /// Counts a requested top-up round.
    pub fn topup_round(&mut self) {
        self.stats.topup_rounds += 1;
    }

    /// Marks the exchange as not fully processed.
    pub fn error(&mut self, error: &str) {
        self.stats.error = Some(error.to_owned());
    }

    /// The statistics with derived fields computed.
    pub fn finish(&self) -> ExchangeStats {
        let mut s = self.stats.clone();
        s.derive();
        s
    }
}

/// Wave totals (docs/design.md §1 step 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WaveTotals {
    /// Signals in the wave.
    pub total_signals: u32,
    /// Exchanges processed by an agent without error.
    pub exchanges_processed: u32,
    /// Positions opened.
    pub total_executed: u32,
    /// Execution failures.
    pub total_failed: u32,
    /// `total_for_execution` summed.
    pub total_validated: u32,
    /// Validation rule failures.
    pub validation_errors: u32,
    /// Duplicates.
    pub duplicates: u32,
}

impl WaveTotals {
    /// Sums per-exchange results.
    pub fn from_exchanges<'a, I: IntoIterator<Item = &'a ExchangeStats>>(
        total_signals: u32,
        exchanges: I,
    ) -> Self {
        let mut t = WaveTotals {
            total_signals,
            ..Self::default()
        };
        for e in exchanges {
            if e.error.is_none() {
                t.exchanges_processed += 1;
            }
            t.total_executed += e.executed;
            t.total_failed += e.execution_failed;
            t.total_validated += e.total_for_execution;
            t.validation_errors += e.validation_failed;
            t.duplicates += e.duplicates;
        }
        t
    }

    /// Wire form.
    pub fn to_proto(self) -> pb::WaveTotals {
        pb::WaveTotals {
            total_signals: self.total_signals,
            exchanges_processed: self.exchanges_processed,
            total_executed: self.total_executed,
            total_failed: self.total_failed,
            total_validated: self.total_validated,
            validation_errors: self.validation_errors,
            duplicates: self.duplicates,
        }
    }

    /// From the wire.
    pub fn from_proto(p: &pb::WaveTotals) -> Self {
        Self {
            total_signals: p.total_signals,
            exchanges_processed: p.exchanges_processed,
            total_executed: p.total_executed,
            total_failed: p.total_failed,
            total_validated: p.total_validated,
            validation_errors: p.validation_errors,
            duplicates: p.duplicates,
        }
    }
}

/// One exchange's line in the `WAVE_COMPLETED` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeSummary {
    /// Exchange name.
    pub name: String,
    /// Positions opened.
    pub executed: u32,
    /// `max_trades`.
    pub target: u32,
    /// `executed >= target`.
    pub target_reached: bool,
}

/// Payload of the `WAVE_COMPLETED` event (docs/design.md §1 step 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveCompleted {
    /// Wave id (RFC 3339).
    pub wave_timestamp: String,
    /// Signals in the wave.
    pub total_signals: u32,
    /// Exchanges processed without error.
    pub exchanges_processed: u32,
    /// Positions opened.
    pub positions_opened: u32,
    /// Execution failures.
    pub failed: u32,
    /// Validation rule failures.
    pub validation_errors: u32,
    /// Duplicates.
    pub duplicates: u32,
    /// By exchange id (as a string key, for JSON).
    pub per_exchange_stats: BTreeMap<String, ExchangeSummary>,
    /// When the wave completed.
    pub completion_time: DateTime<Utc>,
}

impl WaveCompleted {
    /// Builds the payload from the per-exchange results.
    pub fn new(
        wave_id: &str,
        totals: &WaveTotals,
        exchanges: &[ExchangeStats],
        completion_time: DateTime<Utc>,
    ) -> Self {
        Self {
            wave_timestamp: wave_id.to_owned(),
            total_signals: totals.total_signals,
            exchanges_processed: totals.exchanges_processed,
            positions_opened: totals.total_executed,
            failed: totals.total_failed,
            validation_errors: totals.validation_errors,
            duplicates: totals.duplicates,
            per_exchange_stats: exchanges
                .iter()
                .map(|e| {
                    (
                        e.exchange_id.to_string(),
                        ExchangeSummary {
                            name: e.exchange_name.clone(),
                            executed: e.executed,
                            target: e.target,
                            target_reached: e.target_reached,
                        },
                    )
                })
                .collect(),
            completion_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_turned_duplicate_leaves_total_for_execution() {
        // Target 2: A, B, C validated; A found open at execution; B and C executed.
        let mut t = Tally::new(1, "binance", 3, 2, 3, ParamsSource::Db);
        for _ in 0..3 {
            t.verdict(0, &Verdict::Successful);
        }
        t.verdict(1, &Verdict::Successful);
        t.success_turned_duplicate(0);
        t.success_turned_duplicate(1);
        t.execution(true);
        t.execution(true);
        let s = t.finish();
        assert_eq!(
            (s.validated_successful, s.topped_up, s.duplicates),
            (2, 0, 2)
        );
        assert_eq!(s.total_for_execution, 2);
        assert!(s.target_reached && !s.buffer_used() && !s.buffer_saved_us);
    }

    #[test]
    fn params_sources_round_trip_and_a_skipped_exchange_has_none() {
        for s in [
            ParamsSource::Wave,
            ParamsSource::Db,
            ParamsSource::Default,
            ParamsSource::None,
        ] {
            assert_eq!(ParamsSource::parse(s.as_str()), Some(s));
            assert_eq!(ParamsSource::from_proto(s.to_proto() as i32), s);
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        // Unspecified on the wire reads as db, as the proto documents.
        assert_eq!(ParamsSource::from_proto(0), ParamsSource::Db);
        let skipped = ExchangeStats::skipped(3, "kraken", 4, "no_params");
        assert_eq!(skipped.params_source, ParamsSource::None);
        assert_eq!(
            ExchangeStats::from_proto(&skipped.to_proto()).params_source,
            ParamsSource::None
        );
    }
}

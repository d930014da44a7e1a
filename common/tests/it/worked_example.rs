//! docs/design.md §1's worked example, which must come out exactly: every field of both exchanges'
//! statistics, the wave totals and the `WAVE_COMPLETED` payload.

use crate::support::{Setup, Sim, drive};
use chrono::{TimeZone, Utc};
use wavegate_common::rank::group_by_exchange;
use wavegate_common::signal::{Action, SignalDraft};
use wavegate_common::stats::{ExchangeStats, ParamsSource, WaveCompleted, WaveTotals};
use wavegate_common::walk::Mode;
use wavegate_common::{Signal, plan};

fn signal(id: i64, symbol: &str, exchange_id: u32, score: f64) -> Signal {
    let t = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    SignalDraft {
        id: Some(id),
        symbol: Some(symbol.into()),
        exchange_id: Some(exchange_id),
        action: Some(Action::Buy),
        score_week: Some(score / 2.0),
        score_month: Some(score / 2.0),
        wave_timestamp: Some(t),
        created_at: Some(t),
        params: None,
    }
    .check(900, t)
    .unwrap()
}

/// Binance: 9 signals; ETHUSDT has an open position and BTCUSDT appears twice → 2 duplicates;
/// the 3rd validated signal (SOLUSDT) fails at the exchange.
fn binance() -> Vec<Signal> {
    let syms = [
        "BTCUSDT", "XRPUSDT", "ETHUSDT", "SOLUSDT", "ADAUSDT", "BTCUSDT", "DOGEUSDT", "LINKUSDT",
        "AVAXUSDT",
    ];
    syms.iter()
        .enumerate()
        .map(|(i, s)| signal(100 + i as i64, s, 1, 190.0 - 10.0 * i as f64))
        .collect()
}

/// Bybit: 7 signals; BTCUSDT twice → 1 duplicate.
fn bybit() -> Vec<Signal> {
    let syms = [
        "BTCUSDT", "ETHUSDT", "BTCUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOTUSDT",
    ];
    syms.iter()
        .enumerate()
        .map(|(i, s)| signal(200 + i as i64, s, 2, 185.0 - 10.0 * i as f64))
        .collect()
}

fn sims(sigs: &[Signal], exec_fail: &[&str]) -> Vec<Sim> {
    sigs.iter()
        .map(|s| Sim {
            symbol: s.symbol().into(),
            rules_ok: true,
            exec_ok: !exec_fail.contains(&s.symbol()),
        })
        .collect()
}

fn run_wave() -> Vec<ExchangeStats> {
    // Shuffle the input: ranking must restore the order.
    let mut all: Vec<Signal> = bybit().into_iter().chain(binance()).collect();
    all.reverse();
    let groups = group_by_exchange(all);
    let setups = [
        (
            1u32,
            "binance",
            6u32,
            vec!["ETHUSDT".to_string()],
            vec!["SOLUSDT"],
        ),
        (2u32, "bybit", 4u32, vec![], vec![]),
    ];
    setups
        .iter()
        .map(|(ex, name, max, open, fail)| {
            let sigs = &groups[ex];
            let setup = Setup {
                max_trades: *max,
                buffer_size: plan::buffer_size(*max, plan::DEFAULT_BUFFER_FIXED),
                max_rounds: plan::DEFAULT_MAX_TOPUP_ROUNDS,
                open: open.clone(),
            };
            let mut stats = drive(&sims(sigs, fail), &setup, Mode::Sequential, &[]).stats;
            stats.exchange_id = *ex;
            stats.exchange_name = name.to_string();
            stats
        })
        .collect()
}

#[test]
fn binance_and_bybit_come_out_exactly() {
    let stats = run_wave();
    let binance = ExchangeStats {
        exchange_id: 1,
        exchange_name: "binance".into(),
        total_signals: 9,
        selected_for_validation: 9,
        validated_successful: 7,
        topped_up: 0,
        total_for_execution: 7,
        executed: 6,
        execution_failed: 1,
        validation_failed: 0,
        duplicates: 2,
        target: 6,
        buffer_size: 9,
        target_reached: true,
        buffer_saved_us: true,
        params_source: ParamsSource::Db,
        error: None,
        skipped: 0,
        topup_rounds: 0,
    };
    let bybit = ExchangeStats {
        exchange_id: 2,
        exchange_name: "bybit".into(),
        total_signals: 7,
        selected_for_validation: 7,
        validated_successful: 6,
        total_for_execution: 6,
        executed: 4,
        duplicates: 1,
        target: 4,
        buffer_size: 7,
        target_reached: true,
        buffer_saved_us: true,
        ..binance.clone()
    };
    let bybit = ExchangeStats {
        execution_failed: 0,
        ..bybit
    };
    assert_eq!(stats, vec![binance, bybit]);

    let totals = WaveTotals::from_exchanges(16, &stats);
    assert_eq!(
        totals,
        WaveTotals {
            total_signals: 16,
            exchanges_processed: 2,
            total_executed: 10,
            total_failed: 1,
            total_validated: 13,
            validation_errors: 0,
            duplicates: 3,
        }
    );
    let done = Utc.with_ymd_and_hms(2026, 11, 24, 12, 16, 0).unwrap();
    let event = WaveCompleted::new("2026-11-24T12:00:00Z", &totals, &stats, done);
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "wave_timestamp": "2026-11-24T12:00:00Z",
            "total_signals": 16,
            "exchanges_processed": 2,
            "positions_opened": 10,
            "failed": 1,
            "validation_errors": 0,
            "duplicates": 3,
            "per_exchange_stats": {
                "1": {"name": "binance", "executed": 6, "target": 6, "target_reached": true},
                "2": {"name": "bybit", "executed": 4, "target": 4, "target_reached": true}
            },
            "completion_time": "2026-11-24T12:16:00Z"
        })
    );
}

#[test]
fn binance_walk_breaks_at_six_after_seven_launches() {
    let groups = group_by_exchange(binance());
    let setup = Setup {
        max_trades: 6,
        buffer_size: 9,
        max_rounds: 1,
        open: vec!["ETHUSDT".into()],
    };
    let run = drive(
        &sims(&groups[&1], &["SOLUSDT"]),
        &setup,
        Mode::Sequential,
        &[],
    );
    // Rank indices: 0 BTC, 1 XRP, 2 ETH (open), 3 SOL (fails), 4 ADA, 5 BTC (dup), 6 DOGE, 7 LINK, 8 AVAX.
    assert_eq!(run.launched, vec![0, 1, 3, 4, 6, 7, 8]);
    assert_eq!(run.executed, vec![0, 1, 4, 6, 7, 8]);
    let windowed = drive(
        &sims(&groups[&1], &["SOLUSDT"]),
        &setup,
        Mode::Windowed,
        &[3, 1, 4, 1, 5],
    );
    assert_eq!(windowed.executed, run.executed);
    assert_eq!(windowed.stats, run.stats);
}

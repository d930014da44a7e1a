//! docs/design.md §1's worked example for the tests that run it through real processes (its
//! signals, ranked, and the paper agents' script), and the statistics it must come out with, to
//! the field, through an agent, a coordinator or the CLI.

use wavegate_common::stats::{ExchangeStats, ParamsSource};

/// Binance's 9 signals in rank order: ETHUSDT holds an open position, BTCUSDT comes twice.
pub const BINANCE_SYMBOLS: [&str; 9] = [
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "BTCUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
    "AVAXUSDT",
];
/// Bybit's 7 signals in rank order: ETHUSDT comes twice.
pub const BYBIT_SYMBOLS: [&str; 7] = [
    "BTCUSDT", "ETHUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
];
/// Binance's target (the first signal's `max_trades`).
pub const BINANCE_MAX_TRADES: u32 = 6;
/// Bybit's target.
pub const BYBIT_MAX_TRADES: u32 = 4;
/// The symbol the Binance paper agent holds a position in before the wave.
pub const BINANCE_OPEN_POSITION: &str = "ETHUSDT";
/// The symbol the Binance paper agent fails to execute (the third validated signal).
pub const BINANCE_EXEC_FAIL: &str = "BNBUSDT";

/// Binance: target 6, buffer 9; 9 selected, 7 validated (2 duplicates), no top-up; execution
/// 1 ok, 2 ok, 3 fails, 4–7 ok → 6/6, buffer saved us.
pub fn binance(params_source: ParamsSource) -> ExchangeStats {
    ExchangeStats {
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
        params_source,
        error: None,
        skipped: 0,
        topup_rounds: 0,
    }
}

/// Bybit: target 4, buffer 7; 7 selected, 6 validated (1 duplicate); 1–4 ok → 4/4, signals
/// 5–6 unused, so `buffer_saved_us` is true by the formula too.
pub fn bybit(params_source: ParamsSource) -> ExchangeStats {
    ExchangeStats {
        exchange_id: 2,
        exchange_name: "bybit".into(),
        total_signals: 7,
        selected_for_validation: 7,
        validated_successful: 6,
        topped_up: 0,
        total_for_execution: 6,
        executed: 4,
        execution_failed: 0,
        validation_failed: 0,
        duplicates: 1,
        target: 4,
        buffer_size: 7,
        target_reached: true,
        buffer_saved_us: true,
        params_source,
        error: None,
        skipped: 0,
        topup_rounds: 0,
    }
}

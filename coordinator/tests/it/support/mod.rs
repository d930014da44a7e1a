//! Test support: fresh databases on both backends (dropped with the value), and signal builders.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::to_proto;

pub use wavegate_tests::db::TestDb;

/// The current 15-minute candle's open time (so signals are neither late nor too old).
pub fn current_wave() -> DateTime<Utc> {
    wavegate_common::time::floor_to_interval(Utc::now(), 900)
}

/// A wire signal.
pub fn sig(id: i64, symbol: &str, exchange_id: u32, score: f64, ts: DateTime<Utc>) -> pb::Signal {
    pb::Signal {
        id,
        symbol: symbol.into(),
        exchange_id,
        action: pb::Action::Buy as i32,
        score_week: score,
        score_month: score,
        wave_timestamp: Some(to_proto(ts)),
        created_at: Some(to_proto(Utc::now())),
        params: None,
    }
}

/// A wire signal carrying `max_trades`.
pub fn sig_with_params(
    id: i64,
    symbol: &str,
    exchange_id: u32,
    score: f64,
    ts: DateTime<Utc>,
    max_trades: u32,
) -> pb::Signal {
    let mut s = sig(id, symbol, exchange_id, score, ts);
    s.params = Some(pb::SignalParams {
        max_trades: Some(max_trades),
        stop_loss_percent: Some(4.0),
        trailing_activation_percent: None,
        trailing_distance_percent: None,
        ..Default::default()
    });
    s
}

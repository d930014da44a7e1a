//! `wavegate-coordinator`: assembles waves of signals, keeps per-exchange params, dispatches
//! every exchange's part of a wave to its agent concurrently and records the results
//! (docs/design.md §1 steps 1, 2, 4, 7). Only [`config`], [`store`] and [`spawn`] are public.

pub(crate) mod agents;
pub(crate) mod api;
pub(crate) mod auth;
pub(crate) mod cancel;
pub mod config;
pub(crate) mod dispatch;
pub(crate) mod error;
pub(crate) mod hub;
pub(crate) mod ingest;
pub(crate) mod params;
pub(crate) mod params_cache;
pub(crate) mod report;
pub(crate) mod retry;
pub(crate) mod server;
pub(crate) mod session;
pub(crate) mod spans;
pub(crate) mod state;
pub(crate) mod storage_health;
pub mod store;
pub(crate) mod timing;
pub(crate) mod verify;
pub(crate) mod wave;
pub(crate) mod wave_cache;

pub use config::{CoordinatorConfig, ExchangeConfig};
pub use error::CoordinatorError;
pub use server::{CoordinatorHandle, spawn};

/// A checked signal of exchange 1 in the wave of 2026-11-24T12:00:00Z, for unit tests.
#[cfg(test)]
pub(crate) fn test_signal(id: i64, symbol: &str) -> wavegate_common::Signal {
    use chrono::TimeZone;
    let ts = chrono::Utc
        .with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .unwrap();
    let draft = wavegate_common::signal::SignalDraft {
        id: Some(id),
        symbol: Some(symbol.into()),
        exchange_id: Some(1),
        action: wavegate_common::Action::parse("BUY"),
        score_week: Some(50.0),
        score_month: Some(50.0),
        wave_timestamp: Some(ts),
        created_at: Some(ts),
        params: None,
    };
    draft.check(900, ts).unwrap()
}

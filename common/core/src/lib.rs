//! # wavegate-core
//!
//! The pure core the coordinator and the agents share, free of I/O, clocks and async (no
//! tokio, tonic or sqlx below this crate; `.ci/run` checks it):
//!
//! - [`pb`]: the contract's messages (`proto/wavegate/v1`), without its services;
//! - [`signal`]: the checked domain type [`Signal`] and its JSON forms;
//! - the wave algorithm of docs/design.md §1: [`rank`] (ranking and grouping), [`plan`]
//!   (buffer and top-up sizing), [`walk`] (the execution walk as a state machine), [`validate`]
//!   (ordering of verdicts and duplicates), [`stats`] (per-exchange statistics and wave
//!   totals), [`timing`] (per-exchange timing), [`session`] (the agent session's protocol
//!   with the coordinator: buffer, top-ups, cancel, deadline, a lost coordinator);
//! - [`wave_status`]: a wave's status; [`order_id`]: deterministic client order ids; [`time`]:
//!   wave timestamps and conversions.
//!
//! `wavegate-common` re-exports every module here under the same name.

#![warn(missing_docs)]

pub mod margin;
pub mod order_id;
pub mod plan;
pub mod rank;
pub mod session;
pub mod signal;
pub mod stats;
pub mod time;
pub mod timing;
pub mod validate;
pub mod walk;
pub mod wave_status;

/// Messages of `proto/wavegate/v1` (package `wavegate.v1`); the services that carry them are
/// generated in `wavegate-common`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/wavegate.v1.rs"));
}

pub use margin::MarginMode;
pub use signal::{Action, ExchangeId, Signal, SignalError, SignalParams};
pub use stats::{ExchangeStats, WaveTotals};
pub use wave_status::WaveStatus;

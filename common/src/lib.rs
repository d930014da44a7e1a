//! # wavegate-common
//!
//! Everything the coordinator and the agents share:
//!
//! - [`proto`]: the generated gRPC contract of `proto/wavegate/v1` (the only contract between
//!   processes) and the file descriptor set for reflection;
//! - [`signal`]: the checked domain type [`Signal`] and its JSON forms;
//! - the pure wave algorithm of docs/design.md §1, free of I/O, clocks and async: [`rank`] (ranking and
//!   grouping), [`plan`] (buffer and top-up sizing), [`walk`] (the execution walk as a state
//!   machine), [`validate`] (ordering of verdicts and duplicates), [`stats`] (per-exchange
//!   statistics and wave totals);
//! - [`order_id`]: deterministic client order ids; [`error`]: the one map from errors to gRPC
//!   statuses; [`time`]: wave timestamps and conversions.

#![warn(missing_docs)]

pub mod auth;
pub mod error;
pub mod fault_clock;
pub mod order_id;
pub mod plan;
pub mod proto;
pub mod rank;
pub mod reflection;
pub mod shutdown;
pub mod signal;
pub mod stats;
pub mod telemetry;
pub mod time;
pub mod timing;
pub mod validate;
pub mod walk;

pub use signal::{Action, ExchangeId, Signal, SignalError, SignalParams};
pub use stats::{ExchangeStats, WaveTotals};

/// The version of this build, reported by `Describe` and telemetry.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

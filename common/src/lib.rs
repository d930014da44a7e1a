//! # wavegate-common
//!
//! Everything the coordinator and the agents share:
//!
//! - the pure core, re-exported from `wavegate-core` under the same module names: [`signal`],
//!   [`rank`], [`plan`], [`walk`], [`validate`], [`stats`], [`timing`], [`order_id`], [`time`],
//!   [`session`];
//! - [`proto`]: the gRPC contract of `proto/wavegate/v1` (the only contract between processes):
//!   core's messages, the services, and the file descriptor set for reflection;
//! - [`error`]: the one map from errors to gRPC statuses; [`auth`]: bearer tokens and scopes;
//! - [`telemetry`], [`reflection`], [`shutdown`], [`fault_clock`], [`config_load`]: process
//!   plumbing shared by the binaries.

#![warn(missing_docs)]

pub mod auth;
pub mod backoff;
pub mod config_load;
pub mod error;
pub mod fault_clock;
pub mod proto;
pub mod reflection;
pub mod shutdown;
pub mod telemetry;

pub use wavegate_core::{
    margin, order_id, plan, rank, session, signal, stats, time, timing, validate, walk, wave_status,
};

pub use margin::MarginMode;
pub use signal::{Action, ExchangeId, Signal, SignalError, SignalParams};
pub use stats::{ExchangeStats, WaveTotals};

/// The version of this build, reported by `Describe` and telemetry.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

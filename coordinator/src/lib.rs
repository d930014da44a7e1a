//! # wavegate-coordinator
//!
//! Assembles waves of signals, keeps per-exchange params, dispatches every exchange's part of a
//! wave to its agent concurrently and records the results (docs/design.md §1 steps 1, 2, 4 and 7).
//!
//! Modules by concern: [`ingest`] (checked, batched signal storage), [`wave`] (the wave clock
//! and the dispatch claim), [`params`] (effective params), [`dispatch`] and [`session`]
//! (driving agents), [`cancel`] (the operator's kill switch for a wave), [`report`]
//! (completion), [`store`] (SQLite/PostgreSQL), [`api`] (the public gRPC API), [`server`]
//! (start and stop), [`spans`] (the tracing spans of a wave and of API calls).

pub mod agents;
pub mod api;
pub mod auth;
pub mod cancel;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod hub;
pub mod ingest;
pub mod params;
pub mod params_cache;
pub mod report;
pub mod retry;
pub mod server;
pub mod session;
pub mod spans;
pub mod state;
pub mod storage_health;
pub mod store;
pub mod timing;
pub mod verify;
pub mod wave;
pub mod wave_cache;

pub use config::{ConfigError, CoordinatorConfig, DispatchConfig, ExchangeConfig, WaveTiming};
pub use error::CoordinatorError;
pub use server::{CoordinatorHandle, spawn};

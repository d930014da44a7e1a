//! Logs, distributed traces and Prometheus metrics for every wavegate process (docs/design.md §3:
//! "every wave is one distributed trace … exported by OTLP … Prometheus metrics too").
//!
//! - [`init`] installs the process-wide `tracing` subscriber: an env filter (`RUST_LOG`,
//!   default `info`), human or JSON logs on stderr, and, when an OTLP endpoint is configured,
//!   an OpenTelemetry layer exporting spans in batches over gRPC. It returns a
//!   [`TelemetryGuard`] that flushes and shuts the exporter down.
//! - [`propagation`] carries the W3C trace context through gRPC metadata, so the coordinator's
//!   `wave` span and an agent's `execute_wave` span belong to one trace.
//! - [`metrics`] holds the Prometheus metric families and a small HTTP server for `/metrics`.

mod config;
mod error;
mod init;
pub mod metrics;
pub mod propagation;

pub use config::{LogFormat, SERVICE_AGENT, SERVICE_CLI, SERVICE_COORDINATOR, TelemetryConfig};
pub use error::TelemetryError;
pub use init::{DEFAULT_FILTER, TelemetryGuard, build, build_with, init, init_with};
pub use metrics::{Metrics, MetricsServer, serve_metrics};

/// A count or id as a span field that exports as an OTLP integer. tracing-opentelemetry
/// records `i64`, `f64`, `bool` and `&str` fields with their type but has no `u64` visitor, so
/// an unsigned field (`u32`, `u64`, `usize`) would reach the collector as a string; every
/// numeric span field goes through this. Values past `i64::MAX` (none in practice) saturate.
pub fn int<T: TryInto<i64>>(value: T) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

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

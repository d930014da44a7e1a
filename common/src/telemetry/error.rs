//! Errors of the telemetry module.

use std::net::SocketAddr;

/// Why telemetry could not be set up or a metrics server could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// [`init`](super::init) already ran in this process, or another global `tracing`
    /// subscriber is installed. Harmless for tests and in-process demos: the first one stays.
    #[error("telemetry is already initialised in this process")]
    AlreadyInitialized,
    /// A configuration value is invalid; names the key and the reason.
    #[error("telemetry config `{key}`: {reason}")]
    Config {
        /// The offending key (`service_name`, `otlp_endpoint`, `RUST_LOG`, …).
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The OTLP exporter could not be built.
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    /// A metric family could not be created or registered (a bug: names are static).
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The metrics server could not listen on the address.
    #[error("metrics server cannot listen on {addr}: {source}")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// Flushing or shutting down the trace exporter failed (spans may be lost).
    #[error("trace exporter shutdown: {0}")]
    Shutdown(String),
}

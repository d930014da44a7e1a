//! Installing the process-wide `tracing` subscriber and the OTLP trace pipeline.
//!
//! [`build`] assembles the subscriber without installing it (tests and in-process
//! simulations scope it to a task); [`init`] builds and installs it globally, once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Dispatch;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, filter_fn};
use tracing_subscriber::layer::{Layer, SubscriberExt as _};
use tracing_subscriber::registry::Registry;

use super::config::check_endpoint;
use super::{LogFormat, TelemetryConfig, TelemetryError};

/// How long shutting down may take to export the last spans; a collector that is down must
/// not hold a process' exit.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// Per-export timeout of the OTLP client.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// Log filter used when `RUST_LOG` is unset or empty.
pub const DEFAULT_FILTER: &str = "info";
/// Targets whose spans are never exported: the OTLP exporter's own transport would otherwise
/// trace its exports, which would be exported in turn.
const NOT_EXPORTED: &[&str] = &["h2", "hyper", "tonic", "tower", "opentelemetry"];

/// Set once [`init`] has claimed the global subscriber.
static INSTALLED: AtomicBool = AtomicBool::new(false);

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Builds the subscriber for `cfg` and installs it as the global default, with the W3C
/// TraceContext propagator. Must run inside a Tokio runtime when an OTLP endpoint is
/// configured (the exporter's gRPC channel lives on it).
///
/// Keep the returned guard alive until exit; call [`TelemetryGuard::shutdown`] (or drop it)
/// to export the last spans. A second call in the same process returns
/// [`TelemetryError::AlreadyInitialized`] and changes nothing.
pub fn init(cfg: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    init_with(cfg, DEFAULT_FILTER)
}

/// [`init`] with another log filter than [`DEFAULT_FILTER`] when `RUST_LOG` is unset (the CLI
/// keeps its output quiet with `warn`). Spans are exported at `info` whatever the log filter.
pub fn init_with(
    cfg: &TelemetryConfig,
    default_filter: &str,
) -> Result<TelemetryGuard, TelemetryError> {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Err(TelemetryError::AlreadyInitialized);
    }
    let (dispatch, guard) = match build_with(cfg, default_filter) {
        Ok(built) => built,
        Err(e) => {
            // Nothing was installed: a corrected config may try again.
            INSTALLED.store(false, Ordering::SeqCst);
            return Err(e);
        }
    };
    // Fails only if something else installed a global subscriber first; that one stays.
    tracing::dispatcher::set_global_default(dispatch)
        .map_err(|_| TelemetryError::AlreadyInitialized)?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    if let Some(provider) = &guard.provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    Ok(guard)
}

/// Builds the subscriber for `cfg` without installing anything globally. Use it with
/// `tracing::dispatcher::with_default` or `tracing::instrument::WithSubscriber` to give one
/// task its own service identity (e.g. a simulated second process in a test).
pub fn build(cfg: &TelemetryConfig) -> Result<(Dispatch, TelemetryGuard), TelemetryError> {
    build_with(cfg, DEFAULT_FILTER)
}

/// [`build`] with another default log filter (see [`init_with`]).
pub fn build_with(
    cfg: &TelemetryConfig,
    default_filter: &str,
) -> Result<(Dispatch, TelemetryGuard), TelemetryError> {
    cfg.validate()?;
    // The log filter applies to log lines only: a quiet RUST_LOG must not drop the spans.
    let filter = env_filter(default_filter)?;
    let fmt_layer: BoxedLayer = match cfg.log_format {
        // Colour only on a terminal: a log file or a pipe gets plain text. NO_COLOR (any
        // value) turns it off on a terminal too.
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(
                std::io::IsTerminal::is_terminal(&std::io::stderr())
                    && std::env::var_os("NO_COLOR").is_none(),
            )
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
    };
    let mut layers = vec![fmt_layer];
    let provider = match cfg.resolved_endpoint() {
        Some((key, endpoint)) => {
            let provider = tracer_provider(cfg, key, &endpoint)?;
            let tracer = provider.tracer("wavegate");
            let not_exported =
                filter_fn(|meta| !NOT_EXPORTED.iter().any(|t| meta.target().starts_with(t)));
            layers.push(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(LevelFilter::INFO)
                    .with_filter(not_exported)
                    .boxed(),
            );
            Some(provider)
        }
        None => None,
    };
    let subscriber = Registry::default().with(layers);
    Ok((Dispatch::new(subscriber), TelemetryGuard { provider }))
}

/// `RUST_LOG`, else `default`. A malformed `RUST_LOG` is an error, not ignored: an
/// operator who asked for `debug` should not silently get `info`.
fn env_filter(default: &str) -> Result<EnvFilter, TelemetryError> {
    match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(v) if !v.trim().is_empty() => {
            EnvFilter::try_new(&v).map_err(|e| TelemetryError::Config {
                key: "RUST_LOG",
                reason: e.to_string(),
            })
        }
        _ => Ok(EnvFilter::new(default)),
    }
}

/// The OTLP/gRPC batch pipeline with the wavegate resource attributes.
fn tracer_provider(
    cfg: &TelemetryConfig,
    key: &'static str,
    endpoint: &str,
) -> Result<SdkTracerProvider, TelemetryError> {
    check_endpoint(key, endpoint)?;
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(TelemetryError::Exporter(
            "needs a Tokio runtime: call telemetry::init inside the async main".into(),
        ));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let mut attributes = vec![KeyValue::new("service.version", crate::VERSION)];
    if let Some(region) = &cfg.region {
        attributes.push(KeyValue::new("deployment.region", region.clone()));
    }
    if let Some(exchange) = &cfg.exchange_name {
        attributes.push(KeyValue::new("exchange.name", exchange.clone()));
    }
    let resource = Resource::builder()
        .with_service_name(cfg.service_name.clone())
        .with_attributes(attributes)
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// Keeps the trace pipeline alive; exports what is buffered and stops it on
/// [`shutdown`](Self::shutdown) or drop.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("exporting", &self.provider.is_some())
            .finish()
    }
}

impl TelemetryGuard {
    /// True when spans are exported over OTLP.
    pub fn is_exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports every span ended so far, without stopping the pipeline.
    pub async fn flush(&self) -> Result<(), TelemetryError> {
        let Some(provider) = self.provider.clone() else {
            return Ok(());
        };
        // The SDK blocks the calling thread until the batch thread has exported; that
        // export needs this runtime, so block elsewhere.
        tokio::task::spawn_blocking(move || provider.force_flush())
            .await
            .map_err(|e| TelemetryError::Shutdown(e.to_string()))?
            .map_err(|e| TelemetryError::Shutdown(e.to_string()))
    }

    /// Exports the remaining spans and stops the pipeline. Prefer this to a plain drop at
    /// the end of an async main: it works on every runtime flavour.
    pub async fn shutdown(mut self) -> Result<(), TelemetryError> {
        let Some(provider) = self.provider.take() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT))
            .await
            .map_err(|e| TelemetryError::Shutdown(e.to_string()))?
            .map_err(|e| TelemetryError::Shutdown(e.to_string()))
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let Some(provider) = self.provider.take() else {
            return;
        };
        let stop = move || {
            if let Err(e) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
                eprintln!("wavegate telemetry: trace exporter shutdown failed: {e}");
            }
        };
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            // Blocking is fine outside a runtime, and allowed on a multi-thread one.
            Err(_) => stop(),
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(stop),
            // Blocking the only runtime thread would deadlock the export it waits for; let
            // it finish on its own thread while the runtime keeps going.
            Ok(_) => {
                std::thread::spawn(stop);
            }
        }
    }
}

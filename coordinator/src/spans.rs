//! The coordinator's tracing spans: `wave` per dispatch, `exchange` per exchange under it (the
//! agent's `execute_wave` becomes its child through the W3C context of the `ExecuteWave`
//! call), `topup` per top-up served, and one span per public API call, parented on the
//! caller's `traceparent`.
//!
//! Span and field names are a contract (dashboards, the trace tests): change them only together
//! with those. Fields set later are declared `Empty` up front, because `tracing` only records
//! fields a span was created with.

use tracing::Span;
use tracing::field::Empty;
use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::ExchangeStats;
use wavegate_common::telemetry::propagation;

/// Opens the `wave` span of one dispatch. A root span: a wave is one trace of its own.
pub fn wave(wave_id: &str, signals: u32, exchanges: usize) -> Span {
    tracing::info_span!(
        parent: None,
        "wave",
        wave_id,
        signals,
        exchanges,
        status = Empty,
        positions_opened = Empty,
        error = Empty,
        "otel.status_code" = Empty,
        "otel.status_description" = Empty,
    )
}

/// Records how the wave ended; `partial` and `failed` mark the span as an error.
pub fn wave_finished(span: &Span, status: &str, positions_opened: u32) {
    span.record("status", status);
    span.record("positions_opened", positions_opened);
    if status != "completed" {
        record_error(span, &format!("wave {status}"));
    }
}

/// Opens the `exchange` span of one exchange under `wave` (explicitly: the exchange's future
/// may run on another task, and spawned tasks do not inherit spans).
pub fn exchange(
    wave: &Span,
    exchange_id: u32,
    name: &str,
    params: Option<&pb::ExchangeParams>,
) -> Span {
    tracing::info_span!(
        parent: wave,
        "exchange",
        name,
        exchange_id,
        target = params.map(|p| p.max_trades),
        buffer = params.map(|p| p.buffer_size),
        attempts = Empty,
        executed = Empty,
        target_reached = Empty,
        error = Empty,
        "otel.status_code" = Empty,
        "otel.status_description" = Empty,
    )
}

/// Records an exchange's result; an exchange with an error marks its span as an error.
pub fn exchange_finished(span: &Span, stats: &ExchangeStats) {
    span.record("executed", stats.executed);
    span.record("target_reached", stats.target_reached);
    if let Some(e) = &stats.error {
        record_error(span, e);
    }
}

/// Opens the `topup` span of a top-up request served under `exchange`.
pub fn topup(exchange: &Span, needed: u32, round: u32, sent: usize) -> Span {
    tracing::info_span!(parent: exchange, "topup", needed, round, sent)
}

/// Opens the span of a public API call (`method` such as `Waves.Get`) as a child of the
/// caller's span found in `metadata`, if any.
pub fn api(method: &'static str, metadata: &tonic::metadata::MetadataMap) -> Span {
    let span = tracing::info_span!(
        "api",
        "otel.name" = method,
        "rpc.method" = method,
        "rpc.grpc.status_code" = Empty,
        error = Empty,
        "otel.status_code" = Empty,
        "otel.status_description" = Empty,
    );
    propagation::set_parent(&span, metadata);
    span
}

/// Records an API call's outcome: its gRPC code, and an error status for a failed call.
pub fn api_finished<T>(span: &Span, result: &Result<T, tonic::Status>) {
    match result {
        Ok(_) => {
            span.record("rpc.grpc.status_code", 0_i32);
        }
        Err(s) => {
            span.record("rpc.grpc.status_code", s.code() as i32);
            record_error(span, s.message());
        }
    }
}

/// Marks `span` as failed with `message`.
pub fn record_error(span: &Span, message: &str) {
    span.record("error", true);
    // Code first, then the description: the description carries the message.
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", message);
}

/// Runs an API call's future in `span` and records its outcome on the span.
pub async fn traced<T, F>(span: Span, call: F) -> Result<T, tonic::Status>
where
    F: std::future::Future<Output = Result<T, tonic::Status>>,
{
    use tracing::Instrument as _;
    let result = call.instrument(span.clone()).await;
    api_finished(&span, &result);
    result
}

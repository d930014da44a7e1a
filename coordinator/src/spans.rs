//! The coordinator's spans: `wave`, `exchange`, a CLIENT span per `ExecuteWave` attempt, `topup`,
//! and a SERVER span per API call (OpenTelemetry RPC conventions v1.37). Names are a contract;
//! late fields are declared `Empty` up front (`tracing` records only declared fields).

use tracing::Span;
use tracing::field::Empty;
use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::ExchangeStats;
use wavegate_common::telemetry::int;
use wavegate_common::telemetry::propagation::{self, SpanContext};

const PACKAGE: &str = "wavegate.v1";

/// The `wave` span: a root (one trace per wave), linked to the call that closed it.
pub fn wave(wave_id: &str, signals: u32, exchanges: usize, closed_by: Option<SpanContext>) -> Span {
    let span = tracing::info_span!(
        parent: None,
        "wave",
        wave_id,
        signals = int(signals),
        exchanges = int(exchanges),
        status = Empty,
        positions_opened = Empty,
        error = Empty,
        "otel.status_code" = Empty,
        "otel.status_description" = Empty,
    );
    if let Some(closer) = closed_by {
        propagation::add_link(&span, closer);
    }
    span
}

/// Records how the wave ended; `partial` and `failed` mark the span as an error.
pub fn wave_finished(span: &Span, status: &str, positions_opened: u32) {
    span.record("status", status);
    span.record("positions_opened", int(positions_opened));
    if status != "completed" {
        record_error(span, &format!("wave {status}"));
    }
}

/// The `exchange` span under `wave`, set explicitly: spawned tasks do not inherit spans.
pub fn exchange(
    wave: &Span,
    exchange_id: u32,
    name: &str,
    params: Option<&pb::ExchangeParams>,
) -> Span {
    tracing::info_span!(
        parent: wave,
        "exchange",
        "exchange.id" = int(exchange_id),
        "exchange.name" = name,
        max_trades = params.map(|p| int(p.max_trades)),
        buffer_size = params.map(|p| int(p.buffer_size)),
        attempts = Empty,
        executed = Empty,
        target_reached = Empty,
        error = Empty,
        "otel.status_code" = Empty,
        "otel.status_description" = Empty,
    )
}

/// The CLIENT span of one `ExecuteWave` call under the exchange span.
pub fn execute_wave_call(exchange: &Span, endpoint: &str, attempt: u32) -> Span {
    let uri = endpoint.parse::<tonic::codegen::http::Uri>().ok();
    let host = uri.as_ref().and_then(|u| u.host()).unwrap_or_default();
    let port = uri.as_ref().and_then(|u| u.port_u16()).map(i64::from);
    let service = format!("{PACKAGE}.ExchangeAgent");
    let name = format!("{service}/ExecuteWave");
    tracing::info_span!(
        parent: exchange,
        "execute_wave_call",
        "otel.name" = name.as_str(),
        "otel.kind" = "client",
        "rpc.system" = "grpc",
        "rpc.service" = service.as_str(),
        "rpc.method" = "ExecuteWave",
        "server.address" = host,
        "server.port" = port,
        attempt = int(attempt),
        "rpc.grpc.status_code" = Empty,
        error = Empty,
        "otel.status_code" = Empty,
        "otel.status_description" = Empty,
    )
}

/// Records how an `ExecuteWave` call ended: its gRPC code, an error status unless it is 0.
pub fn execute_wave_call_finished(span: &Span, code: tonic::Code, error: Option<&str>) {
    span.record("rpc.grpc.status_code", code as i64);
    if let Some(e) = error {
        record_error(span, e);
    }
}

/// Records an exchange's result and attempts; an error marks the span as one.
pub fn exchange_finished(span: &Span, stats: &ExchangeStats, attempts: u32) {
    span.record("attempts", int(attempts));
    span.record("executed", int(stats.executed));
    span.record("target_reached", stats.target_reached);
    if let Some(e) = &stats.error {
        record_error(span, e);
    }
}

/// Opens the `topup` span of a top-up request served under `exchange`.
pub fn topup(exchange: &Span, needed: u32, round: u32, sent: usize) -> Span {
    tracing::info_span!(
        parent: exchange,
        "topup",
        needed = int(needed),
        round = int(round),
        sent = int(sent)
    )
}

/// Marks `span` as failed with `message`.
pub fn record_error(span: &Span, message: &str) {
    span.record("error", true);
    // Code first, then the description: the description carries the message.
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", message);
}

/// Serves an API call in its SERVER span (child of the caller's `traceparent`), with its code.
pub async fn serve<Q, T, F>(
    method: &'static str,
    request: tonic::Request<Q>,
    call: impl FnOnce(Q) -> F,
) -> Result<tonic::Response<T>, tonic::Status>
where
    F: std::future::Future<Output = Result<T, tonic::Status>>,
{
    use tracing::Instrument as _;
    let (service, rpc) = method.split_once('.').unwrap_or(("", method));
    let service = format!("{PACKAGE}.{service}");
    let name = format!("{service}/{rpc}");
    let span = tracing::info_span!(
        "api",
        "otel.name" = name.as_str(),
        "otel.kind" = "server",
        "rpc.system" = "grpc",
        "rpc.service" = service.as_str(),
        "rpc.method" = rpc,
        "rpc.grpc.status_code" = Empty,
        error = Empty,
        "otel.status_code" = Empty,
        "otel.status_description" = Empty,
    );
    propagation::set_parent(&span, request.metadata());
    let result = call(request.into_inner()).instrument(span.clone()).await;
    match &result {
        Ok(_) => {
            span.record("rpc.grpc.status_code", 0_i64);
        }
        Err(s) => {
            span.record("rpc.grpc.status_code", s.code() as i64);
            record_error(&span, s.message());
        }
    }
    result.map(tonic::Response::new)
}

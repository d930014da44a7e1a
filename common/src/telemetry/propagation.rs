//! W3C trace context (`traceparent`, `tracestate`) in gRPC metadata, so one wave is one trace
//! across the coordinator and its agents.
//!
//! Client side (coordinator → agent): wrap the client with [`inject_interceptor`], or call
//! [`inject`] on a request built by hand; the current span becomes the remote parent.
//! Server side: create the handler's span, then [`set_parent`] with the request metadata
//! *before* entering it (an OpenTelemetry span's parent is fixed once it starts).
//!
//! The W3C format is the wire contract (docs/design.md §3), so these functions use the TraceContext
//! propagator directly rather than whatever global propagator is installed.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, KeyRef, MetadataMap};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Writes `cx`'s span context into `metadata`. Nothing is written when `cx` holds no valid
/// span (e.g. spans are not exported).
pub fn inject_context(cx: &Context, metadata: &mut MetadataMap) {
    TraceContextPropagator::new().inject_context(cx, &mut MetadataInjector(metadata));
}

/// Puts the current `tracing` span's trace context into the request's metadata.
pub fn inject<T>(req: &mut tonic::Request<T>) {
    inject_context(&tracing::Span::current().context(), req.metadata_mut());
}

/// A client interceptor that [`inject`]s the current span's context into every call:
/// `ExchangeAgentClient::with_interceptor(channel, inject_interceptor)`.
///
/// Tonic calls it while the caller's future is polled, so "current span" is the span of the
/// code making the call (e.g. the coordinator's `exchange` span).
pub fn inject_interceptor(
    mut req: tonic::Request<()>,
) -> Result<tonic::Request<()>, tonic::Status> {
    inject(&mut req);
    Ok(req)
}

/// The remote parent context carried by `metadata`; an empty context when there is none or
/// it is malformed (a bad header must not fail the call).
pub fn extract(metadata: &MetadataMap) -> Context {
    TraceContextPropagator::new().extract(&MetadataExtractor(metadata))
}

/// Makes `span` a child of the caller's span found in `metadata`. Call right after creating
/// the span, before entering it or creating children. Returns true when a remote parent was
/// found and applied; false when there was none, spans are not exported, or the span had
/// already started (then it stays as it was).
pub fn set_parent(span: &tracing::Span, metadata: &MetadataMap) -> bool {
    let cx = extract(metadata);
    if !cx.span().span_context().is_valid() {
        return false;
    }
    span.set_parent(cx).is_ok()
}

/// The trace id of `span` as 32 lowercase hex digits, when spans are exported. Handy as the
/// `correlation_id` of events, so a database row leads to its trace.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// Writes propagation fields as ASCII metadata entries.
/// The OpenTelemetry identity of a span (trace and span id), to link another span to it.
pub use opentelemetry::trace::SpanContext;

/// `span`'s context, when it is exported (valid); `None` without an OpenTelemetry layer.
pub fn span_context(span: &tracing::Span) -> Option<SpanContext> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then_some(sc)
}

/// Links `span` to the span `to` (another trace, e.g. the call that closed a wave).
pub fn add_link(span: &tracing::Span, to: SpanContext) {
    span.add_link(to);
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The propagator only produces valid lowercase ASCII keys and values; anything else
        // is skipped rather than sent half-encoded.
        if let (Ok(k), Ok(v)) = (
            key.parse::<AsciiMetadataKey>(),
            value.parse::<AsciiMetadataValue>(),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// Reads propagation fields from ASCII metadata entries.
struct MetadataExtractor<'a>(&'a MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                KeyRef::Ascii(k) => Some(k.as_str()),
                KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    fn remote(trace: u128, span: u64) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::SAMPLED,
            true,
            TraceState::from_key_value([("wavegate", "w1")]).unwrap(),
        ))
    }

    #[test]
    fn inject_then_extract_round_trips_the_span_context() {
        let mut md = MetadataMap::new();
        inject_context(&remote(0xabc, 0x42), &mut md);
        assert_eq!(
            md.get("traceparent").unwrap().to_str().unwrap(),
            "00-00000000000000000000000000000abc-0000000000000042-01"
        );
        assert_eq!(
            md.get("tracestate").unwrap().to_str().unwrap(),
            "wavegate=w1"
        );

        let cx = extract(&md);
        let sc = cx.span().span_context().clone();
        assert!(sc.is_valid() && sc.is_remote() && sc.is_sampled());
        assert_eq!(sc.trace_id(), TraceId::from(0xabc_u128));
        assert_eq!(sc.span_id(), SpanId::from(0x42_u64));
        assert_eq!(sc.trace_state().get("wavegate"), Some("w1"));
    }

    #[test]
    fn no_context_injects_nothing() {
        let mut md = MetadataMap::new();
        inject_context(&Context::new(), &mut md);
        assert!(md.is_empty());
    }

    #[test]
    fn malformed_or_missing_traceparent_gives_no_parent() {
        let mut md = MetadataMap::new();
        assert!(!extract(&md).span().span_context().is_valid());
        md.insert("traceparent", "00-zz-not-hex-01".parse().unwrap());
        assert!(!extract(&md).span().span_context().is_valid());
        // Without a parent, set_parent declines and leaves the span alone.
        assert!(!set_parent(&tracing::Span::none(), &md));
    }

    #[test]
    fn interceptor_without_an_exported_span_passes_the_request_through() {
        let req = inject_interceptor(tonic::Request::new(())).unwrap();
        assert!(req.metadata().get("traceparent").is_none());
        assert_eq!(trace_id(&tracing::Span::current()), None);
    }
}

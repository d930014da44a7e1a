//! An in-process OTLP trace collector: a real tonic server implementing the OTLP
//! `TraceService`, so tests can check the spans that real processes export.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// One exported span, flattened, with its resource's service and exchange.
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    /// `service.name` of the exporting process.
    pub service: String,
    /// `exchange.name` of the exporting process, when it has one (agents).
    pub exchange: Option<String>,
    /// Span name.
    pub name: String,
    /// Trace id, hex.
    pub trace_id: String,
    /// Span id, hex.
    pub span_id: String,
    /// Parent span id, hex (empty for a root).
    pub parent: String,
    /// Attributes, values as text.
    pub attrs: HashMap<String, String>,
    /// Every resource attribute of the exporting process.
    pub resource: HashMap<String, String>,
    /// Span status: (OTLP status code, message).
    pub status: (i32, String),
    /// OTLP span kind (1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    pub kind: i32,
    /// The OTLP value type of each attribute: `string`, `int`, `bool`, `double` or `other`.
    pub types: HashMap<String, &'static str>,
    /// Links as (trace id, span id), hex.
    pub links: Vec<(String, String)>,
}

/// OTLP `SPAN_KIND_SERVER`.
pub const KIND_SERVER: i32 = 2;
/// OTLP `SPAN_KIND_CLIENT`.
pub const KIND_CLIENT: i32 = 3;

impl ExportedSpan {
    /// The attribute `key`; panics naming the span when it is missing (a test helper).
    pub fn attr(&self, key: &str) -> &str {
        self.attrs
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{} has no attribute {key}: {:?}", self.name, self.attrs))
    }
}

/// Collects every span exported to it.
#[derive(Clone, Default)]
pub struct Collector(Arc<Mutex<Vec<ExportedSpan>>>);

impl Collector {
    /// Starts a collector on a free loopback port; returns it and its `http://` endpoint.
    pub async fn start() -> std::io::Result<(Self, String)> {
        let collector = Collector::default();
        let incoming = TcpIncoming::bind("127.0.0.1:0".parse().expect("literal address"))
            .map_err(std::io::Error::other)?;
        let endpoint = format!("http://{}", incoming.local_addr()?);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collector.clone()))
                .serve_with_incoming(incoming),
        );
        Ok((collector, endpoint))
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.0.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// The spans named `name` received so far.
    pub fn named(&self, name: &str) -> Vec<ExportedSpan> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }
}

fn text(v: Option<AnyValue>) -> String {
    match v.and_then(|v| v.value) {
        Some(Value::StringValue(s)) => s,
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn type_of(v: &Option<AnyValue>) -> &'static str {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(_)) => "string",
        Some(Value::IntValue(_)) => "int",
        Some(Value::BoolValue(_)) => "bool",
        Some(Value::DoubleValue(_)) => "double",
        _ => "other",
    }
}

fn map(kvs: Vec<KeyValue>) -> HashMap<String, String> {
    kvs.into_iter().map(|kv| (kv.key, text(kv.value))).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut received = Vec::new();
        for rs in request.into_inner().resource_spans {
            let resource = map(rs.resource.map(|r| r.attributes).unwrap_or_default());
            let service = resource.get("service.name").cloned().unwrap_or_default();
            let exchange = resource.get("exchange.name").cloned();
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                let status = span.status.map(|s| (s.code, s.message)).unwrap_or_default();
                let types = span
                    .attributes
                    .iter()
                    .map(|kv| (kv.key.clone(), type_of(&kv.value)))
                    .collect();
                let links = span
                    .links
                    .iter()
                    .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                    .collect();
                received.push(ExportedSpan {
                    service: service.clone(),
                    exchange: exchange.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    attrs: map(span.attributes),
                    resource: resource.clone(),
                    status,
                    kind: span.kind,
                    types,
                    links,
                });
            }
        }
        self.0
            .lock()
            .map_err(|_| Status::internal("collector poisoned"))?
            .extend(received);
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

//! End-to-end: `wavegate demo --processes` with `OTEL_EXPORTER_OTLP_ENDPOINT` set runs the real
//! coordinator and agent binaries, each exporting as its own service, so the worked example's
//! wave reaches an in-process OTLP collector as ONE trace from three resources: the
//! `wavegate-coordinator` and a `wavegate-agent` per exchange (binance, bybit), with each
//! agent's `execute_wave` under the coordinator's `exchange` span of that exchange.

use std::collections::{HashMap, HashSet};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use tokio::process::Command;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use wavegate_tests::binary;

/// Failure guard only; a healthy run takes a few seconds.
const GUARD: Duration = Duration::from_secs(180);
/// The worked example's wave (`examples/waves/worked-example.json`).
const WORKED_EXAMPLE: &str = "2026-11-24T12:00:00Z";

/// One exported span, flattened, with its resource's service and exchange.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    exchange: Option<String>,
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    attrs: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Got>>>);

fn text(v: Option<AnyValue>) -> String {
    match v.and_then(|v| v.value) {
        Some(Value::StringValue(s)) => s,
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
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
        let mut got = self.0.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let resource = map(rs.resource.map(|r| r.attributes).unwrap_or_default());
            let service = resource.get("service.name").cloned().unwrap_or_default();
            let exchange = resource.get("exchange.name").cloned();
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                got.push(Got {
                    service: service.clone(),
                    exchange: exchange.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    attrs: map(span.attributes),
                });
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn demo_processes(otlp: &str) -> Output {
    let run = Command::new(binary("wavegate"))
        .args(["demo", "--processes", "--latency-ms", "0"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("WAVEGATE_COORDINATOR")
        .env_remove("WAVEGATE_TOKEN")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(GUARD, run)
        .await
        .expect("wavegate demo --processes did not finish within the guard")
        .expect("wavegate could not be started")
}

#[tokio::test]
async fn demo_processes_exports_the_worked_example_as_one_trace_of_three_services() {
    let collector = Collector::default();
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let otlp = format!("http://{}", incoming.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(incoming),
    );

    let out = demo_processes(&otlp).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("binance 6/6 (buffer saved us)"), "{stdout}");
    assert!(stdout.contains("bybit 4/4\n"), "{stdout}");
    assert!(
        stdout.contains("demo finished: 2 waves completed"),
        "{stdout}"
    );

    // The children were stopped with SIGTERM before `wavegate` exited, which flushes their
    // batched spans: everything is in the collector now.
    let spans = collector.0.lock().unwrap().clone();
    let wave: Vec<&Got> = spans
        .iter()
        .filter(|g| {
            g.name == "wave" && g.attrs.get("wave_id").map(String::as_str) == Some(WORKED_EXAMPLE)
        })
        .collect();
    assert_eq!(wave.len(), 1, "one wave span: {spans:#?}");
    let wave = wave[0];
    assert_eq!(wave.service, "wavegate-coordinator");
    let in_trace: Vec<&Got> = spans
        .iter()
        .filter(|g| g.trace_id == wave.trace_id)
        .collect();

    // Three resources: the coordinator and one agent per exchange, each its own process.
    let resources: HashSet<(&str, Option<&str>)> = in_trace
        .iter()
        .map(|g| (g.service.as_str(), g.exchange.as_deref()))
        .collect();
    assert_eq!(
        resources,
        HashSet::from([
            ("wavegate-coordinator", None),
            ("wavegate-agent", Some("binance")),
            ("wavegate-agent", Some("bybit")),
        ]),
        "{in_trace:#?}"
    );

    // Each agent's execute_wave is a child of the coordinator's exchange span of its exchange.
    let exchanges: HashMap<&str, &Got> = in_trace
        .iter()
        .filter(|g| g.name == "exchange")
        .map(|g| (g.span_id.as_str(), *g))
        .collect();
    assert_eq!(exchanges.len(), 2, "{in_trace:#?}");
    for ex in exchanges.values() {
        assert_eq!(ex.service, "wavegate-coordinator");
        assert_eq!(ex.parent, wave.span_id, "exchange under wave");
    }
    let executes: Vec<&&Got> = in_trace
        .iter()
        .filter(|g| g.name == "execute_wave")
        .collect();
    assert_eq!(
        executes.len(),
        2,
        "one execute_wave per agent: {in_trace:#?}"
    );
    let mut seen = HashSet::new();
    for e in executes {
        assert_eq!(e.service, "wavegate-agent");
        let parent = exchanges
            .get(e.parent.as_str())
            .unwrap_or_else(|| panic!("{e:?} not under an exchange span"));
        let agent_exchange = e
            .exchange
            .as_deref()
            .expect("agent resource names its exchange");
        assert_eq!(
            parent.attrs.get("name").map(String::as_str),
            Some(agent_exchange),
            "{e:?} under {parent:?}"
        );
        seen.insert(agent_exchange);
    }
    assert_eq!(seen, HashSet::from(["binance", "bybit"]));

    // Orders come from the agents, in the same trace: 10 positions and the failed XRPUSDT entry.
    let orders = in_trace.iter().filter(|g| g.name == "place_order").count();
    assert_eq!(orders, 11, "{in_trace:#?}");
}

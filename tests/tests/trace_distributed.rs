//! End-to-end: the worked example through a real coordinator and two real paper agents that
//! export spans to an in-process OTLP collector. The wave is ONE trace across the three
//! services, each agent's `execute_wave` is a child of the coordinator's `exchange` span, and
//! every executed signal has a `place_order` span with its outcome.

mod coordinator_support;
mod trace_support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use coordinator_support::*;
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
use trace_support::*;
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::{to_proto, wave_id};

/// One exported span, flattened.
#[derive(Debug, Clone)]
struct Got {
    service: String,
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
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                got.push(Got {
                    service: service.clone(),
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

#[tokio::test]
async fn a_wave_is_one_trace_across_coordinator_and_agents() {
    let collector = Collector::default();
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let otlp = format!("http://{}", incoming.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(incoming),
    );

    let dir = tempfile::tempdir().unwrap();
    let mut binance = agent(dir.path(), &binance_agent(), Some(&otlp)).await;
    let mut bybit = agent(dir.path(), &bybit_agent(), Some(&otlp)).await;
    let mut coord = coordinator(
        dir.path(),
        &[
            (1, "binance", binance.proc.endpoint()),
            (2, "bybit", bybit.proc.endpoint()),
        ],
        Some(&otlp),
    )
    .await;
    let ts = wave_ts(11);
    let id = wave_id(ts);
    ingest(&coord.proc)
        .await
        .publish_wave(pb::Wave {
            wave_timestamp: Some(to_proto(ts)),
            signals: worked_example(ts),
            close: true,
        })
        .await
        .unwrap();
    let d = finished(&mut waves(&coord.proc).await, &id).await;
    assert_eq!(
        d.summary.as_ref().unwrap().status,
        pb::WaveStatus::Completed as i32
    );
    // A graceful stop exports every span still batched.
    coord.proc.terminate().await.unwrap();
    binance.proc.terminate().await.unwrap();
    bybit.proc.terminate().await.unwrap();

    let spans = collector.0.lock().unwrap().clone();
    let wave: Vec<&Got> = spans
        .iter()
        .filter(|g| g.name == "wave" && g.attrs.get("wave_id") == Some(&id))
        .collect();
    assert_eq!(wave.len(), 1, "one wave span: {spans:#?}");
    let wave = wave[0];
    assert_eq!(wave.service, "wavegate-coordinator");
    let trace = &wave.trace_id;
    let in_trace: Vec<&Got> = spans.iter().filter(|g| &g.trace_id == trace).collect();
    let services: HashSet<&str> = in_trace.iter().map(|g| g.service.as_str()).collect();
    assert_eq!(
        services,
        HashSet::from(["wavegate-coordinator", "wavegate-agent"]),
        "{in_trace:#?}"
    );

    let exchanges: Vec<&&Got> = in_trace.iter().filter(|g| g.name == "exchange").collect();
    assert_eq!(exchanges.len(), 2, "{in_trace:#?}");
    for ex in &exchanges {
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
    let exchange_ids: HashSet<&str> = exchanges.iter().map(|g| g.span_id.as_str()).collect();
    for e in &executes {
        assert_eq!(e.service, "wavegate-agent");
        assert!(
            exchange_ids.contains(e.parent.as_str()),
            "{e:?} not under an exchange span"
        );
    }
    let parents: HashSet<&str> = executes.iter().map(|g| g.parent.as_str()).collect();
    assert_eq!(parents.len(), 2, "each agent under its own exchange span");

    // Every executed signal has a place_order span with its outcome.
    let orders: Vec<&&Got> = in_trace
        .iter()
        .filter(|g| g.name == "place_order")
        .collect();
    for o in d.outcomes.iter().filter_map(|o| o.outcome.as_ref()) {
        if o.stage != pb::Stage::Execution as i32 {
            continue;
        }
        let span = orders
            .iter()
            .find(|g| g.attrs.get("client_order_id") == Some(&o.client_order_id))
            .unwrap_or_else(|| panic!("no place_order for {o:?}"));
        let want = if o.executed { "executed" } else { "failed" };
        assert_eq!(
            span.attrs.get("outcome").map(String::as_str),
            Some(want),
            "{span:?}"
        );
    }
    assert_eq!(
        orders.len(),
        11,
        "10 positions and the failed BNBUSDT entry"
    );
}

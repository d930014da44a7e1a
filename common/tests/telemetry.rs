//! Telemetry end to end, over real sockets: spans of a simulated coordinator and agent reach
//! an in-process OTLP collector as one trace with correct parent links, and `/metrics` is
//! scraped over HTTP and parsed.
//!
//! The "agent" uses the process-global subscriber from `telemetry::init` (tonic runs its
//! handlers on spawned tasks, which see the global one); the "coordinator" runs its client
//! code under its own subscriber from `telemetry::build`, so each side exports with its own
//! `service.name`, as two processes would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;
use tracing::instrument::WithSubscriber as _;
use wavegate_common::proto::v1::exchange_agent_client::ExchangeAgentClient;
use wavegate_common::proto::v1::exchange_agent_server::{ExchangeAgent, ExchangeAgentServer};
use wavegate_common::proto::v1::{AgentMsg, CoordinatorMsg, DescribeRequest, DescribeResponse};
use wavegate_common::telemetry::metrics::{IngestResult, Process, WaveStatus};
use wavegate_common::telemetry::{
    self, Metrics, SERVICE_AGENT, SERVICE_COORDINATOR, TelemetryConfig, TelemetryError, propagation,
};

/// Failure guard only; the test normally finishes in well under a second.
const PATIENCE: Duration = Duration::from_secs(60);

/// One exported span, flattened.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    resource: HashMap<String, String>,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent: Vec<u8>,
}

/// An OTLP/gRPC trace collector that keeps everything it receives.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Got>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut got = self.0.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let resource: HashMap<String, String> = rs
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|kv| match kv.value?.value? {
                    Value::StringValue(s) => Some((kv.key, s)),
                    _ => None,
                })
                .collect();
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                got.push(Got {
                    service: service.clone(),
                    resource: resource.clone(),
                    name: span.name,
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent: span.parent_span_id,
                });
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    fn find(&self, service: &str, name: &str) -> Option<Got> {
        let got = self.0.lock().unwrap();
        got.iter()
            .find(|g| g.service == service && g.name == name)
            .cloned()
    }
}

/// A stand-in agent whose handlers open the spans the real agent opens, as children of the
/// caller's span.
struct TracedAgent;

#[tonic::async_trait]
impl ExchangeAgent for TracedAgent {
    type ExecuteWaveStream = tokio_stream::Iter<std::vec::IntoIter<Result<AgentMsg, Status>>>;

    async fn execute_wave(
        &self,
        request: Request<tonic::Streaming<CoordinatorMsg>>,
    ) -> Result<Response<Self::ExecuteWaveStream>, Status> {
        let span = tracing::info_span!("execute_wave", exchange = "binance");
        assert!(
            propagation::set_parent(&span, request.metadata()),
            "the coordinator's context must arrive in the metadata"
        );
        async {
            tracing::info_span!("validate_batch", size = 9).in_scope(|| {});
            tracing::info_span!("place_order", symbol = "BTCUSDT").in_scope(|| {});
        }
        .instrument(span)
        .await;
        Ok(Response::new(tokio_stream::iter(vec![Ok(
            AgentMsg::default(),
        )])))
    }

    async fn describe(
        &self,
        request: Request<DescribeRequest>,
    ) -> Result<Response<DescribeResponse>, Status> {
        let span = tracing::info_span!("describe");
        let linked = propagation::set_parent(&span, request.metadata());
        let _entered = span.enter();
        Ok(Response::new(DescribeResponse {
            exchange_name: "binance".into(),
            // Tells the caller whether the parent arrived, for a precise failure message.
            adapter: if linked { "linked" } else { "unlinked" }.into(),
            ..DescribeResponse::default()
        }))
    }
}

async fn serve(routes: Routes) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

fn config(service: &str, endpoint: &str) -> TelemetryConfig {
    let mut cfg = TelemetryConfig::new(service);
    cfg.otlp_endpoint = Some(endpoint.to_owned());
    cfg.region = Some("ap-northeast-1".into());
    if service == SERVICE_AGENT {
        cfg.exchange_name = Some("binance".into());
    }
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_wave_is_one_trace_across_coordinator_and_agent() {
    let collector = Collector::default();
    let otlp = format!(
        "http://{}",
        serve(Routes::new(TraceServiceServer::new(collector.clone()))).await
    );

    // The agent "process": global subscriber.
    let agent_guard = telemetry::init(&config(SERVICE_AGENT, &otlp)).unwrap();
    assert!(agent_guard.is_exporting());
    assert!(matches!(
        telemetry::init(&config(SERVICE_AGENT, &otlp)),
        Err(TelemetryError::AlreadyInitialized)
    ));
    let agent_addr = serve(Routes::new(ExchangeAgentServer::new(TracedAgent))).await;

    // The coordinator "process": its own subscriber around its client code.
    let (coordinator, coordinator_guard) =
        telemetry::build(&config(SERVICE_COORDINATOR, &otlp)).unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{agent_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    // Spans must be created under the coordinator's subscriber, hence inside the scope.
    let wave_trace = async {
        let wave = tracing::info_span!("wave", wave_id = "2026-11-24T12:00:00Z");
        let trace = propagation::trace_id(&wave);
        let exchange = tracing::info_span!(parent: &wave, "exchange", exchange = "binance");
        async {
            // Unary call: context injected by the interceptor.
            let mut client = ExchangeAgentClient::with_interceptor(
                channel.clone(),
                propagation::inject_interceptor,
            );
            let described = client.describe(DescribeRequest {}).await.unwrap();
            assert_eq!(described.get_ref().adapter, "linked");

            // Streaming call: context injected by hand, as dispatch does for ExecuteWave.
            let mut req = Request::new(tokio_stream::iter(Vec::<CoordinatorMsg>::new()));
            propagation::inject(&mut req);
            assert!(req.metadata().get("traceparent").is_some());
            let mut stream = ExchangeAgentClient::new(channel.clone())
                .execute_wave(req)
                .await
                .unwrap()
                .into_inner();
            let mut msgs = 0;
            while stream.message().await.unwrap().is_some() {
                msgs += 1;
            }
            assert_eq!(msgs, 1);
        }
        .instrument(exchange)
        .await;
        drop(wave);
        trace
    }
    .with_subscriber(coordinator)
    .await
    .expect("the wave span is exported, so it has a trace id");

    // Every span above has ended; export and wait for them.
    let wanted = [
        (SERVICE_COORDINATOR, "wave"),
        (SERVICE_COORDINATOR, "exchange"),
        (SERVICE_AGENT, "describe"),
        (SERVICE_AGENT, "execute_wave"),
        (SERVICE_AGENT, "validate_batch"),
        (SERVICE_AGENT, "place_order"),
    ];
    tokio::time::timeout(PATIENCE, async {
        loop {
            coordinator_guard.flush().await.unwrap();
            agent_guard.flush().await.unwrap();
            if wanted.iter().all(|(s, n)| collector.find(s, n).is_some()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("spans missing; got {:?}", collector.0.lock().unwrap()));

    let span = |s: &str, n: &str| collector.find(s, n).unwrap();
    let wave = span(SERVICE_COORDINATOR, "wave");
    let exchange = span(SERVICE_COORDINATOR, "exchange");
    let describe = span(SERVICE_AGENT, "describe");
    let execute = span(SERVICE_AGENT, "execute_wave");
    let validate = span(SERVICE_AGENT, "validate_batch");
    let order = span(SERVICE_AGENT, "place_order");

    // One trace...
    assert_eq!(hex(&wave.trace_id), wave_trace);
    for s in [&exchange, &describe, &execute, &validate, &order] {
        assert_eq!(s.trace_id, wave.trace_id, "{} is in another trace", s.name);
    }
    // ...with parent links across the process boundary.
    assert!(wave.parent.is_empty(), "wave is the root");
    assert_eq!(exchange.parent, wave.span_id);
    assert_eq!(describe.parent, exchange.span_id);
    assert_eq!(execute.parent, exchange.span_id);
    assert_eq!(validate.parent, execute.span_id);
    assert_eq!(order.parent, execute.span_id);

    // Resource attributes of each side.
    let version = wavegate_common::VERSION;
    assert_eq!(wave.resource["service.version"], version);
    assert_eq!(wave.resource["deployment.region"], "ap-northeast-1");
    assert!(!wave.resource.contains_key("exchange.name"));
    assert_eq!(order.resource["service.version"], version);
    assert_eq!(order.resource["exchange.name"], "binance");

    coordinator_guard.shutdown().await.unwrap();
    agent_guard.shutdown().await.unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One HTTP/1.1 GET over a fresh connection; returns (status code, body).
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        status != 200
            || head
                .to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    (status, body.to_owned())
}

/// Parses the text exposition format into `series → value` (series = name with labels).
fn parse_exposition(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse::<f64>().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_scraped_over_http() {
    let metrics = Arc::new(Metrics::new(Process::Coordinator).unwrap());
    let server = telemetry::serve_metrics("127.0.0.1:0".parse().unwrap(), metrics.clone())
        .await
        .unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);

    metrics.wave_finished(WaveStatus::Completed, Duration::from_millis(250));
    metrics.ingest_signals(IngestResult::Accepted, 17);
    let bybit = metrics.exchange("bybit");
    bybit.executed();
    bybit.connected(true);

    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    let values = parse_exposition(&body);
    assert_eq!(values[r#"wavegate_waves_total{status="completed"}"#], 1.0);
    assert_eq!(values["wavegate_wave_duration_seconds_count"], 1.0);
    assert_eq!(values["wavegate_wave_duration_seconds_sum"], 0.25);
    assert_eq!(
        values[r#"wavegate_ingest_signals_total{result="accepted"}"#],
        17.0
    );
    assert_eq!(
        values[r#"wavegate_exchange_executed_total{exchange="bybit"}"#],
        1.0
    );
    assert_eq!(values[r#"wavegate_agent_connected{exchange="bybit"}"#], 1.0);

    // Counters move between scrapes.
    metrics.ingest_signals(IngestResult::Accepted, 3);
    let (_, body) = http_get(addr, "/metrics").await;
    assert_eq!(
        parse_exposition(&body)[r#"wavegate_ingest_signals_total{result="accepted"}"#],
        20.0
    );

    assert_eq!(http_get(addr, "/").await.0, 404);
    assert_eq!(http_get(addr, "/metrics/extra").await.0, 404);

    // After shutdown the port no longer answers.
    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_second_listener_on_a_taken_port_is_a_precise_error() {
    let metrics = Arc::new(Metrics::new(Process::Coordinator).unwrap());
    let first = telemetry::serve_metrics("127.0.0.1:0".parse().unwrap(), metrics.clone())
        .await
        .unwrap();
    let err = telemetry::serve_metrics(first.local_addr(), metrics)
        .await
        .unwrap_err();
    assert!(matches!(err, TelemetryError::Bind { addr, .. } if addr == first.local_addr()));
    assert!(
        err.to_string().contains(&first.local_addr().to_string()),
        "{err}"
    );
}

#[test]
fn building_without_an_endpoint_logs_only() {
    // The environment is left alone (tests run in parallel); an endpoint set there would
    // turn export on, so the "logs only" half runs only without one.
    let mut cfg = TelemetryConfig::new(SERVICE_COORDINATOR);
    cfg.log_format = telemetry::LogFormat::Json;
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
        && std::env::var_os("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none()
    {
        let (_dispatch, guard) = telemetry::build(&cfg).unwrap();
        assert!(!guard.is_exporting());
    }
    cfg.otlp_endpoint = Some("not a url".into());
    assert!(matches!(
        telemetry::build(&cfg),
        Err(TelemetryError::Config {
            key: "otlp_endpoint",
            ..
        })
    ));
}

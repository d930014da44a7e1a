//! End-to-end: the worked example through a real coordinator and two real paper agents that
//! export spans to an in-process OTLP collector. The wave is ONE trace across the three
//! services, each agent's `execute_wave` is a child of the coordinator's `exchange` span, and
//! every executed signal has a `place_order` span with its outcome. The producer's publish call
//! joins the producer's own trace (W3C `traceparent` in its metadata).

use std::collections::HashSet;

use crate::coordinator_support::*;
use crate::trace_support::*;
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::{to_proto, wave_id};
use wavegate_tests::otlp::{Collector, ExportedSpan as Got, KIND_CLIENT, KIND_SERVER};

/// A producer's W3C trace context (version 00, sampled).
const CALLER_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";
const CALLER_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// The gRPC spans of an `ExecuteWave` call (`package.Service/Method`): CLIENT in the
/// coordinator, SERVER in the agent.
const EXECUTE_WAVE: &str = "wavegate.v1.ExchangeAgent/ExecuteWave";

#[tokio::test]
async fn a_wave_is_one_trace_across_coordinator_and_agents() {
    let (collector, otlp) = Collector::start().await.unwrap();

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
    let ts = wave_ts();
    let id = wave_id(ts);
    // The producer's call carries its own trace context: the coordinator's API span joins it.
    let mut publish = tonic::Request::new(pb::Wave {
        wave_timestamp: Some(to_proto(ts)),
        signals: worked_example(ts),
        close: true,
    });
    publish
        .metadata_mut()
        .insert("traceparent", CALLER_TRACEPARENT.parse().unwrap());
    ingest(&coord.proc)
        .await
        .publish_wave(publish)
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

    let spans = collector.spans();
    let api: Vec<&Got> = spans
        .iter()
        .filter(|g| g.trace_id == CALLER_TRACE_ID)
        .collect();
    assert_eq!(
        api.len(),
        1,
        "the publish call in the caller's trace: {spans:#?}"
    );
    assert_eq!(api[0].service, "wavegate-coordinator");
    assert_eq!(api[0].name, "wavegate.v1.SignalIngest/PublishWave");
    assert_eq!(
        api[0].parent, CALLER_SPAN_ID,
        "a child of the caller's span"
    );
    // OpenTelemetry RPC conventions: SERVER kind, rpc.* keys, the status code an integer.
    assert_eq!(api[0].kind, KIND_SERVER, "{:?}", api[0]);
    assert_eq!(
        (
            api[0].attr("rpc.system"),
            api[0].attr("rpc.service"),
            api[0].attr("rpc.method"),
            api[0].attr("rpc.grpc.status_code"),
        ),
        ("grpc", "wavegate.v1.SignalIngest", "PublishWave", "0")
    );
    assert_eq!(api[0].types["rpc.grpc.status_code"], "int", "{:?}", api[0]);

    let wave: Vec<&Got> = spans
        .iter()
        .filter(|g| g.name == "wave" && g.attrs.get("wave_id") == Some(&id))
        .collect();
    assert_eq!(wave.len(), 1, "one wave span: {spans:#?}");
    let wave = wave[0];
    assert_eq!(wave.service, "wavegate-coordinator");
    // Its own trace, linked to the publish call that closed it.
    assert_eq!(
        wave.links,
        vec![(CALLER_TRACE_ID.to_owned(), api[0].span_id.clone())],
        "{wave:?}"
    );
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
        .filter(|g| g.name == EXECUTE_WAVE && g.service == "wavegate-agent")
        .collect();
    assert_eq!(
        executes.len(),
        2,
        "one execute_wave per agent: {in_trace:#?}"
    );
    // Agent SERVER span → coordinator CLIENT span of the call → exchange span.
    let exchange_ids: HashSet<&str> = exchanges.iter().map(|g| g.span_id.as_str()).collect();
    for e in &executes {
        assert_eq!(e.kind, KIND_SERVER, "{e:?}");
        let call = in_trace
            .iter()
            .find(|g| g.span_id == e.parent)
            .unwrap_or_else(|| panic!("{e:?} has no parent in the trace"));
        assert_eq!(
            (call.name.as_str(), call.service.as_str(), call.kind),
            (EXECUTE_WAVE, "wavegate-coordinator", KIND_CLIENT),
            "{call:?}"
        );
        assert_eq!(call.attr("server.address"), "127.0.0.1", "{call:?}");
        assert_eq!(call.types["server.port"], "int", "{call:?}");
        assert_eq!(call.attr("rpc.grpc.status_code"), "0", "{call:?}");
        assert!(
            exchange_ids.contains(call.parent.as_str()),
            "{call:?} not under an exchange span"
        );
    }
    let parents: HashSet<&str> = executes.iter().map(|g| g.parent.as_str()).collect();
    assert_eq!(parents.len(), 2, "each agent under its own call");
    // One key per fact: the exchange span names its exchange once, numbers typed.
    for ex in &exchanges {
        assert!(ex.attrs.contains_key("exchange.name"), "{ex:?}");
        assert_eq!(ex.types["exchange.id"], "int", "{ex:?}");
        assert_eq!(ex.types["attempts"], "int", "{ex:?}");
        for old in ["name", "exchange", "exchange_id", "buffer"] {
            assert!(!ex.attrs.contains_key(old), "{old} in {ex:?}");
        }
    }

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

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
use wavegate_tests::otlp::{Collector, ExportedSpan as Got};

/// A producer's W3C trace context (version 00, sampled).
const CALLER_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";
const CALLER_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

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
    assert_eq!(api[0].name, "SignalIngest.PublishWave");
    assert_eq!(
        api[0].parent, CALLER_SPAN_ID,
        "a child of the caller's span"
    );

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

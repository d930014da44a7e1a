//! The agent's spans, exported over OTLP/gRPC to an in-process collector while a real wave
//! runs over gRPC: names, fields, error status and parent links (the caller's W3C context
//! from the request metadata → `execute_wave` → `validate_batch`, `topup`, `place_order`).
//!
//! One test in this file: `telemetry::init` installs the process-global subscriber once (the
//! agent's handlers run on tonic's spawned tasks, which only see the global one).

#[path = "it/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use support::*;
use tonic::metadata::MetadataMap;
use wavegate_common::telemetry::{self, SERVICE_AGENT};
use wavegate_tests::otlp::{Collector, ExportedSpan as Got, KIND_SERVER};

/// The caller's (coordinator's) trace and span, as W3C `traceparent` sends them.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// The agent's SERVER span of an `ExecuteWave` call (`package.Service/Method`).
const EXECUTE_WAVE: &str = "wavegate.v1.ExchangeAgent/ExecuteWave";
const PARENT: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wave_is_one_trace_under_the_callers_span() {
    let (collector, otlp) = Collector::start().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.region = "ap-northeast-1".into();
    cfg.telemetry.otlp_endpoint = Some(otlp);
    cfg.faults.invalid_symbols = vec!["ADAUSDT".into()];
    cfg.faults.exec_fail = vec!["XRPUSDT".into()];
    // What the binary does: the agent's own telemetry identity from its config.
    let guard = telemetry::init(&cfg.telemetry_config()).expect("telemetry starts");
    assert!(guard.is_exporting());
    let (agent, mut client) = start(cfg).await;

    // Target 3, buffer 4: ADAUSDT fails a rule, ETHUSDT repeats → 2 pass, one top-up round
    // brings XRPUSDT, which passes validation and is rejected by the exchange.
    let all = signals(
        1,
        1,
        &[
            "BTCUSDT", "ADAUSDT", "ETHUSDT", "ETHUSDT", "XRPUSDT", "SOLUSDT",
        ],
    );
    let mut md = MetadataMap::new();
    md.insert(
        "traceparent",
        format!("00-{TRACE}-{PARENT}-01").parse().unwrap(),
    );
    let run = drive_with_metadata(
        &mut client,
        start_msg("W-trace", 1, 3, 4, 6),
        &all,
        Drive::default(),
        md,
    )
    .await;
    assert_eq!(run.topups.len(), 1, "{:?}", run.status);
    assert_eq!(run.executed_ids(), vec![1, 3]);

    // A wave without trace context starts its own trace.
    let untraced = drive(
        &mut client,
        start_msg("W-root", 1, 1, 1, 1),
        &signals(1, 10, &["DOTUSDT"]),
        Drive::default(),
    )
    .await;
    assert_eq!(untraced.executed_ids(), vec![10]);
    // Every session (and so every span) ends before shutdown returns.
    agent.shutdown().await;

    tokio::time::timeout(GUARD, async {
        loop {
            guard.flush().await.unwrap();
            if collector.named(EXECUTE_WAVE).len() == 2 && collector.named("place_order").len() == 4
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("spans missing; got {:?}", collector.spans()));

    let waves = collector.named(EXECUTE_WAVE);
    let wave = waves
        .iter()
        .find(|w| w.attrs.get("wave_id").map(String::as_str) == Some("W-trace"))
        .expect("execute_wave of W-trace");
    // Child of the caller's span, in the caller's trace.
    assert_eq!(
        (wave.trace_id.as_str(), wave.parent.as_str()),
        (TRACE, PARENT)
    );
    // A SERVER span by the OpenTelemetry RPC conventions; the exchange keyed one way, typed.
    assert_eq!(wave.kind, KIND_SERVER, "{wave:?}");
    assert_eq!(
        (
            wave.attr("rpc.system"),
            wave.attr("rpc.service"),
            wave.attr("rpc.method")
        ),
        ("grpc", "wavegate.v1.ExchangeAgent", "ExecuteWave")
    );
    assert_eq!(wave.attr("exchange.name"), "binance");
    assert_eq!(wave.attr("exchange.id"), "1");
    assert_eq!(wave.types["exchange.id"], "int", "{wave:?}");
    for old in ["exchange", "exchange_id", "name"] {
        assert!(!wave.attrs.contains_key(old), "{old} in {wave:?}");
    }
    assert_eq!(wave.resource["service.name"], SERVICE_AGENT);
    assert_eq!(wave.resource["exchange.name"], "binance");
    assert_eq!(wave.resource["deployment.region"], "ap-northeast-1");

    let root = waves
        .iter()
        .find(|w| w.attr("wave_id") == "W-root")
        .unwrap();
    assert!(root.parent.is_empty(), "no traceparent → a root span");
    assert_ne!(root.trace_id, TRACE);

    // Everything of W-trace hangs directly under its execute_wave.
    let under = |name: &str| -> Vec<Got> {
        collector
            .named(name)
            .into_iter()
            .filter(|g| g.trace_id == TRACE)
            .inspect(|g| assert_eq!(g.parent, wave.span_id, "{name} not under ExecuteWave"))
            .collect()
    };

    let mut batches: Vec<(String, String, String)> = under("validate_batch")
        .iter()
        .inspect(|b| {
            // Numbers export as OTLP integers, not strings.
            for key in ["round", "signals", "successful"] {
                assert_eq!(b.types[key], "int", "{key} of {b:?}");
            }
        })
        .map(|b| {
            (
                b.attr("round").to_owned(),
                b.attr("signals").to_owned(),
                b.attr("successful").to_owned(),
            )
        })
        .collect();
    batches.sort();
    assert_eq!(
        batches,
        vec![
            ("0".into(), "4".into(), "2".into()),
            ("1".into(), "1".into(), "1".into())
        ]
    );

    let topups = under("topup");
    assert_eq!(topups.len(), 1);
    let t = &topups[0];
    assert_eq!(
        (
            t.attr("needed"),
            t.attr("round"),
            t.attr("count"),
            t.attr("received"),
            t.attr("answer")
        ),
        ("1", "1", "1", "1", "batch")
    );

    let orders = under("place_order");
    let by_symbol: HashMap<&str, &Got> = orders.iter().map(|o| (o.attr("symbol"), o)).collect();
    assert_eq!(orders.len(), 3, "{orders:?}");
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        let o = by_symbol[symbol];
        assert_eq!(o.attr("outcome"), "executed");
        assert!(o.attr("client_order_id").starts_with("wg-"), "{o:?}");
        assert!(
            o.attr("exchange_latency_us").parse::<u64>().is_ok(),
            "{o:?}"
        );
        assert_eq!(o.types["exchange_latency_us"], "int", "{o:?}");
        assert!(!o.attrs.contains_key("error"), "{o:?}");
        assert_ne!(o.status.0, StatusCode::Error as i32, "{o:?}");
    }
    let failed = by_symbol["XRPUSDT"];
    assert_eq!(failed.attr("outcome"), "failed");
    assert_eq!(failed.attr("error"), "true");
    assert_eq!(failed.attr("error.message"), "order_rejected");
    assert_eq!(
        failed.status,
        (StatusCode::Error as i32, "order_rejected".to_owned())
    );
    // The streamed outcome and the span name the same order.
    let streamed = run
        .executions()
        .into_iter()
        .find(|o| o.symbol == "XRPUSDT")
        .unwrap();
    assert_eq!(failed.attr("client_order_id"), streamed.client_order_id);

    guard.shutdown().await.unwrap();
}

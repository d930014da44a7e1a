//! End-to-end: `wavegate demo --processes` with `OTEL_EXPORTER_OTLP_ENDPOINT` set runs the real
//! coordinator and agent binaries, each exporting as its own service, so the worked example's
//! wave reaches an in-process OTLP collector as ONE trace from three resources: the
//! `wavegate-coordinator` and a `wavegate-agent` per exchange (binance, bybit), with each
//! agent's `execute_wave` under the coordinator's `exchange` span of that exchange.

use std::collections::{HashMap, HashSet};
use std::process::Output;
use std::time::Duration;

use tokio::process::Command;
use wavegate_tests::binary;
use wavegate_tests::otlp::{Collector, ExportedSpan as Got, KIND_CLIENT, KIND_SERVER};

/// The agent's SERVER span of an `ExecuteWave` call.
const EXECUTE_WAVE: &str = "wavegate.v1.ExchangeAgent/ExecuteWave";

/// Failure guard only; a healthy run takes a few seconds.
const GUARD: Duration = Duration::from_secs(180);
/// The worked example's wave (`examples/waves/worked-example.json`).
const WORKED_EXAMPLE: &str = "2026-11-24T12:00:00Z";

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
    let (collector, otlp) = Collector::start().await.unwrap();

    let out = demo_processes(&otlp).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("binance 6/6 (buffer saved us)"), "{stdout}");
    assert!(stdout.contains("bybit 4/4 (buffer saved us)\n"), "{stdout}");
    assert!(
        stdout.contains("demo finished: 2 waves completed"),
        "{stdout}"
    );

    // The children were stopped with SIGTERM before `wavegate` exited, which flushes their
    // batched spans: everything is in the collector now.
    let spans = collector.spans();
    let wave: Vec<&Got> = spans
        .iter()
        .filter(|g| {
            g.name == "wave" && g.attrs.get("wave_id").map(String::as_str) == Some(WORKED_EXAMPLE)
        })
        .collect();
    assert_eq!(wave.len(), 1, "one wave span: {spans:#?}");
    let wave = wave[0];
    assert_eq!(wave.service, "wavegate-coordinator");

    // The CLI exports its own span; the coordinator's span of the publish call is its child,
    // and the wave's trace links back to that call.
    let command = spans
        .iter()
        .find(|g| g.service == "wavegate" && g.name == "wavegate demo")
        .unwrap_or_else(|| panic!("no span of the CLI command: {spans:#?}"));
    let publish: Vec<&Got> = spans
        .iter()
        .filter(|g| {
            g.service == "wavegate-coordinator"
                && g.name.starts_with("wavegate.v1.SignalIngest/")
                && g.trace_id == command.trace_id
        })
        .collect();
    assert!(
        !publish.is_empty(),
        "publish calls in the CLI's trace: {spans:#?}"
    );
    assert!(
        publish.iter().all(|p| p.kind == KIND_SERVER),
        "{publish:#?}"
    );
    assert!(
        wave.links
            .iter()
            .any(|(t, s)| *t == command.trace_id && publish.iter().any(|p| p.span_id == *s)),
        "the wave links to the call that closed it: {wave:?}"
    );
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
        .filter(|g| g.name == EXECUTE_WAVE && g.service == "wavegate-agent")
        .collect();
    assert_eq!(
        executes.len(),
        2,
        "one execute_wave per agent: {in_trace:#?}"
    );
    let mut seen = HashSet::new();
    for e in executes {
        assert_eq!(e.service, "wavegate-agent");
        assert_eq!(e.kind, KIND_SERVER, "{e:?}");
        // Under the coordinator's CLIENT span of the call, itself under the exchange span.
        let call = in_trace
            .iter()
            .find(|g| g.span_id == e.parent && g.kind == KIND_CLIENT)
            .unwrap_or_else(|| panic!("{e:?} not under an ExecuteWave call"));
        let parent = exchanges
            .get(call.parent.as_str())
            .unwrap_or_else(|| panic!("{call:?} not under an exchange span"));
        let agent_exchange = e
            .exchange
            .as_deref()
            .expect("agent resource names its exchange");
        assert_eq!(
            parent.attrs.get("exchange.name").map(String::as_str),
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

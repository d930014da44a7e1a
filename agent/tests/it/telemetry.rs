//! The agent's Prometheus metrics, scraped over real HTTP from `metrics_listen` while real
//! waves run over gRPC: the counts must match what the wave's `Result` reports.

use std::collections::BTreeMap;

use crate::support::scrape::{Scrape, parse, scrape};
use crate::support::*;
use wavegate_agent::AgentError;
use wavegate_common::proto::v1 as pb;
use wavegate_common::telemetry::TelemetryError;

const VERDICTS: &str = "wavegate_validation_verdicts_total";
const LATENCY: &str = "wavegate_order_latency_seconds";

/// `(verdict, reason) → count` as the agent's validation outcomes on the stream say.
fn verdicts_of(run: &WaveRun) -> BTreeMap<(String, String), f64> {
    let mut want = BTreeMap::new();
    for o in &run.outcomes {
        if o.stage != pb::Stage::Validation as i32 {
            continue;
        }
        let key = match pb::OutcomeKind::try_from(o.kind) {
            Ok(pb::OutcomeKind::Validated) => ("successful", ""),
            Ok(pb::OutcomeKind::ValidationFailed) => ("failed", o.error.as_str()),
            Ok(pb::OutcomeKind::Duplicate) => ("skipped", o.error.as_str()),
            other => panic!("not a validation outcome: {other:?}"),
        };
        *want
            .entry((key.0.to_owned(), key.1.to_owned()))
            .or_insert(0.0) += 1.0;
    }
    want
}

/// `(verdict, reason) → count` of `exchange` as scraped.
fn scraped_verdicts(s: &Scrape, exchange: &str) -> BTreeMap<(String, String), f64> {
    s.matching(VERDICTS, &[("exchange", exchange)])
        .map(|x| {
            (
                (x.labels["verdict"].clone(), x.labels["reason"].clone()),
                x.value,
            )
        })
        .collect()
}

/// Histogram count, `+Inf` bucket and sum of the order latency of `exchange`.
fn latency(s: &Scrape, exchange: &str) -> (f64, f64, f64) {
    (
        s.value(&format!("{LATENCY}_count"), &[("exchange", exchange)]),
        s.value(
            &format!("{LATENCY}_bucket"),
            &[("exchange", exchange), ("le", "+Inf")],
        ),
        s.value(&format!("{LATENCY}_sum"), &[("exchange", exchange)]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worked_example_metrics_match_the_wave_result() {
    let dir = tempfile::tempdir().unwrap();
    // docs/design.md §1's worked example on two agents, each with its own /metrics.
    let mut binance = config(dir.path(), 1, "binance");
    binance.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    binance.adapter.paper.open_positions = vec!["SOLUSDT".into()];
    binance.faults.exec_fail = vec!["XRPUSDT".into()];
    let mut bybit = config(dir.path(), 2, "bybit");
    bybit.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let (b_agent, mut b_client) = start(binance).await;
    let (y_agent, mut y_client) = start(bybit).await;
    let b_addr = b_agent.metrics_addr().expect("binance serves /metrics");
    let y_addr = y_agent.metrics_addr().expect("bybit serves /metrics");
    assert_ne!(b_addr, y_addr);

    // Nothing counted before a wave (the families exist, the series do not yet).
    let before = scrape(b_addr).await;
    assert!(
        scraped_verdicts(&before, "binance").is_empty(),
        "{}",
        before.text
    );

    let b_signals = signals(
        1,
        101,
        &[
            "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BTCUSDT", "ADAUSDT", "DOGEUSDT",
            "DOTUSDT", "LINKUSDT",
        ],
    );
    let y_signals = signals(
        2,
        201,
        &[
            "BTCUSDT", "ETHUSDT", "BTCUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
        ],
    );
    let waves_started = std::time::Instant::now();
    let (b_run, y_run) = tokio::join!(
        drive(
            &mut b_client,
            start_msg("W1", 1, 6, 9, 9),
            &b_signals,
            Drive::default()
        ),
        drive(
            &mut y_client,
            start_msg("W1", 2, 4, 7, 7),
            &y_signals,
            Drive::default()
        ),
    );
    let waves_took = waves_started.elapsed().as_secs_f64();
    let b_stats = b_run.stats();
    let y_stats = y_run.stats();

    let b = scrape(b_addr).await;
    // Binance: 7 successful, 2 duplicates (one open position, one repeat in the wave).
    let got = scraped_verdicts(&b, "binance");
    assert_eq!(got, verdicts_of(&b_run), "{}", b.text);
    let successful = got[&("successful".into(), String::new())];
    assert_eq!(successful, f64::from(b_stats.validated_successful));
    assert_eq!(successful, 7.0);
    let skipped = b.sum(VERDICTS, &[("exchange", "binance"), ("verdict", "skipped")]);
    assert_eq!(skipped, f64::from(b_stats.duplicates));
    assert_eq!(skipped, 2.0);
    assert_eq!(
        b.value(
            VERDICTS,
            &[
                ("exchange", "binance"),
                ("verdict", "skipped"),
                ("reason", "open_position")
            ]
        ),
        1.0
    );
    assert_eq!(
        b.sum(VERDICTS, &[("exchange", "binance"), ("verdict", "failed")]),
        f64::from(b_stats.validation_failed)
    );
    // One latency observation per order sent: 6 fills and the rejected XRPUSDT.
    let (count, inf, sum) = latency(&b, "binance");
    let orders = b_run.executions().len() as f64;
    assert_eq!(
        orders,
        f64::from(b_stats.executed + b_stats.execution_failed)
    );
    assert_eq!((count, inf), (orders, orders), "{}", b.text);
    assert_eq!(count, 7.0);
    // Every order took some time, and none longer than the waves themselves.
    assert!(
        sum > 0.0 && sum <= count * waves_took,
        "{sum} s of {count} orders in {waves_took} s"
    );
    // Each agent counts only its own exchange.
    assert_eq!(b.matching(VERDICTS, &[("exchange", "bybit")]).count(), 0);

    // Bybit: 6 successful, 1 duplicate, 4 orders.
    let y = scrape(y_addr).await;
    let got = scraped_verdicts(&y, "bybit");
    assert_eq!(got, verdicts_of(&y_run), "{}", y.text);
    assert_eq!(
        got[&("successful".into(), String::new())],
        f64::from(y_stats.validated_successful)
    );
    assert_eq!(
        y.sum(VERDICTS, &[("exchange", "bybit"), ("verdict", "skipped")]),
        f64::from(y_stats.duplicates)
    );
    let (count, inf, _) = latency(&y, "bybit");
    assert_eq!((count, inf), (4.0, 4.0), "{}", y.text);
    assert_eq!(
        count,
        f64::from(y_stats.executed + y_stats.execution_failed)
    );
    assert_eq!(y.matching(VERDICTS, &[("exchange", "binance")]).count(), 0);

    // Per-wave totals (executed, target reached, top-ups) are the coordinator's, from the
    // Result: the agent does not export them, or dashboards summing over jobs would count
    // every position twice.
    // Nor `wavegate_agent_connected`: the coordinator's view; an agent's 0 would page.
    for family in [
        "wavegate_exchange_executed_total",
        "wavegate_exchange_target_reached_total",
        "wavegate_topups_total",
        "wavegate_agent_connected",
    ] {
        assert_eq!(b.matching(family, &[]).count(), 0, "{family}\n{}", b.text);
    }

    // A journaled result replayed for a re-sent wave counts nothing again.
    let again = drive(
        &mut b_client,
        start_msg("W1", 1, 6, 9, 9),
        &b_signals,
        Drive::default(),
    )
    .await;
    assert!(again.result().from_journal);
    let b2 = scrape(b_addr).await;
    assert_eq!(
        scraped_verdicts(&b2, "binance"),
        scraped_verdicts(&b, "binance")
    );
    assert_eq!(latency(&b2, "binance").0, 7.0);

    b_agent.shutdown().await;
    y_agent.shutdown().await;
    // The endpoint stops with its agent.
    assert!(tokio::net::TcpStream::connect(b_addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_failures_and_topped_up_signals_are_counted_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    cfg.faults.invalid_symbols = vec!["ADAUSDT".into()];
    let (agent, mut client) = start(cfg).await;
    // Target 3, buffer 4: ADAUSDT fails a rule and ETHUSDT repeats, so 2 pass and the agent
    // asks for floor(1 * 1.5) = 1 more, which passes.
    let all = signals(
        1,
        1,
        &[
            "BTCUSDT", "ADAUSDT", "ETHUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT",
        ],
    );
    let run = drive(
        &mut client,
        start_msg("W-topup", 1, 3, 4, 6),
        &all,
        Drive::default(),
    )
    .await;
    assert_eq!(run.topups.len(), 1, "{:?}", run.status);
    let s = run.stats();
    assert_eq!((s.validated_successful, s.topped_up, s.executed), (2, 1, 3));

    let m = scrape(agent.metrics_addr().unwrap()).await;
    assert_eq!(
        scraped_verdicts(&m, "binance"),
        verdicts_of(&run),
        "{}",
        m.text
    );
    assert_eq!(
        m.value(
            VERDICTS,
            &[
                ("exchange", "binance"),
                ("verdict", "failed"),
                ("reason", "symbol_not_tradable")
            ]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            VERDICTS,
            &[
                ("exchange", "binance"),
                ("verdict", "skipped"),
                ("reason", "duplicate_in_wave")
            ]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            VERDICTS,
            &[
                ("exchange", "binance"),
                ("verdict", "successful"),
                ("reason", "")
            ]
        ),
        3.0,
        "two from the buffer, one from the top-up"
    );
    assert_eq!(latency(&m, "binance").0, 3.0);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_metrics_listen_nothing_is_served_but_metrics_still_count() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 2, "bybit");
    assert_eq!(cfg.metrics_listen, None, "paper() serves no /metrics");
    let (agent, mut client) = start(cfg).await;
    assert_eq!(agent.metrics_addr(), None);
    let all = signals(2, 1, &["BTCUSDT", "ETHUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W1", 2, 2, 2, 2),
        &all,
        Drive::default(),
    )
    .await;
    assert_eq!(run.stats().executed, 2);
    let text = agent.metrics().encode().unwrap();
    let s = Scrape {
        samples: parse(&text),
        text,
    };
    assert_eq!(latency(&s, "bybit").0, 2.0);
    assert_eq!(
        s.value(
            VERDICTS,
            &[
                ("exchange", "bybit"),
                ("verdict", "successful"),
                ("reason", "")
            ]
        ),
        2.0
    );
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_metrics_port_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.metrics_listen = Some(addr);
    let err = match wavegate_agent::spawn(cfg).await {
        Ok(_) => panic!("started on a taken metrics port"),
        Err(e) => e,
    };
    assert!(
        matches!(&err, AgentError::Metrics(TelemetryError::Bind { addr: a, .. }) if *a == addr),
        "{err:?}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[test]
fn the_scrape_parser_reads_labels_values_and_infinities() {
    let s = parse("# HELP x y\nup 1\nh_bucket{exchange=\"a\\\"b\",le=\"+Inf\"} 7\nv{r=\"\"} 2.5\n");
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].name, "up");
    assert_eq!(s[1].labels["exchange"], "a\"b");
    assert_eq!(s[1].labels["le"], "+Inf");
    assert_eq!(s[1].value, 7.0);
    assert_eq!((s[2].labels["r"].as_str(), s[2].value), ("", 2.5));
}

#[test]
fn deploy_configs_serve_metrics_on_9101() {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config");
    for name in ["agent-binance.toml", "agent-bybit.toml"] {
        let c = wavegate_agent::AgentConfig::load_with_env(Some(&deploy.join(name)), |_| None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            c.metrics_listen,
            Some("0.0.0.0:9101".parse().unwrap()),
            "{name}"
        );
    }
}

/// The real binary: `telemetry::init` with JSON logs, and `/metrics` on the address the
/// environment gives, announced on stdout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_json_and_serves_metrics() {
    use std::io::{BufRead as _, BufReader, Read as _};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("agent.example.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wavegate-agent"))
        .arg("--config")
        .arg(example)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--journal")
        .arg(dir.path().join("agent.db"))
        .env_remove("WAVEGATE_AGENT_CONFIG")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env("RUST_LOG", "info")
        .env("WAVEGATE_AGENT_METRICS_LISTEN", "127.0.0.1:0")
        .env("WAVEGATE_AGENT_TELEMETRY_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    // Blocking reads on a blocking thread, bounded by the guard.
    let metrics_addr = tokio::time::timeout(
        GUARD,
        tokio::task::spawn_blocking(move || {
            BufReader::new(stdout).lines().find_map(|l| {
                l.ok()?
                    .strip_prefix("wavegate-agent metrics on http://")?
                    .strip_suffix("/metrics")?
                    .parse::<std::net::SocketAddr>()
                    .ok()
            })
        }),
    )
    .await
    .expect("metrics address announced")
    .unwrap()
    .expect("metrics line on stdout");
    // Served and parseable; nothing counted yet (a fresh agent has no verdict series).
    let m = scrape(metrics_addr).await;
    assert!(!m.samples.is_empty(), "{}", m.text);
    assert_eq!(m.matching(VERDICTS, &[]).count(), 0, "{}", m.text);

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let mut stderr = String::new();
    let mut err_pipe = child.stderr.take().unwrap();
    let (status, stderr) = tokio::time::timeout(
        GUARD,
        tokio::task::spawn_blocking(move || {
            err_pipe.read_to_string(&mut stderr).unwrap();
            (child.wait().unwrap(), stderr)
        }),
    )
    .await
    .expect("agent stops on SIGTERM")
    .unwrap();
    assert!(status.success(), "{status}\n{stderr}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|v| v["fields"]["message"] == "agent listening"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_stops_are_counted_placed_and_failed_from_zero() {
    const TRAILING: &str = "wavegate_agent_trailing_stops_total";
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    // The paper exchange refuses this symbol's trailing stop (its protective stop stays).
    cfg.faults.trailing_fail = vec!["CCCUSDT".into()];
    let (agent, mut client) = start(cfg).await;
    let addr = agent.metrics_addr().unwrap();
    let count = |m: &Scrape, result: &str| {
        m.value(TRAILING, &[("exchange", "binance"), ("result", result)])
    };
    let before = scrape(addr).await;
    assert_eq!(
        (count(&before, "placed"), count(&before, "failed")),
        (0.0, 0.0)
    );

    let mut start_m = start_msg("W-trail", 1, 3, 3, 3);
    let p = start_m.params.as_mut().unwrap();
    p.trailing_activation_percent = Some(2.0);
    p.trailing_distance_percent = Some(0.5);
    let all = signals(1, 1, &["AAAUSDT", "BBBUSDT", "CCCUSDT"]);
    let run = drive(&mut client, start_m, &all, Drive::default()).await;
    assert_eq!(run.executed_ids(), vec![1, 2, 3]);
    let m = scrape(addr).await;
    assert_eq!(
        (count(&m, "placed"), count(&m, "failed")),
        (2.0, 1.0),
        "{}",
        m.text
    );

    // A wave without trailing params places none: the counters stay.
    let all = signals(1, 11, &["DDDUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W-plain", 1, 1, 1, 1),
        &all,
        Drive::default(),
    )
    .await;
    assert_eq!(run.executed_ids(), vec![11]);
    let m = scrape(addr).await;
    assert_eq!((count(&m, "placed"), count(&m, "failed")), (2.0, 1.0));
    agent.shutdown().await;
}

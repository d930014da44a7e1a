//! End-to-end: after the worked example, `/metrics` of the real coordinator and of both real
//! paper agents agree with the wave report (positions per exchange, targets reached, waves by
//! status, ingest, validation verdicts).

use crate::coordinator_support::*;
use crate::trace_support::*;
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::{to_proto, wave_id};

#[tokio::test]
async fn counters_match_the_wave_report() {
    let dir = tempfile::tempdir().unwrap();
    let binance = agent(dir.path(), &binance_agent(), None).await;
    let bybit = agent(dir.path(), &bybit_agent(), None).await;
    let coord = coordinator(
        dir.path(),
        &[
            (1, "binance", binance.proc.endpoint()),
            (2, "bybit", bybit.proc.endpoint()),
        ],
        None,
    )
    .await;
    let ts = wave_ts();
    ingest(&coord.proc)
        .await
        .publish_wave(pb::Wave {
            wave_timestamp: Some(to_proto(ts)),
            signals: worked_example(ts),
            close: true,
        })
        .await
        .unwrap();
    let d = finished(&mut waves(&coord.proc).await, &wave_id(ts)).await;
    assert_eq!(
        d.summary.as_ref().unwrap().status,
        pb::WaveStatus::Completed as i32
    );

    // The wave is stored as completed before its metrics are counted: wait for the count.
    let completed = r#"wavegate_waves_total{status="completed"}"#;
    let c = scrape_until(coord.metrics_port, completed, 1.0).await;
    assert_eq!(sample(&c, completed), 1.0, "{c}");
    assert_eq!(sample(&c, "wavegate_wave_duration_seconds_count"), 1.0);
    assert_eq!(
        sample(&c, r#"wavegate_ingest_signals_total{result="accepted"}"#),
        16.0
    );
    for e in &d.exchanges {
        let name = &e.exchange_name;
        assert_eq!(
            sample(
                &c,
                &format!("wavegate_exchange_executed_total{{exchange=\"{name}\"}}")
            ),
            f64::from(e.executed),
            "{name}: {c}"
        );
        assert_eq!(
            sample(
                &c,
                &format!("wavegate_exchange_target_reached_total{{exchange=\"{name}\"}}")
            ),
            if e.target_reached { 1.0 } else { 0.0 },
            "{name}"
        );
        assert_eq!(
            sample(
                &c,
                &format!("wavegate_agent_connected{{exchange=\"{name}\"}}")
            ),
            1.0,
            "{name}"
        );
    }

    // Each agent counts its own orders and verdicts; they add up to the report.
    for (a, e) in [(&binance, &d.exchanges[0]), (&bybit, &d.exchanges[1])] {
        let t = scrape(a.metrics_port).await;
        let name = &e.exchange_name;
        // One latency sample per order walked: the positions opened and the failed ones.
        assert_eq!(
            sample(
                &t,
                &format!("wavegate_order_latency_seconds_count{{exchange=\"{name}\"}}")
            ),
            f64::from(e.executed + e.execution_failed),
            "{name}: {t}"
        );
        let verdict = |v: &str, reason: &str| {
            sample(
                &t,
                &format!(
                    "wavegate_validation_verdicts_total{{exchange=\"{name}\",reason=\"{reason}\",verdict=\"{v}\"}}"
                ),
            )
        };
        assert_eq!(
            verdict("successful", ""),
            f64::from(e.total_for_execution),
            "{t}"
        );
        assert_eq!(
            verdict("skipped", "open_position") + verdict("skipped", "duplicate_in_wave"),
            f64::from(e.duplicates),
            "{t}"
        );
    }
}

/// The value of `series` when the scrape has it (unlike `sample`, absent is not 0).
fn present(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

/// The metric names an alert rules file reads (`wavegate_…` in its `expr:` lines).
fn alert_metrics(rules: &str) -> Vec<String> {
    let mut names = Vec::new();
    for expr in rules.lines().filter_map(|l| l.trim().strip_prefix("expr:")) {
        for token in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if token.starts_with("wavegate_") && !names.iter().any(|n| n == token) {
                names.push(token.to_owned());
            }
        }
    }
    names
}

#[tokio::test]
async fn a_fresh_coordinator_with_an_agent_down_exports_what_the_alerts_read() {
    let dir = tempfile::tempdir().unwrap();
    let binance = agent(dir.path(), &binance_agent(), None).await;
    // Nothing listens there: bybit's agent is down from the start.
    let down = format!("http://127.0.0.1:{}", wavegate_tests::free_port());
    let coord = coordinator(
        dir.path(),
        &[(1, "binance", binance.proc.endpoint()), (2, "bybit", down)],
        None,
    )
    .await;
    // No wave, no call: the start-up probe alone sets the gauge (bounded by the guard).
    let c = tokio::time::timeout(GUARD, async {
        loop {
            let c = scrape(coord.metrics_port).await;
            let up = present(&c, r#"wavegate_agent_connected{exchange="binance"}"#);
            if up == Some(1.0) {
                return c;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the start-up probe never marked binance connected");
    assert_eq!(
        present(&c, r#"wavegate_agent_connected{exchange="bybit"}"#),
        Some(0.0),
        "{c}"
    );
    for series in [
        r#"wavegate_waves_total{status="completed"}"#,
        r#"wavegate_waves_total{status="partial"}"#,
        r#"wavegate_waves_total{status="failed"}"#,
        r#"wavegate_ingest_signals_total{result="accepted"}"#,
        r#"wavegate_exchange_executed_total{exchange="bybit"}"#,
        r#"wavegate_exchange_target_reached_total{exchange="binance"}"#,
        "wavegate_wave_duration_seconds_count",
    ] {
        assert_eq!(present(&c, series), Some(0.0), "{series}: {c}");
    }
    assert!(present(&c, "process_cpu_seconds_total").is_some(), "{c}");
    assert!(
        present(&c, "process_resident_memory_bytes").is_some_and(|v| v > 0.0),
        "{c}"
    );
    assert!(
        c.lines().any(
            |l| l.starts_with("wavegate_build_info{process=\"coordinator\",") && l.ends_with(" 1")
        ),
        "{c}"
    );

    // Every metric the shipped alerts read is exported already.
    let rules_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/prometheus/alerts.yml"
    );
    let rules = std::fs::read_to_string(rules_path).unwrap();
    let names = alert_metrics(&rules);
    assert!(
        names.iter().any(|n| n == "wavegate_agent_connected"),
        "{names:?}"
    );
    for name in &names {
        assert!(
            c.lines()
                .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))),
            "{name} (read by alerts.yml) is not exported at start-up:\n{c}"
        );
    }

    // With promtool (deploy/check.sh installs it), the alert itself is evaluated on the
    // scraped values: WavegateAgentDown fires for bybit, not for binance.
    match std::process::Command::new("promtool")
        .arg("--version")
        .output()
    {
        Ok(o) if o.status.success() => {
            let value = |s: &str| present(&c, s).unwrap();
            let test = format!(
                "rule_files: [{rules_path}]\nevaluation_interval: 1m\ntests:\n\
                 - interval: 1m\n  input_series:\n\
                 \x20   - series: 'wavegate_agent_connected{{exchange=\"binance\"}}'\n      values: '{b}x10'\n\
                 \x20   - series: 'wavegate_agent_connected{{exchange=\"bybit\"}}'\n      values: '{y}x10'\n\
                 \x20 alert_rule_test:\n\
                 \x20   - eval_time: 3m\n      alertname: WavegateAgentDown\n      exp_alerts:\n\
                 \x20       - exp_labels: {{severity: page, exchange: bybit}}\n\
                 \x20         exp_annotations:\n\
                 \x20           summary: \"The coordinator cannot reach the bybit agent\"\n\
                 \x20           description: \"Signals for bybit end agent_unavailable until it is back (wavegate agents shows the error).\"\n",
                b = value(r#"wavegate_agent_connected{exchange="binance"}"#),
                y = value(r#"wavegate_agent_connected{exchange="bybit"}"#),
            );
            let file = dir.path().join("scraped_test.yml");
            std::fs::write(&file, test).unwrap();
            let run = std::process::Command::new("promtool")
                .args(["test", "rules"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                run.status.success(),
                "promtool: {}{}",
                String::from_utf8_lossy(&run.stdout),
                String::from_utf8_lossy(&run.stderr)
            );
        }
        _ => eprintln!("promtool not installed: alert evaluation left to deploy/check.sh"),
    }

    // The agent exports its own families only, and names its build too.
    let a = scrape(binance.metrics_port).await;
    assert!(!a.contains("wavegate_wave_duration_seconds"), "{a}");
    assert!(!a.contains("wavegate_agent_connected"), "{a}");
    assert!(a.contains("wavegate_build_info{process=\"agent\","), "{a}");
    // Log files get no colour codes.
    assert!(
        !coord.proc.log_text().contains('\x1b'),
        "{}",
        coord.proc.log_text()
    );
}

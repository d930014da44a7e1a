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

    let c = scrape(coord.metrics_port).await;
    assert_eq!(
        sample(&c, r#"wavegate_waves_total{status="completed"}"#),
        1.0,
        "{c}"
    );
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

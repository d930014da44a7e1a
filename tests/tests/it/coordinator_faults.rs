//! End-to-end faults and concurrency with the real coordinator and paper agents: skipped and
//! unreachable exchanges, late signals, exchanges running at the same time, and a coordinator
//! killed (SIGKILL) mid-dispatch whose wave is finished — by itself restarted, on SQLite and
//! PostgreSQL, or by a second coordinator on the same PostgreSQL — without any order placed
//! twice.

use crate::coordinator_support::*;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::wave_event::Event;
use wavegate_common::stats::WaveCompleted;
use wavegate_common::time::{to_proto, wave_id};
use wavegate_tests::free_port;

fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}/coordinator.db?mode=rwc", dir.display())
}

#[tokio::test]
async fn no_params_and_unreachable_agent_make_a_partial_wave_while_the_other_completes() {
    let dir = tempfile::tempdir().unwrap();
    let binance = start_agent(dir.path(), &binance_agent()).await;
    let coord = start_coordinator(
        dir.path(),
        &sqlite_url(dir.path()),
        "e2e",
        &[
            Exchange {
                id: 1,
                name: "binance",
                agent: Some(binance.endpoint()),
            },
            Exchange {
                id: 2,
                name: "bybit",
                agent: Some(format!("http://127.0.0.1:{}", free_port())),
            },
            Exchange {
                id: 3,
                name: "okx",
                agent: None,
            },
        ],
    )
    .await;
    let ts = wave_ts();
    let id = wave_id(ts);
    let signals = vec![
        signal(1, "BTCUSDT", 1, 90.0, ts, Some(2)),
        signal(2, "SOLUSDT", 1, 80.0, ts, None),
        signal(3, "XRPUSDT", 1, 70.0, ts, None),
        signal(4, "BTCUSDT", 2, 90.0, ts, Some(2)),
        signal(5, "ETHUSDT", 2, 80.0, ts, None),
        signal(6, "BTCUSDT", 3, 90.0, ts, None),
    ];
    let s = ingest(&coord)
        .await
        .publish_wave(pb::Wave {
            wave_timestamp: Some(to_proto(ts)),
            signals,
            close: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.accepted, 6, "{s:?}");
    let d = finished(&mut waves(&coord).await, &id).await;
    assert_eq!(d.summary.unwrap().status, pb::WaveStatus::Partial as i32);
    let ex = &d.exchanges;
    assert_eq!(ex.len(), 3);
    assert_eq!(
        (ex[0].error.as_str(), ex[0].executed, ex[0].target),
        ("", 2, 2)
    );
    assert!(ex[0].target_reached && ex[0].buffer_saved_us);
    assert_eq!(
        (ex[1].error.as_str(), ex[1].skipped, ex[1].target),
        ("agent_unavailable", 2, 2)
    );
    assert_eq!(
        (ex[2].error.as_str(), ex[2].skipped, ex[2].total_signals),
        ("no_params", 1, 1)
    );
    let ev: WaveCompleted = serde_json::from_str(&d.completed_event).unwrap();
    assert_eq!(
        (
            ev.exchanges_processed,
            ev.positions_opened,
            ev.total_signals
        ),
        (1, 2, 6)
    );
    assert_eq!(describe(&binance).await.orders_sent, 2);
}

#[tokio::test]
async fn a_late_signal_is_rejected_with_failed_precondition() {
    let dir = tempfile::tempdir().unwrap();
    let coord = start_coordinator(
        dir.path(),
        &sqlite_url(dir.path()),
        "e2e",
        &[Exchange {
            id: 1,
            name: "binance",
            agent: None,
        }],
    )
    .await;
    let late = wave_ts() - chrono::Duration::hours(3);
    let s = ingest(&coord)
        .await
        .publish_wave(pb::Wave {
            wave_timestamp: None,
            signals: vec![signal(1, "BTCUSDT", 1, 50.0, late, Some(2))],
            close: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.accepted, s.rejected), (0, 1));
    let r = &s.rejections[0];
    assert_eq!(
        (r.position, r.signal_id, r.field.as_str()),
        (0, 1, "wave_timestamp")
    );
    assert_eq!(r.code, tonic::Code::FailedPrecondition as i32);
    assert!(r.reason.contains("late"), "{}", r.reason);
    let e = waves(&coord)
        .await
        .get(pb::GetWaveRequest {
            wave_id: wave_id(late),
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        tonic::Code::NotFound,
        "the late signal created nothing"
    );
}

#[tokio::test]
async fn two_exchanges_execute_at_the_same_time() {
    let dir = tempfile::tempdir().unwrap();
    let (binance, bybit) = start_worked_example_agents(dir.path(), 150).await;
    let coord = start_pair_coordinator(dir.path(), &sqlite_url(dir.path()), &binance, &bybit).await;
    let ts = wave_ts();
    let mut watch = publish_worked_example_watched(&coord, ts).await;
    let mut order = Vec::new();
    tokio::time::timeout(GUARD, async {
        while let Some(ev) = watch.message().await.unwrap() {
            match ev.event {
                Some(Event::Outcome(o))
                    if o.outcome.as_ref().unwrap().stage == pb::Stage::Execution as i32 =>
                {
                    order.push(o.exchange_id)
                }
                Some(Event::Completed(_)) => break,
                _ => {}
            }
        }
    })
    .await
    .expect("wave did not complete");
    assert_eq!(order.iter().filter(|e| **e == 1).count(), 7, "{order:?}");
    assert_eq!(order.iter().filter(|e| **e == 2).count(), 4, "{order:?}");
    // One after the other would switch exchanges once; in parallel they interleave.
    let switches = order.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches >= 3, "executions did not interleave: {order:?}");
}

/// Who finishes a wave whose coordinator was killed mid-dispatch.
enum Survivor {
    /// The same coordinator (same node id), restarted.
    Restarted,
    /// A second coordinator on the same database, once the dead one's lease expired.
    Other,
}

/// Publishes the worked example, SIGKILLs the coordinator after the first executed order, and
/// checks that `survivor` completes the wave with every order placed exactly once.
async fn killed_mid_dispatch(database_url: &str, survivor: Survivor) {
    let dir = tempfile::tempdir().unwrap();
    let (binance, bybit) = start_worked_example_agents(dir.path(), 150).await;
    // The shortest lease the config allows (3 s; 6 s in the other tests): the second
    // coordinator takes the wave over that long after the killed one's last renewal.
    let tuning = Tuning {
        dispatch: "lease_secs = 3",
        ..Tuning::default()
    };
    let (url, path) = (database_url, dir.path());
    let mut coord = start_pair_coordinator_tuned(path, url, "e2e", &binance, &bybit, tuning).await;
    let other = match survivor {
        Survivor::Restarted => None,
        Survivor::Other => Some(
            start_pair_coordinator_tuned(path, url, "e2e-other", &binance, &bybit, tuning).await,
        ),
    };
    let ts = wave_ts();
    let id = wave_id(ts);
    let mut watch = publish_worked_example_watched(&coord, ts).await;
    // Kill as soon as the first order has been executed.
    tokio::time::timeout(GUARD, async {
        while let Some(ev) = watch.message().await.unwrap() {
            if let Some(Event::Outcome(o)) = ev.event
                && o.outcome.unwrap().stage == pb::Stage::Execution as i32
            {
                return;
            }
        }
    })
    .await
    .expect("no execution outcome");
    coord.kill().await;
    let finisher = match &other {
        None => {
            coord.restart().await.unwrap();
            &coord
        }
        Some(o) => o,
    };

    let d = finished(&mut waves(finisher).await, &id).await;
    let s = d.summary.unwrap();
    assert_eq!(
        s.status,
        pb::WaveStatus::Completed as i32,
        "{}",
        finisher.log_text()
    );
    let ex = &d.exchanges;
    assert_eq!(
        (ex[0].executed, ex[0].execution_failed, ex[0].target),
        (6, 1, 6)
    );
    assert_eq!(
        (ex[1].executed, ex[1].execution_failed, ex[1].target),
        (4, 0, 4)
    );
    let ev: WaveCompleted = serde_json::from_str(&d.completed_event).unwrap();
    assert_eq!(ev.positions_opened, 10);
    // Never the same order twice: one order per executed or failed signal.
    let b = describe(&binance).await;
    assert_eq!(b.orders_sent, 7);
    assert_eq!(
        b.open_positions.len(),
        7,
        "ETHUSDT plus six: {:?}",
        b.open_positions
    );
    let y = describe(&bybit).await;
    assert_eq!(y.orders_sent, 4);
    assert_eq!(y.open_positions.len(), 4);
    assert!(
        finisher
            .log_text()
            .contains("resuming a wave left in dispatching"),
        "{}",
        finisher.log_text()
    );
}

#[tokio::test]
async fn a_coordinator_killed_mid_dispatch_resumes_and_no_order_is_placed_twice() {
    let dir = tempfile::tempdir().unwrap();
    killed_mid_dispatch(&sqlite_url(dir.path()), Survivor::Restarted).await;
}

#[tokio::test]
async fn a_coordinator_killed_mid_dispatch_on_postgres_resumes_and_no_order_is_placed_twice() {
    let db = TestDb::postgres().await;
    killed_mid_dispatch(&db.url, Survivor::Restarted).await;
}

#[tokio::test]
async fn a_second_coordinator_on_the_same_postgres_takes_over_when_the_lease_expires() {
    let db = TestDb::postgres().await;
    killed_mid_dispatch(&db.url, Survivor::Other).await;
}

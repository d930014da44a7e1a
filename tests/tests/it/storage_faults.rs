//! A full disk under the real coordinator's SQLite database (a small tmpfs; issue 12,
//! item 3): it refuses new work clearly (ingest `UNAVAILABLE`, gRPC health `NOT_SERVING`),
//! comes back by itself once space returns — no restart, no `database is locked` — and a
//! publish it answered with a failure is never executed.

use std::time::Duration;

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::{to_proto, wave_id};

use crate::coordinator_support::*;
use wavegate_tests::small_disk::SmallDisk;

async fn health(coord: &wavegate_tests::Proc) -> i32 {
    HealthClient::new(channel(&coord.endpoint()).await)
        .check(HealthCheckRequest {
            service: "wavegate.v1.SignalIngest".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

/// A closed wave of two binance signals (target 2).
fn closed_wave(ts: chrono::DateTime<chrono::Utc>, first_id: i64, symbols: [&str; 2]) -> pb::Wave {
    pb::Wave {
        wave_timestamp: Some(to_proto(ts)),
        signals: vec![
            signal(first_id, symbols[0], 1, 90.0, ts, Some(2)),
            signal(first_id + 1, symbols[1], 1, 80.0, ts, None),
        ],
        close: true,
    }
}

#[tokio::test]
async fn a_full_disk_refuses_new_work_and_the_coordinator_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&dir.path().join("db"), "2m") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root (CAP_SYS_ADMIN)");
        return;
    };
    let binance = start_agent(dir.path(), &binance_agent()).await;
    let db = format!(
        "sqlite://{}/coordinator.db?mode=rwc",
        dir.path().join("db").display()
    );
    let exchanges = [
        Exchange {
            id: 1,
            name: "binance",
            agent: Some(binance.endpoint()),
        },
        // Fills the disk with signals that can never reach an exchange.
        Exchange {
            id: 9,
            name: "filler",
            agent: None,
        },
    ];
    // Four waves in one test: the current candle and the three before it (a long grace keeps
    // them open for signals).
    let coord =
        start_coordinator_tuned(dir.path(), &db, "e2e", &exchanges, "grace_secs = 7200", "").await;
    let current = wave_ts();
    let candle = |k: i64| current - chrono::Duration::seconds(900 * k);

    let before = candle(3);
    let s = ingest(&coord)
        .await
        .publish_wave(closed_wave(before, 1, ["BTCUSDT", "SOLUSDT"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.accepted, 2);
    let d = finished(&mut waves(&coord).await, &wave_id(before)).await;
    assert_eq!(d.exchanges[0].executed, 2);

    disk.fill();
    // The WAL may still have room: write until the storage fails, as a real disk fills.
    let filler_ts = candle(2);
    let mut refused = None;
    for round in 0..200_i64 {
        let signals = (0..200)
            .map(|i| {
                let id = round * 1000 + i;
                signal(id, &format!("F{id}USDT"), 9, 50.0, filler_ts, Some(1))
            })
            .collect();
        let r = ingest(&coord)
            .await
            .publish_wave(pb::Wave {
                wave_timestamp: Some(to_proto(filler_ts)),
                signals,
                close: false,
            })
            .await;
        if let Err(status) = r {
            refused = Some(status);
            break;
        }
    }
    let refused = refused.expect("the full disk never failed a publish");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("retry later"), "{refused:?}");
    assert_eq!(health(&coord).await, ServingStatus::NotServing as i32);

    // New work is refused clearly while the disk is full, and never executed later.
    let during = candle(1);
    let e = ingest(&coord)
        .await
        .publish_wave(closed_wave(during, 101, ["XRPUSDT", "ADAUSDT"]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");

    disk.free();
    tokio::time::timeout(GUARD, async {
        while health(&coord).await != ServingStatus::Serving as i32 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the coordinator did not recover by itself");

    let after = candle(0);
    let s = ingest(&coord)
        .await
        .publish_wave(closed_wave(after, 201, ["DOGEUSDT", "AVAXUSDT"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.accepted, 2, "{s:?}");
    let d = finished(&mut waves(&coord).await, &wave_id(after)).await;
    assert_eq!(d.exchanges[0].executed, 2, "{}", coord.log_text());

    // The refused wave: not stored, and no order of it ever reached the agent.
    let e = waves(&coord)
        .await
        .get(pb::GetWaveRequest {
            wave_id: wave_id(during),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    tokio::time::sleep(Duration::from_secs(4)).await; // past the quiet period
    assert_eq!(
        describe(&binance).await.orders_sent,
        4,
        "waves before and after only"
    );
    assert!(
        !coord.log_text().contains("database is locked"),
        "{}",
        coord.log_text()
    );
    drop(coord);
    drop(disk);
}

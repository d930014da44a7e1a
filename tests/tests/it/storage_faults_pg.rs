//! A full disk under the real coordinator's PostgreSQL database (issue 12, storage faults on
//! either backend): the database lives in a tablespace on a small tmpfs of the machine's
//! PostgreSQL server (`wavegate_tests::pg_small_disk`), which the test fills for real. The
//! coordinator refuses new work clearly (ingest `UNAVAILABLE`, gRPC health `NOT_SERVING`, and
//! stays so while the disk is full — no flip-flop), never executes or reports a wave it answered
//! with a failure, and comes back by itself once space returns, without a restart.

use std::time::Duration;

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::{to_proto, wave_id};

use crate::coordinator_support::*;
use wavegate_tests::pg_small_disk::PgSmallDisk;

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
async fn a_full_postgresql_disk_refuses_new_work_and_the_coordinator_recovers_by_itself() {
    let admin = std::env::var("WAVEGATE_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    // Dropped last (declared first): database, tablespace and tmpfs go even on a panic.
    let pg = match PgSmallDisk::create(&admin, "48m") {
        Ok(pg) => pg,
        Err(e) => {
            eprintln!("SKIPPED: {e}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let binance = start_agent(dir.path(), &binance_agent()).await;
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
    let coord = start_coordinator_tuned(
        dir.path(),
        &pg.url,
        "e2e-pg",
        &exchanges,
        "grace_secs = 7200",
        "",
    )
    .await;
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

    pg.disk().fill();
    // Free space in pages the tables already have still takes rows (PostgreSQL stores them
    // truly: the WAL is on the server's disk): publish until a new page is needed.
    let filler_ts = candle(2);
    let mut refused = None;
    for round in 0..400_i64 {
        let signals = (0..200)
            .map(|i| {
                let id = 10_000 + round * 1000 + i;
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

    // While the disk stays full: still refused after several probes (PROBE_EVERY is 1 s), and
    // health does not flip back to SERVING on a write that happened to fit in an old page.
    let during = candle(1);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            health(&coord).await,
            ServingStatus::NotServing as i32,
            "serving again while the disk is still full: {}",
            coord.log_text()
        );
        let e = ingest(&coord)
            .await
            .publish_wave(closed_wave(during, 101, ["XRPUSDT", "ADAUSDT"]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    }

    pg.disk().free();
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
    drop(coord);
    drop(binance);
    drop(pg);
}

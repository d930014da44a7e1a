//! A collecting wave that cannot close for a reason other than the storage (its stored signal
//! cannot be read back: a hand-edited database) is tried again after a doubling pause, not on
//! every tick of the wave clock (200 ms), and the other waves still close.

use std::time::Duration;

use chrono::{DateTime, Utc};
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::{to_proto, wave_id};
use wavegate_tests::Proc;

use crate::coordinator_support::*;

const FAILED: &str = "closing the wave failed";

/// Publishes signal `id` for binance to wave `ts`, leaving the wave open.
async fn publish_open(coord: &Proc, ts: DateTime<Utc>, id: i64) {
    let summary = ingest(coord)
        .await
        .publish_wave(pb::Wave {
            wave_timestamp: Some(to_proto(ts)),
            signals: vec![signal(id, "BTCUSDT", 1, 0.9, ts, Some(1))],
            close: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.accepted, 1, "{summary:?}");
}

/// Wave `ts`'s status as `Waves.Get` gives it.
async fn status(coord: &Proc, ts: DateTime<Utc>) -> pb::WaveStatus {
    let detail = waves(coord)
        .await
        .get(pb::GetWaveRequest {
            wave_id: wave_id(ts),
        })
        .await
        .unwrap()
        .into_inner();
    detail.summary.unwrap().status()
}

#[tokio::test]
async fn a_wave_whose_signals_cannot_be_read_back_is_retried_after_a_pause_not_every_tick() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("coordinator.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let exchanges = [Exchange {
        id: 1,
        name: "binance",
        agent: None,
    }];
    let tuned = |waves| Tuning {
        waves,
        ..Tuning::default()
    };
    // First run: the wave collects one signal and never closes (quiet for an hour).
    let ts = wave_ts();
    let hold = tuned("quiet_secs = 3600");
    let mut first = start_coordinator_tuned(dir.path(), &url, "n1", &exchanges, hold).await;
    publish_open(&first, ts, 1).await;
    first.kill().await;

    // A hand edit the store cannot read back: an unknown margin mode.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let edited = sqlx::query("UPDATE signals SET margin_mode = 'bogus'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(edited.rows_affected(), 1);
    pool.close().await;

    // Second run: due after 1 s of quiet, not held in memory, so the close reads it back.
    let due = tuned("quiet_secs = 1");
    let coord = start_coordinator_tuned(dir.path(), &url, "n1", &exchanges, due).await;
    // Another wave, published to this run, still closes. The next candle's: the one before
    // stops accepting signals a few minutes into this one, so it would depend on the clock.
    let other = ts + chrono::Duration::minutes(15);
    publish_open(&coord, other, 2).await;
    tokio::time::sleep(Duration::from_millis(4500)).await;

    let log = coord.log_text();
    let failures = log.lines().filter(|l| l.contains(FAILED)).count();
    // Every tick would be ~17 in 3.5 s; after 1 s, 2 s… it is 2 or 3.
    assert!((1..=5).contains(&failures), "{failures} failures:\n{log}");
    assert!(log.contains("corrupt stored data"), "{log}");
    assert!(log.contains("retried after a pause"), "{log}");
    assert_eq!(
        status(&coord, ts).await,
        pb::WaveStatus::Collecting,
        "nothing of it changed"
    );
    assert_ne!(
        status(&coord, other).await,
        pb::WaveStatus::Collecting,
        "the other wave closed"
    );
}

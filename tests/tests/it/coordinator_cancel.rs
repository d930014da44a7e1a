//! End to end: `Waves.Cancel` of a wave that real paper agents are executing (300 ms per
//! exchange call), against the real coordinator. The agents launch nothing after the cancel
//! but what was in flight, the wave completes `partial` with fewer positions than its targets,
//! and one `WAVE_CANCELLED` event is stored.

use crate::coordinator_support::*;
use sqlx::Connection as _;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::wave_event::Event;
use wavegate_common::stats::WaveCompleted;
use wavegate_common::time::wave_id;

#[tokio::test]
async fn cancelling_a_running_wave_stops_its_agents_after_the_orders_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let (binance, bybit) = start_worked_example_agents(dir.path(), 300).await;
    let db = dir.path().join("coordinator.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let coord = start_pair_coordinator(dir.path(), &url, &binance, &bybit).await;
    let ts = wave_ts();
    let id = wave_id(ts);
    let mut watch = publish_worked_example_watched(&coord, ts).await;
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

    let mut w = waves(&coord).await;
    let r = w
        .cancel(pb::CancelWaveRequest {
            wave_id: id.clone(),
            reason: "e2e drill".into(),
        })
        .await
        .unwrap()
        .into_inner();
    // Binance needs 7 orders and Bybit 4, at 600 ms each (entry and stop): both still run.
    assert_eq!(r.exchanges_stopping, 2, "{r:?}");
    assert_eq!(r.wave.unwrap().status, pb::WaveStatus::Dispatching as i32);

    let d = finished(&mut w, &id).await;
    let summary = d.summary.clone().unwrap();
    assert_eq!(
        summary.status,
        pb::WaveStatus::Partial as i32,
        "{}",
        coord.log_text()
    );
    assert_eq!(
        summary.reason, "cancelled: e2e drill",
        "the wave says why it stopped"
    );
    assert_eq!(d.exchanges.len(), 2);
    for (ex, agent) in d.exchanges.iter().zip([&binance, &bybit]) {
        assert_eq!(ex.error, "cancelled", "{ex:?}");
        assert!(ex.executed < ex.target, "{ex:?}");
        assert!(!ex.target_reached, "{ex:?}");
        // Every order the agent sent is an outcome of this wave: nothing was launched after
        // the cancel except what was already in flight (which settled and was reported).
        let a = describe(agent).await;
        assert_eq!(
            a.orders_sent,
            u64::from(ex.executed + ex.execution_failed),
            "{} {ex:?}",
            ex.exchange_name
        );
    }
    let ev: WaveCompleted = serde_json::from_str(&d.completed_event).unwrap();
    assert!(ev.positions_opened < 10, "{ev:?}");
    assert_eq!(
        ev.positions_opened,
        d.exchanges.iter().map(|e| e.executed).sum::<u32>()
    );

    // Finished now: a second cancel is refused.
    let e = w
        .cancel(pb::CancelWaveRequest {
            wave_id: id.clone(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT event_data FROM events WHERE event_type = 'WAVE_CANCELLED' AND correlation_id = ?",
    )
    .bind(&id)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let payload: serde_json::Value = serde_json::from_str(&rows[0].0).unwrap();
    assert_eq!(
        (&payload["reason"], &payload["status"]),
        (
            &serde_json::Value::from("e2e drill"),
            &serde_json::Value::from("dispatching")
        )
    );
    conn.close().await.unwrap();
}

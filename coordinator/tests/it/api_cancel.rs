//! `Waves.Cancel` over real gRPC against `spawn` on 127.0.0.1:0: a collecting wave is failed
//! with nothing executed (SQLite and PostgreSQL), and the refusals — bad input, unknown wave,
//! finished wave, a wave dispatched by another coordinator — change nothing. (Stopping a wave
//! that agents are executing is tested end to end with real agents in `tests/`.)

use crate::api_support::{GUARD, clients, config, finished, wave};
use crate::support::{TestDb, current_wave, sig, sig_with_params};
use chrono::Utc;
use futures::StreamExt as _;
use tonic::Code;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::wave_event::Event;
use wavegate_common::time::wave_id;

fn cancel(id: &str, reason: &str) -> pb::CancelWaveRequest {
    pb::CancelWaveRequest {
        wave_id: id.into(),
        reason: reason.into(),
    }
}

async fn collecting_wave_is_failed_and_nothing_executes(db: &TestDb) {
    let mut cfg = config(db);
    // Only the cancel may close the wave.
    cfg.waves.quiet_secs = 600;
    let h = wavegate_coordinator::spawn(cfg).await.unwrap();
    let mut c = clients(&h).await;
    let ts = current_wave();
    let id = wave_id(ts);
    let signals = vec![
        sig_with_params(1, "BTCUSDT", 2, 50.0, ts, 2),
        sig(2, "ETHUSDT", 2, 40.0, ts),
    ];
    let s = c
        .ingest
        .publish_wave(wave(ts, signals, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.accepted, 2, "{s:?}");
    let mut watch = c
        .waves
        .watch(pb::WatchRequest {
            wave_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    // Any RFC 3339 spelling of the instant names the wave.
    let other_spelling = ts
        .with_timezone(&chrono::FixedOffset::east_opt(3600).unwrap())
        .to_rfc3339();
    let done = c
        .waves
        .cancel(cancel(&other_spelling, "  venue halted "))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.exchanges_stopping, 0);
    let summary = done.wave.unwrap();
    assert_eq!(summary.wave_id, id);
    assert_eq!(summary.status, pb::WaveStatus::Failed as i32);
    assert_eq!(summary.reason, "cancelled: venue halted");
    assert!(summary.closed_at.is_some() && summary.completed_at.is_some());

    // Watchers are told; the stored wave has nothing executed and no completion.
    let first = tokio::time::timeout(GUARD, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        first.event,
        Some(Event::Status(pb::WaveStatus::Collecting as i32))
    );
    let next = tokio::time::timeout(GUARD, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        next.event,
        Some(Event::Status(pb::WaveStatus::Failed as i32))
    );
    let d = finished(&mut c, &id).await;
    assert_eq!(d.summary.as_ref().unwrap(), &summary);
    assert!(d.exchanges.is_empty(), "{:?}", d.exchanges);
    assert!(d.outcomes.is_empty(), "{:?}", d.outcomes);
    assert!(d.completed_event.is_empty());
    let events = h.store().events_of(&id).await.unwrap();
    let cancelled: Vec<&(String, String)> = events
        .iter()
        .filter(|(t, _)| t == "WAVE_CANCELLED")
        .collect();
    assert_eq!(cancelled.len(), 1, "{events:?}");
    let payload: serde_json::Value = serde_json::from_str(&cancelled[0].1).unwrap();
    assert_eq!(payload["reason"], "venue halted");
    assert_eq!(payload["status"], "collecting");
    assert!(
        events.iter().all(|(t, _)| !t.starts_with("SIGNAL_")),
        "{events:?}"
    );

    // Cancelling again is refused (the wave is finished) and records nothing more.
    let e = c.waves.cancel(cancel(&id, "again")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("already finished (failed)"), "{e:?}");
    let again = h.store().events_of(&id).await.unwrap();
    assert_eq!(again.len(), events.len());
    // Its signals are refused from now on; closing it does not dispatch it.
    let s = c
        .ingest
        .publish_wave(wave(ts, vec![sig(3, "SOLUSDT", 2, 30.0, ts)], true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.accepted, s.rejected), (0, 1));
    assert_eq!(s.rejections[0].code, Code::FailedPrecondition as i32);
    assert!(s.closed_wave_ids.is_empty());
    let stored = h.store().wave(&id).await.unwrap().unwrap();
    assert_eq!((stored.status.as_str(), stored.owner), ("failed", None));
    h.shutdown().await;
}

#[tokio::test]
async fn cancelling_a_collecting_wave_fails_it_with_nothing_executed_sqlite() {
    let db = TestDb::sqlite().await;
    collecting_wave_is_failed_and_nothing_executes(&db).await;
}

#[tokio::test]
async fn cancelling_a_collecting_wave_fails_it_with_nothing_executed_postgres() {
    let db = TestDb::postgres().await;
    collecting_wave_is_failed_and_nothing_executes(&db).await;
}

#[tokio::test]
async fn bad_unknown_finished_and_foreign_waves_are_refused_and_change_nothing() {
    let db = TestDb::sqlite().await;
    let mut cfg = config(&db);
    cfg.waves.quiet_secs = 600;
    cfg.node_id = Some("coord-here".into());
    let h = wavegate_coordinator::spawn(cfg).await.unwrap();
    let mut c = clients(&h).await;

    for (req, field) in [
        (cancel("", "x"), "wave_id"),
        (cancel("yesterday", "x"), "wave_id"),
        (
            cancel("2026-11-24T12:00:00Z", "line one\nline two"),
            "reason",
        ),
        (cancel("2026-11-24T12:00:00Z", &"x".repeat(513)), "reason"),
    ] {
        let e = c.waves.cancel(req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().starts_with(field), "{field}: {}", e.message());
    }
    let e = c
        .waves
        .cancel(cancel("2020-01-01T00:00:00Z", ""))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert!(e.message().contains("2020-01-01T00:00:00Z"), "{e:?}");

    // Finished: exchange 1 has no params, so the closed wave completes (partial) at once.
    let ts = current_wave();
    let done_id = wave_id(ts);
    c.ingest
        .publish_wave(wave(ts, vec![sig(1, "BTCUSDT", 1, 50.0, ts)], true))
        .await
        .unwrap();
    let d = finished(&mut c, &done_id).await;
    assert_eq!(d.summary.unwrap().status, pb::WaveStatus::Partial as i32);
    let e = c.waves.cancel(cancel(&done_id, "late")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("already finished (partial)"), "{e:?}");

    // Dispatching under another coordinator's lease: only that coordinator holds the agent
    // streams, so this one refuses and names it. The next candle: a second wave.
    let ts = current_wave() + chrono::Duration::seconds(900);
    let foreign = wave_id(ts);
    c.ingest
        .publish_wave(wave(ts, vec![sig(1, "BTCUSDT", 2, 50.0, ts)], false))
        .await
        .unwrap();
    let now = Utc::now();
    let hour = chrono::Duration::hours(1);
    assert!(
        h.store()
            .claim(
                &foreign,
                "coord-elsewhere",
                now + hour,
                now + hour,
                now,
                None
            )
            .await
            .unwrap()
    );
    let e = c.waves.cancel(cancel(&foreign, "x")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("\"coord-elsewhere\""), "{e:?}");
    for id in [&done_id, &foreign] {
        let events = h.store().events_of(id).await.unwrap();
        assert!(
            events.iter().all(|(t, _)| t != "WAVE_CANCELLED"),
            "{id}: {events:?}"
        );
    }
    let stored = h.store().wave(&foreign).await.unwrap().unwrap();
    assert_eq!(stored.status.as_str(), "dispatching");
    assert_eq!(stored.owner.as_deref(), Some("coord-elsewhere"));
    h.shutdown().await;
}

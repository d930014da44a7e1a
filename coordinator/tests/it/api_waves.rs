//! The public waves, params and agents APIs over real gRPC against `spawn` on 127.0.0.1:0
//! (SQLite in a temp dir; the partial-wave scenario also on PostgreSQL). No agent is running
//! here: exchanges either lack params (skipped with `no_params`) or point at a closed port
//! (`agent_unavailable`).

use crate::api_support::{GUARD, clients, config, finished, wave};
use crate::support::{TestDb, current_wave, sig, sig_with_params};
use chrono::Utc;
use futures::StreamExt as _;
use tonic::Code;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::wave_event::Event;
use wavegate_common::stats::WaveCompleted;
use wavegate_common::time::wave_id;

#[tokio::test]
async fn params_set_validates_and_get_lists_every_known_exchange() {
    let db = TestDb::sqlite().await;
    let h = wavegate_coordinator::spawn(config(&db)).await.unwrap();
    let mut c = clients(&h).await;
    let base = pb::SetParamsRequest {
        exchange_id: 1,
        max_trades: 6,
        ..Default::default()
    };
    let bad = [
        (
            pb::SetParamsRequest {
                max_trades: 0,
                ..base.clone()
            },
            "max_trades",
        ),
        (
            pb::SetParamsRequest {
                buffer_size: Some(5),
                ..base.clone()
            },
            "buffer_size",
        ),
        (
            pb::SetParamsRequest {
                stop_loss_percent: Some(150.0),
                ..base.clone()
            },
            "stop_loss_percent",
        ),
        (
            pb::SetParamsRequest {
                exchange_id: 0,
                ..base.clone()
            },
            "exchange_id",
        ),
    ];
    for (req, field) in bad {
        let e = c.params.set(req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().starts_with(field), "{field}: {}", e.message());
    }
    // Nothing was stored by the refused calls: exchange 1 has no params, 2 its default.
    let all = c
        .params
        .get(pb::GetParamsRequest { exchange_id: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.params.len(), 1);
    assert_eq!(all.params[0].exchange_id, 2);
    assert_eq!(all.params[0].source, pb::ParamsSource::Default as i32);
    assert_eq!(
        (all.params[0].max_trades, all.params[0].buffer_size),
        (4, 7)
    );

    let set = c.params.set(base.clone()).await.unwrap().into_inner();
    assert_eq!(
        (set.exchange_name.as_str(), set.max_trades, set.buffer_size),
        ("binance", 6, 9)
    );
    assert_eq!(set.source, pb::ParamsSource::Db as i32);
    // Fields left out keep their stored values; an explicit buffer stays with its target only.
    let set = c
        .params
        .set(pb::SetParamsRequest {
            buffer_size: Some(8),
            stop_loss_percent: Some(3.0),
            ..base.clone()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((set.buffer_size, set.stop_loss_percent), (8, Some(3.0)));
    let set = c.params.set(base.clone()).await.unwrap().into_inner();
    assert_eq!((set.buffer_size, set.stop_loss_percent), (8, Some(3.0)));
    let set = c
        .params
        .set(pb::SetParamsRequest {
            max_trades: 7,
            ..base.clone()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (set.max_trades, set.buffer_size, set.stop_loss_percent),
        (7, 10, Some(3.0)),
        "a new target gets max_trades + buffer_fixed; the stop-loss stays"
    );
    // Params for an exchange that is not configured are refused (issue 12): it stays unknown
    // and its signals are rejected.
    let e = c
        .params
        .set(pb::SetParamsRequest {
            exchange_id: 9,
            max_trades: 2,
            buffer_size: Some(2),
            exchange_name: "okx".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("exchange_id"), "{}", e.message());
    let e = c
        .params
        .get(pb::GetParamsRequest { exchange_id: 9 })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let ts = current_wave();
    let s = c
        .ingest
        .publish_wave(wave(ts, vec![sig(1, "BTCUSDT", 9, 1.0, ts)], false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.accepted, s.rejected), (0, 1), "{s:?}");
    assert_eq!(s.rejections[0].field, "exchange_id");
    h.shutdown().await;
}

/// Exchange 1 has no params (skipped, `no_params`); exchange 2 has params but its agent is
/// unreachable (`agent_unavailable` after retries). The wave is `partial`; the WAVE_COMPLETED
/// payload and Watch events say so.
async fn skip_and_unavailable_scenario(db: &TestDb) {
    let h = wavegate_coordinator::spawn(config(db)).await.unwrap();
    let mut c = clients(&h).await;
    let ts = current_wave();
    let id = wave_id(ts);
    let mut watch = c
        .waves
        .watch(pb::WatchRequest {
            wave_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let signals = vec![
        sig(1, "BTCUSDT", 1, 50.0, ts),
        sig(2, "ETHUSDT", 1, 40.0, ts),
        sig_with_params(3, "SOLUSDT", 2, 30.0, ts, 3),
        sig(4, "XRPUSDT", 2, 20.0, ts),
    ];
    let s = c
        .ingest
        .publish_wave(wave(ts, signals, true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.accepted, 4);
    assert_eq!(s.closed_wave_ids, vec![id.clone()]);
    let d = finished(&mut c, &id).await;
    let summary = d.summary.unwrap();
    assert_eq!(summary.status, pb::WaveStatus::Partial as i32);
    let totals = summary.totals.unwrap();
    assert_eq!(
        (
            totals.total_signals,
            totals.exchanges_processed,
            totals.total_executed
        ),
        (4, 0, 0)
    );
    assert_eq!(d.exchanges.len(), 2);
    let (one, two) = (&d.exchanges[0], &d.exchanges[1]);
    assert_eq!(
        (one.exchange_name.as_str(), one.error.as_str()),
        ("binance", "no_params")
    );
    assert_eq!((one.total_signals, one.skipped, one.target), (2, 2, 0));
    assert_eq!(
        (two.exchange_name.as_str(), two.error.as_str()),
        ("bybit", "agent_unavailable")
    );
    assert_eq!(
        (two.total_signals, two.skipped, two.target, two.buffer_size),
        (2, 2, 3, 6)
    );
    assert_eq!(two.params_source, pb::ParamsSource::Wave as i32);
    assert!(d.outcomes.is_empty());
    let ev: WaveCompleted = serde_json::from_str(&d.completed_event).unwrap();
    assert_eq!(ev.wave_timestamp, id);
    assert_eq!(
        (
            ev.total_signals,
            ev.exchanges_processed,
            ev.positions_opened
        ),
        (4, 0, 0)
    );
    assert_eq!(ev.per_exchange_stats["2"].target, 3);
    assert!(
        !ev.per_exchange_stats["1"].target_reached,
        "an exchange skipped for no_params reached nothing"
    );

    // Watching a finished wave gives its final state at once, then ends.
    let watched = c
        .waves
        .watch(pb::WatchRequest {
            wave_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let events: Vec<pb::WaveEvent> = tokio::time::timeout(GUARD, watched.collect::<Vec<_>>())
        .await
        .expect("the stream of a finished wave ends")
        .into_iter()
        .map(|e| e.unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[0].event,
        Some(Event::Status(pb::WaveStatus::Partial as i32))
    );
    match &events[1].event {
        Some(Event::Completed(s)) => assert_eq!(s.totals, Some(totals)),
        other => panic!("expected the completion, got {other:?}"),
    }

    // The wave is closed: more signals for it are refused per signal.
    let s = c
        .ingest
        .publish_wave(wave(ts, vec![sig(5, "ADAUSDT", 1, 1.0, ts)], false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.accepted, s.rejected), (0, 1));
    assert_eq!(s.rejections[0].code, Code::FailedPrecondition as i32);
    // Closing again changes nothing.
    let s = c
        .ingest
        .publish_wave(wave(ts, vec![], true))
        .await
        .unwrap()
        .into_inner();
    assert!(s.closed_wave_ids.is_empty());

    // Watch saw the lifecycle in order.
    let mut seen = Vec::new();
    tokio::time::timeout(GUARD, async {
        while let Some(ev) = watch.message().await.unwrap() {
            let done = matches!(ev.event, Some(Event::Completed(_)));
            seen.push(ev.event.unwrap());
            if done {
                break;
            }
        }
    })
    .await
    .unwrap();
    let kinds: Vec<&str> = seen
        .iter()
        .map(|e| match e {
            Event::Status(_) => "status",
            Event::ExchangeStarted(_) => "started",
            Event::Outcome(_) => "outcome",
            Event::Topup(_) => "topup",
            Event::ExchangeFinished(_) => "finished",
            Event::Completed(_) => "completed",
        })
        .collect();
    assert_eq!(kinds.first(), Some(&"status"));
    assert_eq!(
        kinds.iter().filter(|k| **k == "finished").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "started").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(&kinds[kinds.len() - 2..], &["status", "completed"]);

    let agents = c
        .agents
        .list(pb::ListAgentsRequest {})
        .await
        .unwrap()
        .into_inner()
        .agents;
    assert_eq!(agents.len(), 2);
    assert_eq!(agents[0].error, "no agent endpoint configured");
    assert_eq!(agents[0].state, pb::AgentState::Unknown as i32);
    assert_eq!(agents[1].state, pb::AgentState::Unreachable as i32);
    assert_eq!(agents[1].region, "ap-southeast-1");
    assert!(!agents[1].error.is_empty());
    let listed = c
        .waves
        .list(pb::ListWavesRequest {
            limit: 0,
            status: pb::WaveStatus::Partial as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.waves.len(), 1);
    h.shutdown().await;
}

#[tokio::test]
async fn skipped_and_unavailable_exchanges_make_a_partial_wave_sqlite() {
    let db = TestDb::sqlite().await;
    skip_and_unavailable_scenario(&db).await;
}

#[tokio::test]
async fn skipped_and_unavailable_exchanges_make_a_partial_wave_postgres() {
    let db = TestDb::postgres().await;
    skip_and_unavailable_scenario(&db).await;
}

#[tokio::test]
async fn a_wave_older_than_max_age_fails_instead_of_executing() {
    let db = TestDb::sqlite().await;
    let mut cfg = config(&db);
    cfg.waves.max_wave_age_secs = 60;
    cfg.waves.quiet_secs = 1;
    let h = wavegate_coordinator::spawn(cfg).await.unwrap();
    let mut c = clients(&h).await;
    // Stored directly (the API refuses late signals): a wave from two hours ago.
    let ts = current_wave() - chrono::Duration::hours(2);
    let s = wavegate_common::Signal::from_proto(&sig(1, "BTCUSDT", 2, 1.0, ts), 900, Utc::now())
        .unwrap();
    h.store()
        .insert_signals(&[s], |t| t + chrono::Duration::days(1), Utc::now())
        .await
        .unwrap();
    failed_too_old(&h, &mut c, &wave_id(ts)).await;
    h.shutdown().await;
}

/// The wave ends `failed` for its age, having reached no agent: no exchange results, no
/// `WAVE_COMPLETED`, no params recorded.
async fn failed_too_old(
    h: &wavegate_coordinator::CoordinatorHandle,
    c: &mut crate::api_support::Clients,
    id: &str,
) {
    let d = finished(c, id).await;
    assert_eq!(d.summary.unwrap().status, pb::WaveStatus::Failed as i32);
    assert!(d.exchanges.is_empty());
    assert!(d.completed_event.is_empty());
    let w = h.store().wave(id).await.unwrap().unwrap();
    assert!(w.reason.unwrap().contains("max_wave_age"));
    assert_eq!(h.store().wave_params(id).await.unwrap(), None);
}

/// A wave ingested here is held in memory, so its close reads nothing before the claim: the
/// claim itself must leave a wave that grew too old while it collected, and the wave fails.
#[tokio::test]
async fn an_ingested_wave_that_grows_too_old_before_it_closes_fails() {
    let db = TestDb::sqlite().await;
    let mut cfg = config(&db);
    let ts = current_wave();
    // Accepted now (2–3 s to spare); too old before the quiet period (5 s) closes it.
    let age = (Utc::now() - ts).num_seconds() + 3;
    cfg.waves.max_wave_age_secs = u64::try_from(age).unwrap();
    cfg.waves.quiet_secs = 5;
    let h = wavegate_coordinator::spawn(cfg).await.unwrap();
    let mut c = clients(&h).await;
    let s = c
        .ingest
        .publish_wave(wave(ts, vec![sig(1, "BTCUSDT", 1, 1.0, ts)], false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.accepted, 1, "{s:?}");
    failed_too_old(&h, &mut c, &wave_id(ts)).await;
    h.shutdown().await;
}

/// Signals this coordinator did not ingest (another coordinator's, on a shared database, or
/// stored before a restart) are not in its memory: its close reads them before the claim, and
/// the wave is what it would have been through its own ingest — every signal, and the params
/// its signals carry.
#[tokio::test]
async fn a_wave_this_coordinator_did_not_ingest_closes_whole_with_its_signals_params() {
    for db in TestDb::both().await {
        let h = wavegate_coordinator::spawn(config(&db)).await.unwrap();
        let mut c = clients(&h).await;
        let ts = current_wave();
        let id = wave_id(ts);
        let stored: Vec<_> = [
            sig(1, "BTCUSDT", 1, 50.0, ts),
            sig(2, "ETHUSDT", 1, 40.0, ts),
            sig_with_params(3, "SOLUSDT", 2, 30.0, ts, 3),
            sig(4, "XRPUSDT", 2, 20.0, ts),
        ]
        .iter()
        .map(|p| wavegate_common::Signal::from_proto(p, 900, Utc::now()).unwrap())
        .collect();
        h.store()
            .insert_signals(&stored, |t| t + chrono::Duration::days(1), Utc::now())
            .await
            .unwrap();
        let s = c
            .ingest
            .publish_wave(wave(ts, vec![], true))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(s.closed_wave_ids, vec![id.clone()], "{}", db.url);
        let d = finished(&mut c, &id).await;
        assert_eq!(d.summary.unwrap().totals.unwrap().total_signals, 4);
        let two = &d.exchanges[1];
        assert_eq!(
            (two.total_signals, two.target, two.params_source),
            (2, 3, pb::ParamsSource::Wave as i32),
            "{}",
            db.url
        );
        assert_eq!(h.store().params(2).await.unwrap().unwrap().max_trades, 3);
        h.shutdown().await;
    }
}

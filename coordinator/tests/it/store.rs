//! The store on BOTH backends: SQLite (temp file) and PostgreSQL (a fresh database per test,
//! `WAVEGATE_PG_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).

use crate::support::{TestDb, current_wave, sig, sig_with_params};
use chrono::{Duration, Utc};
use wavegate_common::Signal;
use wavegate_common::SignalParams;
use wavegate_common::stats::{ExchangeStats, WaveCompleted, WaveTotals};
use wavegate_common::time::wave_id;
use wavegate_common::timing::ExchangeTiming;
use wavegate_coordinator::store::{Completion, Store, WaveStatus};

fn checked(p: &wavegate_common::proto::v1::Signal) -> Signal {
    Signal::from_proto(p, 900, Utc::now()).unwrap()
}

#[tokio::test]
async fn signals_are_stored_once_and_refused_after_the_claim() {
    for db in TestDb::both().await {
        let store = Store::connect(&db.url).await.unwrap();
        let ts = current_wave();
        let id = wave_id(ts);
        let close_by = |t| t + Duration::seconds(1020);
        let batch: Vec<Signal> = vec![
            checked(&sig_with_params(1, "BTCUSDT", 1, 50.0, ts, 6)),
            checked(&sig(2, "ETHUSDT", 1, 40.0, ts)),
            checked(&sig(2, "SOLUSDT", 1, 30.0, ts)),
        ];
        let out = store
            .insert_signals(&batch, close_by, Utc::now())
            .await
            .unwrap();
        assert_eq!(out.accepted, vec![0, 1], "{:?}", db.url);
        assert_eq!(out.duplicates, vec![2]);
        assert_eq!(out.waves, vec![id.clone()]);
        // The same ids again are duplicates, not double-counted.
        let again = store
            .insert_signals(&batch[..1], close_by, Utc::now())
            .await
            .unwrap();
        assert_eq!(again.duplicates, vec![0]);
        let w = store.wave(&id).await.unwrap().unwrap();
        assert_eq!(w.signal_count, 2);
        assert_eq!(w.status, WaveStatus::Collecting);
        let back = store.wave_signals(&id, ts).await.unwrap();
        assert_eq!(back.len(), 2);
        let first = back.iter().find(|s| s.id() == 1).unwrap();
        assert_eq!(first.params().unwrap().max_trades, Some(6));
        assert_eq!(first.wave_timestamp(), ts);
        let events = store.events_of(&id).await.unwrap();
        assert_eq!(events.iter().filter(|e| e.0 == "WAVE_DETECTED").count(), 1);

        // Exactly one of two claims wins.
        let now = Utc::now();
        let lease = now + Duration::seconds(30);
        let (a, b) = tokio::join!(
            store.claim(&id, "node-a", lease, lease, now, None),
            store.claim(&id, "node-b", lease, lease, now, None)
        );
        assert!(a.unwrap() ^ b.unwrap(), "exactly one claim succeeds");
        let late = vec![checked(&sig(9, "XRPUSDT", 1, 10.0, ts))];
        let out = store
            .insert_signals(&late, close_by, Utc::now())
            .await
            .unwrap();
        assert!(out.accepted.is_empty());
        assert_eq!(out.closed.len(), 1);
        assert_eq!(out.closed[0].2, "dispatching");
        store.close().await;
    }
}

#[tokio::test]
async fn lease_takeover_and_completion_are_exclusive_and_recorded_once() {
    for db in TestDb::both().await {
        let store = Store::connect(&db.url).await.unwrap();
        let ts = current_wave();
        let id = wave_id(ts);
        let close_by = |t| t + Duration::seconds(1020);
        let batch = vec![checked(&sig(1, "BTCUSDT", 1, 50.0, ts))];
        store
            .insert_signals(&batch, close_by, Utc::now())
            .await
            .unwrap();
        let now = Utc::now();
        // Not due: the wave's last signal is newer than the quiet period allows.
        let quiet_before = now - Duration::seconds(3);
        let lease = now + Duration::seconds(30);
        assert!(
            !store
                .claim(&id, "a", lease, now, now, Some(quiet_before))
                .await
                .unwrap()
        );
        assert!(store.claim(&id, "a", lease, now, now, None).await.unwrap());
        // Lease still valid: another node cannot take over; the owner can (after a restart).
        assert!(
            !store
                .take_over(&id, "b", now + Duration::seconds(30), now, now)
                .await
                .unwrap()
        );
        assert!(
            store
                .take_over(&id, "a", now + Duration::seconds(30), now, now)
                .await
                .unwrap()
        );
        assert_eq!(
            store.resumable_waves(now, "b").await.unwrap(),
            Vec::<String>::new()
        );
        // Expired lease: b takes over, and a can no longer renew or complete.
        let later = now + Duration::seconds(60);
        assert_eq!(
            store.resumable_waves(later, "b").await.unwrap(),
            vec![id.clone()]
        );
        assert!(
            store
                .take_over(&id, "b", later + Duration::seconds(30), later, later)
                .await
                .unwrap()
        );
        assert!(!store.renew_lease(&id, "a", later).await.unwrap());

        let mut stats = ExchangeStats {
            exchange_id: 1,
            exchange_name: "binance".into(),
            total_signals: 1,
            selected_for_validation: 1,
            validated_successful: 1,
            executed: 1,
            target: 1,
            buffer_size: 4,
            ..Default::default()
        };
        stats.derive();
        let exchanges = vec![stats];
        let totals = WaveTotals::from_exchanges(1, &exchanges);
        let event = WaveCompleted::new(&id, &totals, &exchanges, Utc::now());
        let timings = [ExchangeTiming {
            exchange_id: 1,
            started_at: Some(Utc::now()),
            first_order_at: None,
            finished_at: Some(Utc::now()),
        }];
        let completion = |owner| Completion {
            wave_id: &id,
            owner,
            status: WaveStatus::Completed,
            exchanges: &exchanges,
            outcomes: &[],
            totals,
            event: &event,
            now: Utc::now(),
            reason: None,
            timings: &timings,
        };
        assert!(
            !store.complete_wave(&completion("a")).await.unwrap(),
            "a lost the lease"
        );
        assert!(store.complete_wave(&completion("b")).await.unwrap());
        assert!(
            !store.complete_wave(&completion("b")).await.unwrap(),
            "completed once"
        );
        let w = store.wave(&id).await.unwrap().unwrap();
        assert_eq!(w.status, WaveStatus::Completed);
        assert_eq!(w.totals, Some(totals));
        let events = store.events_of(&id).await.unwrap();
        assert_eq!(events.iter().filter(|e| e.0 == "WAVE_COMPLETED").count(), 1);
        let payload: WaveCompleted =
            serde_json::from_str(&store.completed_event(&id).await.unwrap().unwrap()).unwrap();
        assert_eq!(payload, event);
        assert_eq!(store.exchange_results(&id).await.unwrap(), exchanges);
        assert_eq!(store.exchange_timings(&id).await.unwrap(), timings);
        store.close().await;
    }
}

#[tokio::test]
async fn params_update_from_wave_and_failures_of_old_waves() {
    for db in TestDb::both().await {
        let store = Store::connect(&db.url).await.unwrap();
        let now = Utc::now();
        // No stored params and no max_trades: nothing to write.
        let only_stop = SignalParams {
            stop_loss_percent: Some(3.0),
            ..Default::default()
        };
        assert!(
            !store
                .update_params_from_wave(7, "x", &only_stop, now)
                .await
                .unwrap()
        );
        let p = SignalParams {
            max_trades: Some(6),
            stop_loss_percent: Some(4.0),
            ..Default::default()
        };
        assert!(
            store
                .update_params_from_wave(1, "binance", &p, now)
                .await
                .unwrap()
        );
        assert!(
            store
                .update_params_from_wave(1, "binance", &only_stop, now)
                .await
                .unwrap()
        );
        let stored = store.params(1).await.unwrap().unwrap();
        assert_eq!(stored.max_trades, 6);
        assert_eq!(stored.stop_loss_percent, Some(3.0));
        assert_eq!(stored.buffer_size, None);
        assert_eq!(store.all_params().await.unwrap().len(), 1);

        let ts = current_wave() - Duration::hours(5);
        let id = wave_id(ts);
        let batch = vec![checked(&sig(1, "BTCUSDT", 1, 50.0, ts))];
        store.insert_signals(&batch, |t| t, now).await.unwrap();
        assert!(store.fail_collecting(&id, "too old", now).await.unwrap());
        assert!(!store.fail_collecting(&id, "too old", now).await.unwrap());
        let w = store.wave(&id).await.unwrap().unwrap();
        assert_eq!(w.status, WaveStatus::Failed);
        assert_eq!(w.reason.as_deref(), Some("too old"));
        assert_eq!(
            store
                .list_waves(10, Some(WaveStatus::Failed))
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store
                .list_waves(10, Some(WaveStatus::Completed))
                .await
                .unwrap()
                .len(),
            0
        );
        store.close().await;
    }
}

#[tokio::test]
async fn sqlite_commits_are_fsynced_unless_configured_otherwise() {
    use wavegate_coordinator::store::SqliteSync;
    for (sync, want) in [(SqliteSync::Full, 2_i64), (SqliteSync::Normal, 1)] {
        let db = TestDb::sqlite().await;
        let store = Store::connect_with(&db.url, sync).await.unwrap();
        let got: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(got, want, "{sync:?}");
        store.close().await;
    }
}

#[tokio::test]
async fn a_cancel_is_recorded_once_and_only_while_its_coordinator_dispatches_the_wave() {
    use wavegate_coordinator::store::CancelRecord;
    for db in TestDb::both().await {
        let store = Store::connect(&db.url).await.unwrap();
        let ts = current_wave();
        let id = wave_id(ts);
        let now = Utc::now();
        store
            .insert_signals(
                &[checked(&sig(1, "BTCUSDT", 1, 50.0, ts))],
                |t| t + Duration::seconds(1020),
                now,
            )
            .await
            .unwrap();
        let record = |coordinator| CancelRecord {
            wave_id: &id,
            reason: "drill",
            status: WaveStatus::Dispatching,
            coordinator,
            now,
        };
        assert_eq!(
            store.record_cancel(&record("a")).await.unwrap(),
            None,
            "still collecting"
        );
        let lease = now + Duration::seconds(30);
        assert!(
            store
                .claim(&id, "a", lease, lease, now, None)
                .await
                .unwrap()
        );
        assert_eq!(
            store.record_cancel(&record("b")).await.unwrap(),
            None,
            "not b's wave"
        );
        assert_eq!(store.cancel_reason(&id).await.unwrap(), None);
        assert_eq!(store.record_cancel(&record("a")).await.unwrap(), Some(true));
        assert_eq!(
            store.record_cancel(&record("a")).await.unwrap(),
            Some(false),
            "once"
        );
        assert_eq!(
            store.cancel_reason(&id).await.unwrap().as_deref(),
            Some("drill")
        );
        let events = store.events_of(&id).await.unwrap();
        assert_eq!(events.iter().filter(|e| e.0 == "WAVE_CANCELLED").count(), 1);
        store.close().await;
    }
}

#[tokio::test]
async fn an_sqlite_file_that_cannot_be_opened_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("wavegate.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let Err(err) = Store::connect(&url).await else {
        panic!("opened {url} although its directory does not exist");
    };
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("directory must exist"), "{msg}");
}

/// A completion with 600 outcomes (several multi-row statements), one of them given twice, on
/// both backends: each row is stored once with its last content, and each outcome that makes
/// an event makes exactly one.
#[tokio::test]
async fn a_completion_stores_each_outcome_once_with_its_last_content_and_one_event() {
    use wavegate_common::proto::v1 as pb;
    for db in TestDb::both().await {
        let store = Store::connect(&db.url).await.unwrap();
        let ts = current_wave();
        let id = wave_id(ts);
        let batch = vec![checked(&sig(1, "BTCUSDT", 1, 50.0, ts))];
        store
            .insert_signals(&batch, |t| t + Duration::days(1), Utc::now())
            .await
            .unwrap();
        let now = Utc::now();
        let lease = now + Duration::seconds(30);
        assert!(
            store
                .claim(&id, "a", lease, lease, now, None)
                .await
                .unwrap()
        );
        let outcome = |signal_id: i64, kind: pb::OutcomeKind, error: &str| pb::SignalOutcome {
            signal_id,
            stage: pb::Stage::Execution as i32,
            kind: kind as i32,
            symbol: format!("S{signal_id}USDT"),
            error: error.into(),
            ..Default::default()
        };
        let mut outcomes: Vec<(u32, pb::SignalOutcome)> = (1..=600)
            .map(|i| {
                (
                    1 + (i % 2) as u32,
                    outcome(i, pb::OutcomeKind::Executed, ""),
                )
            })
            .collect();
        // Signal 7 on exchange 2 again, now failed: the row keeps this, its event stays one.
        // Right behind the first, so both fall in one multi-row statement (PostgreSQL refuses
        // a statement that updates a row twice).
        outcomes.insert(
            7,
            (2, outcome(7, pb::OutcomeKind::ExecutionFailed, "rejected")),
        );
        let exchanges: Vec<ExchangeStats> = [(1, "binance"), (2, "bybit")]
            .into_iter()
            .map(|(exchange_id, name)| ExchangeStats {
                exchange_id,
                exchange_name: name.into(),
                ..Default::default()
            })
            .collect();
        let totals = WaveTotals::from_exchanges(1, &exchanges);
        let event = WaveCompleted::new(&id, &totals, &exchanges, Utc::now());
        let completion = Completion {
            wave_id: &id,
            owner: "a",
            status: WaveStatus::Completed,
            exchanges: &exchanges,
            outcomes: &outcomes,
            totals,
            event: &event,
            now: Utc::now(),
            reason: None,
            timings: &[],
        };
        assert!(
            store.complete_wave(&completion).await.unwrap(),
            "{}",
            db.url
        );
        let stored = store.outcomes(&id).await.unwrap();
        assert_eq!(stored.len(), 600, "{}", db.url);
        let seven: Vec<_> = stored
            .iter()
            .filter(|(ex, o)| *ex == 2 && o.signal_id == 7)
            .collect();
        assert_eq!(seven.len(), 1);
        assert_eq!(seven[0].1.error, "rejected");
        assert_eq!(seven[0].1.symbol, "S7USDT");
        let events = store.events_of(&id).await.unwrap();
        let executed = events.iter().filter(|e| e.0 == "SIGNAL_EXECUTED").count();
        assert_eq!(
            executed, 600,
            "{}: one per row, the first of signal 7's",
            db.url
        );
        assert_eq!(events.iter().filter(|e| e.0 == "WAVE_COMPLETED").count(), 1);
        store.close().await;
    }
}

/// The outcome writer's batches on both backends: 320 outcomes in one call (several
/// statements), a row twice within it and again in a later call. Each row keeps its latest
/// outcome; each event is stored once, the first.
#[tokio::test]
async fn recorded_outcome_batches_keep_each_rows_latest_outcome_and_its_first_event() {
    use wavegate_common::proto::v1 as pb;
    let outcome = |signal_id: i64, stage: pb::Stage, kind: pb::OutcomeKind, error: &str| {
        let o = pb::SignalOutcome {
            signal_id,
            stage: stage as i32,
            kind: kind as i32,
            symbol: format!("S{signal_id}USDT"),
            error: error.into(),
            ..Default::default()
        };
        (1, "binance".to_owned(), o)
    };
    let (validation, execution) = (pb::Stage::Validation, pb::Stage::Execution);
    let (ok, failed) = (pb::OutcomeKind::Executed, pb::OutcomeKind::ExecutionFailed);
    for db in TestDb::both().await {
        let store = Store::connect(&db.url).await.unwrap();
        let id = wave_id(current_wave());
        let mut batch: Vec<_> = (1..=300)
            .map(|i| outcome(i, validation, pb::OutcomeKind::Validated, ""))
            .collect();
        batch.extend((1..=20).map(|i| outcome(i, execution, ok, "")));
        // Signal 5's execution again right behind the first: the same statement.
        let at = batch.len() - 15;
        batch.insert(at, outcome(5, execution, failed, "rejected"));
        store.record_outcomes(&id, &batch).await.unwrap();
        let late = [outcome(6, execution, failed, "late")];
        store.record_outcomes(&id, &late).await.unwrap();

        let stored = store.outcomes(&id).await.unwrap();
        assert_eq!(stored.len(), 320, "{}", db.url);
        let error_of = |signal: i64| {
            stored
                .iter()
                .find(|(_, o)| o.signal_id == signal && o.stage == execution as i32)
                .map(|(_, o)| o.error.clone())
        };
        assert_eq!(error_of(5).as_deref(), Some("rejected"), "{}", db.url);
        assert_eq!(error_of(6).as_deref(), Some("late"), "{}", db.url);
        let events = store.events_of(&id).await.unwrap();
        let count = |t: &str| events.iter().filter(|e| e.0 == t).count();
        assert_eq!(
            count("SIGNAL_EXECUTED"),
            20,
            "{}: the first per row",
            db.url
        );
        assert_eq!(count("SIGNAL_EXECUTION_FAILED"), 0, "{}", db.url);
        store.close().await;
    }
}

#[tokio::test]
async fn sqlite_wal_is_checkpointed_by_the_stores_task_not_inside_a_commit() {
    use wavegate_coordinator::store::SqliteSync;
    let db = TestDb::sqlite().await;
    let every = std::time::Duration::from_millis(50);
    let store = Store::connect_checkpointing(&db.url, SqliteSync::Normal, every)
        .await
        .unwrap();
    // Every pooled connection: no commit runs SQLite's auto-checkpoint short of the backstop.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = store.pool().acquire().await.unwrap();
        let auto: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        assert_eq!(auto, 16_384);
        let limit: i64 = sqlx::query_scalar("PRAGMA journal_size_limit")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        assert_eq!(limit, 64 << 20);
        held.push(c);
    }
    drop(held);
    let file = wavegate_coordinator::store::sqlite_path(&db.url);
    let before = std::fs::metadata(&file).unwrap().len();
    let ts = current_wave();
    let batch: Vec<Signal> = (0..2000)
        .map(|i| checked(&sig(i + 1, &format!("S{i}USDT"), 1, 50.0, ts)))
        .collect();
    let out = store
        .insert_signals(&batch, |t| t + Duration::seconds(1020), Utc::now())
        .await
        .unwrap();
    assert_eq!(out.accepted.len(), 2000);
    // The rows sit in the WAL until a checkpoint copies them into the database file; the task
    // does that within a few intervals, with no further commit.
    let grown = before + 100 * 1024;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut size = before;
    while size < grown && std::time::Instant::now() < deadline {
        tokio::time::sleep(every).await;
        size = std::fs::metadata(&file).unwrap().len();
    }
    assert!(
        size >= grown,
        "database file {before} → {size} bytes: the WAL was not checkpointed"
    );
    store.close().await;
}

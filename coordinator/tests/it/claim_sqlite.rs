//! A SQLite file's claim on the store's own connection (`store/sqlite_claim.rs`): where it
//! runs (on the closing task with `normal`, on the blocking pool with `full`), waiting for
//! another writer, a closed store, a really full disk.

use chrono::{Duration, Utc};
use wavegate_common::time::wave_id;
use wavegate_coordinator::store::{SqliteSync, Store, WaveStatus, from_ms, ms};

use crate::claim_params::{claim, claim_with, plan, stored_wave};
use crate::support::{TestDb, current_wave};
use crate::wave_params::choose;

// One runtime thread: the closing task's thread is the test's.
#[tokio::test(flavor = "current_thread")]
async fn with_normal_the_claim_runs_on_the_closing_task_and_with_full_off_it() {
    for (sync, inline) in [(SqliteSync::Normal, true), (SqliteSync::Full, false)] {
        let db = TestDb::sqlite().await;
        let store = Store::connect_with(&db.url, sync).await.unwrap();
        let ts = current_wave();
        let now = from_ms(ms(Utc::now()));
        let batch = stored_wave(&store, ts, now).await;
        let id = wave_id(ts);
        let here = std::thread::current().id();
        let (tx, rx) = std::sync::mpsc::channel();
        let c = store
            .claim_with_params(
                claim(&id, "a", now),
                move |_| Some(batch),
                move |s| {
                    let _ = tx.send(std::thread::current().id());
                    plan(s)
                },
                |_, w, s| choose(w, s),
            )
            .await
            .unwrap()
            .expect("claimed");
        assert_eq!(c.row.status, WaveStatus::Dispatching);
        let ran_on = rx.recv().unwrap();
        assert_eq!(ran_on == here, inline, "{sync:?}");
        assert_eq!(store.claims_on_own_connection(), 1, "{sync:?}");
        store.close().await;
    }
}

#[tokio::test]
async fn a_sqlite_claim_waits_for_another_writer_and_fails_once_the_store_is_closed() {
    use sqlx::Executor as _;
    // `normal` claims on the caller's task unless it would wait; `full` always off it.
    for sync in [SqliteSync::Normal, SqliteSync::Full] {
        let db = TestDb::sqlite().await;
        let store = Store::connect_with(&db.url, sync).await.unwrap();
        let ts = current_wave();
        let now = from_ms(ms(Utc::now()));
        let batch = stored_wave(&store, ts, now).await;
        // Another writer (an ingest, say) holds the write lock.
        let mut other = store.pool().acquire().await.unwrap();
        other.execute("BEGIN IMMEDIATE").await.unwrap();
        let claimer = store.clone();
        let claiming = tokio::spawn(async move {
            let id = wave_id(ts);
            claim_with(&claimer, claim(&id, "a", now), Some(batch)).await
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!claiming.is_finished(), "{sync:?}: the claim waits for it");
        other.execute("COMMIT").await.unwrap();
        drop(other);
        let c = (claiming.await.unwrap()).expect("claimed once the lock is free");
        assert!(!c.read_in_claim);
        assert_eq!(c.row.status, WaveStatus::Dispatching);
        assert_eq!(
            store.wave_params(&wave_id(ts)).await.unwrap(),
            Some(c.params)
        );

        // Closed: a claim is refused, nothing is written.
        let next_ts = ts - Duration::minutes(15);
        let next = wave_id(next_ts);
        let next_batch = stored_wave(&store, next_ts, now).await;
        store.close().await;
        let refused = store
            .claim_with_params(
                claim(&next, "a", now),
                move |_| Some(next_batch),
                plan,
                |_, w, s| choose(w, s),
            )
            .await;
        let refused = refused.expect_err("claimed on a closed store");
        assert!(refused.is_storage_fault(), "{sync:?}: {refused}");
        assert_eq!(store.claims_on_own_connection(), 1, "{sync:?}");
        let reopened = Store::connect(&db.url).await.unwrap();
        let w = reopened.wave(&next).await.unwrap().unwrap();
        assert_eq!((w.status, w.owner), (WaveStatus::Collecting, None));
        reopened.close().await;
    }
}

#[tokio::test]
async fn a_sqlite_claim_on_a_full_disk_fails_as_a_storage_fault_holds_no_lock_and_claims_once_space_returns()
 {
    use wavegate_tests::small_disk::SmallDisk;
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&dir.path().join("db"), "2m") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root (CAP_SYS_ADMIN)");
        return;
    };
    let url = format!(
        "sqlite://{}/coordinator.db?mode=rwc",
        dir.path().join("db").display()
    );
    // No checkpoint during the test: the WAL only grows, so any commit needs new space.
    let hour = std::time::Duration::from_secs(3600);
    let store = Store::connect_checkpointing(&url, SqliteSync::Normal, hour)
        .await
        .unwrap();
    let ts = current_wave();
    let now = from_ms(ms(Utc::now()));
    let batch = stored_wave(&store, ts, now).await;
    let id = wave_id(ts);

    disk.fill();
    let e = store
        .claim_with_params(
            claim(&id, "a", now),
            {
                let batch = batch.clone();
                move |_| Some(batch)
            },
            plan,
            |_, w, s| choose(w, s),
        )
        .await
        .expect_err("claimed on a full disk");
    assert!(e.is_storage_fault(), "{e}");
    // The failed claim holds no lock and left nothing: the pool reads the wave as it was.
    let w = store.wave(&id).await.unwrap().unwrap();
    assert_eq!((w.status, w.owner), (WaveStatus::Collecting, None));

    disk.free();
    // The pool writes (the failed claim's connection would hold the write lock if kept).
    let later = now + Duration::seconds(1);
    stored_wave(&store, ts - Duration::minutes(15), later).await;
    let c = claim_with(&store, claim(&id, "a", later), Some(batch))
        .await
        .expect("claimed once space returned");
    assert_eq!(c.row.status, WaveStatus::Dispatching);
    assert_eq!(store.wave_params(&id).await.unwrap(), Some(c.params));
    store.close().await;
    drop(disk);
}

//! A wave this coordinator closes is claimed and gets its params (docs/design.md §1 step 1) in
//! ONE transaction — one commit on the close → first order path (issue 14) — on BOTH backends:
//! the claim, the params rows merged (a failed update rolls back alone), the wave's params
//! recorded, all seen at once by other connections; a claim that does not succeed writes
//! nothing. Each holds with the wave's signals in memory (on a SQLite file that claim runs on
//! the store's own rusqlite connection) and read inside the claim (on the pool).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use chrono::{DateTime, Duration, Utc};
use wavegate_common::proto::v1 as pb;
use wavegate_common::rank::{group_by_exchange, wave_params};
use wavegate_common::time::wave_id;
use wavegate_common::{ExchangeId, Signal, SignalParams};
use wavegate_coordinator::store::{
    Backend, Claim, ClaimedWave, ParamsUpdate, SqliteSync, Store, StoredParams, WaveParams,
    WaveStatus, from_ms, ms,
};

use crate::support::{TestDb, current_wave, sig, sig_with_params};
use crate::wave_params::{choose, refuse_exchange_2};

pub(crate) type Groups = BTreeMap<ExchangeId, Vec<Signal>>;

/// What dispatch does with the signals: groups in rank order, and each exchange's update from
/// its first signal with params.
pub(crate) fn plan(signals: Vec<Signal>) -> (Groups, Vec<ParamsUpdate>) {
    let groups = group_by_exchange(signals);
    let updates = wave_params(&groups)
        .into_iter()
        .map(|(ex, params)| ParamsUpdate {
            exchange_id: ex,
            exchange_name: format!("ex{ex}"),
            params,
        })
        .collect();
    (groups, updates)
}

pub(crate) fn claim<'a>(id: &'a str, owner: &'a str, now: DateTime<Utc>) -> Claim<'a> {
    Claim {
        id,
        owner,
        lease_until: now + Duration::seconds(30),
        deadline: now + Duration::seconds(300),
        now,
        due: None,
        not_before: None,
    }
}

/// Stores a wave of three signals (closing by `close_by` only a day later): exchange 1's best
/// carries `max_trades` 6, exchange 2's 5.
pub(crate) async fn stored_wave(
    store: &Store,
    ts: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<Signal> {
    stored_wave_closing(store, ts, now, Duration::days(1)).await
}

/// [`stored_wave`] closing by `close_by` at `ts + after`.
pub(crate) async fn stored_wave_closing(
    store: &Store,
    ts: DateTime<Utc>,
    now: DateTime<Utc>,
    after: Duration,
) -> Vec<Signal> {
    let batch: Vec<Signal> = [
        sig_with_params(1, "BTCUSDT", 1, 50.0, ts, 6),
        sig(2, "ETHUSDT", 1, 40.0, ts),
        sig_with_params(3, "SOLUSDT", 2, 30.0, ts, 5),
    ]
    .iter()
    .map(|p| Signal::from_proto(p, 900, now).unwrap())
    .collect();
    store
        .insert_signals(&batch, |t| t + after, now)
        .await
        .unwrap();
    batch
}

/// How a test claims: the wave's signals in memory or not, the SQLite commit's durability.
#[derive(Debug, Clone, Copy)]
struct Way {
    memory: bool,
    sync: SqliteSync,
}

/// What [`collecting`] returns.
type Collecting = (
    Store,
    DateTime<Utc>,
    String,
    DateTime<Utc>,
    Option<Vec<Signal>>,
);

/// A store on `db` holding this candle's wave of three signals, collecting: (store, wave
/// timestamp, wave id, the instant the signals were stored at, in ms as stored, the signals
/// when `way` holds them in memory).
async fn collecting(db: &TestDb, way: Way) -> Collecting {
    let store = Store::connect_with(&db.url, way.sync).await.unwrap();
    let ts = current_wave();
    let now = from_ms(ms(Utc::now()));
    let batch = stored_wave(&store, ts, now).await;
    (store, ts, wave_id(ts), now, way.memory.then_some(batch))
}

/// Fresh databases of both backends for each way to claim: signals held in memory (on
/// SQLite: the store's own connection, with `full` off the caller's task, with `normal` on
/// it), and signals read inside the claim (the pool).
async fn both_ways() -> Vec<(TestDb, Way)> {
    let mut all = vec![];
    for (memory, sync) in [
        (true, SqliteSync::Full),
        (true, SqliteSync::Normal),
        (false, SqliteSync::Full),
    ] {
        let way = Way { memory, sync };
        all.extend(TestDb::both().await.into_iter().map(|db| (db, way)));
    }
    all
}

/// The claims of a store that held the signals in memory ran on a SQLite file's own
/// connection; all others on the pool.
fn claimed_where_expected(store: &Store, way: Way) {
    let own = store.claims_on_own_connection();
    let sqlite = store.backend() == Backend::Sqlite;
    assert_eq!(
        own > 0,
        way.memory && sqlite,
        "{way:?} {:?}: {own}",
        store.backend()
    );
}

pub(crate) async fn claim_with(
    store: &Store,
    c: Claim<'_>,
    cached: Option<Vec<Signal>>,
) -> Option<ClaimedWave<Groups>> {
    store
        .claim_with_params(c, move |_| cached, plan, |_, w, s| choose(w, s))
        .await
        .unwrap()
}

fn max_trades(p: &WaveParams, ex: u32) -> Option<(u32, i32)> {
    p[&ex].as_ref().map(|p| (p.max_trades, p.source))
}

#[tokio::test]
async fn a_claim_commits_the_waves_params_with_it_and_a_failed_update_rolls_back_alone() {
    for db in TestDb::both().await {
        let way = Way {
            memory: false,
            sync: SqliteSync::Full,
        };
        let (store, ts, id, now, _) = collecting(&db, way).await;
        refuse_exchange_2(&store).await;

        // Nothing in memory: the signals are read inside the claim's transaction.
        let c = claim_with(&store, claim(&id, "a", now), None)
            .await
            .expect("the claim succeeds");
        assert_eq!(c.row.signal_count, 3, "{}", db.url);
        assert!(c.read_in_claim);
        let ids = |ex: u32| c.signals[&ex].iter().map(Signal::id).collect::<Vec<_>>();
        assert_eq!((ids(1), ids(2)), (vec![1, 2], vec![3]), "ranked groups");
        assert_eq!(
            c.written.iter().map(|p| p.exchange_id).collect::<Vec<_>>(),
            [1],
            "exchange 2's write failed and was rolled back alone"
        );
        let wave = pb::ParamsSource::Wave as i32;
        assert_eq!(max_trades(&c.params, 1), Some((6, wave)));
        assert_eq!(max_trades(&c.params, 2), None, "nothing was stored for 2");

        let w = store.wave(&id).await.unwrap().unwrap();
        assert_eq!(w.status, WaveStatus::Dispatching);
        assert_eq!(w.owner.as_deref(), Some("a"));
        assert_eq!((w.closed_at, w.signal_count), (Some(now), 3));
        assert_eq!(store.wave_params(&id).await.unwrap(), Some(c.params));
        let p1 = store.params(1).await.unwrap().unwrap();
        assert_eq!(
            (p1.max_trades, p1.updated_at),
            (6, now),
            "merged as of the claim"
        );
        assert_eq!(store.params(2).await.unwrap(), None);

        // The next wave's signals in memory, with the count the claim returns: used as they are.
        let next_ts = ts - Duration::minutes(15);
        let next = wave_id(next_ts);
        let batch = stored_wave(&store, next_ts, now).await;
        let later = now + Duration::seconds(1);
        let c = store
            .claim_with_params(
                claim(&next, "a", later),
                |count| (count == 3).then_some(batch),
                plan,
                |_, w, s| choose(w, s),
            )
            .await
            .unwrap()
            .expect("the claim succeeds");
        assert!(!c.read_in_claim, "{}", db.url);
        assert_eq!(c.signals[&1].len() + c.signals[&2].len(), 3);
        assert_eq!(
            c.written.iter().map(|p| p.exchange_id).collect::<Vec<_>>(),
            [1],
            "{}: exchange 2's write failed and was rolled back alone here too",
            db.url
        );
        assert_eq!(store.wave_params(&next).await.unwrap(), Some(c.params));
        store.close().await;
    }
}

#[tokio::test]
async fn a_claim_that_does_not_succeed_writes_nothing_and_of_two_racing_one_wins() {
    for (db, way) in both_ways().await {
        let memory = way.memory;
        let (store, ts, id, now, held) = collecting(&db, way).await;
        let first = claim_with(&store, claim(&id, "a", now), held.clone())
            .await
            .unwrap();
        let p1 = store.params(1).await.unwrap();
        // Both exchanges' rows, written together (one statement).
        let written: Vec<u32> = first.written.iter().map(|p| p.exchange_id).collect();
        assert_eq!(written, [1, 2], "{}", db.url);
        assert_eq!(p1.as_ref().map(|p| p.max_trades), Some(6));
        let p2 = store.params(2).await.unwrap();
        assert_eq!(p2.map(|p| p.max_trades), Some(5), "{}", db.url);

        // Claimed already: b's claim fails before the signals or params are looked at.
        let later = now + Duration::seconds(5);
        let planned = Arc::new(AtomicBool::new(false));
        let planning = planned.clone();
        let lost = store
            .claim_with_params(
                claim(&id, "b", later),
                move |_| held,
                move |s| {
                    planning.store(true, Ordering::SeqCst);
                    plan(s)
                },
                |_, w, s| choose(w, s),
            )
            .await
            .unwrap();
        assert!(lost.is_none(), "{}", db.url);
        assert!(
            !planned.load(Ordering::SeqCst),
            "no params step without the claim"
        );
        assert_eq!(store.params(1).await.unwrap(), p1, "no params row changed");
        assert_eq!(store.wave_params(&id).await.unwrap(), Some(first.params));
        let w = store.wave(&id).await.unwrap().unwrap();
        assert_eq!((w.owner.as_deref(), w.closed_at), (Some("a"), Some(now)));

        // Not due (a signal within the quiet period): not claimed, nothing written.
        let quiet_ts = ts - Duration::minutes(15);
        let quiet = wave_id(quiet_ts);
        let quiet_batch = stored_wave(&store, quiet_ts, later).await;
        let quiet_held = || memory.then(|| quiet_batch.clone());
        let not_due = Claim {
            due: Some(now - Duration::seconds(3)),
            ..claim(&quiet, "a", later)
        };
        assert!(claim_with(&store, not_due, quiet_held()).await.is_none());
        assert_eq!(store.params(1).await.unwrap(), p1);
        let w = store.wave(&quiet).await.unwrap().unwrap();
        assert_eq!((w.status, w.closed_at), (WaveStatus::Collecting, None));
        assert_eq!(store.wave_params(&quiet).await.unwrap(), None);

        // Too old (its timestamp before `not_before`): not claimed, nothing written.
        let too_old = Claim {
            not_before: Some(quiet_ts + Duration::milliseconds(1)),
            ..claim(&quiet, "a", later)
        };
        assert!(claim_with(&store, too_old, quiet_held()).await.is_none());
        assert_eq!(store.params(1).await.unwrap(), p1);
        let w = store.wave(&quiet).await.unwrap().unwrap();
        assert_eq!((w.status, w.closed_at), (WaveStatus::Collecting, None));
        assert_eq!(store.wave_params(&quiet).await.unwrap(), None);

        // Two coordinators racing on the same wave (exactly at `not_before`): exactly one
        // claims and records params.
        let at_limit = |owner| Claim {
            not_before: Some(quiet_ts),
            ..claim(&quiet, owner, later)
        };
        let (a, b) = tokio::join!(
            claim_with(&store, at_limit("a"), quiet_held()),
            claim_with(&store, at_limit("b"), quiet_held())
        );
        let winner = match (&a, &b) {
            (Some(won), None) => ("a", won),
            (None, Some(won)) => ("b", won),
            _ => panic!("{}: exactly one claim succeeds", db.url),
        };
        let w = store.wave(&quiet).await.unwrap().unwrap();
        assert_eq!(w.owner.as_deref(), Some(winner.0));
        assert_eq!(
            store.wave_params(&quiet).await.unwrap().as_ref(),
            Some(&winner.1.params)
        );
        assert_eq!(
            store.params(1).await.unwrap().map(|p| p.updated_at),
            Some(later)
        );
        claimed_where_expected(&store, way);
        store.close().await;
    }
}

#[tokio::test]
async fn a_params_row_written_after_the_claims_instant_stands() {
    for (db, way) in both_ways().await {
        let (store, _, id, now, held) = collecting(&db, way).await;
        // E.g. a `Params.Set` by another coordinator whose clock is ahead, or a later wave's.
        let newer = SignalParams {
            max_trades: Some(3),
            ..Default::default()
        };
        let after = now + Duration::seconds(10);
        assert!(
            store
                .update_params_from_wave(1, "ex1", &newer, after)
                .await
                .unwrap()
        );
        let c = claim_with(&store, claim(&id, "a", now), held)
            .await
            .expect("the claim succeeds");
        assert_eq!(c.read_in_claim, !way.memory);
        let ex = |p: &[StoredParams]| p.iter().map(|p| p.exchange_id).collect::<Vec<_>>();
        assert_eq!(
            ex(&c.written),
            [2],
            "{}: only exchange 2 is written",
            db.url
        );
        let db_source = pb::ParamsSource::Db as i32;
        assert_eq!(
            max_trades(&c.params, 1),
            Some((3, db_source)),
            "the newer row"
        );
        let p1 = store.params(1).await.unwrap().unwrap();
        assert_eq!((p1.max_trades, p1.updated_at), (3, after));
        assert_eq!(store.wave_params(&id).await.unwrap(), Some(c.params));
        claimed_where_expected(&store, way);
        store.close().await;
    }
}

/// What another connection sees of a wave: its status, its recorded params, exchange 1's
/// stored `max_trades`.
type Seen = (WaveStatus, Option<WaveParams>, Option<u32>);

/// A reader on its own thread, runtime and pool, so the test can look from inside the claim's
/// transaction (its `plan` and `choose` run there, synchronously).
fn reader(
    url: String,
) -> (
    mpsc::Sender<(String, mpsc::Sender<Seen>)>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::channel::<(String, mpsc::Sender<Seen>)>();
    let (ready_tx, ready) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = Store::connect(&url).await.unwrap();
            ready_tx.send(()).unwrap();
            while let Ok((id, reply)) = rx.recv() {
                let w = store.wave(&id).await.unwrap().unwrap();
                let params = store.wave_params(&id).await.unwrap();
                let p1 = store.params(1).await.unwrap().map(|p| p.max_trades);
                reply.send((w.status, params, p1)).unwrap();
            }
            store.close().await;
        });
    });
    ready.recv().unwrap();
    (tx, handle)
}

fn look(peek: &mpsc::Sender<(String, mpsc::Sender<Seen>)>, id: &str) -> Seen {
    let (tx, rx) = mpsc::channel();
    peek.send((id.to_owned(), tx)).unwrap();
    rx.recv().unwrap()
}

#[tokio::test]
async fn another_connection_sees_nothing_of_the_claim_until_its_one_commit() {
    for (db, way) in both_ways().await {
        let (store, _, id, now, held) = collecting(&db, way).await;
        let earlier = SignalParams {
            max_trades: Some(3),
            ..Default::default()
        };
        let before = now - Duration::seconds(60);
        assert!(
            store
                .update_params_from_wave(1, "ex1", &earlier, before)
                .await
                .unwrap()
        );
        let (peek, handle) = reader(db.url.clone());
        let untouched = (WaveStatus::Collecting, None, Some(3));

        let seen = Arc::new(Mutex::new(vec![]));
        let (seen_a, seen_b) = (seen.clone(), seen.clone());
        let (peek_a, peek_b) = (peek.clone(), peek.clone());
        let (id_a, id_b) = (id.clone(), id.clone());
        let c = store
            .claim_with_params(
                claim(&id, "a", now),
                move |_| held,
                move |s| {
                    // Claimed in this transaction, not yet committed.
                    seen_a.lock().unwrap().push(look(&peek_a, &id_a));
                    plan(s)
                },
                move |_, w, s| {
                    // Exchange 1's row merged, not yet committed.
                    seen_b.lock().unwrap().push(look(&peek_b, &id_b));
                    choose(w, s)
                },
            )
            .await
            .unwrap()
            .expect("the claim succeeds");
        assert_eq!(c.read_in_claim, !way.memory);
        claimed_where_expected(&store, way);
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        assert_eq!(seen, [untouched.clone(), untouched], "{}", db.url);
        assert_eq!(
            look(&peek, &id),
            (WaveStatus::Dispatching, Some(c.params), Some(6)),
            "all of it at the one commit"
        );
        drop(peek);
        handle.join().unwrap();
        store.close().await;
    }
}

#[tokio::test]
async fn a_due_claim_succeeds_once_quiet_or_past_its_close_by_and_only_then() {
    for (db, way) in both_ways().await {
        let (store, ts, id, now, held) = collecting(&db, way).await;
        // Quiet since after its last signal (stored at `now` or a few ms later), at exactly
        // `not_before`: claimed (both conditions bound, in their order).
        let quiet = Claim {
            due: Some(now + Duration::seconds(1)),
            not_before: Some(ts),
            ..claim(&id, "a", now + Duration::seconds(2))
        };
        let c = claim_with(&store, quiet, held)
            .await
            .unwrap_or_else(|| panic!("{} {way:?}: a quiet wave is claimed", db.url));
        assert_eq!(c.row.owner.as_deref(), Some("a"), "{}", db.url);

        // Not quiet (a signal after the quiet instant) but past its `close_by`: claimed.
        let late_ts = ts - Duration::minutes(15);
        let late = wave_id(late_ts);
        let batch = stored_wave_closing(&store, late_ts, now, Duration::zero()).await;
        let held = way.memory.then_some(batch);
        let past_close_by = Claim {
            due: Some(now - Duration::seconds(10)),
            not_before: Some(late_ts),
            ..claim(&late, "a", now + Duration::seconds(2))
        };
        let c = claim_with(&store, past_close_by, held)
            .await
            .expect("a wave past its close_by is claimed");
        assert_eq!(c.row.status, WaveStatus::Dispatching, "{}", db.url);
        assert_eq!(store.wave_params(&late).await.unwrap(), Some(c.params));
        claimed_where_expected(&store, way);
        store.close().await;
    }
}

//! A wave this coordinator closes is claimed and gets its params (docs/design.md §1 step 1) in
//! ONE transaction — one commit on the close → first order path (issue 14) — on BOTH backends:
//! the claim, the params rows merged (a failed update rolls back alone), the wave's params
//! recorded, all seen at once by other connections; a claim that does not succeed writes
//! nothing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use chrono::{DateTime, Duration, Utc};
use wavegate_common::proto::v1 as pb;
use wavegate_common::rank::{group_by_exchange, wave_params};
use wavegate_common::time::wave_id;
use wavegate_common::{ExchangeId, Signal, SignalParams};
use wavegate_coordinator::store::{
    Claim, ClaimedWave, ParamsUpdate, Store, StoredParams, WaveParams, WaveStatus, from_ms, ms,
};

use crate::support::{TestDb, current_wave, sig, sig_with_params};
use crate::wave_params::{choose, refuse_exchange_2};

type Groups = BTreeMap<ExchangeId, Vec<Signal>>;

/// What dispatch does with the signals: groups in rank order, and each exchange's update from
/// its first signal with params.
fn plan(signals: Vec<Signal>) -> (Groups, Vec<ParamsUpdate>) {
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

fn claim<'a>(id: &'a str, owner: &'a str, now: DateTime<Utc>) -> Claim<'a> {
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
async fn stored_wave(store: &Store, ts: DateTime<Utc>, now: DateTime<Utc>) -> Vec<Signal> {
    let batch: Vec<Signal> = [
        sig_with_params(1, "BTCUSDT", 1, 50.0, ts, 6),
        sig(2, "ETHUSDT", 1, 40.0, ts),
        sig_with_params(3, "SOLUSDT", 2, 30.0, ts, 5),
    ]
    .iter()
    .map(|p| Signal::from_proto(p, 900, now).unwrap())
    .collect();
    store
        .insert_signals(&batch, |t| t + Duration::days(1), now)
        .await
        .unwrap();
    batch
}

/// A store on `db` holding this candle's wave of three signals, collecting: (store, wave
/// timestamp, wave id, the instant the signals were stored at, in ms as stored).
async fn collecting(db: &TestDb) -> (Store, DateTime<Utc>, String, DateTime<Utc>) {
    let store = Store::connect(&db.url).await.unwrap();
    let ts = current_wave();
    let now = from_ms(ms(Utc::now()));
    stored_wave(&store, ts, now).await;
    (store, ts, wave_id(ts), now)
}

async fn claim_with(
    store: &Store,
    c: Claim<'_>,
    cached: Option<Vec<Signal>>,
) -> Option<ClaimedWave<Groups>> {
    store
        .claim_with_params(c, |_| cached, plan, |_, w, s| choose(w, s))
        .await
        .unwrap()
}

fn max_trades(p: &WaveParams, ex: u32) -> Option<(u32, i32)> {
    p[&ex].as_ref().map(|p| (p.max_trades, p.source))
}

#[tokio::test]
async fn a_claim_commits_the_waves_params_with_it_and_a_failed_update_rolls_back_alone() {
    for db in TestDb::both().await {
        let (store, ts, id, now) = collecting(&db).await;
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
        assert_eq!(store.wave_params(&next).await.unwrap(), Some(c.params));
        store.close().await;
    }
}

#[tokio::test]
async fn a_claim_that_does_not_succeed_writes_nothing_and_of_two_racing_one_wins() {
    for db in TestDb::both().await {
        let (store, ts, id, now) = collecting(&db).await;
        let first = claim_with(&store, claim(&id, "a", now), None)
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
        let planned = AtomicBool::new(false);
        let lost = store
            .claim_with_params(
                claim(&id, "b", later),
                |_| None,
                |s| {
                    planned.store(true, Ordering::SeqCst);
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
        stored_wave(&store, quiet_ts, later).await;
        let not_due = Claim {
            due: Some(now - Duration::seconds(3)),
            ..claim(&quiet, "a", later)
        };
        assert!(claim_with(&store, not_due, None).await.is_none());
        assert_eq!(store.params(1).await.unwrap(), p1);
        let w = store.wave(&quiet).await.unwrap().unwrap();
        assert_eq!((w.status, w.closed_at), (WaveStatus::Collecting, None));
        assert_eq!(store.wave_params(&quiet).await.unwrap(), None);

        // Too old (its timestamp before `not_before`): not claimed, nothing written.
        let too_old = Claim {
            not_before: Some(quiet_ts + Duration::milliseconds(1)),
            ..claim(&quiet, "a", later)
        };
        assert!(claim_with(&store, too_old, None).await.is_none());
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
            claim_with(&store, at_limit("a"), None),
            claim_with(&store, at_limit("b"), None)
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
        store.close().await;
    }
}

#[tokio::test]
async fn a_params_row_written_after_the_claims_instant_stands() {
    for db in TestDb::both().await {
        let (store, _, id, now) = collecting(&db).await;
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
        let c = claim_with(&store, claim(&id, "a", now), None)
            .await
            .expect("the claim succeeds");
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
    for db in TestDb::both().await {
        let (store, _, id, now) = collecting(&db).await;
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

        let seen = std::sync::Mutex::new(vec![]);
        let c = store
            .claim_with_params(
                claim(&id, "a", now),
                |_| None,
                |s| {
                    // Claimed in this transaction, not yet committed.
                    seen.lock().unwrap().push(look(&peek, &id));
                    plan(s)
                },
                |_, w, s| {
                    // Exchange 1's row merged, not yet committed.
                    seen.lock().unwrap().push(look(&peek, &id));
                    choose(w, s)
                },
            )
            .await
            .unwrap()
            .expect("the claim succeeds");
        let seen = seen.into_inner().unwrap();
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

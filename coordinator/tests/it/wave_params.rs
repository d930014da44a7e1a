//! The params a wave is dispatched with, on BOTH backends: written with the wave's params
//! update in one transaction, a failed update leaves the stored params (docs/design.md §1 step 1), the
//! record is only written by the wave's owner, and a takeover keeps the claimed deadline.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use sqlx::Executor as _;
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::wave_id;
use wavegate_common::{Signal, SignalParams};
use wavegate_coordinator::store::{
    Backend, ParamsUpdate, Store, StoredParams, WaveParams, from_ms, ms,
};

use crate::support::{TestDb, current_wave, sig};

/// Makes every write of exchange 2's params fail, as a database error would.
pub(crate) async fn refuse_exchange_2(store: &Store) {
    let stmts: &[&str] = match store.backend() {
        Backend::Sqlite => &[
            "CREATE TRIGGER refuse_2 BEFORE INSERT ON exchange_params WHEN NEW.exchange_id = 2 \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ],
        Backend::Postgres => &[
            "CREATE FUNCTION refuse_2() RETURNS trigger AS $f$ BEGIN \
             IF NEW.exchange_id = 2 THEN RAISE EXCEPTION 'refused by the test'; END IF; \
             RETURN NEW; END $f$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_2 BEFORE INSERT OR UPDATE ON exchange_params \
             FOR EACH ROW EXECUTE FUNCTION refuse_2()",
        ],
    };
    for s in stmts {
        store.pool().execute(*s).await.unwrap();
    }
}

fn update(exchange_id: u32, max_trades: u32) -> ParamsUpdate {
    ParamsUpdate {
        exchange_id,
        exchange_name: format!("ex{exchange_id}"),
        params: SignalParams {
            max_trades: Some(max_trades),
            stop_loss_percent: Some(4.0),
            ..Default::default()
        },
    }
}

/// What dispatch does: the written row (source wave), else the stored row that stood (source
/// db), else nothing (`no_params`).
pub(crate) fn choose(
    written: &BTreeMap<u32, StoredParams>,
    stood: &BTreeMap<u32, StoredParams>,
) -> WaveParams {
    [1u32, 2]
        .into_iter()
        .map(|ex| {
            let (row, source) = match (written.get(&ex), stood.get(&ex)) {
                (Some(w), _) => (Some(w), pb::ParamsSource::Wave),
                (None, s) => (s, pb::ParamsSource::Db),
            };
            let p = row.map(|w| pb::ExchangeParams {
                exchange_id: ex,
                exchange_name: w.exchange_name.clone(),
                max_trades: w.max_trades,
                buffer_size: w.max_trades + 3,
                source: source as i32,
                stop_loss_percent: w.stop_loss_percent,
                updated_at: Some(wavegate_common::time::to_proto(w.updated_at)),
                ..Default::default()
            });
            (ex, p)
        })
        .collect()
}

#[tokio::test]
async fn a_waves_params_are_recorded_once_by_its_owner_and_a_failed_update_leaves_the_stored() {
    for db in TestDb::both().await {
        let store = Store::connect(&db.url).await.unwrap();
        let ts = current_wave();
        let id = wave_id(ts);
        let now = from_ms(ms(Utc::now()));
        let batch = vec![Signal::from_proto(&sig(1, "BTCUSDT", 1, 50.0, ts), 900, now).unwrap()];
        store
            .insert_signals(&batch, |t| t + Duration::seconds(1020), now)
            .await
            .unwrap();
        let deadline = now + Duration::seconds(300);
        assert!(
            store
                .claim(&id, "a", now + Duration::seconds(30), deadline, now, None)
                .await
                .unwrap()
        );
        assert_eq!(
            store.wave_params(&id).await.unwrap(),
            None,
            "nothing recorded yet"
        );
        refuse_exchange_2(&store).await;

        let (params, written) = store
            .commit_wave_params(&id, "a", &[update(1, 6), update(2, 5)], now, choose)
            .await
            .unwrap()
            .expect("a owns the wave");
        assert_eq!(written.len(), 1, "{}: exchange 2's write failed", db.url);
        assert_eq!(written[0].exchange_id, 1);
        assert_eq!(params[&1].as_ref().map(|p| p.max_trades), Some(6));
        assert_eq!(
            params[&2], None,
            "exchange 2 keeps what was stored: nothing"
        );
        assert_eq!(
            store.params(1).await.unwrap().map(|p| p.max_trades),
            Some(6)
        );
        assert_eq!(store.params(2).await.unwrap(), None);
        assert_eq!(store.wave_params(&id).await.unwrap(), Some(params.clone()));

        // Not the owner: nothing is written, neither the record nor the params.
        assert!(
            store
                .commit_wave_params(&id, "b", &[update(1, 9)], now, choose)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store.params(1).await.unwrap().map(|p| p.max_trades),
            Some(6)
        );
        assert_eq!(store.wave_params(&id).await.unwrap(), Some(params));

        // A wave claimed before those params were written (an older wave dispatched late) does
        // not overwrite them: the newer row stands and is what that wave is sent.
        let older = wave_id(ts - Duration::minutes(15));
        let early = now - Duration::seconds(5);
        let old_batch = vec![
            Signal::from_proto(
                &sig(1, "BTCUSDT", 1, 50.0, ts - Duration::minutes(15)),
                900,
                now,
            )
            .unwrap(),
        ];
        store
            .insert_signals(&old_batch, |t| t + Duration::days(1), now)
            .await
            .unwrap();
        assert!(
            store
                .claim(
                    &older,
                    "a",
                    now + Duration::seconds(30),
                    deadline,
                    early,
                    None
                )
                .await
                .unwrap()
        );
        let (old_params, old_written) = store
            .commit_wave_params(&older, "a", &[update(1, 9)], early, choose)
            .await
            .unwrap()
            .unwrap();
        assert!(old_written.is_empty(), "{old_written:?}");
        let sent = old_params[&1].as_ref().unwrap();
        assert_eq!(
            (sent.max_trades, sent.source),
            (6, pb::ParamsSource::Db as i32),
            "the newer stored row stands"
        );
        assert_eq!(
            store.params(1).await.unwrap().map(|p| p.max_trades),
            Some(6)
        );

        // A takeover after the lease expired keeps the deadline set at the claim.
        let later = now + Duration::hours(3);
        assert!(
            store
                .take_over(
                    &id,
                    "b",
                    later + Duration::seconds(30),
                    later + Duration::seconds(300),
                    later
                )
                .await
                .unwrap()
        );
        let w = store.wave(&id).await.unwrap().unwrap();
        assert_eq!(w.owner.as_deref(), Some("b"));
        assert_eq!(w.deadline_at, Some(deadline));
        store.close().await;
    }
}

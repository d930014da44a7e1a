//! Position params set through `Params.Set` (issues 11 and 12), on BOTH backends: leverage
//! within 1..=`[params] max_leverage`, a known margin mode and an entry size within the
//! exchange's configured range, refused with INVALID_ARGUMENT naming the field and the bound
//! (nothing stored); accepted values are stored, kept when a later set leaves them out, and
//! recorded in the params a wave is dispatched with. A wave's first signal carrying params
//! sets them for its wave and stores them (bounded the same way at ingest); a later wave
//! without them gets the stored ones.

use tonic::Code;
use wavegate_common::MarginMode;
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::wave_id;

use crate::api_support::{clients, config, finished, wave};
use crate::support::{TestDb, current_wave, sig};

fn base() -> pb::SetParamsRequest {
    pb::SetParamsRequest {
        exchange_id: 1,
        max_trades: 2,
        ..Default::default()
    }
}

#[tokio::test]
async fn position_params_are_bounded_stored_kept_and_sent_with_the_wave() {
    for db in TestDb::both().await {
        let mut cfg = config(&db);
        cfg.params.max_leverage = 10;
        cfg.exchanges[0].min_size_usd = Some(10.0);
        cfg.exchanges[0].max_size_usd = Some(200.0);
        cfg.waves.quiet_secs = 1;
        let h = wavegate_coordinator::spawn(cfg).await.unwrap();
        let mut c = clients(&h).await;

        let bad = [
            (
                pb::SetParamsRequest {
                    leverage: Some(11),
                    ..base()
                },
                "leverage: must be in [1, 10] (params.max_leverage), got 11",
            ),
            (
                pb::SetParamsRequest {
                    leverage: Some(0),
                    ..base()
                },
                "leverage: must be in [1, 10]",
            ),
            (
                pb::SetParamsRequest {
                    margin_mode: 9,
                    ..base()
                },
                "margin_mode: unknown margin mode 9",
            ),
            (
                pb::SetParamsRequest {
                    position_size_usd: Some(9.99),
                    ..base()
                },
                "position_size_usd: must be within the exchange's size range [10, 200] USD",
            ),
            (
                pb::SetParamsRequest {
                    position_size_usd: Some(200.5),
                    ..base()
                },
                "position_size_usd: must be within the exchange's size range [10, 200] USD",
            ),
            (
                pb::SetParamsRequest {
                    position_size_usd: Some(f64::NAN),
                    ..base()
                },
                "position_size_usd:",
            ),
        ];
        for (req, want) in bad {
            let e = c.params.set(req).await.unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{want}: {e:?}");
            assert!(e.message().starts_with(want), "{}: {}", db.url, e.message());
        }
        assert_eq!(
            h.store().params(1).await.unwrap(),
            None,
            "refused sets store nothing"
        );

        let set = c
            .params
            .set(pb::SetParamsRequest {
                leverage: Some(3),
                margin_mode: pb::MarginMode::Isolated as i32,
                position_size_usd: Some(50.0),
                ..base()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (set.leverage, set.margin_mode, set.position_size_usd),
            (Some(3), pb::MarginMode::Isolated as i32, Some(50.0))
        );
        // Left out: kept (only the target changes here).
        let set = c
            .params
            .set(pb::SetParamsRequest {
                max_trades: 1,
                ..base()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (set.leverage, set.margin_mode, set.position_size_usd),
            (Some(3), pb::MarginMode::Isolated as i32, Some(50.0)),
            "{}",
            db.url
        );
        let got = c
            .params
            .get(pb::GetParamsRequest { exchange_id: 1 })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.params[0].leverage, Some(3));
        assert_eq!(got.params[0].position_size_usd, Some(50.0));
        let stored = h.store().params(1).await.unwrap().unwrap();
        assert_eq!(stored.position.leverage, Some(3));
        assert_eq!(stored.position.margin_mode, Some(pb::MarginMode::Isolated));

        // A wave for exchange 1 (no agent: agent_unavailable) is dispatched with them; the
        // record a resumed wave re-sends holds them too.
        let ts = current_wave();
        let id = wave_id(ts);
        c.ingest
            .publish_wave(wave(ts, vec![sig(1, "BTCUSDT", 1, 50.0, ts)], true))
            .await
            .unwrap();
        finished(&mut c, &id).await;
        let sent = h.store().wave_params(&id).await.unwrap().expect("recorded");
        let p = sent[&1].as_ref().expect("exchange 1 has params");
        assert_eq!(
            (p.leverage, p.margin_mode, p.position_size_usd),
            (Some(3), pb::MarginMode::Isolated as i32, Some(50.0))
        );
        h.shutdown().await;
    }
}

/// An exchange's position params, as `(leverage, margin mode, size)`.
fn positions(p: &pb::ExchangeParams) -> (Option<u32>, i32, Option<f64>) {
    (p.leverage, p.margin_mode, p.position_size_usd)
}

#[tokio::test]
async fn a_waves_signal_params_carry_position_params_bounded_then_stored_for_later_waves() {
    for db in TestDb::both().await {
        let mut cfg = config(&db);
        cfg.params.max_leverage = 20;
        cfg.exchanges[0].min_size_usd = Some(10.0);
        cfg.exchanges[0].max_size_usd = Some(200.0);
        cfg.waves.quiet_secs = 1;
        let h = wavegate_coordinator::spawn(cfg).await.unwrap();
        let mut c = clients(&h).await;
        // Stored before: leverage 2, cross, $20.
        c.params
            .set(pb::SetParamsRequest {
                leverage: Some(2),
                margin_mode: pb::MarginMode::Cross as i32,
                position_size_usd: Some(20.0),
                ..base()
            })
            .await
            .unwrap();

        let ts = current_wave();
        let with = |id: i64, symbol: &str, score: f64, p: pb::SignalParams| {
            let mut s = sig(id, symbol, 1, score, ts);
            s.params = Some(p);
            s
        };
        let carried = pb::SignalParams {
            leverage: Some(5),
            margin_mode: pb::MarginMode::Isolated as i32,
            position_size_usd: Some(40.0),
            ..Default::default()
        };
        // Out of bounds: refused at ingest naming the field, nothing stored.
        let signals = vec![
            with(
                1,
                "ETHUSDT",
                10.0,
                pb::SignalParams {
                    leverage: Some(21),
                    ..Default::default()
                },
            ),
            with(
                2,
                "SOLUSDT",
                10.0,
                pb::SignalParams {
                    position_size_usd: Some(250.0),
                    ..Default::default()
                },
            ),
            with(
                3,
                "XRPUSDT",
                10.0,
                pb::SignalParams {
                    margin_mode: 9,
                    ..Default::default()
                },
            ),
            // The first signal in rank order carrying params: its position params win.
            with(4, "BTCUSDT", 90.0, carried),
            with(
                5,
                "ADAUSDT",
                80.0,
                pb::SignalParams {
                    leverage: Some(7),
                    ..Default::default()
                },
            ),
        ];
        let s = c
            .ingest
            .publish_wave(wave(ts, signals, true))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((s.accepted, s.rejected), (2, 3), "{}: {s:?}", db.url);
        let got: Vec<(u32, &str, &str, i32)> = s
            .rejections
            .iter()
            .map(|r| (r.position, r.field.as_str(), r.reason.as_str(), r.code))
            .collect();
        let bad = Code::InvalidArgument as i32;
        assert_eq!(
            got,
            vec![
                (
                    0,
                    "params.leverage",
                    "must be in [1, 20] (params.max_leverage), got 21",
                    bad
                ),
                (
                    1,
                    "params.position_size_usd",
                    "must be within the exchange's size range [10, 200] USD \
                     (min_size_usd/max_size_usd), got 250",
                    bad
                ),
                (2, "params.margin_mode", "unknown margin mode 9", bad),
            ]
        );
        let id = wave_id(ts);
        finished(&mut c, &id).await;
        let sent = h.store().wave_params(&id).await.unwrap().expect("recorded");
        let p = sent[&1].as_ref().expect("exchange 1 has params");
        assert_eq!(p.source, pb::ParamsSource::Wave as i32, "{}", db.url);
        assert_eq!(
            positions(p),
            (Some(5), pb::MarginMode::Isolated as i32, Some(40.0)),
            "{}",
            db.url
        );
        // Stored with the signal, so a resumed wave reloads them.
        let loaded = h.store().wave_signals(&id, ts).await.unwrap();
        let first = loaded
            .iter()
            .find(|s| s.id() == 4)
            .expect("signal 4 stored");
        let sp = first.params().expect("its params");
        assert_eq!(
            (sp.leverage, sp.margin_mode, sp.position_size_usd),
            (Some(5), Some(MarginMode::Isolated), Some(40.0)),
            "{}",
            db.url
        );
        // The signal's params became the stored ones (docs/design.md §1 step 1).
        let stored = h.store().params(1).await.unwrap().unwrap();
        assert_eq!(stored.position.leverage, Some(5));
        assert_eq!(stored.position.margin_mode, Some(pb::MarginMode::Isolated));
        assert_eq!(stored.position.position_size_usd, Some(40.0));

        // A later wave without params: the stored params, source db.
        let ts2 = ts + chrono::Duration::seconds(900);
        let id2 = wave_id(ts2);
        c.ingest
            .publish_wave(wave(ts2, vec![sig(6, "BTCUSDT", 1, 50.0, ts2)], true))
            .await
            .unwrap();
        finished(&mut c, &id2).await;
        let sent = h
            .store()
            .wave_params(&id2)
            .await
            .unwrap()
            .expect("recorded");
        let p = sent[&1].as_ref().expect("exchange 1 has params");
        assert_eq!(p.source, pb::ParamsSource::Db as i32, "{}", db.url);
        assert_eq!(
            positions(p),
            (Some(5), pb::MarginMode::Isolated as i32, Some(40.0)),
            "{}",
            db.url
        );
        h.shutdown().await;
    }
}

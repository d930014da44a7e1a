//! Position params set through `Params.Set` (issues 11 and 12), on BOTH backends: leverage
//! within 1..=`[params] max_leverage`, a known margin mode and an entry size within the
//! exchange's configured range, refused with INVALID_ARGUMENT naming the field and the bound
//! (nothing stored); accepted values are stored, kept when a later set leaves them out, and
//! recorded in the params a wave is dispatched with.

use tonic::Code;
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

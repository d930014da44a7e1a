//! Issue 12, items 4 and 7, over real gRPC: scoped tokens (a dashboard's `read` token cannot
//! publish, cancel or set params; a producer's cannot operate), params bounded with
//! INVALID_ARGUMENT naming the field (a huge `max_trades`, a 99.99 % stop, an unconfigured
//! exchange, also through a signal's params), and a request above `max_request_bytes`
//! refused from its length prefix — with and without auth — storing nothing.

use tonic::Code;
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::wave_id;
use wavegate_coordinator::config::AuthConfig;

use crate::api_support::{clients, config, wave};
use crate::support::{TestDb, current_wave, sig, sig_with_params};

fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

#[tokio::test]
async fn each_token_does_only_what_its_scopes_allow() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        "# dashboards\ndash-token-1 read\nprod-token-1 publish\nops-token-1 read,operate\n",
    )
    .unwrap();
    let mut cfg = config(&db);
    cfg.waves.quiet_secs = 600; // the wave stays collecting
    cfg.auth = Some(AuthConfig {
        tokens_file: Some(tokens),
        insecure: false,
    });
    let h = wavegate_coordinator::spawn(cfg).await.unwrap();
    let mut c = clients(&h).await;
    let ts = current_wave();
    let id = wave_id(ts);
    let publish = || wave(ts, vec![sig(1, "BTCUSDT", 2, 1.0, ts)], false);
    let set = pb::SetParamsRequest {
        exchange_id: 2,
        max_trades: 3,
        ..Default::default()
    };
    let cancel = pb::CancelWaveRequest {
        wave_id: id.clone(),
        reason: "drill".into(),
    };

    // The dashboard reads, and nothing else.
    let e = c
        .ingest
        .publish_wave(with_token(publish(), "dash-token-1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("publish"), "{e:?}");
    assert!(
        h.store().wave(&id).await.unwrap().is_none(),
        "nothing stored"
    );
    let e = c
        .params
        .set(with_token(set.clone(), "dash-token-1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    c.params
        .get(with_token(
            pb::GetParamsRequest { exchange_id: 0 },
            "dash-token-1",
        ))
        .await
        .unwrap();

    // The producer publishes, and cannot read, cancel or change params.
    let s = c
        .ingest
        .publish_wave(with_token(publish(), "prod-token-1"))
        .await
        .unwrap();
    assert_eq!(s.into_inner().accepted, 1);
    let e = c
        .waves
        .cancel(with_token(cancel.clone(), "prod-token-1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = c
        .params
        .set(with_token(set.clone(), "prod-token-1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = c
        .waves
        .get(with_token(
            pb::GetWaveRequest {
                wave_id: id.clone(),
            },
            "prod-token-1",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = c
        .waves
        .cancel(with_token(cancel.clone(), "dash-token-1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let stored = h.store().wave(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.status.as_str(),
        "collecting",
        "no refused call changed it"
    );
    assert!(
        h.store().params(2).await.unwrap().is_none(),
        "no params stored"
    );

    // The operators' token sets params and cancels.
    let p = c
        .params
        .set(with_token(set, "ops-token-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.max_trades, 3);
    let done = c
        .waves
        .cancel(with_token(cancel, "ops-token-1"))
        .await
        .unwrap();
    assert_eq!(
        done.into_inner().wave.unwrap().status,
        pb::WaveStatus::Failed as i32
    );
    h.shutdown().await;
}

#[tokio::test]
async fn params_out_of_bounds_are_refused_naming_the_field() {
    let db = TestDb::sqlite().await;
    let mut cfg = config(&db);
    cfg.params.max_trades_ceiling = 20;
    cfg.waves.quiet_secs = 600;
    let h = wavegate_coordinator::spawn(cfg).await.unwrap();
    let mut c = clients(&h).await;
    let base = pb::SetParamsRequest {
        exchange_id: 2,
        max_trades: 3,
        ..Default::default()
    };
    let bad = [
        (
            pb::SetParamsRequest {
                max_trades: u32::MAX,
                ..base.clone()
            },
            "max_trades",
        ),
        (
            pb::SetParamsRequest {
                max_trades: 21,
                ..base.clone()
            },
            "max_trades",
        ),
        (
            pb::SetParamsRequest {
                stop_loss_percent: Some(99.99),
                ..base.clone()
            },
            "stop_loss_percent",
        ),
        (
            pb::SetParamsRequest {
                trailing_distance_percent: Some(25.0),
                ..base.clone()
            },
            "trailing_distance_percent",
        ),
        (
            pb::SetParamsRequest {
                trailing_activation_percent: Some(75.0),
                ..base.clone()
            },
            "trailing_activation_percent",
        ),
        (
            pb::SetParamsRequest {
                exchange_id: 77,
                ..base.clone()
            },
            "exchange_id",
        ),
    ];
    for (req, field) in bad {
        let e = c.params.set(req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{field}: {e:?}");
        assert!(e.message().starts_with(field), "{field}: {}", e.message());
    }
    assert!(h.store().params(2).await.unwrap().is_none());
    assert!(h.store().params(77).await.unwrap().is_none());
    // In bounds, it is stored.
    let ok = pb::SetParamsRequest {
        stop_loss_percent: Some(50.0),
        trailing_distance_percent: Some(0.1),
        max_trades: 20,
        ..base.clone()
    };
    c.params.set(ok).await.unwrap();

    // A producer's signal carrying such params is rejected with the field; the rest pass.
    let ts = current_wave();
    let s = c
        .ingest
        .publish_wave(wave(
            ts,
            vec![
                sig_with_params(1, "BTCUSDT", 2, 9.0, ts, u32::MAX),
                sig(2, "ETHUSDT", 2, 8.0, ts),
            ],
            false,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.accepted, s.rejected), (1, 1), "{s:?}");
    assert_eq!(s.rejections[0].field, "params.max_trades");
    assert_eq!(s.rejections[0].code, Code::InvalidArgument as i32);
    assert_eq!(h.store().params(2).await.unwrap().unwrap().max_trades, 20);
    h.shutdown().await;
}

/// A `PublishWave` of 50 000 signals: well over 1 MiB encoded (each signal carries two
/// timestamps, two scores and a symbol).
fn oversize_wave(ts: chrono::DateTime<chrono::Utc>) -> pb::Wave {
    let signals = (0..50_000)
        .map(|i| sig(i + 1, "BTCUSDT", 2, 1.0, ts))
        .collect();
    wave(ts, signals, true)
}

#[tokio::test]
async fn a_request_above_the_size_limit_is_refused_before_it_is_read() {
    let db = TestDb::sqlite().await;
    let mut cfg = config(&db);
    cfg.max_request_bytes = 1024 * 1024;
    cfg.max_batch_signals = 1_000_000;
    let h = wavegate_coordinator::spawn(cfg.clone()).await.unwrap();
    let mut c = clients(&h).await;
    let ts = current_wave();
    let big = oversize_wave(ts);
    let e = c.ingest.publish_wave(big.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    assert!(e.message().contains("1048576"), "{e:?}");
    assert!(e.message().len() < 200, "no echo of the input");
    assert!(
        h.store().wave(&wave_id(ts)).await.unwrap().is_none(),
        "nothing stored"
    );
    h.shutdown().await;

    // With auth, a caller without a token is refused from the headers alone.
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "prod-token-1 publish\n").unwrap();
    cfg.auth = Some(AuthConfig {
        tokens_file: Some(tokens),
        insecure: false,
    });
    let h = wavegate_coordinator::spawn(cfg).await.unwrap();
    let mut c = clients(&h).await;
    let e = c.ingest.publish_wave(big.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let e = c
        .ingest
        .publish_wave(with_token(big, "prod-token-1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    h.shutdown().await;
}

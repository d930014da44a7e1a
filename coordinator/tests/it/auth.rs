//! Bearer-token authentication of the public API over real gRPC (`[auth] tokens_file`).

use crate::support::{TestDb, current_wave, sig};
use tonic::Code;
use tonic::transport::Channel;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agents_client::AgentsClient;
use wavegate_common::proto::v1::params_client::ParamsClient;
use wavegate_common::proto::v1::signal_ingest_client::SignalIngestClient;
use wavegate_common::proto::v1::waves_client::WavesClient;
use wavegate_common::time::{to_proto, wave_id};
use wavegate_coordinator::CoordinatorConfig;

#[tokio::test]
async fn bearer_tokens_guard_the_api_when_configured() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "t0ken-for-tests\n").unwrap();
    let mut cfg = CoordinatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: db.url.clone(),
        exchanges: vec![wavegate_coordinator::ExchangeConfig {
            id: 2,
            name: "bybit".into(),
            agent: None,
            default_max_trades: Some(4),
            region: None,
            agent_token_file: None,
            min_size_usd: None,
            max_size_usd: None,
        }],
        ..Default::default()
    };
    // The wave published below stays collecting until it is cancelled.
    cfg.waves.quiet_secs = 600;
    cfg.auth = Some(wavegate_coordinator::config::AuthConfig {
        tokens_file: Some(tokens),
        insecure: false,
    });
    let h = wavegate_coordinator::spawn(cfg).await.unwrap();
    let ch = Channel::from_shared(format!("http://{}", h.local_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut ingest = SignalIngestClient::new(ch.clone());
    let mut params = ParamsClient::new(ch.clone());
    let mut agents = AgentsClient::new(ch.clone());
    let mut waves = WavesClient::new(ch);
    let e = params
        .get(pb::GetParamsRequest { exchange_id: 0 })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let ts = current_wave();
    let e = ingest
        .publish_wave(pb::Wave {
            wave_timestamp: Some(to_proto(ts)),
            signals: vec![sig(1, "BTCUSDT", 2, 1.0, ts)],
            close: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(
        h.store().wave(&wave_id(ts)).await.unwrap().is_none(),
        "nothing stored"
    );
    let mut req = tonic::Request::new(pb::GetParamsRequest { exchange_id: 0 });
    req.metadata_mut()
        .insert("authorization", "Bearer t0ken-for-tests".parse().unwrap());
    assert_eq!(params.get(req).await.unwrap().into_inner().params.len(), 1);
    let mut bad = tonic::Request::new(pb::ListAgentsRequest {});
    bad.metadata_mut()
        .insert("authorization", "Bearer wrong".parse().unwrap());
    assert_eq!(
        agents.list(bad).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // The kill switch is guarded like every other call: without the token the collecting wave
    // stays as it was.
    let mut publish = tonic::Request::new(pb::Wave {
        wave_timestamp: Some(to_proto(ts)),
        signals: vec![sig(1, "BTCUSDT", 2, 1.0, ts)],
        close: false,
    });
    publish
        .metadata_mut()
        .insert("authorization", "Bearer t0ken-for-tests".parse().unwrap());
    assert_eq!(
        ingest
            .publish_wave(publish)
            .await
            .unwrap()
            .into_inner()
            .accepted,
        1
    );
    let cancel = pb::CancelWaveRequest {
        wave_id: wave_id(ts),
        reason: "drill".into(),
    };
    assert_eq!(
        waves.cancel(cancel.clone()).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let stored = h.store().wave(&wave_id(ts)).await.unwrap().unwrap();
    assert_eq!(stored.status.as_str(), "collecting", "nothing changed");
    let mut req = tonic::Request::new(cancel);
    req.metadata_mut()
        .insert("authorization", "Bearer t0ken-for-tests".parse().unwrap());
    let done = waves.cancel(req).await.unwrap().into_inner();
    assert_eq!(
        done.wave.unwrap().status,
        pb::WaveStatus::Failed as i32,
        "with the token the wave is cancelled"
    );
    h.shutdown().await;
}

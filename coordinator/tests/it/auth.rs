//! Bearer-token authentication of the public API over real gRPC (`[auth] tokens_file`).

use crate::support::{TestDb, current_wave, sig};
use tonic::Code;
use tonic::transport::Channel;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agents_client::AgentsClient;
use wavegate_common::proto::v1::params_client::ParamsClient;
use wavegate_common::proto::v1::signal_ingest_client::SignalIngestClient;
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
        }],
        ..Default::default()
    };
    cfg.auth = Some(wavegate_coordinator::config::AuthConfig {
        tokens_file: Some(tokens),
    });
    let h = wavegate_coordinator::spawn(cfg).await.unwrap();
    let ch = Channel::from_shared(format!("http://{}", h.local_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut ingest = SignalIngestClient::new(ch.clone());
    let mut params = ParamsClient::new(ch.clone());
    let mut agents = AgentsClient::new(ch);
    let e = params
        .get(pb::GetParamsRequest { exchange_id: 0 })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let ts = current_wave() + chrono::Duration::seconds(7);
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
    h.shutdown().await;
    db.cleanup().await;
}

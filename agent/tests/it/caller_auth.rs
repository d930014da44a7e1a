//! Issue 12, item 1: the agent places orders only for callers holding its token. A hand-made
//! `ExecuteWave` (plaintext, real gRPC over loopback) without the token, or with a wrong one,
//! is refused with UNAUTHENTICATED and opens nothing; `Describe` is behind the same check;
//! health stays open for probes; the holder of the token runs a wave as before.

use tonic::metadata::MetadataMap;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use wavegate_agent::config::AgentAuth;
use wavegate_common::proto::v1 as pb;

use crate::support::*;

const TOKEN: &str = "agent-token-0123456789abcdef";

fn bearer(token: &str) -> MetadataMap {
    let mut m = MetadataMap::new();
    m.insert("authorization", format!("Bearer {token}").parse().unwrap());
    m
}

async fn describe_with(
    client: &mut Client,
    md: MetadataMap,
) -> Result<pb::DescribeResponse, tonic::Status> {
    let mut req = tonic::Request::new(pb::DescribeRequest {});
    *req.metadata_mut() = md;
    client.describe(req).await.map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_wave_and_describe_without_the_token_are_refused_and_open_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("agent.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.auth = AgentAuth {
        token_file: Some(token_file),
        insecure: false,
    };
    let (agent, mut client) = start(cfg).await;
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT", "SOLUSDT"]);

    // An attacker's wave: no credentials, then a guessed token.
    for md in [MetadataMap::new(), bearer("agent-token-0123456789abcdeX")] {
        let run = drive_with_metadata(
            &mut client,
            start_msg("HOSTILE", 1, 3, 3, 3),
            &all,
            Drive::default(),
            md.clone(),
        )
        .await;
        let status = run.status.expect("refused");
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
        assert!(run.outcomes.is_empty() && run.result.is_none());
        let e = describe_with(&mut client, md).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert!(!e.message().contains(TOKEN), "{e:?}");
    }

    // Nothing was opened, nothing was sent.
    let d = describe_with(&mut client, bearer(TOKEN))
        .await
        .expect("describe with token");
    assert!(d.open_positions.is_empty(), "{:?}", d.open_positions);
    assert_eq!(d.orders_sent, 0);

    // Probes need no token.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", agent.local_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let h = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "wavegate.v1.ExchangeAgent".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(h.status, ServingStatus::Serving as i32);

    // The coordinator's token runs the wave.
    let run = drive_with_metadata(
        &mut client,
        start_msg("REAL", 1, 2, 3, 3),
        &all,
        Drive::default(),
        bearer(TOKEN),
    )
    .await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(run.executed_ids(), vec![1, 2]);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reachable_from_other_hosts_without_auth_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    // A documentation address (RFC 5737): never bound, the check comes before the bind.
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.listen = "192.0.2.10:7101".parse().unwrap();
    let e = wavegate_agent::spawn(cfg.clone())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("`auth`") && e.contains("insecure"), "{e}");
    assert!(
        !dir.path().join("binance.db").exists(),
        "nothing opened before the refusal"
    );

    // A token file that cannot be read stops start-up naming the key, on loopback too.
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.auth.token_file = Some(dir.path().join("missing.token"));
    let e = wavegate_agent::spawn(cfg)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("auth.token_file") && e.contains("missing.token"),
        "{e}"
    );
}

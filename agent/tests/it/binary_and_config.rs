//! The real `wavegate-agent` binary with the example config, and config loading errors.

use std::path::{Path, PathBuf};

use crate::support::*;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use wavegate_agent::{AgentConfig, ConfigError};
use wavegate_common::proto::v1 as pb;
use wavegate_common::telemetry::{LogFormat, SERVICE_AGENT};
use wavegate_common::walk::Mode;
use wavegate_tests::Proc;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("agent.example.toml")
}

#[test]
fn example_config_loads_with_every_agreed_key() {
    let c = AgentConfig::load_with_env(Some(&example()), |_| None).unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:7101");
    assert_eq!((c.exchange_id, c.exchange_name.as_str()), (1, "binance"));
    assert_eq!(c.region, "ap-northeast-1");
    assert_eq!(c.journal, PathBuf::from("wavegate-agent-binance.db"));
    assert_eq!(c.execution_mode, Mode::Sequential);
    assert_eq!(
        (c.order_timeout_ms, c.stop_loss_percent, c.stop_retries),
        (10_000, 4.0, 3)
    );
    assert_eq!(c.lookup_backoff_ms, 200);
    assert_eq!(
        (c.rate_limit.orders_per_second, c.rate_limit.burst),
        (10, 10)
    );
    let p = &c.adapter.paper;
    assert_eq!(
        (p.latency_ms, c.faults.seed, c.faults.fail_rate),
        (0, 42, 0.0)
    );
    assert_eq!((p.notional, p.min_notional), (100.into(), 5.into()));
    assert!(p.open_positions.is_empty() && c.faults.stop_fail.is_empty());
    assert_eq!(c.metrics_listen, Some("0.0.0.0:9101".parse().unwrap()));
    assert_eq!(c.telemetry.log_format, LogFormat::Human);
    assert_eq!(
        c.telemetry.otlp_endpoint, None,
        "commented out in the example"
    );
    let t = c.telemetry_config();
    assert_eq!(
        (
            t.service_name.as_str(),
            t.region.as_deref(),
            t.exchange_name.as_deref()
        ),
        (SERVICE_AGENT, Some("ap-northeast-1"), Some("binance"))
    );

    let c = AgentConfig::load_with_env(Some(&example()), |k| {
        (k == "WAVEGATE_AGENT_EXCHANGE_ID").then(|| "2".to_owned())
    })
    .unwrap();
    assert_eq!(c.exchange_id, 2, "environment overrides the file");
}

fn load_text(text: &str) -> ConfigError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    AgentConfig::load_with_env(Some(&path), |_| None).unwrap_err()
}

#[test]
fn bad_config_names_the_key() {
    let base = std::fs::read_to_string(example()).unwrap();
    let e = load_text(&base.replace(
        "execution_mode = \"sequential\"",
        "execution_mode = \"fast\"",
    ))
    .to_string();
    assert!(e.contains("execution_mode"), "{e}");
    let e =
        load_text(&base.replace("min_notional = 5.0", "min_notional = 5.0\nsede = 1")).to_string();
    assert!(e.contains("adapter.paper.sede"), "{e}");
    let e = load_text(&base.replace("burst = 10", "burst = 0")).to_string();
    assert!(e.contains("rate_limit.burst"), "{e}");
    let e = load_text("exchange_name = \"x\"\n").to_string();
    assert!(e.contains("exchange_id"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_binary_serves_describe_and_health() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Proc::builder("wavegate-agent", dir.path())
        .program(env!("CARGO_BIN_EXE_wavegate-agent"))
        .args(["--config"])
        .args([example()])
        .args(["--listen", "127.0.0.1:0", "--journal"])
        .args([dir.path().join("agent.db")])
        .env_remove("WAVEGATE_AGENT_CONFIG")
        .env_remove("WAVEGATE_AGENT_LISTEN")
        .env_remove("WAVEGATE_AGENT_JOURNAL")
        // Not the example's fixed 9101: parallel test runs must not collide.
        .env("WAVEGATE_AGENT_METRICS_LISTEN", "127.0.0.1:0")
        .spawn()
        .await
        .expect("binary starts");
    let addr = agent.addr();

    let mut client = connect(addr).await;
    let d = describe(&mut client).await;
    assert_eq!(d.exchange_id, 1);
    assert_eq!(d.exchange_name, "binance");
    assert_eq!(d.adapter, "paper");
    assert_eq!(d.region, "ap-northeast-1");
    assert_eq!(d.protocol_versions, vec![1]);
    assert_eq!(d.mode, pb::ExecutionMode::Sequential as i32);
    assert_eq!(d.orders_sent, 0);

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let h = health
        .check(HealthCheckRequest {
            service: "wavegate.v1.ExchangeAgent".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(h.status, ServingStatus::Serving as i32);

    // SIGTERM → graceful exit with success.
    let status = agent.terminate().await.expect("stops on SIGTERM");
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        agent.log_text()
    );
}

//! The agent over TLS with real certificates made here: mutual TLS accepts a client with a
//! certificate from the configured CA (Describe and a small wave), and refuses a client without
//! a certificate, one whose certificate comes from another CA, and a plaintext client. Missing
//! files stop start-up with an error naming the key and the path.

use std::path::{Path, PathBuf};

use crate::support::*;
use tonic::transport::{ClientTlsConfig, Endpoint};
use wavegate_agent::config::AgentTls;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::exchange_agent_client::ExchangeAgentClient;
use wavegate_tests::tls::TestCa;

/// A paper agent served with mutual TLS by `ca`'s server certificate.
async fn mtls_agent(dir: &Path, ca: &TestCa) -> wavegate_agent::AgentHandle {
    let (cert, key) = ca.issue("agent", true);
    let mut cfg = config(dir, 1, "binance");
    cfg.tls = Some(AgentTls {
        cert,
        key,
        client_ca: Some(ca.path()),
    });
    wavegate_agent::spawn(cfg).await.expect("agent starts")
}

/// Connects with `tls` and calls `Describe`; the error text when the connection or the call
/// fails. (With TLS 1.3 the server refuses a client certificate after the client considers
/// the handshake done, so the refusal may surface on the first call rather than on connect.)
async fn describe(
    addr: std::net::SocketAddr,
    tls: Option<ClientTlsConfig>,
) -> Result<pb::DescribeResponse, String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://127.0.0.1:{}", addr.port()))
        .map_err(|e| e.to_string())?;
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
    }
    let call = async {
        let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
        ExchangeAgentClient::new(channel)
            .describe(pb::DescribeRequest {})
            .await
            .map(|r| r.into_inner())
            .map_err(|s| format!("{s:?}"))
    };
    tokio::time::timeout(GUARD, call)
        .await
        .expect("a refused handshake must end, not hang")
}

/// The call failed in the transport (the handshake or the connection), not with a status the
/// agent's service returned. The TLS alert naming the reason reaches the client only when it
/// reads it before the server closes the connection, so it is accepted but not required.
fn assert_refused(e: &str, alert: &str) {
    let transport = e.contains("transport error") || e.contains("Transport");
    assert!(transport, "not refused at the transport level: {e}");
    if !alert.is_empty() && e.contains("fatal alert") {
        assert!(e.contains(alert), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_with_the_right_client_cert_describes_and_runs_a_wave() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "good");
    let agent = mtls_agent(dir.path(), &ca).await;
    let client_id = ca.issue("coordinator", false);

    let d = describe(agent.local_addr(), Some(ca.client(Some(&client_id))))
        .await
        .expect("describe over mTLS");
    assert_eq!(d.exchange_id, 1);
    assert_eq!(d.adapter, "paper");

    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{}", agent.local_addr().port()))
        .unwrap()
        .tls_config(ca.client(Some(&client_id)))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ExchangeAgentClient::new(channel);
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    let run = drive(
        &mut client,
        start_msg("TLS1", 1, 2, 3, 3),
        &all,
        Drive::default(),
    )
    .await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(run.executed_ids(), vec![1, 2]);
    assert!(run.stats().target_reached);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_no_cert_other_ca_and_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "good");
    let agent = mtls_agent(dir.path(), &ca).await;
    let addr = agent.local_addr();

    // Trusts the server but presents no certificate.
    let e = describe(addr, Some(ca.client(None))).await.unwrap_err();
    assert_refused(&e, "CertificateRequired");

    // A certificate from another CA (the client still trusts the agent's CA).
    let other = TestCa::new(dir.path(), "other");
    let foreign = other.issue("intruder", false);
    let e = describe(addr, Some(ca.client(Some(&foreign))))
        .await
        .unwrap_err();
    assert_refused(&e, "UnknownCA");

    // Plaintext HTTP/2 to a TLS port.
    let e = describe(addr, None).await.unwrap_err();
    assert_refused(&e, "");

    // The agent is still serving a client that does it right.
    let good = ca.issue("coordinator", false);
    describe(addr, Some(ca.client(Some(&good))))
        .await
        .expect("a good client still gets through");
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_only_tls_accepts_a_client_without_cert_and_client_checks_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "good");
    let (cert, key) = ca.issue("agent", true);
    let mut cfg = config(dir.path(), 2, "bybit");
    cfg.tls = Some(AgentTls {
        cert,
        key,
        client_ca: None,
    });
    let agent = wavegate_agent::spawn(cfg).await.expect("agent starts");
    let d = describe(agent.local_addr(), Some(ca.client(None)))
        .await
        .expect("server-only TLS");
    assert_eq!(d.exchange_id, 2);
    // A client that trusts another CA refuses the agent's certificate.
    let other = TestCa::new(dir.path(), "other");
    let e = describe(agent.local_addr(), Some(other.client(None)))
        .await
        .unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");
    agent.shutdown().await;
}

#[tokio::test]
async fn missing_files_stop_start_up_naming_key_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "good");
    let (cert, key) = ca.issue("agent", true);
    let missing = dir.path().join("nowhere.pem");
    let cases = [
        ("tls.cert", missing.clone(), key.clone(), None),
        ("tls.key", cert.clone(), missing.clone(), None),
        (
            "tls.client_ca",
            cert.clone(),
            key.clone(),
            Some(missing.clone()),
        ),
    ];
    for (name, cert, key, client_ca) in cases {
        let mut cfg = config(dir.path(), 1, "binance");
        cfg.tls = Some(AgentTls {
            cert,
            key,
            client_ca,
        });
        let e = match wavegate_agent::spawn(cfg).await {
            Ok(_) => panic!("{name}: agent started with a missing file"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(name), "{name}: {e}");
        assert!(e.contains("nowhere.pem"), "{name}: {e}");
    }
    // A key that does not parse: refused, and its contents are not echoed.
    let bad_key = dir.path().join("bad.key");
    std::fs::write(
        &bad_key,
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.tls = Some(AgentTls {
        cert: cert.clone(),
        key: bad_key,
        client_ca: None,
    });
    let e = match wavegate_agent::spawn(cfg).await {
        Ok(_) => panic!("agent started with a bad key"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("tls"), "{e}");
    assert!(!e.contains("c2VjcmV0LWtleQ"), "{e}");
    // A key that is not the certificate's: refused at start-up, not at the first handshake.
    let (other_cert, other_key) = ca.issue("other-agent", true);
    assert_ne!(other_cert, cert);
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.tls = Some(AgentTls {
        cert,
        key: other_key,
        client_ca: None,
    });
    let e = match wavegate_agent::spawn(cfg).await {
        Ok(_) => panic!("agent started with a key that does not match its certificate"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("tls"), "{e}");
}

#[test]
fn example_tls_table_and_env_overrides_load() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("agent.example.toml");
    let text = std::fs::read_to_string(example).unwrap();
    // The example documents [tls] commented out: enabled, it must parse as written.
    let enabled: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if rest == "[tls]"
                    || rest.starts_with("cert =")
                    || rest.starts_with("key =")
                    || rest.starts_with("client_ca =") =>
            {
                rest
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let cfg = wavegate_agent::AgentConfig::from_toml(&enabled).unwrap();
    let tls = cfg.tls.expect("[tls] enabled");
    assert_eq!(tls.cert, PathBuf::from("/etc/wavegate/tls/agent.pem"));
    assert_eq!(
        tls.client_ca,
        Some(PathBuf::from("/etc/wavegate/tls/ca.pem"))
    );
    assert!(tls.mutual());

    let env = |cert: bool, key: bool| {
        move |k: &str| match k {
            "WAVEGATE_AGENT_EXCHANGE_ID" => Some("1".into()),
            "WAVEGATE_AGENT_EXCHANGE_NAME" => Some("binance".into()),
            "WAVEGATE_AGENT_TLS_CERT" if cert => Some("a.pem".into()),
            "WAVEGATE_AGENT_TLS_KEY" if key => Some("a.key".into()),
            _ => None,
        }
    };
    let cfg = wavegate_agent::AgentConfig::load_with_env(None, env(true, true)).unwrap();
    let tls = cfg.tls.expect("env turns TLS on");
    assert!(!tls.mutual());
    assert_eq!((tls.cert, tls.key), ("a.pem".into(), "a.key".into()));

    // Only a cert: validation names the missing key.
    let e = wavegate_agent::AgentConfig::load_with_env(None, env(true, false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("tls.key"), "{e}");
}

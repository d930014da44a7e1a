//! End-to-end over TLS (docs/design.md §3): a real coordinator serving its public API over TLS and two
//! real paper agents requiring mutual TLS, with certificates made here. The real `wavegate`
//! CLI publishes the worked example with `--ca-cert` and the wave completes exactly as over
//! plaintext; the CLI without the CA, or in plaintext, is refused.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::process::Command;
use wavegate_common::time::floor_to_interval;
use wavegate_tests::tls::TestCa;
use wavegate_tests::worked_example as we;
use wavegate_tests::{Proc, binary};

/// Failure guard only.
const GUARD: Duration = Duration::from_secs(120);

/// A paper agent requiring mutual TLS with certificates from `ca`.
async fn start_agent(dir: &Path, ca: &TestCa, id: u32, name: &str, open: &str, fail: &str) -> Proc {
    // Any free port: the agent announces the one it bound.
    let port = 0;
    let (cert, key) = ca.issue(&format!("agent-{name}"), true);
    let toml = format!(
        "listen = \"127.0.0.1:{port}\"\nexchange_id = {id}\nexchange_name = \"{name}\"\n\
         region = \"test\"\njournal = \"{journal}\"\nmetrics_listen = \"off\"\n\
         [rate_limit]\norders_per_second = 1000\nburst = 1000\n\
         [adapter]\nkind = \"paper\"\n[adapter.paper]\nopen_positions = [{open}]\n\
         [faults]\nexec_fail = [{fail}]\n\
         [tls]\ncert = \"{cert}\"\nkey = \"{key}\"\nclient_ca = \"{ca}\"\n",
        journal = dir.join(format!("agent-{id}.db")).display(),
        cert = cert.display(),
        key = key.display(),
        ca = ca.path().display(),
    );
    // The health check itself needs a client certificate: the port is mutual TLS only.
    let probe = ca.issue(&format!("probe-{name}"), false);
    Proc::builder("wavegate-agent", dir)
        .config(&toml)
        .tls(ca.client(Some(&probe)))
        .spawn()
        .await
        .unwrap()
}

/// Runs the real CLI against `coordinator` with extra global flags.
async fn wavegate(coordinator: &str, flags: &[&str], args: &[&str]) -> Output {
    let run = Command::new(binary("wavegate"))
        .arg("--coordinator")
        .arg(coordinator)
        .args(flags)
        .args(args)
        .env_remove("WAVEGATE_TOKEN")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(GUARD, run)
        .await
        .expect("wavegate did not finish within the guard")
        .expect("wavegate could not be started")
}

fn out(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The worked example of docs/design.md §1 at wave `ts` as the CLI's JSON input: Binance 9 signals
/// (max_trades 6), Bybit 7 (max_trades 4).
fn worked_example(ts: DateTime<Utc>) -> Value {
    let wave = ts.to_rfc3339_opts(SecondsFormat::Secs, true);
    let created = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut v = Vec::new();
    for (exchange, base_id, max_trades, symbols) in [
        (1, 101, we::BINANCE_MAX_TRADES, &we::BINANCE_SYMBOLS[..]),
        (2, 201, we::BYBIT_MAX_TRADES, &we::BYBIT_SYMBOLS[..]),
    ] {
        for (i, s) in symbols.iter().enumerate() {
            let mut sig = json!({
                "id": base_id + i as i64, "symbol": s, "exchange_id": exchange, "action": "BUY",
                "score_week": 90.0 - i as f64, "score_month": 80.0 - i as f64,
                "wave_timestamp": wave, "created_at": created,
            });
            if i == 0 {
                sig["params"] = json!({"max_trades": max_trades, "stop_loss_percent": 4.0});
            }
            v.push(sig);
        }
    }
    Value::Array(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_publishes_over_tls_and_the_wave_completes_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "wavegate");
    let open = format!("\"{}\"", we::BINANCE_OPEN_POSITION);
    let fail = format!("\"{}\"", we::BINANCE_EXEC_FAIL);
    let binance = start_agent(dir.path(), &ca, 1, "binance", &open, &fail).await;
    let bybit = start_agent(dir.path(), &ca, 2, "bybit", "", "").await;

    let (cert, key) = ca.issue("coordinator", true);
    let (client_cert, client_key) = ca.issue("coordinator-client", false);
    let port = 0;
    let toml = format!(
        "listen = \"127.0.0.1:{port}\"\ndatabase_url = \"sqlite://{db}?mode=rwc\"\n\
         [waves]\nquiet_secs = 3\n[dispatch]\nretries = 2\nconnect_timeout_ms = 2000\n\
         [tls]\ncert = \"{cert}\"\nkey = \"{key}\"\n\
         [agent_tls]\nca = \"{ca}\"\ncert = \"{client_cert}\"\nkey = \"{client_key}\"\n\
         [[exchanges]]\nid = 1\nname = \"binance\"\nagent = \"https://{a1}\"\n\
         [[exchanges]]\nid = 2\nname = \"bybit\"\nagent = \"https://{a2}\"\n",
        db = dir.path().join("coordinator.db").display(),
        cert = cert.display(),
        key = key.display(),
        ca = ca.path().display(),
        client_cert = client_cert.display(),
        client_key = client_key.display(),
        a1 = binance.addr(),
        a2 = bybit.addr(),
    );
    let coordinator = Proc::builder("wavegate-coordinator", dir.path())
        .config(&toml)
        .tls(ca.client(None))
        .spawn()
        .await
        .unwrap();
    let url = coordinator.endpoint();
    let ca_flag = ca.path().display().to_string();
    let with_ca = ["--ca-cert", ca_flag.as_str()];

    // A current wave (the coordinator refuses waves older than max_wave_age).
    let ts = floor_to_interval(Utc::now(), 900);
    let wave_id = ts.to_rfc3339_opts(SecondsFormat::Secs, true);
    let file = dir.path().join("wave.json");
    std::fs::write(&file, worked_example(ts).to_string()).unwrap();
    let file = file.display().to_string();

    // Without the CA the CLI refuses an https:// coordinator before sending anything; in
    // plaintext the TLS port does not answer gRPC. Neither publishes a signal.
    let o = wavegate(&url, &[], &["publish", &file]).await;
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--ca-cert"),
        "{}",
        out(&o)
    );
    let plain = format!("http://{}", coordinator.addr());
    let o = wavegate(&plain, &[], &["publish", &file]).await;
    assert_ne!(o.status.code(), Some(0), "{}", out(&o));

    let o = wavegate(&url, &with_ca, &["publish", &file, "--close"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("accepted 16, rejected 0"),
        "{}",
        out(&o)
    );

    // `watch` returns once the wave is done.
    let o = wavegate(&url, &with_ca, &["watch", &wave_id]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = wavegate(&url, &with_ca, &["waves", "show", &wave_id, "--json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let w: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", out(&o)));
    assert_eq!(
        w["status"],
        "completed",
        "{w}\n--- coordinator ---\n{}",
        coordinator.log_text()
    );
    let b = &w["exchanges"]["1"];
    assert_eq!(
        (&b["executed"], &b["execution_failed"], &b["duplicates"]),
        (&Value::from(6), &Value::from(1), &Value::from(2)),
        "{b}"
    );
    assert_eq!(b["buffer_saved_us"], true, "{b}");
    let y = &w["exchanges"]["2"];
    assert_eq!(
        (&y["executed"], &y["duplicates"]),
        (&Value::from(4), &Value::from(1)),
        "{y}"
    );
    assert_eq!(w["totals"]["total_executed"], 10, "{w}");

    // Agents.List: the coordinator reaches both agents over mutual TLS.
    let o = wavegate(&url, &with_ca, &["agents", "--json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", out(&o)));
    for a in v.as_array().expect("a list of agents") {
        assert_eq!(a["state"], "ready", "{v}");
    }
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");

    // Both agents served only mutual TLS (their start-up line says so).
    for agent in [&binance, &bybit] {
        assert!(agent.log_text().contains("mutual"), "{}", agent.log_text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_without_a_client_cert_cannot_reach_mutual_tls_agents() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "wavegate");
    let agent = start_agent(dir.path(), &ca, 1, "binance", "", "").await;
    let port = 0;
    // [agent_tls] trusts the agents' CA but has no identity to present: every call is refused.
    let toml = format!(
        "listen = \"127.0.0.1:{port}\"\ndatabase_url = \"sqlite://{db}?mode=rwc\"\n\
         [waves]\nquiet_secs = 3\n[dispatch]\nretries = 1\nconnect_timeout_ms = 2000\n\
         [agent_tls]\nca = \"{ca}\"\n\
         [[exchanges]]\nid = 1\nname = \"binance\"\nagent = \"https://{a1}\"\n\
         default_max_trades = 2\n",
        db = dir.path().join("coordinator.db").display(),
        ca = ca.path().display(),
        a1 = agent.addr(),
    );
    // This coordinator serves plaintext (no [tls]).
    let coordinator = Proc::spawn("wavegate-coordinator", &toml, dir.path())
        .await
        .unwrap();
    let url = coordinator.endpoint();
    let deadline = tokio::time::Instant::now() + GUARD;
    let o = loop {
        let o = wavegate(&url, &[], &["agents", "--json"]).await;
        // Exit 1 once the agent's probe failed: an agent is unreachable.
        if o.status.code() == Some(1) || tokio::time::Instant::now() > deadline {
            break o;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unreachable agent(s): binance"),
        "{}",
        out(&o)
    );
    // Agents.List calls Describe: the agent refuses the handshake, so it is unreachable.
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", out(&o)));
    assert_eq!(v[0]["state"], "unreachable", "{v}");
    assert!(v[0]["error"].is_string(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_api_with_client_ca_needs_the_clis_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "wavegate");
    let (cert, key) = ca.issue("coordinator", true);
    let port = 0;
    let toml = format!(
        "listen = \"127.0.0.1:{port}\"\ndatabase_url = \"sqlite://{db}?mode=rwc\"\n\
         [tls]\ncert = \"{cert}\"\nkey = \"{key}\"\nclient_ca = \"{ca}\"\n\
         [[exchanges]]\nid = 1\nname = \"binance\"\n",
        db = dir.path().join("coordinator.db").display(),
        cert = cert.display(),
        key = key.display(),
        ca = ca.path().display(),
    );
    let producer = ca.issue("producer", false);
    let coordinator = Proc::builder("wavegate-coordinator", dir.path())
        .config(&toml)
        .tls(ca.client(Some(&producer)))
        .spawn()
        .await
        .unwrap();
    let url = coordinator.endpoint();
    let ca_path = ca.path().display().to_string();
    let (c, k) = (
        producer.0.display().to_string(),
        producer.1.display().to_string(),
    );

    // The CA alone is not enough: the handshake is refused, so the coordinator is unreachable
    // or the call fails; either way not a success.
    let o = wavegate(&url, &["--ca-cert", &ca_path], &["agents", "--json"]).await;
    assert_ne!(o.status.code(), Some(0), "{}", out(&o));

    let flags = [
        "--ca-cert",
        &ca_path,
        "--client-cert",
        &c,
        "--client-key",
        &k,
    ];
    let o = wavegate(&url, &flags, &["agents", "--json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", out(&o)));
    assert_eq!(v[0]["exchange_name"], "binance", "{v}");
}

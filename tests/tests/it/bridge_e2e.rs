//! End-to-end: the reference bot's signal server (the fake in `wavegate_tests::signal_server`)
//! → `wavegate bridge` → `wavegate-coordinator` → paper `wavegate-agent`s, all real processes
//! on loopback. A wave executes; a bridge killed (SIGKILL) and restarted mid-wave loses and
//! duplicates nothing; the bridge survives refused tokens, silence, dropped connections,
//! malformed and oversize messages and bad records, and the wave completes.
//!
//! The bridge runs with short ping, pong and backoff timings, so a reconnect takes well under
//! a second. Only the first test lets its wave close on its own after the quiet period, as in
//! production; the others close the wave themselves once every signal is stored ([`close`]),
//! with a quiet period ([`HELD`]) that never runs out within the test, so that a slow restart
//! on a loaded machine cannot close the wave early and no test waits for the quiet period.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::{to_proto, wave_id};
use wavegate_tests::Proc;
use wavegate_tests::signal_server::{SignalServer, record};
use wavegate_tests::tls::TestCa;

use crate::coordinator_support::{
    GUARD, PaperAgent, describe, ingest, start_agent, wave_ts, waves,
};

const TOKEN: &str = "feed-token-7f3a";

/// A `wavegate bridge` process, killed when dropped; its log goes to a file.
struct Bridge {
    proc: Proc,
}

impl Bridge {
    async fn start(dir: &Path, server: &SignalServer, coordinator: &Proc) -> Self {
        Self::start_with(dir, server, coordinator, &[]).await
    }

    /// [`Bridge::start`] with `extra` bridge arguments.
    async fn start_with(
        dir: &Path,
        server: &SignalServer,
        coordinator: &Proc,
        extra: &[&str],
    ) -> Self {
        let token_file = dir.join("signal-token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        let args: Vec<String> = [
            "--coordinator",
            &coordinator.endpoint(),
            "bridge",
            "--url",
            &server.url(),
            "--token-file",
            token_file.to_str().unwrap(),
            "--ping-interval-ms",
            "200",
            "--pong-timeout-ms",
            "600",
            "--backoff-min-ms",
            "50",
            "--backoff-max-ms",
            "200",
            "--max-message-bytes",
            "65536",
            "--metrics-listen",
            "127.0.0.1:0",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
        let proc = Proc::builder("wavegate", dir)
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("WAVEGATE_TOKEN")
            .no_wait()
            .spawn()
            .await
            .unwrap();
        Bridge { proc }
    }

    /// Starts the bridge again with the same arguments.
    async fn restart(&mut self) {
        self.proc.restart().await.unwrap();
    }

    /// SIGKILL, as a crash would.
    async fn kill(&mut self) {
        self.proc.kill().await;
    }

    fn alive(&mut self) -> bool {
        self.proc.alive()
    }

    fn log(&self) -> String {
        self.proc.log_text()
    }

    /// The `/metrics` text (HTTP/1.0 over a plain socket) from the address the bridge
    /// announced (it binds port 0).
    async fn metrics(&self) -> String {
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Some(a) = self.proc.metrics_addr() {
                    return a;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the bridge announced no metrics address");
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }
}

/// The value of the first metric line starting with `prefix` (0 when absent).
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Quiet period of a wave whose whole window comes in one push: it closes on its own soon
/// after, as behind a bridge in production.
const ONE_PUSH: u32 = 2;

/// Quiet period of a wave the test closes itself ([`close`]): far beyond the test's guard, so
/// the wave stays open however long a bridge restart or reconnect takes.
const HELD: u32 = 600;

/// Paper agents for Binance (1) and Bybit (2) and a coordinator dispatching to them, with a
/// wave quiet period of `quiet_secs`.
async fn cluster(dir: &Path, quiet_secs: u32) -> (Proc, Proc, Proc) {
    let agent = |exchange_id, name| PaperAgent {
        exchange_id,
        name,
        ..Default::default()
    };
    let (binance, bybit) = (agent(1, "binance"), agent(2, "bybit"));
    let (binance, bybit) = tokio::join!(start_agent(dir, &binance), start_agent(dir, &bybit));
    // Any free port: the coordinator announces the one it bound.
    let port = 0;
    let db = dir.join("coordinator.db");
    let toml = format!(
        "listen = \"127.0.0.1:{port}\"\ndatabase_url = \"sqlite://{}?mode=rwc\"\nnode_id = \"bridge-e2e\"\n\
         metrics_listen = \"off\"\n[waves]\nquiet_secs = {quiet_secs}\n\
         [[exchanges]]\nid = 1\nname = \"binance\"\nagent = \"{}\"\n\
         [[exchanges]]\nid = 2\nname = \"bybit\"\nagent = \"{}\"\n",
        db.display(),
        binance.endpoint(),
        bybit.endpoint()
    );
    let coord = Proc::spawn("wavegate-coordinator", &toml, dir)
        .await
        .unwrap();
    (coord, binance, bybit)
}

/// Records of candle `ts`: `ids` on Binance (max_trades 3) as computed now.
fn records(ts: DateTime<Utc>, ids: std::ops::Range<i64>) -> Vec<Value> {
    let symbols = [
        "SKLUSDT", "ONDOUSDT", "ARBUSDT", "OPUSDT", "INJUSDT", "SEIUSDT", "TIAUSDT", "APTUSDT",
    ];
    ids.map(|id| {
        let sym = symbols[usize::try_from(id).unwrap() % symbols.len()];
        record(id, sym, 1, 90.0 - id as f64, 70.0, ts, Utc::now(), 3)
    })
    .collect()
}

async fn wave(coord: &Proc, ts: DateTime<Utc>) -> Option<pb::WaveDetail> {
    waves(coord)
        .await
        .get(pb::GetWaveRequest {
            wave_id: wave_id(ts),
        })
        .await
        .ok()
        .map(tonic::Response::into_inner)
}

/// Waits until `check` holds for the wave (failure guard only).
async fn wait_wave(
    coord: &Proc,
    ts: DateTime<Utc>,
    what: &str,
    check: impl Fn(&pb::WaveDetail) -> bool,
) -> pb::WaveDetail {
    tokio::time::timeout(GUARD, async {
        loop {
            if let Some(d) = wave(coord, ts).await
                && check(&d)
            {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("wave {}: {what} did not happen", wave_id(ts)))
}

/// Closes the wave, as a producer that has sent all of it would.
async fn close(coord: &Proc, ts: DateTime<Utc>) {
    let summary = ingest(coord)
        .await
        .publish_wave(pb::Wave {
            wave_timestamp: Some(to_proto(ts)),
            signals: Vec::new(),
            close: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.closed_wave_ids, [wave_id(ts)], "{summary:?}");
}

fn count(d: &pb::WaveDetail) -> u32 {
    d.summary.as_ref().map_or(0, |s| s.signal_count)
}

fn finished(d: &pb::WaveDetail) -> bool {
    d.summary
        .as_ref()
        .is_some_and(|s| s.status >= pb::WaveStatus::Completed as i32)
}

/// The wave completed with `signals` signals; Binance opened exactly 3 positions, no symbol
/// twice, and the paper exchange holds exactly those.
async fn assert_executed_once(coord: &Proc, binance: &Proc, ts: DateTime<Utc>, signals: u32) {
    let d = wait_wave(coord, ts, "completion", finished).await;
    let s = d.summary.as_ref().unwrap();
    assert_eq!(s.status, pb::WaveStatus::Completed as i32, "{d:?}");
    assert_eq!(s.signal_count, signals, "{d:?}");
    let b = d.exchanges.iter().find(|e| e.exchange_id == 1).unwrap();
    assert_eq!((b.executed, b.target), (3, 3), "{b:?}");
    let mut open = describe(binance).await.open_positions;
    open.sort();
    let before = open.len();
    open.dedup();
    assert_eq!((before, open.len()), (3, 3), "{open:?}");
}

#[tokio::test]
async fn bridge_relays_the_feed_and_a_wave_executes_despite_bad_messages() {
    let dir = tempfile::tempdir().unwrap();
    let (coord, binance, _bybit) = cluster(dir.path(), ONE_PUSH).await;
    let server = SignalServer::start(TOKEN, Duration::from_millis(200))
        .await
        .unwrap();
    let ts = wave_ts();
    let mut window = records(ts, 1..7);
    // A record the bridge must refuse (counted, logged) without stopping.
    let mut bad = records(ts, 7..8).remove(0);
    bad["recommended_action"] = Value::from("HOLD");
    window.push(bad);
    server.set_window(window);
    let mut bridge = Bridge::start(dir.path(), &server, &coord).await;
    wait_wave(&coord, ts, "6 signals stored", |d| count(d) == 6).await;
    // Malformed and oversize messages mid-stream: counted, never fatal (an oversize message
    // costs the connection, which is opened again).
    server.send_raw("{not json".into());
    server.send_raw(r#"{"type":"signals","data":"nope"}"#.into());
    server.send_raw(format!(
        r#"{{"type":"noise","pad":"{}"}}"#,
        "x".repeat(100_000)
    ));
    assert_executed_once(&coord, &binance, ts, 6).await;
    let m = tokio::time::timeout(GUARD, async {
        loop {
            let m = bridge.metrics().await;
            if metric(
                &m,
                "wavegate_bridge_bad_messages_total{reason=\"oversize\"}",
            ) >= 1.0
            {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the oversize message was not counted");
    assert!(bridge.alive(), "{}", bridge.log());
    assert_eq!(
        metric(
            &m,
            "wavegate_bridge_signals_total{reason=\"\",result=\"relayed\"}"
        ),
        6.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "wavegate_bridge_signals_total{reason=\"\",result=\"repeat\"}"
        ) >= 6.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "wavegate_bridge_signals_total{reason=\"recommended_action\",result=\"invalid\"}"
        ) >= 1.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "wavegate_bridge_bad_messages_total{reason=\"not_json\"}"
        ) >= 1.0,
        "{m}"
    );
    assert!(
        metric(&m, "wavegate_bridge_bad_messages_total{reason=\"no_data\"}") >= 1.0,
        "{m}"
    );
    assert!(
        server.authenticated() >= 2,
        "the bridge did not reconnect after the oversize message"
    );
    // The token never reaches the log.
    assert!(!bridge.log().contains(TOKEN), "{}", bridge.log());
}

#[tokio::test]
async fn bridge_killed_and_restarted_mid_wave_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (coord, binance, _bybit) = cluster(dir.path(), HELD).await;
    let server = SignalServer::start(TOKEN, Duration::from_millis(200))
        .await
        .unwrap();
    let ts = wave_ts();
    server.set_window(records(ts, 1..4));
    let mut bridge = Bridge::start(dir.path(), &server, &coord).await;
    wait_wave(&coord, ts, "the first 3 signals stored", |d| count(d) == 3).await;
    bridge.kill().await;
    // The server computes more signals of the candle while the bridge is down; its next
    // pushes carry the whole window, the first three again.
    server.set_window(records(ts, 1..8));
    bridge.restart().await;
    wait_wave(&coord, ts, "all 7 signals stored", |d| count(d) == 7).await;
    close(&coord, ts).await;
    assert_executed_once(&coord, &binance, ts, 7).await;
    // The restarted bridge re-sent the first three (it had forgotten them); the coordinator
    // answered "stored already" and stored only the four new ones.
    let m = bridge.metrics().await;
    let result = |r: &str| {
        metric(
            &m,
            &format!("wavegate_bridge_signals_total{{reason=\"\",result=\"{r}\"}}"),
        )
    };
    assert_eq!(
        (result("already_stored"), result("relayed")),
        (3.0, 4.0),
        "{m}"
    );
}

/// Waits until `f` holds (failure guard only).
async fn until(what: &str, f: impl Fn() -> bool) {
    tokio::time::timeout(GUARD, async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} did not happen"));
}

#[tokio::test]
async fn bridge_rides_out_refused_tokens_silence_and_dropped_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (coord, binance, _bybit) = cluster(dir.path(), HELD).await;
    let server = SignalServer::start(TOKEN, Duration::from_millis(200))
        .await
        .unwrap();
    server.refuse_auth(true);
    let mut bridge = Bridge::start(dir.path(), &server, &coord).await;
    until("two refused tokens", || server.auth_failures() >= 2).await;
    server.refuse_auth(false);
    until("authentication", || server.authenticated() >= 1).await;
    // Silence: no pong within the timeout, so the bridge connects again.
    server.silence(true);
    let before = server.authenticated();
    until("a reconnect after silence", || {
        server.authenticated() > before
    })
    .await;
    server.silence(false);
    let ts = wave_ts();
    server.set_window(records(ts, 1..4));
    wait_wave(&coord, ts, "the first 3 signals stored", |d| count(d) == 3).await;
    // Dropped mid-stream; the bridge reconnects and the wave completes with the rest.
    let before = server.authenticated();
    server.set_window(records(ts, 1..8));
    server.drop_connections();
    until("a reconnect after the drop", || {
        server.authenticated() > before
    })
    .await;
    wait_wave(&coord, ts, "all 7 signals stored", |d| count(d) == 7).await;
    close(&coord, ts).await;
    assert_executed_once(&coord, &binance, ts, 7).await;
    assert!(bridge.alive(), "{}", bridge.log());
    let log = bridge.log();
    assert!(log.contains("signal server refused the token"), "{log}");
    assert!(log.contains("no answer to ping"), "{log}");
    assert!(!log.contains(TOKEN), "{log}");
}

#[tokio::test]
async fn bridge_relays_over_wss_trusting_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (coord, binance, _bybit) = cluster(dir.path(), HELD).await;
    let ca = TestCa::new(dir.path(), "feed");
    let (cert, key) = ca.issue("signals", true);
    let server = SignalServer::start_tls(TOKEN, Duration::from_millis(200), &cert, &key)
        .await
        .unwrap();
    assert!(server.url().starts_with("wss://"));
    let ts = wave_ts();
    server.set_window(records(ts, 1..5));
    let ca_path = ca.path();
    let bridge = Bridge::start_with(
        dir.path(),
        &server,
        &coord,
        &["--server-ca", ca_path.to_str().unwrap()],
    )
    .await;
    wait_wave(&coord, ts, "all 4 signals stored", |d| count(d) == 4).await;
    close(&coord, ts).await;
    assert_executed_once(&coord, &binance, ts, 4).await;
    assert!(!bridge.log().contains(TOKEN));
}

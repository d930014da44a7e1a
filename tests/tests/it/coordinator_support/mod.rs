//! Shared plumbing of the coordinator end-to-end tests: configs for the real coordinator and
//! paper agents, gRPC clients, the worked example of docs/design.md §1, fresh PostgreSQL databases.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tonic::transport::Channel;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::exchange_agent_client::ExchangeAgentClient;
use wavegate_common::proto::v1::signal_ingest_client::SignalIngestClient;
use wavegate_common::proto::v1::waves_client::WavesClient;
use wavegate_common::time::{floor_to_interval, to_proto};
use wavegate_tests::{Proc, worked_example};

/// Failure guard only.
pub const GUARD: Duration = Duration::from_secs(90);

/// One paper agent's script.
#[derive(Debug, Clone, Default)]
pub struct PaperAgent {
    pub exchange_id: u32,
    pub name: &'static str,
    pub open_positions: Vec<&'static str>,
    pub exec_fail: Vec<&'static str>,
    pub latency_ms: u64,
}

fn list(v: &[&str]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", items.join(", "))
}

/// Starts a paper agent process.
pub async fn start_agent(dir: &Path, a: &PaperAgent) -> Proc {
    // Any free port: the process announces the one it bound.
    let port = 0;
    let toml = format!(
        "listen = \"127.0.0.1:{port}\"\nexchange_id = {}\nexchange_name = \"{}\"\n\
         region = \"test\"\njournal = \"{}\"\nexecution_mode = \"sequential\"\n\
         metrics_listen = \"off\"\n\
         [rate_limit]\norders_per_second = 1000\nburst = 1000\n\
         [adapter]\nkind = \"paper\"\n[adapter.paper]\nlatency_ms = {}\n\
         open_positions = {}\n[faults]\nexec_fail = {}\n",
        a.exchange_id,
        a.name,
        dir.join(format!("agent-{}.db", a.exchange_id)).display(),
        a.latency_ms,
        list(&a.open_positions),
        list(&a.exec_fail),
    );
    Proc::spawn("wavegate-agent", &toml, dir).await.unwrap()
}

/// One `[[exchanges]]` entry.
pub struct Exchange<'a> {
    pub id: u32,
    pub name: &'a str,
    pub agent: Option<String>,
}

/// Config lines a test adds to the coordinator's; a key set here replaces the helper's own
/// line for it (e.g. a shorter `lease_secs`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tuning<'a> {
    /// Top-level keys, e.g. `storage_probe_interval_ms = 100`.
    pub top: &'a str,
    /// `[waves]` keys, e.g. a short `deadline_secs`.
    pub waves: &'a str,
    /// `[dispatch]` keys, e.g. a short `retry_backoff_max_ms`.
    pub dispatch: &'a str,
}

/// `defaults` without the lines whose key `extra` sets, then `extra`; one line per key.
fn table(defaults: &str, extra: &str) -> String {
    let key = |l: &str| l.split_once('=').map(|(k, _)| k.trim().to_owned());
    let set: Vec<String> = extra.lines().filter_map(key).collect();
    defaults
        .lines()
        .filter(|l| key(l).is_none_or(|k| !set.contains(&k)))
        .chain(extra.lines())
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Starts the coordinator process.
pub async fn start_coordinator(
    dir: &Path,
    database_url: &str,
    node_id: &str,
    exchanges: &[Exchange<'_>],
) -> Proc {
    start_coordinator_tuned(dir, database_url, node_id, exchanges, Tuning::default()).await
}

/// [`start_coordinator`] with `tuning`'s lines (e.g. a short deadline).
pub async fn start_coordinator_tuned(
    dir: &Path,
    database_url: &str,
    node_id: &str,
    exchanges: &[Exchange<'_>],
    tuning: Tuning<'_>,
) -> Proc {
    // Any free port: the process announces the one it bound.
    let port = 0;
    let top = format!(
        "listen = \"127.0.0.1:{port}\"\ndatabase_url = \"{database_url}\"\nnode_id = \"{node_id}\""
    );
    let mut toml = format!(
        "{}[waves]\n{}[dispatch]\n{}",
        table(&top, tuning.top),
        table("quiet_secs = 3", tuning.waves),
        table(
            "retries = 2\nconnect_timeout_ms = 500\nlease_secs = 6",
            tuning.dispatch
        ),
    );
    for e in exchanges {
        toml.push_str(&format!(
            "[[exchanges]]\nid = {}\nname = \"{}\"\n",
            e.id, e.name
        ));
        if let Some(a) = &e.agent {
            toml.push_str(&format!("agent = \"{a}\"\n"));
        }
    }
    Proc::spawn("wavegate-coordinator", &toml, dir)
        .await
        .unwrap()
}

/// The worked example's two paper agents (binance, bybit) with `latency_ms` per exchange call.
pub async fn start_worked_example_agents(dir: &Path, latency_ms: u64) -> (Proc, Proc) {
    let binance = PaperAgent {
        latency_ms,
        ..binance_agent()
    };
    let bybit = PaperAgent {
        latency_ms,
        ..bybit_agent()
    };
    (
        start_agent(dir, &binance).await,
        start_agent(dir, &bybit).await,
    )
}

/// A coordinator (node `e2e`) dispatching exchange 1 to `binance` and 2 to `bybit`.
pub async fn start_pair_coordinator(
    dir: &Path,
    database_url: &str,
    binance: &Proc,
    bybit: &Proc,
) -> Proc {
    start_pair_coordinator_as(dir, database_url, "e2e", binance, bybit).await
}

/// [`start_pair_coordinator`] with node id `node_id` (a second coordinator on one database).
pub async fn start_pair_coordinator_as(
    dir: &Path,
    database_url: &str,
    node_id: &str,
    binance: &Proc,
    bybit: &Proc,
) -> Proc {
    let tuning = Tuning::default();
    start_pair_coordinator_tuned(dir, database_url, node_id, binance, bybit, tuning).await
}

/// [`start_pair_coordinator_as`] with `tuning`'s lines.
pub async fn start_pair_coordinator_tuned(
    dir: &Path,
    database_url: &str,
    node_id: &str,
    binance: &Proc,
    bybit: &Proc,
    tuning: Tuning<'_>,
) -> Proc {
    let exchanges = [
        Exchange {
            id: 1,
            name: "binance",
            agent: Some(binance.endpoint()),
        },
        Exchange {
            id: 2,
            name: "bybit",
            agent: Some(bybit.endpoint()),
        },
    ];
    start_coordinator_tuned(dir, database_url, node_id, &exchanges, tuning).await
}

/// Publishes the worked example as the closed wave `ts`, returning the publish summary.
pub async fn publish_worked_example(coord: &Proc, ts: DateTime<Utc>) -> pb::PublishSummary {
    ingest(coord)
        .await
        .publish_wave(pb::Wave {
            wave_timestamp: Some(to_proto(ts)),
            signals: worked_example(ts),
            close: true,
        })
        .await
        .unwrap()
        .into_inner()
}

/// Starts watching wave `ts`, then publishes the worked example for it (closed); the watch
/// sees the wave from its start.
pub async fn publish_worked_example_watched(
    coord: &Proc,
    ts: DateTime<Utc>,
) -> tonic::Streaming<pb::WaveEvent> {
    let watch = waves(coord)
        .await
        .watch(pb::WatchRequest {
            wave_id: wavegate_common::time::wave_id(ts),
        })
        .await
        .unwrap()
        .into_inner();
    publish_worked_example(coord, ts).await;
    watch
}

pub async fn channel(endpoint: &str) -> Channel {
    Channel::from_shared(endpoint.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

pub async fn ingest(p: &Proc) -> SignalIngestClient<Channel> {
    SignalIngestClient::new(channel(&p.endpoint()).await)
}

pub async fn waves(p: &Proc) -> WavesClient<Channel> {
    WavesClient::new(channel(&p.endpoint()).await)
}

pub async fn describe(p: &Proc) -> pb::DescribeResponse {
    ExchangeAgentClient::new(channel(&p.endpoint()).await)
        .describe(pb::DescribeRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// The current candle's open time: a wave timestamp the coordinator accepts (aligned to the
/// interval, neither late nor ahead). Each test has its own database and agents.
pub fn wave_ts() -> DateTime<Utc> {
    floor_to_interval(Utc::now(), 900)
}

pub fn signal(
    id: i64,
    symbol: &str,
    exchange_id: u32,
    score: f64,
    ts: DateTime<Utc>,
    max_trades: Option<u32>,
) -> pb::Signal {
    pb::Signal {
        id,
        symbol: symbol.into(),
        exchange_id,
        action: pb::Action::Buy as i32,
        score_week: score,
        score_month: score,
        wave_timestamp: Some(to_proto(ts)),
        created_at: Some(to_proto(Utc::now())),
        params: max_trades.map(|m| pb::SignalParams {
            max_trades: Some(m),
            stop_loss_percent: Some(4.0),
            trailing_activation_percent: None,
            trailing_distance_percent: None,
            ..Default::default()
        }),
    }
}

/// Binance of the worked example: max_trades 6, 9 signals; ETHUSDT holds an open position,
/// BTCUSDT comes twice, BNBUSDT (the 3rd validated) fails to execute.
pub fn binance_agent() -> PaperAgent {
    PaperAgent {
        exchange_id: 1,
        name: "binance",
        open_positions: vec![worked_example::BINANCE_OPEN_POSITION],
        exec_fail: vec![worked_example::BINANCE_EXEC_FAIL],
        latency_ms: 0,
    }
}

/// Bybit of the worked example: max_trades 4, 7 signals, ETHUSDT twice.
pub fn bybit_agent() -> PaperAgent {
    PaperAgent {
        exchange_id: 2,
        name: "bybit",
        ..Default::default()
    }
}

pub use wavegate_tests::worked_example::{BINANCE_SYMBOLS, BYBIT_SYMBOLS};

/// The worked example's 16 signals, ranked by descending score within each exchange; the
/// first of each exchange carries its max_trades.
pub fn worked_example(ts: DateTime<Utc>) -> Vec<pb::Signal> {
    let mut v = Vec::new();
    for (i, s) in BINANCE_SYMBOLS.iter().enumerate() {
        let i = i as i64;
        v.push(signal(
            101 + i,
            s,
            1,
            90.0 - i as f64,
            ts,
            (i == 0).then_some(worked_example::BINANCE_MAX_TRADES),
        ));
    }
    for (i, s) in BYBIT_SYMBOLS.iter().enumerate() {
        let i = i as i64;
        v.push(signal(
            201 + i,
            s,
            2,
            80.0 - i as f64,
            ts,
            (i == 0).then_some(worked_example::BYBIT_MAX_TRADES),
        ));
    }
    v
}

/// Polls `Waves.Get` until the wave has a final status.
pub async fn finished(c: &mut WavesClient<Channel>, id: &str) -> pb::WaveDetail {
    tokio::time::timeout(GUARD, async {
        loop {
            if let Ok(d) = c.get(pb::GetWaveRequest { wave_id: id.into() }).await {
                let d = d.into_inner();
                if d.summary.as_ref().unwrap().status >= pb::WaveStatus::Completed as i32 {
                    return d;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the wave did not finish within the guard")
}

pub use wavegate_tests::db::TestDb;

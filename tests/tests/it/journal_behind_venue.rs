//! A journal behind the venue (issue 12, journal integrity), with the real agent binary
//! against the fake Binance and Bybit (their REST protocol: `wavegate_tests::fake_exchange`)
//! and on paper, driven over real gRPC as its coordinator would:
//! (a) a copy of the journal taken after wave 1 and put back after wave 2 — the venue holds
//!     wave 2's positions, which the copy does not know — refuses every wave
//!     (`ExecuteWave` `FAILED_PRECONDITION` naming them, health `NOT_SERVING`) and sends
//!     nothing, until the operator confirms with `--confirm-new-journal`;
//! (b) an empty journal on an account with open positions is refused the same way.
//! On paper the exchange's book lives in the journal file, so a restored copy brings its
//! exchange along: nothing to refuse.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agent_msg::Msg as Out;
use wavegate_common::proto::v1::coordinator_msg::Msg as In;
use wavegate_common::proto::v1::exchange_agent_client::ExchangeAgentClient;
use wavegate_tests::Proc;
use wavegate_tests::fake_exchange::{FakeBinance, FakeBybit, FakeServer, Instrument, World};

use crate::coordinator_support::*;

const KEY: &str = "wg-e2e-api-key-31b7";
const SECRET: &str = "wg-e2e-secret-9d2c4a";
const SYMBOLS: [&str; 6] = [
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
];

#[derive(Clone, Copy, Debug)]
enum Venue {
    Binance,
    Bybit,
}

impl Venue {
    fn name(self) -> &'static str {
        match self {
            Venue::Binance => "binance",
            Venue::Bybit => "bybit",
        }
    }

    fn id(self) -> u32 {
        match self {
            Venue::Binance => 1,
            Venue::Bybit => 2,
        }
    }

    async fn start(self, world: World) -> FakeServer {
        match self {
            Venue::Binance => FakeBinance::start(world).await,
            Venue::Bybit => FakeBybit::start(world).await,
        }
        .expect("fake venue starts")
    }
}

/// The fake's instruments: steps and ticks as the venues' USDⓈ-M / linear contracts.
fn world() -> World {
    let i = |sym: &str, price: &str, step: &str, tick: &str| {
        Instrument::new(sym, price)
            .step(step)
            .min_qty(step)
            .tick(tick)
            .min_notional("5")
    };
    World::new(KEY, SECRET)
        .instrument(i("BTCUSDT", "60000", "0.001", "0.1"))
        .instrument(i("ETHUSDT", "3000", "0.01", "0.01"))
        .instrument(i("SOLUSDT", "150", "0.1", "0.01"))
        .instrument(i("XRPUSDT", "0.6", "0.1", "0.0001"))
        .instrument(i("ADAUSDT", "0.4", "1", "0.0001"))
        .instrument(i("DOGEUSDT", "0.12", "1", "0.00001"))
}

/// The agent's config for `venue` at `base_url`, its journal at `journal`.
fn live_toml(dir: &Path, venue: Venue, base_url: &str, journal: &Path) -> String {
    let secret = dir.join("api.secret");
    std::fs::write(&secret, SECRET).unwrap();
    format!(
        "listen = \"127.0.0.1:{}\"\nexchange_id = {}\nexchange_name = \"{}\"\n\
         journal = \"{}\"\nmetrics_listen = \"off\"\n\
         [rate_limit]\norders_per_second = 1000\nburst = 1000\n\
         [adapter]\nkind = \"{}\"\n[adapter.{}]\nbase_url = \"{base_url}\"\n\
         api_key = \"{KEY}\"\napi_secret_file = \"{}\"\n",
        0, // any free port: the agent announces it
        venue.id(),
        venue.name(),
        journal.display(),
        venue.name(),
        venue.name(),
        secret.display(),
    )
}

fn msg(m: In) -> pb::CoordinatorMsg {
    pb::CoordinatorMsg { msg: Some(m) }
}

/// One wave of `symbols` (all to be executed) as the coordinator streams it; the agent's
/// final `Result`, or the status it refused the call with.
async fn wave(
    agent: &Proc,
    exchange_id: u32,
    id: &str,
    first_signal: i64,
    symbols: &[&str],
) -> Result<pb::Result, tonic::Status> {
    let ts = wave_ts();
    let signals: Vec<pb::Signal> = symbols
        .iter()
        .enumerate()
        .map(|(k, s)| {
            signal(
                first_signal + k as i64,
                s,
                exchange_id,
                90.0 - k as f64,
                ts,
                None,
            )
        })
        .collect();
    let n = signals.len() as u32;
    let (tx, rx) = mpsc::channel(4);
    tx.send(msg(In::Start(pb::Start {
        protocol_version: 1,
        wave_id: id.into(),
        params: Some(pb::ExchangeParams {
            exchange_id,
            max_trades: n,
            buffer_size: n,
            stop_loss_percent: Some(4.0),
            source: pb::ParamsSource::Db as i32,
            ..Default::default()
        }),
        total_signals: n,
        ..Default::default()
    })))
    .await
    .unwrap();
    tx.send(msg(In::Batch(pb::SignalBatch {
        round: 0,
        first_index: 0,
        signals,
        wave_id: id.into(),
    })))
    .await
    .unwrap();
    let mut client = ExchangeAgentClient::new(channel(&agent.endpoint()).await);
    let mut stream = client
        .execute_wave(ReceiverStream::new(rx))
        .await?
        .into_inner();
    let result = tokio::time::timeout(GUARD, async {
        while let Some(m) = stream.message().await? {
            if let Some(Out::Result(r)) = m.msg {
                return Ok(r);
            }
        }
        Err(tonic::Status::aborted("stream ended without a Result"))
    })
    .await
    .expect("the wave ends");
    drop(tx);
    result
}

async fn agent_health(agent: &Proc) -> i32 {
    HealthClient::new(channel(&agent.endpoint()).await)
        .check(HealthCheckRequest {
            service: "wavegate.v1.ExchangeAgent".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

/// Copies the journal's files (the agent is stopped: its WAL is checkpointed).
fn copy_journal(journal: &Path, to: &Path) {
    std::fs::copy(journal, to).unwrap();
}

/// Puts `copy` back as the journal, dropping the newer journal's WAL and index.
fn restore_journal(copy: &Path, journal: &Path) {
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", journal.display()));
    }
    std::fs::copy(copy, journal).unwrap();
}

fn executed(r: &pb::Result) -> usize {
    r.outcomes
        .iter()
        .filter(|o| o.kind == pb::OutcomeKind::Executed as i32)
        .count()
}

/// Asserts the agent refuses trading: health `NOT_SERVING`, a wave `FAILED_PRECONDITION`
/// naming `symbols`, and nothing sent to the venue.
async fn assert_refused(agent: &Proc, fake: &FakeServer, venue: Venue, symbols: &[&str]) {
    let orders_before = fake.orders().len();
    assert_eq!(
        agent_health(agent).await,
        ServingStatus::NotServing as i32,
        "{}",
        agent.log_text()
    );
    let e = wave(agent, venue.id(), "W-refused", 900, &["DOGEUSDT"])
        .await
        .expect_err("a wave ran on a journal behind the venue");
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("behind"), "{e:?}");
    for s in symbols {
        assert!(e.message().contains(s), "{s} not named: {e:?}");
    }
    assert!(e.message().contains("--confirm-new-journal"), "{e:?}");
    assert_eq!(
        fake.orders().len(),
        orders_before,
        "nothing sent to the venue"
    );
    assert!(
        !fake.positions().iter().any(|p| p.symbol == "DOGEUSDT"),
        "no position opened"
    );
}

async fn restored_older_journal_is_detected(venue: Venue) {
    let dir = tempfile::tempdir().unwrap();
    let fake = venue.start(world()).await;
    let journal: PathBuf = dir.path().join(format!("{}.db", venue.name()));
    let toml = live_toml(dir.path(), venue, &fake.base_url(), &journal);
    let mut agent = Proc::spawn("wavegate-agent", &toml, dir.path())
        .await
        .unwrap();
    let id = venue.id();

    let w1 = wave(&agent, id, "W1", 1, &SYMBOLS[..2]).await.unwrap();
    assert_eq!(executed(&w1), 2, "{w1:?}");
    agent.terminate().await.unwrap();
    let copy = dir.path().join("journal-after-wave-1.db");
    copy_journal(&journal, &copy);

    agent.restart().await.unwrap();
    assert_eq!(agent_health(&agent).await, ServingStatus::Serving as i32);
    let w2 = wave(&agent, id, "W2", 11, &SYMBOLS[2..4]).await.unwrap();
    assert_eq!(executed(&w2), 2, "{w2:?}");
    agent.terminate().await.unwrap();

    // The older copy put back: it knows wave 1's positions, not wave 2's.
    restore_journal(&copy, &journal);
    agent.restart().await.unwrap();
    assert_refused(&agent, &fake, venue, &SYMBOLS[2..4]).await;
    // Still refused on the next try (compared again, still behind).
    assert_refused(&agent, &fake, venue, &SYMBOLS[2..4]).await;
    agent.terminate().await.unwrap();

    // The operator confirms: the positions are taken as known, trading resumes, and a
    // restart without the flag stays clear (recorded in the journal).
    let confirmed = Proc::spawn_with_args(
        "wavegate-agent",
        &toml,
        dir.path(),
        &["--confirm-new-journal"],
    )
    .await
    .unwrap();
    let w3 = wave(&confirmed, id, "W3", 21, &SYMBOLS[4..]).await.unwrap();
    assert_eq!(executed(&w3), 2, "{w3:?}");
    drop(confirmed);
    let mut again = Proc::spawn("wavegate-agent", &toml, dir.path())
        .await
        .unwrap();
    assert_eq!(agent_health(&again).await, ServingStatus::Serving as i32);
    again.terminate().await.unwrap();
    // Each symbol entered once over the whole run, nothing but entries sent.
    let mut entered: Vec<String> = fake
        .orders()
        .into_iter()
        .filter(|o| !o.reduce_only)
        .map(|o| o.symbol)
        .collect();
    entered.sort();
    let mut want: Vec<String> = SYMBOLS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(entered, want);
}

async fn empty_journal_with_open_positions_is_detected(venue: Venue) {
    let dir = tempfile::tempdir().unwrap();
    let fake = venue
        .start(
            world()
                .position("SOLUSDT", "0.5", "150")
                .position("XRPUSDT", "200", "0.6"),
        )
        .await;
    let journal = dir.path().join(format!("{}.db", venue.name()));
    let toml = live_toml(dir.path(), venue, &fake.base_url(), &journal);
    let agent = Proc::spawn("wavegate-agent", &toml, dir.path())
        .await
        .unwrap();
    assert_refused(&agent, &fake, venue, &["SOLUSDT", "XRPUSDT"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_a_restored_older_journal_refuses_trading_until_confirmed() {
    restored_older_journal_is_detected(Venue::Binance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_a_restored_older_journal_refuses_trading_until_confirmed() {
    restored_older_journal_is_detected(Venue::Bybit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_an_empty_journal_with_open_positions_refuses_trading() {
    empty_journal_with_open_positions_is_detected(Venue::Binance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_an_empty_journal_with_open_positions_refuses_trading() {
    empty_journal_with_open_positions_is_detected(Venue::Bybit).await;
}

/// Paper: the journal file holds the paper exchange's book too, so an older copy put back is
/// an older exchange as well — consistent, and trading goes on without a confirmation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paper_a_restored_older_journal_restores_its_exchange_and_trades() {
    let dir = tempfile::tempdir().unwrap();
    let paper = PaperAgent {
        exchange_id: 1,
        name: "binance",
        ..PaperAgent::default()
    };
    let mut agent = start_agent(dir.path(), &paper).await;
    let journal = dir.path().join("agent-1.db");
    let w1 = wave(&agent, 1, "P1", 1, &SYMBOLS[..2]).await.unwrap();
    assert_eq!(executed(&w1), 2, "{w1:?}");
    agent.terminate().await.unwrap();
    let copy = dir.path().join("copy.db");
    copy_journal(&journal, &copy);
    agent.restart().await.unwrap();
    let w2 = wave(&agent, 1, "P2", 11, &SYMBOLS[2..4]).await.unwrap();
    assert_eq!(executed(&w2), 2, "{w2:?}");
    agent.terminate().await.unwrap();
    restore_journal(&copy, &journal);
    agent.restart().await.unwrap();
    assert_eq!(agent_health(&agent).await, ServingStatus::Serving as i32);
    let d = describe(&agent).await;
    assert_eq!(d.open_positions.len(), 2, "the older book: {d:?}");
    let w3 = wave(&agent, 1, "P3", 21, &SYMBOLS[4..]).await.unwrap();
    assert_eq!(executed(&w3), 2, "{w3:?}");
}

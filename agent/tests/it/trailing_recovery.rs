//! The trailing stop survives a crash like the protective stop does (issue 11 item 3): the real
//! agent binary is killed (SIGKILL) after its protective stop is placed and while its trailing
//! stop's request is out, against each venue's fake; after the restart the position holds its
//! stop and its trailing stop, once each — looked up when the request had reached the venue,
//! placed again when it had not.

use std::path::Path;
use std::time::Duration;

use crate::live_support::*;
use crate::support::*;
use wavegate_common::proto::v1 as pb;
use wavegate_tests::Proc;
use wavegate_tests::fake_exchange::{FakeBinance, FakeBybit, FakeServer, Fault, World};

/// Starts the real `wavegate-agent` for `venue` against `fake` on a port it announces, its
/// journal and log in `dir`. Its order timeout is longer than the test waits, so a request
/// whose answer the fake holds back is still out when the agent is killed.
async fn spawn_agent(dir: &Path, venue: &str, fake: &FakeServer) -> Proc {
    let id = if venue == "bybit" { 2 } else { 1 };
    let toml = format!(
        "exchange_id = {id}\nexchange_name = \"{venue}\"\nmetrics_listen = \"off\"\n\
         confirm_new_journal = true\norder_timeout_ms = 120000\n\
         [rate_limit]\norders_per_second = 1000\nburst = 100\n\
         [adapter]\nkind = \"{venue}\"\n[adapter.{venue}]\nbase_url = \"{}\"\n",
        fake.base_url()
    );
    Proc::builder("wavegate-agent", dir)
        .program(env!("CARGO_BIN_EXE_wavegate-agent"))
        .config(&toml)
        .args(["--listen", "127.0.0.1:0", "--journal"])
        .args([dir.join("agent.db")])
        .env_remove("WAVEGATE_AGENT_CONFIG")
        .env_remove("WAVEGATE_AGENT_LISTEN")
        .env_remove("WAVEGATE_AGENT_JOURNAL")
        .env("WAVEGATE_AGENT_API_KEY", KEY)
        .env("WAVEGATE_AGENT_API_SECRET", SECRET)
        .env("RUST_LOG", "info")
        .spawn()
        .await
        .expect("agent starts")
}

/// One long ETHUSDT signal with a 4 % stop and a 2 % / 0.5 % trailing stop.
fn wave(exchange_id: u32) -> (pb::Start, Vec<pb::Signal>) {
    let mut start = start_msg("W", exchange_id, 1, 1, 1);
    let p = start.params.as_mut().expect("params");
    p.stop_loss_percent = Some(4.0);
    p.trailing_activation_percent = Some(2.0);
    p.trailing_distance_percent = Some(0.5);
    (start, signals(exchange_id, 1, &["ETHUSDT"]))
}

/// Whether the fake received a trailing-stop request (Binance `TRAILING_STOP_MARKET` algo
/// order, Bybit `trading-stop` with `trailingStop`).
fn is_trailing_request(r: &wavegate_tests::fake_exchange::RequestRecord) -> bool {
    let text = format!("{}{}", r.query, r.body);
    text.contains("TRAILING_STOP_MARKET") || text.contains("trailingStop")
}

/// Active protective stops and trailing stops of `symbol` at the fake.
fn protection(fake: &FakeServer, symbol: &str) -> (usize, usize) {
    let stops = fake
        .stops()
        .into_iter()
        .filter(|s| s.symbol == symbol && s.active && s.order_type != "TRAILING_STOP_MARKET")
        .count();
    let trailing = fake
        .margin()
        .trailing
        .into_iter()
        .filter(|t| t.symbol == symbol && t.active)
        .count();
    (stops, trailing)
}

/// Runs the wave, kills the agent once the fake holds the stop and has taken (and sits on the
/// answer of) the trailing stop's request; with `lost`, the fake then forgets that request
/// (it never arrived). Restarts the agent on the same journal, re-sends the wave, and checks
/// the position has one stop and one trailing stop.
async fn killed_between_stop_and_trailing(venue: &str, lost: bool) {
    // The trailing stop is set, its answer held back far past the test: a request whose
    // outcome the client cannot know (Binance error -1007 "Send status unknown; execution
    // status unknown", https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code,
    // modelled in `fake_exchange/binance/mod.rs`; the fakes' faults, `fake_exchange/mod.rs`).
    // Only the first run's request: the restart's answers come at once.
    let world = instruments(World::new(KEY, SECRET))
        .trailing_fault(Fault::next_orders(1).delay(Duration::from_secs(600)));
    let fake = match venue {
        "bybit" => FakeBybit::start(world).await,
        _ => FakeBinance::start(world).await,
    }
    .expect("fake starts");
    let dir = tempfile::tempdir().unwrap();
    let mut agent = spawn_agent(dir.path(), venue, &fake).await;
    let id = if venue == "bybit" { 2 } else { 1 };
    let (start, all) = wave(id);
    let mut client = connect(agent.addr()).await;
    let first = {
        let (start, all) = (start.clone(), all.clone());
        tokio::spawn(async move {
            drive(&mut client, start, &all, Drive::default()).await;
        })
    };
    tokio::time::timeout(GUARD, async {
        while !fake.requests().iter().any(is_trailing_request) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the trailing stop's request reaches the fake");
    assert_eq!(protection(&fake, "ETHUSDT"), (1, 1), "stop, then trailing");
    agent.kill().await;
    first.abort();
    if lost {
        assert_eq!(fake.forget_trailing("ETHUSDT"), 1);
        assert_eq!(protection(&fake, "ETHUSDT"), (1, 0));
    }

    // The restart's sweep settles the journaled trailing step before the agent serves (its
    // port may take connections earlier: an RPC answered says it serves).
    let agent = spawn_agent(dir.path(), venue, &fake).await;
    let mut client = connect(agent.addr()).await;
    describe(&mut client).await;
    let log_path = agent.log_path().to_owned();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert_eq!(
        protection(&fake, "ETHUSDT"),
        (1, 1),
        "{venue}: after the restart, one stop and one trailing stop\n{}",
        log()
    );
    let run = drive(&mut client, start, &all, Drive::default()).await;
    let eth = &run.result().outcomes[0];
    assert_eq!(eth.kind, pb::OutcomeKind::Executed as i32, "{eth:?}");
    assert_eq!(eth.trailing, "placed", "{eth:?}");
    assert_eq!(run.stats().executed, 1);
    drop(agent);

    assert_eq!(fake.orders().len(), 1, "{venue}: the entry was sent once");
    assert_eq!(protection(&fake, "ETHUSDT"), (1, 1), "{venue}");
    let trailing_requests = fake
        .requests()
        .iter()
        .filter(|r| is_trailing_request(r))
        .count();
    // Found by lookup: nothing sent again. Never arrived: sent once more.
    let want = if lost { 2 } else { 1 };
    assert_eq!(trailing_requests, want, "{venue}\n{}", log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_trailing_stop_that_reached_the_venue_is_looked_up_after_kill_9() {
    killed_between_stop_and_trailing("binance", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_trailing_stop_that_never_arrived_is_placed_after_kill_9() {
    killed_between_stop_and_trailing("binance", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_trailing_stop_that_reached_the_venue_is_looked_up_after_kill_9() {
    killed_between_stop_and_trailing("bybit", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_trailing_stop_that_never_arrived_is_placed_after_kill_9() {
    killed_between_stop_and_trailing("bybit", true).await;
}

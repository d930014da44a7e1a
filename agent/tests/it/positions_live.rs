//! Issue 11 on the live adapters against the fake exchanges (real signing, endpoints and
//! codes): leverage and margin mode set before entries, the free balance read once and
//! decremented, and the trailing stop after the protective stop at the right prices.

use crate::live_support::*;
use crate::support::*;
use wavegate_agent::config::{AdapterKind, MarginMode};
use wavegate_common::proto::v1 as pb;
use wavegate_tests::fake_exchange::{FakeServer, MarginKind, Side as FakeSide, World};

fn cfg(dir: &std::path::Path, kind: AdapterKind, fake: &FakeServer) -> wavegate_agent::AgentConfig {
    let (id, name) = match kind {
        AdapterKind::Bybit => (2, "bybit"),
        _ => (1, "binance"),
    };
    live_config(dir, id, name, kind, &fake.base_url(), SECRET)
}

/// A wave of `symbols` (long) with the trailing params of docs/design.md §4's example.
fn trailing_start(exchange_id: u32, n: u32) -> pb::Start {
    let mut start = start_msg("W", exchange_id, n, n, n);
    let p = start.params.as_mut().expect("params");
    p.stop_loss_percent = Some(4.0);
    p.trailing_activation_percent = Some(2.0);
    p.trailing_distance_percent = Some(0.5);
    start
}

/// `(symbol, activation, stop trigger, callback)` wanted for a long filled at the fake's price:
/// activation 2 % above (rounded up to the tick), stop 4 % below (rounded down).
const WANT: [(&str, &str, &str); 3] = [
    ("ETHUSDT", "3060", "2880"),
    ("LINKUSDT", "15", "14.11"), // 14.994 up, 14.112 down
    ("DOTUSDT", "7.45", "7.00"), // 7.446 up, 7.008 down
];

async fn trailing_wave(kind: AdapterKind) -> (FakeServer, WaveRun) {
    let fake = start_fake(
        kind,
        instruments(World::new(KEY, SECRET)).bracket(125, "50000"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path(), kind, &fake);
    c.positions.leverage = 5;
    c.positions.margin_mode = MarginMode::Isolated;
    let id = c.exchange_id;
    let (agent, mut client) = start(c).await;
    let all = signals(id, 1, &["ETHUSDT", "LINKUSDT", "DOTUSDT"]);
    let run = drive(&mut client, trailing_start(id, 3), &all, Drive::default()).await;
    agent.shutdown().await;
    (fake, run)
}

fn trailing_of(run: &WaveRun) -> Vec<String> {
    run.result()
        .outcomes
        .iter()
        .map(|o| o.trailing.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_sets_leverage_and_margin_then_places_stop_and_trailing_stop() {
    let (fake, run) = trailing_wave(AdapterKind::Binance).await;
    assert_eq!(run.executed_ids(), vec![1, 2, 3]);
    assert_eq!(trailing_of(&run), vec!["placed"; 3]);
    let account = fake.margin();
    for (symbol, activation, stop) in WANT {
        assert_eq!(account.leverage_of(symbol), 5, "{symbol}");
        assert_eq!(
            account.margin.get(symbol),
            Some(&MarginKind::Isolated),
            "{symbol}"
        );
        let stops: Vec<_> = fake
            .stops()
            .into_iter()
            .filter(|s| s.symbol == symbol && s.active)
            .collect();
        let sl = stops
            .iter()
            .find(|s| s.order_type == "STOP_MARKET")
            .expect("stop");
        assert_eq!(sl.trigger_price, dec(stop), "{symbol} stop");
        let t = account.trailing_of(symbol).expect("trailing stop");
        assert_eq!(t.activation_price, dec(activation), "{symbol} activation");
        assert_eq!(t.callback, dec("0.5"), "{symbol} callbackRate");
        assert_eq!(t.side, FakeSide::Sell);
        // Reduce-only, for the filled quantity.
        let filled = fake
            .orders()
            .into_iter()
            .find(|o| o.symbol == symbol)
            .expect("entry");
        assert_eq!(t.qty, Some(filled.executed_qty), "{symbol} quantity");
    }
    // Leverage and margin type: one change each per symbol, nothing set twice.
    assert_eq!(account.changes, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_sets_leverage_and_account_margin_then_places_stop_and_trailing_stop() {
    let (fake, run) = trailing_wave(AdapterKind::Bybit).await;
    assert_eq!(run.executed_ids(), vec![1, 2, 3]);
    assert_eq!(trailing_of(&run), vec!["placed"; 3]);
    let account = fake.margin();
    // Margin mode is account-wide on a unified account: set once.
    assert_eq!(account.account_margin, MarginKind::Isolated);
    assert_eq!(account.changes, 1 + 3);
    for (symbol, activation, stop) in WANT {
        assert_eq!(account.leverage_of(symbol), 5, "{symbol}");
        let sl = fake
            .stops()
            .into_iter()
            .find(|s| s.symbol == symbol && s.active)
            .expect("stop");
        assert_eq!(sl.trigger_price, dec(stop), "{symbol} stop");
        let t = account.trailing_of(symbol).expect("trailing stop");
        assert_eq!(t.activation_price, dec(activation), "{symbol} activePrice");
        // trailingStop is a price distance: 0.5 % of the activation price, down to the tick.
        let want = dec(activation).percent(dec("0.5")).floor_to(dec("0.01"));
        assert_eq!(t.callback, want, "{symbol} trailingStop");
    }
}

async fn balance_wave(kind: AdapterKind) -> (FakeServer, WaveRun) {
    // 250 USDT available at leverage 1: two 100-USDT positions leave 50 − 10 reserve < 100.
    let fake = start_fake(kind, instruments(World::new(KEY, SECRET)).balance("250")).await;
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), kind, &fake);
    let id = c.exchange_id;
    let (agent, mut client) = start(c).await;
    let all = signals(
        id,
        1,
        &[
            "ETHUSDT", "SOLUSDT", "LINKUSDT", "DOTUSDT", "ADAUSDT", "DOGEUSDT",
        ],
    );
    let run = drive(
        &mut client,
        start_msg("W", id, 4, 6, 6),
        &all,
        Drive::default(),
    )
    .await;
    agent.shutdown().await;
    (fake, run)
}

fn check_balance_wave(fake: &FakeServer, run: &WaveRun) {
    assert_eq!(run.executed_ids(), vec![1, 2]);
    let errors: Vec<&str> = run
        .result()
        .outcomes
        .iter()
        .skip(2)
        .map(|o| o.error.as_str())
        .collect();
    assert_eq!(errors, vec!["insufficient_balance"; 4]);
    assert_eq!(run.stats().validation_failed, 4);
    let symbols: Vec<String> = fake.orders().into_iter().map(|o| o.symbol).collect();
    assert_eq!(
        symbols,
        vec!["ETHUSDT", "SOLUSDT"],
        "no order for the refused signals"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_balance_for_two_opens_two() {
    let (fake, run) = balance_wave(AdapterKind::Binance).await;
    check_balance_wave(&fake, &run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_balance_for_two_opens_two() {
    let (fake, run) = balance_wave(AdapterKind::Bybit).await;
    check_balance_wave(&fake, &run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_bracket_below_the_size_fails_validation() {
    // At leverage 5 the only bracket allowing it caps positions at 50 USDT: a 100 order is over.
    let world = instruments(World::new(KEY, SECRET))
        .bracket(125, "50")
        .bracket(2, "100000");
    let fake = start_fake(AdapterKind::Binance, world).await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path(), AdapterKind::Binance, &fake);
    c.positions.leverage = 5;
    let (agent, mut client) = start(c).await;
    let all = signals(1, 1, &["ETHUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W", 1, 1, 1, 1),
        &all,
        Drive::default(),
    )
    .await;
    agent.shutdown().await;
    assert_eq!(run.result().outcomes[0].error, "above_bracket_max_notional");
    assert!(fake.orders().is_empty());
}

/// 100 USDT buys 0.6 SOL (90 USDT), under the 105 USDT minimum; the smallest valid order,
/// 0.7 SOL = 105 USDT, is within the 10 % tolerance: the entry is raised to it.
async fn raised_size(kind: AdapterKind) {
    use wavegate_tests::fake_exchange::Instrument;
    let world = World::new(KEY, SECRET).instrument(
        Instrument::new("SOLUSDT", "150")
            .step("0.1")
            .min_qty("0.1")
            .tick("0.01")
            .min_notional("105"),
    );
    let fake = start_fake(kind, world).await;
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), kind, &fake);
    let id = c.exchange_id;
    let (agent, mut client) = start(c).await;
    let run = drive(
        &mut client,
        start_msg("W", id, 1, 1, 1),
        &signals(id, 1, &["SOLUSDT"]),
        Drive::default(),
    )
    .await;
    agent.shutdown().await;
    assert_eq!(run.executed_ids(), vec![1], "{:?}", kinds(run.result()));
    let orders = fake.orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].orig_qty, dec("0.7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_raises_a_size_to_the_minimum_within_the_tolerance() {
    raised_size(AdapterKind::Binance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_raises_a_size_to_the_minimum_within_the_tolerance() {
    raised_size(AdapterKind::Bybit).await;
}

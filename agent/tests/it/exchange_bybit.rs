//! The `bybit` adapter against the fake Bybit v5 server (real signing, `retCode`s, lot rules,
//! position stop loss, faults), driven over real gRPC like a coordinator would.

use std::time::Duration;

use crate::live_support::*;
use crate::support::*;
use wavegate_agent::config::AdapterKind;
use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::{ExchangeStats, ParamsSource};
use wavegate_tests::fake_exchange::{FakeBybit, FakeServer, Fault, Side as FakeSide, World};
use wavegate_tests::worked_example;

use pb::OutcomeKind as K;

async fn fake(world: World) -> FakeServer {
    FakeBybit::start(world).await.expect("fake bybit starts")
}

fn config(dir: &std::path::Path, fake: &FakeServer, secret: &str) -> wavegate_agent::AgentConfig {
    live_config(
        dir,
        2,
        "bybit",
        AdapterKind::Bybit,
        &fake.base_url(),
        secret,
    )
}

/// The stop loss the exchange holds on `symbol`'s position (exactly one, active).
fn stop_of(fake: &FakeServer, symbol: &str) -> wavegate_tests::fake_exchange::StopRecord {
    let stops: Vec<_> = fake
        .stops()
        .into_iter()
        .filter(|s| s.symbol == symbol && s.active)
        .collect();
    assert_eq!(stops.len(), 1, "{symbol}: {stops:?}");
    stops[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worked_example_rounds_quantities_and_sets_stops_on_the_tick() {
    let world = instruments(World::new(KEY, SECRET)).position("SOLUSDT", "0.5", "150");
    let fake = fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(config(dir.path(), &fake, SECRET)).await;
    assert_eq!(describe(&mut client).await.adapter, "bybit");
    let mut all = signals(
        2,
        201,
        &[
            "BTCUSDT", "LINKUSDT", "SOLUSDT", "ADAUSDT", "DOTUSDT", "DOGEUSDT", "ETHUSDT",
        ],
    );
    all[4] = short(all[4].clone()); // DOTUSDT: a short, whose stop sits above the price
    let run = drive(
        &mut client,
        start_msg("W1", 2, 4, 7, 7),
        &all,
        Drive::default(),
    )
    .await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(
        ExchangeStats::from_proto(run.stats()),
        worked_example::bybit(ParamsSource::Db)
    );
    let k: Vec<(i64, i32)> = kinds(run.result())
        .into_iter()
        .map(|(i, k, _)| (i, k))
        .collect();
    assert_eq!(
        k,
        vec![
            (201, K::Executed as i32),
            (202, K::Executed as i32),
            (203, K::Duplicate as i32),
            (204, K::Executed as i32),
            (205, K::Executed as i32),
            (206, K::Validated as i32),
            (207, K::Validated as i32),
        ]
    );

    // Quantities: notional 100 / lastPrice rounded DOWN to qtyStep (the fake refuses others).
    let orders = fake.orders();
    let got: Vec<(String, String, FakeSide)> = orders
        .iter()
        .map(|o| (o.symbol.clone(), o.orig_qty.to_string(), o.side))
        .collect();
    let want_orders = [
        ("BTCUSDT", "0.001", FakeSide::Buy),
        ("LINKUSDT", "6.8", FakeSide::Buy),
        ("ADAUSDT", "222", FakeSide::Buy),
        ("DOTUSDT", "13.6", FakeSide::Sell),
    ];
    assert_eq!(got.len(), want_orders.len(), "{got:?}");
    for ((sym, q, side), (wsym, wq, wside)) in got.iter().zip(want_orders) {
        assert_eq!((sym.as_str(), *side), (wsym, wside));
        assert_eq!(dec(q), dec(wq), "{sym}");
    }
    for o in run.result().outcomes.iter().filter(|o| o.executed) {
        assert_eq!(fake.place_attempts(&o.client_order_id), 1);
        let rec = fake.orders_with_client_id(&o.client_order_id);
        assert_eq!(rec.len(), 1, "{}", o.symbol);
        assert_eq!(o.exchange_order_id, rec[0].order_id);
        assert_eq!(
            o.fill_price,
            rec[0].avg_price.to_string().parse::<f64>().unwrap()
        );
    }

    // Stop losses: 4% from the fill, on the tick, rounded away from the market.
    for (sym, trigger, side) in [
        ("BTCUSDT", "57600", FakeSide::Sell),
        ("LINKUSDT", "14.11", FakeSide::Sell), // 14.112 rounded down
        ("ADAUSDT", "0.432", FakeSide::Sell),
        ("DOTUSDT", "7.6", FakeSide::Buy), // 7.592 rounded up
    ] {
        let s = stop_of(&fake, sym);
        assert_eq!(s.trigger_price, dec(trigger), "{sym}");
        assert_eq!(s.side, side, "{sym}");
        assert_eq!(s.order_type, "StopLoss");
    }
    let c = fake.counters();
    assert_eq!((c.signature_rejections, c.timestamp_rejections), (0, 0));
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_entry_and_refused_stop_are_failed_executions() {
    let world = instruments(World::new(KEY, SECRET))
        .reject_entry("XRPUSDT")
        .reject_stop("ETHUSDT");
    let fake = fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(config(dir.path(), &fake, SECRET)).await;
    let all = signals(2, 1, &["XRPUSDT", "ETHUSDT", "BTCUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W2", 2, 3, 3, 3),
        &all,
        Drive::default(),
    )
    .await;
    let k = kinds(run.result());
    assert_eq!(k[0].1, K::ExecutionFailed as i32);
    assert!(k[0].2.contains("110007"), "{k:?}");
    assert_eq!(
        k[1],
        (2, K::ExecutionFailed as i32, "stop_failed_closed".into())
    );
    assert_eq!(k[2], (3, K::Executed as i32, String::new()));
    let eth: Vec<_> = fake
        .orders()
        .into_iter()
        .filter(|o| o.symbol == "ETHUSDT")
        .collect();
    assert_eq!(eth.len(), 2, "entry, then the reduce-only close: {eth:?}");
    assert!(!eth[0].reduce_only && eth[1].reduce_only);
    assert_eq!(eth[1].side, FakeSide::Sell);
    let open: Vec<String> = fake.positions().into_iter().map(|p| p.symbol).collect();
    assert_eq!(open, vec!["BTCUSDT"], "ETHUSDT is flat again");
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_outcomes_are_looked_up_never_sent_again() {
    let world = instruments(World::new(KEY, SECRET))
        // Each order fills; only the answer is lost: dropped, 500 10016, or too late.
        .fault(Fault::symbol("BTCUSDT").drop_connection())
        .fault(Fault::symbol("ETHUSDT").server_error())
        .fault(Fault::symbol("ADAUSDT").delay(Duration::from_secs(20)));
    let fake = fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &fake, SECRET);
    cfg.adapter.bybit.request_timeout_ms = 1000;
    let (agent, mut client) = start(cfg).await;
    let all = signals(2, 1, &["BTCUSDT", "ETHUSDT", "ADAUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W3", 2, 3, 3, 3),
        &all,
        Drive::default(),
    )
    .await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(run.stats().executed, 3, "{:?}", kinds(run.result()));
    for o in &run.result().outcomes {
        assert!(o.executed && o.error.is_empty(), "{o:?}");
        assert_eq!(fake.place_attempts(&o.client_order_id), 1, "{}", o.symbol);
        assert_eq!(fake.orders_with_client_id(&o.client_order_id).len(), 1);
        assert!(
            o.fill_price > 0.0 && o.quantity > 0.0,
            "fill from the lookup: {o:?}"
        );
        stop_of(&fake, &o.symbol);
    }
    let c = fake.counters();
    assert_eq!(c.faults_fired, 3);
    assert_eq!(c.duplicate_rejections, 0, "nothing was re-sent");
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_is_absorbed_by_syncing_with_the_server() {
    // The exchange's clock runs 30 s ahead: a client stamping requests with its own clock
    // would be refused with 10002 on every private call.
    let world = instruments(World::new(KEY, SECRET)).clock_offset_ms(30_000);
    let fake = fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &fake, SECRET);
    let debug = format!("{cfg:?}");
    assert!(!debug.contains(SECRET) && !debug.contains(KEY), "{debug}");
    let (agent, mut client) = start(cfg).await;
    let all = signals(2, 1, &["BTCUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W5", 2, 1, 1, 1),
        &all,
        Drive::default(),
    )
    .await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(run.stats().executed, 1);
    assert_eq!(fake.counters().timestamp_rejections, 0);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_order_link_id_after_a_lost_journal_is_looked_up_not_failed() {
    let fake = fake(instruments(World::new(KEY, SECRET))).await;
    let all = signals(2, 1, &["BTCUSDT", "ETHUSDT"]);
    let coid = wavegate_common::order_id::client_order_id("W9", 2, 1);
    let first_dir = tempfile::tempdir().unwrap();
    let cfg = config(first_dir.path(), &fake, SECRET);
    let (agent, mut client) = start(cfg.clone()).await;
    let first = drive(
        &mut client,
        start_msg("W9", 2, 1, 2, 2),
        &all,
        Drive::default(),
    )
    .await;
    assert_eq!(first.executed_ids(), vec![1]);
    let first_order_id = first.result().outcomes[0].exchange_order_id.clone();
    agent.shutdown().await;
    // The position is closed outside the agent, then the journal is lost.
    let account = wavegate_agent::exchange::live(&cfg.adapter).unwrap();
    account
        .close_position("BTCUSDT".into(), "manual-close-1".into())
        .await
        .unwrap();
    assert!(fake.positions().is_empty());

    let second_dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(config(second_dir.path(), &fake, SECRET)).await;
    let run = drive(
        &mut client,
        start_msg("W9", 2, 1, 2, 2),
        &all,
        Drive::default(),
    )
    .await;
    assert!(run.status.is_none(), "{:?}", run.status);
    let btc = run
        .result()
        .outcomes
        .iter()
        .find(|o| o.signal_id == 1)
        .unwrap();
    // The refusal (110072) is resolved by lookup: the order filled (its exchange order id is
    // the first run's). That fill is an earlier send's and its position is gone: nothing is
    // sent for it (no stop, no close), and it holds its slot as a position that opened and
    // was closed outside the agent — ETHUSDT is not opened in its place.
    assert_eq!(
        btc.exchange_order_id, first_order_id,
        "found by lookup: {btc:?}"
    );
    assert!(btc.fill_price > 0.0 && btc.quantity > 0.0, "{btc:?}");
    assert_eq!(
        (btc.executed, btc.error.as_str()),
        (true, "position_closed_elsewhere"),
        "{btc:?}"
    );
    assert_eq!(
        run.executed_ids(),
        vec![1],
        "max_trades 1: ETHUSDT never opened"
    );
    assert!(
        fake.positions().is_empty(),
        "nothing opened, nothing left open"
    );
    assert_eq!(
        fake.place_attempts(&coid),
        2,
        "once per run: the refused duplicate is not sent again"
    );
    assert_eq!(fake.orders_with_client_id(&coid).len(), 1);
    agent.shutdown().await;
}

/// Fix 5: a Bybit stop is a position attribute — `trading-stop` creates no order under our id —
/// so a stop whose answer was lost is confirmed by the position's `stopLoss`, not by looking
/// up an order id that can never exist (which would end in closing a protected position).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_whose_answer_was_lost_is_confirmed_on_the_position() {
    let world =
        instruments(World::new(KEY, SECRET)).stop_fault(Fault::symbol("BTCUSDT").server_error());
    let fake = fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(config(dir.path(), &fake, SECRET)).await;
    let all = signals(2, 1, &["BTCUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W7", 2, 1, 1, 1),
        &all,
        Drive::default(),
    )
    .await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(run.executed_ids(), vec![1], "{:?}", kinds(run.result()));
    let o = &run.result().outcomes[0];
    assert_eq!((o.executed, o.error.as_str()), (true, ""), "{o:?}");
    assert_eq!(fake.positions().len(), 1, "the position stays open");
    assert_eq!(stop_of(&fake, "BTCUSDT").trigger_price, dec("57600"));
    let stop_calls = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/v5/position/trading-stop")
        .count();
    assert_eq!(stop_calls, 1, "confirmed, not set again");
    agent.shutdown().await;
}

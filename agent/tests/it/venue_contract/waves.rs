//! An agent whose adapter is the venue's, driven over real gRPC like a coordinator would:
//! the worked examples, refused entries and stops, lost answers, a lost journal, clock skew.

use std::time::Duration;

use super::{Venue, contract, stop_of};
use crate::live_support::*;
use crate::support::*;
use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::{ExchangeStats, ParamsSource};
use wavegate_tests::fake_exchange::{Fault, Side as FakeSide, World};
use wavegate_tests::worked_example;

use pb::OutcomeKind as K;

contract!(
    worked_example_rounds_quantities_and_places_stops_on_the_tick,
    refused_entry_and_refused_stop_are_failed_executions,
    unknown_outcomes_are_looked_up_never_sent_again,
    clock_skew_is_absorbed_by_syncing_with_the_server,
    duplicate_id_after_a_lost_journal_is_looked_up_not_failed,
    a_stop_whose_answer_was_lost_is_confirmed_not_sent_again,
    a_waves_start_reads_positions_and_account_at_once,
);

/// A venue's worked example (docs/design.md §1): what is sent, and what must come out.
struct Example {
    world: World,
    symbols: &'static [&'static str],
    /// The signal (index) that is a SELL: its stop sits above the price.
    short: usize,
    first_id: i64,
    target: u32,
    stats: ExchangeStats,
    kinds: Vec<(i64, K)>,
    /// Entries sent, in order: symbol, quantity (notional 100 / price rounded DOWN to the
    /// step: the fakes refuse off-step quantities), side.
    orders: &'static [(&'static str, &'static str, FakeSide)],
    /// Stops: 4 % from the fill, on the tick, rounded away from the market.
    stops: &'static [(&'static str, &'static str, FakeSide)],
}

/// A fake's decimal as the float the wire carries.
fn float(d: &wavegate_tests::fake_exchange::Dec) -> f64 {
    d.to_string().parse().expect("a number")
}

fn example(venue: Venue) -> Example {
    let world = instruments(World::new(KEY, SECRET)).position("SOLUSDT", "0.5", "150");
    match venue {
        // Target 6 of 9; XRPUSDT's entry is refused, two duplicates (SOLUSDT held, BTCUSDT
        // twice).
        Venue::Binance => Example {
            world: world.reject_entry("XRPUSDT"),
            symbols: &[
                "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BTCUSDT", "ADAUSDT", "DOGEUSDT",
                "DOTUSDT", "LINKUSDT",
            ],
            short: 7,
            first_id: 101,
            target: 6,
            stats: worked_example::binance(ParamsSource::Db),
            kinds: vec![
                (101, K::Executed),
                (102, K::Executed),
                (103, K::Duplicate),
                (104, K::ExecutionFailed),
                (105, K::Duplicate),
                (106, K::Executed),
                (107, K::Executed),
                (108, K::Executed),
                (109, K::Executed),
            ],
            orders: &[
                ("BTCUSDT", "0.001", FakeSide::Buy),
                ("ETHUSDT", "0.03", FakeSide::Buy),
                ("ADAUSDT", "222", FakeSide::Buy),
                ("DOGEUSDT", "666", FakeSide::Buy),
                ("DOTUSDT", "13.6", FakeSide::Sell),
                ("LINKUSDT", "6.8", FakeSide::Buy),
            ],
            stops: &[
                ("BTCUSDT", "57600", FakeSide::Sell),
                ("ETHUSDT", "2880", FakeSide::Sell),
                ("ADAUSDT", "0.432", FakeSide::Sell),
                ("DOGEUSDT", "0.144", FakeSide::Sell),
                ("DOTUSDT", "7.6", FakeSide::Buy), // 7.592 rounded up
                ("LINKUSDT", "14.11", FakeSide::Sell), // 14.112 rounded down
            ],
        },
        // Target 4 of 7; one duplicate (SOLUSDT held); the last two are not needed.
        Venue::Bybit => Example {
            world,
            symbols: &[
                "BTCUSDT", "LINKUSDT", "SOLUSDT", "ADAUSDT", "DOTUSDT", "DOGEUSDT", "ETHUSDT",
            ],
            short: 4,
            first_id: 201,
            target: 4,
            stats: worked_example::bybit(ParamsSource::Db),
            kinds: vec![
                (201, K::Executed),
                (202, K::Executed),
                (203, K::Duplicate),
                (204, K::Executed),
                (205, K::Executed),
                (206, K::Validated),
                (207, K::Validated),
            ],
            orders: &[
                ("BTCUSDT", "0.001", FakeSide::Buy),
                ("LINKUSDT", "6.8", FakeSide::Buy),
                ("ADAUSDT", "222", FakeSide::Buy),
                ("DOTUSDT", "13.6", FakeSide::Sell),
            ],
            stops: &[
                ("BTCUSDT", "57600", FakeSide::Sell),
                ("LINKUSDT", "14.11", FakeSide::Sell),
                ("ADAUSDT", "0.432", FakeSide::Sell),
                ("DOTUSDT", "7.6", FakeSide::Buy),
            ],
        },
    }
}

async fn worked_example_rounds_quantities_and_places_stops_on_the_tick(venue: Venue) {
    let ex = example(venue);
    let fake = venue.fake(ex.world).await;
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(venue.config(dir.path(), &fake, SECRET)).await;
    assert_eq!(describe(&mut client).await.adapter, venue.name());
    let mut all = signals(venue.exchange_id(), ex.first_id, ex.symbols);
    all[ex.short] = short(all[ex.short].clone());
    let n = ex.symbols.len() as u32;
    let start = start_msg("W1", venue.exchange_id(), ex.target, n, n);
    let run = drive(&mut client, start, &all, Drive::default()).await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(ExchangeStats::from_proto(run.stats()), ex.stats);
    let got: Vec<(i64, i32)> = kinds(run.result())
        .into_iter()
        .map(|(i, k, _)| (i, k))
        .collect();
    let want: Vec<(i64, i32)> = ex.kinds.iter().map(|(i, k)| (*i, *k as i32)).collect();
    assert_eq!(got, want);

    let orders = fake.orders();
    assert_eq!(orders.len(), ex.orders.len(), "{orders:?}");
    for (o, (sym, qty, side)) in orders.iter().zip(ex.orders) {
        assert_eq!((o.symbol.as_str(), o.side), (*sym, *side));
        assert_eq!(o.orig_qty, dec(qty), "{sym}");
        assert!(!o.reduce_only, "{sym}");
    }
    // Every order carries the outcome's deterministic client order id, sent once; the
    // outcome reports the venue's order id and average price.
    for o in run.result().outcomes.iter().filter(|o| o.executed) {
        assert_eq!(fake.place_attempts(&o.client_order_id), 1);
        let rec = fake.orders_with_client_id(&o.client_order_id);
        assert_eq!(rec.len(), 1, "{}", o.symbol);
        assert_eq!(o.exchange_order_id, rec[0].order_id);
        assert_eq!(o.fill_price, float(&rec[0].avg_price), "{}", o.symbol);
    }
    for (sym, trigger, side) in ex.stops {
        let s = stop_of(&fake, sym);
        assert_eq!(s.trigger_price, dec(trigger), "{sym}");
        assert_eq!((s.side, s.order_type.as_str()), (*side, venue.stop_type()));
        assert!(
            s.close_position && s.qty.is_none(),
            "{sym}: the whole position"
        );
    }
    assert_eq!(
        fake.positions().len(),
        ex.orders.len() + 1,
        "those opened + the one held before"
    );
    let c = fake.counters();
    assert_eq!((c.signature_rejections, c.timestamp_rejections), (0, 0));
    agent.shutdown().await;
}

/// A refused entry fails with the venue's code in the outcome; a refused stop closes the
/// position (reduce-only, its whole size) and fails the signal.
async fn refused_entry_and_refused_stop_are_failed_executions(venue: Venue) {
    let world = instruments(World::new(KEY, SECRET))
        .reject_entry("XRPUSDT")
        .reject_stop("ETHUSDT");
    let fake = venue.fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(venue.config(dir.path(), &fake, SECRET)).await;
    let all = signals(venue.exchange_id(), 1, &["XRPUSDT", "ETHUSDT", "BTCUSDT"]);
    let start = start_msg("W2", venue.exchange_id(), 3, 3, 3);
    let run = drive(&mut client, start, &all, Drive::default()).await;
    let k = kinds(run.result());
    assert_eq!(k[0].1, K::ExecutionFailed as i32);
    assert!(k[0].2.contains(venue.margin_refusal_code()), "{k:?}");
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
    assert_eq!(eth[1].executed_qty, eth[0].executed_qty);
    let open: Vec<String> = fake.positions().into_iter().map(|p| p.symbol).collect();
    assert_eq!(open, vec!["BTCUSDT"], "ETHUSDT is flat again");
    agent.shutdown().await;
}

/// Entries that filled but whose answer was lost (dropped, the venue's "status unknown"
/// server error, too late) are looked up by client order id, never sent again, and protected.
async fn unknown_outcomes_are_looked_up_never_sent_again(venue: Venue) {
    let world = instruments(World::new(KEY, SECRET))
        .fault(Fault::symbol("BTCUSDT").drop_connection())
        .fault(Fault::symbol("ETHUSDT").server_error())
        .fault(Fault::symbol("ADAUSDT").delay(Duration::from_secs(20)));
    let fake = venue.fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = venue.config(dir.path(), &fake, SECRET);
    venue.live(&mut cfg).request_timeout_ms = 1000;
    let (agent, mut client) = start(cfg).await;
    let all = signals(venue.exchange_id(), 1, &["BTCUSDT", "ETHUSDT", "ADAUSDT"]);
    let start = start_msg("W3", venue.exchange_id(), 3, 3, 3);
    let run = drive(&mut client, start, &all, Drive::default()).await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(run.stats().executed, 3, "{:?}", kinds(run.result()));
    assert_eq!(run.stats().execution_failed, 0);
    for o in &run.result().outcomes {
        assert!(o.executed && o.error.is_empty(), "{o:?}");
        assert_eq!(fake.place_attempts(&o.client_order_id), 1, "{}", o.symbol);
        let rec = fake.orders_with_client_id(&o.client_order_id);
        assert_eq!(rec.len(), 1);
        assert_eq!(
            o.fill_price,
            float(&rec[0].avg_price),
            "fill from the lookup"
        );
        assert_eq!(
            o.quantity,
            float(&rec[0].executed_qty),
            "fill from the lookup"
        );
        stop_of(&fake, &o.symbol);
    }
    let c = fake.counters();
    assert_eq!(c.faults_fired, 3);
    assert_eq!(c.duplicate_rejections, 0, "nothing was re-sent");
    assert!(c.lookups >= 3, "{c:?}");
    agent.shutdown().await;
}

/// The exchange's clock runs 30 s ahead: a client stamping requests with its own clock would
/// be refused (Binance -1021, Bybit 10002) on every private call.
async fn clock_skew_is_absorbed_by_syncing_with_the_server(venue: Venue) {
    let world = instruments(World::new(KEY, SECRET)).clock_offset_ms(30_000);
    let fake = venue.fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(venue.config(dir.path(), &fake, SECRET)).await;
    let all = signals(venue.exchange_id(), 1, &["BTCUSDT"]);
    let start = start_msg("W5", venue.exchange_id(), 1, 1, 1);
    let run = drive(&mut client, start, &all, Drive::default()).await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(run.stats().executed, 1);
    assert_eq!(fake.counters().timestamp_rejections, 0);
    agent.shutdown().await;
}

/// A wave's start reads the open positions and the account (balance, positions for exposure)
/// before the first order: all three at once, so they cost one round trip, not three. With
/// 50 ms of latency the fake sees the last of them arrive while the other two are in flight
/// (one after the other, none would; the account's two alone, one). The agent may read the
/// positions once more before the wave (its journal against the venue), alone.
async fn a_waves_start_reads_positions_and_account_at_once(venue: Venue) {
    let world = instruments(World::new(KEY, SECRET)).latency(Duration::from_millis(50));
    let fake = venue.fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(venue.config(dir.path(), &fake, SECRET)).await;
    let before = fake.requests().len();
    let all = signals(venue.exchange_id(), 1, &["BTCUSDT"]);
    let start = start_msg("W6", venue.exchange_id(), 1, 1, 1);
    let run = drive(&mut client, start, &all, Drive::default()).await;
    assert_eq!(run.stats().executed, 1, "{:?}", run.status);
    let reads: Vec<(String, usize)> = fake.requests()[before..]
        .iter()
        .filter(|r| venue.account_paths().contains(&r.path.as_str()))
        .map(|r| (r.path.clone(), r.in_flight))
        .collect();
    assert!(reads.len() >= 3, "positions, balance, positions: {reads:?}");
    assert_eq!(
        reads.iter().map(|(_, n)| *n).max(),
        Some(2),
        "the start's reads were not all in flight together: {reads:?}"
    );
    agent.shutdown().await;
}

/// A first run fills BTCUSDT; its position is closed outside the agent and its journal is
/// lost; the wave comes again to a fresh agent. BTCUSDT validates (no position) and its entry's
/// id is found already filled — by the lookup Binance needs before sending (it keeps ids
/// unique among OPEN orders only and would accept it again), by Bybit's refusal `110072`. The
/// order holds its slot (ETHUSDT is never sent) and is never filled twice.
async fn duplicate_id_after_a_lost_journal_is_looked_up_not_failed(venue: Venue) {
    let fake = venue.fake(instruments(World::new(KEY, SECRET))).await;
    let id = venue.exchange_id();
    let all = signals(id, 1, &["BTCUSDT", "ETHUSDT"]);
    let coid = wavegate_common::order_id::client_order_id("W9", id, 1);
    let first_dir = tempfile::tempdir().unwrap();
    let cfg = venue.config(first_dir.path(), &fake, SECRET);
    let (agent, mut client) = start(cfg.clone()).await;
    let first = drive(
        &mut client,
        start_msg("W9", id, 1, 2, 2),
        &all,
        Drive::default(),
    )
    .await;
    assert_eq!(first.executed_ids(), vec![1]);
    let first_order_id = first.result().outcomes[0].exchange_order_id.clone();
    agent.shutdown().await;
    let account = wavegate_agent::exchange::live(&cfg.adapter).unwrap();
    account
        .close_position("BTCUSDT".into(), "manual-close-1".into())
        .await
        .unwrap();
    assert!(fake.positions().is_empty());

    let second_dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(venue.config(second_dir.path(), &fake, SECRET)).await;
    let run = drive(
        &mut client,
        start_msg("W9", id, 1, 2, 2),
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
    assert_eq!(btc.exchange_order_id, first_order_id, "found by lookup");
    assert!(btc.fill_price > 0.0 && btc.quantity > 0.0, "{btc:?}");
    // Binance: the adapter finds the order before sending and reports the duplicate; the agent
    // protects it like any found fill (a close-all stop needs no position to rest). Bybit: the
    // refused duplicate's fill has no position any more, so nothing is sent for it.
    let (error, attempts) = match venue {
        Venue::Binance => ("", 1),
        Venue::Bybit => ("position_closed_elsewhere", 2),
    };
    assert_eq!(
        (btc.kind, btc.executed, btc.error.as_str()),
        (K::Executed as i32, true, error),
        "{btc:?}"
    );
    assert_eq!(run.executed_ids(), vec![1], "ETHUSDT never opened");
    assert!(fake.orders().iter().all(|o| o.symbol != "ETHUSDT"));
    assert_eq!(
        fake.place_attempts(&coid),
        attempts,
        "never sent twice by one run"
    );
    assert_eq!(fake.orders_with_client_id(&coid).len(), 1);
    agent.shutdown().await;
}

/// Fix 5: a stop whose answer was lost is confirmed where the venue keeps it — Binance's algo
/// order under our id, Bybit's `stopLoss` on the position (`trading-stop` creates no order
/// under our id) — not set again, and its position is not closed.
async fn a_stop_whose_answer_was_lost_is_confirmed_not_sent_again(venue: Venue) {
    let world =
        instruments(World::new(KEY, SECRET)).stop_fault(Fault::symbol("BTCUSDT").server_error());
    let fake = venue.fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(venue.config(dir.path(), &fake, SECRET)).await;
    let all = signals(venue.exchange_id(), 1, &["BTCUSDT"]);
    let start = start_msg("W7", venue.exchange_id(), 1, 1, 1);
    let run = drive(&mut client, start, &all, Drive::default()).await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(run.executed_ids(), vec![1], "{:?}", kinds(run.result()));
    let o = &run.result().outcomes[0];
    assert_eq!((o.executed, o.error.as_str()), (true, ""), "{o:?}");
    assert_eq!(fake.positions().len(), 1, "the position stays open");
    assert_eq!(stop_of(&fake, "BTCUSDT").trigger_price, dec("57600"));
    let (method, path) = venue.stop_request();
    let stop_calls = fake
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count();
    assert_eq!(stop_calls, 1, "confirmed, not set again");
    assert_eq!(fake.counters().faults_fired, 1);
    agent.shutdown().await;
}

//! Whole waves against each venue's fake with the venue's hard parts switched on — rate
//! budgets that pace and throttle the agent, Bybit's delayed order visibility, a stale
//! Binance close-all stop — driven over real gRPC like a coordinator would. Whatever the venue
//! does, every position opened ends protected by a stop at the configured distance from its
//! real fill price, never more positions open than the target, and the wave's report matches
//! what the venue holds. Scenarios every venue shares (a wrong secret, the venue's own lot
//! rules) run here for both adapters instead of once per venue.

use std::time::Duration;

use crate::live_support::*;
use crate::support::*;
use wavegate_agent::config::AdapterKind;
use wavegate_tests::fake_exchange::{RateLimit, Side as FakeSide, World};

/// The agent's default `stop_loss_percent`.
const STOP_PCT: f64 = 4.0;

async fn run_wave(kind: AdapterKind, world: World) {
    let (exchange_id, name) = match kind {
        AdapterKind::Bybit => (2, "bybit"),
        _ => (1, "binance"),
    };
    let fake = start_fake(kind, world).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = live_config(
        dir.path(),
        exchange_id,
        name,
        kind,
        &fake.base_url(),
        SECRET,
    );
    let (agent, mut client) = start(cfg).await;
    let mut all = signals(
        exchange_id,
        1,
        &[
            "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "DOTUSDT",
            "LINKUSDT",
        ],
    );
    all[6] = short(all[6].clone()); // DOTUSDT: a short, whose stop sits above the price
    let target = 5;
    let run = drive(
        &mut client,
        start_msg("W-venue", exchange_id, target, 8, 8),
        &all,
        Drive::default(),
    )
    .await;
    assert!(run.status.is_none(), "{name}: {:?}", run.status);
    let executed: Vec<&wavegate_common::proto::v1::SignalOutcome> = run
        .result()
        .outcomes
        .iter()
        .filter(|o| o.executed)
        .collect();
    assert!(!executed.is_empty(), "{name}: {:?}", run.result());
    assert!(executed.len() <= target as usize, "{name}: {executed:?}");

    // The report matches what the venue holds: the executed symbols are exactly the open
    // positions, each at the fill price reported.
    let positions = fake.positions();
    let mut held: Vec<&str> = positions.iter().map(|p| p.symbol.as_str()).collect();
    let mut reported: Vec<&str> = executed.iter().map(|o| o.symbol.as_str()).collect();
    held.sort_unstable();
    reported.sort_unstable();
    assert_eq!(held, reported, "{name}");
    for p in &positions {
        let o = executed.iter().find(|o| o.symbol == p.symbol).unwrap();
        let entry: f64 = p.entry_price.to_string().parse().unwrap();
        assert_eq!(o.fill_price, entry, "{name} {}: real fill price", p.symbol);
        // Exactly one active stop, closing the position, at the configured distance from
        // the fill price (rounded to the tick away from the market).
        let stops: Vec<_> = fake
            .stops()
            .into_iter()
            .filter(|s| s.symbol == p.symbol && s.active)
            .collect();
        assert_eq!(stops.len(), 1, "{name} {}: {stops:?}", p.symbol);
        let trigger: f64 = stops[0].trigger_price.to_string().parse().unwrap();
        let long = p.qty.is_positive();
        let ideal = if long {
            entry * (1.0 - STOP_PCT / 100.0)
        } else {
            entry * (1.0 + STOP_PCT / 100.0)
        };
        let tick = if long {
            ideal - trigger
        } else {
            trigger - ideal
        };
        // Within one price tick of the ideal: 0.1 % of the price, or the 0.01 tick of the
        // cheap symbols (DOTUSDT short: 7.592 rounds up to 7.60, 0.008 away).
        assert!(
            (0.0..entry * 0.001 + 0.01).contains(&tick),
            "{name} {}: trigger {trigger}, ideal {ideal}",
            p.symbol
        );
        let closing = if long { FakeSide::Sell } else { FakeSide::Buy };
        assert_eq!(stops[0].side, closing, "{name} {}", p.symbol);
    }
    assert_eq!(fake.rate_limited().1, 0, "{name}: never banned");
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_wave_with_throttling_and_a_stale_stop_protects_every_position() {
    // Binance publishes each window as `intervalNum` × `interval` (`SECOND`, `MINUTE`, …) in
    // `exchangeInfo.rateLimits` and `X-MBX-USED-WEIGHT-1S`, so 1 s is the shortest window it
    // can have. The start-up reads and eight concurrent validations (~26 requests) overrun 20
    // and are throttled (429, `Retry-After: 1`); then every two orders (~11 requests each)
    // bring a window close to its limit, so the walk is paced.
    let world = instruments(World::new(KEY, SECRET))
        .rate_limit(RateLimit::new(20, Duration::from_secs(1)))
        .resting_close_stop("ETHUSDT", FakeSide::Sell, "2500");
    run_wave(AdapterKind::Binance, world).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_wave_with_throttling_and_delayed_acks_protects_every_position() {
    // Bybit's limits are per endpoint per second (docs/v5/rate-limit/rate-limit.mdx): 8 a
    // second runs the busiest endpoints out during validation and again every few orders, so
    // the agent paces. `order/create` is acknowledged before the order is visible
    // (docs/v5/order/create-order.mdx: "asynchronous"); 100 ms keeps the first polls blind.
    let world = instruments(World::new(KEY, SECRET))
        .rate_limit(RateLimit::new(8, Duration::from_secs(1)))
        .ack_visibility_delay(Duration::from_millis(100));
    run_wave(AdapterKind::Bybit, world).await;
}

/// Each venue of the contract: adapter kind, exchange id, name, and the code its fake answers
/// a bad signature with (Binance `-1022 Signature for this request is not valid.`, Bybit
/// `10004 error sign!`).
fn venues() -> [(AdapterKind, u32, &'static str, &'static str, &'static str); 2] {
    [
        (AdapterKind::Binance, 1, "binance", "-1022", "Signature"),
        (AdapterKind::Bybit, 2, "bybit", "10004", "sign"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_refused_with_a_clear_reason_and_no_order() {
    for (kind, id, name, code, word) in venues() {
        let fake = start_fake(kind, instruments(World::new(KEY, SECRET))).await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = live_config(
            dir.path(),
            id,
            name,
            kind,
            &fake.base_url(),
            "not-the-secret",
        );
        let (agent, mut client) = start(cfg).await;
        let all = signals(id, 1, &["BTCUSDT", "ETHUSDT"]);
        let run = drive(
            &mut client,
            start_msg("W4", id, 2, 2, 2),
            &all,
            Drive::default(),
        )
        .await;
        let status = run.status.expect("the wave is refused");
        assert_eq!(
            status.code(),
            tonic::Code::Unavailable,
            "{name}: {status:?}"
        );
        assert!(
            status.message().contains(code) && status.message().contains(word),
            "{name}: {status:?}"
        );
        assert!(!status.message().contains(SECRET), "{name}");
        assert!(fake.orders().is_empty(), "{name}");
        assert!(fake.counters().signature_rejections >= 1, "{name}");
        agent.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_rules_fail_validation_with_precise_reasons() {
    for (kind, id, name, _, _) in venues() {
        let fake = start_fake(kind, rules_world()).await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = live_config(dir.path(), id, name, kind, &fake.base_url(), SECRET);
        let (agent, mut client) = start(cfg).await;
        let all = signals(id, 1, &RULES_SYMBOLS);
        let run = drive(
            &mut client,
            start_msg("W6", id, 4, 4, 4),
            &all,
            Drive::default(),
        )
        .await;
        assert_rules_verdicts(&run);
        let orders: Vec<String> = fake.orders().into_iter().map(|o| o.symbol).collect();
        assert_eq!(orders, vec!["ETHUSDT"], "{name}");
        agent.shutdown().await;
    }
}

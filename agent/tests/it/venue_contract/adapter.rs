//! The adapter called directly against each venue's fake: fill prices, stop sanity,
//! idempotency, account mode, stop confirmation, throttling and pacing.

use std::sync::Arc;
use std::time::Duration;

use super::{Venue, active_stops, contract};
use crate::live_support::*;
use wavegate_agent::config::LiveConfig;
use wavegate_agent::exchange::position_mode::HEDGE_MODE;
use wavegate_agent::exchange::{Decimal, EntryOrder, Exchange, ExchangeError, Side, StopOrder};
use wavegate_common::telemetry::Metrics;
use wavegate_common::telemetry::metrics::Process;
use wavegate_tests::fake_exchange::{FakeServer, Instrument, RateLimit, Side as FakeSide, World};

contract!(
    entry_fill_price_is_the_real_average_price,
    a_fill_without_a_usable_price_is_protected_from_a_real_one,
    a_fill_far_from_the_last_price_is_protected_from_the_last_price,
    stop_from_a_non_positive_price_is_refused_unsent,
    a_stop_far_from_the_last_price_is_refused_unsent,
    a_filled_client_order_id_is_never_filled_again,
    hedge_mode_is_refused_at_validation,
    a_placed_stop_is_confirmed_in_place,
    throttling_is_its_own_error_and_nothing_is_sent_during_the_cool_down,
    usage_headers_pace_requests_before_the_limit,
    the_account_is_read_with_one_round_trip_of_latency,
    an_order_and_its_stop_read_the_last_price_once,
);

/// A started fake and the adapter pointed at it.
struct Bench {
    fake: FakeServer,
    exchange: Arc<dyn Exchange>,
    cfg: wavegate_agent::AgentConfig,
    _dir: tempfile::TempDir,
}

impl Bench {
    /// Another adapter on the same account and IP (another process): its own pacing and
    /// cool-downs, the venue's budget shared.
    fn sibling(&self) -> Arc<dyn Exchange> {
        wavegate_agent::exchange::live(&self.cfg.adapter).expect("adapter builds")
    }
}

async fn bench(venue: Venue, world: World) -> Bench {
    bench_with(venue, world, |_| {}).await
}

/// As [`bench`], with the venue's `[adapter.*]` settings changed by `set`.
async fn bench_with(venue: Venue, world: World, set: impl FnOnce(&mut LiveConfig)) -> Bench {
    let fake = venue.fake(world).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = venue.config(dir.path(), &fake, SECRET);
    set(venue.live(&mut cfg));
    let exchange = wavegate_agent::exchange::live(&cfg.adapter).expect("adapter builds");
    Bench {
        fake,
        exchange,
        cfg,
        _dir: dir,
    }
}

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal literal")
}

/// BTCUSDT at 60000, step 0.001, tick 0.1.
fn btc() -> Instrument {
    Instrument::new("BTCUSDT", "60000")
        .step("0.001")
        .min_qty("0.001")
        .tick("0.1")
}

fn world() -> World {
    World::new(KEY, SECRET).instrument(btc())
}

fn entry(id: &str, side: Side) -> EntryOrder {
    EntryOrder {
        client_order_id: id.to_owned(),
        symbol: "BTCUSDT".into(),
        side,
        notional: d("200"),
    }
}

fn stop(id: &str, side: Side, price: Decimal) -> StopOrder {
    StopOrder {
        client_order_id: id.to_owned(),
        symbol: "BTCUSDT".into(),
        side,
        quantity: d("0.003"),
        stop_price: price,
    }
}

/// 4 % below `price`, as the agent computes a long's stop.
fn four_percent_below(price: Decimal) -> Decimal {
    price - price * d("0.04")
}

/// Fix 1: the fill price is the venue's real average price, never 0 — Binance's order answer
/// no longer carries `avgPrice`, Bybit's ack carries no fill at all. A stop computed from it
/// lands at the right distance, exactly.
async fn entry_fill_price_is_the_real_average_price(venue: Venue) {
    let b = bench(venue, world()).await;
    let fill = b
        .exchange
        .place_entry(entry("wg-fill-1", Side::Long))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    assert_eq!((fill.price, fill.quantity), (d("60000"), d("0.003")));
    b.exchange
        .place_stop(stop(
            "ws-fill-1",
            Side::Long,
            four_percent_below(fill.price),
        ))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    let stops = active_stops(&b.fake, "BTCUSDT");
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(stops[0].trigger_price, dec("57600"));
}

/// The agent's metrics with the adapter's events attached, and the count of fills priced at
/// the last price so far.
fn replaced_count(metrics: &Metrics, venue: Venue) -> u64 {
    let text = metrics.encode().expect("metrics encode");
    let series = format!(
        "wavegate_fill_price_replaced_total{{exchange=\"{}\"}} ",
        venue.name()
    );
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .map_or(0, |v| v.trim().parse().expect("a count"))
}

/// Item 2: an entry answered without any average price (Binance leaves `avgPrice` out even
/// when read back; Bybit answers `""`) is never protected from a price of 0: Binance reads the
/// order back and, finding none, protects from the last price (logged, counted); Bybit reads
/// the fill off its position (`avgPrice` of `/v5/position/list`) once it has polled the order
/// lists for `ack_visibility_ms`. Either way the stop sits 4 % from the real price, never near
/// zero.
async fn a_fill_without_a_usable_price_is_protected_from_a_real_one(venue: Venue) {
    let world = World::new(KEY, SECRET).instrument(btc().reported_avg_price(""));
    let b = bench_with(venue, world, |live| live.ack_visibility_ms = 300).await;
    let metrics = Arc::new(Metrics::new(Process::Agent).expect("metrics"));
    b.exchange.attach_metrics(metrics.clone(), venue.name());
    let fill = b
        .exchange
        .place_entry(entry("wg-nop-1", Side::Long))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    assert_eq!((fill.price, fill.quantity), (d("60000"), d("0.003")));
    let replaced = match venue {
        Venue::Binance => 1,
        // The position's average price is a real one: nothing replaced.
        Venue::Bybit => 0,
    };
    assert_eq!(replaced_count(&metrics, venue), replaced);
    b.exchange
        .place_stop(stop("ws-nop-1", Side::Long, four_percent_below(fill.price)))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    assert_eq!(stop_trigger(&b.fake), dec("57600"));
}

/// Item 2: an entry whose reported average price is far from the venue's last price (here a
/// tenth of it) is read back; still as far, it is protected from the last price — logged at
/// error level and counted — so the stop is 4 % from the market, not 4 % from a wrong price.
async fn a_fill_far_from_the_last_price_is_protected_from_the_last_price(venue: Venue) {
    let world = World::new(KEY, SECRET).instrument(btc().reported_avg_price("6000.0"));
    let b = bench(venue, world).await;
    let metrics = Arc::new(Metrics::new(Process::Agent).expect("metrics"));
    b.exchange.attach_metrics(metrics.clone(), venue.name());
    let fill = b
        .exchange
        .place_entry(entry("wg-far-fill-1", Side::Long))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    assert_eq!((fill.price, fill.quantity), (d("60000"), d("0.003")));
    assert_eq!(replaced_count(&metrics, venue), 1);
    let order = &b.fake.orders_with_client_id("wg-far-fill-1")[0];
    assert_eq!(fill.exchange_order_id, order.order_id, "the venue's order");
    b.exchange
        .place_stop(stop(
            "ws-far-fill-1",
            Side::Long,
            four_percent_below(fill.price),
        ))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    assert_eq!(stop_trigger(&b.fake), dec("57600"));
}

/// The trigger of the one active BTCUSDT stop.
fn stop_trigger(fake: &FakeServer) -> wavegate_tests::fake_exchange::Dec {
    super::stop_of(fake, "BTCUSDT").trigger_price
}

/// A stop is never sent from a price ≤ 0 (what a missing fill price reads as).
async fn stop_from_a_non_positive_price_is_refused_unsent(venue: Venue) {
    let b = bench(venue, world()).await;
    b.exchange
        .place_entry(entry("wg-zero-1", Side::Long))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    for price in [Decimal::ZERO, d("-57600")] {
        let e = b
            .exchange
            .place_stop(stop("ws-zero-1", Side::Long, price))
            .await;
        assert_eq!(
            e,
            Err(ExchangeError::Rejected("stop_price_not_positive".into()))
        );
    }
    assert!(active_stops(&b.fake, "BTCUSDT").is_empty());
}

/// A stop far from the venue's last price (computed from a wrong fill price) or on its wrong
/// side is refused before it is sent.
async fn a_stop_far_from_the_last_price_is_refused_unsent(venue: Venue) {
    let b = bench(venue, world()).await;
    b.exchange
        .place_entry(entry("wg-far-1", Side::Long))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    for price in ["6000", "0.1", "61000"] {
        let e = b
            .exchange
            .place_stop(stop("ws-far-1", Side::Long, d(price)))
            .await;
        assert_eq!(
            e,
            Err(ExchangeError::Rejected(
                "stop_price_far_from_last_price".into()
            )),
            "{price}"
        );
    }
    assert!(active_stops(&b.fake, "BTCUSDT").is_empty());
}

/// Fix 4 (idempotency): an entry whose client order id already filled is never filled again.
/// Binance keeps ids unique among OPEN orders only, so its fake accepts a filled MARKET
/// order's id again; the adapter must find the earlier order first.
async fn a_filled_client_order_id_is_never_filled_again(venue: Venue) {
    let b = bench(venue, world()).await;
    b.exchange
        .place_entry(entry("wg-reuse-1", Side::Long))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    let again = b
        .exchange
        .place_entry(entry("wg-reuse-1", Side::Long))
        .await;
    assert!(
        matches!(again, Err(ExchangeError::DuplicateId(_))),
        "{again:?}"
    );
    assert_eq!(b.fake.orders_with_client_id("wg-reuse-1").len(), 1);
    assert_eq!(b.fake.positions().len(), 1);
}

/// Fix 6: a hedge-mode account is refused at validation with a precise reason; nothing is
/// sent. One-way accounts pass.
async fn hedge_mode_is_refused_at_validation(venue: Venue) {
    let b = bench(venue, world().hedge_mode(true)).await;
    let v = b
        .exchange
        .check_rules("BTCUSDT".into(), Side::Long, d("200"))
        .await;
    assert_eq!(v, Err(ExchangeError::Rejected(HEDGE_MODE.into())));
    let e = b
        .exchange
        .place_entry(entry("wg-hedge-1", Side::Long))
        .await;
    assert_eq!(e, Err(ExchangeError::Rejected(HEDGE_MODE.into())));
    assert!(b.fake.orders().is_empty());
    let b = bench(venue, world()).await;
    let v = b
        .exchange
        .check_rules("BTCUSDT".into(), Side::Long, d("200"))
        .await;
    assert_eq!(v, Ok(()));
}

/// Fix 5: a stop in place is confirmed where the venue keeps it — Binance's algo order under
/// our id, Bybit's `stopLoss` of the position (no order is created under our id there).
async fn a_placed_stop_is_confirmed_in_place(venue: Venue) {
    let b = bench(venue, world()).await;
    b.exchange
        .place_entry(entry("wg-conf-1", Side::Short))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    let in_place = || {
        b.exchange
            .stop_in_place("BTCUSDT".into(), "ws-conf-1".into())
    };
    assert_eq!(in_place().await, Ok(false));
    b.exchange
        .place_stop(stop("ws-conf-1", Side::Short, d("62400")))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    assert_eq!(in_place().await, Ok(true));
}

/// A budget of `limit` requests per second: Binance publishes its window in `exchangeInfo`
/// as `intervalNum` × `interval`, whose shortest is 1 `SECOND`; Bybit's limits are per second
/// (docs/v5/rate-limit/rate-limit.mdx).
fn budget(limit: u32) -> RateLimit {
    RateLimit::new(limit, Duration::from_secs(1))
}

/// Throttling is its own error, never a refusal; during the cool-down nothing reaches the
/// venue (so no ban is earned); after it, calls go through again.
async fn throttling_is_its_own_error_and_nothing_is_sent_during_the_cool_down(venue: Venue) {
    let b = bench(venue, world().rate_limit(budget(3))).await;
    // Another client on the IP spends the window's budget (the adapter's own pacing would
    // hold its own requests back), so the adapter's next read is the one over the limit; a
    // window that turned in between is spent again.
    let other = b.sibling();
    let mut answers = Vec::new();
    let retry_in = loop {
        assert!(answers.len() < 5, "throttled at least once: {answers:?}");
        for _ in 0..3 {
            let spent = other.position("BTCUSDT".into()).await;
            assert!(
                matches!(spent, Ok(None) | Err(ExchangeError::Throttled { .. })),
                "{spent:?}"
            );
        }
        match b.exchange.position("BTCUSDT".into()).await {
            Err(ExchangeError::Throttled { retry_in_ms, .. }) => break retry_in_ms,
            a => {
                assert_eq!(a, Ok(None), "a read, never a refusal");
                answers.push(a);
            }
        }
    };
    let sent = b.fake.requests().len();
    let again = b.exchange.position("BTCUSDT".into()).await;
    assert!(
        matches!(again, Err(ExchangeError::Throttled { .. })),
        "{again:?}"
    );
    assert_eq!(b.fake.requests().len(), sent, "nothing sent");
    assert_eq!(b.fake.rate_limited().1, 0, "never banned");
    tokio::time::sleep(Duration::from_millis(retry_in + 50)).await;
    let after = b.exchange.position("BTCUSDT".into()).await;
    assert_eq!(after, Ok(None), "calls resume after the cool-down");
}

/// The usage headers slow the adapter down before the venue throttles it: more sequential
/// calls than one window allows all succeed, none answered 429 / 10006.
async fn usage_headers_pace_requests_before_the_limit(venue: Venue) {
    let b = bench(venue, world().rate_limit(budget(6))).await;
    // Validation reads the rules first (Binance publishes its limits there).
    b.exchange
        .check_rules("BTCUSDT".into(), Side::Long, d("200"))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    for i in 0..10 {
        let r = b.exchange.position("BTCUSDT".into()).await;
        assert_eq!(r, Ok(None), "call {i}");
    }
    assert_eq!(b.fake.rate_limited(), (0, 0));
}

/// Fix 2 (Binance only: one close-all stop per symbol and direction, -4130; Bybit's stop is
/// a position attribute, so none outlives its position): a close-all stop left resting by a
/// position that is gone is cancelled, and the new position gets its stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_stale_close_all_stop_is_cancelled_not_fatal() {
    let world = world().resting_close_stop("BTCUSDT", FakeSide::Sell, "50000");
    let b = bench(Venue::Binance, world).await;
    b.exchange
        .place_entry(entry("wg-stale-1", Side::Long))
        .await
        .expect("entry fills");
    b.exchange
        .place_stop(stop("ws-stale-1", Side::Long, d("57600")))
        .await
        .expect("stop placed after the stale one is cancelled");
    let stops = active_stops(&b.fake, "BTCUSDT");
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(
        (stops[0].client_id.as_str(), stops[0].trigger_price),
        ("ws-stale-1", dec("57600"))
    );
}

/// Fix 4 (Bybit only: `order/create` is an asynchronous ack; Binance answers `RESULT` with
/// the filled order): an acknowledged order that becomes visible only later is still
/// reported filled at its real price, not "unknown".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_acked_order_visible_later_is_filled() {
    // Polled at 0, 50, 150 and 350 ms: visible at the fourth poll, well within the default
    // 5 s `ack_visibility_ms`.
    let world = world().ack_visibility_delay(Duration::from_millis(300));
    let b = bench(Venue::Bybit, world).await;
    let fill = b
        .exchange
        .place_entry(entry("wg-late-1", Side::Long))
        .await
        .expect("filled once visible");
    assert_eq!((fill.price, fill.quantity), (d("60000"), d("0.003")));
}

/// An acknowledged Bybit entry that stays invisible longer than the adapter polls
/// (`ack_visibility_ms`) is read off its position (the symbol was flat): filled at the
/// position's price, never "not received".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_acked_order_never_visible_is_read_off_its_position() {
    let world = world().ack_visibility_delay(Duration::from_secs(60));
    let b = bench_with(Venue::Bybit, world, |live| live.ack_visibility_ms = 300).await;
    let fill = b
        .exchange
        .place_entry(entry("wg-invisible-1", Side::Short))
        .await
        .expect("filled from the position");
    assert_eq!((fill.price, fill.quantity), (d("60000"), d("0.003")));
    assert_eq!(b.fake.orders_with_client_id("wg-invisible-1").len(), 1);
}

/// The balance and the positions (for exposure) are asked at once: with 100 ms of latency the
/// second arrives while the first is still being answered (`in_flight`), not after it.
async fn the_account_is_read_with_one_round_trip_of_latency(venue: Venue) {
    let b = bench(venue, world().latency(Duration::from_millis(100))).await;
    b.exchange.account().await.expect("the account is read");
    let reads: Vec<(String, usize)> = b
        .fake
        .requests()
        .into_iter()
        .filter(|r| venue.account_paths().contains(&r.path.as_str()))
        .map(|r| (r.path, r.in_flight))
        .collect();
    assert_eq!(reads.len(), 2, "balance and positions: {reads:?}");
    assert!(
        reads.iter().any(|(_, n)| *n >= 1),
        "sent one after the other: {reads:?}"
    );
}

/// An entry and its stop read the venue's last price once, not for the size, the fill's check
/// and the stop's check each (a round trip of latency each); 250 ms later it is read again. On
/// Binance the entry's price and its duplicate-id lookup go out together (`in_flight`).
async fn an_order_and_its_stop_read_the_last_price_once(venue: Venue) {
    let b = bench(venue, world().latency(Duration::from_millis(50))).await;
    let fill = b
        .exchange
        .place_entry(entry("wg-price-1", Side::Long))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    b.exchange
        .place_stop(stop(
            "ws-price-1",
            Side::Long,
            four_percent_below(fill.price),
        ))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    let tickers = |fake: &FakeServer| {
        fake.requests()
            .iter()
            .filter(|r| r.path == venue.ticker_path())
            .count()
    };
    assert_eq!(tickers(&b.fake), 1, "{:?}", b.fake.requests());
    if venue == Venue::Binance {
        // The reads before the order (rules, position mode, price; the lookup) overlap.
        let reqs = b.fake.requests();
        let post = reqs
            .iter()
            .position(|r| r.path == "/fapi/v1/order" && r.method == "POST")
            .expect("the order");
        assert!(
            reqs[..post].iter().any(|r| r.in_flight >= 1),
            "the entry's reads went one after the other: {:?}",
            &reqs[..post]
        );
    }
    tokio::time::sleep(wavegate_agent::exchange::last_price::MAX_AGE).await;
    b.exchange
        .place_entry(entry("wg-price-2", Side::Long))
        .await
        .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
    assert_eq!(
        tickers(&b.fake),
        2,
        "a quarter second later the price is read again"
    );
}

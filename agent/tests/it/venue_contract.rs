//! One contract for both live adapters: every scenario runs against the Binance and the Bybit
//! adapter, each talking its real REST protocol to its fake exchange
//! (`wavegate_tests::fake_exchange`), which models the venue's official documentation.
//! Scenarios a venue cannot have (Binance's one-close-all-stop rule, Bybit's asynchronous
//! ack) run for that venue only, and say so.

use std::sync::Arc;
use std::time::Duration;

use crate::live_support::*;
use wavegate_agent::config::AdapterKind;
use wavegate_agent::exchange::position_mode::HEDGE_MODE;
use wavegate_agent::exchange::{EntryOrder, Exchange, ExchangeError, Side, StopOrder};
use wavegate_tests::fake_exchange::{
    FakeBinance, FakeBybit, FakeServer, Instrument, RateLimit, Side as FakeSide, World,
};

/// The venues of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Venue {
    Binance,
    Bybit,
}

const VENUES: [Venue; 2] = [Venue::Binance, Venue::Bybit];

/// A started fake and the adapter pointed at it.
struct Bench {
    fake: FakeServer,
    exchange: Arc<dyn Exchange>,
    _dir: tempfile::TempDir,
}

impl Venue {
    async fn start(self, world: World) -> Bench {
        let fake = match self {
            Venue::Binance => FakeBinance::start(world).await,
            Venue::Bybit => FakeBybit::start(world).await,
        }
        .expect("fake starts");
        let (name, kind) = match self {
            Venue::Binance => ("binance", AdapterKind::Binance),
            Venue::Bybit => ("bybit", AdapterKind::Bybit),
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = live_config(dir.path(), 1, name, kind, &fake.base_url(), SECRET);
        let exchange = wavegate_agent::exchange::live(&cfg.adapter).expect("adapter builds");
        Bench {
            fake,
            exchange,
            _dir: dir,
        }
    }
}

/// BTCUSDT at 60000, step 0.001, tick 0.1.
fn world() -> World {
    World::new(KEY, SECRET).instrument(
        Instrument::new("BTCUSDT", "60000")
            .step("0.001")
            .min_qty("0.001")
            .tick("0.1"),
    )
}

fn entry(id: &str, side: Side) -> EntryOrder {
    EntryOrder {
        client_order_id: id.to_owned(),
        symbol: "BTCUSDT".into(),
        side,
        notional: 200.0,
    }
}

fn stop(id: &str, side: Side, price: f64) -> StopOrder {
    StopOrder {
        client_order_id: id.to_owned(),
        symbol: "BTCUSDT".into(),
        side,
        quantity: 0.003,
        stop_price: price,
    }
}

/// Active stops the fake holds for BTCUSDT.
fn active_stops(fake: &FakeServer) -> Vec<wavegate_tests::fake_exchange::StopRecord> {
    fake.stops()
        .into_iter()
        .filter(|s| s.symbol == "BTCUSDT" && s.active)
        .collect()
}

/// Fix 1: the fill price is the venue's real average price, never 0 — Binance's order answer
/// no longer carries `avgPrice`, Bybit's ack carries no fill at all. A stop computed from it
/// lands at the right distance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_fill_price_is_the_real_average_price() {
    for venue in VENUES {
        let b = venue.start(world()).await;
        let fill = b
            .exchange
            .place_entry(entry("wg-fill-1", Side::Long))
            .await
            .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
        assert_eq!((fill.price, fill.quantity), (60000.0, 0.003), "{venue:?}");
        b.exchange
            .place_stop(stop("ws-fill-1", Side::Long, fill.price * 0.96))
            .await
            .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
        let stops = active_stops(&b.fake);
        assert_eq!(stops.len(), 1, "{venue:?}: {stops:?}");
        assert_eq!(stops[0].trigger_price, dec("57600"), "{venue:?}");
    }
}

/// A stop is never sent from a price ≤ 0 (what a missing fill price reads as).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_from_a_non_positive_price_is_refused_unsent() {
    for venue in VENUES {
        let b = venue.start(world()).await;
        b.exchange
            .place_entry(entry("wg-zero-1", Side::Long))
            .await
            .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
        let e = b
            .exchange
            .place_stop(stop("ws-zero-1", Side::Long, 0.0))
            .await
            .unwrap_err();
        assert_eq!(
            e,
            ExchangeError::Rejected("stop_price_not_positive".into()),
            "{venue:?}"
        );
        assert!(active_stops(&b.fake).is_empty(), "{venue:?}");
    }
}

/// Fix 4 (idempotency): an entry whose client order id already filled is never filled again.
/// Binance keeps ids unique among OPEN orders only, so its fake accepts a filled MARKET
/// order's id again; the adapter must find the earlier order first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filled_client_order_id_is_never_filled_again() {
    for venue in VENUES {
        let b = venue.start(world()).await;
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
            "{venue:?}: {again:?}"
        );
        assert_eq!(
            b.fake.orders_with_client_id("wg-reuse-1").len(),
            1,
            "{venue:?}"
        );
        assert_eq!(b.fake.positions().len(), 1, "{venue:?}");
    }
}

/// Fix 6: a hedge-mode account is refused at validation with a precise reason; nothing is
/// sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hedge_mode_is_refused_at_validation() {
    for venue in VENUES {
        let b = venue.start(world().hedge_mode(true)).await;
        let v = b
            .exchange
            .check_rules("BTCUSDT".into(), Side::Long, 200.0)
            .await;
        assert_eq!(
            v,
            Err(ExchangeError::Rejected(HEDGE_MODE.into())),
            "{venue:?}"
        );
        let e = b
            .exchange
            .place_entry(entry("wg-hedge-1", Side::Long))
            .await;
        assert_eq!(
            e,
            Err(ExchangeError::Rejected(HEDGE_MODE.into())),
            "{venue:?}"
        );
        assert!(b.fake.orders().is_empty(), "{venue:?}");
        // One-way accounts pass.
        let b = venue.start(world()).await;
        assert_eq!(
            b.exchange
                .check_rules("BTCUSDT".into(), Side::Long, 200.0)
                .await,
            Ok(()),
            "{venue:?}"
        );
    }
}

/// Fix 5: a stop in place is confirmed where the venue keeps it — Binance's algo order under
/// our id, Bybit's `stopLoss` of the position (no order is created under our id there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placed_stop_is_confirmed_in_place() {
    for venue in VENUES {
        let b = venue.start(world()).await;
        b.exchange
            .place_entry(entry("wg-conf-1", Side::Short))
            .await
            .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
        let before = b
            .exchange
            .stop_in_place("BTCUSDT".into(), "ws-conf-1".into())
            .await;
        assert_eq!(before, Ok(false), "{venue:?}");
        b.exchange
            .place_stop(stop("ws-conf-1", Side::Short, 62400.0))
            .await
            .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
        let after = b
            .exchange
            .stop_in_place("BTCUSDT".into(), "ws-conf-1".into())
            .await;
        assert_eq!(after, Ok(true), "{venue:?}");
    }
}

/// Fix 2 (Binance only: one close-all stop per symbol and direction, -4130): a close-all stop
/// left resting by a position that is gone is cancelled, and the new position gets its stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_stale_close_all_stop_is_cancelled_not_fatal() {
    let b = Venue::Binance
        .start(world().resting_close_stop("BTCUSDT", FakeSide::Sell, "50000"))
        .await;
    b.exchange
        .place_entry(entry("wg-stale-1", Side::Long))
        .await
        .expect("entry fills");
    b.exchange
        .place_stop(stop("ws-stale-1", Side::Long, 57600.0))
        .await
        .expect("stop placed after the stale one is cancelled");
    let stops = active_stops(&b.fake);
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(
        (stops[0].client_id.as_str(), stops[0].trigger_price),
        ("ws-stale-1", dec("57600"))
    );
}

/// Fix 4 (Bybit only: `order/create` is an asynchronous ack): an acknowledged order that
/// becomes visible only later is still reported filled at its real price, not "unknown".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_acked_order_visible_later_is_filled() {
    let b = Venue::Bybit
        .start(world().ack_visibility_delay(Duration::from_millis(1500)))
        .await;
    let fill = b
        .exchange
        .place_entry(entry("wg-late-1", Side::Long))
        .await
        .expect("filled once visible");
    assert_eq!((fill.price, fill.quantity), (60000.0, 0.003));
}

/// An acknowledged Bybit entry that stays invisible longer than the adapter polls is read off
/// its position (the symbol was flat): filled at the position's price, never "not received".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_acked_order_never_visible_is_read_off_its_position() {
    let b = Venue::Bybit
        .start(world().ack_visibility_delay(Duration::from_secs(60)))
        .await;
    let fill = b
        .exchange
        .place_entry(entry("wg-invisible-1", Side::Short))
        .await
        .expect("filled from the position");
    assert_eq!((fill.price, fill.quantity), (60000.0, 0.003));
    assert_eq!(b.fake.orders_with_client_id("wg-invisible-1").len(), 1);
}

/// A budget of `limit` requests per `window` with a 1 s retry-after and a 3 s ban.
fn budget(limit: u32, window: Duration) -> RateLimit {
    RateLimit::new(limit, window)
}

/// The window of each venue's limits: Binance publishes its own in `exchangeInfo`; Bybit's
/// limits are per second.
fn window_of(venue: Venue) -> Duration {
    match venue {
        Venue::Binance => Duration::from_secs(2),
        Venue::Bybit => Duration::from_secs(1),
    }
}

/// Throttling is its own error, never a refusal; during the cool-down nothing reaches the
/// venue (so no ban is earned); after it, calls go through again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_its_own_error_and_nothing_is_sent_during_the_cool_down() {
    for venue in VENUES {
        let b = venue
            .start(world().rate_limit(budget(3, window_of(venue))))
            .await;
        let reads = (0..6).map(|_| b.exchange.position("BTCUSDT".into()));
        let answers = futures::future::join_all(reads).await;
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Ok(None) | Err(ExchangeError::Throttled { .. }))),
            "{venue:?}: {answers:?}"
        );
        let retry_in = answers
            .iter()
            .find_map(|a| match a {
                Err(ExchangeError::Throttled { retry_in_ms, .. }) => Some(*retry_in_ms),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{venue:?}: throttled at least once: {answers:?}"));
        let sent = b.fake.requests().len();
        let again = b.exchange.position("BTCUSDT".into()).await;
        assert!(
            matches!(again, Err(ExchangeError::Throttled { .. })),
            "{venue:?}: {again:?}"
        );
        assert_eq!(b.fake.requests().len(), sent, "{venue:?}: nothing sent");
        assert_eq!(b.fake.rate_limited().1, 0, "{venue:?}: never banned");
        tokio::time::sleep(Duration::from_millis(retry_in + 50)).await;
        let after = b.exchange.position("BTCUSDT".into()).await;
        assert_eq!(
            after,
            Ok(None),
            "{venue:?}: calls resume after the cool-down"
        );
    }
}

/// The usage headers slow the adapter down before the venue throttles it: more sequential
/// calls than one window allows all succeed, none answered 429 / 10006.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_headers_pace_requests_before_the_limit() {
    for venue in VENUES {
        let b = venue
            .start(world().rate_limit(budget(6, window_of(venue))))
            .await;
        // Validation reads the rules first (Binance publishes its limits there).
        b.exchange
            .check_rules("BTCUSDT".into(), Side::Long, 200.0)
            .await
            .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
        for i in 0..10 {
            let r = b.exchange.position("BTCUSDT".into()).await;
            assert_eq!(r, Ok(None), "{venue:?} call {i}");
        }
        assert_eq!(b.fake.rate_limited(), (0, 0), "{venue:?}");
    }
}

/// A stop far from the venue's last price (computed from a wrong fill price) is refused before
/// it is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_far_from_the_last_price_is_refused_unsent() {
    for venue in VENUES {
        let b = venue.start(world()).await;
        b.exchange
            .place_entry(entry("wg-far-1", Side::Long))
            .await
            .unwrap_or_else(|e| panic!("{venue:?}: {e}"));
        let e = b
            .exchange
            .place_stop(stop("ws-far-1", Side::Long, 6000.0))
            .await;
        assert_eq!(
            e,
            Err(ExchangeError::Rejected(
                "stop_price_far_from_last_price".into()
            )),
            "{venue:?}"
        );
        assert!(active_stops(&b.fake).is_empty(), "{venue:?}");
    }
}

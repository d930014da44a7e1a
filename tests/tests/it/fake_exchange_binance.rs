//! The fake Binance USDⓈ-M futures server against requests signed as Binance documents them:
//! correct requests succeed; wrong signatures, stale timestamps, bad keys, invalid client ids,
//! off-step quantities, a second close-all stop and misplaced stops fail with Binance's codes; faults hide answers of
//! orders that still fill.

use std::time::Duration;

use crate::fake_exchange_support::{GUARD, Sent, now_ms, send};
use serde_json::Value;
use wavegate_tests::fake_exchange::{
    FakeBinance, FakeServer, Fault, Instrument, Side, World, binance_signature, hmac_sha256_hex,
};

const KEY: &str = "test-api-key";
const SECRET: &str = "test-secret";

fn world() -> World {
    World::new(KEY, SECRET)
        .instrument(
            Instrument::new("BTCUSDT", "60000")
                .step("0.001")
                .min_qty("0.001")
                .min_notional("100")
                .tick("0.1"),
        )
        .instrument(
            Instrument::new("ETHUSDT", "3000")
                .step("0.01")
                .min_qty("0.01"),
        )
        .instrument(
            Instrument::new("OLDUSDT", "1")
                .step("1")
                .min_qty("1")
                .tradable(false),
        )
}

/// Encodes params as `k=v&k=v` (values here need no escaping).
fn qs(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A signed request built exactly as the docs say: params + recvWindow + timestamp, then
/// `signature` = HMAC-SHA256 of that string, appended last. GET sends it as the query string,
/// POST/DELETE as the form body.
async fn signed_as(
    fake: &FakeServer,
    key: &str,
    secret: &str,
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    ts: i64,
) -> Sent {
    let mut total = qs(params);
    if !total.is_empty() {
        total.push('&');
    }
    total.push_str(&format!("recvWindow=5000&timestamp={ts}"));
    let sig = binance_signature(secret, &total);
    let signed = format!("{total}&signature={sig}");
    let headers = [
        ("X-MBX-APIKEY", key.to_owned()),
        (
            "Content-Type",
            "application/x-www-form-urlencoded".to_owned(),
        ),
    ];
    if method == "GET" {
        send(
            &fake.base_url(),
            method,
            &format!("{path}?{signed}"),
            &headers,
            "",
            GUARD,
        )
        .await
    } else {
        send(&fake.base_url(), method, path, &headers, &signed, GUARD).await
    }
}

async fn signed(fake: &FakeServer, method: &str, path: &str, params: &[(&str, &str)]) -> Sent {
    signed_as(fake, KEY, SECRET, method, path, params, now_ms()).await
}

async fn call(
    fake: &FakeServer,
    method: &str,
    path: &str,
    params: &[(&str, &str)],
) -> (u16, Value) {
    signed(fake, method, path, params).await.reply()
}

fn code(v: &Value) -> i64 {
    v["code"].as_i64().unwrap_or(0)
}

async fn market(fake: &FakeServer, symbol: &str, side: &str, qty: &str, id: &str) -> (u16, Value) {
    call(
        fake,
        "POST",
        "/fapi/v1/order",
        &[
            ("symbol", symbol),
            ("side", side),
            ("type", "MARKET"),
            ("quantity", qty),
            ("newClientOrderId", id),
            ("newOrderRespType", "RESULT"),
        ],
    )
    .await
}

#[test]
fn documented_signature_vector() {
    // "SIGNED Endpoint Examples for POST /fapi/v1/order - HMAC Keys", example 1.
    assert_eq!(
        binance_signature(
            "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943"
        ),
        "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
    );
}

#[tokio::test]
async fn market_data_is_public_and_shaped_like_binance() {
    let fake = FakeBinance::start(world()).await.unwrap();
    let (status, info) = send(
        &fake.base_url(),
        "GET",
        "/fapi/v1/exchangeInfo",
        &[],
        "",
        GUARD,
    )
    .await
    .reply();
    assert_eq!(status, 200);
    let btc = info["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["symbol"] == "BTCUSDT")
        .unwrap();
    assert_eq!(btc["status"], "TRADING");
    let filter = |t: &str| {
        btc["filters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["filterType"] == t)
            .unwrap()
            .clone()
    };
    assert_eq!(filter("LOT_SIZE")["stepSize"], "0.001");
    assert_eq!(filter("MARKET_LOT_SIZE")["minQty"], "0.001");
    assert_eq!(filter("MIN_NOTIONAL")["notional"], "100");
    assert_eq!(filter("PRICE_FILTER")["tickSize"], "0.1");
    let old = info["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["symbol"] == "OLDUSDT")
        .unwrap();
    assert_ne!(old["status"], "TRADING");

    let (_, t) = send(
        &fake.base_url(),
        "GET",
        "/fapi/v1/ticker/price?symbol=ETHUSDT",
        &[],
        "",
        GUARD,
    )
    .await
    .reply();
    assert_eq!(t["price"], "3000.00");
    let (status, bad) = send(
        &fake.base_url(),
        "GET",
        "/fapi/v1/ticker/price?symbol=NOPEUSDT",
        &[],
        "",
        GUARD,
    )
    .await
    .reply();
    assert_eq!((status, code(&bad)), (400, -1121));
}

#[tokio::test]
async fn signed_market_order_fills_and_can_be_looked_up() {
    let fake = FakeBinance::start(world()).await.unwrap();
    let (status, o) = market(&fake, "BTCUSDT", "BUY", "0.002", "w1-e1-s1").await;
    assert_eq!(status, 200, "{o}");
    assert_eq!(o["status"], "FILLED");
    assert_eq!(o["executedQty"], "0.002");
    // connector 62.0.0: the POST answer has no avgPrice / cumQuote; GET /fapi/v1/order has.
    assert!(
        o.get("avgPrice").is_none() && o.get("cumQuote").is_none(),
        "{o}"
    );
    assert_eq!(o["clientOrderId"], "w1-e1-s1");

    let (status, q) = call(
        &fake,
        "GET",
        "/fapi/v1/order",
        &[("symbol", "BTCUSDT"), ("origClientOrderId", "w1-e1-s1")],
    )
    .await;
    assert_eq!((status, q["status"].as_str()), (200, Some("FILLED")));
    assert_eq!(q["orderId"], o["orderId"]);
    assert_eq!(q["avgPrice"], "60000.0");

    let (status, missing) = call(
        &fake,
        "GET",
        "/fapi/v1/order",
        &[("symbol", "BTCUSDT"), ("origClientOrderId", "never-sent")],
    )
    .await;
    assert_eq!((status, code(&missing)), (400, -2013));
    assert_eq!(missing["msg"], "Order does not exist.");

    let (_, risk) = call(&fake, "GET", "/fapi/v3/positionRisk", &[]).await;
    let rows = risk.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["symbol"], "BTCUSDT");
    assert_eq!(rows[0]["positionAmt"], "0.002");
    let (_, risk2) = call(
        &fake,
        "GET",
        "/fapi/v2/positionRisk",
        &[("symbol", "ETHUSDT")],
    )
    .await;
    assert_eq!(risk2[0]["positionAmt"], "0.00");

    // ACK (the default) reports the order as NEW without a fill, as Binance does.
    let (_, ack) = call(
        &fake,
        "POST",
        "/fapi/v1/order",
        &[
            ("symbol", "ETHUSDT"),
            ("side", "SELL"),
            ("type", "MARKET"),
            ("quantity", "0.05"),
        ],
    )
    .await;
    assert_eq!(ack["status"], "NEW");

    assert_eq!(fake.orders().len(), 2);
    assert_eq!(fake.counters().lookups, 2);
    let pos = fake.positions();
    assert_eq!(pos.len(), 2);
    assert_eq!(pos[1].qty.to_string(), "-0.05");
}

#[tokio::test]
async fn mixed_query_and_body_are_signed_as_one_string() {
    let fake = FakeBinance::start(world()).await.unwrap();
    let query = "symbol=ETHUSDT&side=BUY&type=MARKET";
    let body = format!("quantity=0.05&recvWindow=5000&timestamp={}", now_ms());
    // totalParams = query ‖ body, with no '&' between them.
    let sig = hmac_sha256_hex(SECRET, &format!("{query}{body}"));
    let (status, v) = send(
        &fake.base_url(),
        "POST",
        &format!("/fapi/v1/order?{query}"),
        &[("X-MBX-APIKEY", KEY.to_owned())],
        &format!("{body}&signature={sig}"),
        GUARD,
    )
    .await
    .reply();
    assert_eq!(status, 200, "{v}");
    // Joining them with '&' is a different string, hence a bad signature.
    let sig = hmac_sha256_hex(SECRET, &format!("{query}&{body}"));
    let (status, v) = send(
        &fake.base_url(),
        "POST",
        &format!("/fapi/v1/order?{query}"),
        &[("X-MBX-APIKEY", KEY.to_owned())],
        &format!("{body}&signature={sig}"),
        GUARD,
    )
    .await
    .reply();
    assert_eq!((status, code(&v)), (400, -1022));
}

#[tokio::test]
async fn bad_credentials_and_timestamps_fail_with_binance_codes_and_change_nothing() {
    let fake = FakeBinance::start(world()).await.unwrap();
    let order = [
        ("symbol", "ETHUSDT"),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quantity", "0.05"),
    ];
    let post = |key: &'static str, secret: &'static str, ts: i64| {
        let fake = &fake;
        async move {
            signed_as(fake, key, secret, "POST", "/fapi/v1/order", &order, ts)
                .await
                .reply()
        }
    };

    let (s, v) = post(KEY, "wrong-secret", now_ms()).await;
    assert_eq!((s, code(&v)), (400, -1022));
    assert_eq!(v["msg"], "Signature for this request is not valid.");
    let (s, v) = post(KEY, SECRET, now_ms() - 60_000).await;
    assert_eq!((s, code(&v)), (400, -1021));
    assert_eq!(
        v["msg"],
        "Timestamp for this request is outside of the recvWindow."
    );
    let (s, v) = post(KEY, SECRET, now_ms() + 30_000).await;
    assert_eq!((s, code(&v)), (400, -1021));
    let (s, v) = post("", SECRET, now_ms()).await;
    assert_eq!((s, code(&v)), (401, -2014));
    let (s, v) = post("someone-else", SECRET, now_ms()).await;
    assert_eq!((s, code(&v)), (401, -2015));

    // No signature at all; and a signature that is not the last parameter.
    let base = format!(
        "symbol=ETHUSDT&side=BUY&type=MARKET&quantity=0.05&timestamp={}",
        now_ms()
    );
    let h = [("X-MBX-APIKEY", KEY.to_owned())];
    let (s, v) = send(&fake.base_url(), "POST", "/fapi/v1/order", &h, &base, GUARD)
        .await
        .reply();
    assert_eq!((s, code(&v)), (400, -1102));
    let sig = hmac_sha256_hex(SECRET, &base);
    let misplaced = format!("signature={sig}&{base}");
    let (s, v) = send(
        &fake.base_url(),
        "POST",
        "/fapi/v1/order",
        &h,
        &misplaced,
        GUARD,
    )
    .await
    .reply();
    assert_eq!((s, code(&v)), (400, -1022));

    let c = fake.counters();
    assert_eq!(c.signature_rejections, 3);
    assert_eq!(c.timestamp_rejections, 2);
    assert_eq!(c.key_rejections, 2);
    assert!(fake.orders().is_empty());
    assert!(fake.positions().is_empty());
}

#[tokio::test]
async fn server_clock_skew_is_survived_by_syncing_with_server_time() {
    let fake = FakeBinance::start(world().clock_offset_ms(20_000))
        .await
        .unwrap();
    let order = [
        ("symbol", "ETHUSDT"),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quantity", "0.05"),
    ];
    let (s, v) = signed(&fake, "POST", "/fapi/v1/order", &order)
        .await
        .reply();
    assert_eq!((s, code(&v)), (400, -1021));
    let (_, t) = send(&fake.base_url(), "GET", "/fapi/v1/time", &[], "", GUARD)
        .await
        .reply();
    let server = t["serverTime"].as_i64().unwrap();
    let (s, v) = signed_as(&fake, KEY, SECRET, "POST", "/fapi/v1/order", &order, server)
        .await
        .reply();
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn order_rules_are_enforced_with_binance_codes() {
    let fake = FakeBinance::start(world().reject_entry("ETHUSDT"))
        .await
        .unwrap();
    let cases: &[(&str, &str, i64)] = &[
        ("BTCUSDT", "0.0025", -1111), // finer than the step's precision
        ("BTCUSDT", "0", -4003),
        ("ETHUSDT", "0.005", -1111),
        ("OLDUSDT", "5", -1122), // listed, not trading
        ("NOPEUSDT", "1", -1121),
        ("BTCUSDT", "0.001", -4164), // 60 USDT < 100 min notional
        ("ETHUSDT", "0.05", -2019),  // scripted: entry refused
    ];
    for (i, (symbol, qty, want)) in cases.iter().enumerate() {
        let (s, v) = market(&fake, symbol, "BUY", qty, &format!("rule-{i}")).await;
        assert_eq!((s, code(&v)), (400, *want), "{symbol} {qty}: {v}");
    }
    let step = FakeBinance::start(
        World::new(KEY, SECRET)
            .instrument(Instrument::new("XUSDT", "10").step("0.5").min_qty("0.5")),
    )
    .await
    .unwrap();
    let (s, v) = market(&step, "XUSDT", "BUY", "1.2", "x1").await;
    assert_eq!((s, code(&v)), (400, -4023));
    assert_eq!(v["msg"], "Qty not increased by step size.");

    // A misspelt parameter is not silently ignored.
    let (s, v) = call(
        &fake,
        "POST",
        "/fapi/v1/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("qty", "0.002"),
        ],
    )
    .await;
    assert_eq!((s, code(&v)), (400, -1104));
    let (s, v) = call(
        &fake,
        "POST",
        "/fapi/v1/order",
        &[("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET")],
    )
    .await;
    assert_eq!((s, code(&v)), (400, -1102));
    let (s, v) = market(&fake, "BTCUSDT", "BUY", "0.002", "bad id with spaces").await;
    assert_eq!((s, code(&v)), (400, -4015));
    assert!(fake.orders().is_empty());
}

/// `newClientOrderId` is unique among OPEN orders only: a filled MARKET order's id is
/// accepted again and fills again (what the adapter must guard against).
#[tokio::test]
async fn a_filled_orders_client_id_is_accepted_again() {
    let fake = FakeBinance::start(world()).await.unwrap();
    let (s, _) = market(&fake, "BTCUSDT", "BUY", "0.002", "dup-1").await;
    assert_eq!(s, 200);
    let (s, _) = market(&fake, "BTCUSDT", "BUY", "0.002", "dup-1").await;
    assert_eq!(s, 200);
    assert_eq!(fake.place_attempts("dup-1"), 2);
    assert_eq!(fake.orders_with_client_id("dup-1").len(), 2);
    assert_eq!(fake.counters().duplicate_rejections, 0);
    assert_eq!(fake.positions()[0].qty.to_string(), "0.004");
}

#[tokio::test]
async fn reduce_only_closes_at_most_the_position() {
    let fake = FakeBinance::start(world().position("ETHUSDT", "0.3", "2900"))
        .await
        .unwrap();
    let close = |qty: &'static str, id: &'static str| {
        let fake = &fake;
        async move {
            call(
                fake,
                "POST",
                "/fapi/v1/order",
                &[
                    ("symbol", "ETHUSDT"),
                    ("side", "SELL"),
                    ("type", "MARKET"),
                    ("quantity", qty),
                    ("reduceOnly", "true"),
                    ("newClientOrderId", id),
                    ("newOrderRespType", "RESULT"),
                ],
            )
            .await
        }
    };
    let (s, v) = close("1.00", "c1").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["executedQty"], "0.30");
    assert!(fake.positions().is_empty());
    let (s, v) = close("0.10", "c2").await;
    assert_eq!((s, code(&v)), (400, -2022));
}

#[tokio::test]
async fn protective_stops_go_through_the_algo_service() {
    let fake = FakeBinance::start(world().reject_stop("ETHUSDT"))
        .await
        .unwrap();
    market(&fake, "BTCUSDT", "BUY", "0.002", "e1").await;

    let (s, v) = call(
        &fake,
        "POST",
        "/fapi/v1/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "STOP_MARKET"),
            ("stopPrice", "57600"),
            ("closePosition", "true"),
        ],
    )
    .await;
    assert_eq!((s, code(&v)), (400, -1104), "{v}"); // stopPrice/closePosition are not read here
    let (s, v) = call(
        &fake,
        "POST",
        "/fapi/v1/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "STOP_MARKET"),
            ("quantity", "0.002"),
        ],
    )
    .await;
    assert_eq!((s, code(&v)), (400, -4120));

    let stop = |trigger: &'static str, id: &'static str, symbol: &'static str| {
        let fake = &fake;
        async move {
            call(
                fake,
                "POST",
                "/fapi/v1/algoOrder",
                &[
                    ("algoType", "CONDITIONAL"),
                    ("symbol", symbol),
                    ("side", "SELL"),
                    ("type", "STOP_MARKET"),
                    ("triggerPrice", trigger),
                    ("closePosition", "true"),
                    ("workingType", "MARK_PRICE"),
                    ("clientAlgoId", id),
                ],
            )
            .await
        }
    };
    let (s, v) = stop("61000", "sl-bad", "BTCUSDT").await; // above the price: fires at once
    assert_eq!((s, code(&v)), (400, -2021));
    let (s, v) = stop("57600.05", "sl-tick", "BTCUSDT").await;
    assert_eq!((s, code(&v)), (400, -4014));
    let (s, v) = stop("2800", "sl-eth", "ETHUSDT").await; // scripted refusal
    assert_eq!((s, code(&v)), (400, -4045));
    let (s, v) = stop("57600", "sl-1", "BTCUSDT").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["algoStatus"], "NEW");
    assert_eq!(v["closePosition"], true);
    assert_eq!(v["triggerPrice"], "57600.0");
    let (s, v) = stop("57600", "sl-1", "BTCUSDT").await;
    assert_eq!((s, code(&v)), (400, -4116));
    // One close-all stop per symbol and direction while it rests.
    let (s, v) = stop("57500", "sl-2", "BTCUSDT").await;
    assert_eq!((s, code(&v)), (400, -4130));

    let stops = fake.stops();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].side, Side::Sell);
    assert!(stops[0].close_position && stops[0].active);
    assert_eq!(fake.counters().stops_placed, 1);

    let (_, q) = call(
        &fake,
        "GET",
        "/fapi/v1/algoOrder",
        &[("clientAlgoId", "sl-1")],
    )
    .await;
    assert_eq!(q["algoStatus"], "NEW");
    let (_, open) = call(
        &fake,
        "GET",
        "/fapi/v1/openAlgoOrders",
        &[("symbol", "BTCUSDT")],
    )
    .await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    let (s, _) = call(
        &fake,
        "DELETE",
        "/fapi/v1/algoOrder",
        &[("clientAlgoId", "sl-1")],
    )
    .await;
    assert_eq!(s, 200);
    let (_, q) = call(
        &fake,
        "GET",
        "/fapi/v1/algoOrder",
        &[("clientAlgoId", "sl-1")],
    )
    .await;
    assert_eq!(q["algoStatus"], "CANCELED");
    assert!(!fake.stops()[0].active);
}

#[tokio::test]
async fn dropped_connection_hides_a_fill_that_a_lookup_finds_and_a_resend_fills_again() {
    let fake = FakeBinance::start(world().fault(Fault::next_orders(1).drop_connection()))
        .await
        .unwrap();
    let sent = signed(
        &fake,
        "POST",
        "/fapi/v1/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "0.002"),
            ("newClientOrderId", "lost-1"),
            ("newOrderRespType", "RESULT"),
        ],
    )
    .await;
    assert!(matches!(sent, Sent::Closed), "{sent:?}");
    assert_eq!(fake.orders_with_client_id("lost-1").len(), 1);
    assert!(fake.orders()[0].fault.is_some());

    // Looking it up finds the fill.
    let (s, q) = call(
        &fake,
        "GET",
        "/fapi/v1/order",
        &[("symbol", "BTCUSDT"), ("origClientOrderId", "lost-1")],
    )
    .await;
    assert_eq!((s, q["status"].as_str()), (200, Some("FILLED")));
    assert_eq!(fake.orders().len(), 1);
    assert_eq!(fake.counters().faults_fired, 1);
    // Re-sending it is not refused: the filled order is not open, so its id is free again and
    // a second position opens — never re-send, look up.
    let (s, _) = market(&fake, "BTCUSDT", "BUY", "0.002", "lost-1").await;
    assert_eq!(s, 200);
    assert_eq!(fake.orders_with_client_id("lost-1").len(), 2);
}

#[tokio::test]
async fn server_error_and_late_answer_still_fill() {
    let fake = FakeBinance::start(
        world()
            .fault(Fault::symbol("ETHUSDT").server_error())
            .fault(Fault::next_orders(1).delay(Duration::from_secs(5))),
    )
    .await
    .unwrap();
    let (s, v) = market(&fake, "ETHUSDT", "BUY", "0.05", "e-500").await;
    assert_eq!((s, code(&v)), (503, -1007));
    assert_eq!(fake.orders_with_client_id("e-500").len(), 1);

    let params = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quantity", "0.002"),
        ("newClientOrderId", "slow-1"),
    ];
    let mut total = qs(&params);
    total.push_str(&format!("&timestamp={}", now_ms()));
    let body = format!("{total}&signature={}", binance_signature(SECRET, &total));
    let sent = send(
        &fake.base_url(),
        "POST",
        "/fapi/v1/order",
        &[("X-MBX-APIKEY", KEY.to_owned())],
        &body,
        Duration::from_millis(300),
    )
    .await;
    assert!(matches!(sent, Sent::TimedOut), "{sent:?}");
    assert_eq!(fake.orders_with_client_id("slow-1").len(), 1);
    assert_eq!(fake.counters().faults_fired, 2);
}

/// The fake counts the requests it is still handling (`in_flight`, which the agent's
/// concurrency tests read). A client that hangs up during the latency takes its request out of
/// the count; else every later request would read one in flight that is not.
#[tokio::test]
async fn a_request_whose_client_hung_up_is_no_longer_in_flight() {
    let fake = FakeBinance::start(world().latency(Duration::from_millis(300)))
        .await
        .unwrap();
    let ticker = "/fapi/v1/ticker/price?symbol=ETHUSDT";
    let gone = send(
        &fake.base_url(),
        "GET",
        ticker,
        &[],
        "",
        Duration::from_millis(30),
    )
    .await;
    assert!(matches!(gone, Sent::TimedOut), "{gone:?}");
    // Past the latency the hung-up request would have been answered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = send(&fake.base_url(), "GET", ticker, &[], "", GUARD)
        .await
        .reply();
    assert_eq!(status, 200);
    let last = fake.requests().pop().expect("recorded");
    assert_eq!(last.in_flight, 0, "{last:?}");
}

//! The fake Bybit v5 (linear) server against requests signed as Bybit documents them:
//! `X-BAPI-SIGN = hex(HMAC_SHA256(secret, timestamp + apiKey + recvWindow + payload))` with the
//! query string (GET) or raw JSON body (POST) as payload.

use std::time::Duration;

use crate::fake_exchange_support::{GUARD, Sent, now_ms, send};
use serde_json::{Value, json};
use wavegate_tests::fake_exchange::{
    FakeBybit, FakeServer, Fault, Instrument, World, bybit_signature, hmac_sha256_hex,
};

const KEY: &str = "bybit-key";
const SECRET: &str = "bybit-secret";

fn world() -> World {
    World::new(KEY, SECRET)
        .instrument(
            Instrument::new("BTCUSDT", "60000")
                .step("0.001")
                .min_qty("0.001")
                .min_notional("5")
                .tick("0.1"),
        )
        .instrument(
            Instrument::new("ETHUSDT", "3000")
                .step("0.01")
                .min_qty("0.01")
                .min_notional("50"),
        )
        .instrument(
            Instrument::new("OLDUSDT", "1")
                .step("1")
                .min_qty("1")
                .tradable(false),
        )
}

fn headers(key: &str, ts: i64, sign: String) -> Vec<(&'static str, String)> {
    vec![
        ("X-BAPI-API-KEY", key.to_owned()),
        ("X-BAPI-TIMESTAMP", ts.to_string()),
        ("X-BAPI-RECV-WINDOW", "5000".to_owned()),
        ("X-BAPI-SIGN", sign),
        ("Content-Type", "application/json".to_owned()),
    ]
}

async fn get(fake: &FakeServer, path: &str, query: &str) -> (u16, Value) {
    let ts = now_ms();
    let sign = bybit_signature(SECRET, &ts.to_string(), KEY, "5000", query);
    send(
        &fake.base_url(),
        "GET",
        &format!("{path}?{query}"),
        &headers(KEY, ts, sign),
        "",
        GUARD,
    )
    .await
    .reply()
}

async fn post_raw(fake: &FakeServer, path: &str, body: &str, timeout: Duration) -> Sent {
    let ts = now_ms();
    let sign = bybit_signature(SECRET, &ts.to_string(), KEY, "5000", body);
    send(
        &fake.base_url(),
        "POST",
        path,
        &headers(KEY, ts, sign),
        body,
        timeout,
    )
    .await
}

async fn post(fake: &FakeServer, path: &str, body: Value) -> (u16, Value) {
    post_raw(fake, path, &body.to_string(), GUARD).await.reply()
}

fn ret(v: &Value) -> i64 {
    v["retCode"].as_i64().unwrap_or(-1)
}

fn market(symbol: &str, side: &str, qty: &str, link: &str) -> Value {
    json!({"category": "linear", "symbol": symbol, "side": side, "orderType": "Market",
           "qty": qty, "orderLinkId": link, "positionIdx": 0})
}

#[test]
fn signature_is_hmac_of_the_documented_concatenation() {
    // The guide's GET example: "1658384314791" + "XXXXXXXXXX" + "5000" + query string.
    assert_eq!(
        bybit_signature(
            "s3cr3t",
            "1658384314791",
            "XXXXXXXXXX",
            "5000",
            "category=option&symbol=BTC-29JUL22-25000-C"
        ),
        hmac_sha256_hex(
            "s3cr3t",
            "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
        )
    );
}

#[tokio::test]
async fn market_data_is_public_and_shaped_like_bybit() {
    let fake = FakeBybit::start(world()).await.unwrap();
    let url = fake.base_url();
    let (s, v) = send(
        &url,
        "GET",
        "/v5/market/instruments-info?category=linear",
        &[],
        "",
        GUARD,
    )
    .await
    .reply();
    assert_eq!((s, ret(&v)), (200, 0));
    let list = v["result"]["list"].as_array().unwrap();
    // Only Trading symbols by default, as Bybit does.
    assert_eq!(list.len(), 2);
    let btc = list.iter().find(|i| i["symbol"] == "BTCUSDT").unwrap();
    assert_eq!(btc["status"], "Trading");
    assert_eq!(btc["lotSizeFilter"]["qtyStep"], "0.001");
    assert_eq!(btc["lotSizeFilter"]["minOrderQty"], "0.001");
    assert_eq!(btc["lotSizeFilter"]["minNotionalValue"], "5");
    assert_eq!(btc["priceFilter"]["tickSize"], "0.1");
    let (_, v) = send(
        &url,
        "GET",
        "/v5/market/instruments-info?category=linear&symbol=OLDUSDT&status=Closed",
        &[],
        "",
        GUARD,
    )
    .await
    .reply();
    assert_eq!(v["result"]["list"][0]["status"], "Closed");

    let (_, t) = send(
        &url,
        "GET",
        "/v5/market/tickers?category=linear&symbol=ETHUSDT",
        &[],
        "",
        GUARD,
    )
    .await
    .reply();
    assert_eq!(t["result"]["list"][0]["lastPrice"], "3000.00");
    let (_, t) = send(
        &url,
        "GET",
        "/v5/market/tickers?category=linear&symbol=NOPEUSDT",
        &[],
        "",
        GUARD,
    )
    .await
    .reply();
    assert_eq!(
        (ret(&t), t["retMsg"].as_str()),
        (10001, Some("Not supported symbols"))
    );
    let (_, t) = send(&url, "GET", "/v5/market/time", &[], "", GUARD)
        .await
        .reply();
    assert!(t["result"]["timeSecond"].as_str().is_some());
}

#[tokio::test]
async fn signed_market_order_fills_and_can_be_looked_up() {
    let fake = FakeBybit::start(world()).await.unwrap();
    let (s, v) = post(
        &fake,
        "/v5/order/create",
        market("BTCUSDT", "Buy", "0.002", "w1-e2-s7"),
    )
    .await;
    assert_eq!((s, ret(&v)), (200, 0), "{v}");
    assert_eq!(v["retMsg"], "OK");
    assert_eq!(v["result"]["orderLinkId"], "w1-e2-s7");
    let order_id = v["result"]["orderId"].as_str().unwrap().to_owned();

    let (_, q) = get(
        &fake,
        "/v5/order/realtime",
        "category=linear&symbol=BTCUSDT&orderLinkId=w1-e2-s7",
    )
    .await;
    let o = &q["result"]["list"][0];
    assert_eq!(o["orderStatus"], "Filled");
    assert_eq!(o["orderId"], order_id.as_str());
    assert_eq!(o["avgPrice"], "60000.0");
    assert_eq!(o["cumExecQty"], "0.002");
    let (_, h) = get(&fake, "/v5/order/history", "category=linear&symbol=BTCUSDT").await;
    assert_eq!(h["result"]["list"].as_array().unwrap().len(), 1);
    let (_, none) = get(
        &fake,
        "/v5/order/realtime",
        "category=linear&symbol=BTCUSDT&orderLinkId=never",
    )
    .await;
    assert_eq!(
        (ret(&none), none["result"]["list"].as_array().map(Vec::len)),
        (0, Some(0))
    );
    let (_, bad) = get(
        &fake,
        "/v5/order/realtime",
        "category=linear&orderLinkId=w1-e2-s7",
    )
    .await;
    assert_eq!(ret(&bad), 10001);

    let (_, p) = get(&fake, "/v5/position/list", "category=linear&symbol=BTCUSDT").await;
    let row = &p["result"]["list"][0];
    assert_eq!(
        (row["side"].as_str(), row["size"].as_str()),
        (Some("Buy"), Some("0.002"))
    );
    let (_, p) = get(&fake, "/v5/position/list", "category=linear&symbol=ETHUSDT").await;
    assert_eq!(p["result"]["list"][0]["size"], "0.00");
    assert_eq!(p["result"]["list"][0]["side"], "");
    let (_, p) = get(
        &fake,
        "/v5/position/list",
        "category=linear&settleCoin=USDT",
    )
    .await;
    assert_eq!(p["result"]["list"].as_array().unwrap().len(), 1);

    assert_eq!(fake.orders().len(), 1);
    assert_eq!(fake.counters().lookups, 3);
}

#[tokio::test]
async fn bad_credentials_and_timestamps_fail_with_bybit_codes_and_change_nothing() {
    let fake = FakeBybit::start(world()).await.unwrap();
    let body = market("ETHUSDT", "Buy", "0.05", "x").to_string();
    let url = fake.base_url();
    let attempt = |key: &'static str, secret: &'static str, ts: i64, signed_body: String| {
        let (url, body) = (url.clone(), body.clone());
        async move {
            let sign = bybit_signature(secret, &ts.to_string(), key, "5000", &signed_body);
            send(
                &url,
                "POST",
                "/v5/order/create",
                &headers(key, ts, sign),
                &body,
                GUARD,
            )
            .await
            .reply()
        }
    };
    let (s, v) = attempt(KEY, "wrong", now_ms(), body.clone()).await;
    assert_eq!((s, ret(&v)), (200, 10004));
    // Signing a differently formatted JSON than the bytes sent is a bad signature too.
    let pretty = serde_json::to_string_pretty(&market("ETHUSDT", "Buy", "0.05", "x")).unwrap();
    let (_, v) = attempt(KEY, SECRET, now_ms(), pretty).await;
    assert_eq!(ret(&v), 10004);
    let (_, v) = attempt(KEY, SECRET, now_ms() - 10_000, body.clone()).await;
    assert_eq!(ret(&v), 10002);
    let (_, v) = attempt(KEY, SECRET, now_ms() + 5_000, body.clone()).await;
    assert_eq!(ret(&v), 10002);
    let (s, v) = attempt("other-key", SECRET, now_ms(), body.clone()).await;
    assert_eq!((s, ret(&v)), (401, 10003));
    let (s, v) = send(&url, "POST", "/v5/order/create", &[], &body, GUARD)
        .await
        .reply();
    assert_eq!((s, ret(&v)), (401, 10003));

    let c = fake.counters();
    assert_eq!(
        (
            c.signature_rejections,
            c.timestamp_rejections,
            c.key_rejections
        ),
        (2, 2, 2)
    );
    assert!(fake.orders().is_empty());
}

#[tokio::test]
async fn order_rules_are_enforced_with_bybit_codes() {
    let fake = FakeBybit::start(world().reject_entry("ETHUSDT"))
        .await
        .unwrap();
    let cases: &[(&str, &str, i64)] = &[
        ("BTCUSDT", "0.0015", 10001), // not a multiple of qtyStep
        ("BTCUSDT", "0", 10001),
        ("NOPEUSDT", "1", 10001),
        ("OLDUSDT", "5", 110074),
        ("ETHUSDT", "0.01", 110094), // 30 USDT < 50 minNotionalValue
        ("ETHUSDT", "0.05", 110007), // scripted: entry refused
    ];
    for (i, (symbol, qty, want)) in cases.iter().enumerate() {
        let (_, v) = post(
            &fake,
            "/v5/order/create",
            market(symbol, "Buy", qty, &format!("r{i}")),
        )
        .await;
        assert_eq!(ret(&v), *want, "{symbol} {qty}: {v}");
    }
    // Documented types: qty is a string, reduceOnly a boolean.
    let mut numeric = market("BTCUSDT", "Buy", "0.002", "n1");
    numeric["qty"] = json!(0.002);
    let (_, v) = post(&fake, "/v5/order/create", numeric).await;
    assert_eq!(ret(&v), 10001);
    let mut flag = market("BTCUSDT", "Buy", "0.002", "n2");
    flag["reduceOnly"] = json!("false");
    let (_, v) = post(&fake, "/v5/order/create", flag).await;
    assert_eq!(ret(&v), 10001);
    // A misnamed field leaves a required one missing.
    let (_, v) = post(&fake, "/v5/order/create",
        json!({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "quantity": "0.002"})).await;
    assert_eq!(ret(&v), 10001);
    let (_, v) = post(
        &fake,
        "/v5/order/create",
        market("BTCUSDT", "Buy", "0.002", "has space"),
    )
    .await;
    assert_eq!(ret(&v), 10001);
    assert!(fake.orders().is_empty());
}

#[tokio::test]
async fn duplicate_order_link_id_is_refused() {
    let fake = FakeBybit::start(world()).await.unwrap();
    let (_, v) = post(
        &fake,
        "/v5/order/create",
        market("BTCUSDT", "Buy", "0.002", "d1"),
    )
    .await;
    assert_eq!(ret(&v), 0);
    let (_, v) = post(
        &fake,
        "/v5/order/create",
        market("BTCUSDT", "Buy", "0.002", "d1"),
    )
    .await;
    assert_eq!(
        (ret(&v), v["retMsg"].as_str()),
        (110072, Some("OrderLinkedID is duplicate"))
    );
    assert_eq!(fake.place_attempts("d1"), 2);
    assert_eq!(fake.orders().len(), 1);
}

#[tokio::test]
async fn reduce_only_closes_at_most_the_position() {
    let fake = FakeBybit::start(world().position("ETHUSDT", "-0.4", "3100"))
        .await
        .unwrap();
    let mut close = market("ETHUSDT", "Buy", "1", "c1");
    close["reduceOnly"] = json!(true);
    let (_, v) = post(&fake, "/v5/order/create", close.clone()).await;
    assert_eq!(ret(&v), 0, "{v}");
    assert_eq!(fake.orders()[0].executed_qty.to_string(), "0.4");
    assert!(fake.positions().is_empty());
    close["orderLinkId"] = json!("c2");
    let (_, v) = post(&fake, "/v5/order/create", close).await;
    assert_eq!(ret(&v), 110017);
}

#[tokio::test]
async fn stop_loss_is_set_on_the_position() {
    let fake = FakeBybit::start(
        world()
            .position("ETHUSDT", "0.5", "2950")
            .reject_stop("BTCUSDT"),
    )
    .await
    .unwrap();
    let stop = |symbol: &str, sl: &str| {
        json!({"category": "linear", "symbol": symbol, "tpslMode": "Full", "positionIdx": 0,
               "stopLoss": sl, "slTriggerBy": "MarkPrice"})
    };
    let (_, v) = post(&fake, "/v5/position/trading-stop", stop("ETHUSDT", "3100")).await;
    assert_eq!(ret(&v), 10001, "above the price for a long: {v}");
    assert!(
        v["retMsg"]
            .as_str()
            .unwrap()
            .contains("should lower than base_price")
    );
    let (_, v) = post(
        &fake,
        "/v5/position/trading-stop",
        stop("ETHUSDT", "2880.005"),
    )
    .await;
    assert_eq!(ret(&v), 10001);
    let (_, v) = post(
        &fake,
        "/v5/position/trading-stop",
        json!({"category": "linear", "symbol": "ETHUSDT", "positionIdx": 0, "stopLoss": "2880"}),
    )
    .await;
    assert_eq!(ret(&v), 10001, "tpslMode is required: {v}");
    let (_, v) = post(&fake, "/v5/position/trading-stop", stop("ETHUSDT", "2880")).await;
    assert_eq!(ret(&v), 0, "{v}");
    let (_, p) = get(&fake, "/v5/position/list", "category=linear&symbol=ETHUSDT").await;
    assert_eq!(p["result"]["list"][0]["stopLoss"], "2880.00");
    // Setting it again replaces it.
    let (_, v) = post(&fake, "/v5/position/trading-stop", stop("ETHUSDT", "2850")).await;
    assert_eq!(ret(&v), 0);
    let active: Vec<_> = fake.stops().into_iter().filter(|s| s.active).collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].trigger_price.to_string(), "2850");

    let (_, v) = post(&fake, "/v5/position/trading-stop", stop("BTCUSDT", "50000")).await;
    assert_eq!(ret(&v), 10001, "no BTC position: {v}");
    post(
        &fake,
        "/v5/order/create",
        market("BTCUSDT", "Buy", "0.002", "b1"),
    )
    .await;
    let (_, v) = post(&fake, "/v5/position/trading-stop", stop("BTCUSDT", "50000")).await;
    assert_eq!(ret(&v), 110009, "scripted refusal: {v}");
    assert_eq!(fake.counters().stops_placed, 2);

    // Closing the position removes its stop loss.
    let mut close = market("ETHUSDT", "Sell", "0.5", "close-eth");
    close["reduceOnly"] = json!(true);
    let (_, v) = post(&fake, "/v5/order/create", close).await;
    assert_eq!(ret(&v), 0, "{v}");
    assert!(fake.stops().iter().all(|s| !s.active));
}

#[tokio::test]
async fn faults_hide_answers_of_orders_that_fill() {
    let fake = FakeBybit::start(
        world()
            .fault(Fault::next_orders(1).drop_connection())
            .fault(Fault::symbol("ETHUSDT").server_error()),
    )
    .await
    .unwrap();
    let sent = post_raw(
        &fake,
        "/v5/order/create",
        &market("BTCUSDT", "Buy", "0.002", "lost-1").to_string(),
        GUARD,
    )
    .await;
    assert!(matches!(sent, Sent::Closed), "{sent:?}");
    assert_eq!(fake.orders_with_client_id("lost-1").len(), 1);
    // Re-sending is a duplicate; looking it up finds the fill.
    let (_, v) = post(
        &fake,
        "/v5/order/create",
        market("BTCUSDT", "Buy", "0.002", "lost-1"),
    )
    .await;
    assert_eq!(ret(&v), 110072);
    let (_, q) = get(
        &fake,
        "/v5/order/realtime",
        "category=linear&symbol=BTCUSDT&orderLinkId=lost-1",
    )
    .await;
    assert_eq!(q["result"]["list"][0]["orderStatus"], "Filled");

    let (s, v) = post(
        &fake,
        "/v5/order/create",
        market("ETHUSDT", "Sell", "0.05", "e-500"),
    )
    .await;
    assert_eq!((s, ret(&v)), (500, 10016));
    assert_eq!(fake.orders_with_client_id("e-500").len(), 1);

    fake.add_fault(Fault::next_orders(1).delay(Duration::from_secs(5)));
    let sent = post_raw(
        &fake,
        "/v5/order/create",
        &market("BTCUSDT", "Buy", "0.002", "slow-1").to_string(),
        Duration::from_millis(300),
    )
    .await;
    assert!(matches!(sent, Sent::TimedOut), "{sent:?}");
    assert_eq!(fake.orders_with_client_id("slow-1").len(), 1);
    assert_eq!(fake.positions()[0].qty.to_string(), "0.004");
    assert_eq!(fake.counters().faults_fired, 3);
}

//! The `binance` adapter against the fake Binance USDⓈ-M futures server (real signing, codes,
//! lot rules, algo stops, faults), driven over real gRPC like a coordinator would.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::live_support::*;
use crate::support::*;
use wavegate_agent::config::AdapterKind;
use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::{ExchangeStats, ParamsSource};
use wavegate_tests::fake_exchange::{FakeBinance, FakeServer, Fault, Side as FakeSide, World};
use wavegate_tests::worked_example;

use pb::OutcomeKind as K;

async fn fake(world: World) -> FakeServer {
    FakeBinance::start(world)
        .await
        .expect("fake binance starts")
}

fn config(dir: &std::path::Path, fake: &FakeServer, secret: &str) -> wavegate_agent::AgentConfig {
    live_config(
        dir,
        1,
        "binance",
        AdapterKind::Binance,
        &fake.base_url(),
        secret,
    )
}

/// The stop the exchange holds for `symbol` (exactly one, active).
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
async fn worked_example_rounds_quantities_and_places_stops_on_the_tick() {
    let world = instruments(World::new(KEY, SECRET))
        .position("SOLUSDT", "0.5", "150")
        .reject_entry("XRPUSDT");
    let fake = fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(config(dir.path(), &fake, SECRET)).await;
    assert_eq!(describe(&mut client).await.adapter, "binance");

    let mut all = signals(
        1,
        101,
        &[
            "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BTCUSDT", "ADAUSDT", "DOGEUSDT",
            "DOTUSDT", "LINKUSDT",
        ],
    );
    all[7] = short(all[7].clone()); // DOTUSDT: a short, whose stop sits above the price
    let run = drive(
        &mut client,
        start_msg("W1", 1, 6, 9, 9),
        &all,
        Drive::default(),
    )
    .await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(
        ExchangeStats::from_proto(run.stats()),
        worked_example::binance(ParamsSource::Db)
    );
    let k = kinds(run.result());
    let ids_kinds: Vec<(i64, i32)> = k.iter().map(|(i, k, _)| (*i, *k)).collect();
    assert_eq!(
        ids_kinds,
        vec![
            (101, K::Executed as i32),
            (102, K::Executed as i32),
            (103, K::Duplicate as i32),
            (104, K::ExecutionFailed as i32),
            (105, K::Duplicate as i32),
            (106, K::Executed as i32),
            (107, K::Executed as i32),
            (108, K::Executed as i32),
            (109, K::Executed as i32),
        ]
    );
    assert_eq!(k[2].2, "open_position");
    assert!(
        k[3].2.contains("-2019"),
        "the exchange's refusal reaches the outcome: {}",
        k[3].2
    );

    // Quantities: notional 100 / price, rounded DOWN to the step (the fake refuses off-step).
    let orders = fake.orders();
    let qty: Vec<(String, String)> = orders
        .iter()
        .map(|o| (o.symbol.clone(), o.orig_qty.to_string()))
        .collect();
    let want_qty = [
        ("BTCUSDT", "0.001"),
        ("ETHUSDT", "0.03"),
        ("ADAUSDT", "222"),
        ("DOGEUSDT", "666"),
        ("DOTUSDT", "13.6"),
        ("LINKUSDT", "6.8"),
    ];
    assert_eq!(qty.len(), want_qty.len(), "{qty:?}");
    for ((sym, q), (wsym, wq)) in qty.iter().zip(want_qty) {
        assert_eq!(sym, wsym);
        assert_eq!(dec(q), dec(wq), "{sym}");
    }
    assert!(orders.iter().all(|o| !o.reduce_only));
    let dot = orders.iter().find(|o| o.symbol == "DOTUSDT").unwrap();
    assert_eq!(dot.side, FakeSide::Sell);
    // Every order carries the outcome's deterministic client order id, sent once.
    for o in run.result().outcomes.iter().filter(|o| o.executed) {
        assert_eq!(fake.place_attempts(&o.client_order_id), 1);
        let rec = fake.orders_with_client_id(&o.client_order_id);
        assert_eq!(rec.len(), 1, "{}", o.symbol);
        assert_eq!(
            o.fill_price,
            rec[0].avg_price.to_string().parse::<f64>().unwrap()
        );
    }

    // Stops: 4% from the fill, on the tick, rounded away from the market; closePosition.
    for (sym, trigger, side) in [
        ("BTCUSDT", "57600", FakeSide::Sell),
        ("ETHUSDT", "2880", FakeSide::Sell),
        ("ADAUSDT", "0.432", FakeSide::Sell),
        ("DOGEUSDT", "0.144", FakeSide::Sell),
        ("DOTUSDT", "7.6", FakeSide::Buy),     // 7.592 rounded up
        ("LINKUSDT", "14.11", FakeSide::Sell), // 14.112 rounded down
    ] {
        let s = stop_of(&fake, sym);
        assert_eq!(s.trigger_price, dec(trigger), "{sym}");
        assert_eq!(s.side, side, "{sym}");
        assert_eq!(s.order_type, "STOP_MARKET");
        assert!(s.close_position && s.qty.is_none(), "{sym}");
    }
    let positions: Vec<String> = fake.positions().into_iter().map(|p| p.symbol).collect();
    assert_eq!(
        positions.len(),
        7,
        "6 opened + the one held before: {positions:?}"
    );
    let c = fake.counters();
    assert_eq!((c.signature_rejections, c.timestamp_rejections), (0, 0));
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_stop_closes_the_position_and_fails_the_signal() {
    let world = instruments(World::new(KEY, SECRET)).reject_stop("ETHUSDT");
    let fake = fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(config(dir.path(), &fake, SECRET)).await;
    let all = signals(1, 1, &["ETHUSDT", "BTCUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W2", 1, 2, 2, 2),
        &all,
        Drive::default(),
    )
    .await;
    let k = kinds(run.result());
    assert_eq!(
        k,
        vec![
            (1, K::ExecutionFailed as i32, "stop_failed_closed".into()),
            (2, K::Executed as i32, String::new()),
        ]
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_outcomes_are_looked_up_never_sent_again() {
    let world = instruments(World::new(KEY, SECRET))
        // Each order fills; only the answer is lost: dropped, 503 -1007, or too late.
        .fault(Fault::symbol("BTCUSDT").drop_connection())
        .fault(Fault::symbol("ETHUSDT").server_error())
        .fault(Fault::symbol("ADAUSDT").delay(Duration::from_secs(20)));
    let fake = fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &fake, SECRET);
    cfg.adapter.binance.request_timeout_ms = 1000;
    let (agent, mut client) = start(cfg).await;
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT", "ADAUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W3", 1, 3, 3, 3),
        &all,
        Drive::default(),
    )
    .await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(run.stats().executed, 3, "{:?}", kinds(run.result()));
    assert_eq!(run.stats().execution_failed, 0);
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
    assert!(c.lookups >= 3, "{c:?}");
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_are_a_startup_error_naming_the_key() {
    let fake = fake(instruments(World::new(KEY, SECRET))).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &fake, SECRET);
    cfg.adapter.binance.api_secret = None;
    let e = wavegate_agent::spawn(cfg).await.err().expect("refused");
    assert!(
        e.to_string().contains("adapter.binance.api_secret_file"),
        "{e}"
    );
}

/// The real binary with credentials from the environment: a wave with a refused entry, an
/// unknown outcome and a refused stop at debug log level; neither the secret nor the key
/// appears in anything it printed, nor in Describe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_reach_the_log_or_describe() {
    let world = instruments(World::new(KEY, SECRET))
        .reject_entry("XRPUSDT")
        .reject_stop("ETHUSDT")
        .fault(Fault::symbol("BTCUSDT").server_error());
    let fake = fake(world).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("agent.toml");
    std::fs::write(
        &toml,
        format!(
            "exchange_id = 1\nexchange_name = \"binance\"\nmetrics_listen = \"off\"\n\
             [rate_limit]\norders_per_second = 1000\nburst = 100\n\
             [adapter]\nkind = \"binance\"\n[adapter.binance]\nbase_url = \"{}\"\n",
            fake.base_url()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wavegate-agent"))
        .arg("--config")
        .arg(&toml)
        .arg("--listen")
        .arg(&addr)
        .arg("--journal")
        .arg(dir.path().join("agent.db"))
        .env_remove("WAVEGATE_AGENT_CONFIG")
        .env_remove("WAVEGATE_AGENT_LISTEN")
        .env_remove("WAVEGATE_AGENT_JOURNAL")
        .env("WAVEGATE_AGENT_API_KEY", KEY)
        .env("WAVEGATE_AGENT_API_SECRET", SECRET)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    // Drained while the agent runs: a full pipe would block its logging (and so the agent).
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let mut client = connect(addr.parse().unwrap()).await;
    let d = describe(&mut client).await;
    assert_eq!(d.adapter, "binance");
    let described = format!("{d:?}");
    let all = signals(1, 1, &["XRPUSDT", "ETHUSDT", "BTCUSDT", "ADAUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W5", 1, 2, 4, 4),
        &all,
        Drive::default(),
    )
    .await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(run.stats().executed, 2, "{:?}", kinds(run.result()));
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let exited = tokio::time::timeout(GUARD, async {
        loop {
            if let Ok(Some(s)) = child.try_wait() {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    if exited.is_err() {
        let _ = child.kill();
    }
    let mut out = stderr.join().unwrap_or_default();
    out.push_str(&stdout.join().unwrap_or_default());
    assert!(
        out.contains("-1007"),
        "the unknown outcome is logged with its detail: {out}"
    );
    for (what, secret) in [("secret", SECRET), ("API key", KEY)] {
        assert!(!out.contains(secret), "{what} in the log:\n{out}");
        assert!(!described.contains(secret), "{what} in Describe");
    }
}

#[test]
fn example_config_selects_a_live_adapter_with_credentials_from_the_environment() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("agent.example.toml");
    let env = |kind: &'static str, secret: bool| {
        move |k: &str| match k {
            "WAVEGATE_AGENT_ADAPTER_KIND" => Some(kind.to_owned()),
            "WAVEGATE_AGENT_API_KEY" => Some(KEY.to_owned()),
            "WAVEGATE_AGENT_API_SECRET" if secret => Some(SECRET.to_owned()),
            _ => None,
        }
    };
    let c = wavegate_agent::AgentConfig::load_with_env(Some(&example), env("binance", true))
        .expect("loads");
    assert_eq!(c.adapter.kind, AdapterKind::Binance);
    assert_eq!(c.adapter.binance.base_url, "https://fapi.binance.com");
    assert_eq!(c.adapter.bybit.base_url, "https://api.bybit.com");
    assert_eq!(c.adapter.binance.recv_window_ms, 5000);
    let creds = c.adapter.binance.credentials("adapter.binance").unwrap();
    assert_eq!(
        (creds.api_key.expose(), creds.api_secret.expose()),
        (KEY, SECRET)
    );
    assert!(
        c.adapter.bybit.api_key.is_none(),
        "credentials go to the selected adapter only"
    );
    let debug = format!("{c:?}");
    assert!(!debug.contains(SECRET) && !debug.contains(KEY), "{debug}");

    let e = wavegate_agent::AgentConfig::load_with_env(Some(&example), env("bybit", false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("adapter.bybit.api_secret_file"), "{e}");
    assert!(e.contains("WAVEGATE_AGENT_API_SECRET"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_client_order_id_after_a_lost_journal_is_looked_up_not_failed() {
    let fake = fake(instruments(World::new(KEY, SECRET))).await;
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT"]);
    let coid = wavegate_common::order_id::client_order_id("W9", 1, 1);
    let first_dir = tempfile::tempdir().unwrap();
    let cfg = config(first_dir.path(), &fake, SECRET);
    let (agent, mut client) = start(cfg.clone()).await;
    let first = drive(
        &mut client,
        start_msg("W9", 1, 1, 2, 2),
        &all,
        Drive::default(),
    )
    .await;
    assert_eq!(first.executed_ids(), vec![1]);
    let first_order_id = first.result().outcomes[0].exchange_order_id.clone();
    agent.shutdown().await;
    // The position is closed outside the agent (its stop fired, an operator)...
    let account = wavegate_agent::exchange::live(&cfg.adapter).unwrap();
    account
        .close_position("BTCUSDT".into(), "manual-close-1".into())
        .await
        .unwrap();
    assert!(fake.positions().is_empty());

    // ...and the journal is lost: a fresh agent gets the wave again. BTCUSDT validates (no
    // position), and its entry's id is found already filled: Binance keeps ids unique among
    // open orders only and would accept it again, so the adapter looks it up before sending.
    let second_dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(config(second_dir.path(), &fake, SECRET)).await;
    let run = drive(
        &mut client,
        start_msg("W9", 1, 1, 2, 2),
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
    assert_eq!(
        (btc.kind, btc.executed, btc.error.as_str()),
        (K::Executed as i32, true, ""),
        "{btc:?}"
    );
    assert_eq!(btc.exchange_order_id, first_order_id, "found by lookup");
    assert_eq!(
        run.executed_ids(),
        vec![1],
        "its slot stays taken: ETHUSDT is never sent"
    );
    assert!(fake.orders().iter().all(|o| o.symbol != "ETHUSDT"));
    assert_eq!(
        fake.place_attempts(&coid),
        1,
        "the second run finds the filled order by its id and never sends it"
    );
    assert_eq!(fake.orders_with_client_id(&coid).len(), 1);
    agent.shutdown().await;
}

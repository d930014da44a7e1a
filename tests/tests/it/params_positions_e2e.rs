//! End-to-end, real processes and real gRPC (issue 11): `wavegate params set EXCHANGE
//! --leverage 3 --margin-mode isolated --size-usd 50` on a coordinator process, then a wave
//! dispatched to agent processes whose live adapters trade the fake Binance and Bybit. Every
//! entered symbol ends at leverage 3 in isolated margin on the venue, each entry sized from the
//! params (50 USD), not from the agents' configured leverage 1, cross margin and 100 USD.
//! And a wave published with `wavegate publish` whose first signal's params carry leverage 4
//! (the JSON form of `SignalParams`) leaves the venue at leverage 4 on every entered symbol.

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::{to_proto, wave_id};
use wavegate_tests::fake_exchange::{
    Dec, FakeBinance, FakeBybit, FakeServer, Instrument, MarginKind, World,
};
use wavegate_tests::{Proc, binary};

use crate::coordinator_support::{Exchange, GUARD, finished, ingest, start_coordinator, waves};

const KEY: &str = "wg-e2e-api-key-3b7e";
const SECRET: &str = "wg-e2e-secret-91c2d4";

/// Prices and steps where 50 USD is a whole number of lot steps (and 100 USD too), so the
/// quantity tells the size used: 50 / 2500 = 0.02, 50 / 125 = 0.4, 50 / 12.5 = 4.
const SYMBOLS: [(&str, &str, &str, &str); 3] = [
    ("ETHUSDT", "2500", "0.001", "0.02"),
    ("SOLUSDT", "125", "0.01", "0.4"),
    ("LINKUSDT", "12.5", "0.1", "4"),
];

fn world() -> World {
    SYMBOLS
        .iter()
        .fold(World::new(KEY, SECRET), |w, (s, price, step, _)| {
            w.instrument(
                Instrument::new(s, price)
                    .step(step)
                    .min_qty(step)
                    .tick("0.01")
                    .min_notional("5"),
            )
        })
}

/// An agent process whose `kind` adapter trades `fake`, with leverage 1, cross margin and
/// 100 USD entries configured.
async fn start_live_agent(dir: &Path, id: u32, kind: &str, fake: &FakeServer) -> Proc {
    let secret = dir.join(format!("{kind}.secret"));
    std::fs::write(&secret, SECRET).unwrap();
    let toml = format!(
        "listen = \"127.0.0.1:{port}\"\nexchange_id = {id}\nexchange_name = \"{kind}\"\n\
         journal = \"{journal}\"\nconfirm_new_journal = true\nexecution_mode = \"sequential\"\n\
         metrics_listen = \"off\"\n\
         [positions]\nleverage = 1\nmargin_mode = \"cross\"\n\
         [rate_limit]\norders_per_second = 1000\nburst = 1000\n\
         [adapter]\nkind = \"{kind}\"\n[adapter.{kind}]\nbase_url = \"{url}\"\nnotional = 100.0\n\
         api_key = \"{KEY}\"\napi_secret_file = \"{secret}\"\n",
        port = 0, // any free port: the agent announces it
        journal = dir.join(format!("agent-{kind}.db")).display(),
        url = fake.base_url(),
        secret = secret.display(),
    );
    Proc::spawn("wavegate-agent", &toml, dir).await.unwrap()
}

/// The options that set the wave's position params.
const POSITION: [&str; 6] = [
    "--leverage",
    "3",
    "--margin-mode",
    "isolated",
    "--size-usd",
    "50",
];

/// `wavegate --coordinator … params set EXCHANGE ARGS…`, which must succeed.
async fn params_set(coordinator: &Proc, exchange: &str, args: &[&str]) {
    let mut all = vec!["params", "set", exchange];
    all.extend(args);
    cli(coordinator, &all).await;
}

/// `wavegate --coordinator … ARGS…`, which must succeed.
async fn cli(coordinator: &Proc, args: &[&str]) {
    let run = Command::new(binary("wavegate"))
        .arg("--coordinator")
        .arg(coordinator.endpoint())
        .args(args)
        .env_remove("WAVEGATE_TOKEN")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(GUARD, run).await.unwrap().unwrap();
    assert!(
        out.status.success(),
        "wavegate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn signal(
    id: i64,
    symbol: &str,
    exchange_id: u32,
    score: f64,
    ts: chrono::DateTime<chrono::Utc>,
) -> pb::Signal {
    pb::Signal {
        id,
        symbol: symbol.into(),
        exchange_id,
        action: pb::Action::Buy as i32,
        score_week: score,
        score_month: score,
        wave_timestamp: Some(to_proto(ts)),
        created_at: Some(to_proto(chrono::Utc::now())),
        params: None,
    }
}

fn dec(s: &str) -> Dec {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_leverage_margin_and_size_reach_both_venues() {
    let dir = tempfile::tempdir().unwrap();
    let binance = FakeBinance::start(world()).await.unwrap();
    let bybit = FakeBybit::start(world()).await.unwrap();
    let a1 = start_live_agent(dir.path(), 1, "binance", &binance).await;
    let a2 = start_live_agent(dir.path(), 2, "bybit", &bybit).await;
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
    let coord = start_coordinator(
        dir.path(),
        &db,
        "e2e",
        &[
            Exchange {
                id: 1,
                name: "binance",
                agent: Some(a1.endpoint()),
            },
            Exchange {
                id: 2,
                name: "bybit",
                agent: Some(a2.endpoint()),
            },
        ],
    )
    .await;
    // Binance: the target first, then the position params alone (the target stays).
    params_set(&coord, "binance", &["--max-trades", "3"]).await;
    params_set(&coord, "binance", &POSITION).await;
    let mut bybit_args = vec!["--max-trades", "3"];
    bybit_args.extend(POSITION);
    params_set(&coord, "2", &bybit_args).await;

    let ts = crate::coordinator_support::wave_ts();
    let mut signals = Vec::new();
    for (ex, base) in [(1u32, 100i64), (2, 200)] {
        for (i, (s, ..)) in SYMBOLS.iter().enumerate() {
            signals.push(signal(base + i as i64, s, ex, 90.0 - i as f64, ts));
        }
    }
    ingest(&coord)
        .await
        .publish_wave(pb::Wave {
            wave_timestamp: Some(to_proto(ts)),
            signals,
            close: true,
        })
        .await
        .unwrap();
    let detail = finished(&mut waves(&coord).await, &wave_id(ts)).await;
    assert_eq!(detail.exchanges.len(), 2, "{detail:?}");
    for s in &detail.exchanges {
        assert_eq!(s.executed, 3, "{}: {s:?}", s.exchange_name);
    }

    for (name, fake) in [("binance", &binance), ("bybit", &bybit)] {
        let margin = fake.margin();
        let orders = fake.orders();
        for (symbol, _, _, qty) in SYMBOLS {
            assert_eq!(margin.leverage_of(symbol), 3, "{name} {symbol} leverage");
            let entry = orders
                .iter()
                .find(|o| o.symbol == symbol && !o.reduce_only)
                .unwrap_or_else(|| panic!("{name}: no entry for {symbol}"));
            assert_eq!(entry.executed_qty, dec(qty), "{name} {symbol}: 50 USD");
        }
        match name {
            // Binance: margin type per symbol (POST /fapi/v1/marginType).
            "binance" => {
                for (symbol, ..) in SYMBOLS {
                    assert_eq!(
                        margin.margin.get(symbol),
                        Some(&MarginKind::Isolated),
                        "{symbol}"
                    );
                }
            }
            // Bybit unified account: margin mode is account-wide.
            _ => assert_eq!(margin.account_margin, MarginKind::Isolated),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_params_leverage_published_as_json_reaches_the_venue() {
    let dir = tempfile::tempdir().unwrap();
    let binance = FakeBinance::start(world()).await.unwrap();
    let a1 = start_live_agent(dir.path(), 1, "binance", &binance).await;
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
    let coord = start_coordinator(
        dir.path(),
        &db,
        "e2e",
        &[Exchange {
            id: 1,
            name: "binance",
            agent: Some(a1.endpoint()),
        }],
    )
    .await;
    // Stored: the target only (leverage left to the agent's configured 1).
    params_set(&coord, "binance", &["--max-trades", "3"]).await;

    // The first signal in rank order carries the params (docs/design.md §1 step 1).
    let ts = crate::coordinator_support::wave_ts();
    let signals: Vec<serde_json::Value> = SYMBOLS
        .iter()
        .enumerate()
        .map(|(i, (symbol, ..))| {
            let mut s = serde_json::json!({
                "id": 300 + i, "symbol": symbol, "exchange_id": 1, "action": "BUY",
                "score_week": 90.0 - i as f64, "score_month": 90.0 - i as f64,
                "wave_timestamp": ts.to_rfc3339(),
            });
            if i == 0 {
                s["params"] = serde_json::json!({ "leverage": 4 });
            }
            s
        })
        .collect();
    let file = dir.path().join("wave.json");
    std::fs::write(&file, serde_json::to_string(&signals).unwrap()).unwrap();
    cli(&coord, &["publish", file.to_str().unwrap(), "--close"]).await;

    let detail = finished(&mut waves(&coord).await, &wave_id(ts)).await;
    let s = &detail.exchanges[0];
    assert_eq!(s.executed, 3, "{s:?}");
    let margin = binance.margin();
    for (symbol, ..) in SYMBOLS {
        assert_eq!(margin.leverage_of(symbol), 4, "{symbol} leverage");
    }
}

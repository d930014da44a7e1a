//! The paper account's balance survives an agent restart (issue 11), with real processes: a
//! coordinator and a paper agent whose account holds 250 USD (100 USD entries at leverage 1,
//! 10 USD reserve: room for two). The first wave opens two and refuses the rest for funds; the
//! agent is killed and started again on the same journal; the next wave opens nothing — a
//! balance seeded afresh at start-up would have paid for two more.

use std::path::Path;

use chrono::Duration;
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::{to_proto, wave_id};
use wavegate_tests::Proc;

use crate::coordinator_support::{
    Exchange, finished, ingest, signal, start_coordinator, wave_ts, waves,
};

async fn start_paper_agent(dir: &Path) -> Proc {
    let toml = format!(
        "listen = \"127.0.0.1:{}\"\nexchange_id = 1\nexchange_name = \"binance\"\n\
         journal = \"{}\"\nexecution_mode = \"sequential\"\nmetrics_listen = \"off\"\n\
         [rate_limit]\norders_per_second = 1000\nburst = 1000\n\
         [adapter]\nkind = \"paper\"\n[adapter.paper]\nnotional = 100.0\nbalance = 250.0\n",
        0, // any free port: the agent announces it
        dir.join("agent.db").display(),
    );
    Proc::spawn("wavegate-agent", &toml, dir).await.unwrap()
}

/// Publishes `symbols` for exchange 1 as the closed wave `ts` (the first carries target 6)
/// and returns binance's statistics and its outcomes' errors by kind.
async fn run_wave(
    coord: &Proc,
    ts: chrono::DateTime<chrono::Utc>,
    first_id: i64,
    symbols: &[&str],
) -> (pb::ExchangeStats, Vec<String>) {
    let signals = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let i = i as i64;
            signal(
                first_id + i,
                s,
                1,
                90.0 - i as f64,
                ts,
                (i == 0).then_some(6),
            )
        })
        .collect();
    ingest(coord)
        .await
        .publish_wave(pb::Wave {
            wave_timestamp: Some(to_proto(ts)),
            signals,
            close: true,
        })
        .await
        .unwrap();
    let d = finished(&mut waves(coord).await, &wave_id(ts)).await;
    let stats = d.exchanges.into_iter().next().expect("binance's result");
    let errors = d
        .outcomes
        .iter()
        .filter_map(|e| e.outcome.as_ref())
        .filter(|o| o.kind == pb::OutcomeKind::ValidationFailed as i32)
        .map(|o| o.error.clone())
        .collect();
    (stats, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_paper_agent_keeps_the_balance_its_positions_took() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = start_paper_agent(dir.path()).await;
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
    let coord = start_coordinator(
        dir.path(),
        &db,
        "e2e",
        &[Exchange {
            id: 1,
            name: "binance",
            agent: Some(agent.endpoint()),
        }],
    )
    .await;
    let now = wave_ts();
    let first = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"];
    let (s, errors) = run_wave(&coord, now, 1, &first).await;
    assert_eq!(s.executed, 2, "{s:?}");
    assert_eq!(errors, vec!["insufficient_balance"; 2]);

    agent.restart().await.unwrap();

    let second = ["ADAUSDT", "DOGEUSDT", "DOTUSDT", "LINKUSDT"];
    let (s, errors) = run_wave(&coord, now + Duration::minutes(15), 11, &second).await;
    assert_eq!(
        s.executed, 0,
        "the restarted agent spent the balance again: {s:?}"
    );
    assert_eq!(errors, vec!["insufficient_balance"; 4]);
}

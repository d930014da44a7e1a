//! End-to-end: `[dispatch] topup_after_failures` reaches the agents. The real coordinator and a
//! real paper agent run a wave whose buffer validates fully but fails at execution; with the
//! key on, the coordinator serves the agent's top-up and the target is reached; off (the
//! default), the exchange ends short without a top-up round.

use crate::coordinator_support::*;
use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::ExchangeStats;
use wavegate_common::time::wave_id;
use wavegate_tests::Proc;

/// The coordinator with one exchange (binance, id 1) and `topup_after_failures = flag`;
/// `buffer_fixed = 1` so target 3 gets a buffer of 4.
async fn coordinator(dir: &std::path::Path, agent: String, flag: bool) -> Proc {
    // Any free port: the process announces the one it bound.
    let port = 0;
    let url = format!("sqlite://{}/coordinator.db?mode=rwc", dir.display());
    let toml = format!(
        "listen = \"127.0.0.1:{port}\"\ndatabase_url = \"{url}\"\nnode_id = \"topup\"\n\
         [waves]\nquiet_secs = 3\n\
         [dispatch]\nretries = 2\nconnect_timeout_ms = 500\nlease_secs = 6\nbuffer_fixed = 1\n\
         max_topup_rounds = 1\ntopup_after_failures = {flag}\n\
         [[exchanges]]\nid = 1\nname = \"binance\"\nagent = \"{agent}\"\n"
    );
    Proc::spawn("wavegate-coordinator", &toml, dir)
        .await
        .unwrap()
}

/// Runs 8 ranked signals (target 3) where SYM1-3 fail at execution; returns the exchange's
/// stats and the agent's open positions.
async fn run(flag: bool) -> (ExchangeStats, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let agent = start_agent(
        dir.path(),
        &PaperAgent {
            exchange_id: 1,
            name: "binance",
            exec_fail: vec!["SYM1USDT", "SYM2USDT", "SYM3USDT"],
            ..Default::default()
        },
    )
    .await;
    let coord = coordinator(dir.path(), agent.endpoint(), flag).await;
    let ts = wave_ts();
    let id = wave_id(ts);
    let signals: Vec<pb::Signal> = (0..8)
        .map(|i| {
            let sym = format!("SYM{i}USDT");
            signal(301 + i, &sym, 1, 90.0 - i as f64, ts, (i == 0).then_some(3))
        })
        .collect();
    let summary = ingest(&coord)
        .await
        .publish_wave(pb::Wave {
            wave_timestamp: Some(wavegate_common::time::to_proto(ts)),
            signals,
            close: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((summary.accepted, summary.rejected), (8, 0), "{summary:?}");
    let d = finished(&mut waves(&coord).await, &id).await;
    assert_eq!(d.exchanges.len(), 1, "{}", coord.log_text());
    let stats = ExchangeStats::from_proto(&d.exchanges[0]);
    let mut open = describe(&agent).await.open_positions;
    open.sort();
    (stats, open)
}

#[tokio::test]
async fn topup_after_failures_on_reaches_the_target() {
    let (s, open) = run(true).await;
    assert_eq!(
        (
            s.buffer_size,
            s.executed,
            s.execution_failed,
            s.topup_rounds,
            s.topped_up
        ),
        (4, 3, 3, 1, 3),
        "{s:?}"
    );
    assert!(s.target_reached, "{s:?}");
    assert_eq!(open, vec!["SYM0USDT", "SYM4USDT", "SYM5USDT"]);
}

#[tokio::test]
async fn topup_after_failures_off_misses_the_target() {
    let (s, open) = run(false).await;
    assert_eq!(
        (
            s.buffer_size,
            s.executed,
            s.execution_failed,
            s.topup_rounds,
            s.topped_up
        ),
        (4, 1, 3, 0, 0),
        "{s:?}"
    );
    assert!(!s.target_reached, "{s:?}");
    assert_eq!(open, vec!["SYM0USDT"]);
}

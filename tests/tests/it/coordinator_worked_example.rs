//! End-to-end: the real coordinator and two real paper agents run the worked example of
//! docs/design.md §1 through the public API, on SQLite and on PostgreSQL; every field of both
//! exchange results and the WAVE_COMPLETED event is read back.

use crate::coordinator_support::*;
use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::{ExchangeStats, ExchangeSummary, ParamsSource, WaveCompleted};
use wavegate_common::time::wave_id;
use wavegate_tests::worked_example;

async fn run_worked_example(database_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (binance, bybit) = start_worked_example_agents(dir.path(), 0).await;
    let coord = start_pair_coordinator(dir.path(), database_url, &binance, &bybit).await;
    let ts = wave_ts();
    let id = wave_id(ts);
    let summary = publish_worked_example(&coord, ts).await;
    assert_eq!((summary.accepted, summary.rejected), (16, 0), "{summary:?}");
    assert_eq!(summary.closed_wave_ids, vec![id.clone()]);

    let d = finished(&mut waves(&coord).await, &id).await;
    let s = d.summary.clone().unwrap();
    assert_eq!(
        s.status,
        pb::WaveStatus::Completed as i32,
        "{}",
        coord.log_text()
    );
    assert_eq!(s.signal_count, 16);
    let got: Vec<ExchangeStats> = d.exchanges.iter().map(ExchangeStats::from_proto).collect();
    assert_eq!(
        got,
        vec![
            worked_example::binance(ParamsSource::Wave),
            worked_example::bybit(ParamsSource::Wave),
        ]
    );
    let t = s.totals.unwrap();
    assert_eq!(
        (
            t.total_signals,
            t.exchanges_processed,
            t.total_executed,
            t.total_failed
        ),
        (16, 2, 10, 1)
    );
    assert_eq!(
        (t.total_validated, t.validation_errors, t.duplicates),
        (13, 0, 3)
    );

    let ev: WaveCompleted = serde_json::from_str(&d.completed_event).unwrap();
    assert_eq!(ev.wave_timestamp, id);
    assert_eq!(
        (
            ev.total_signals,
            ev.exchanges_processed,
            ev.positions_opened,
            ev.failed
        ),
        (16, 2, 10, 1)
    );
    assert_eq!((ev.validation_errors, ev.duplicates), (0, 3));
    assert_eq!(ev.per_exchange_stats.len(), 2);
    assert_eq!(
        ev.per_exchange_stats["1"],
        ExchangeSummary {
            name: "binance".into(),
            executed: 6,
            target: 6,
            target_reached: true
        }
    );
    assert_eq!(
        ev.per_exchange_stats["2"],
        ExchangeSummary {
            name: "bybit".into(),
            executed: 4,
            target: 4,
            target_reached: true
        }
    );

    // Per-signal outcomes: the duplicates and the failed execution, with their reasons.
    let find = |ex: u32, sid: i64, stage: pb::Stage| {
        d.outcomes
            .iter()
            .filter(|o| o.exchange_id == ex)
            .filter_map(|o| o.outcome.as_ref())
            .find(|o| o.signal_id == sid && o.stage == stage as i32)
            .unwrap_or_else(|| panic!("no outcome {ex}/{sid}/{stage:?}: {:?}", d.outcomes))
            .clone()
    };
    let eth = find(1, 102, pb::Stage::Validation);
    assert_eq!(
        (eth.kind, eth.error.as_str()),
        (pb::OutcomeKind::Duplicate as i32, "open_position")
    );
    let btc2 = find(1, 105, pb::Stage::Validation);
    assert_eq!(btc2.kind, pb::OutcomeKind::Duplicate as i32);
    assert_eq!(btc2.error, "duplicate_in_wave");
    let bnb = find(1, 104, pb::Stage::Execution);
    assert_eq!(
        (bnb.kind, bnb.executed),
        (pb::OutcomeKind::ExecutionFailed as i32, false)
    );
    let avax = find(1, 109, pb::Stage::Execution);
    assert!(avax.executed && !avax.client_order_id.is_empty());
    let executed: Vec<i64> = d
        .outcomes
        .iter()
        .filter_map(|o| o.outcome.as_ref().map(|x| (o.exchange_id, x)))
        .filter(|(_, o)| o.executed)
        .map(|(ex, o)| i64::from(ex) * 1000 + o.signal_id)
        .collect();
    assert_eq!(
        executed,
        vec![1101, 1103, 1106, 1107, 1108, 1109, 2201, 2202, 2204, 2205],
        "executed in rank order, ADAUSDT/DOGEUSDT of bybit unused"
    );

    // What the agents did: one order per executed or failed signal, positions as executed.
    let b = describe(&binance).await;
    assert_eq!(b.orders_sent, 7, "6 fills and the refused BNBUSDT entry");
    for sym in [
        "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "AVAXUSDT",
    ] {
        assert!(
            b.open_positions.iter().any(|p| p == sym),
            "{sym}: {:?}",
            b.open_positions
        );
    }
    assert!(!b.open_positions.iter().any(|p| p == "BNBUSDT"));
    let y = describe(&bybit).await;
    assert_eq!(y.orders_sent, 4);
    assert_eq!(y.open_positions.len(), 4, "{:?}", y.open_positions);
}

#[tokio::test]
async fn worked_example_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/coordinator.db?mode=rwc", dir.path().display());
    run_worked_example(&url).await;
}

#[tokio::test]
async fn worked_example_on_postgres() {
    let db = TestDb::postgres().await;
    run_worked_example(&db.url).await;
}

//! docs/design.md §1's worked example, exactly, over real gRPC.

use crate::support::*;
use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::{ExchangeStats, ParamsSource};
use wavegate_tests::worked_example;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_target_6_buffer_9_two_duplicates_third_validated_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.adapter.paper.open_positions = vec!["SOLUSDT".into()];
    // The third validated signal (XRPUSDT) fails at execution.
    cfg.faults.exec_fail = vec!["XRPUSDT".into()];
    let (agent, mut client) = start(cfg).await;
    let all = signals(
        1,
        101,
        &[
            "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BTCUSDT", "ADAUSDT", "DOGEUSDT",
            "DOTUSDT", "LINKUSDT",
        ],
    );
    let run = drive(
        &mut client,
        start_msg("W1", 1, 6, 9, 9),
        &all,
        Drive::default(),
    )
    .await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert!(run.topups.is_empty(), "no top-up: 7 validated >= 6");
    assert_eq!(
        ExchangeStats::from_proto(run.stats()),
        worked_example::binance(ParamsSource::Db)
    );
    let r = run.result();
    assert!(!r.from_journal);
    assert_eq!(r.wave_id, "W1");
    let idx: Vec<u32> = r.outcomes.iter().map(|o| o.index).collect();
    assert_eq!(
        idx,
        (0..9).collect::<Vec<_>>(),
        "every signal, in rank order"
    );
    let kinds: Vec<(i64, i32, &str)> = r
        .outcomes
        .iter()
        .map(|o| (o.signal_id, o.kind, o.error.as_str()))
        .collect();
    use pb::OutcomeKind as K;
    assert_eq!(
        kinds,
        vec![
            (101, K::Executed as i32, ""),
            (102, K::Executed as i32, ""),
            (103, K::Duplicate as i32, "open_position"),
            (104, K::ExecutionFailed as i32, "order_rejected"),
            (105, K::Duplicate as i32, "duplicate_in_wave"),
            (106, K::Executed as i32, ""),
            (107, K::Executed as i32, ""),
            (108, K::Executed as i32, ""),
            (109, K::Executed as i32, ""),
        ]
    );
    // Executions stream in walk order: 1 ok, 2 ok, 3 fails, 4..7 ok, break at 6/6.
    let walk: Vec<i64> = run.executions().iter().map(|o| o.signal_id).collect();
    assert_eq!(walk, vec![101, 102, 104, 106, 107, 108, 109]);
    // Every signal's verdict was streamed too, before its execution.
    let validations = run
        .outcomes
        .iter()
        .filter(|o| o.stage == pb::Stage::Validation as i32)
        .count();
    assert_eq!(validations, 9);
    for o in run.executions() {
        assert!(o.client_order_id.starts_with("wg-"), "{o:?}");
        if o.executed {
            assert!(o.fill_price > 0.0 && o.quantity > 0.0, "{o:?}");
            assert!(!o.exchange_order_id.is_empty());
        }
    }
    let d = describe(&mut client).await;
    assert_eq!(d.orders_sent, 7, "six fills and one rejection");
    assert_eq!(d.open_positions.len(), 7, "SOLUSDT plus six new positions");
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_target_4_buffer_7_one_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(config(dir.path(), 2, "bybit")).await;
    let all = signals(
        2,
        201,
        &[
            "BTCUSDT", "ETHUSDT", "BTCUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
        ],
    );
    let run = drive(
        &mut client,
        start_msg("W1", 2, 4, 7, 7),
        &all,
        Drive::default(),
    )
    .await;
    // Signals 5-6 stay unused: buffer_used && executed == target, so the buffer saved us.
    assert_eq!(
        ExchangeStats::from_proto(run.stats()),
        worked_example::bybit(ParamsSource::Db)
    );
    assert_eq!(run.executed_ids(), vec![201, 202, 204, 205]);
    let unused: Vec<i64> = run
        .result()
        .outcomes
        .iter()
        .filter(|o| o.kind == pb::OutcomeKind::Validated as i32)
        .map(|o| o.signal_id)
        .collect();
    assert_eq!(unused, vec![206, 207], "validated but not needed");
    assert_eq!(describe(&mut client).await.orders_sent, 4);
    agent.shutdown().await;
}

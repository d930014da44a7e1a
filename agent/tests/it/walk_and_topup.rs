//! Top-up, duplicates, execution failures, windowed mode and stop failures over real gRPC.

use crate::support::*;
use wavegate_common::proto::v1 as pb;

fn symbols(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("SYM{i}USDT")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topup_is_requested_served_and_pipelined() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.faults.invalid_symbols = vec!["SYM1USDT".into(), "SYM2USDT".into(), "SYM3USDT".into()];
    let (agent, mut client) = start(cfg).await;
    let names = symbols(10);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let all = signals(1, 1, &names);
    // Buffer of 4: one success; 2 missing → request floor(2 * 1.5) = 3. The fake coordinator
    // answers only after the first execution outcome: execution must not wait for the top-up.
    let opts = Drive {
        hold_until_executions: 1,
        ..Drive::default()
    };
    let run = drive(&mut client, start_msg("W", 1, 3, 4, 10), &all, opts).await;
    assert_eq!(
        run.topups,
        vec![pb::TopUpRequest {
            needed: 2,
            round: 1,
            count: 3
        }]
    );
    assert_eq!(run.executions_before_answer, vec![1]);
    let s = run.stats();
    assert_eq!(
        (
            s.validated_successful,
            s.topped_up,
            s.total_for_execution,
            s.validation_failed,
            s.executed,
            s.topup_rounds
        ),
        (1, 3, 4, 3, 3, 1)
    );
    assert!(s.target_reached && s.buffer_saved_us);
    assert_eq!(run.executed_ids(), vec![1, 5, 6]);
    let rounds: Vec<(i64, u32)> = run
        .result()
        .outcomes
        .iter()
        .map(|o| (o.signal_id, o.round))
        .collect();
    assert_eq!(
        rounds,
        vec![(1, 0), (2, 0), (3, 0), (4, 0), (5, 1), (6, 1), (7, 1)],
        "signals 8-10 were never sent"
    );
    let failed = &run.result().outcomes[1];
    assert_eq!(failed.kind, pb::OutcomeKind::ValidationFailed as i32);
    assert_eq!(failed.error, "symbol_not_tradable");
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topup_answered_with_exhausted() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.adapter.paper.open_positions = vec!["SYM1USDT".into()];
    let (agent, mut client) = start(cfg).await;
    let all = signals(
        1,
        1,
        &["SYM0USDT", "SYM1USDT", "SYM0USDT", "SYM3USDT", "SYM4USDT"],
    );
    let opts = Drive {
        answer: Answer::Exhausted,
        ..Drive::default()
    };
    let run = drive(&mut client, start_msg("W", 1, 3, 3, 5), &all, opts).await;
    assert_eq!(run.topups.len(), 1);
    assert_eq!((run.topups[0].needed, run.topups[0].count), (2, 3));
    let s = run.stats();
    assert_eq!((s.executed, s.duplicates, s.topup_rounds), (1, 2, 1));
    assert!(!s.target_reached && !s.buffer_saved_us);
    let errors: Vec<&str> = run
        .result()
        .outcomes
        .iter()
        .map(|o| o.error.as_str())
        .collect();
    assert_eq!(errors, vec!["", "open_position", "duplicate_in_wave"]);
    agent.shutdown().await;
}

/// Runs the same wave on a fresh agent in `mode`; returns (executed ids, stats).
async fn run_mode(mode: pb::ExecutionMode) -> (Vec<i64>, pb::ExchangeStats) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.faults.exec_fail = vec!["SYM1USDT".into(), "SYM4USDT".into(), "SYM5USDT".into()];
    cfg.adapter.paper.latency_ms = 20;
    let (agent, mut client) = start(cfg).await;
    let names = symbols(9);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let all = signals(1, 1, &names);
    let mut st = start_msg("W", 1, 4, 9, 9);
    st.mode = mode as i32;
    let run = drive(&mut client, st, &all, Drive::default()).await;
    let out = (run.executed_ids(), run.stats().clone());
    let d = describe(&mut client).await;
    assert_eq!(d.open_positions.len(), 4, "never more than max_trades");
    agent.shutdown().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_continue_the_walk_and_windowed_yields_the_sequential_set() {
    let (seq, seq_stats) = run_mode(pb::ExecutionMode::Sequential).await;
    let (win, win_stats) = run_mode(pb::ExecutionMode::Windowed).await;
    assert_eq!(seq, vec![1, 3, 4, 7]);
    assert_eq!(seq_stats.execution_failed, 3);
    assert_eq!(win, seq);
    assert_eq!(win_stats, seq_stats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_failure_closes_the_position_and_counts_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.faults.stop_fail = vec!["SYM0USDT".into()];
    let (agent, mut client) = start(cfg).await;
    let all = signals(1, 1, &["SYM0USDT", "SYM1USDT", "SYM2USDT"]);
    let mut st = start_msg("W", 1, 2, 3, 3);
    st.params.as_mut().unwrap().stop_loss_percent = Some(2.5);
    let run = drive(&mut client, st, &all, Drive::default()).await;
    let first = &run.result().outcomes[0];
    assert_eq!(first.kind, pb::OutcomeKind::ExecutionFailed as i32);
    assert!(!first.executed);
    assert_eq!(first.error, "stop_failed_closed");
    assert!(first.fill_price > 0.0, "the entry did fill");
    assert_eq!(run.executed_ids(), vec![2, 3]);
    let s = run.stats();
    assert_eq!((s.executed, s.execution_failed), (2, 1));
    let mut d = describe(&mut client).await;
    d.open_positions.sort();
    assert_eq!(
        d.open_positions,
        vec!["SYM1USDT", "SYM2USDT"],
        "SYM0USDT was closed"
    );
    assert_eq!(d.orders_sent, 3);
    agent.shutdown().await;
}

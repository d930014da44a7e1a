//! Opt-in top-up after execution failures (docs/design.md §1) over real gRPC: with
//! `Start.topup_after_failures` the agent asks for more once failures leave the target missed,
//! within `max_topup_rounds`; without it, the walk ends short and nothing is asked.

use crate::support::*;
use wavegate_common::proto::v1 as pb;

/// `SYM0USDT..` for `n` signals.
fn symbols(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("SYM{i}USDT")).collect()
}

/// Runs target 3 with a buffer of 4 over 8 ranked signals whose execution fails on `fail`;
/// returns the stream and the agent's open positions afterwards.
async fn run_wave(fail: &[&str], flag: bool, max_topup_rounds: u32) -> (WaveRun, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.faults.exec_fail = fail.iter().map(|s| (*s).to_owned()).collect();
    let (agent, mut client) = start(cfg).await;
    let names = symbols(8);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let all = signals(1, 1, &names);
    let mut st = start_msg("W", 1, 3, 4, 8);
    st.topup_after_failures = flag;
    st.max_topup_rounds = max_topup_rounds;
    let run = drive(&mut client, st, &all, Drive::default()).await;
    let mut open = describe(&mut client).await.open_positions;
    open.sort();
    agent.shutdown().await;
    (run, open)
}

/// SYM1-3 fail at execution: the whole buffer validates, so only the opt-in can ask for more.
const FAIL_IN_BUFFER: [&str; 3] = ["SYM1USDT", "SYM2USDT", "SYM3USDT"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_flag_failures_are_topped_up_to_the_target() {
    let (run, open) = run_wave(&FAIL_IN_BUFFER, true, 0).await;
    // One executed, none left to try: 2 missing → floor(2 * 1.5) = 3 more.
    assert_eq!(
        run.topups,
        vec![pb::TopUpRequest {
            needed: 2,
            round: 1,
            count: 3
        }]
    );
    let fails: Vec<i64> = run
        .executions()
        .iter()
        .filter(|o| o.kind == pb::OutcomeKind::ExecutionFailed as i32)
        .map(|o| o.signal_id)
        .collect();
    assert_eq!(fails, vec![2, 3, 4], "the request came after the failures");
    assert_eq!(run.executed_ids(), vec![1, 5, 6]);
    let s = run.stats();
    assert_eq!(
        (s.executed, s.execution_failed, s.topup_rounds, s.topped_up),
        (3, 3, 1, 3)
    );
    assert!(s.target_reached);
    let rounds: Vec<(i64, u32)> = run
        .result()
        .outcomes
        .iter()
        .map(|o| (o.signal_id, o.round))
        .collect();
    assert_eq!(
        rounds,
        vec![(1, 0), (2, 0), (3, 0), (4, 0), (5, 1), (6, 1), (7, 1)],
        "signal 7 arrived but was not needed; signal 8 was never sent"
    );
    assert_eq!(
        open,
        vec!["SYM0USDT", "SYM4USDT", "SYM5USDT"],
        "never more than max_trades positions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_the_target_is_missed_and_nothing_is_asked() {
    let (run, open) = run_wave(&FAIL_IN_BUFFER, false, 0).await;
    assert!(run.topups.is_empty(), "asked {:?}", run.topups);
    assert_eq!(run.executed_ids(), vec![1]);
    let s = run.stats();
    assert_eq!((s.executed, s.execution_failed, s.topup_rounds), (1, 3, 0));
    assert!(!s.target_reached);
    assert_eq!(open, vec!["SYM0USDT"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_flag_max_topup_rounds_still_bounds_the_requests() {
    // The round-1 batch (SYM4-6) fails twice: one success short, but the one round is used.
    let fail = ["SYM1USDT", "SYM2USDT", "SYM3USDT", "SYM4USDT", "SYM5USDT"];
    let (run, open) = run_wave(&fail, true, 1).await;
    assert_eq!(run.topups.len(), 1, "asked {:?}", run.topups);
    assert_eq!(run.executed_ids(), vec![1, 7]);
    let s = run.stats();
    assert_eq!((s.executed, s.execution_failed, s.topup_rounds), (2, 5, 1));
    assert!(!s.target_reached);
    assert_eq!(open, vec!["SYM0USDT", "SYM6USDT"]);

    // With two rounds the agent asks again for the one missing (floor(1 * 1.5) = 1).
    let (run, open) = run_wave(&fail, true, 2).await;
    assert_eq!(
        run.topups,
        vec![
            pb::TopUpRequest {
                needed: 2,
                round: 1,
                count: 3
            },
            pb::TopUpRequest {
                needed: 1,
                round: 2,
                count: 1
            }
        ]
    );
    assert_eq!(run.executed_ids(), vec![1, 7, 8]);
    assert!(run.stats().target_reached);
    assert_eq!(open, vec!["SYM0USDT", "SYM6USDT", "SYM7USDT"]);
}

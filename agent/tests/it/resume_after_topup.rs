//! A wave resumed after its first run had started on a top-up batch (issue 12, item 2): the
//! resumed run asks for the same top-up the first run did — its journaled orders count as the
//! successes they were — so the walk goes on to the target instead of stopping short with a
//! validated signal unused.

use crate::recovery_support::sent_and_filled;
use crate::support::*;
use wavegate_agent::exchange::paper::PaperExchange;
use wavegate_agent::journal::Journal;
use wavegate_common::order_id::client_order_id;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_resumed_after_a_topup_started_walks_on_to_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.faults.invalid_symbols = vec!["BADAUSDT".into(), "BADBUSDT".into()];
    // Target 3, buffer 3: A passes, the two BAD fail; the top-up (needed 2, count 3) brings
    // D, E, F. The first run opened A and D (D: the top-up's first) and died before E.
    let all = signals(
        1,
        1,
        &["AUSDT", "BADAUSDT", "BADBUSDT", "DUSDT", "EUSDT", "FUSDT"],
    );
    {
        let journal = Journal::open(&cfg.journal).await.unwrap();
        let paper = PaperExchange::open(cfg.adapter.paper.clone(), &journal)
            .await
            .unwrap();
        for (signal_id, symbol, index, round) in [(1, "AUSDT", 0, 0), (4, "DUSDT", 3, 1)] {
            let coid = client_order_id("W", 1, signal_id);
            let mut row = new_order(&coid, "W", signal_id, symbol, 3);
            row.index = index;
            row.round = round;
            sent_and_filled(&journal, &paper, &row, true).await;
        }
        journal.close().await.unwrap();
    }
    let (agent, mut client) = start(cfg).await;
    let mut start = start_msg("W", 1, 3, 3, 6);
    start.max_topup_rounds = 1;
    let run = drive(&mut client, start, &all, Drive::default()).await;
    let s = run.stats();
    assert_eq!(run.topups.len(), 1, "{:?}", run.topups);
    assert_eq!(
        (run.topups[0].needed, run.topups[0].count),
        (2, 3),
        "the first run's request"
    );
    assert_eq!((s.executed, s.target_reached), (3, true), "{s:?}");
    let executed: Vec<i64> = run
        .result()
        .outcomes
        .iter()
        .filter(|o| o.executed)
        .map(|o| o.signal_id)
        .collect();
    assert!(executed.contains(&5), "E opened: {executed:?}");
    assert_eq!(
        describe(&mut client).await.orders_sent,
        3,
        "A, D journaled; E new"
    );
    agent.shutdown().await;
}

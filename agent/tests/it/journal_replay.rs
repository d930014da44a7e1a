//! Re-sent waves, restarts and crashes: nothing is placed twice, never more than max_trades.

use crate::support::*;
use wavegate_agent::exchange::paper::PaperExchange;
use wavegate_agent::exchange::{EntryOrder, Exchange, Side};
use wavegate_agent::journal::{Journal, OrderEvent, OrderState, OrderUpdate};
use wavegate_common::order_id::client_order_id;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agent_msg::Msg as Out;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_wave_resent_after_restart_is_replayed_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.faults.exec_fail = vec!["XRPUSDT".into()];
    let all = signals(1, 1, &["BTCUSDT", "XRPUSDT", "ETHUSDT", "SOLUSDT"]);

    let (agent, mut client) = start(cfg.clone()).await;
    let first = drive(
        &mut client,
        start_msg("W", 1, 2, 4, 4),
        &all,
        Drive::default(),
    )
    .await;
    let before = describe(&mut client).await;
    assert_eq!(before.orders_sent, 3);
    agent.shutdown().await;

    let (agent, mut client) = start(cfg).await;
    let again = drive(
        &mut client,
        start_msg("W", 1, 2, 4, 4),
        &all,
        Drive::default(),
    )
    .await;
    let after = describe(&mut client).await;
    assert_eq!(
        after.orders_sent, before.orders_sent,
        "nothing placed again"
    );
    assert_eq!(after.open_positions, before.open_positions);
    assert!(again.result().from_journal);
    let mut replayed = again.result().clone();
    replayed.from_journal = false;
    assert_eq!(&replayed, first.result(), "same Result");
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wave_interrupted_mid_execution_then_resent_never_exceeds_max_trades() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.adapter.paper.latency_ms = 100;
    let names: Vec<String> = (0..8).map(|i| format!("SYM{i}USDT")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let all = signals(1, 1, &names);
    let (agent, mut client) = start(cfg.clone()).await;

    // Start the wave, wait for the first execution, then drop the stream.
    let (tx, mut stream) =
        open_wave(&mut client, start_msg("W", 1, 3, 6, 8), all[..6].to_vec()).await;
    tokio::time::timeout(GUARD, async {
        loop {
            let m = stream.message().await.unwrap().expect("stream open");
            if let Some(Out::Outcome(o)) = m.msg
                && o.stage == pb::Stage::Execution as i32
            {
                break;
            }
        }
    })
    .await
    .unwrap();
    drop(stream);
    drop(tx);

    // Re-sent at once: waits for the interrupted run, which finished with what it held.
    let again = drive(
        &mut client,
        start_msg("W", 1, 3, 6, 8),
        &all,
        Drive::default(),
    )
    .await;
    assert!(again.result().from_journal);
    assert_eq!(again.stats().executed, 3);
    let d = describe(&mut client).await;
    assert_eq!(d.open_positions.len(), 3);
    assert_eq!(d.orders_sent, 3);
    agent.shutdown().await;

    // And after a restart.
    let (agent, mut client) = start(cfg).await;
    let third = drive(
        &mut client,
        start_msg("W", 1, 3, 6, 8),
        &all,
        Drive::default(),
    )
    .await;
    assert!(third.result().from_journal);
    let d = describe(&mut client).await;
    assert_eq!((d.open_positions.len(), d.orders_sent), (3, 3));
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_sending_is_resolved_by_lookup_not_resent() {
    // Simulate a crash: the order was journaled and sent, the exchange filled it, and the
    // agent died before recording the fill or any result.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    let coid = client_order_id("W", 1, 1);
    {
        let journal = Journal::open(&cfg.journal).await.unwrap();
        let paper = PaperExchange::open(cfg.adapter.paper.clone(), &journal)
            .await
            .unwrap();
        journal
            .insert_pending(&new_order(&coid, "W", 1, "BTCUSDT", 2))
            .await
            .unwrap();
        journal
            .apply(
                &coid,
                OrderState::Pending,
                OrderEvent::Submit,
                &OrderUpdate::default(),
            )
            .await
            .unwrap();
        paper
            .place_entry(EntryOrder {
                client_order_id: coid.clone(),
                symbol: "BTCUSDT".into(),
                side: Side::Long,
                notional: 100.into(),
            })
            .await
            .unwrap();
        journal.pool().close().await;
    }
    let (agent, mut client) = start(cfg).await;
    let before = describe(&mut client).await;
    assert_eq!(before.open_positions, vec!["BTCUSDT"]);
    assert_eq!(before.orders_sent, 1);
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W", 1, 2, 3, 3),
        &all,
        Drive::default(),
    )
    .await;
    let first = &run.result().outcomes[0];
    assert_eq!(
        first.kind,
        pb::OutcomeKind::Executed as i32,
        "its own position is not an open_position duplicate: {first:?}"
    );
    assert_eq!(first.client_order_id, coid);
    assert_eq!(run.executed_ids(), vec![1, 2]);
    let d = describe(&mut client).await;
    assert_eq!(
        d.orders_sent, 2,
        "only ETHUSDT was sent; BTCUSDT was looked up"
    );
    assert_eq!(d.open_positions.len(), 2);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_timeout_is_an_unknown_outcome_resolved_by_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    // The paper exchange fills on arrival, then takes longer than the agent waits.
    cfg.adapter.paper.latency_ms = 300;
    cfg.order_timeout_ms = 50;
    cfg.stop_retries = 1;
    let (agent, mut client) = start(cfg).await;
    let all = signals(1, 1, &["BTCUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W", 1, 1, 1, 1),
        &all,
        Drive::default(),
    )
    .await;
    let o = &run.result().outcomes[0];
    // Entry timed out → looked up → filled; the stop timed out too → looked up → in place.
    assert!(o.executed, "{o:?}");
    assert!(o.fill_price > 0.0);
    let d = describe(&mut client).await;
    assert_eq!((d.orders_sent, d.open_positions.len()), (1, 1));
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_lost_while_waiting_for_a_topup_finishes_with_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.faults.invalid_symbols = vec!["BADUSDT".into()];
    let (agent, mut client) = start(cfg).await;
    let all = signals(1, 1, &["BTCUSDT", "BADUSDT", "ETHUSDT", "SOLUSDT"]);
    let (tx, mut stream) =
        open_wave(&mut client, start_msg("W", 1, 3, 2, 4), all[..2].to_vec()).await;
    tokio::time::timeout(GUARD, async {
        loop {
            let m = stream.message().await.unwrap().expect("stream open");
            if let Some(Out::Topup(_)) = m.msg {
                break;
            }
        }
    })
    .await
    .unwrap();
    // The coordinator dies instead of answering.
    drop(stream);
    drop(tx);
    let again = drive(
        &mut client,
        start_msg("W", 1, 3, 2, 4),
        &all,
        Drive::default(),
    )
    .await;
    assert!(again.result().from_journal);
    assert!(again.topups.is_empty(), "the replay asks for nothing");
    let s = again.stats();
    assert_eq!(
        (s.executed, s.topup_rounds, s.total_for_execution),
        (1, 1, 1)
    );
    assert_eq!(describe(&mut client).await.orders_sent, 1);
    agent.shutdown().await;
}

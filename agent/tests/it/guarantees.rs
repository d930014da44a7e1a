//! docs/design.md §3 guarantees: per-symbol lock across concurrent waves, deadline, cancel.

use crate::support::*;
use tokio_stream::wrappers::ReceiverStream;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agent_msg::Msg as Out;
use wavegate_common::proto::v1::coordinator_msg::Msg as In;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_waves_never_open_one_symbol_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.adapter.paper.latency_ms = 50;
    let (agent, client) = start(cfg).await;
    let all = signals(1, 1, &["BTCUSDT"]);
    let (mut c1, mut c2) = (client.clone(), client.clone());
    let (a, b) = tokio::join!(
        drive(&mut c1, start_msg("WA", 1, 1, 1, 1), &all, Drive::default()),
        drive(&mut c2, start_msg("WB", 1, 1, 1, 1), &all, Drive::default()),
    );
    let executed = a.stats().executed + b.stats().executed;
    assert_eq!(executed, 1, "a: {:?}\nb: {:?}", a.result(), b.result());
    let loser = if a.stats().executed == 0 { &a } else { &b };
    let o = &loser.result().outcomes[0];
    assert!(
        o.error == "open_position",
        "the second wave sees the first one's position: {o:?}"
    );
    let mut client = client;
    let d = describe(&mut client).await;
    assert_eq!((d.orders_sent, d.open_positions.len()), (1, 1));
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_sent_after_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(config(dir.path(), 1, "binance")).await;
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT"]);
    let mut st = start_msg("W", 1, 2, 2, 2);
    st.deadline = Some(prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() - 60,
        nanos: 0,
    });
    let run = drive(&mut client, st, &all, Drive::default()).await;
    let s = run.stats();
    assert_eq!(s.error, "deadline");
    assert_eq!(s.executed, 0);
    assert_eq!(describe(&mut client).await.orders_sent, 0);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_sending_and_ends_with_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.adapter.paper.latency_ms = 100;
    let (agent, mut client) = start(cfg).await;
    let names: Vec<String> = (0..6).map(|i| format!("SYM{i}USDT")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let all = signals(1, 1, &names);
    let (tx, mut stream) = open_wave(&mut client, start_msg("W", 1, 6, 6, 6), all).await;
    let result = tokio::time::timeout(GUARD, async {
        let mut cancelled = false;
        loop {
            let m = stream.message().await.unwrap().expect("result before end");
            match m.msg {
                Some(Out::Outcome(o)) if o.stage == pb::Stage::Execution as i32 && !cancelled => {
                    cancelled = true;
                    tx.send(msg(In::Cancel(pb::Cancel {
                        reason: "operator".into(),
                    })))
                    .await
                    .unwrap();
                }
                Some(Out::Result(r)) => return r,
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    // Orders launched but not sent when the cancel came end failed, `cancelled`, unsent.
    let unsent = result
        .outcomes
        .iter()
        .filter(|o| o.stage == pb::Stage::Execution as i32 && o.error == "cancelled")
        .count();
    let s = result.stats.unwrap();
    assert_eq!(s.error, "cancelled");
    assert!(s.executed < 6, "{s:?}");
    let d = describe(&mut client).await;
    assert_eq!(
        u64::from(s.executed + s.execution_failed) - unsent as u64,
        d.orders_sent
    );
    assert!(d.orders_sent < 6);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_a_start_that_never_comes() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, mut client) = start(config(dir.path(), 1, "binance")).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::CoordinatorMsg>(1);
    let _stream = client.execute_wave(ReceiverStream::new(rx)).await.unwrap();
    tokio::time::timeout(GUARD, agent.shutdown())
        .await
        .expect("shutdown finishes");
    drop(tx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symbol_opened_by_another_wave_after_validation_is_a_duplicate_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    // Wave A validates ETHUSDT and BTCUSDT at once, then spends two latencies (entry, stop)
    // on ETHUSDT; wave B opens BTCUSDT meanwhile, so A finds it open under the symbol lock.
    cfg.adapter.paper.latency_ms = 200;
    let (agent, client) = start(cfg).await;
    let (mut ca, mut cb) = (client.clone(), client.clone());
    let a_signals = signals(1, 1, &["ETHUSDT", "BTCUSDT"]);
    let (_tx, mut a) = open_wave(&mut ca, start_msg("WA", 1, 2, 2, 2), a_signals).await;
    let mut a_outcomes = Vec::new();
    tokio::time::timeout(GUARD, async {
        while a_outcomes.len() < 2 {
            let m = a.message().await.unwrap().expect("stream open");
            if let Some(Out::Outcome(o)) = m.msg {
                a_outcomes.push(o);
            }
        }
    })
    .await
    .unwrap();
    assert!(
        a_outcomes
            .iter()
            .all(|o| o.kind == pb::OutcomeKind::Validated as i32),
        "{a_outcomes:?}"
    );
    let b = drive(
        &mut cb,
        start_msg("WB", 1, 1, 1, 1),
        &signals(1, 1, &["BTCUSDT"]),
        Drive::default(),
    )
    .await;
    assert_eq!(b.executed_ids(), vec![1]);
    let result = result_of(&mut a).await;
    let btc = &result.outcomes[1];
    assert_eq!(btc.symbol, "BTCUSDT");
    assert_eq!(
        (btc.kind, btc.stage, btc.executed, btc.error.as_str()),
        (
            pb::OutcomeKind::Duplicate as i32,
            pb::Stage::Execution as i32,
            false,
            "open_position"
        ),
        "{btc:?}"
    );
    let s = result.stats.unwrap();
    assert_eq!(
        (s.executed, s.execution_failed, s.duplicates),
        (1, 0, 1),
        "{s:?}"
    );
    let mut client = client;
    let d = describe(&mut client).await;
    assert_eq!(d.orders_sent, 2, "A's ETHUSDT and B's BTCUSDT only");
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_client_order_id_is_looked_up_never_counted_failed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    // BTCUSDT's entry fills, but the answer is "duplicate client order id" (as when an earlier
    // send under the same id filled): the exchange holds a position for it.
    cfg.faults.duplicate_entry = vec!["BTCUSDT".into()];
    let (agent, mut client) = start(cfg).await;
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W", 1, 1, 2, 2),
        &all,
        Drive::default(),
    )
    .await;
    let btc = run.executions()[0];
    assert_eq!(btc.symbol, "BTCUSDT");
    assert_eq!(
        (btc.kind, btc.executed, btc.error.as_str()),
        (pb::OutcomeKind::Executed as i32, true, ""),
        "resolved by lookup: {btc:?}"
    );
    assert!(
        !btc.exchange_order_id.is_empty() && btc.fill_price > 0.0,
        "{btc:?}"
    );
    assert_eq!(
        run.executed_ids(),
        vec![1],
        "the slot stays taken: ETHUSDT is never launched"
    );
    assert_eq!((run.stats().executed, run.stats().execution_failed), (1, 0));
    let d = describe(&mut client).await;
    assert_eq!(d.orders_sent, 1);
    assert_eq!(d.open_positions, vec!["BTCUSDT".to_owned()]);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_id_of_an_earlier_fill_whose_position_is_gone_places_no_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    // The journal row of an earlier send was lost; that send filled and its position was
    // stopped out since. The re-send is answered "duplicate client order id" and the lookup
    // finds the old fill: BTCUSDT is flat.
    cfg.faults.duplicate_entry_gone = vec!["BTCUSDT".into()];
    let path = cfg.journal.clone();
    let (agent, mut client) = start(cfg).await;
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W", 1, 1, 2, 2),
        &all,
        Drive::default(),
    )
    .await;
    let btc = run.executions()[0];
    assert_eq!(
        (btc.symbol.as_str(), btc.executed, btc.error.as_str()),
        ("BTCUSDT", true, "position_closed_elsewhere"),
        "a position opened (it holds its slot), closed outside: {btc:?}"
    );
    assert_eq!(
        run.executed_ids(),
        vec![1],
        "the slot stays taken: ETHUSDT is never opened (max_trades 1)"
    );
    assert_eq!((run.stats().executed, run.stats().execution_failed), (1, 0));
    let d = describe(&mut client).await;
    assert!(d.open_positions.is_empty(), "{:?}", d.open_positions);
    agent.shutdown().await;
    let (stops, state) = crate::recovery_support::records(&path, "stop", "BTCUSDT").await;
    assert_eq!(stops, 0, "no stop sent on a flat symbol");
    assert_eq!(state, "gone");
    let (closes, _) = crate::recovery_support::records(&path, "close", "BTCUSDT").await;
    assert_eq!(
        closes, 1,
        "only the scripted close that left it flat; none by the agent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_orders_launched_but_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    // One order every 500 ms: windowed mode launches all eight at once, seven wait at the
    // limiter.
    cfg.rate_limit.orders_per_second = 2;
    cfg.rate_limit.burst = 1;
    let path = cfg.journal.clone();
    let (agent, mut client) = start(cfg).await;
    let names: Vec<String> = (0..8).map(|i| format!("SYM{i}USDT")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut st = start_msg("W", 1, 8, 8, 8);
    st.mode = pb::ExecutionMode::Windowed as i32;
    let (tx, mut stream) = open_wave(&mut client, st, signals(1, 1, &names)).await;
    let result = tokio::time::timeout(GUARD, async {
        let mut validated = 0;
        loop {
            let m = stream.message().await.unwrap().expect("result before end");
            match m.msg {
                // All eight validated: the walk launches them at once; cancel right away.
                Some(Out::Outcome(o)) if o.kind == pb::OutcomeKind::Validated as i32 => {
                    validated += 1;
                    if validated == 8 {
                        tx.send(msg(In::Cancel(pb::Cancel {
                            reason: "operator".into(),
                        })))
                        .await
                        .unwrap();
                    }
                }
                Some(Out::Result(r)) => return r,
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    let s = result.stats.clone().unwrap();
    assert_eq!(s.error, "cancelled");
    let d = describe(&mut client).await;
    assert!(d.orders_sent <= 2, "sent {} of 8: {s:?}", d.orders_sent);
    assert_eq!(u64::from(s.executed), d.orders_sent, "{s:?}");
    let cancelled: Vec<_> = result
        .outcomes
        .iter()
        .filter(|o| o.stage == pb::Stage::Execution as i32 && o.error == "cancelled")
        .collect();
    assert!(
        cancelled.len() >= 6,
        "launched orders end unsent: {:?}",
        result.outcomes
    );
    for o in &cancelled {
        assert_eq!(o.kind, pb::OutcomeKind::ExecutionFailed as i32, "{o:?}");
        assert!(!o.executed);
    }
    agent.shutdown().await;
    let journal = wavegate_agent::journal::Journal::open(&path).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
        .fetch_one(journal.pool())
        .await
        .unwrap();
    journal.close().await.unwrap();
    assert_eq!(
        u64::try_from(rows).unwrap(),
        d.orders_sent,
        "cancelled orders are not journaled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_found_at_execution_is_not_counted_for_execution() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    // Wave A (target 2) validates ETHUSDT, BTCUSDT and SOLUSDT at once, then spends two
    // latencies on ETHUSDT; wave B opens BTCUSDT meanwhile, so A finds it open under the
    // symbol lock and goes on to SOLUSDT.
    cfg.adapter.paper.latency_ms = 200;
    let (agent, client) = start(cfg).await;
    let (mut ca, mut cb) = (client.clone(), client.clone());
    let a_signals = signals(1, 1, &["ETHUSDT", "BTCUSDT", "SOLUSDT"]);
    let (_tx, mut a) = open_wave(&mut ca, start_msg("WA", 1, 2, 3, 3), a_signals).await;
    let mut validated = 0;
    tokio::time::timeout(GUARD, async {
        while validated < 3 {
            let m = a.message().await.unwrap().expect("stream open");
            if let Some(Out::Outcome(o)) = m.msg {
                assert_eq!(o.kind, pb::OutcomeKind::Validated as i32, "{o:?}");
                validated += 1;
            }
        }
    })
    .await
    .unwrap();
    let b = drive(
        &mut cb,
        start_msg("WB", 1, 1, 1, 1),
        &signals(1, 1, &["BTCUSDT"]),
        Drive::default(),
    )
    .await;
    assert_eq!(b.executed_ids(), vec![1]);
    let result = result_of(&mut a).await;
    assert_eq!(result.outcomes[1].kind, pb::OutcomeKind::Duplicate as i32);
    let s = result.stats.unwrap();
    assert_eq!(
        (s.validated_successful, s.duplicates, s.total_for_execution),
        (2, 1, 2),
        "{s:?}"
    );
    assert_eq!((s.executed, s.execution_failed), (2, 0), "{s:?}");
    assert!(s.target_reached, "{s:?}");
    assert!(
        !s.buffer_saved_us,
        "every signal counted for execution was executed: {s:?}"
    );
    assert_eq!(
        s.selected_for_validation,
        s.validated_successful + s.validation_failed + s.duplicates
    );
    agent.shutdown().await;
}

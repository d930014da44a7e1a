//! Waits that must end: a top-up request the coordinator never answers, and an exchange that
//! cannot list its open positions when a wave starts.

use std::time::Duration;

use crate::recovery_support::sent_and_filled;
use crate::support::*;
use wavegate_agent::exchange::paper::PaperExchange;
use wavegate_agent::journal::Journal;
use wavegate_common::order_id::client_order_id;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agent_msg::Msg as Out;
use wavegate_common::proto::v1::coordinator_msg::Msg as In;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_topup_request_times_out_and_the_wave_finishes_with_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.topup_timeout_ms = 300;
    cfg.faults.invalid_symbols = vec!["BADUSDT".into()];
    let (agent, mut client) = start(cfg).await;
    // Target 2, buffer 2 of 4 signals, one of them invalid: the agent asks for a top-up.
    let all = signals(1, 1, &["BTCUSDT", "BADUSDT", "ETHUSDT", "SOLUSDT"]);
    let (tx, mut stream) =
        open_wave(&mut client, start_msg("W", 1, 2, 2, 4), all[..2].to_vec()).await;
    let mut topups = Vec::new();
    // The coordinator keeps its stream open but never answers.
    let result = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let m = stream.message().await.unwrap().expect("result before end");
            match m.msg {
                Some(Out::Topup(t)) => topups.push(t),
                Some(Out::Result(r)) => return r,
                _ => {}
            }
        }
    })
    .await
    .expect("the wave ends without an answer to its top-up");
    assert_eq!(topups.len(), 1, "{topups:?}");
    let s = result.stats.expect("stats");
    assert_eq!((s.executed, s.validated_successful), (1, 1), "{s:?}");
    assert!(!s.target_reached);
    drop(tx);
    assert_eq!(describe(&mut client).await.orders_sent, 1);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_up_answer_after_the_timeout_is_ignored_not_a_protocol_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.topup_timeout_ms = 100;
    // BTCUSDT's entry and stop take 700 ms each: the session is still running when the late
    // answer comes, 400 ms after the request (300 ms past its timeout).
    cfg.adapter.paper.latency_ms = 700;
    cfg.faults.invalid_symbols = vec!["BADUSDT".into()];
    let (agent, mut client) = start(cfg).await;
    let all = signals(1, 1, &["BTCUSDT", "BADUSDT", "ETHUSDT", "SOLUSDT"]);
    let (tx, mut stream) =
        open_wave(&mut client, start_msg("W", 1, 2, 2, 4), all[..2].to_vec()).await;
    let result = tokio::time::timeout(GUARD, async {
        loop {
            let m = stream.message().await.expect("no error status");
            match m.expect("result before end").msg {
                Some(Out::Topup(t)) => {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    let late = In::Batch(pb::SignalBatch {
                        round: t.round,
                        first_index: 2,
                        signals: all[2..2 + t.count as usize].to_vec(),
                        wave_id: "W".into(),
                    });
                    tx.send(msg(late)).await.unwrap();
                }
                Some(Out::Result(r)) => return r,
                _ => {}
            }
        }
    })
    .await
    .expect("wave finishes");
    let s = result.stats.expect("stats");
    assert_eq!((s.executed, s.validated_successful), (1, 1), "{s:?}");
    assert_eq!(result.outcomes.len(), 2, "the late signals were not taken");
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_positions_failing_briefly_at_the_start_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.faults.positions_fail = 2;
    let (agent, mut client) = start(cfg).await;
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W", 1, 2, 2, 2),
        &all,
        Drive::default(),
    )
    .await;
    assert!(run.status.is_none(), "{:?}", run.status);
    assert_eq!(run.executed_ids(), vec![1, 2]);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_positions_down_refuses_the_wave_after_settling_its_journaled_orders() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.faults.positions_fail = 1_000;
    // An earlier run journaled BTCUSDT as sent and crashed; the entry had filled.
    let coid = client_order_id("W", 1, 1);
    {
        let journal = Journal::open(&cfg.journal).await.unwrap();
        let paper = PaperExchange::open(cfg.adapter.paper.clone(), &journal)
            .await
            .unwrap();
        let row = new_order(&coid, "W", 1, "BTCUSDT", 2);
        sent_and_filled(&journal, &paper, &row, false).await;
        journal.close().await.unwrap();
    }
    let (agent, mut client) = start(cfg.clone()).await;
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W", 1, 2, 2, 2),
        &all,
        Drive::default(),
    )
    .await;
    let status = run.status.expect("refused");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(run.result.is_none());
    agent.shutdown().await;

    let journal = Journal::open(&cfg.journal).await.unwrap();
    let (state, stop): (String, String) =
        sqlx::query_as("SELECT state, stop_state FROM orders WHERE client_order_id = ?")
            .bind(&coid)
            .fetch_one(journal.pool())
            .await
            .unwrap();
    assert_eq!(
        (state.as_str(), stop.as_str()),
        ("resolved", "placed"),
        "the journaled order was looked up and protected before the refusal"
    );
    let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
        .fetch_one(journal.pool())
        .await
        .unwrap();
    assert_eq!(sent, 1, "nothing new was sent");
    journal.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_without_its_buffer_times_out_and_frees_the_wave_for_a_resend() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.topup_timeout_ms = 300;
    let (agent, mut client) = start(cfg).await;
    // The coordinator sends Start, then nothing, and keeps its stream open.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(msg(In::Start(start_msg("W", 1, 2, 2, 2))))
        .await
        .unwrap();
    let mut stalled = client
        .execute_wave(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    // A re-send of the wave, started while the stalled session holds the wave's lock.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut resend_client = client.clone();
    let resend = tokio::spawn(async move {
        drive(
            &mut resend_client,
            start_msg("W", 1, 2, 2, 2),
            &signals(1, 1, &["BTCUSDT", "ETHUSDT"]),
            Drive::default(),
        )
        .await
    });
    let status = tokio::time::timeout(Duration::from_secs(15), stalled.message())
        .await
        .expect("the stalled session ends without its buffer")
        .expect_err("an error status, not a result");
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("batch round 0"),
        "names the missing batch: {}",
        status.message()
    );
    let run = resend.await.unwrap();
    assert!(run.status.is_none(), "{:?}", run.status);
    assert!(
        !run.result().from_journal,
        "nothing was journaled for the stalled run"
    );
    assert_eq!(run.executed_ids(), vec![1, 2]);
    drop(tx);
    assert_eq!(describe(&mut client).await.orders_sent, 2);
    agent.shutdown().await;
}

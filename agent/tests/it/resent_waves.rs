//! Re-sent waves whose earlier run journaled orders but stored no `Result` (an agent crash, or
//! an order left unresolved): every journaled order is settled first and holds its slot,
//! whatever the new run's verdicts, ranks, deadline or `max_trades` (docs/design.md §3).

use std::path::Path;

use crate::recovery_support::sent_and_filled;
use crate::support::*;
use wavegate_agent::AgentConfig;
use wavegate_agent::exchange::paper::PaperExchange;
use wavegate_agent::journal::Journal;
use wavegate_common::order_id::client_order_id;
use wavegate_common::proto::v1 as pb;

/// Simulates a run of wave `W` that crashed after sending `signal_id`'s entry, which the
/// exchange filled; with `fill_journaled`, the fill reached the journal too. No stop was sent
/// and no `Result` stored. Returns the order's client order id.
async fn crash_after_entry(
    cfg: &AgentConfig,
    signal_id: i64,
    symbol: &str,
    wave_target: u32,
    fill_journaled: bool,
) -> String {
    let coid = client_order_id("W", 1, signal_id);
    let journal = Journal::open(&cfg.journal).await.unwrap();
    let paper = PaperExchange::open(cfg.adapter.paper.clone(), &journal)
        .await
        .unwrap();
    let row = new_order(&coid, "W", signal_id, symbol, wave_target);
    sent_and_filled(&journal, &paper, &row, fill_journaled).await;
    journal.close().await.unwrap();
    coid
}

/// Stops the paper exchange received for `symbol`, and the order row's `(state, stop_state)`.
async fn stops_and_row(path: &Path, symbol: &str) -> (i64, String, String) {
    let journal = Journal::open(path).await.unwrap();
    let stops: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM paper_orders WHERE kind = 'stop' AND symbol = ?")
            .bind(symbol)
            .fetch_one(journal.pool())
            .await
            .unwrap();
    let (state, stop): (String, String) =
        sqlx::query_as("SELECT state, stop_state FROM orders WHERE symbol = ?")
            .bind(symbol)
            .fetch_one(journal.pool())
            .await
            .unwrap();
    journal.close().await.unwrap();
    (stops, state, stop)
}

fn outcome_of(run: &WaveRun, signal_id: i64) -> &pb::SignalOutcome {
    run.result()
        .outcomes
        .iter()
        .find(|o| o.signal_id == signal_id)
        .unwrap_or_else(|| panic!("no outcome for signal {signal_id}: {:?}", run.result()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journaled_position_the_new_walk_never_reaches_still_counts_toward_max_trades() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    // SOLUSDT (rank 3) filled in the first run; the walk of the re-sent wave reaches the
    // target with BTCUSDT and ETHUSDT before it, so only settling it first keeps the count.
    let coid = crash_after_entry(&cfg, 3, "SOLUSDT", 2, true).await;
    // Its rules changed since: a journaled signal is never validated into another verdict.
    cfg.faults.invalid_symbols = vec!["SOLUSDT".into()];
    let (agent, mut client) = start(cfg.clone()).await;
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W", 1, 2, 4, 4),
        &all,
        Drive::default(),
    )
    .await;
    let d = describe(&mut client).await;
    assert_eq!(
        d.open_positions.len(),
        2,
        "never more than max_trades positions for the wave: {:?}",
        d.open_positions
    );
    assert_eq!(run.executed_ids(), vec![1, 3]);
    assert_eq!(run.stats().executed, 2);
    assert!(run.stats().target_reached);
    let sol = outcome_of(&run, 3);
    assert_eq!(
        (sol.client_order_id.as_str(), sol.executed, sol.index),
        (coid.as_str(), true, 2)
    );
    let validated = run
        .outcomes
        .iter()
        .find(|o| o.signal_id == 3 && o.stage == pb::Stage::Validation as i32)
        .expect("a verdict for the journaled signal");
    assert_eq!(validated.kind, pb::OutcomeKind::Validated as i32);
    assert_eq!(d.orders_sent, 2, "SOLUSDT was not sent again; BTCUSDT was");
    agent.shutdown().await;
    let (stops, _, stop) = stops_and_row(&cfg.journal, "SOLUSDT").await;
    assert_eq!(
        (stops, stop.as_str()),
        (1, "placed"),
        "its stop step finished"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resent_wave_past_its_deadline_still_settles_its_journaled_orders() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    // Crashed right after sending: the row is `sent`, the exchange holds the position.
    let coid = crash_after_entry(&cfg, 1, "BTCUSDT", 2, false).await;
    let (agent, mut client) = start(cfg.clone()).await;
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT"]);
    let mut st = start_msg("W", 1, 2, 2, 2);
    st.deadline = Some(prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() - 60,
        nanos: 0,
    });
    let run = drive(&mut client, st, &all, Drive::default()).await;
    let s = run.stats();
    assert_eq!(s.error, "deadline");
    assert_eq!(s.executed, 1, "the journaled position is reported");
    let btc = outcome_of(&run, 1);
    assert_eq!(
        (btc.client_order_id.as_str(), btc.executed),
        (coid.as_str(), true)
    );
    let d = describe(&mut client).await;
    assert_eq!(
        d.orders_sent, 1,
        "looked up; nothing new sent after the deadline"
    );
    assert_eq!(d.open_positions, vec!["BTCUSDT"]);
    agent.shutdown().await;
    let (stops, state, stop) = stops_and_row(&cfg.journal, "BTCUSDT").await;
    assert_eq!(
        (stops, state.as_str(), stop.as_str()),
        (1, "resolved", "placed"),
        "resolved by lookup and protected by its stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resent_wave_with_a_larger_max_trades_keeps_its_first_target() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    crash_after_entry(&cfg, 1, "BTCUSDT", 1, true).await;
    let (agent, mut client) = start(cfg.clone()).await;
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W", 1, 3, 4, 4),
        &all,
        Drive::default(),
    )
    .await;
    let s = run.stats();
    assert_eq!((s.executed, s.target), (1, 1), "{s:?}");
    assert!(
        run.topups.is_empty(),
        "the target is held: nothing to ask for"
    );
    let d = describe(&mut client).await;
    assert_eq!((d.orders_sent, d.open_positions.len()), (1, 1));
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresolved_order_keeps_the_result_out_of_the_journal_until_a_resend_settles_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    // The entry fills but its answer is late, and the exchange cannot be asked about it.
    cfg.adapter.paper.latency_ms = 300;
    cfg.order_timeout_ms = 50;
    cfg.faults.lookup_fail = vec!["BTCUSDT".into()];
    // Its five lookups over 150 ms instead of the default 3 s: the same schedule, shorter.
    cfg.lookup_backoff_ms = 10;
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT"]);
    let start_w = || start_msg("W", 1, 1, 2, 2);

    let (agent, mut client) = start(cfg.clone()).await;
    let first = drive(&mut client, start_w(), &all, Drive::default()).await;
    let btc = outcome_of(&first, 1);
    assert_eq!(
        (btc.executed, btc.error.as_str()),
        (true, "outcome_unknown")
    );
    assert_eq!(
        first.executed_ids(),
        vec![1],
        "it holds its slot: ETHUSDT not sent"
    );
    agent.shutdown().await;
    assert_eq!(stops_and_row(&cfg.journal, "BTCUSDT").await.0, 0);

    // The exchange answers again.
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.faults.lookup_fail.clear();
    let (agent, mut client) = start(cfg.clone()).await;
    let again = drive(&mut client, start_w(), &all, Drive::default()).await;
    assert!(!again.result().from_journal, "re-run, not replayed");
    let btc = outcome_of(&again, 1);
    assert_eq!((btc.executed, btc.error.as_str()), (true, ""));
    assert_eq!(again.executed_ids(), vec![1]);
    let d = describe(&mut client).await;
    assert_eq!((d.orders_sent, d.open_positions.len()), (1, 1));
    // Now settled, the result is journaled and replayed.
    let third = drive(&mut client, start_w(), &all, Drive::default()).await;
    assert!(third.result().from_journal);
    agent.shutdown().await;
    let (stops, state, stop) = stops_and_row(&cfg.journal, "BTCUSDT").await;
    assert_eq!(
        (stops, state.as_str(), stop.as_str()),
        (1, "resolved", "placed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_journaled_without_its_side_holds_its_slot_and_settles_when_its_signal_comes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    let coid = crash_after_entry(&cfg, 1, "BTCUSDT", 2, false).await;
    {
        // As an agent from before sides, targets and ranks were journaled wrote it.
        let journal = Journal::open(&cfg.journal).await.unwrap();
        sqlx::query(
            "UPDATE orders SET side = NULL, wave_target = NULL, rank_index = NULL, round = NULL",
        )
        .execute(journal.pool())
        .await
        .unwrap();
        journal.close().await.unwrap();
    }
    let (agent, mut client) = start(cfg.clone()).await;
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W", 1, 2, 3, 3),
        &all,
        Drive::default(),
    )
    .await;
    assert_eq!(run.executed_ids(), vec![1, 2], "{:?}", run.result());
    let btc = outcome_of(&run, 1);
    assert_eq!(
        (btc.client_order_id.as_str(), btc.error.as_str()),
        (coid.as_str(), "")
    );
    let d = describe(&mut client).await;
    assert_eq!((d.orders_sent, d.open_positions.len()), (2, 2));
    let again = drive(
        &mut client,
        start_msg("W", 1, 2, 3, 3),
        &all,
        Drive::default(),
    )
    .await;
    assert!(
        again.result().from_journal,
        "settled, so the result was journaled"
    );
    agent.shutdown().await;
    let (stops, state, stop) = stops_and_row(&cfg.journal, "BTCUSDT").await;
    assert_eq!(
        (stops, state.as_str(), stop.as_str()),
        (1, "resolved", "placed")
    );
}

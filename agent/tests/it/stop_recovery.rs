//! A crash after the entry filled but before its protective stop was confirmed: the re-sent
//! wave looks the stop up, places it if the exchange never got it, or closes the position at
//! market when it cannot be placed (docs/design.md §3) — never reporting an unprotected position. An
//! interrupted close is finished only on this wave's own position, never on one another wave
//! opened since (more of that in `foreign_positions`).

use crate::recovery_support::*;
use crate::support::*;
use wavegate_agent::AgentConfig;
use wavegate_agent::exchange::Exchange;
use wavegate_agent::execute::derived_id;
use wavegate_agent::journal::{StopEvent, StopState};
use wavegate_common::proto::v1 as pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filled_entry_without_a_stop_gets_its_stop_on_the_resent_wave() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    let coid = crash_after_fill(&cfg, false).await;
    assert_eq!(records(&cfg.journal, "stop", "BTCUSDT").await.0, 0);

    let (agent, mut client) = start(cfg.clone()).await;
    let run = drive_symbols(&mut client, 2, &["BTCUSDT", "ETHUSDT", "SOLUSDT"]).await;
    let first = &run.result().outcomes[0];
    assert_eq!(first.client_order_id, coid);
    assert_eq!(first.kind, pb::OutcomeKind::Executed as i32, "{first:?}");
    assert_eq!(run.executed_ids(), vec![1, 2]);
    assert_eq!(run.stats().executed, 2);
    let d = describe(&mut client).await;
    assert_eq!(d.orders_sent, 2, "BTCUSDT's entry was not sent again");
    agent.shutdown().await;

    let (stops, state) = records(&cfg.journal, "stop", "BTCUSDT").await;
    assert_eq!(stops, 1, "the stop was placed exactly once");
    assert_eq!(state, "placed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_that_reached_the_exchange_is_looked_up_not_placed_again() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    crash_after_fill(&cfg, true).await;

    let (agent, mut client) = start(cfg.clone()).await;
    let run = drive_symbols(&mut client, 2, &["BTCUSDT", "ETHUSDT"]).await;
    assert_eq!(run.executed_ids(), vec![1, 2]);
    agent.shutdown().await;

    let (stops, state) = records(&cfg.journal, "stop", "BTCUSDT").await;
    assert_eq!(stops, 1, "looked up by its derived id, not sent twice");
    assert_eq!(state, "placed");
}

/// A fresh fill's first stop leaves before its step is journaled: a crash right then leaves
/// the row `filled` (or `sent`) with stop `none`, and the re-sent wave must find that stop by
/// its id instead of placing a second one.
async fn first_stop_out_before_its_step_is_found_not_placed_again(fill_journaled: bool) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    let coid = crash_after_first_stop_left(&cfg, fill_journaled).await;
    assert_eq!(stop_state_of(&cfg.journal, &coid).await, "none");

    // From now on every stop request for BTCUSDT is refused (and recorded): the stop that is
    // out must be found by lookup. A request under its id would end in a market close.
    let mut cfg = cfg;
    cfg.faults.stop_fail = vec!["BTCUSDT".into()];
    let (agent, mut client) = start(cfg.clone()).await;
    let run = drive_symbols(&mut client, 2, &["BTCUSDT", "ETHUSDT"]).await;
    let first = &run.result().outcomes[0];
    assert_eq!(first.client_order_id, coid);
    assert_eq!(
        (first.kind, first.error.as_str()),
        (pb::OutcomeKind::Executed as i32, ""),
        "protected by the stop already out: {first:?}"
    );
    assert_eq!(run.executed_ids(), vec![1, 2]);
    assert_eq!(
        describe(&mut client).await.orders_sent,
        2,
        "one row per signal"
    );
    agent.shutdown().await;

    let (entries, _) = records(&cfg.journal, "entry", "BTCUSDT").await;
    assert_eq!(entries, 1, "BTCUSDT's entry was not sent again");
    let (stops, state) = records(&cfg.journal, "stop", "BTCUSDT").await;
    assert_eq!(
        stops, 1,
        "the stop that left unjournaled was found, not sent again"
    );
    assert_eq!(state, "placed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_stop_out_before_its_step_with_the_fill_journaled_is_not_placed_again() {
    first_stop_out_before_its_step_is_found_not_placed_again(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_stop_out_before_its_step_and_the_fill_is_not_placed_again() {
    first_stop_out_before_its_step_is_found_not_placed_again(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filled_entry_whose_stop_cannot_be_placed_is_closed_and_failed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.faults.stop_fail = vec!["BTCUSDT".into()];
    let coid = crash_after_fill(&cfg, false).await;

    let (agent, mut client) = start(cfg.clone()).await;
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W", 1, 2, 3, 4),
        &all,
        Drive::default(),
    )
    .await;
    let first = &run.result().outcomes[0];
    assert_eq!(first.client_order_id, coid);
    assert_eq!(
        first.kind,
        pb::OutcomeKind::ExecutionFailed as i32,
        "{first:?}"
    );
    assert_eq!(first.error, "stop_failed_closed");
    let executed = run.executed_ids();
    assert!(
        executed.len() <= 2,
        "never more than max_trades: {executed:?}"
    );
    assert!(!executed.contains(&1));
    let d = describe(&mut client).await;
    assert!(!d.open_positions.contains(&"BTCUSDT".to_owned()));
    assert!(d.open_positions.len() <= 2);
    agent.shutdown().await;

    let (stops, state) = records(&cfg.journal, "stop", "BTCUSDT").await;
    assert_eq!(
        stops,
        i64::from(cfg.stop_retries),
        "bounded retries, then closed"
    );
    assert_eq!(state, "closed");
    assert_eq!(records(&cfg.journal, "close", "BTCUSDT").await.0, 1);
}

/// What became of BTCUSDT's position after the crash of [`crash_while_closing`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum AfterCrash {
    /// The close (attempt 0) reached the exchange and filled.
    CloseFilled,
    /// The close never left; the position was closed otherwise (its stop fired).
    ClosedElsewhere,
    /// The close never left; the position is still open.
    StillOpen,
}

/// Simulates a crash of wave `W` while closing BTCUSDT (its stop could not be placed): the
/// fill and the `closing` step are journaled, `Closed` is not.
async fn crash_while_closing(cfg: &AgentConfig, after: AfterCrash) -> String {
    // The first run's order size (the agents below may use another).
    let (journal, paper, coid, _) = journaled_fill(cfg).await;
    journal
        .stop_step(&coid, StopState::None, StopEvent::Close, 0)
        .await
        .unwrap();
    let close_id = match after {
        AfterCrash::CloseFilled => Some(derived_id(&coid, 'c', 0)),
        AfterCrash::ClosedElsewhere => Some("stop-fired-elsewhere".to_owned()),
        AfterCrash::StillOpen => None,
    };
    if let Some(id) = close_id {
        paper.close_position("BTCUSDT".into(), id).await.unwrap();
    }
    journal.close().await.unwrap();
    coid
}

/// Opens BTCUSDT for wave `W2`, then re-sends `W`: returns `W`'s BTCUSDT outcome and the open
/// positions after it.
async fn reopen_then_resend(cfg: &AgentConfig) -> (pb::SignalOutcome, Vec<String>) {
    let (agent, mut client) = start(cfg.clone()).await;
    let w2 = drive(
        &mut client,
        start_msg("W2", 1, 1, 1, 1),
        &signals(1, 1, &["BTCUSDT"]),
        Drive::default(),
    )
    .await;
    assert_eq!(w2.executed_ids(), vec![1], "W2 opens BTCUSDT");
    let run = drive_symbols(&mut client, 2, &["BTCUSDT", "ETHUSDT"]).await;
    let btc = run.result().outcomes[0].clone();
    assert_eq!(run.executed_ids(), vec![2], "{:?}", run.result());
    let open = describe(&mut client).await.open_positions;
    agent.shutdown().await;
    (btc, open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_close_that_filled_is_not_repeated_on_another_waves_position() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    let coid = crash_while_closing(&cfg, AfterCrash::CloseFilled).await;
    let (btc, open) = reopen_then_resend(&cfg).await;
    assert_eq!(btc.client_order_id, coid);
    assert_eq!(
        (btc.kind, btc.error.as_str()),
        (
            pb::OutcomeKind::ExecutionFailed as i32,
            "stop_failed_closed"
        ),
        "{btc:?}"
    );
    assert!(
        open.contains(&"BTCUSDT".to_owned()),
        "W2's BTCUSDT position is left open: {open:?}"
    );
    let (closes, _) = records(&cfg.journal, "close", "BTCUSDT").await;
    assert_eq!(closes, 1, "the close found by lookup is the only one");
    assert_eq!(stop_state_of(&cfg.journal, &coid).await, "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_close_leaves_a_position_of_another_size_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    let coid = crash_while_closing(&cfg, AfterCrash::ClosedElsewhere).await;
    // W2 opens BTCUSDT with twice W's size.
    cfg.adapter.paper.notional = 200.into();
    let (btc, open) = reopen_then_resend(&cfg).await;
    assert_eq!(btc.client_order_id, coid);
    assert_eq!(
        (btc.kind, btc.error.as_str()),
        (
            pb::OutcomeKind::ExecutionFailed as i32,
            "stop_failed_closed"
        ),
        "{btc:?}"
    );
    assert!(open.contains(&"BTCUSDT".to_owned()), "{open:?}");
    let (closes, _) = records(&cfg.journal, "close", "BTCUSDT").await;
    assert_eq!(closes, 1, "only the close that happened outside the agent");
    assert_eq!(stop_state_of(&cfg.journal, &coid).await, "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_close_of_this_waves_position_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    let coid = crash_while_closing(&cfg, AfterCrash::StillOpen).await;
    let (agent, mut client) = start(cfg.clone()).await;
    let run = drive_symbols(&mut client, 2, &["BTCUSDT", "ETHUSDT"]).await;
    let btc = &run.result().outcomes[0];
    assert_eq!(btc.client_order_id, coid);
    assert_eq!(btc.error, "stop_failed_closed", "{btc:?}");
    assert_eq!(run.executed_ids(), vec![2]);
    let open = describe(&mut client).await.open_positions;
    assert_eq!(open, vec!["ETHUSDT".to_owned()]);
    agent.shutdown().await;
    let (closes, state) = records(&cfg.journal, "close", "BTCUSDT").await;
    assert_eq!(closes, 1);
    assert_eq!(state, "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_close_leaves_a_same_size_position_of_another_wave_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    let coid = crash_while_closing(&cfg, AfterCrash::ClosedElsewhere).await;
    // W2 opens BTCUSDT with W's size.
    let (btc, open) = reopen_then_resend(&cfg).await;
    assert!(
        open.contains(&"BTCUSDT".to_owned()),
        "W2's BTCUSDT position is left open: {open:?}"
    );
    let (closes, _) = records(&cfg.journal, "close", "BTCUSDT").await;
    assert_eq!(closes, 1, "only the close that happened outside the agent");
    assert_eq!(
        (btc.kind, btc.error.as_str()),
        (
            pb::OutcomeKind::ExecutionFailed as i32,
            "stop_failed_closed"
        ),
        "{btc:?}"
    );
    assert_eq!(stop_state_of(&cfg.journal, &coid).await, "closed");
}

/// Journals each `(client order id, signal id, symbol)` of wave `W` as `sent` (target `target`)
/// and fills it at the paper exchange: a crash right after the sends.
async fn crash_after_sends(cfg: &AgentConfig, target: u32, rows: &[(&str, i64, &str)]) {
    use wavegate_agent::exchange::paper::PaperExchange;
    use wavegate_agent::journal::Journal;
    let journal = Journal::open(&cfg.journal).await.unwrap();
    let paper = PaperExchange::open(cfg.adapter.paper.clone(), &journal)
        .await
        .unwrap();
    for (coid, signal_id, symbol) in rows {
        let row = new_order(coid, "W", *signal_id, symbol, target);
        sent_and_filled(&journal, &paper, &row, false).await;
    }
    journal.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journaled_order_is_settled_under_its_journaled_id() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    // Sent while the agent ran as exchange 7: the id the exchange knows is not the one this
    // agent (exchange 1) would derive now.
    let coid = wavegate_common::order_id::client_order_id("W", 7, 1);
    crash_after_sends(&cfg, 1, &[(&coid, 1, "BTCUSDT")]).await;

    let (agent, mut client) = start(cfg.clone()).await;
    let run = drive_symbols(&mut client, 1, &["BTCUSDT", "ETHUSDT"]).await;
    let first = &run.result().outcomes[0];
    assert_eq!(first.client_order_id, coid);
    assert_eq!(
        (first.kind, first.error.as_str()),
        (pb::OutcomeKind::Executed as i32, ""),
        "found by its journaled id and protected: {first:?}"
    );
    assert_eq!(run.executed_ids(), vec![1], "ETHUSDT never opened");
    let d = describe(&mut client).await;
    assert_eq!(d.orders_sent, 1);
    agent.shutdown().await;
    assert_eq!(
        records(&cfg.journal, "stop", "BTCUSDT").await,
        (1, "placed".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_journaled_orders_of_one_signal_each_hold_a_slot() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    // Signal 1 was sent twice under two ids (the agent's exchange id changed between runs):
    // two orders, two positions' worth of fills.
    let a = wavegate_common::order_id::client_order_id("W", 1, 1);
    let b = wavegate_common::order_id::client_order_id("W", 7, 1);
    crash_after_sends(&cfg, 2, &[(&a, 1, "BTCUSDT"), (&b, 1, "BTCUSDT")]).await;

    let (agent, mut client) = start(cfg.clone()).await;
    let run = drive_symbols(&mut client, 2, &["BTCUSDT", "ETHUSDT", "SOLUSDT"]).await;
    let mut ids: Vec<&str> = run
        .result()
        .outcomes
        .iter()
        .filter(|o| o.executed)
        .map(|o| o.client_order_id.as_str())
        .collect();
    ids.sort_unstable();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want, "{:?}", run.result().outcomes);
    assert_eq!(run.stats().executed, 2);
    let d = describe(&mut client).await;
    assert_eq!(d.orders_sent, 2, "both slots held: nothing new sent");
    assert_eq!(d.open_positions, vec!["BTCUSDT".to_owned()]);
    agent.shutdown().await;
}

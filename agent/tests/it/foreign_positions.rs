//! Recovery never touches a position that is not this wave's: no stop is placed (or close
//! sent) for an entry whose position was closed outside the agent and opened again by another
//! wave, also when it has the same size. A position left open without a stop (its stop and its
//! close both refused) keeps the wave's `Result` out of the journal, and a re-sent wave tries
//! again to protect it, on this wave's own position only.

use std::path::Path;

use crate::recovery_support::*;
use crate::support::*;
use wavegate_agent::AgentConfig;
use wavegate_agent::exchange::Exchange;
use wavegate_agent::exchange::paper::PaperExchange;
use wavegate_agent::execute::derived_id;
use wavegate_agent::journal::{Journal, StopEvent, StopState};
use wavegate_common::proto::v1 as pb;

/// What the crashed first run of `W` journaled of BTCUSDT, whose entry filled.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Journaled {
    /// The entry as sent: its fill never reached the journal (a lookup finds it).
    Sent,
    /// The fill; no stop attempt (stop step `none`).
    Fill,
    /// The fill and the first stop attempt (`sending`), which never reached the exchange.
    StopSending,
}

/// Simulates a crash of wave `W` after BTCUSDT's entry filled, journaled as `journaled`; then
/// the position was closed outside the agent (by hand, a liquidation). Returns the entry's
/// client order id.
async fn crash_then_closed_elsewhere(cfg: &AgentConfig, journaled: Journaled) -> String {
    let (journal, paper, coid, _) = filled_entry(cfg, journaled != Journaled::Sent).await;
    if journaled == Journaled::StopSending {
        journal
            .stop_step(&coid, StopState::None, StopEvent::Send, 0)
            .await
            .unwrap();
    }
    paper
        .close_position("BTCUSDT".into(), "closed-by-hand".into())
        .await
        .unwrap();
    journal.close().await.unwrap();
    coid
}

/// Wave `W2` opens BTCUSDT for `w2_notional` (`W`'s was 100: same size, or not), in an agent
/// on `cfg`; then `W` is re-sent to a restarted agent (on `cfg`, with BTCUSDT's stops refused
/// when `stop_fail`), max_trades 2 with BTCUSDT and ETHUSDT: `W`'s run and the open positions
/// after it.
async fn other_wave_opens_then_resend(
    cfg: &AgentConfig,
    stop_fail: bool,
    w2_notional: wavegate_agent::exchange::Decimal,
) -> (WaveRun, Vec<String>) {
    let mut w2_cfg = cfg.clone();
    w2_cfg.adapter.paper.notional = w2_notional;
    let (agent, mut client) = start(w2_cfg).await;
    let w2 = drive(
        &mut client,
        start_msg("W2", 1, 1, 1, 1),
        &signals(1, 1, &["BTCUSDT"]),
        Drive::default(),
    )
    .await;
    assert_eq!(w2.executed_ids(), vec![1], "W2 opens BTCUSDT");
    agent.shutdown().await;

    let mut w_cfg = cfg.clone();
    if stop_fail {
        w_cfg.faults.stop_fail = vec!["BTCUSDT".into()];
    }
    let (agent, mut client) = start(w_cfg).await;
    let run = drive(
        &mut client,
        start_msg("W", 1, 2, 2, 2),
        &signals(1, 1, &["BTCUSDT", "ETHUSDT"]),
        Drive::default(),
    )
    .await;
    let open = describe(&mut client).await.open_positions;
    agent.shutdown().await;
    (run, open)
}

/// `W`'s BTCUSDT position was closed outside the agent after the crash `journaled` left, and
/// `W2` opened BTCUSDT since: the re-sent `W` neither places a stop on `W2`'s position nor
/// closes it (its own stops refused with `stop_fail`); its entry is settled `gone`, executed
/// (a position opened) with a clear error, and keeps its slot. `W2`'s position has twice
/// `W`'s size unless `same_size`.
async fn another_waves_position_is_left_alone(
    journaled: Journaled,
    stop_fail: bool,
    same_size: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    let coid = crash_then_closed_elsewhere(&cfg, journaled).await;
    let w2_notional = if same_size { 100 } else { 200 }.into();
    let (run, open) = other_wave_opens_then_resend(&cfg, stop_fail, w2_notional).await;
    assert_eq!(
        derived_orders(&cfg.journal, &coid).await,
        Vec::<String>::new(),
        "no stop or close was sent for W's entry"
    );
    assert!(
        open.contains(&"BTCUSDT".to_owned()),
        "W2's BTCUSDT position is left open: {open:?}"
    );
    let btc = &run.result().outcomes[0];
    assert_eq!(btc.client_order_id, coid);
    assert_eq!(
        (btc.kind, btc.executed, btc.error.as_str()),
        (
            pb::OutcomeKind::Executed as i32,
            true,
            "position_closed_elsewhere"
        ),
        "{btc:?}"
    );
    assert_eq!(run.executed_ids(), vec![1, 2], "{:?}", run.result());
    assert_eq!(stop_state_of(&cfg.journal, &coid).await, "gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fill_without_a_stop_gets_none_on_another_waves_position() {
    another_waves_position_is_left_alone(Journaled::Fill, false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fill_without_a_stop_never_closes_another_waves_position() {
    another_waves_position_is_left_alone(Journaled::Fill, true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_sent_but_lost_is_not_placed_on_another_waves_position() {
    another_waves_position_is_left_alone(Journaled::StopSending, false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_sent_but_lost_never_closes_another_waves_position() {
    another_waves_position_is_left_alone(Journaled::StopSending, true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_found_filled_by_lookup_never_closes_another_waves_position() {
    // The fill never reached the journal: the re-sent wave finds it by lookup, and the
    // position it would protect is W2's.
    another_waves_position_is_left_alone(Journaled::Sent, true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_size_position_another_wave_opened_since_is_never_closed() {
    // The agent's next order of the symbol at the same notional opens a position of the same
    // side and size: the journal tells it apart (it was ordered after W's entry).
    another_waves_position_is_left_alone(Journaled::Fill, true, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fill_whose_position_is_gone_keeps_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    let coid = crash_then_closed_elsewhere(&cfg, Journaled::Fill).await;
    let (agent, mut client) = start(cfg.clone()).await;
    let run = drive(
        &mut client,
        start_msg("W", 1, 1, 2, 2),
        &signals(1, 1, &["BTCUSDT", "ETHUSDT"]),
        Drive::default(),
    )
    .await;
    let btc = &run.result().outcomes[0];
    assert_eq!(
        (btc.executed, btc.error.as_str()),
        (true, "position_closed_elsewhere"),
        "{btc:?}"
    );
    assert_eq!(
        run.executed_ids(),
        vec![1],
        "a position opened for the wave: no second one in its place"
    );
    let d = describe(&mut client).await;
    assert_eq!((d.orders_sent, d.open_positions.len()), (1, 0));
    agent.shutdown().await;
    assert!(derived_orders(&cfg.journal, &coid).await.is_empty());
    assert_eq!(stop_state_of(&cfg.journal, &coid).await, "gone");
}

/// Wave `W` (max_trades 1) in an agent whose BTCUSDT stops and market closes are all refused:
/// its entry fills and is left open without a stop (`close_failed`). Checks that run and that
/// its `Result` was sent but not journaled; returns the entry's client order id.
async fn first_run_leaves_btc_unprotected(cfg: &AgentConfig) -> String {
    let mut failing = cfg.clone();
    failing.faults.stop_fail = vec!["BTCUSDT".into()];
    failing.faults.close_fail = vec!["BTCUSDT".into()];
    let (agent, mut client) = start(failing).await;
    let run = drive(
        &mut client,
        start_msg("W", 1, 1, 2, 2),
        &signals(1, 1, &["BTCUSDT", "ETHUSDT"]),
        Drive::default(),
    )
    .await;
    let btc = run.result().outcomes[0].clone();
    assert_eq!(
        (btc.stage, btc.executed, btc.error.as_str()),
        (
            pb::Stage::Execution as i32,
            true,
            "stop_failed_close_failed"
        ),
        "{btc:?}"
    );
    assert_eq!(
        run.executed_ids(),
        vec![1],
        "the open position holds its slot: ETHUSDT not sent"
    );
    assert!(!run.result().from_journal);
    let d = describe(&mut client).await;
    assert_eq!(d.open_positions, vec!["BTCUSDT".to_owned()]);
    agent.shutdown().await;
    let coid = btc.client_order_id;
    assert_eq!(stop_state_of(&cfg.journal, &coid).await, "close_failed");
    let journal = Journal::open(&cfg.journal).await.unwrap();
    let results: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM wave_results WHERE wave_id = 'W'")
        .fetch_one(journal.pool())
        .await
        .unwrap();
    journal.close().await.unwrap();
    assert_eq!(
        results, 0,
        "an unprotected position keeps W's Result out of the journal"
    );
    coid
}

/// `(client order id, kind, status)` of the paper exchange's orders of `kind` for `symbol`, in
/// arrival order.
async fn orders_of(path: &Path, kind: &str, symbol: &str) -> Vec<(String, String)> {
    let journal = Journal::open(path).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT client_order_id, status FROM paper_orders WHERE kind = ? AND symbol = ?
         ORDER BY rowid",
    )
    .bind(kind)
    .bind(symbol)
    .fetch_all(journal.pool())
    .await
    .unwrap();
    journal.close().await.unwrap();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_left_without_a_stop_is_protected_by_the_resent_wave_which_then_journals() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    let coid = first_run_leaves_btc_unprotected(&cfg).await;
    let retries = cfg.stop_retries;
    assert_eq!(
        orders_of(&cfg.journal, "stop", "BTCUSDT").await.len(),
        retries as usize
    );
    assert_eq!(
        orders_of(&cfg.journal, "close", "BTCUSDT").await.len(),
        retries as usize
    );

    // The exchange takes stops again; the coordinator re-sends the wave to a restarted agent.
    let (agent, mut client) = start(cfg.clone()).await;
    let w = || start_msg("W", 1, 1, 2, 2);
    let all = signals(1, 1, &["BTCUSDT", "ETHUSDT"]);
    let again = drive(&mut client, w(), &all, Drive::default()).await;
    assert!(!again.result().from_journal, "re-run, not replayed");
    let btc = again
        .result()
        .outcomes
        .iter()
        .find(|o| o.signal_id == 1 && o.stage == pb::Stage::Execution as i32)
        .expect("BTCUSDT's execution outcome")
        .clone();
    assert_eq!(
        (
            btc.client_order_id.as_str(),
            btc.executed,
            btc.error.as_str()
        ),
        (coid.as_str(), true, ""),
        "protected now: {btc:?}"
    );
    assert_eq!(again.executed_ids(), vec![1], "still W's one position");
    let d = describe(&mut client).await;
    assert_eq!(d.orders_sent, 1, "BTCUSDT's entry was not sent again");
    assert_eq!(d.open_positions, vec!["BTCUSDT".to_owned()]);
    // Settled now: the Result was journaled and is replayed.
    let third = drive(&mut client, w(), &all, Drive::default()).await;
    assert!(third.result().from_journal);
    agent.shutdown().await;

    let stops = orders_of(&cfg.journal, "stop", "BTCUSDT").await;
    let placed: Vec<_> = stops.iter().filter(|(_, s)| s == "open").collect();
    assert_eq!(
        placed,
        vec![&(derived_id(&coid, 's', retries), "open".to_owned())],
        "one stop, under a fresh id after the earlier (looked-up) ones: {stops:?}"
    );
    assert_eq!(
        orders_of(&cfg.journal, "close", "BTCUSDT").await.len(),
        retries as usize,
        "nothing closed"
    );
    assert_eq!(stop_state_of(&cfg.journal, &coid).await, "placed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_left_without_a_stop_then_replaced_by_another_waves_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    let coid = first_run_leaves_btc_unprotected(&cfg).await;
    {
        // Closed by hand, and the agent is down meanwhile.
        let journal = Journal::open(&cfg.journal).await.unwrap();
        let paper = PaperExchange::open(cfg.adapter.paper.clone(), &journal)
            .await
            .unwrap();
        paper
            .close_position("BTCUSDT".into(), "closed-by-hand".into())
            .await
            .unwrap();
        journal.close().await.unwrap();
    }
    let before = derived_orders(&cfg.journal, &coid).await;
    // W2 opens BTCUSDT with W's size; then W is re-sent.
    let (run, open) = other_wave_opens_then_resend(&cfg, false, 100.into()).await;
    assert_eq!(
        derived_orders(&cfg.journal, &coid).await,
        before,
        "no stop or close sent for W's entry on W2's position"
    );
    assert!(open.contains(&"BTCUSDT".to_owned()), "{open:?}");
    let btc = &run.result().outcomes[0];
    assert_eq!(
        (
            btc.client_order_id.as_str(),
            btc.executed,
            btc.error.as_str()
        ),
        (coid.as_str(), true, "position_closed_elsewhere"),
        "{btc:?}"
    );
    assert_eq!(stop_state_of(&cfg.journal, &coid).await, "gone");
}

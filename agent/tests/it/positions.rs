//! Positions as a trader opens them (issue 11), on the paper exchange over real gRPC: account
//! limits at validation (balance with reserve, max positions, brackets), symbol filters,
//! leverage set before entries, and the trailing stop after the protective stop.

use std::path::Path;

use crate::support::*;
use wavegate_agent::exchange::Decimal;
use wavegate_agent::exchange::money::decimal;
use wavegate_agent::exchange::paper::price_of as paper_price;
use wavegate_agent::journal::Journal;
use wavegate_common::proto::v1 as pb;

const SYMBOLS: [&str; 9] = [
    "AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT", "EEEUSDT", "FFFUSDT", "GGGUSDT", "HHHUSDT",
    "IIIUSDT",
];

/// `(kind, symbol)` of every order the paper exchange received, in arrival order.
async fn paper_orders(path: &Path) -> Vec<(String, String)> {
    let journal = Journal::open(path).await.unwrap();
    let rows = sqlx::query_as("SELECT kind, symbol FROM paper_orders ORDER BY rowid")
        .fetch_all(journal.pool())
        .await
        .unwrap();
    journal.close().await.unwrap();
    rows
}

/// `(symbol, kind, trigger_price, callback_percent)` of the resting stops and trailing stops.
async fn triggers(path: &Path) -> Vec<(String, String, f64, f64)> {
    let journal = Journal::open(path).await.unwrap();
    let rows = sqlx::query_as(
        "SELECT symbol, kind, trigger_price, callback_percent FROM paper_triggers ORDER BY rowid",
    )
    .fetch_all(journal.pool())
    .await
    .unwrap();
    journal.close().await.unwrap();
    rows
}

fn errors(run: &WaveRun) -> Vec<(i64, String)> {
    run.result()
        .outcomes
        .iter()
        .map(|o| (o.signal_id, o.error.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_balance_for_two_opens_two_and_sends_nothing_for_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    // 100 per position, 10 kept in reserve: 250 carries two (the third would leave 40 < 100).
    cfg.adapter.paper.balance = Some(250.into());
    let journal = cfg.journal.clone();
    let (agent, mut client) = start(cfg).await;
    let all = signals(1, 1, &SYMBOLS);
    let run = drive(
        &mut client,
        start_msg("W", 1, 6, 9, 9),
        &all,
        Drive::default(),
    )
    .await;
    agent.shutdown().await;
    assert_eq!(run.executed_ids(), vec![1, 2]);
    let s = run.stats();
    assert_eq!(
        (
            s.executed,
            s.validation_failed,
            s.total_for_execution,
            s.target_reached
        ),
        (2, 7, 2, false)
    );
    assert!(
        run.topups.is_empty(),
        "insufficient funds end the walk: no top-up"
    );
    for (id, error) in errors(&run).into_iter().skip(2) {
        assert_eq!(error, "insufficient_balance", "signal {id}");
    }
    let entries: Vec<String> = paper_orders(&journal)
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "entry")
        .map(|(_, symbol)| symbol)
        .collect();
    assert_eq!(
        entries,
        vec!["AAAUSDT", "BBBUSDT"],
        "no order for the refused signals"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_positions_brackets_and_symbol_filters_fail_validation_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.adapter.paper.open_positions = vec!["ZZZUSDT".into()];
    cfg.limits.max_positions = 3;
    cfg.symbols.deny_patterns = vec!["*PEPE*".into()];
    let (agent, mut client) = start(cfg).await;
    let all = signals(
        1,
        1,
        &[
            "USDCUSDT",
            "BTCUPUSDT",
            "PEPEUSDT",
            "AAAUSDT",
            "BBBUSDT",
            "CCCUSDT",
        ],
    );
    let run = drive(
        &mut client,
        start_msg("W", 1, 5, 6, 6),
        &all,
        Drive::default(),
    )
    .await;
    agent.shutdown().await;
    assert_eq!(
        errors(&run),
        vec![
            (1, "symbol_filtered".into()),
            (2, "symbol_filtered".into()),
            (3, "symbol_filtered".into()),
            (4, String::new()),
            (5, String::new()),
            (6, "max_positions_reached".into()),
        ]
    );
    assert_eq!(run.stats().validation_failed, 4);

    // A bracket of 1000 at leverage 1 allows 100 at leverage 10: a 150 order is above it.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.adapter.paper.max_notional = Some(1000.into());
    cfg.adapter.paper.notional = 150.into();
    cfg.positions.leverage = 10;
    let (agent, mut client) = start(cfg).await;
    let all = signals(1, 1, &["AAAUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W", 1, 1, 1, 1),
        &all,
        Drive::default(),
    )
    .await;
    agent.shutdown().await;
    assert_eq!(errors(&run), vec![(1, "above_bracket_max_notional".into())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_params_leave_every_position_with_a_stop_and_a_trailing_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.faults.trailing_fail = vec!["CCCUSDT".into()];
    let journal = cfg.journal.clone();
    let (agent, mut client) = start(cfg).await;
    let mut start = start_msg("W", 1, 3, 3, 3);
    let p = start.params.as_mut().unwrap();
    p.stop_loss_percent = Some(4.0);
    p.trailing_activation_percent = Some(2.0);
    p.trailing_distance_percent = Some(0.5);
    let all = signals(1, 1, &["AAAUSDT", "BBBUSDT", "CCCUSDT"]);
    let run = drive(&mut client, start, &all, Drive::default()).await;
    agent.shutdown().await;
    assert_eq!(run.executed_ids(), vec![1, 2, 3]);
    let trailing: Vec<(i64, String)> = run
        .result()
        .outcomes
        .iter()
        .map(|o| (o.signal_id, o.trailing.clone()))
        .collect();
    assert_eq!(
        trailing,
        vec![
            (1, "placed".into()),
            (2, "placed".into()),
            // Refused: reported, and the position keeps its protective stop and its slot.
            (3, "failed(trailing_rejected)".into()),
        ]
    );
    let t = triggers(&journal).await;
    for symbol in ["AAAUSDT", "BBBUSDT", "CCCUSDT"] {
        let fill = paper_price(symbol);
        let stop = t
            .iter()
            .find(|r| r.0 == symbol && r.1 == "stop")
            .unwrap_or_else(|| panic!("{symbol} has a stop"));
        // Exact: 4 % below the fill, stored as the decimal it is.
        assert_eq!(
            decimal(stop.2, "stop").unwrap(),
            fill * Decimal::new(96, 2),
            "{symbol} stop"
        );
        let trail = t.iter().find(|r| r.0 == symbol && r.1 == "trailing");
        if symbol == "CCCUSDT" {
            assert!(trail.is_none());
            continue;
        }
        let trail = trail.unwrap_or_else(|| panic!("{symbol} has a trailing stop"));
        assert_eq!(
            decimal(trail.2, "activation").unwrap(),
            fill * Decimal::new(102, 2),
            "{symbol} activation"
        );
        assert!((trail.3 - 0.5).abs() < 1e-12);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_trailing_values_the_trailing_stop_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    let (agent, mut client) = start(cfg).await;
    let all = signals(1, 1, &["AAAUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W", 1, 1, 1, 1),
        &all,
        Drive::default(),
    )
    .await;
    agent.shutdown().await;
    assert_eq!(run.result().outcomes[0].trailing, "off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leverage_is_set_once_before_the_first_entry_and_a_refusal_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.positions.leverage = 5;
    cfg.positions.margin_mode = wavegate_agent::config::MarginMode::Isolated;
    cfg.faults.leverage_fail = vec!["BBBUSDT".into()];
    let journal = cfg.journal.clone();
    let (agent, mut client) = start(cfg).await;
    let all = signals(1, 1, &["AAAUSDT", "BBBUSDT"]);
    let run = drive(
        &mut client,
        start_msg("W", 1, 2, 2, 2),
        &all,
        Drive::default(),
    )
    .await;
    agent.shutdown().await;
    assert_eq!(run.executed_ids(), vec![1]);
    assert_eq!(
        run.result().outcomes[1].error,
        "leverage_not_set: leverage_rejected"
    );
    let j = Journal::open(&journal).await.unwrap();
    let paper: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT symbol, leverage, margin_mode FROM paper_leverage")
            .fetch_all(j.pool())
            .await
            .unwrap();
    assert_eq!(paper, vec![("AAAUSDT".into(), 5, "isolated".into())]);
    let journaled = j.leverage_settings().await.unwrap();
    assert_eq!(journaled.len(), 1);
    assert_eq!(journaled["AAAUSDT"].leverage, 5);
    j.close().await.unwrap();
    let entries = paper_orders(&journal).await;
    assert!(!entries.iter().any(|(_, s)| s == "BBBUSDT"), "{entries:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waves_position_params_replace_the_config_for_that_wave_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.positions.leverage = 5;
    let journal = cfg.journal.clone();
    let (agent, mut client) = start(cfg).await;
    let mut with_params = start_msg("W1", 1, 2, 2, 2);
    let p = with_params.params.as_mut().unwrap();
    p.leverage = Some(3);
    p.margin_mode = pb::MarginMode::Isolated as i32;
    p.position_size_usd = Some(50.0);
    let run = drive(
        &mut client,
        with_params,
        &signals(1, 1, &["AAAUSDT", "BBBUSDT"]),
        Drive::default(),
    )
    .await;
    assert_eq!(run.executed_ids(), vec![1, 2]);
    // The next wave carries none: the agent's own leverage, margin mode and size again.
    let run = drive(
        &mut client,
        start_msg("W2", 1, 1, 1, 1),
        &signals(1, 11, &["CCCUSDT"]),
        Drive::default(),
    )
    .await;
    assert_eq!(run.executed_ids(), vec![11]);
    agent.shutdown().await;
    let j = Journal::open(&journal).await.unwrap();
    let settings: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT symbol, leverage, margin_mode FROM paper_leverage ORDER BY symbol")
            .fetch_all(j.pool())
            .await
            .unwrap();
    let sizes: Vec<(String, f64)> = sqlx::query_as(
        "SELECT symbol, price * quantity FROM paper_orders WHERE kind = 'entry' ORDER BY rowid",
    )
    .fetch_all(j.pool())
    .await
    .unwrap();
    j.close().await.unwrap();
    assert_eq!(
        settings,
        vec![
            ("AAAUSDT".into(), 3, "isolated".into()),
            ("BBBUSDT".into(), 3, "isolated".into()),
            ("CCCUSDT".into(), 5, "cross".into()),
        ]
    );
    let want = [("AAAUSDT", 50.0), ("BBBUSDT", 50.0), ("CCCUSDT", 100.0)];
    assert_eq!(sizes.len(), want.len(), "{sizes:?}");
    for ((symbol, usd), (want_symbol, want_usd)) in sizes.iter().zip(want) {
        assert_eq!(symbol, want_symbol);
        // The quantity is rounded down to the lot: at most the size, within 1 % of it.
        assert!(
            *usd <= want_usd + 1e-9 && *usd > want_usd * 0.99,
            "{symbol}: {usd}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_trailing_params_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, "binance");
    let (agent, mut client) = start(cfg).await;
    let mut start = start_msg("W", 1, 1, 1, 1);
    start.params.as_mut().unwrap().trailing_distance_percent = Some(-1.0);
    let run = drive(
        &mut client,
        start,
        &signals(1, 1, &["AAAUSDT"]),
        Drive::default(),
    )
    .await;
    agent.shutdown().await;
    let status = run.status.expect("refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status
            .message()
            .contains("params.trailing_distance_percent"),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_size_below_the_minimum_is_raised_within_the_tolerance_else_refused_with_numbers() {
    // The paper's minimum order is 105 USD: 100 is raised (within 10 %); with 5 % it is not.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.adapter.paper.min_notional = 105.into();
    let journal = cfg.journal.clone();
    let (agent, mut client) = start(cfg).await;
    let run = drive(
        &mut client,
        start_msg("W", 1, 1, 1, 1),
        &signals(1, 1, &["AAAUSDT"]),
        Drive::default(),
    )
    .await;
    agent.shutdown().await;
    assert_eq!(run.executed_ids(), vec![1]);
    let o = &run.result().outcomes[0];
    assert!((o.quantity * o.fill_price - 105.0).abs() < 1e-6, "{o:?}");
    assert_eq!(paper_orders(&journal).await.len(), 2, "entry and stop");

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, "binance");
    cfg.adapter.paper.min_notional = 105.into();
    cfg.sizing.tolerance_percent = 4.into();
    let (agent, mut client) = start(cfg).await;
    let run = drive(
        &mut client,
        start_msg("W", 1, 1, 1, 1),
        &signals(1, 1, &["AAAUSDT"]),
        Drive::default(),
    )
    .await;
    agent.shutdown().await;
    assert_eq!(
        run.result().outcomes[0].error,
        "below_min_notional: size 100.00 USD, the symbol's minimum is 105.00 USD, above the 4% \
         tolerance (104.00 USD)"
    );
    assert_eq!(run.stats().validation_failed, 1);
}

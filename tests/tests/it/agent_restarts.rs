//! Faults of the agent process with the real binaries (issue 12, item 2): an agent killed
//! (SIGKILL) between an entry's fill and its stop, restarted 3 s or 10 s later, or stopped
//! (SIGSTOP) past the wave's deadline. Every position that opened ends with its stop, the
//! wave's report counts what the paper exchange did, and nothing is sent twice.
//!
//! The paper exchange takes [`LATENCY_MS`] per call: the window between an entry's fill and
//! its stop that the kills aim at (each kill test checks it landed there).

use std::time::Duration;

use crate::coordinator_support::*;
use crate::fault_support::{Book, publish_and_wait_for_execution};
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::wave_id;
use wavegate_tests::Proc;

fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}/coordinator.db?mode=rwc", dir.display())
}

/// Per call of the paper exchange, so a kill lands between a fill and its stop.
const LATENCY_MS: u64 = 150;

/// The coordinator re-dials an agent at most 250 ms apart: back from its restart, the agent is
/// sent the wave again within that (the default backoff is at 5 s steps after seconds down).
const FAST_RETRY: Tuning = Tuning {
    top: "",
    waves: "",
    dispatch: "retry_backoff_min_ms = 100\nretry_backoff_max_ms = 250",
};

/// Worked example agents ([`LATENCY_MS`] per exchange call), and the binance agent's book.
async fn agents(dir: &std::path::Path) -> (Proc, Proc, Book) {
    let (binance, bybit) = start_worked_example_agents(dir, LATENCY_MS).await;
    let book = Book::of_agent(dir, 1);
    (binance, bybit, book)
}

/// Kills binance's agent between an entry's fill and its stop, restarts it after `down`, and
/// checks the wave completes with every order once, every position protected and the report
/// equal to what the exchange holds. The coordinator keeps re-sending the wave through the
/// whole downtime (it completes only if an attempt after the restart reaches the agent).
async fn killed_between_fill_and_stop(down: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (mut binance, bybit, book) = agents(dir.path()).await;
    let url = sqlite_url(dir.path());
    let coord =
        start_pair_coordinator_tuned(dir.path(), &url, "e2e", &binance, &bybit, FAST_RETRY).await;
    let ts = wave_ts();
    let _watch = publish_and_wait_for_execution(&coord, ts, 1).await;
    book.wait_for_unprotected_fill().await;
    binance.kill().await;
    assert!(
        !book.unprotected().await.is_empty(),
        "the kill left no filled entry without its stop"
    );
    tokio::time::sleep(down).await;
    binance.restart().await.unwrap();

    let d = finished(&mut waves(&coord).await, &wave_id(ts)).await;
    let status = d.summary.as_ref().unwrap().status;
    assert_eq!(
        status,
        pb::WaveStatus::Completed as i32,
        "{}",
        coord.log_text()
    );
    let ex = &d.exchanges;
    assert_eq!(
        (ex[0].executed, ex[0].execution_failed, ex[0].error.as_str()),
        (6, 1, "")
    );
    assert_eq!((ex[1].executed, ex[1].error.as_str()), (4, ""));
    assert_eq!(book.entries_filled().await, 6, "report = exchange");
    assert_eq!(book.unprotected().await, Vec::<String>::new());
    assert_eq!(describe(&binance).await.orders_sent, 7, "no order twice");
}

#[tokio::test]
async fn an_agent_killed_between_fill_and_stop_and_back_after_3s_gets_the_wave_again() {
    killed_between_fill_and_stop(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn an_agent_killed_between_fill_and_stop_and_back_after_10s_gets_the_wave_again() {
    killed_between_fill_and_stop(Duration::from_secs(10)).await;
}

/// The coordinator dies too, so nobody re-sends the wave: the agent protects the filled
/// entry at start-up on its own, before it serves anything.
#[tokio::test]
async fn a_restarted_agent_protects_a_filled_entry_before_serving_whatever_the_coordinator_does() {
    let dir = tempfile::tempdir().unwrap();
    let (mut binance, bybit, book) = agents(dir.path()).await;
    let mut coord =
        start_pair_coordinator(dir.path(), &sqlite_url(dir.path()), &binance, &bybit).await;
    let ts = wave_ts();
    let _watch = publish_and_wait_for_execution(&coord, ts, 1).await;
    book.wait_for_unprotected_fill().await;
    binance.kill().await;
    coord.kill().await;
    assert!(
        !book.unprotected().await.is_empty(),
        "the kill did not land between a fill and its stop"
    );
    // Healthy = serving: the sweep ran before.
    binance.restart().await.unwrap();
    assert_eq!(book.unprotected().await, Vec::<String>::new());
    assert_eq!(book.journal_unprotected().await, 0);
    assert!(
        binance.log_text().contains("journal settled at start-up"),
        "{}",
        binance.log_text()
    );
}

/// SIGSTOP of binance's agent mid-entry, until the coordinator noticed the stalled stream
/// (and re-sent the wave) and the wave's deadline passed: once the agent runs again its
/// journaled result is what the wave reports.
#[tokio::test]
async fn an_agent_stopped_past_the_deadline_is_noticed_and_its_fills_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (binance, bybit, book) = agents(dir.path()).await;
    let exchanges = [
        Exchange {
            id: 1,
            name: "binance",
            agent: Some(binance.endpoint()),
        },
        Exchange {
            id: 2,
            name: "bybit",
            agent: Some(bybit.endpoint()),
        },
    ];
    let tuning = Tuning {
        waves: "deadline_secs = 3",
        dispatch: "result_wait_secs = 60\nprogress_timeout_secs = 2",
        ..Tuning::default()
    };
    let url = sqlite_url(dir.path());
    let coord = start_coordinator_tuned(dir.path(), &url, "e2e", &exchanges, tuning).await;
    let ts = wave_ts();
    let _watch = publish_and_wait_for_execution(&coord, ts, 1).await;
    // The wave was claimed before its first execution, so its deadline (3 s after the claim)
    // is at most 3 s from here; the margin covers the agent reading its clock late.
    let past_deadline = tokio::time::Instant::now() + Duration::from_secs(3 + 1);
    book.wait_for_unprotected_fill().await;
    binance.signal("STOP").await.unwrap();
    tokio::time::timeout(GUARD, async {
        while !coord.log_text().contains("agent stalled") {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the coordinator did not notice the stalled agent");
    tokio::time::sleep_until(past_deadline).await;
    binance.signal("CONT").await.unwrap();

    let d = finished(&mut waves(&coord).await, &wave_id(ts)).await;
    let ex = &d.exchanges[0];
    let opened = book.entries_filled().await;
    assert!(opened >= 2, "two entries had filled before the stop");
    assert_eq!(ex.executed, opened, "report = exchange: {ex:?}");
    // The agent's own result: it ran into the deadline while stopped, and says so.
    assert_eq!(ex.error, "deadline", "{ex:?}");
    assert_eq!(book.unprotected().await, Vec::<String>::new());
    assert_eq!(d.exchanges[1].executed, 4);
    assert!(
        coord.log_text().contains("agent stalled"),
        "{}",
        coord.log_text()
    );
    // Shown on the wave's record too.
    let pool = sqlx::SqlitePool::connect(&sqlite_url(dir.path()))
        .await
        .unwrap();
    let stalls: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE event_type = 'AGENT_STALLED' AND correlation_id = ?",
    )
    .bind(wave_id(ts))
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert!(stalls >= 1, "no AGENT_STALLED event");
}

//! Journal unit tests on a temp SQLite file: order states only move forward, results
//! round-trip, and queued writes commit before the result.

use std::fmt::{Debug, Display};
use std::str::FromStr;

use strum::IntoEnumIterator;

use super::*;
use crate::exchange::Side;

/// Checks every (state, event) pair: those in `allowed` lead to their state, any other is
/// refused as `refused(state, event)`; and every state reads back from its column value.
pub(super) fn assert_transitions<S, E, R>(
    allowed: &[(S, E, S)],
    transition: fn(S, E) -> Result<S, R>,
    refused: fn(S, E) -> R,
) where
    S: IntoEnumIterator + Copy + PartialEq + Debug + Display + FromStr,
    E: IntoEnumIterator + Copy + PartialEq + Debug,
    R: PartialEq + Debug,
{
    for s in S::iter() {
        for e in E::iter() {
            let want = allowed.iter().find(|(a, b, _)| *a == s && *b == e);
            let want = want.map(|t| t.2).ok_or_else(|| refused(s, e));
            assert_eq!(transition(s, e), want, "{s:?} {e:?}");
        }
        assert_eq!(s.to_string().parse::<S>().ok(), Some(s));
    }
}

/// A new order row of wave `W`.
pub(super) fn order<'a>(
    coid: &'a str,
    wave_id: &'a str,
    signal_id: i64,
    symbol: &'a str,
) -> NewOrder<'a> {
    NewOrder {
        client_order_id: coid,
        wave_id,
        signal_id,
        symbol,
        side: Side::Short,
        wave_target: 3,
        index: 4,
        round: 1,
        trailing: None,
    }
}

#[tokio::test]
async fn orders_move_only_forward_and_results_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.db")).await.unwrap();
    let o = order("wg-1", "W", 1, "BTCUSDT");
    j.insert_pending(&o).await.unwrap();
    assert!(j.insert_pending(&o).await.is_err());
    assert_eq!(j.orders_sent().await.unwrap(), 0);
    let none = OrderUpdate::default();
    let submit = || j.apply("wg-1", OrderState::Pending, OrderEvent::Submit, &none);
    assert_eq!(submit().await.unwrap(), OrderState::Sent);
    assert!(matches!(submit().await, Err(JournalError::Stale { .. })));
    let up = OrderUpdate {
        exchange_order_id: Some("X1".into()),
        executed: true,
        fill_price: "2.5".parse().unwrap(),
        quantity: 4.into(),
        ..OrderUpdate::default()
    };
    j.apply("wg-1", OrderState::Sent, OrderEvent::Fill, &up)
        .await
        .unwrap();
    let rows = j.wave_orders("W").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, OrderState::Filled);
    assert!(rows[0].executed);
    assert_eq!(rows[0].exchange_order_id.as_deref(), Some("X1"));
    assert_eq!(
        (rows[0].side, rows[0].target, rows[0].index, rows[0].round),
        (Some(Side::Short), Some(3), Some(4), 1),
        "what a re-sent wave needs without the signal"
    );
    assert_eq!(j.orders_sent().await.unwrap(), 1);

    assert_eq!(j.load_result("W").await.unwrap(), None);
    let r = pb::Result {
        wave_id: "W".into(),
        ..Default::default()
    };
    j.save_result("W", &r).await.unwrap();
    assert_eq!(j.load_result("W").await.unwrap(), Some(r));
}

#[tokio::test]
async fn one_write_before_sending_and_queued_updates_commit_before_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.db")).await.unwrap();
    let o = order("wg-2", "W", 2, "ETHUSDT");
    assert_eq!(j.insert_sent(&o).await.unwrap(), OrderState::Sent);
    let again = j.insert_sent(&o).await;
    assert!(again.is_err(), "never journaled (so never sent) twice");
    assert_eq!(j.orders_sent().await.unwrap(), 1);
    let up = OrderUpdate {
        exchange_order_id: Some("X2".into()),
        executed: true,
        fill_price: 3.into(),
        quantity: 1.into(),
        ..OrderUpdate::default()
    };
    let to = j
        .apply_later("wg-2", OrderState::Sent, OrderEvent::Fill, &up)
        .unwrap();
    assert_eq!(to, OrderState::Filled);
    assert!(
        j.apply_later("wg-2", OrderState::Filled, OrderEvent::Submit, &up)
            .is_err(),
        "the state machine refuses before anything is queued"
    );
    j.set_execution_later("wg-2", false, Some("stop_failed_closed"));
    // The result is committed after the queued updates (one FIFO writer).
    let r = pb::Result {
        wave_id: "W".into(),
        ..Default::default()
    };
    j.save_result("W", &r).await.unwrap();
    let rows = j.wave_orders("W").await.unwrap();
    assert_eq!(rows[0].state, OrderState::Filled);
    assert_eq!(rows[0].exchange_order_id.as_deref(), Some("X2"));
    assert!(!rows[0].executed);
    assert_eq!(rows[0].error.as_deref(), Some("stop_failed_closed"));
    assert_eq!(j.load_result("W").await.unwrap(), Some(r));
}

#[tokio::test]
async fn journal_sync_sets_sqlites_synchronous_mode() {
    let dir = tempfile::tempdir().unwrap();
    for (sync, want) in [(JournalSync::Normal, 1_i64), (JournalSync::Full, 2)] {
        let path = dir.path().join(format!("{sync:?}.db"));
        let j = Journal::open_with(&path, sync).await.unwrap();
        let got: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(j.pool())
            .await
            .unwrap();
        assert_eq!(got, want, "{sync:?}");
        // The writer's own connection too (with `Full`, its batches run on the blocking pool).
        let stmt = Stmt::new(
            "INSERT INTO journal_meta (key, value)
             SELECT 'writer_synchronous', synchronous FROM pragma_synchronous",
            vec![],
        );
        j.writer().write(vec![stmt]).await.unwrap();
        let got: String =
            sqlx::query_scalar("SELECT value FROM journal_meta WHERE key = 'writer_synchronous'")
                .fetch_one(j.pool())
                .await
                .unwrap();
        assert_eq!(got, want.to_string(), "{sync:?}: the writer's connection");
        j.close().await.unwrap();
    }
}

#[tokio::test]
async fn an_order_journaled_later_for_the_symbol_is_found_across_waves_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = Journal::open(&path).await.unwrap();
    for (coid, wave, symbol) in [
        ("wg-a", "W1", "BTCUSDT"),
        ("wg-b", "W1", "ETHUSDT"),
        ("wg-c", "W2", "ETHUSDT"),
    ] {
        j.insert_sent(&order(coid, wave, 1, symbol)).await.unwrap();
    }
    assert!(!j.journaled_after("wg-a", "BTCUSDT").await.unwrap());
    assert!(j.journaled_after("wg-b", "ETHUSDT").await.unwrap());
    assert!(!j.journaled_after("wg-c", "ETHUSDT").await.unwrap());
    assert!(!j.journaled_after("wg-unknown", "ETHUSDT").await.unwrap());
    j.close().await.unwrap();

    let j = Journal::open(&path).await.unwrap();
    let o = order("wg-d", "W3", 1, "BTCUSDT");
    j.insert_sent(&o).await.unwrap();
    assert!(j.journaled_after("wg-a", "BTCUSDT").await.unwrap());
    assert!(!j.journaled_after("wg-d", "BTCUSDT").await.unwrap());
    j.close().await.unwrap();
}

#[tokio::test]
async fn stop_attempts_sent_survive_the_close_step_and_placing_clears_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.db")).await.unwrap();
    j.insert_sent(&order("wg-1", "W", 1, "BTCUSDT"))
        .await
        .unwrap();
    let mut s = StopState::None;
    for attempt in 0..3 {
        s = j
            .stop_step("wg-1", s, StopEvent::Send, attempt)
            .await
            .unwrap();
    }
    s = j.stop_step("wg-1", s, StopEvent::Close, 0).await.unwrap();
    const FAILED: &str = "stop_failed_close_failed";
    let failed = Some((true, FAILED));
    s = j
        .stop_step_later("wg-1", s, StopEvent::CloseFailed, failed)
        .unwrap();
    j.flush().await.unwrap();
    let r = &j.wave_orders("W").await.unwrap()[0];
    assert_eq!(
        (r.stop, r.stop_attempt, r.stops_sent, r.error.as_deref()),
        (StopState::CloseFailed, 0, 3, Some(FAILED)),
        "the close's attempt number does not hide the stops sent"
    );
    // A later run retries: fresh stop ids from 3. Sending clears the error, so a crash now
    // leaves an unfinished step a run after it finishes (not a row that reads as settled).
    s = j.stop_step("wg-1", s, StopEvent::Send, 3).await.unwrap();
    let r = &j.wave_orders("W").await.unwrap()[0];
    assert_eq!((r.stop, r.error.as_deref()), (StopState::Sending, None));
    j.stop_step_later("wg-1", s, StopEvent::Place, Some((true, "")))
        .unwrap();
    j.flush().await.unwrap();
    let r = &j.wave_orders("W").await.unwrap()[0];
    assert_eq!(
        (r.stop, r.stops_sent, r.executed, r.error.as_deref()),
        (StopState::Placed, 4, true, None)
    );
    j.close().await.unwrap();
}

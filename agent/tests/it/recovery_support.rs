//! Crash set-ups shared by the recovery tests (`stop_recovery`, `foreign_positions`,
//! `resent_waves`, `resume_after_topup`): what a first run of wave `W` left in the journal and
//! at the paper exchange, and readers of both.

use std::path::Path;

use crate::support::*;
use wavegate_agent::AgentConfig;
use wavegate_agent::exchange::paper::PaperExchange;
use wavegate_agent::exchange::{EntryOrder, Exchange, Fill, Side, StopOrder};
use wavegate_agent::execute::derived_id;
use wavegate_agent::journal::{
    Journal, NewOrder, OrderEvent, OrderState, OrderUpdate, StopEvent, StopState,
};
use wavegate_common::order_id::client_order_id;

/// Wave `W`'s BTCUSDT entry journaled, filled at the paper exchange, and its fill journaled
/// (what a crash right after the fill leaves): the journal, the exchange, the client order id
/// and the fill.
pub async fn journaled_fill(cfg: &AgentConfig) -> (Journal, PaperExchange, String, Fill) {
    filled_entry(cfg, true).await
}

/// As [`journaled_fill`]; without `journal_fill`, the row stays `sent` (a crash before the
/// fill reached the journal).
pub async fn filled_entry(
    cfg: &AgentConfig,
    journal_fill: bool,
) -> (Journal, PaperExchange, String, Fill) {
    let coid = client_order_id("W", 1, 1);
    let journal = Journal::open(&cfg.journal).await.unwrap();
    let paper = PaperExchange::open(cfg.adapter.paper.clone(), &journal)
        .await
        .unwrap();
    let row = new_order(&coid, "W", 1, "BTCUSDT", 2);
    let fill = sent_and_filled(&journal, &paper, &row, journal_fill).await;
    (journal, paper, coid, fill)
}

/// Journals `row` (a long entry) as sent and has `paper` fill it, as a run does before it
/// crashes; with `journal_fill`, the fill reached the journal too. The fill.
pub async fn sent_and_filled(
    journal: &Journal,
    paper: &PaperExchange,
    row: &NewOrder<'_>,
    journal_fill: bool,
) -> Fill {
    journal.insert_sent(row).await.unwrap();
    let fill = paper
        .place_entry(EntryOrder {
            client_order_id: row.client_order_id.to_owned(),
            symbol: row.symbol.into(),
            side: Side::Long,
            notional: 100.into(),
        })
        .await
        .unwrap();
    if journal_fill {
        let up = OrderUpdate {
            exchange_order_id: Some(fill.exchange_order_id.clone()),
            executed: true,
            error: None,
            fill_price: fill.price,
            quantity: fill.quantity,
        };
        journal
            .apply(row.client_order_id, OrderState::Sent, OrderEvent::Fill, &up)
            .await
            .unwrap();
    }
    fill
}

/// Simulates a crash right after BTCUSDT's entry filled and its fill was journaled; with
/// `stop_sent`, the first stop attempt was journaled and reached the exchange too.
pub async fn crash_after_fill(cfg: &AgentConfig, stop_sent: bool) -> String {
    let (journal, paper, coid, fill) = journaled_fill(cfg).await;
    if stop_sent {
        journal
            .stop_step(&coid, StopState::None, StopEvent::Send, 0)
            .await
            .unwrap();
        place_first_stop(&paper, &coid, &fill).await;
    }
    journal.close().await.unwrap();
    coid
}

/// Simulates a crash right after a fresh fill's first stop attempt reached the exchange, its
/// step still queued (a run journals it after the stop leaves): the row reads stop `none`,
/// and with `fill_journaled` false, still `sent`.
pub async fn crash_after_first_stop_left(cfg: &AgentConfig, fill_journaled: bool) -> String {
    let (journal, paper, coid, fill) = filled_entry(cfg, fill_journaled).await;
    place_first_stop(&paper, &coid, &fill).await;
    journal.close().await.unwrap();
    coid
}

/// Places the stop attempt 0 of `coid`'s fill at the paper exchange.
async fn place_first_stop(paper: &PaperExchange, coid: &str, fill: &Fill) {
    paper
        .place_stop(StopOrder {
            client_order_id: derived_id(coid, 's', 0),
            symbol: "BTCUSDT".into(),
            side: Side::Long,
            quantity: fill.quantity,
            stop_price: fill.price * wavegate_agent::exchange::Decimal::new(9, 1),
        })
        .await
        .unwrap();
}

/// Paper exchange records of `kind` for `symbol`, and the journal row's stop state.
pub async fn records(path: &Path, kind: &str, symbol: &str) -> (i64, String) {
    let journal = Journal::open(path).await.unwrap();
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM paper_orders WHERE kind = ? AND symbol = ?")
            .bind(kind)
            .bind(symbol)
            .fetch_one(journal.pool())
            .await
            .unwrap();
    let stop: String = sqlx::query_scalar("SELECT stop_state FROM orders WHERE symbol = ?")
        .bind(symbol)
        .fetch_one(journal.pool())
        .await
        .unwrap();
    journal.close().await.unwrap();
    (n, stop)
}

/// The stop state journaled for `coid`.
pub async fn stop_state_of(path: &Path, coid: &str) -> String {
    let journal = Journal::open(path).await.unwrap();
    let state: String =
        sqlx::query_scalar("SELECT stop_state FROM orders WHERE client_order_id = ?")
            .bind(coid)
            .fetch_one(journal.pool())
            .await
            .unwrap();
    journal.close().await.unwrap();
    state
}

/// Kinds of the paper exchange's orders under ids derived from `coid` (its stops and closes).
pub async fn derived_orders(path: &Path, coid: &str) -> Vec<String> {
    let prefix = |tag| {
        let id = derived_id(coid, tag, 0);
        id[..id.len() - 1].to_owned()
    };
    let (stops, closes) = (prefix('s'), prefix('c'));
    let journal = Journal::open(path).await.unwrap();
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT client_order_id, kind FROM paper_orders ORDER BY created_at")
            .fetch_all(journal.pool())
            .await
            .unwrap();
    journal.close().await.unwrap();
    rows.into_iter()
        .filter(|(id, _)| id.starts_with(&stops) || id.starts_with(&closes))
        .map(|(_, kind)| kind)
        .collect()
}

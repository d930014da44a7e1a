//! The paper account's free balance, kept across agent restarts.
//!
//! The positions live on across restarts, so a balance seeded afresh would pay for them twice.
//! Each entry and close stores its balance change (exact decimal text) in the same write as its
//! order, so concurrent orders commit in any order and the sum holds; at start-up the balance
//! is the configured one plus the changes, unless `adapter.paper.balance` changed (then it
//! starts over from the new one).

use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::sqlite::SqlitePool;
use tracing::{info, warn};

use crate::journal::Stmt;

/// The balance tables (created with the paper orders').
pub(super) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS paper_balance (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        configured TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS paper_balance_moves (
        client_order_id TEXT PRIMARY KEY,
        delta TEXT NOT NULL
    )",
];

/// The free balance to start with: `configured` plus the stored changes made from it, else
/// `configured` stored as the new start. `None` (balance not modelled) stores nothing.
pub(super) async fn load(
    pool: &SqlitePool,
    configured: Option<Decimal>,
) -> Result<Option<Decimal>, sqlx::Error> {
    let Some(configured) = configured else {
        return Ok(None);
    };
    let from: Option<String> = sqlx::query("SELECT configured FROM paper_balance WHERE id = 1")
        .fetch_optional(pool)
        .await?
        .map(|r| r.try_get("configured"))
        .transpose()?;
    if from.as_deref().and_then(|f| f.parse::<Decimal>().ok()) == Some(configured) {
        let mut balance = configured;
        for r in sqlx::query("SELECT client_order_id, delta FROM paper_balance_moves")
            .fetch_all(pool)
            .await?
        {
            let delta: String = r.try_get("delta")?;
            match delta.parse::<Decimal>() {
                Ok(d) => balance += d,
                Err(_) => {
                    let id: String = r.try_get("client_order_id")?;
                    warn!(%id, %delta, "paper balance change unreadable; ignored");
                }
            }
        }
        return Ok(Some(balance));
    }
    if let Some(from) = from {
        info!(%from, %configured, "adapter.paper.balance changed: the paper balance starts over");
    }
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM paper_balance_moves")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO paper_balance (id, configured) VALUES (1, ?)
         ON CONFLICT (id) DO UPDATE SET configured = excluded.configured",
    )
    .bind(configured.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(configured))
}

/// The statement storing order `client_order_id`'s balance change (negative: margin taken).
pub(super) fn move_stmt(client_order_id: &str, delta: Decimal) -> Stmt {
    Stmt::new(
        "INSERT INTO paper_balance_moves (client_order_id, delta) VALUES (?, ?)",
        vec![client_order_id.into(), delta.to_string().into()],
    )
}

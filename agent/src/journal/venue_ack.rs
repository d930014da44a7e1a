//! What the journal knows of the venue's positions, for the start-up comparison with the
//! venue (`crate::venue_check`): the symbols its orders may have opened a position in, and
//! the positions an operator acknowledged (`--confirm-new-journal`) as known.

use chrono::Utc;
use sqlx::SqlitePool;

use super::JournalError;

pub(super) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS acknowledged_positions (
    symbol TEXT PRIMARY KEY,
    acknowledged_at TEXT NOT NULL
)";

/// Symbols the journal can account for: every symbol of an order that may have opened a
/// position (any state but `failed`: a `sent` or `unknown` one may have filled), and every
/// acknowledged position.
pub(super) async fn known_symbols(pool: &SqlitePool) -> Result<Vec<String>, JournalError> {
    Ok(sqlx::query_scalar(
        "SELECT symbol FROM orders WHERE state <> 'failed'
         UNION SELECT symbol FROM acknowledged_positions",
    )
    .fetch_all(pool)
    .await?)
}

/// Records `symbols` as positions the operator vouched for.
pub(super) async fn acknowledge(pool: &SqlitePool, symbols: &[String]) -> Result<(), JournalError> {
    let now = Utc::now().to_rfc3339();
    let mut tx = pool.begin().await?;
    for s in symbols {
        sqlx::query(
            "INSERT INTO acknowledged_positions (symbol, acknowledged_at) VALUES (?, ?)
             ON CONFLICT (symbol) DO UPDATE SET acknowledged_at = excluded.acknowledged_at",
        )
        .bind(s)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

//! The venue positions the journal accounts for (`crate::venue_check`): its orders' symbols
//! and positions an operator acknowledged (`--confirm-new-journal`).

use super::{Journal, JournalError};
use chrono::Utc;

impl Journal {
    /// Symbols of orders in any state but `failed`, and every acknowledged position.
    pub async fn known_position_symbols(&self) -> Result<Vec<String>, JournalError> {
        Ok(sqlx::query_scalar(
            "SELECT symbol FROM orders WHERE state <> 'failed'
             UNION SELECT symbol FROM acknowledged_positions",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Records `symbols` as positions the operator vouched for (`--confirm-new-journal`).
    pub async fn acknowledge_positions(&self, symbols: &[String]) -> Result<(), JournalError> {
        let now = Utc::now().to_rfc3339();
        let mut tx = self.pool().begin().await?;
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
}

#[cfg(test)]
mod tests {
    use crate::journal::tests::order;
    use crate::journal::{Journal, OrderEvent, OrderState, OrderUpdate};

    #[tokio::test]
    async fn a_failed_order_accounts_for_no_position_and_acknowledged_ones_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let j = Journal::open(&path).await.unwrap();
        assert!(j.known_position_symbols().await.unwrap().is_empty());
        // Sent (may have filled), filled, and refused by the venue.
        for (coid, symbol) in [
            ("wg-a", "BTCUSDT"),
            ("wg-b", "ETHUSDT"),
            ("wg-c", "SOLUSDT"),
        ] {
            j.insert_sent(&order(coid, "W", 1, symbol)).await.unwrap();
        }
        let up = OrderUpdate::default();
        j.apply("wg-b", OrderState::Sent, OrderEvent::Fill, &up)
            .await
            .unwrap();
        j.apply("wg-c", OrderState::Sent, OrderEvent::Reject, &up)
            .await
            .unwrap();
        j.acknowledge_positions(&["XRPUSDT".to_owned()])
            .await
            .unwrap();
        j.close().await.unwrap();

        let j = Journal::open(&path).await.unwrap();
        let mut known = j.known_position_symbols().await.unwrap();
        known.sort();
        assert_eq!(known, ["BTCUSDT", "ETHUSDT", "XRPUSDT"]);
    }
}

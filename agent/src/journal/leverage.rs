//! The leverage and margin mode set per symbol, so a restarted agent does not set them again.

use std::collections::HashMap;

use sqlx::Row;

use super::{Journal, JournalError};
use crate::exchange::{LeverageSetting, MarginMode};

impl Journal {
    /// Records that `symbol` now trades at `s` (committed when this returns).
    pub async fn record_leverage(
        &self,
        symbol: &str,
        s: LeverageSetting,
    ) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO leverage_settings (symbol, leverage, margin_mode, updated_at)
             VALUES (?, ?, ?, ?) ON CONFLICT (symbol) DO UPDATE SET
             leverage = excluded.leverage, margin_mode = excluded.margin_mode,
             updated_at = excluded.updated_at",
        )
        .bind(symbol)
        .bind(i64::from(s.leverage))
        .bind(s.margin_mode.as_str())
        .bind(chrono::Utc::now().to_rfc3339())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every recorded setting, by symbol (an unreadable row is skipped: set again later).
    pub async fn leverage_settings(
        &self,
    ) -> Result<HashMap<String, LeverageSetting>, JournalError> {
        let rows = sqlx::query("SELECT symbol, leverage, margin_mode FROM leverage_settings")
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let symbol: String = r.try_get("symbol").ok()?;
                let leverage: i64 = r.try_get("leverage").ok()?;
                let mode: String = r.try_get("margin_mode").ok()?;
                Some((
                    symbol,
                    LeverageSetting {
                        leverage: u32::try_from(leverage).ok()?,
                        margin_mode: MarginMode::parse(&mode)?,
                    },
                ))
            })
            .collect())
    }
}

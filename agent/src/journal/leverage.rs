//! The leverage and margin mode the agent set per symbol (issue 11), so a restarted agent
//! knows what is in place and does not set it again before every entry.

use std::collections::HashMap;

use sqlx::Row;

use super::{Journal, JournalError};
use crate::exchange::{LeverageSetting, MarginMode};

/// The table, created with the journal's.
pub(super) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS leverage_settings (
    symbol TEXT PRIMARY KEY,
    leverage INTEGER NOT NULL,
    margin_mode TEXT NOT NULL,
    updated_at TEXT NOT NULL
)";

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

    /// Every recorded setting, by symbol (rows that cannot be read are skipped: the setting
    /// is then simply made again).
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

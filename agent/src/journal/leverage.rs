//! The leverage and margin mode set per symbol, so a restarted agent does not set them again.

use std::collections::HashMap;

use sqlx::Row;

use super::{Journal, JournalError, Stmt};
use crate::exchange::{LeverageSetting, MarginMode};

impl Journal {
    /// Queues the record that `symbol` now trades at `s` (the entry's own write commits it).
    pub fn record_leverage(&self, symbol: &str, s: LeverageSetting) {
        let stmt = Stmt::new(
            "INSERT INTO leverage_settings (symbol, leverage, margin_mode, updated_at)
             VALUES (?, ?, ?, ?) ON CONFLICT (symbol) DO UPDATE SET
             leverage = excluded.leverage, margin_mode = excluded.margin_mode,
             updated_at = excluded.updated_at",
            vec![
                symbol.into(),
                i64::from(s.leverage).into(),
                s.margin_mode.as_str().into(),
                chrono::Utc::now().to_rfc3339().into(),
            ],
        );
        self.writer()
            .queue(format!("leverage of {symbol}"), vec![stmt]);
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

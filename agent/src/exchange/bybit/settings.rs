//! A Bybit symbol's margin mode and leverage, read-only, for `wavegate-agent check`:
//! `marginMode` of `GET /v5/account/info` (docs/v5/account/account-info.mdx; account-wide on
//! a unified account) and `leverage` of `GET /v5/position/list` (docs/v5/position/position.mdx).

use rust_decimal::prelude::ToPrimitive;

use super::super::rest::{number, text};
use super::super::{Decimal, ExchangeError};
use super::parse::first;
use super::{BybitLinear, NAME};
use crate::config::MarginMode;
use crate::exchange::Result;
use crate::preflight::MarginSettings;

impl BybitLinear {
    /// `symbol`'s margin mode (the account's) and leverage.
    pub async fn margin_settings(&self, symbol: &str) -> Result<MarginSettings> {
        let info = self.get("/v5/account/info", &[]).await?;
        let margin = match text(&info, "marginMode").as_deref() {
            Some("REGULAR_MARGIN") => MarginMode::Cross,
            Some("ISOLATED_MARGIN") => MarginMode::Isolated,
            other => {
                return Err(ExchangeError::Unavailable(format!(
                    "{NAME}: account marginMode {other:?} (the agent trades cross or isolated)"
                )));
            }
        };
        let params = [
            ("category", "linear".to_owned()),
            ("symbol", symbol.to_owned()),
        ];
        let rows = self.get("/v5/position/list", &params).await?;
        let leverage = first(&rows)
            .and_then(|r| number(r, "leverage"))
            .filter(|l| *l >= Decimal::ONE)
            // Bybit allows fractional leverage ("12.5"): shown rounded down.
            .and_then(|l| l.trunc().to_u32())
            .ok_or_else(|| {
                ExchangeError::Unavailable(format!("{NAME}: no leverage for {symbol}"))
            })?;
        Ok(MarginSettings { margin, leverage })
    }
}

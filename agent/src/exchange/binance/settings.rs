//! The margin mode and leverage a Binance symbol trades at, read-only, for
//! `wavegate-agent check`: `GET /fapi/v1/symbolConfig?symbol=` (USER_DATA, weight 5) →
//! `[{symbol, marginType: "CROSSED"|"ISOLATED", isAutoAddMargin, leverage, maxNotionalValue}]`
//! (binance-connector-rust `derivatives_trading_usds_futures/rest_api/apis/account_api.rs`
//! `symbol_configuration`, `models/symbol_configuration_response_inner.rs`).

use http::Method;
use serde_json::Value;

use super::super::ExchangeError;
use super::super::rest::{Call, Failure, text};
use super::{BinanceFutures, NAME};
use crate::config::MarginMode;
use crate::preflight::MarginSettings;

impl BinanceFutures {
    /// `symbol`'s margin mode and leverage as the account holds them.
    pub async fn margin_settings(&self, symbol: &str) -> Result<MarginSettings, ExchangeError> {
        let v = self
            .signed(
                Method::GET,
                "/fapi/v1/symbolConfig",
                vec![("symbol", symbol.to_owned())],
                Call::Read,
            )
            .await
            .map_err(Failure::into_error)?;
        let row = v
            .as_array()
            .and_then(|rows| {
                rows.iter()
                    .find(|r| r.get("symbol").and_then(Value::as_str) == Some(symbol))
            })
            .ok_or_else(|| {
                ExchangeError::Unavailable(format!("{NAME}: symbolConfig has no row for {symbol}"))
            })?;
        let margin = match text(row, "marginType").as_deref() {
            Some("CROSSED") => MarginMode::Cross,
            Some("ISOLATED") => MarginMode::Isolated,
            other => {
                return Err(ExchangeError::Unavailable(format!(
                    "{NAME}: marginType {other:?} of {symbol}"
                )));
            }
        };
        let leverage = row
            .get("leverage")
            .and_then(Value::as_u64)
            .and_then(|l| u32::try_from(l).ok())
            .filter(|l| *l > 0)
            .ok_or_else(|| {
                ExchangeError::Unavailable(format!("{NAME}: no leverage for {symbol}"))
            })?;
        Ok(MarginSettings { margin, leverage })
    }
}

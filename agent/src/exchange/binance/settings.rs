//! A Binance symbol's margin mode and leverage, read-only, for `wavegate-agent check`:
//! `GET /fapi/v1/symbolConfig?symbol=` (binance-connector-rust `account_api.rs`
//! `symbol_configuration`, `models/symbol_configuration_response_inner.rs`).

use http::Method;
use serde::Deserialize;

use super::super::ExchangeError;
use super::super::rest::{Call, typed};
use super::{BinanceFutures, NAME};
use crate::config::MarginMode;
use crate::exchange::Result;
use crate::preflight::MarginSettings;

/// A `GET /fapi/v1/symbolConfig` row (`SymbolConfigurationResponseInner`), the fields read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SymbolConfiguration {
    symbol: String,
    margin_type: String,
    leverage: u32,
}

impl BinanceFutures {
    /// `symbol`'s margin mode and leverage as the account holds them.
    pub async fn margin_settings(&self, symbol: &str) -> Result<MarginSettings> {
        let params = vec![("symbol", symbol.to_owned())];
        let v = self
            .signed(Method::GET, "/fapi/v1/symbolConfig", params, Call::Read)
            .await?;
        let rows: Vec<SymbolConfiguration> = typed(NAME, "symbolConfig", v)?;
        let unreadable =
            |what: &str| ExchangeError::Unavailable(format!("{NAME}: {what} of {symbol}"));
        let row = rows
            .into_iter()
            .find(|r| r.symbol == symbol)
            .ok_or_else(|| unreadable("no symbolConfig row"))?;
        let margin = match row.margin_type.as_str() {
            "CROSSED" => MarginMode::Cross,
            "ISOLATED" => MarginMode::Isolated,
            other => return Err(unreadable(&format!("marginType {other:?}"))),
        };
        match row.leverage {
            0 => Err(unreadable("leverage 0")),
            leverage => Ok(MarginSettings { margin, leverage }),
        }
    }
}

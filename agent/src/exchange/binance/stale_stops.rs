//! Stale close-all stops: Binance holds one `closePosition` STOP_MARKET per symbol and side,
//! refuses another with `-4130`, and leaves it open after its position is gone. One found when
//! protecting a fresh entry (the symbol was flat, under its lock) is cancelled. `GET
//! /fapi/v1/openAlgoOrders`, `DELETE /fapi/v1/algoOrder?algoId=` (binance-connector-rust
//! `trade_api.rs`: `current_all_algo_open_orders`, `cancel_algo_order`).

use http::Method;
use serde_json::Value;
use tracing::warn;

use super::super::ExchangeError;
use super::super::rest::{Call, text};
use super::{BinanceFutures, NAME};
use crate::exchange::Result;

impl BinanceFutures {
    /// Cancels `symbol`'s resting close-all stops closing on `side`; an unreadable list errs.
    pub(super) async fn cancel_stale_close_stops(&self, symbol: &str, side: &str) -> Result<()> {
        let params = vec![
            ("algoType", "CONDITIONAL".to_owned()),
            ("symbol", symbol.to_owned()),
        ];
        let open = self
            .signed(Method::GET, "/fapi/v1/openAlgoOrders", params, Call::Read)
            .await?;
        let stale: Vec<String> = open
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| is_close_all(o, symbol, side))
            .filter_map(|o| text(o, "algoId"))
            .collect();
        for algo_id in stale {
            warn!(%symbol, side, %algo_id, "cancelling a stale close-all stop (-4130)");
            let params = vec![("algoId", algo_id)];
            // A lost cancel answer is no worse than the stale stop: the retry tells.
            if let Err(f) = self
                .signed(Method::DELETE, "/fapi/v1/algoOrder", params, Call::Read)
                .await
            {
                warn!(%symbol, error = %ExchangeError::from(f), "{NAME}: stale stop not cancelled");
            }
        }
        Ok(())
    }
}

/// A resting close-all stop (or take-profit) of `symbol` closing with `side`.
fn is_close_all(o: &Value, symbol: &str, side: &str) -> bool {
    text(o, "symbol").as_deref() == Some(symbol)
        && text(o, "side").as_deref() == Some(side)
        && o.get("closePosition").and_then(Value::as_bool) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_close_all_stops_of_the_side_are_stale() {
        let o = json!({"symbol": "BTCUSDT", "side": "SELL", "closePosition": true, "algoId": 9});
        assert!(is_close_all(&o, "BTCUSDT", "SELL"));
        assert!(!is_close_all(&o, "BTCUSDT", "BUY"));
        assert!(!is_close_all(&o, "ETHUSDT", "SELL"));
        let q = json!({"symbol": "BTCUSDT", "side": "SELL", "closePosition": false});
        assert!(!is_close_all(&q, "BTCUSDT", "SELL"));
    }
}

//! Binance USDⓈ-M: account, leverage brackets, leverage, margin type, trailing stop. Shapes
//! follow binance-connector-rust `src/derivatives_trading_usds_futures/rest_api/apis/
//! {account_api,trade_api}.rs` and their models:
//! - Balance: `GET /fapi/v2/balance`, USDT's `availableBalance`. Exposure: `GET
//!   /fapi/v3/positionRisk` `notional`.
//! - Brackets: `GET /fapi/v1/leverageBracket?symbol=`; at leverage `L` the largest `notionalCap`
//!   among brackets whose `initialLeverage >= L`.
//! - `POST /fapi/v1/marginType` (`-4046 No need to change margin type.` is success), `POST
//!   /fapi/v1/leverage`.
//! - Trailing stop: `POST /fapi/v1/algoOrder` `type=TRAILING_STOP_MARKET`, `reduceOnly=true`,
//!   `activatePrice`, `callbackRate` ("range [0.1, 10], where 1 for 1%" — Binance New Order
//!   docs), `clientAlgoId`; looked up with `GET /fapi/v1/algoOrder?clientAlgoId=`.

use http::Method;
use serde_json::Value;

use super::{BinanceFutures, NAME, order_side};
use crate::exchange::Result;
use crate::exchange::lots;
use crate::exchange::money::{Decimal, parse};
use crate::exchange::rest::{Call, number, text, typed, unless_refused};
use crate::exchange::{
    AccountState, ExchangeError, LeverageSetting, MarginMode, Side, TrailingStopOrder,
};

/// `marginType` already as asked.
const MARGIN_NOT_MODIFIED: i64 = -4046;
/// Bounds of `callbackRate`, in percent.
pub const CALLBACK_RANGE: (Decimal, Decimal) =
    (Decimal::from_parts(1, 0, 0, false, 1), Decimal::TEN);
/// The quote asset whose balance funds positions.
const QUOTE: &str = "USDT";

/// A row of `GET /fapi/v2/balance` (binance-connector-rust `FuturesAccountBalanceV2ResponseInner`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct FuturesAccountBalance {
    asset: String,
    available_balance: String,
}

impl BinanceFutures {
    pub(super) async fn account_state(&self) -> Result<AccountState> {
        // Both at once: two round trips before a wave's first order otherwise.
        let (v, positions) = tokio::join!(
            self.signed(Method::GET, "/fapi/v2/balance", Vec::new(), Call::Read),
            self.positions(None)
        );
        let (v, positions) = (v?, positions?);
        let rows: Vec<FuturesAccountBalance> = typed(NAME, "balance", v)?;
        let free = rows.iter().find(|r| r.asset == QUOTE);
        let free = free.and_then(|r| parse(&r.available_balance));
        Ok(AccountState::live(
            free,
            positions.iter().filter_map(|r| number(r, "notional")),
        ))
    }

    pub(super) async fn bracket_cap(
        &self,
        symbol: String,
        leverage: u32,
    ) -> Result<Option<Decimal>> {
        let params = vec![("symbol", symbol.clone())];
        let v = self
            .signed(Method::GET, "/fapi/v1/leverageBracket", params, Call::Read)
            .await?;
        // A list of symbols (`…Response1`) or, for one symbol, the object (`…Response2`).
        let entry = match &v {
            Value::Array(rows) => rows
                .iter()
                .find(|r| text(r, "symbol").as_deref() == Some(symbol.as_str())),
            obj @ Value::Object(_) => Some(obj),
            _ => None,
        };
        let Some(brackets) = entry
            .and_then(|e| e.get("brackets"))
            .and_then(Value::as_array)
        else {
            return Ok(None);
        };
        Ok(brackets
            .iter()
            .filter(|b| number(b, "initialLeverage").is_some_and(|l| l >= Decimal::from(leverage)))
            .filter_map(|b| number(b, "notionalCap"))
            .max())
    }

    pub(super) async fn apply_leverage(&self, symbol: String, s: LeverageSetting) -> Result<()> {
        let margin_type = match s.margin_mode {
            MarginMode::Cross => "CROSSED",
            MarginMode::Isolated => "ISOLATED",
        };
        let params = vec![
            ("symbol", symbol.clone()),
            ("marginType", margin_type.to_owned()),
        ];
        let sent = self.signed(Method::POST, "/fapi/v1/marginType", params, Call::Read);
        unless_refused(sent.await, MARGIN_NOT_MODIFIED)?;
        let params = vec![("symbol", symbol), ("leverage", s.leverage.to_string())];
        self.signed(Method::POST, "/fapi/v1/leverage", params, Call::Read)
            .await?;
        Ok(())
    }

    pub(super) async fn trailing(&self, o: TrailingStopOrder) -> Result<String> {
        let (lo, hi) = CALLBACK_RANGE;
        // One decimal, as the documented range is stepped (0.1 … 10).
        let callback = o.callback_percent.round_dp(1);
        if !(lo..=hi).contains(&callback) {
            return Err(ExchangeError::Rejected("callback_rate_out_of_range".into()));
        }
        let rules = lots::tradable(self.rules_of(&o.symbol).await?)?;
        let steps = rules.qty_step.floor_steps(o.quantity);
        if steps == 0 {
            return Err(ExchangeError::Rejected("below_min_quantity".into()));
        }
        // On the tick, away from the market (`stop_trigger` of the opposite side).
        let away = match o.side {
            Side::Long => Side::Short,
            Side::Short => Side::Long,
        };
        let params = vec![
            ("algoType", "CONDITIONAL".to_owned()),
            ("symbol", o.symbol.clone()),
            ("side", order_side(o.side, true).to_owned()),
            ("type", "TRAILING_STOP_MARKET".to_owned()),
            ("quantity", rules.qty_step.format(steps)),
            ("reduceOnly", "true".to_owned()),
            (
                "activatePrice",
                rules.stop_trigger(away, o.activation_price),
            ),
            ("callbackRate", format!("{callback:.1}")),
            ("clientAlgoId", o.client_order_id.clone()),
        ];
        let v = self
            .signed(Method::POST, "/fapi/v1/algoOrder", params, Call::Order)
            .await?;
        Ok(text(&v, "algoId").unwrap_or(o.client_order_id))
    }
}

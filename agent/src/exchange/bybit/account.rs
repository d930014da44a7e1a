//! Bybit v5 linear: account, risk-limit tiers, leverage, margin mode, trailing stop, per
//! `bybit-exchange/docs` (`docs/v5/…`):
//! - Balance: `wallet-balance?accountType=UNIFIED` `totalAvailableBalance`
//!   (`account/wallet-balance.mdx`); exposure: `/v5/position/list` `positionValue`.
//! - Brackets: `GET /v5/market/risk-limit` (`market/risk-limit.mdx`): at leverage `L` the largest
//!   `riskLimitValue` among tiers whose `maxLeverage >= L`.
//! - Leverage: `POST /v5/position/set-leverage` (`position/leverage.mdx`); `110043` is success.
//! - Margin mode: account-wide on a unified account, `POST /v5/account/set-margin-mode`
//!   (`account/set-margin-mode.mdx`; `switch-isolated` is abandoned, `abandon/cross-isolate.mdx`),
//!   set once per process; `110026` is success.
//! - Trailing stop: `trading-stop` `trailingStop` + `activePrice` (`position/trading-stop.mdx`),
//!   a position attribute read back from the position; `34040 not modified` = in place.

use serde_json::json;

use super::{BybitLinear, NOT_MODIFIED, list};
use crate::exchange::Result;
use crate::exchange::lots;
use crate::exchange::money::Decimal;
use crate::exchange::rest::{Call, Failure, number, text, unless_refused};
use crate::exchange::{
    AccountState, ExchangeError, LeverageSetting, MarginMode, OrderReport, Side, TrailingStopOrder,
};

/// `set-leverage`: the leverage already is as asked.
const LEVERAGE_NOT_MODIFIED: i64 = 110043;
/// `set-margin-mode`: the margin mode already is as asked.
const MARGIN_NOT_MODIFIED: i64 = 110026;

impl BybitLinear {
    /// A private POST that changes a setting, not an order (no client order id to collide).
    async fn post_setting(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, Failure> {
        self.private(http::Method::POST, path, &[], Some(body), Call::Read)
            .await
    }

    pub(super) async fn account_state(&self) -> Result<AccountState> {
        // Both at once: two round trips before a wave's first order otherwise.
        let wallet = [("accountType", "UNIFIED".to_owned())];
        let (v, positions) = tokio::join!(
            self.get("/v5/account/wallet-balance", &wallet),
            self.positions(None)
        );
        let (v, positions) = (v?, positions?);
        let free = list(&v)
            .first()
            .and_then(|a| number(a, "totalAvailableBalance"));
        Ok(AccountState::live(
            free,
            positions.iter().filter_map(|r| number(r, "positionValue")),
        ))
    }

    pub(super) async fn bracket_cap(
        &self,
        symbol: String,
        leverage: u32,
    ) -> Result<Option<Decimal>> {
        let params = [("category", "linear".to_owned()), ("symbol", symbol)];
        let v = self.public("/v5/market/risk-limit", &params).await?;
        Ok(list(&v)
            .iter()
            .filter(|t| number(t, "maxLeverage").is_some_and(|l| l >= Decimal::from(leverage)))
            .filter_map(|t| number(t, "riskLimitValue"))
            .max())
    }

    pub(super) async fn apply_leverage(&self, symbol: String, s: LeverageSetting) -> Result<()> {
        let set = *self.margin_mode_set.lock().await;
        if set != Some(s.margin_mode) {
            let mode = match s.margin_mode {
                MarginMode::Cross => "REGULAR_MARGIN",
                MarginMode::Isolated => "ISOLATED_MARGIN",
            };
            let body = json!({ "setMarginMode": mode });
            let sent = self.post_setting("/v5/account/set-margin-mode", body);
            unless_refused(sent.await, MARGIN_NOT_MODIFIED)?;
            *self.margin_mode_set.lock().await = Some(s.margin_mode);
        }
        let lev = s.leverage.to_string();
        let body = json!({
            "category": "linear",
            "symbol": symbol,
            "buyLeverage": lev,
            "sellLeverage": lev,
        });
        let sent = self.post_setting("/v5/position/set-leverage", body);
        unless_refused(sent.await, LEVERAGE_NOT_MODIFIED)?;
        Ok(())
    }

    pub(super) async fn trailing(&self, o: TrailingStopOrder) -> Result<String> {
        if !(o.callback_percent > Decimal::ZERO && o.callback_percent < Decimal::ONE_HUNDRED) {
            return Err(ExchangeError::Rejected("callback_rate_out_of_range".into()));
        }
        let rules = lots::tradable(self.rules_of(&o.symbol).await?)?;
        let away = match o.side {
            Side::Long => Side::Short,
            Side::Short => Side::Long,
        };
        // The distance on the tick, at least one tick.
        let ticks = rules.tick.floor_steps(o.callback_distance()).max(1);
        let body = json!({
            "category": "linear",
            "symbol": o.symbol,
            "tpslMode": "Full",
            "positionIdx": 0,
            "trailingStop": rules.tick.format(ticks),
            "activePrice": rules.stop_trigger(away, o.activation_price),
        });
        unless_refused(
            self.post("/v5/position/trading-stop", body).await,
            NOT_MODIFIED,
        )?;
        Ok(o.client_order_id)
    }

    /// In place when the position carries a trailing stop; `None` when flat or without one.
    pub(super) async fn lookup_trailing(&self, symbol: String) -> Result<Option<OrderReport>> {
        let rows = self.positions(Some(&symbol)).await?;
        let in_place = rows.iter().any(|r| {
            text(r, "symbol").as_deref() == Some(symbol.as_str())
                && number(r, "trailingStop").is_some_and(|t| t > Decimal::ZERO)
        });
        Ok(in_place.then_some(OrderReport::Open))
    }
}

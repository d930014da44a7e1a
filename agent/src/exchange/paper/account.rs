//! The paper exchange's account: free balance, leverage and margin mode per symbol,
//! leverage brackets, trailing stops, and the trigger prices of resting stops.
//!
//! Modelled after Binance USDⓈ-M futures, the stricter of the two venues:
//! - an entry takes its initial margin (notional / leverage) from the free balance, refused
//!   when it does not cover it (Binance `-2019 Margin is insufficient`, Bybit `110007`); a
//!   close gives it back;
//! - a position may not exceed its bracket's notional cap at the leverage in use (Binance
//!   `GET /fapi/v1/leverageBracket` `notionalCap`);
//! - a symbol starts at leverage 1, cross; setting what it has is success (as the agent treats
//!   Binance `-4046 No need to change margin type`, Bybit `110043 Set leverage has not been
//!   modified`);
//! - a trailing stop's `callbackRate` must lie in [0.1, 10] and its activation price on the
//!   profit side, else `-2021` would trigger at once (developers.binance.com, derivatives, New
//!   Order, `TRAILING_STOP_MARKET`: "callbackRate … range [0.1, 10]").
//!
//! Balance (`paper/balance.rs`), leverage settings and trigger prices are stored beside the
//! paper orders, so a restarted agent goes on from them and tests read them.

use super::{PaperExchange, Position, price_of};
use crate::exchange::Result;
use crate::exchange::money::{Decimal, to_f64};
use crate::exchange::{ExchangeError, LeverageSetting, OrderReport, Side, TrailingStopOrder};
use crate::journal::Stmt;

/// The setting of a symbol nobody set (the agent's defaults, so they never change anything).
const PAPER_DEFAULT: LeverageSetting = LeverageSetting {
    leverage: 1,
    margin_mode: crate::exchange::MarginMode::Cross,
};

/// Smallest and largest trailing callback, in percent (Binance `callbackRate` bounds).
pub const CALLBACK_RANGE: (Decimal, Decimal) =
    (Decimal::from_parts(1, 0, 0, false, 1), Decimal::TEN);

/// Tables of the paper account (created with the paper orders').
pub(super) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS paper_leverage (
        symbol TEXT PRIMARY KEY,
        leverage INTEGER NOT NULL,
        margin_mode TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS paper_triggers (
        client_order_id TEXT PRIMARY KEY,
        symbol TEXT NOT NULL,
        kind TEXT NOT NULL,
        trigger_price REAL NOT NULL,
        callback_percent REAL NOT NULL
    )",
];

impl PaperExchange {
    /// Leverage in use for `symbol` (1 until set).
    pub(super) fn leverage_of(&self, symbol: &str) -> Result<u32> {
        let w = self.world()?;
        Ok(w.leverage.get(symbol).map_or(1, |s| s.leverage))
    }

    /// Takes an entry's margin from the free balance: the margin taken (`None`: balance not
    /// modelled), or the rule it breaks.
    pub(super) fn take_margin(
        &self,
        symbol: &str,
        notional: Decimal,
    ) -> Result<Result<Option<Decimal>, &'static str>> {
        let leverage = Decimal::from(self.leverage_of(symbol)?);
        let mut w = self.world()?;
        let held = w
            .positions
            .get(symbol)
            .map_or(Decimal::ZERO, Position::value);
        if let Some(cap) = self.cfg.max_notional
            && held + notional > cap / leverage
        {
            return Ok(Err("above_bracket_max_notional"));
        }
        let margin = notional / leverage;
        let Some(balance) = &mut w.balance else {
            return Ok(Ok(None));
        };
        if *balance < margin {
            return Ok(Err("insufficient_balance"));
        }
        *balance -= margin;
        Ok(Ok(Some(margin)))
    }

    /// Gives back a closed position's margin (`None`: balance not modelled).
    pub(super) fn give_margin(&self, symbol: &str, p: &Position) -> Result<Option<Decimal>> {
        let leverage = Decimal::from(self.leverage_of(symbol)?);
        let mut w = self.world()?;
        let Some(balance) = &mut w.balance else {
            return Ok(None);
        };
        let margin = p.value() / leverage;
        *balance += margin;
        Ok(Some(margin))
    }

    /// The statement storing a resting order's trigger price (and a trailing stop's callback).
    pub(super) fn trigger_stmt(
        client_order_id: &str,
        symbol: &str,
        kind: &str,
        trigger_price: Decimal,
        callback_percent: Option<Decimal>,
    ) -> Stmt {
        Stmt::new(
            "INSERT INTO paper_triggers (client_order_id, symbol, kind, trigger_price,
                 callback_percent) VALUES (?, ?, ?, ?, ?)",
            vec![
                client_order_id.into(),
                symbol.into(),
                kind.into(),
                to_f64(trigger_price).into(),
                to_f64(callback_percent.unwrap_or_default()).into(),
            ],
        )
    }

    pub(super) async fn trailing(&self, o: TrailingStopOrder) -> Result<String> {
        let arrived = chrono::Utc::now().to_rfc3339();
        self.check_new(&o.client_order_id)?;
        let price = price_of(&o.symbol);
        let has_position = self.world()?.positions.contains_key(&o.symbol);
        let (lo, hi) = CALLBACK_RANGE;
        let wrong_side = match o.side {
            Side::Long => o.activation_price <= price,
            Side::Short => o.activation_price >= price,
        };
        let rejection = if !has_position {
            Some("no_position")
        } else if !(lo..=hi).contains(&o.callback_percent) {
            Some("callback_rate_out_of_range")
        } else if wrong_side {
            Some("would_immediately_trigger")
        } else {
            None
        };
        let report = match rejection {
            Some(r) => OrderReport::Rejected(r.into()),
            None => OrderReport::Open,
        };
        let (id, stmt) =
            self.record(&o.client_order_id, &o.symbol, "trailing", report, &arrived)?;
        let mut stmts = vec![stmt];
        if rejection.is_none() {
            stmts.push(Self::trigger_stmt(
                &o.client_order_id,
                &o.symbol,
                "trailing",
                o.activation_price,
                Some(o.callback_percent),
            ));
        }
        self.persist_during_latency(stmts).await?;
        match rejection {
            Some(r) => Err(ExchangeError::Rejected(r.into())),
            None => Ok(id),
        }
    }

    pub(super) async fn leverage(&self, symbol: String, s: LeverageSetting) -> Result<()> {
        let changed = {
            let mut w = self.world()?;
            let now = w.leverage.get(&symbol).copied().unwrap_or(PAPER_DEFAULT);
            w.leverage.insert(symbol.clone(), s);
            now != s
        };
        if !changed {
            // "Not modified", answered at once (a real venue takes its latency): the default
            // setting costs a wave nothing.
            return Ok(());
        }
        let stmt = Stmt::new(
            "INSERT INTO paper_leverage (symbol, leverage, margin_mode) VALUES (?, ?, ?)
             ON CONFLICT (symbol) DO UPDATE SET leverage = excluded.leverage,
                margin_mode = excluded.margin_mode",
            vec![
                symbol.as_str().into(),
                i64::from(s.leverage).into(),
                s.margin_mode.as_str().into(),
            ],
        );
        self.persist_during_latency(vec![stmt]).await
    }
}

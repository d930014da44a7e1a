//! The margin side of a fake exchange: leverage and margin mode per symbol (Binance)
//! or per account (Bybit unified accounts), leverage brackets / risk-limit tiers, trailing
//! stops, and the initial margin fills take from (and give back to) the account's available
//! balance (`account.rs`). Shared by both venues; each venue's module speaks its own endpoints
//! and codes over it (`binance/account.rs`, `bybit/margin.rs`).
//!
//! Modelled behaviour, common to both venues' documentation:
//! - an opening fill takes initial margin = notional / leverage from the available balance and
//!   is refused when the balance does not cover it (Binance `-2019 Margin is insufficient.`,
//!   Bybit `110007 Available balance is insufficient`); a reducing fill gives the margin of the
//!   closed part back;
//! - a position may not grow past the notional cap of the bracket its leverage allows: the
//!   largest cap among brackets whose max leverage is at least the leverage in use (Binance
//!   `GET /fapi/v1/leverageBracket`, `-2027 Exceeded the maximum allowable position at current
//!   leverage.`; Bybit `GET /v5/market/risk-limit`, `110090 Order placement failed as your position may
//!   exceed the max limit`, `docs/v5/error.mdx`);
//! - leverage defaults to 20 (Binance's default initial leverage for a new symbol).

use std::collections::BTreeMap;

use super::decimal::Dec;
use super::state::Side;

/// Leverage of a symbol nobody set.
pub const DEFAULT_LEVERAGE: u32 = 20;

/// Margin mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarginKind {
    /// Cross margin (Binance `CROSSED`, Bybit `REGULAR_MARGIN`).
    Cross,
    /// Isolated margin (Binance `ISOLATED`, Bybit `ISOLATED_MARGIN`).
    Isolated,
}

/// One leverage bracket (risk-limit tier).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bracket {
    /// Highest leverage allowed in this bracket.
    pub max_leverage: u32,
    /// Largest position notional in this bracket (USDT).
    pub notional_cap: Dec,
}

/// A trailing stop the exchange holds.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailingRecord {
    /// Exchange id (Binance `algoId`; Bybit has none: the symbol).
    pub id: String,
    /// Client id (Binance `clientAlgoId`; empty on Bybit).
    pub client_id: String,
    /// Symbol.
    pub symbol: String,
    /// Closing side (Binance); the position's opposite.
    pub side: Side,
    /// Quantity (Binance); `None` on Bybit (the whole position).
    pub qty: Option<Dec>,
    /// Activation price.
    pub activation_price: Dec,
    /// Binance `callbackRate` (percent) or Bybit `trailingStop` (price distance).
    pub callback: Dec,
    /// False once cancelled or gone with its position.
    pub active: bool,
}

/// Why the account refuses an opening fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarginRefusal {
    /// The available balance does not cover the initial margin.
    Insufficient,
    /// The position would pass its bracket's notional cap.
    AboveBracket,
}

/// The margin settings of a fake exchange.
#[derive(Debug, Clone)]
pub struct Margin {
    /// Leverage by symbol (absent: [`DEFAULT_LEVERAGE`]).
    pub leverage: BTreeMap<String, u32>,
    /// Margin mode by symbol (Binance; absent: cross).
    pub margin: BTreeMap<String, MarginKind>,
    /// Account-wide margin mode (Bybit unified account).
    pub account_margin: MarginKind,
    /// Brackets, the same for every symbol.
    pub brackets: Vec<Bracket>,
    /// Trailing stops, oldest first.
    pub trailing: Vec<TrailingRecord>,
    /// Setting changes that changed something (leverage, margin mode).
    pub changes: usize,
}

impl Margin {
    /// Settings with `brackets`, nothing set yet.
    pub fn new(brackets: Vec<Bracket>) -> Self {
        Margin {
            leverage: BTreeMap::new(),
            margin: BTreeMap::new(),
            account_margin: MarginKind::Cross,
            brackets,
            trailing: Vec::new(),
            changes: 0,
        }
    }

    /// Leverage in use for `symbol`.
    pub fn leverage_of(&self, symbol: &str) -> u32 {
        self.leverage
            .get(symbol)
            .copied()
            .unwrap_or(DEFAULT_LEVERAGE)
    }

    /// Largest position notional at `leverage`; `None` when no bracket allows it.
    pub fn cap_at(&self, leverage: u32) -> Option<Dec> {
        self.brackets
            .iter()
            .filter(|b| b.max_leverage >= leverage)
            .map(|b| b.notional_cap)
            .reduce(|a, b| if b > a { b } else { a })
    }

    /// Highest leverage any bracket allows.
    pub fn max_leverage(&self) -> u32 {
        self.brackets
            .iter()
            .map(|b| b.max_leverage)
            .max()
            .unwrap_or(125)
    }

    /// Takes the margin of an opening fill of `added` notional into a position that will hold
    /// `total` notional from `available`, or refuses it.
    pub fn open(
        &mut self,
        available: &mut Dec,
        symbol: &str,
        added: Dec,
        total: Dec,
    ) -> Result<(), MarginRefusal> {
        let lev = self.leverage_of(symbol);
        if self.cap_at(lev).is_some_and(|cap| total > cap) {
            return Err(MarginRefusal::AboveBracket);
        }
        let margin = added
            .checked_div(Dec::from_int(i64::from(lev)))
            .unwrap_or(added);
        if *available < margin {
            return Err(MarginRefusal::Insufficient);
        }
        *available = available.minus(margin);
        Ok(())
    }

    /// Gives back the margin of `reduced` notional (at entry) of `symbol`'s position; a
    /// position closed to zero takes its trailing stops with it.
    pub fn reduce(&mut self, available: &mut Dec, symbol: &str, reduced: Dec, closed: bool) {
        let lev = Dec::from_int(i64::from(self.leverage_of(symbol)));
        *available = available.plus(reduced.checked_div(lev).unwrap_or(reduced));
        if closed {
            for t in self.trailing.iter_mut().filter(|t| t.symbol == symbol) {
                t.active = false;
            }
        }
    }

    /// The active trailing stop of `symbol` (the latest).
    pub fn trailing_of(&self, symbol: &str) -> Option<&TrailingRecord> {
        self.trailing
            .iter()
            .rev()
            .find(|t| t.active && t.symbol == symbol)
    }
}

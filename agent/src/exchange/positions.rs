//! What adapters offer beyond entry, stop and close: account, brackets, leverage, trailing stop.

pub use crate::config::MarginMode;

use super::Side;
use super::money::{Decimal, percent_of};

/// The account as read once at the start of a wave.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AccountState {
    /// Balance available for new margin, in USD; `None` when the adapter does not model it.
    pub free_balance: Option<Decimal>,
    /// Notional of the open positions, in USD.
    pub exposure: Decimal,
}

impl AccountState {
    /// A live account: `free` the quote asset's balance (0 if unreported), exposure the sum.
    pub fn live(free: Option<Decimal>, position_values: impl IntoIterator<Item = Decimal>) -> Self {
        Self {
            free_balance: Some(free.unwrap_or_default()),
            exposure: position_values.into_iter().map(|v| v.abs()).sum(),
        }
    }
}

/// Leverage and margin mode of a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeverageSetting {
    /// Leverage (1..=125).
    pub leverage: u32,
    /// Margin mode.
    pub margin_mode: MarginMode,
}

/// A trailing stop: from `activation_price`, closes once the price falls back `callback_percent`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailingStopOrder {
    /// Client order id (derived from the entry's, tag `t`).
    pub client_order_id: String,
    /// Instrument.
    pub symbol: String,
    /// Direction of the position it protects.
    pub side: Side,
    /// Quantity to close when triggered.
    pub quantity: Decimal,
    /// Activation price (above the fill for a long, below for a short).
    pub activation_price: Decimal,
    /// Callback distance in percent of the price (Binance `callbackRate`, where 1 = 1 %).
    pub callback_percent: Decimal,
}

impl TrailingStopOrder {
    /// The callback as a price distance from the activation price (Bybit's `trailingStop`).
    pub fn callback_distance(&self) -> Decimal {
        percent_of(self.activation_price, self.callback_percent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_account_sums_short_and_long_values_and_reads_an_unreported_balance_as_zero() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let a = AccountState::live(Some(d("250.5")), [d("100.25"), d("-40.75")]);
        assert_eq!(a.free_balance, Some(d("250.5")));
        assert_eq!(a.exposure, d("141"));
        // No quote-asset row: nothing is spent from a balance the venue did not report.
        assert_eq!(
            AccountState::live(None, []).free_balance,
            Some(Decimal::ZERO)
        );
    }
}

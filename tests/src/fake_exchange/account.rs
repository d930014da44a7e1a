//! The account side of a fake venue that a preflight reads: balance and the API key's
//! permissions, shared by both protocols.

use super::decimal::Dec;

/// What the API key may do and what the account holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Available USDT for new positions.
    pub available: Dec,
    /// The key may trade (Binance `canTrade`; Bybit `readOnly: 0` with `ContractTrade`
    /// `Order` and `Position`).
    pub can_trade: bool,
    /// The key may withdraw (Binance `canWithdraw`; Bybit `Wallet` holds `Withdraw`).
    pub can_withdraw: bool,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            available: Dec::from_int(10_000),
            can_trade: true,
            can_withdraw: false,
        }
    }
}

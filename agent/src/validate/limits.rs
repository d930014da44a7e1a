//! Account limits in rank order (positions, exposure, balance, bracket): each signal takes its
//! share ([`AccountLimits::admit`]) and gives it back ([`AccountLimits::release`]).

use crate::config::LimitsConfig;
pub use crate::exchange::AccountState;
use crate::exchange::Decimal;

/// The account is at `limits.max_positions`.
pub const MAX_POSITIONS: &str = "max_positions_reached";
/// The position would take the account past `limits.max_exposure_usd`.
pub const MAX_EXPOSURE: &str = "max_exposure_reached";
/// The free balance, less the reserve, does not cover the position's margin.
pub const INSUFFICIENT_BALANCE: &str = "insufficient_balance";
/// The size is above the largest notional of the symbol's bracket at the leverage in use.
pub const ABOVE_BRACKET: &str = "above_bracket_max_notional";

/// One wave's running account limits.
#[derive(Debug, Clone)]
pub struct AccountLimits {
    cfg: LimitsConfig,
    leverage: Decimal,
    positions: u32,
    exposure: Decimal,
    free: Option<Decimal>,
}

impl AccountLimits {
    /// Limits for a wave starting at `open_positions` and `state`; margin: notional / `leverage`.
    pub fn new(
        cfg: &LimitsConfig,
        leverage: u32,
        open_positions: usize,
        state: AccountState,
    ) -> Self {
        Self {
            cfg: cfg.clone(),
            leverage: Decimal::from(leverage.max(1)),
            positions: u32::try_from(open_positions).unwrap_or(u32::MAX),
            exposure: state.exposure,
            free: state.free_balance.filter(|_| cfg.check_balance),
        }
    }

    /// Takes a position of `notional` USD, or names the limit broken; `bracket`: the symbol's cap.
    pub fn admit(
        &mut self,
        notional: Decimal,
        bracket: Option<Decimal>,
    ) -> Result<(), &'static str> {
        if self.positions >= self.cfg.max_positions {
            return Err(MAX_POSITIONS);
        }
        if let Some(max) = self.cfg.max_exposure_usd
            && self.exposure + notional > max
        {
            return Err(MAX_EXPOSURE);
        }
        if bracket.is_some_and(|max| notional > max) {
            return Err(ABOVE_BRACKET);
        }
        let margin = self.margin(notional);
        if let Some(free) = self.free {
            if free - self.cfg.balance_reserve_usd < margin {
                return Err(INSUFFICIENT_BALANCE);
            }
            self.free = Some(free - margin);
        }
        self.positions += 1;
        self.exposure += notional;
        Ok(())
    }

    /// Gives back what [`admit`](Self::admit) took for a position that did not open.
    pub fn release(&mut self, notional: Decimal) {
        self.positions = self.positions.saturating_sub(1);
        self.exposure = (self.exposure - notional).max(Decimal::ZERO);
        let margin = self.margin(notional);
        if let Some(free) = &mut self.free {
            *free += margin;
        }
    }

    fn margin(&self, notional: Decimal) -> Decimal {
        notional / self.leverage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(x: i64) -> Decimal {
        Decimal::from(x)
    }

    /// Limits at `leverage` with `open` positions, `free` balance and `exposure` (USD).
    fn limits(
        f: impl FnOnce(&mut LimitsConfig),
        leverage: u32,
        open: usize,
        free: Option<i64>,
        exposure: i64,
    ) -> AccountLimits {
        let mut c = LimitsConfig::default();
        f(&mut c);
        let s = AccountState {
            free_balance: free.map(d),
            exposure: d(exposure),
        };
        AccountLimits::new(&c, leverage, open, s)
    }

    #[test]
    fn balance_with_reserve_is_decremented_and_given_back() {
        let mut l = limits(|_| {}, 1, 0, Some(250), 0);
        assert_eq!(l.admit(d(100), None), Ok(()));
        assert_eq!(l.admit(d(100), None), Ok(()));
        // 50 left, 10 reserved: 40 < 100.
        assert_eq!(l.admit(d(100), None), Err(INSUFFICIENT_BALANCE));
        l.release(d(100));
        assert_eq!(l.admit(d(100), None), Ok(()));
        // Leverage 5: a 100 position needs 20 of margin; 40 - 10 reserve covers one more.
        let mut l = limits(|_| {}, 5, 0, Some(40), 0);
        assert_eq!(l.admit(d(100), None), Ok(()));
        assert_eq!(l.admit(d(100), None), Err(INSUFFICIENT_BALANCE));
    }

    #[test]
    fn positions_exposure_and_bracket() {
        let mut l = limits(|c| c.max_positions = 3, 1, 2, None, 150);
        assert_eq!(l.admit(d(100), None), Ok(()));
        assert_eq!(l.admit(d(100), None), Err(MAX_POSITIONS));
        let mut l = limits(|c| c.max_exposure_usd = Some(d(300)), 1, 2, None, 150);
        assert_eq!(l.admit(d(100), None), Ok(()));
        assert_eq!(l.admit(d(100), None), Err(MAX_EXPOSURE));
        let mut l = limits(|_| {}, 1, 0, None, 150);
        assert_eq!(l.admit(d(100), Some(d(99))), Err(ABOVE_BRACKET));
        assert_eq!(l.admit(d(100), Some(d(100))), Ok(()));
        // Balance not checked when turned off.
        let mut l = limits(|c| c.check_balance = false, 1, 0, Some(0), 0);
        assert_eq!(l.admit(d(100), None), Ok(()));
    }
}

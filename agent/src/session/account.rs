//! A session's account side: read at the start, limits per verdict in rank order, margin given
//! back when nothing opened; no top-up after `insufficient_balance`.

use tracing::info;
use wavegate_common::session::{Event, Phase};

use super::Session;
use crate::context::AgentCtx;
use crate::exchange::{AccountState, ExchangeError};
use crate::validate::limits::INSUFFICIENT_BALANCE;
use crate::validate::sizing::Sized;

/// The account at the wave's start, read [`retried`](super::start::retried); else refused.
pub(super) async fn read_account(ctx: &AgentCtx) -> Result<AccountState, ExchangeError> {
    let l = &ctx.config.limits;
    if !l.check_balance && l.max_exposure_usd.is_none() {
        return Ok(AccountState::default());
    }
    super::start::retried("account", || ctx.exchange.account()).await
}

impl Session {
    /// A passed signal with the account limits applied: takes its share, or names the limit.
    pub(super) fn limits_check(
        &mut self,
        symbol: &str,
        check: Result<Sized, String>,
    ) -> Result<(), String> {
        let sized = check?;
        if self.filter.duplicate(symbol).is_some() {
            return Ok(());
        }
        match self.limits.admit(sized.notional, sized.bracket) {
            Ok(()) => Ok(()),
            Err(reason) => {
                if reason == INSUFFICIENT_BALANCE && self.proto.phase() == Phase::Walking {
                    info!(wave_id = %self.start.wave_id, %symbol,
                          "insufficient balance: no top-up, the walk ends with what passed");
                    // No actions follow: the walk closes once the batch's verdicts are in.
                    self.proto.on(Event::OutOfFunds);
                }
                Err(reason.to_owned())
            }
        }
    }

    /// A launched order opened nothing: its share of the account is free again.
    pub(super) fn give_back(&mut self, notional: crate::exchange::Decimal) {
        self.limits.release(notional);
    }
}

//! Leverage and margin mode, set on a symbol before its first entry; cached per agent (and
//! journaled, so a restart knows them) and not set again while unchanged. An entry whose
//! leverage could not be set is not sent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tracing::warn;

use crate::context::AgentCtx;
use crate::exchange::{ExchangeError, LeverageSetting};

/// Outcome error of an entry not sent because its leverage could not be set.
pub const LEVERAGE_NOT_SET: &str = "leverage_not_set";

/// The settings known to be in place, by symbol.
#[derive(Debug, Default)]
pub struct LeverageCache {
    set: Mutex<HashMap<String, LeverageSetting>>,
}

impl LeverageCache {
    /// A cache holding `known` (loaded from the journal).
    pub fn with(known: HashMap<String, LeverageSetting>) -> Self {
        Self {
            set: Mutex::new(known),
        }
    }

    /// The settings, through a poisoned lock too (a map of plain values stays consistent).
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, LeverageSetting>> {
        self.set.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Makes sure `symbol` trades at `s`; `Err(reason)` when it could not be set.
pub(super) async fn ensure(ctx: &AgentCtx, symbol: &str, s: LeverageSetting) -> Result<(), String> {
    if !ctx.config.positions.set_leverage || ctx.leverage.map().get(symbol) == Some(&s) {
        return Ok(());
    }
    let timeout = Duration::from_millis(ctx.config.order_timeout_ms);
    let r = tokio::time::timeout(timeout, ctx.exchange.set_leverage(symbol.to_owned(), s)).await;
    match r {
        Ok(Ok(())) => {
            ctx.leverage.map().insert(symbol.to_owned(), s);
            // Queued, off the order's path: lost in a crash, a restart sets it again (harmless).
            ctx.journal.record_leverage(symbol, s);
            Ok(())
        }
        Ok(Err(ExchangeError::Rejected(reason))) => {
            warn!(%symbol, %reason, "leverage refused; entry not sent");
            Err(format!("{LEVERAGE_NOT_SET}: {reason}"))
        }
        Ok(Err(e)) => {
            warn!(%symbol, error = %e, "leverage not set; entry not sent");
            Err(LEVERAGE_NOT_SET.to_owned())
        }
        Err(_) => {
            warn!(%symbol, "leverage request timed out; entry not sent");
            Err(LEVERAGE_NOT_SET.to_owned())
        }
    }
}

//! Re-protection of the journal's open ends (docs/design.md §3): the coordinator may never
//! re-send such a wave, so the agent settles unknown entries and unprotected positions itself
//! ([`Reprotect::mark_needed`], [`settle_prior`]): lookups, stops or closes, never an entry.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{error, info, warn};

use crate::context::AgentCtx;
use crate::execute::{needs_side, settle_prior};
use crate::journal::{JournalError, JournalOrder};

/// Whether a sweep is due (set at start and after a run that left an order open).
#[derive(Debug)]
pub struct Reprotect {
    needed: AtomicBool,
    /// One sweep at a time: two would settle the same rows twice.
    running: tokio::sync::Mutex<()>,
}

impl Default for Reprotect {
    fn default() -> Self {
        Self {
            needed: AtomicBool::new(true),
            running: tokio::sync::Mutex::new(()),
        }
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Journaled orders that needed settling.
    pub found: usize,
    /// Of those, still unknown or unprotected afterwards (tried again before the next wave).
    pub still_open: usize,
    /// Rows journaled without their side: settled only when their wave is re-sent.
    pub without_side: usize,
}

impl Reprotect {
    /// A run left an order unknown or unprotected: sweep before the next wave.
    pub fn mark_needed(&self) {
        self.needed.store(true, Ordering::Release);
    }

    /// Sweeps if one is due (cheap otherwise: one atomic load on the wave's start path).
    pub async fn sweep_if_needed(&self, ctx: &AgentCtx) {
        if !self.needed.load(Ordering::Acquire) {
            return;
        }
        if let Err(e) = self.sweep(ctx).await {
            error!(error = %e, "re-protection sweep failed; tried again before the next wave");
        }
    }

    /// Settles every unknown or unprotected journaled order under its wave's lock.
    pub async fn sweep(&self, ctx: &AgentCtx) -> Result<Swept, JournalError> {
        let _one = self.running.lock().await;
        // Cleared first: a run ending during the sweep sets it again.
        self.needed.store(false, Ordering::Release);
        let mut rows = ctx.journal.open_orders().await?;
        rows.retain(needs_side);
        let mut swept = Swept {
            found: rows.len(),
            ..Swept::default()
        };
        if rows.is_empty() {
            return Ok(swept);
        }
        warn!(
            orders = rows.len(),
            "journaled orders unsettled or without a stop: settling them"
        );
        for row in rows {
            match settle_one(ctx, row).await {
                Some(true) => {}
                Some(false) => swept.still_open += 1,
                None => swept.without_side += 1,
            }
        }
        ctx.journal.flush().await?;
        if swept.still_open > 0 {
            self.mark_needed();
        }
        info!(
            found = swept.found,
            still_open = swept.still_open,
            without_side = swept.without_side,
            "re-protection sweep done"
        );
        Ok(swept)
    }
}

/// Settles one row: `Some(true)` settled, `Some(false)` still open, `None` no side for a stop.
async fn settle_one(ctx: &AgentCtx, row: JournalOrder) -> Option<bool> {
    let Some(_wave) = ctx.wave_locks.try_lock(&row.wave_id) else {
        return Some(false);
    };
    // A session of the wave may have settled it while this waited for the lock.
    let fresh = match ctx.journal.wave_orders(&row.wave_id).await {
        Ok(rows) => rows
            .into_iter()
            .find(|r| r.client_order_id == row.client_order_id),
        Err(e) => {
            warn!(coid = %row.client_order_id, error = %e, "journal read failed");
            return Some(false);
        }
    };
    let Some(row) = fresh.filter(needs_side) else {
        return Some(true);
    };
    let Some(side) = row.side else {
        warn!(coid = %row.client_order_id, wave_id = %row.wave_id,
              "journaled without its side: protected when its wave is sent again");
        return None;
    };
    let coid = row.client_order_id.clone();
    let exec = settle_prior(
        ctx,
        ctx.config.exchange_id,
        row,
        side,
        ctx.config.stop_loss_percent,
    )
    .await;
    let settled = !exec.leaves_wave_open();
    info!(%coid, executed = exec.executed(), settled, "journaled order settled");
    Some(settled)
}

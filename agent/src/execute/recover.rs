//! Settling orders whose outcome is not known yet: an entry that got no answer (looked up by
//! its client order id, never sent again), and every order journaled by an earlier run of the
//! wave (after a crash, or when the coordinator re-sends the wave).
//!
//! A journaled order that may send something (a lookup that finds a fill goes on to its stop,
//! an interrupted stop step, a close) is settled under its symbol's lock, like a live order:
//! no other wave opens or closes the symbol meanwhile.

use tracing::warn;
use wavegate_common::order_id::client_order_id;

use super::stop::{StopStart, protect, stop_done};
use super::{
    DUPLICATE_ID, Execution, LOOKUP_ATTEMPTS, LOOKUP_BACKOFF, Report, STOP_FAILED_CLOSED,
    derived_id, filled, record,
};
use crate::context::AgentCtx;
use crate::exchange::{Fill, OrderReport, Side};
use crate::journal::{JournalOrder, OrderEvent, OrderState, OrderUpdate, StopEvent, StopState};

/// Why an order is looked up, which decides what "not found" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lookup {
    /// It got no answer: "not found" from every lookup means the exchange never got it.
    Unanswered,
    /// The exchange refused it as a duplicate client order id, i.e. said an order under this
    /// id exists: "not found" is not believed, the order holds its slot until found.
    Exists,
}

/// Settles an order journaled by an earlier run of the wave and reports it: a settled row as
/// journaled; an unsettled one (`pending`, `sent`, `unknown`) by lookup; a filled entry whose
/// stop step did not finish by finishing it. Sends no new entry order, whatever the deadline.
/// `side` is the row's (or, for a row journaled before sides were stored, its signal's); the
/// outcome carries the row's rank index and round, which the session replaces when the signal
/// is in this run's batches.
pub async fn settle_prior(
    ctx: &AgentCtx,
    exchange_id: u32,
    prior: JournalOrder,
    side: Side,
    stop_loss_percent: f64,
) -> Execution {
    // Only a row that may send something needs the lock (a settled one is only reported).
    let _symbol_lock = if needs_side(&prior) {
        Some(ctx.symbol_locks.lock(&prior.symbol).await)
    } else {
        None
    };
    let r = Report {
        signal_id: prior.signal_id,
        symbol: prior.symbol.clone(),
        index: prior.index.unwrap_or(u32::MAX),
        round: prior.round,
        // Recomputed, not read: it is the id every run of the wave uses for the signal.
        client_order_id: client_order_id(&prior.wave_id, exchange_id, prior.signal_id),
        side,
        stop_loss_percent,
    };
    match prior.state {
        OrderState::Pending | OrderState::Sent => {
            lost_then_resolve(ctx, &r, prior.state, Lookup::Unanswered).await
        }
        OrderState::Unknown => {
            let lookup = if prior.error.as_deref() == Some(DUPLICATE_ID) {
                Lookup::Exists
            } else {
                Lookup::Unanswered
            };
            resolve(ctx, &r, lookup).await
        }
        // A filled entry whose stop step did not finish (crash, lost update): never report
        // it executed before the stop is known to exist (DESIGN §3).
        OrderState::Filled | OrderState::Resolved if needs_stop(&prior) => {
            recover_stop(ctx, &r, prior).await
        }
        OrderState::Filled | OrderState::Failed | OrderState::Resolved => r.with_fill(
            prior.executed,
            prior.error.as_deref().unwrap_or(""),
            prior.exchange_order_id.as_deref().unwrap_or(""),
            prior.fill_price,
            prior.quantity,
        ),
    }
}

/// True when settling `prior` may send a stop or close, so it needs the entry's side.
pub fn needs_side(prior: &JournalOrder) -> bool {
    !prior.state.is_final() || needs_stop(prior)
}

/// True when a journaled entry holds a position whose stop step has not finished. Rows with
/// an error were settled by an earlier version's bookkeeping (closed, or close failed).
pub fn needs_stop(prior: &JournalOrder) -> bool {
    prior.executed && prior.error.is_none() && !prior.stop.is_final()
}

/// Marks the order `unknown` (queued; a duplicate id is journaled as its error, so a later
/// run keeps believing the order exists), then looks it up.
pub(super) async fn lost_then_resolve(
    ctx: &AgentCtx,
    r: &Report,
    from: OrderState,
    lookup: Lookup,
) -> Execution {
    let up = OrderUpdate {
        error: (lookup == Lookup::Exists).then(|| DUPLICATE_ID.to_owned()),
        ..OrderUpdate::default()
    };
    record(ctx, &r.client_order_id, from, OrderEvent::Lost, up);
    resolve(ctx, r, lookup).await
}

/// Settles an `unknown` order by looking it up by client order id (never by re-sending).
/// If the exchange cannot say, the order holds its slot: it is [`ExecStatus::Unresolved`]
/// (counted as executed, error `outcome_unknown`), so the target can never be overshot; the
/// journal keeps it `unknown`, and the session stores no `Result` for the wave, so a re-sent
/// wave looks it up again. After a duplicate-id refusal ([`Lookup::Exists`]) "not found" never
/// settles the order.
///
/// [`ExecStatus::Unresolved`]: super::ExecStatus::Unresolved
async fn resolve(ctx: &AgentCtx, r: &Report, lookup: Lookup) -> Execution {
    let coid = r.client_order_id.clone();
    let mut pause = LOOKUP_BACKOFF;
    for attempt in 0..LOOKUP_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        match ctx
            .exchange
            .lookup_order(r.symbol.clone(), coid.clone())
            .await
        {
            Ok(Some(OrderReport::Filled(fill))) => {
                record(
                    ctx,
                    &coid,
                    OrderState::Unknown,
                    OrderEvent::Resolve,
                    filled(&fill),
                );
                return protect(ctx, r, fill, StopStart::FIRST).await;
            }
            Ok(Some(OrderReport::Rejected(reason))) => {
                let up = OrderUpdate {
                    error: Some(reason.clone()),
                    ..OrderUpdate::default()
                };
                record(ctx, &coid, OrderState::Unknown, OrderEvent::Resolve, up);
                return r.failed(&reason);
            }
            // An order answered late (timeout, 5xx) may show up at the exchange only after a
            // moment: "not found" is final only when every lookup says so.
            Ok(None) if lookup == Lookup::Exists || attempt + 1 < LOOKUP_ATTEMPTS => {}
            Ok(None) => {
                let up = OrderUpdate {
                    error: Some("not_received".into()),
                    ..OrderUpdate::default()
                };
                record(ctx, &coid, OrderState::Unknown, OrderEvent::Resolve, up);
                return r.failed("not_received");
            }
            Ok(Some(OrderReport::Open)) => {}
            Err(e) => warn!(%coid, error = %e, "lookup failed"),
        }
    }
    r.unresolved()
}

/// Finishes the stop step of a filled entry journaled by an earlier run: a stop that may have
/// been sent is looked up by its derived client order id (never sent blindly again); one the
/// exchange never got is placed; an interrupted close is finished by [`finish_close`]. The
/// rules are the live path's: [`protect`].
async fn recover_stop(ctx: &AgentCtx, r: &Report, prior: JournalOrder) -> Execution {
    let fill = Fill {
        exchange_order_id: prior.exchange_order_id.clone().unwrap_or_default(),
        price: prior.fill_price,
        quantity: prior.quantity,
    };
    let start = match prior.stop {
        StopState::Closing => return finish_close(ctx, r, prior.stop_attempt, fill).await,
        StopState::Sending => {
            for attempt in 0..=prior.stop_attempt {
                let stop_id = derived_id(&r.client_order_id, 's', attempt);
                match ctx.exchange.lookup_order(r.symbol.clone(), stop_id).await {
                    Ok(Some(OrderReport::Open | OrderReport::Filled(_))) => {
                        stop_done(ctx, r, StopState::Sending, StopEvent::Place, None);
                        return r.with_fill(
                            true,
                            "",
                            &fill.exchange_order_id,
                            fill.price,
                            fill.quantity,
                        );
                    }
                    Ok(_) => {}
                    // Unknown: a second stop is reduce-only and harmless; no stop is not.
                    Err(e) => warn!(coid = %r.client_order_id, attempt, error = %e,
                        "stop lookup failed"),
                }
            }
            StopStart {
                state: StopState::Sending,
                attempt: prior.stop_attempt.saturating_add(1),
                close_from: None,
            }
        }
        _ => StopStart::FIRST,
    };
    protect(ctx, r, fill, start).await
}

/// Most close ids looked up ([`derived_id`] numbers attempts modulo 100).
const MAX_CLOSE_IDS: u32 = 100;

/// Finishes a close an earlier run journaled (`closing`: its stop could not be placed) and may
/// have sent. The symbol's position now is not necessarily this order's: if that close filled
/// before the crash, another wave may have opened the symbol since. So nothing is closed
/// blindly: every close id an earlier run may have used is looked up, and one that filled
/// settles the order (`closed`, nothing sent); otherwise the position is closed only if it is
/// still this order's — same side and size as its fill — under the symbol's lock (held by
/// [`settle_prior`]). A position that is gone or someone else's means this order's position
/// was closed (by its close or its stop): `closed`, and the other position is left alone.
async fn finish_close(ctx: &AgentCtx, r: &Report, stop_attempt: u32, fill: Fill) -> Execution {
    let coid = &r.client_order_id;
    let closed = |executed: bool, error: &str| {
        r.with_fill(
            executed,
            error,
            &fill.exchange_order_id,
            fill.price,
            fill.quantity,
        )
    };
    let retries = ctx.config.stop_retries.max(1);
    // Each run journals the first close attempt of its range and uses `retries` ids from it;
    // earlier runs used lower numbers.
    let used = stop_attempt.saturating_add(retries).min(MAX_CLOSE_IDS);
    for attempt in 0..used {
        let close_id = derived_id(coid, 'c', attempt);
        match ctx.exchange.lookup_order(r.symbol.clone(), close_id).await {
            Ok(Some(OrderReport::Filled(_))) => {
                let done = Some((false, STOP_FAILED_CLOSED));
                stop_done(ctx, r, StopState::Closing, StopEvent::Closed, done);
                return closed(false, STOP_FAILED_CLOSED);
            }
            Ok(_) => {}
            // The position check below still keeps another wave's position safe.
            Err(e) => warn!(%coid, attempt, error = %e, "close lookup failed"),
        }
    }
    let position = match ctx.exchange.position(r.symbol.clone()).await {
        Ok(p) => p,
        Err(e) => {
            // Whose position it is cannot be told: close nothing; the order holds its slot
            // and stays `closing` for a later run.
            warn!(%coid, error = %e, "position unavailable; interrupted close left for later");
            return r.unresolved();
        }
    };
    match position {
        Some(p) if p.side == r.side && same_size(p.quantity, fill.quantity) => {
            let start = StopStart {
                state: StopState::Closing,
                attempt: 0,
                close_from: Some(used),
            };
            protect(ctx, r, fill, start).await
        }
        Some(_) if fill.quantity <= 0.0 => {
            warn!(%coid, "fill size not journaled; cannot tell whose position it is");
            r.unresolved()
        }
        other => {
            if other.is_some() {
                warn!(%coid, symbol = %r.symbol,
                      "the open position is not this order's; left alone");
            }
            let done = Some((false, STOP_FAILED_CLOSED));
            stop_done(ctx, r, StopState::Closing, StopEvent::Closed, done);
            closed(false, STOP_FAILED_CLOSED)
        }
    }
}

/// True when a position of `held` is the one a fill of `filled` opened (sizes are the
/// exchange's own decimals, so equal up to float parsing).
fn same_size(held: f64, filled: f64) -> bool {
    filled > 0.0 && (held - filled).abs() <= filled * 1e-9
}

/// The outcome of a journaled order this run could not settle (its side is not journaled
/// and its signal never came): it holds its slot, as an unknown outcome does.
pub fn unsettled(exchange_id: u32, prior: &JournalOrder) -> Execution {
    Report {
        signal_id: prior.signal_id,
        symbol: prior.symbol.clone(),
        index: prior.index.unwrap_or(u32::MAX),
        round: prior.round,
        client_order_id: client_order_id(&prior.wave_id, exchange_id, prior.signal_id),
        side: Side::Long,
        stop_loss_percent: 0.0,
    }
    .unresolved()
}

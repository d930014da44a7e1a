//! Settling orders whose outcome is not known yet: an entry that got no answer (looked up by
//! its client order id, never sent again), and every order journaled by an earlier run of the
//! wave (after a crash, or when the coordinator re-sends the wave).

use tracing::warn;
use wavegate_common::order_id::client_order_id;

use super::stop::{StopStart, protect, stop_done};
use super::{Execution, LOOKUP_ATTEMPTS, LOOKUP_BACKOFF, Report, derived_id, filled, record};
use crate::context::AgentCtx;
use crate::exchange::{Fill, OrderReport, Side};
use crate::journal::{JournalOrder, OrderEvent, OrderState, OrderUpdate, StopEvent, StopState};

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
        OrderState::Pending | OrderState::Sent => lost_then_resolve(ctx, &r, prior.state).await,
        OrderState::Unknown => resolve(ctx, &r).await,
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

/// Marks the order `unknown` (queued), then looks it up.
pub(super) async fn lost_then_resolve(ctx: &AgentCtx, r: &Report, from: OrderState) -> Execution {
    record(
        ctx,
        &r.client_order_id,
        from,
        OrderEvent::Lost,
        OrderUpdate::default(),
    );
    resolve(ctx, r).await
}

/// Settles an `unknown` order by looking it up by client order id (never by re-sending).
/// If the exchange cannot say, the order holds its slot: it is [`ExecStatus::Unresolved`]
/// (counted as executed, error `outcome_unknown`), so the target can never be overshot; the
/// journal keeps it `unknown`, and the session stores no `Result` for the wave, so a re-sent
/// wave looks it up again.
///
/// [`ExecStatus::Unresolved`]: super::ExecStatus::Unresolved
async fn resolve(ctx: &AgentCtx, r: &Report) -> Execution {
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
            Ok(None) if attempt + 1 < LOOKUP_ATTEMPTS => {}
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
/// exchange never got is placed; a close that may have been sent is repeated (closing a
/// closed position answers `no_position`). The rules are the live path's: [`protect`].
async fn recover_stop(ctx: &AgentCtx, r: &Report, prior: JournalOrder) -> Execution {
    let fill = Fill {
        exchange_order_id: prior.exchange_order_id.clone().unwrap_or_default(),
        price: prior.fill_price,
        quantity: prior.quantity,
    };
    let retries = ctx.config.stop_retries.max(1);
    let start = match prior.stop {
        StopState::Closing => StopStart {
            state: StopState::Closing,
            attempt: 0,
            // Past every close id the earlier run may have used.
            close_from: Some(prior.stop_attempt.saturating_add(retries)),
        },
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

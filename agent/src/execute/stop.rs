//! The protective stop of a filled entry (docs/design.md §3): placed with bounded retries, each
//! attempt journaled before it leaves (a fresh fill's first attempt by the entry's own row,
//! its step queued: [`Journal::stop_send_later`]); if it cannot be placed, the position is
//! closed at market.
//!
//! [`Journal::stop_send_later`]: crate::journal::Journal::stop_send_later

use std::time::{Duration, Instant};

use tracing::{error, warn};

use super::lifecycle::{AfterSend, Answer, Protective, after_send};
use super::timing::Step;
use super::{Execution, Report, STOP_FAILED_CLOSE_FAILED, STOP_FAILED_CLOSED, derived_id};
use crate::context::AgentCtx;
use crate::exchange::money::{decimal, percent_of};
use crate::exchange::{Decimal, ExchangeError, Fill, Side, StopOrder};
use crate::journal::{StopEvent, StopState};

/// Where [`protect`] starts.
#[derive(Debug, Clone, Copy)]
pub(super) struct StopStart {
    /// Stop step as journaled.
    pub(super) state: StopState,
    /// First stop attempt number (its derived client order id) to send.
    pub(super) attempt: u32,
    /// Send stops first (else go straight to closing).
    pub(super) stops: bool,
    /// First close attempt number to send if the position must be closed.
    pub(super) close_from: u32,
}

impl StopStart {
    /// A fresh fill: no stop sent yet.
    pub(super) const FIRST: StopStart = StopStart {
        state: StopState::None,
        attempt: 0,
        stops: true,
        close_from: 0,
    };
}

/// Places the protective stop for a filled entry, else closes the position; each request is
/// journaled before it leaves (a fresh fill's first stop by the entry's row), outcomes are
/// queued. If the close fails too, it is logged at
/// error level and the order is [`ExecStatus::Unprotected`].
///
/// [`ExecStatus::Unprotected`]: super::ExecStatus::Unprotected
pub(super) async fn protect(ctx: &AgentCtx, r: &Report, fill: Fill, start: StopStart) -> Execution {
    let coid = &r.client_order_id;
    let symbol = r.symbol.clone();
    let side = r.side;
    let pct = decimal(r.stop_loss_percent, "stop_loss_percent")
        .inspect_err(|e| error!(%coid, error = %e, "no stop distance"))
        .unwrap_or_default();
    let distance = percent_of(fill.price, pct);
    let stop_price = match side {
        Side::Long => fill.price - distance,
        Side::Short => fill.price + distance,
    };
    let timeout = Duration::from_millis(ctx.config.order_timeout_ms);
    let ok = |error: &str, executed: bool| r.filled(&fill, executed, error);
    let retries = ctx.config.stop_retries.max(1);
    // A stop from a missing fill price (read as 0) would protect nothing: close instead.
    let priced = fill.price > Decimal::ZERO && pct > Decimal::ZERO;
    if !priced {
        error!(%coid, %symbol, price = %fill.price,
               "fill has no usable price; no stop computed from it, closing the position");
    }
    // A stop placed for a position left unprotected by an earlier run clears its error.
    let placed = (start.state == StopState::CloseFailed).then_some((true, ""));
    let mut state = start.state;
    let mut waits = 0;
    if start.stops && priced {
        let mut attempt = start.attempt;
        let end = start.attempt.saturating_add(retries);
        while attempt < end {
            let t = Instant::now();
            ctx.limiter.acquire().await;
            let t = r.times.add(Step::Limiter, t);
            state = if state == StopState::None && attempt == 0 {
                // A fresh fill's first stop: the entry's row stands for it (see
                // `Journal::stop_send_later`), so it leaves without waiting for a commit.
                first_stop_later(ctx, coid)
            } else {
                step_before_send(ctx, coid, state, StopEvent::Send, attempt).await
            };
            let t = r.times.add(Step::Journal, t);
            let stop_id = derived_id(coid, 's', attempt);
            let stop = StopOrder {
                client_order_id: stop_id.clone(),
                symbol: symbol.clone(),
                side,
                quantity: fill.quantity,
                stop_price,
            };
            let placed_stop = tokio::time::timeout(timeout, ctx.exchange.place_stop(stop)).await;
            r.times.add(Step::Stop, t);
            let (answer, detail, retry_in_ms) = answer_of(&placed_stop);
            match after_send(Protective::Stop, answer) {
                AfterSend::Done => {
                    stop_done(ctx, r, state, StopEvent::Place, placed);
                    return ok("", true);
                }
                AfterSend::NextAttempt => warn!(%coid, attempt, error = %detail, "stop rejected"),
                // No position: the close step settles it.
                AfterSend::GiveUp => break,
                d @ (AfterSend::CoolDownThenSame | AfterSend::CoolDownThenNext) => {
                    if !wait_throttled(ctx, coid, "stop", retry_in_ms, &mut waits).await {
                        break;
                    }
                    if d == AfterSend::CoolDownThenSame {
                        continue;
                    }
                }
                AfterSend::LookUp => {
                    if let Ok(true) = ctx.exchange.stop_in_place(symbol.clone(), stop_id).await {
                        stop_done(ctx, r, state, StopEvent::Place, placed);
                        return ok("", true);
                    }
                }
            }
            attempt += 1;
        }
    }
    let close_from = start.close_from;
    state = step_before_send(ctx, coid, state, StopEvent::Close, close_from).await;
    let mut attempt = close_from;
    let end = close_from.saturating_add(retries);
    while attempt < end {
        ctx.limiter.acquire().await;
        let close_id = derived_id(coid, 'c', attempt);
        let closed = ctx.exchange.close_position(symbol.clone(), close_id);
        match tokio::time::timeout(timeout, closed).await {
            Ok(Ok(_) | Err(ExchangeError::NoPosition)) => {
                let done = Some((false, STOP_FAILED_CLOSED));
                stop_done(ctx, r, state, StopEvent::Closed, done);
                return ok(STOP_FAILED_CLOSED, false);
            }
            Ok(Err(ExchangeError::Throttled { retry_in_ms, .. })) => {
                if wait_throttled(ctx, coid, "close", retry_in_ms, &mut waits).await {
                    continue;
                }
                break;
            }
            Ok(Err(e)) => warn!(%coid, attempt, error = %e, "close failed"),
            Err(_) => warn!(%coid, attempt, "close timed out"),
        }
        attempt += 1;
    }
    error!(%coid, %symbol, side = side.as_str(), quantity = %fill.quantity,
           "position open WITHOUT a protective stop: the stop and the market close both \
            failed; the wave's result is not journaled, so a re-sent wave retries protection");
    let done = Some((true, STOP_FAILED_CLOSE_FAILED));
    stop_done(ctx, r, state, StopEvent::CloseFailed, done);
    r.unprotected(&fill)
}

/// One stop or trailing-stop attempt's result as the lifecycle reads it: (answer, detail,
/// cool-down in ms).
pub(super) fn answer_of<T>(
    sent: &Result<Result<T, ExchangeError>, tokio::time::error::Elapsed>,
) -> (Answer, String, u64) {
    match sent {
        Ok(Ok(_)) => (Answer::Placed, String::new(), 0),
        Ok(Err(ExchangeError::Rejected(e))) => (Answer::Refused, e.clone(), 0),
        Ok(Err(ExchangeError::Unavailable(e))) => (Answer::NotSent, e.clone(), 0),
        Ok(Err(ExchangeError::NoPosition)) => (Answer::NoPosition, "no_position".into(), 0),
        Ok(Err(ExchangeError::Throttled {
            retry_in_ms,
            detail,
        })) => (Answer::Throttled, detail.clone(), *retry_in_ms),
        Ok(Err(ExchangeError::Unknown(e) | ExchangeError::DuplicateId(e))) => {
            (Answer::Unanswered, e.clone(), 0)
        }
        Err(_) => (Answer::Unanswered, "timeout".into(), 0),
    }
}

/// Most cool-downs one order's stop step waits through before it gives up.
const MAX_THROTTLE_WAITS: u32 = 20;
/// Longest single wait for a cool-down (a longer ban is waited for again, within the count).
const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(60);

/// Waits out the cool-down that held back a stop or close (`what`), logged at error level (the
/// position is not protected yet); false after [`MAX_THROTTLE_WAITS`] waits.
async fn wait_throttled(
    ctx: &AgentCtx,
    coid: &str,
    what: &str,
    retry_in_ms: u64,
    waits: &mut u32,
) -> bool {
    ctx.metrics.throttled(&ctx.config.exchange_name, what);
    *waits += 1;
    if *waits > MAX_THROTTLE_WAITS {
        error!(%coid, what, "venue still throttling after {MAX_THROTTLE_WAITS} cool-downs; giving up this step");
        return false;
    }
    let wait = Duration::from_millis(retry_in_ms).min(MAX_THROTTLE_WAIT);
    error!(%coid, what, wait_ms = wait.as_millis() as u64,
           "venue throttled the {what} of an open position; it is sent again after the cool-down");
    tokio::time::sleep(wait).await;
    true
}

/// Commits that a stop (or close) is about to leave. If the journal refuses, it is sent anyway:
/// an unprotected position is worse than a second reduce-only stop from a later run.
async fn step_before_send(
    ctx: &AgentCtx,
    coid: &str,
    state: StopState,
    event: StopEvent,
    attempt: u32,
) -> StopState {
    match ctx.journal.stop_step(coid, state, event, attempt).await {
        Ok(to) => to,
        Err(e) => {
            error!(%coid, attempt, error = %e, "stop step not journaled; sending anyway");
            state.transition(event).unwrap_or(state)
        }
    }
}

/// Queues the step of a fresh fill's first stop attempt ([`Journal::stop_send_later`]); if
/// the journal refuses, it is sent anyway, as in [`step_before_send`].
///
/// [`Journal::stop_send_later`]: crate::journal::Journal::stop_send_later
fn first_stop_later(ctx: &AgentCtx, coid: &str) -> StopState {
    ctx.journal
        .stop_send_later(coid, StopState::None, 0)
        .unwrap_or_else(|e| {
            error!(%coid, error = %e, "stop step not journaled; sending anyway");
            StopState::Sending
        })
}

/// Queues the stop step's outcome (and, for a close, the execution it leaves).
pub(super) fn stop_done(
    ctx: &AgentCtx,
    r: &Report,
    from: StopState,
    event: StopEvent,
    execution: Option<(bool, &str)>,
) {
    let coid = &r.client_order_id;
    if let Err(e) = ctx.journal.stop_step_later(coid, from, event, execution) {
        error!(%coid, error = %e, "stop outcome refused");
    }
}

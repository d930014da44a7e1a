//! Settling orders whose outcome is not known: an unanswered entry (looked up by client order
//! id, never sent again) and every order an earlier run of the wave journaled. One that may send
//! something is settled under its symbol's lock, like a live order.
//!
//! An earlier run's filled position may since have been closed outside the agent and the
//! symbol opened again by another wave, so before anything is sent for it the earlier stop or
//! close ids are looked up and the position must be this entry's ([`holder`]); otherwise the
//! order is settled without touching the position (`closed` after a close, else `gone`).

use std::time::Duration;

use tracing::{error, info, warn};
use wavegate_common::order_id::client_order_id;

use super::backoff::LookupBackoff;
use super::lifecycle::{
    self, AfterLookup, Found, Holder, Lookup, Next, OwnStep, Sender, after_holder, after_lookup,
    after_position_check, plan,
};
use super::stop::{StopStart, protect, stop_done};
use super::trailing;
use super::{
    CLOSED_ELSEWHERE, Execution, LOOKUP_ATTEMPTS, MAX_DERIVED_IDS, Report, STOP_FAILED_CLOSED,
    derived_id, filled, record, settle_failed,
};
use crate::context::AgentCtx;
use crate::exchange::{Decimal, ExchangeError, Fill, OrderReport, Side};
use crate::journal::{
    JournalOrder, OrderEvent, OrderState, OrderUpdate, StopEvent, StopState, TrailingState,
};

/// Settles and reports an order an earlier run of the wave journaled: a settled row as
/// journaled, an unsettled one by lookup, an unfinished stop step by finishing it. Never sends
/// a new entry. `side` is the row's (or its signal's, for rows older than the side column).
pub async fn settle_prior(
    ctx: &AgentCtx,
    exchange_id: u32,
    prior: JournalOrder,
    side: Side,
    stop_loss_percent: f64,
) -> Execution {
    let _symbol_lock = if needs_side(&prior) {
        Some(ctx.symbol_locks.lock(&prior.symbol).await)
    } else {
        None
    };
    let trailing = prior.trailing_params.filter(|_| !prior.trailing.is_final());
    let r = report_of(exchange_id, &prior, side, stop_loss_percent, trailing);
    match plan(&row_of(&prior)) {
        Next::LookUp {
            lookup,
            mark_lost: true,
        } => lost_then_resolve(ctx, &r, prior.state, lookup, Sender::EarlierRun).await,
        Next::LookUp { lookup, .. } => resolve(ctx, &r, lookup, Sender::EarlierRun).await,
        next @ (Next::FinishClose | Next::Reprotect | Next::ProtectOwn) => {
            let (fill, attempt) = (fill_of(&prior), prior.stop_attempt);
            let mut exec = match next {
                Next::FinishClose => finish_close(ctx, &r, attempt, fill.clone()).await,
                Next::Reprotect => reprotect(ctx, &r, fill.clone(), &prior).await,
                _ => protect_own(ctx, &r, fill.clone(), prior.stop, attempt).await,
            };
            let (state, attempt) = (prior.trailing, prior.trailing_attempt);
            trailing::after_stop(ctx, &r, &fill, &mut exec, state, attempt, true).await;
            exec
        }
        Next::Trail => {
            let mut exec = journaled(&r, &prior);
            let fill = fill_of(&prior);
            exec.outcome.trailing =
                trailing::recover(ctx, &r, &fill, prior.trailing, prior.trailing_attempt).await;
            exec
        }
        Next::Report => {
            let mut exec = journaled(&r, &prior);
            exec.outcome.trailing =
                trailing::reported(prior.trailing, prior.trailing_error.as_deref());
            exec
        }
    }
}

/// The report of a journaled order.
fn report_of(
    exchange_id: u32,
    prior: &JournalOrder,
    side: Side,
    stop_loss_percent: f64,
    trailing: Option<crate::protocol::Trailing>,
) -> Report {
    Report {
        signal_id: prior.signal_id,
        symbol: prior.symbol.clone(),
        index: prior.index.unwrap_or(u32::MAX),
        round: prior.round,
        client_order_id: journaled_id(exchange_id, prior),
        side,
        stop_loss_percent,
        trailing,
        times: Default::default(),
    }
}

/// The outcome of a row as journaled.
fn journaled(r: &Report, prior: &JournalOrder) -> Execution {
    let error = prior.error.as_deref().unwrap_or("");
    r.filled(&fill_of(prior), prior.executed, error)
}

/// The entry's fill as journaled.
fn fill_of(prior: &JournalOrder) -> Fill {
    Fill {
        exchange_order_id: prior.exchange_order_id.clone().unwrap_or_default(),
        price: prior.fill_price,
        quantity: prior.quantity,
    }
}

/// The part of a journal row the lifecycle plans from.
fn row_of(prior: &JournalOrder) -> lifecycle::Row<'_> {
    lifecycle::Row {
        state: prior.state,
        executed: prior.executed,
        stop: prior.stop,
        trailing: prior.trailing,
        error: prior.error.as_deref(),
    }
}

/// The journaled client order id (what the exchange knows), even if this run would derive
/// another (exchange id or scheme changed: logged).
fn journaled_id(exchange_id: u32, prior: &JournalOrder) -> String {
    let derived = client_order_id(&prior.wave_id, exchange_id, prior.signal_id);
    if derived != prior.client_order_id {
        warn!(coid = %prior.client_order_id, %derived, signal_id = prior.signal_id,
              "journaled client order id differs from the one derived now; using the journaled");
    }
    prior.client_order_id.clone()
}

/// True when settling `prior` may look up or send something, so it needs its side and the
/// symbol's lock.
pub fn needs_side(prior: &JournalOrder) -> bool {
    plan(&row_of(prior)) != Next::Report
}

/// Queues the order `unknown` (or `exists` after a duplicate-id refusal), then looks it up.
pub(super) async fn lost_then_resolve(
    ctx: &AgentCtx,
    r: &Report,
    from: OrderState,
    lookup: Lookup,
    sender: Sender,
) -> Execution {
    let event = match lookup {
        Lookup::Unanswered => OrderEvent::Lost,
        Lookup::Exists => OrderEvent::Duplicate,
    };
    record(ctx, &r.client_order_id, from, event, OrderUpdate::default());
    resolve(ctx, r, lookup, sender).await
}

/// Settles an `unknown` order by lookup, never by re-sending. If the exchange cannot say, it
/// is [`ExecStatus::Unresolved`] (holds its slot, so the target is never overshot). After a
/// duplicate-id refusal "not found" never settles it. An earlier run's fill gets its stop
/// only on its own position ([`protect_own`]).
///
/// [`ExecStatus::Unresolved`]: super::ExecStatus::Unresolved
async fn resolve(ctx: &AgentCtx, r: &Report, lookup: Lookup, sender: Sender) -> Execution {
    let coid = r.client_order_id.clone();
    let from = match lookup {
        Lookup::Unanswered => OrderState::Unknown,
        Lookup::Exists => OrderState::Exists,
    };
    let mut backoff = LookupBackoff::new(Duration::from_millis(ctx.config.lookup_backoff_ms));
    for attempt in 0..LOOKUP_ATTEMPTS {
        backoff.before(attempt).await;
        let answer = ctx
            .exchange
            .lookup_order(r.symbol.clone(), coid.clone())
            .await;
        let (found, fill, reason) = match answer {
            Ok(Some(OrderReport::Filled(fill))) => (Found::Filled, Some(fill), None),
            Ok(Some(OrderReport::Rejected(reason))) => (Found::Rejected, None, Some(reason)),
            Ok(Some(OrderReport::Open)) => (Found::Open, None, None),
            Ok(None) => (Found::Missing, None, None),
            // Nothing is sent during the venue's cool-down: wait it out (bounded) first.
            Err(ExchangeError::Throttled { retry_in_ms, .. }) => {
                warn!(%coid, retry_in_ms, "lookup throttled by the venue");
                ctx.metrics.throttled(&ctx.config.exchange_name, "read");
                LookupBackoff::cool_down(retry_in_ms).await;
                (Found::Unreadable, None, None)
            }
            Err(e) => {
                warn!(%coid, error = %e, "lookup failed");
                (Found::Unreadable, None, None)
            }
        };
        let last = attempt + 1 == LOOKUP_ATTEMPTS;
        let mut next = after_lookup(found, lookup, sender, last);
        if next == AfterLookup::CheckPosition {
            // An order a venue acknowledged asynchronously (Bybit) may still be invisible to
            // lookups while its position is open.
            next = after_position_check(flat_on_side(ctx, r).await);
        }
        match (next, fill) {
            (AfterLookup::Protect | AfterLookup::ProtectOwn, Some(fill)) => {
                record(ctx, &coid, from, OrderEvent::Resolve, filled(&fill));
                let mut exec = if next == AfterLookup::Protect {
                    protect(ctx, r, fill.clone(), StopStart::FIRST).await
                } else {
                    protect_own(ctx, r, fill.clone(), StopState::None, 0).await
                };
                // An entry settled by lookup never had its trailing stop sent.
                let pending = TrailingState::Pending;
                trailing::after_stop(ctx, r, &fill, &mut exec, pending, 0, true).await;
                return exec;
            }
            (AfterLookup::Failed, _) => {
                let reason = reason.unwrap_or_else(|| "rejected".to_owned());
                return settle_failed(ctx, r, from, OrderEvent::Resolve, &reason);
            }
            (AfterLookup::NotReceived, _) => {
                return settle_failed(ctx, r, from, OrderEvent::Resolve, "not_received");
            }
            (AfterLookup::HoldSlot, _) if found == Found::Missing => {
                error!(%coid, symbol = %r.symbol,
                       "order not found, but its position cannot be ruled out (or the venue said the id exists): holding its slot");
                return r.unresolved();
            }
            _ => {}
        }
    }
    r.unresolved()
}

/// Whether `r.symbol` has no position on `r.side`; `None` when it cannot be read.
async fn flat_on_side(ctx: &AgentCtx, r: &Report) -> Option<bool> {
    match ctx.exchange.position(r.symbol.clone()).await {
        Ok(None) => Some(true),
        Ok(Some(p)) => Some(p.side != r.side),
        Err(e) => {
            warn!(coid = %r.client_order_id, error = %e, "position unavailable");
            None
        }
    }
}

/// Gives an earlier run's filled entry (stop step `none` or `sending`) its stop ([`protect`])
/// only on its own position: an earlier stop id in place settles it `placed`; a position gone
/// or someone else's settles it `gone` ([`CLOSED_ELSEWHERE`]); if whose it is cannot be told,
/// nothing is sent and it holds its slot.
async fn protect_own(
    ctx: &AgentCtx,
    r: &Report,
    fill: Fill,
    state: StopState,
    stop_attempt: u32,
) -> Execution {
    let with_fill = |error: &str| r.filled(&fill, true, error);
    let retries = ctx.config.stop_retries.max(1);
    // `none` still looks up from attempt 0: a fresh fill's first stop leaves before its step
    // commits (`Journal::stop_send_later`).
    let used = match state {
        StopState::Sending => stop_attempt.saturating_add(1),
        _ => retries,
    }
    .min(MAX_DERIVED_IDS);
    if earlier_stop_in_place(ctx, r, used).await {
        stop_done(ctx, r, state, StopEvent::Place, None);
        return with_fill("");
    }
    match after_holder(holder(ctx, r, &fill).await) {
        OwnStep::Protect => {
            let start = StopStart {
                state,
                attempt: used,
                stops: true,
                close_from: 0,
            };
            protect(ctx, r, fill, start).await
        }
        OwnStep::HoldSlot => r.unresolved(),
        OwnStep::LeaveAlone => {
            let done = Some((true, CLOSED_ELSEWHERE));
            stop_done(ctx, r, state, StopEvent::Gone, done);
            with_fill(CLOSED_ELSEWHERE)
        }
    }
}

/// Whose `r.symbol`'s position is (called under the symbol's lock). An order of the symbol
/// journaled since was sent when it was flat, so the position is not this one's even at the
/// same side and size; otherwise the position is compared with the entry's fill.
pub(super) async fn holder(ctx: &AgentCtx, r: &Report, fill: &Fill) -> Holder {
    let coid = &r.client_order_id;
    match ctx.journal.journaled_after(coid, &r.symbol).await {
        Ok(true) => {
            warn!(%coid, symbol = %r.symbol,
                  "the symbol was ordered again since: its position is not this order's");
            return Holder::NotThis;
        }
        Ok(false) => {}
        Err(e) => {
            warn!(%coid, error = %e, "journal unavailable; left for a later run");
            return Holder::Unknown;
        }
    }
    match ctx.exchange.position(r.symbol.clone()).await {
        Ok(Some(p)) if p.side == r.side && same_size(p.quantity, fill.quantity) => Holder::This,
        Ok(Some(_)) if fill.quantity <= Decimal::ZERO => {
            warn!(%coid, "fill size not journaled; cannot tell whose position it is");
            Holder::Unknown
        }
        Ok(Some(_)) => {
            warn!(%coid, symbol = %r.symbol,
                  "the open position is not this order's; left alone");
            Holder::NotThis
        }
        Ok(None) => Holder::NotThis,
        Err(e) => {
            warn!(%coid, error = %e, "position unavailable; left for a later run");
            Holder::Unknown
        }
    }
}

/// Finishes a close an earlier run journaled (`closing`): an earlier close id that filled
/// settles it `closed`; otherwise it closes only its own position ([`holder`]); one gone or
/// someone else's also settles it `closed`, left alone.
async fn finish_close(ctx: &AgentCtx, r: &Report, stop_attempt: u32, fill: Fill) -> Execution {
    let closed = |executed: bool, error: &str| r.filled(&fill, executed, error);
    let retries = ctx.config.stop_retries.max(1);
    // Each run journals the first close attempt of its range and uses `retries` ids from it;
    // earlier runs used lower numbers.
    let used = stop_attempt.saturating_add(retries).min(MAX_DERIVED_IDS);
    if earlier_close_filled(ctx, r, used).await {
        let done = Some((false, STOP_FAILED_CLOSED));
        stop_done(ctx, r, StopState::Closing, StopEvent::Closed, done);
        return closed(false, STOP_FAILED_CLOSED);
    }
    match after_holder(holder(ctx, r, &fill).await) {
        OwnStep::Protect => {
            let start = StopStart {
                state: StopState::Closing,
                attempt: 0,
                stops: false,
                close_from: used,
            };
            protect(ctx, r, fill, start).await
        }
        OwnStep::HoldSlot => r.unresolved(),
        OwnStep::LeaveAlone => {
            let done = Some((false, STOP_FAILED_CLOSED));
            stop_done(ctx, r, StopState::Closing, StopEvent::Closed, done);
            closed(false, STOP_FAILED_CLOSED)
        }
    }
}

/// Protects again a position an earlier run left `close_failed`, by the rules of
/// [`finish_close`] then [`protect_own`]: stop then close under fresh ids; if whose it is
/// cannot be told, it stays unprotected.
async fn reprotect(ctx: &AgentCtx, r: &Report, fill: Fill, prior: &JournalOrder) -> Execution {
    let coid = &r.client_order_id;
    let retries = ctx.config.stop_retries.max(1);
    let closes = prior
        .stop_attempt
        .saturating_add(retries)
        .min(MAX_DERIVED_IDS);
    let stops = prior.stops_sent.max(retries).min(MAX_DERIVED_IDS);
    let with_fill = |executed: bool, error: &str| r.filled(&fill, executed, error);
    if earlier_close_filled(ctx, r, closes).await {
        let done = Some((false, STOP_FAILED_CLOSED));
        stop_done(ctx, r, StopState::CloseFailed, StopEvent::Closed, done);
        return with_fill(false, STOP_FAILED_CLOSED);
    }
    if earlier_stop_in_place(ctx, r, stops).await {
        let done = Some((true, ""));
        stop_done(ctx, r, StopState::CloseFailed, StopEvent::Place, done);
        return with_fill(true, "");
    }
    match after_holder(holder(ctx, r, &fill).await) {
        OwnStep::Protect => {
            info!(%coid, symbol = %r.symbol, "retrying the stop of a position left unprotected");
            let start = StopStart {
                state: StopState::CloseFailed,
                attempt: stops,
                stops: true,
                close_from: closes,
            };
            protect(ctx, r, fill, start).await
        }
        OwnStep::HoldSlot => {
            error!(%coid, symbol = %r.symbol,
                   "position still WITHOUT a protective stop: whose it is cannot be told; \
                    left for a later run");
            r.unprotected(&fill)
        }
        OwnStep::LeaveAlone => {
            let done = Some((true, CLOSED_ELSEWHERE));
            stop_done(ctx, r, StopState::CloseFailed, StopEvent::Gone, done);
            with_fill(true, CLOSED_ELSEWHERE)
        }
    }
}

/// True when an earlier stop (`s0..s{n}`) is in place. A failed lookup counts as not: the
/// position check that follows keeps another wave's position safe.
async fn earlier_stop_in_place(ctx: &AgentCtx, r: &Report, n: u32) -> bool {
    let coid = &r.client_order_id;
    for attempt in 0..n {
        let stop_id = derived_id(coid, 's', attempt);
        match ctx.exchange.stop_in_place(r.symbol.clone(), stop_id).await {
            Ok(true) => return true,
            Ok(false) => {}
            Err(e) => warn!(%coid, attempt, error = %e, "stop lookup failed"),
        }
    }
    false
}

/// True when an earlier close (`c0..c{n}`) filled; a failed lookup counts as not (as above).
async fn earlier_close_filled(ctx: &AgentCtx, r: &Report, n: u32) -> bool {
    let coid = &r.client_order_id;
    for attempt in 0..n {
        let close_id = derived_id(coid, 'c', attempt);
        match ctx.exchange.lookup_order(r.symbol.clone(), close_id).await {
            Ok(Some(OrderReport::Filled(_))) => return true,
            Ok(_) => {}
            Err(e) => warn!(%coid, attempt, error = %e, "close lookup failed"),
        }
    }
    false
}

/// True when a position of `held` is the one a fill of `filled` opened (venue decimals).
fn same_size(held: Decimal, filled: Decimal) -> bool {
    filled > Decimal::ZERO && held == filled
}

/// A journaled order this run cannot settle (no side journaled, no signal): holds its slot.
pub fn unsettled(exchange_id: u32, prior: &JournalOrder) -> Execution {
    report_of(exchange_id, prior, Side::Long, 0.0, None).unresolved()
}

//! Opening one position: journal, entry, protective stop; and settling unknown outcomes.
//!
//! Order of steps for a signal the walk launches (DESIGN §3):
//! 1. already journaled by an earlier run of the wave → report from the journal (looking the
//!    order up first if its outcome is not settled); never place it again;
//! 2. take the symbol's lock and re-check for an open position (another wave may have opened
//!    it since validation);
//! 3. wait for the rate limiter; refuse if the wave's deadline passed;
//! 4. journal the order as `sent` with the deterministic client order id (one committed write,
//!    the only one before the order leaves), then place;
//! 5. filled → protective stop with bounded retries; if it cannot be placed, close at market
//!    (failed execution); if closing fails too, the position stays open and counts;
//!    rejected → failed; no answer → `unknown`, looked up by client order id. Each stop (and
//!    the close) attempt is journaled as the row's stop step and committed before it leaves;
//!    a later run that finds a filled entry whose stop step did not finish looks the stop up
//!    by its derived id, places it if the exchange never got it, or closes — the same code.
//!
//! Every journal update after the exchange answered is queued ([`Journal::apply_later`]) and
//! committed in batches off the walk's path; the session flushes the queue before it stores
//! the wave's `Result`. A crash before such an update commits leaves the row `sent` (or
//! `unknown`), which a later run settles by lookup — never by sending again.
//!
//! [`Journal::apply_later`]: crate::journal::Journal::apply_later

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::{error, warn};
use wavegate_common::order_id::client_order_id;
use wavegate_common::proto::v1 as pb;
use wavegate_common::signal::Signal;

use crate::context::AgentCtx;
use crate::exchange::{EntryOrder, ExchangeError, Fill, OrderReport, Side, StopOrder};
use crate::journal::{JournalOrder, OrderEvent, OrderState, OrderUpdate, StopEvent, StopState};

/// Lookups tried before an unknown outcome is given up on for this run.
const LOOKUP_ATTEMPTS: u32 = 5;
/// First pause between lookups (doubles each time: about 3 s over all attempts).
const LOOKUP_BACKOFF: Duration = Duration::from_millis(200);

/// One order the walk launched.
#[derive(Debug, Clone)]
pub struct OrderJob {
    /// Wave.
    pub wave_id: String,
    /// Exchange.
    pub exchange_id: u32,
    /// The signal.
    pub signal: Signal,
    /// Rank index.
    pub index: u32,
    /// Round that brought the signal.
    pub round: u32,
    /// Journal row of an earlier run of this wave, if any.
    pub prior: Option<JournalOrder>,
    /// Nothing is sent after this.
    pub deadline: Option<DateTime<Utc>>,
    /// Stop distance in percent.
    pub stop_loss_percent: f64,
}

/// The result of one launched order.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    /// A position opened that counts toward the target.
    pub executed: bool,
    /// The execution-stage outcome to stream.
    pub outcome: pb::SignalOutcome,
}

/// A client order id derived from the entry's, for its stop (`s`) or close (`c`) attempts:
/// same length rule (at most 36 of `[A-Za-z0-9_-]`), distinct per attempt.
pub fn derived_id(entry_id: &str, tag: char, attempt: u32) -> String {
    let body: String = entry_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .skip(2) // the "wg" prefix
        .take(30)
        .collect();
    format!("w{tag}-{body}-{}", attempt % 100)
}

struct Report<'a> {
    job: &'a OrderJob,
    client_order_id: String,
}

impl Report<'_> {
    fn outcome(&self, executed: bool, error: &str) -> pb::SignalOutcome {
        pb::SignalOutcome {
            signal_id: self.job.signal.id(),
            index: self.job.index,
            symbol: self.job.signal.symbol().to_owned(),
            stage: pb::Stage::Execution as i32,
            kind: if executed {
                pb::OutcomeKind::Executed
            } else {
                pb::OutcomeKind::ExecutionFailed
            } as i32,
            executed,
            error: error.to_owned(),
            client_order_id: self.client_order_id.clone(),
            round: self.job.round,
            ..Default::default()
        }
    }

    fn failed(&self, error: &str) -> Execution {
        Execution {
            executed: false,
            outcome: self.outcome(false, error),
        }
    }

    fn with_fill(
        &self,
        executed: bool,
        error: &str,
        exchange_order_id: &str,
        price: f64,
        quantity: f64,
    ) -> Execution {
        let mut outcome = self.outcome(executed, error);
        outcome.exchange_order_id = exchange_order_id.to_owned();
        outcome.fill_price = price;
        outcome.quantity = quantity;
        Execution { executed, outcome }
    }
}

/// Executes one launched candidate. Never panics and never returns an error: every problem
/// is a failed execution (or, when a position may exist, an execution that holds its slot).
pub async fn execute(ctx: Arc<AgentCtx>, job: OrderJob) -> Execution {
    let coid = client_order_id(&job.wave_id, job.exchange_id, job.signal.id());
    let r = Report {
        job: &job,
        client_order_id: coid.clone(),
    };
    if let Some(prior) = job.prior.clone() {
        return from_journal(&ctx, &r, prior).await;
    }
    let symbol = job.signal.symbol().to_owned();
    let _symbol_lock = ctx.symbol_locks.lock(&symbol).await;
    match ctx.exchange.open_positions().await {
        Ok(open) if open.contains(&symbol) => return r.failed("open_position"),
        Ok(_) => {}
        Err(e) => {
            warn!(%symbol, error = %e, "positions unavailable; order not sent");
            return r.failed("exchange_unreachable");
        }
    }
    ctx.limiter.acquire().await;
    if job.deadline.is_some_and(|d| Utc::now() >= d) {
        return r.failed("deadline");
    }
    if let Err(e) = ctx
        .journal
        .insert_sent(&coid, &job.wave_id, job.signal.id(), &symbol)
        .await
    {
        error!(%coid, error = %e, "journal refused the order; not sent");
        return r.failed("journal_unavailable");
    }
    let side = if job.signal.action().is_long() {
        Side::Long
    } else {
        Side::Short
    };
    let order = EntryOrder {
        client_order_id: coid.clone(),
        symbol: symbol.clone(),
        side,
        notional: ctx.order_notional(),
    };
    let started = Instant::now();
    let timeout = Duration::from_millis(ctx.config.order_timeout_ms);
    let placed = tokio::time::timeout(timeout, ctx.exchange.place_entry(order)).await;
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let mut exec = match placed {
        Ok(Ok(fill)) => {
            record(
                &ctx,
                &coid,
                OrderState::Sent,
                OrderEvent::Fill,
                filled(&fill),
            );
            protect(&ctx, &r, side, fill, StopStart::FIRST).await
        }
        Ok(Err(ExchangeError::Rejected(reason) | ExchangeError::Unavailable(reason))) => {
            let up = OrderUpdate {
                error: Some(reason.clone()),
                ..OrderUpdate::default()
            };
            record(&ctx, &coid, OrderState::Sent, OrderEvent::Reject, up);
            r.failed(&reason)
        }
        Ok(Err(ExchangeError::Unknown(detail))) => {
            warn!(%coid, %detail, "entry outcome unknown; looking it up");
            lost_then_resolve(&ctx, &r, OrderState::Sent, side).await
        }
        Err(_) => {
            warn!(%coid, "entry timed out; looking it up");
            lost_then_resolve(&ctx, &r, OrderState::Sent, side).await
        }
    };
    exec.outcome.exchange_latency_us = latency_us;
    // Only orders this run sent count: entry, then stop (or close) as the metric documents.
    ctx.metrics
        .order_latency(&ctx.config.exchange_name, started.elapsed());
    exec
}

fn filled(fill: &Fill) -> OrderUpdate {
    OrderUpdate {
        exchange_order_id: Some(fill.exchange_order_id.clone()),
        executed: true,
        error: None,
        fill_price: fill.price,
        quantity: fill.quantity,
    }
}

/// Queues a state change; a failure is logged (the row stays in its earlier state, which a
/// later run resolves by lookup, so it is safe).
fn record(ctx: &AgentCtx, coid: &str, from: OrderState, event: OrderEvent, up: OrderUpdate) {
    if let Err(e) = ctx.journal.apply_later(coid, from, event, &up) {
        error!(%coid, error = %e, "journal update refused");
    }
}

/// Reports an order journaled by an earlier run, resolving it first if unsettled.
async fn from_journal(ctx: &AgentCtx, r: &Report<'_>, prior: JournalOrder) -> Execution {
    let side = if r.job.signal.action().is_long() {
        Side::Long
    } else {
        Side::Short
    };
    match prior.state {
        OrderState::Pending | OrderState::Sent => {
            lost_then_resolve(ctx, r, prior.state, side).await
        }
        OrderState::Unknown => resolve(ctx, r, side).await,
        // A filled entry whose stop step did not finish (crash, lost update): never report
        // it executed before the stop is known to exist (DESIGN §3).
        OrderState::Filled | OrderState::Resolved if needs_stop(&prior) => {
            recover_stop(ctx, r, side, prior).await
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

async fn lost_then_resolve(
    ctx: &AgentCtx,
    r: &Report<'_>,
    from: OrderState,
    side: Side,
) -> Execution {
    record(
        ctx,
        &r.client_order_id,
        from,
        OrderEvent::Lost,
        OrderUpdate::default(),
    );
    resolve(ctx, r, side).await
}

/// Settles an `unknown` order by looking it up by client order id (never by re-sending).
/// If the exchange cannot say, the order holds its slot: it counts as executed with the error
/// `outcome_unknown`, so the target can never be overshot; the journal keeps it `unknown`
/// for the next run to look up again.
async fn resolve(ctx: &AgentCtx, r: &Report<'_>, side: Side) -> Execution {
    let coid = r.client_order_id.clone();
    let symbol = r.job.signal.symbol().to_owned();
    let mut pause = LOOKUP_BACKOFF;
    for attempt in 0..LOOKUP_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        match ctx
            .exchange
            .lookup_order(symbol.clone(), coid.clone())
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
                return protect(ctx, r, side, fill, StopStart::FIRST).await;
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
    r.with_fill(true, "outcome_unknown", "", 0.0, 0.0)
}

/// True when a journaled entry holds a position whose stop step has not finished. Rows with
/// an error were settled by an earlier version's bookkeeping (closed, or close failed).
fn needs_stop(prior: &JournalOrder) -> bool {
    prior.executed && prior.error.is_none() && !prior.stop.is_final()
}

/// Where [`protect`] starts.
#[derive(Debug, Clone, Copy)]
struct StopStart {
    /// Stop step as journaled.
    state: StopState,
    /// First stop attempt number (its derived client order id) to send.
    attempt: u32,
    /// Go straight to closing, starting at this close attempt number.
    close_from: Option<u32>,
}

impl StopStart {
    /// A fresh fill: no stop sent yet.
    const FIRST: StopStart = StopStart {
        state: StopState::None,
        attempt: 0,
        close_from: None,
    };
}

/// Finishes the stop step of a filled entry journaled by an earlier run: a stop that may have
/// been sent is looked up by its derived client order id (never sent blindly again); one the
/// exchange never got is placed; a close that may have been sent is repeated (closing a
/// closed position answers `no_position`). The rules are the live path's: [`protect`].
async fn recover_stop(
    ctx: &AgentCtx,
    r: &Report<'_>,
    side: Side,
    prior: JournalOrder,
) -> Execution {
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
            let symbol = r.job.signal.symbol().to_owned();
            for attempt in 0..=prior.stop_attempt {
                let stop_id = derived_id(&r.client_order_id, 's', attempt);
                match ctx.exchange.lookup_order(symbol.clone(), stop_id).await {
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
    protect(ctx, r, side, fill, start).await
}

/// Places the protective stop for a filled entry; on failure closes the position. Each
/// request's possible departure is journaled (committed) before it leaves; outcomes are
/// queued.
async fn protect(
    ctx: &AgentCtx,
    r: &Report<'_>,
    side: Side,
    fill: Fill,
    start: StopStart,
) -> Execution {
    let coid = &r.client_order_id;
    let symbol = r.job.signal.symbol().to_owned();
    let pct = r.job.stop_loss_percent / 100.0;
    let stop_price = match side {
        Side::Long => fill.price * (1.0 - pct),
        Side::Short => fill.price * (1.0 + pct),
    };
    let timeout = Duration::from_millis(ctx.config.order_timeout_ms);
    let ok = |error: &str, executed: bool| {
        r.with_fill(
            executed,
            error,
            &fill.exchange_order_id,
            fill.price,
            fill.quantity,
        )
    };
    let retries = ctx.config.stop_retries.max(1);
    let mut state = start.state;
    if start.close_from.is_none() {
        for attempt in start.attempt..start.attempt.saturating_add(retries) {
            ctx.limiter.acquire().await;
            state = step_before_send(ctx, coid, state, StopEvent::Send, attempt).await;
            let stop_id = derived_id(coid, 's', attempt);
            let stop = StopOrder {
                client_order_id: stop_id.clone(),
                symbol: symbol.clone(),
                side,
                quantity: fill.quantity,
                stop_price,
            };
            match tokio::time::timeout(timeout, ctx.exchange.place_stop(stop)).await {
                Ok(Ok(_)) => {
                    stop_done(ctx, r, state, StopEvent::Place, None);
                    return ok("", true);
                }
                Ok(Err(ExchangeError::Rejected(e) | ExchangeError::Unavailable(e))) => {
                    warn!(%coid, attempt, error = %e, "stop rejected");
                }
                Ok(Err(ExchangeError::Unknown(_))) | Err(_) => {
                    // The stop may be in place: ask before trying another.
                    if let Ok(Some(OrderReport::Open | OrderReport::Filled(_))) =
                        ctx.exchange.lookup_order(symbol.clone(), stop_id).await
                    {
                        stop_done(ctx, r, state, StopEvent::Place, None);
                        return ok("", true);
                    }
                }
            }
        }
    }
    let close_from = start.close_from.unwrap_or(0);
    state = step_before_send(ctx, coid, state, StopEvent::Close, close_from).await;
    for attempt in close_from..close_from.saturating_add(retries) {
        ctx.limiter.acquire().await;
        let close_id = derived_id(coid, 'c', attempt);
        match tokio::time::timeout(
            timeout,
            ctx.exchange.close_position(symbol.clone(), close_id),
        )
        .await
        {
            Ok(Ok(_)) => {
                let done = Some((false, "stop_failed_closed"));
                stop_done(ctx, r, state, StopEvent::Closed, done);
                return ok("stop_failed_closed", false);
            }
            Ok(Err(ExchangeError::Rejected(reason))) if reason == "no_position" => {
                let done = Some((false, "stop_failed_closed"));
                stop_done(ctx, r, state, StopEvent::Closed, done);
                return ok("stop_failed_closed", false);
            }
            Ok(Err(e)) => warn!(%coid, attempt, error = %e, "close failed"),
            Err(_) => warn!(%coid, attempt, "close timed out"),
        }
    }
    // The position is still open: it counts, so the walk cannot overshoot the target.
    let done = Some((true, "stop_failed_close_failed"));
    stop_done(ctx, r, state, StopEvent::CloseFailed, done);
    ok("stop_failed_close_failed", true)
}

/// Commits that a stop (or close) request is about to leave. If the journal cannot take it
/// the request is sent anyway: an unprotected position is the worse outcome, and a later run
/// that finds the step unrecorded places a stop under a fresh id (reduce-only, so a second
/// stop is harmless).
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

/// Queues the stop step's outcome (and, for a close, the execution it leaves).
fn stop_done(
    ctx: &AgentCtx,
    r: &Report<'_>,
    from: StopState,
    event: StopEvent,
    execution: Option<(bool, &str)>,
) {
    let coid = &r.client_order_id;
    if let Err(e) = ctx.journal.stop_step_later(coid, from, event, execution) {
        error!(%coid, error = %e, "stop outcome refused");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wavegate_common::order_id::is_valid;

    #[test]
    fn derived_ids_are_valid_and_distinct() {
        let e = client_order_id("2026-11-24T12:00:00Z", 1, 101);
        let s0 = derived_id(&e, 's', 0);
        let s1 = derived_id(&e, 's', 1);
        let c0 = derived_id(&e, 'c', 0);
        for id in [&s0, &s1, &c0] {
            assert!(is_valid(id), "{id}");
        }
        assert_ne!(s0, s1);
        assert_ne!(s0, c0);
        assert_ne!(s0, e);
    }
}

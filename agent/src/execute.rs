//! Opening one position (journal, entry, protective stop) and settling orders an earlier run
//! of the wave journaled (docs/design.md §3):
//! 1. under the symbol's lock, an open position makes the signal a duplicate, not a failure;
//! 2. after the rate limiter and deadline check; a wave stopped while the order waited ends it
//!    unsent and unjournaled (error `cancelled`, `deadline` or `shutdown`);
//! 3. journal the order `sent` under its deterministic client order id (the one committed
//!    write before it leaves), then place;
//! 4. filled → protective stop with bounded retries, else close at market; if that fails too
//!    the position stays open ([`ExecStatus::Unprotected`]). No answer or "duplicate client
//!    order id" → `unknown`, looked up by id, never sent again. Each stop or close attempt is
//!    journaled and committed before it leaves; a fresh fill's first stop is covered by the
//!    entry's row (a later run looks its id up before sending any), its step queued.
//!
//! Updates after the exchange answered are queued ([`Journal::apply_later`]) and flushed before
//! the wave's `Result` is stored; a crash first leaves the row `sent`/`unknown`, which a later
//! run settles by lookup ([`settle_prior`]).
//!
//! [`Journal::apply_later`]: crate::journal::Journal::apply_later

mod backoff;
mod leverage;
mod lifecycle;
pub mod phase;
mod recover;
mod stop;
pub mod timing;
pub mod trailing;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{error, warn};
use wavegate_common::order_id::client_order_id;
use wavegate_common::proto::v1 as pb;
use wavegate_common::signal::Signal;
use wavegate_common::validate::Duplicate;

use crate::context::AgentCtx;
use crate::exchange::money::to_f64;
use crate::exchange::throttle::{MAX_PACE, through_cool_downs};
use crate::exchange::{Decimal, EntryOrder, ExchangeError, Fill, LeverageSetting, Side};
use crate::journal::{NewOrder, OrderEvent, OrderState, OrderUpdate, TrailingState};

pub use leverage::{LEVERAGE_NOT_SET, LeverageCache};
use lifecycle::{Lookup, Sender};
use recover::lost_then_resolve;
pub use recover::{needs_side, settle_prior, unsettled};
use stop::{StopStart, protect};
use timing::{Step, StepTimes};

/// Most derived ids of one kind an order uses ([`derived_id`] numbers attempts modulo 100).
const MAX_DERIVED_IDS: u32 = 100;
/// Lookups tried before an unknown outcome is given up on for this run (`execute/backoff.rs`).
const LOOKUP_ATTEMPTS: u32 = 5;
/// Error of a signal the venue's rate limit held back (nothing sent; not a refusal).
pub const THROTTLED: &str = "exchange_throttled";
/// Outcome error of a filled entry whose stop failed and whose position was closed (or gone).
const STOP_FAILED_CLOSED: &str = "stop_failed_closed";
/// Outcome error of a filled entry whose stop and market close both failed
/// ([`ExecStatus::Unprotected`]).
pub const STOP_FAILED_CLOSE_FAILED: &str = "stop_failed_close_failed";
/// Outcome error of an earlier run's filled entry whose position a later run found gone or not
/// its own before its stop was placed: nothing is sent; it still counts as executed.
pub const CLOSED_ELSEWHERE: &str = "position_closed_elsewhere";

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
    /// `max_trades` of the wave's first run, journaled with the order.
    pub wave_target: u32,
    /// Nothing is sent after this.
    pub deadline: Option<DateTime<Utc>>,
    /// Stop distance in percent.
    pub stop_loss_percent: f64,
    /// The reason once the wave stops: an order not sent yet then ends unsent, failed with it.
    pub cancel: watch::Receiver<Option<&'static str>>,
    /// Order size in USD, settled at validation.
    pub notional: Decimal,
    /// Trailing stop after the protective stop (`None`: off).
    pub trailing: Option<crate::protocol::Trailing>,
    /// Leverage and margin mode the symbol must trade at before the entry.
    pub leverage: LeverageSetting,
}

/// How an order ended, as the walk and the statistics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecStatus {
    /// A position opened that counts toward the target.
    Executed,
    /// No position: rejected, never sent, or closed after its stop failed.
    Failed,
    /// Not sent: the symbol had an open position under its lock (docs/design.md §1 step 3).
    Duplicate,
    /// Fill unknown: holds its slot; the row stays `unknown` for a later run to look up.
    Unresolved,
    /// A position opened but neither its stop nor a market close could be placed: holds its
    /// slot and, like `Unresolved`, keeps the wave open so a re-sent wave protects it.
    Unprotected,
}

/// The result of one launched (or journaled) order.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    /// How it ended.
    pub status: ExecStatus,
    /// The execution-stage outcome to stream.
    pub outcome: pb::SignalOutcome,
}

impl Execution {
    /// True when it counts toward the target: a position opened, or may have.
    pub fn executed(&self) -> bool {
        matches!(
            self.status,
            ExecStatus::Executed | ExecStatus::Unresolved | ExecStatus::Unprotected
        )
    }

    /// True while the order keeps the wave's `Result` unjournaled (unknown, or unprotected).
    pub fn leaves_wave_open(&self) -> bool {
        matches!(
            self.status,
            ExecStatus::Unresolved | ExecStatus::Unprotected
        )
    }
}

/// A client order id derived from the entry's for its stop (`s`), close (`c`) or trailing
/// (`t`) attempts: at most 36 of `[A-Za-z0-9_-]`, distinct per attempt.
pub fn derived_id(entry_id: &str, tag: char, attempt: u32) -> String {
    let body: String = entry_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .skip(2) // the "wg" prefix
        .take(30)
        .collect();
    format!("w{tag}-{body}-{}", attempt % 100)
}

/// The side of a signal's entry.
pub fn side_of(signal: &Signal) -> Side {
    if signal.action().is_long() {
        Side::Long
    } else {
        Side::Short
    }
}

/// What an outcome names and the stop step needs, without the signal (an earlier run's order
/// may have none in this one).
#[derive(Debug, Clone)]
struct Report {
    signal_id: i64,
    symbol: String,
    index: u32,
    round: u32,
    client_order_id: String,
    side: Side,
    stop_loss_percent: f64,
    /// Trailing stop to place after the protective stop (`None`: off, or settled already).
    trailing: Option<crate::protocol::Trailing>,
    times: Arc<StepTimes>,
}

impl Report {
    fn outcome(&self, kind: pb::OutcomeKind, executed: bool, error: &str) -> pb::SignalOutcome {
        pb::SignalOutcome {
            signal_id: self.signal_id,
            index: self.index,
            symbol: self.symbol.clone(),
            stage: pb::Stage::Execution as i32,
            kind: kind as i32,
            executed,
            error: error.to_owned(),
            client_order_id: self.client_order_id.clone(),
            round: self.round,
            ..Default::default()
        }
    }

    fn failed(&self, error: &str) -> Execution {
        Execution {
            status: ExecStatus::Failed,
            outcome: self.outcome(pb::OutcomeKind::ExecutionFailed, false, error),
        }
    }

    fn duplicate(&self) -> Execution {
        let mut outcome = self.outcome(
            pb::OutcomeKind::Duplicate,
            false,
            Duplicate::OpenPosition.as_str(),
        );
        // Nothing was journaled or sent under this id.
        outcome.client_order_id.clear();
        Execution {
            status: ExecStatus::Duplicate,
            outcome,
        }
    }

    fn unresolved(&self) -> Execution {
        Execution {
            status: ExecStatus::Unresolved,
            outcome: self.outcome(pb::OutcomeKind::Executed, true, "outcome_unknown"),
        }
    }

    /// A filled entry left open without a stop: executed, [`STOP_FAILED_CLOSE_FAILED`].
    fn unprotected(&self, fill: &Fill) -> Execution {
        let mut e = self.filled(fill, true, STOP_FAILED_CLOSE_FAILED);
        e.status = ExecStatus::Unprotected;
        e
    }

    /// The outcome of an entry that filled as `fill`: executed or not, with `error`.
    fn filled(&self, fill: &Fill, executed: bool, error: &str) -> Execution {
        let (status, kind) = if executed {
            (ExecStatus::Executed, pb::OutcomeKind::Executed)
        } else {
            (ExecStatus::Failed, pb::OutcomeKind::ExecutionFailed)
        };
        let mut outcome = self.outcome(kind, executed, error);
        outcome.exchange_order_id = fill.exchange_order_id.clone();
        // The wire keeps floats; the agent's numbers stay decimals up to here.
        outcome.fill_price = to_f64(fill.price);
        outcome.quantity = to_f64(fill.quantity);
        Execution { status, outcome }
    }
}

/// Executes one launched candidate. Never panics or errs: every problem is a failed
/// execution (or, when a position may exist, one that holds its slot).
pub async fn execute(ctx: Arc<AgentCtx>, job: OrderJob) -> Execution {
    let started_at = Utc::now();
    let coid = client_order_id(&job.wave_id, job.exchange_id, job.signal.id());
    let symbol = job.signal.symbol().to_owned();
    let side = side_of(&job.signal);
    let r = Report {
        signal_id: job.signal.id(),
        symbol: symbol.clone(),
        index: job.index,
        round: job.round,
        client_order_id: coid.clone(),
        side,
        stop_loss_percent: job.stop_loss_percent,
        trailing: job.trailing,
        times: Arc::default(),
    };
    // Everything before the journal write may wait: a stop of the wave meanwhile ends it unsent.
    let before_send = async {
        let t = Instant::now();
        let symbol_lock = ctx.symbol_locks.lock(&symbol).await;
        let t = r.times.add(Step::Lock, t);
        let open = through_cool_downs(MAX_PACE, || ctx.exchange.open_positions()).await;
        r.times.add(Step::Positions, t);
        match open {
            Ok(open) if open.contains(&symbol) => return Err(r.duplicate()),
            Ok(_) => {}
            Err(ExchangeError::Throttled { .. }) => {
                ctx.metrics.throttled(&ctx.config.exchange_name, "read");
                warn!(%symbol, "positions read throttled by the venue; order not sent");
                return Err(r.failed(THROTTLED));
            }
            Err(e) => {
                warn!(%symbol, error = %e, "positions unavailable; order not sent");
                return Err(r.failed("exchange_unreachable"));
            }
        }
        if let Err(reason) = leverage::ensure(&ctx, &symbol, job.leverage).await {
            return Err(r.failed(&reason));
        }
        let t = Instant::now();
        ctx.limiter.acquire().await;
        r.times.add(Step::Limiter, t);
        Ok(symbol_lock)
    };
    let mut cancel = job.cancel.clone();
    let _symbol_lock = tokio::select! {
        biased;
        reason = stopped(&mut cancel) => return r.failed(reason),
        ready = before_send => match ready {
            Ok(lock) => lock,
            Err(exec) => return exec,
        },
    };
    // A stop that came while the last step finished: still before anything is journaled.
    if let Some(reason) = *job.cancel.borrow() {
        return r.failed(reason);
    }
    if job.deadline.is_some_and(|d| Utc::now() >= d) {
        return r.failed("deadline");
    }
    let row = NewOrder {
        client_order_id: &coid,
        wave_id: &job.wave_id,
        signal_id: job.signal.id(),
        symbol: &symbol,
        side,
        wave_target: job.wave_target,
        index: job.index,
        round: job.round,
        trailing: job.trailing,
    };
    let t = Instant::now();
    if let Err(e) = ctx.journal.insert_sent(&row).await {
        error!(%coid, error = %e, "journal refused the order; not sent");
        return r.failed("journal_unavailable");
    }
    r.times.add(Step::Journal, t);
    let order = EntryOrder {
        client_order_id: coid.clone(),
        symbol: symbol.clone(),
        side,
        notional: job.notional,
    };
    let started = Instant::now();
    let timeout = Duration::from_millis(ctx.config.order_timeout_ms);
    let mut throttle_waited = Duration::ZERO;
    let placed = loop {
        let placed = tokio::time::timeout(timeout, ctx.exchange.place_entry(order.clone())).await;
        // The venue refused it for its rate: nothing was sent, so it may go again after the
        // cool-down, within the wave's deadline and a bounded wait.
        let Ok(Err(ExchangeError::Throttled { retry_in_ms, .. })) = &placed else {
            break placed;
        };
        let wait = Duration::from_millis(*retry_in_ms);
        let past_deadline = job.deadline.is_some_and(|d| Utc::now() + wait >= d);
        if past_deadline || throttle_waited + wait > MAX_PACE || job.cancel.borrow().is_some() {
            break placed;
        }
        ctx.metrics.throttled(&ctx.config.exchange_name, "entry");
        warn!(%coid, wait_ms = *retry_in_ms, "entry held back by the venue's rate limit; waiting");
        throttle_waited += wait;
        tokio::time::sleep(wait).await;
    };
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    r.times.add(Step::Entry, started);
    let look_up = |lookup, sender| lost_then_resolve(&ctx, &r, OrderState::Sent, lookup, sender);
    let reject =
        |reason: &str| settle_failed(&ctx, &r, OrderState::Sent, OrderEvent::Reject, reason);
    let mut exec = match placed {
        Ok(Ok(fill)) => {
            let up = filled(&fill);
            record(&ctx, &coid, OrderState::Sent, OrderEvent::Fill, up);
            let mut exec = protect(&ctx, &r, fill.clone(), StopStart::FIRST).await;
            let pending = TrailingState::Pending;
            trailing::after_stop(&ctx, &r, &fill, &mut exec, pending, 0, false).await;
            exec
        }
        // Not an answer an entry gets (only closes); refused all the same.
        Ok(Err(ExchangeError::NoPosition)) => reject("no_position"),
        Ok(Err(ExchangeError::Rejected(reason) | ExchangeError::Unavailable(reason))) => {
            reject(&reason)
        }
        Ok(Err(ExchangeError::Throttled { detail, .. })) => {
            ctx.metrics.throttled(&ctx.config.exchange_name, "entry");
            warn!(%coid, %detail, "entry throttled by the venue; not sent");
            reject(THROTTLED)
        }
        Ok(Err(ExchangeError::Unknown(detail))) => {
            warn!(%coid, %detail, "entry outcome unknown; looking it up");
            look_up(Lookup::Unanswered, Sender::ThisRun).await
        }
        Ok(Err(ExchangeError::DuplicateId(detail))) => {
            // An earlier send under this id: never re-sent; its position may be gone or not
            // ours, so it gets a stop only after the ownership check.
            warn!(%coid, %detail, "exchange already holds this client order id; looking it up");
            look_up(Lookup::Exists, Sender::EarlierRun).await
        }
        Err(_) => {
            warn!(%coid, "entry timed out; looking it up");
            look_up(Lookup::Unanswered, Sender::ThisRun).await
        }
    };
    exec.outcome.exchange_latency_us = latency_us;
    // Only orders this run sent count: entry, then stop (or close) as the metric documents.
    ctx.metrics
        .order_latency(&ctx.config.exchange_name, started.elapsed());
    r.times.log(&coid, started_at);
    exec
}

/// The reason the wave stopped, once it has; never if its sender is gone without one.
async fn stopped(cancel: &mut watch::Receiver<Option<&'static str>>) -> &'static str {
    let reason = cancel.wait_for(Option::is_some).await.map(|r| *r);
    match reason {
        Ok(reason) => reason.unwrap_or("cancelled"),
        Err(_) => futures::future::pending().await,
    }
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

/// Queues the entry's settlement as failed with `reason` and returns that outcome.
fn settle_failed(
    ctx: &AgentCtx,
    r: &Report,
    from: OrderState,
    event: OrderEvent,
    reason: &str,
) -> Execution {
    let up = OrderUpdate {
        error: Some(reason.to_owned()),
        ..OrderUpdate::default()
    };
    record(ctx, &r.client_order_id, from, event, up);
    r.failed(reason)
}

/// Queues a state change; a failure is only logged (a later run resolves the row by lookup).
fn record(ctx: &AgentCtx, coid: &str, from: OrderState, event: OrderEvent, up: OrderUpdate) {
    if let Err(e) = ctx.journal.apply_later(coid, from, event, &up) {
        error!(%coid, error = %e, "journal update refused");
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

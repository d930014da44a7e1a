//! The trailing stop placed after a position's protective stop (wave params or the agent's
//! `[positions]`): activation `activation_percent` from the fill on the profit side, callback
//! `distance_percent`. Handled with the protective stop's care: each attempt (id tag `t`) is
//! journaled before it leaves, an unanswered one is looked up, and a later run looks up every
//! earlier id before placing one on the entry's own position (`recover`). One that cannot be
//! placed is reported `failed(<reason>)`: the protective stop stays, the position counts.

use std::time::Duration;

use tracing::{error, warn};

use super::lifecycle::{AfterSend, OwnStep, Protective, after_holder, after_send};
use super::stop::answer_of;
use super::{ExecStatus, Execution, MAX_DERIVED_IDS, Report, derived_id};
use crate::context::AgentCtx;
use crate::exchange::money::{NotMoney, decimal, percent_of};
use crate::exchange::{Fill, OrderReport, Side, TrailingStopOrder};
use crate::journal::{TrailingEvent, TrailingState};
use crate::protocol::Trailing;

/// The `trailing` of an outcome whose trailing stop is in place.
pub const PLACED: &str = "placed";
/// The `trailing` of an outcome without one asked for (or without a protective stop).
pub const OFF: &str = "off";

/// The trailing stop for a position filled at `fill`; an error when the wire's percents
/// are not decimal numbers.
pub fn order(
    coid: &str,
    symbol: &str,
    side: Side,
    fill: &Fill,
    t: Trailing,
    attempt: u32,
) -> Result<TrailingStopOrder, NotMoney> {
    let away = percent_of(
        fill.price,
        decimal(t.activation_percent, "activation_percent")?,
    );
    let activation_price = match side {
        Side::Long => fill.price + away,
        Side::Short => fill.price - away,
    };
    Ok(TrailingStopOrder {
        client_order_id: derived_id(coid, 't', attempt),
        symbol: symbol.to_owned(),
        side,
        quantity: fill.quantity,
        activation_price,
        callback_percent: decimal(t.distance_percent, "distance_percent")?,
    })
}

/// The outcome's `trailing` for a journaled step.
pub fn reported(state: TrailingState, error: Option<&str>) -> String {
    match state {
        TrailingState::Placed => PLACED.to_owned(),
        TrailingState::Failed => format!("failed({})", error.unwrap_or("not_placed")),
        _ => OFF.to_owned(),
    }
}

/// Sets `exec`'s `trailing` when `r` asks for one and the position is behind its stop (else
/// `off`), from journal step `state` and `attempt` on; `recovered`: through [`recover`].
pub(super) async fn after_stop(
    ctx: &AgentCtx,
    r: &Report,
    fill: &Fill,
    exec: &mut Execution,
    state: TrailingState,
    attempt: u32,
    recovered: bool,
) {
    let protected = exec.status == ExecStatus::Executed && exec.outcome.error.is_empty();
    exec.outcome.trailing = match r.trailing {
        Some(_) if recovered && protected && !state.is_final() => {
            recover(ctx, r, fill, state, attempt).await
        }
        Some(t) if protected && !state.is_final() => place(ctx, r, fill, t, state, attempt).await,
        _ => OFF.to_owned(),
    };
    if exec.outcome.trailing != OFF {
        let placed = exec.outcome.trailing == PLACED;
        ctx.metrics.trailing_stop(&ctx.config.exchange_name, placed);
    }
}

/// Places the trailing stop with the stop's retry budget, attempts `attempt..`, from journal
/// step `state` (`pending` or `sending`); returns the outcome's `trailing`.
async fn place(
    ctx: &AgentCtx,
    r: &Report,
    fill: &Fill,
    t: Trailing,
    mut state: TrailingState,
    first: u32,
) -> String {
    let coid = &r.client_order_id;
    let timeout = Duration::from_millis(ctx.config.order_timeout_ms);
    let retries = ctx.config.stop_retries.max(1);
    let mut last = String::from("not_placed");
    let end = first.saturating_add(retries).min(MAX_DERIVED_IDS);
    for attempt in first..end {
        ctx.limiter.acquire().await;
        let o = match order(coid, &r.symbol, r.side, fill, t, attempt) {
            Ok(o) => o,
            Err(e) => {
                warn!(%coid, error = %e, "trailing stop not computed");
                return done(ctx, r, state, TrailingEvent::Fail, Some(&e.to_string()));
            }
        };
        // Never sent unjournaled: a later run must know every id it may have to look up.
        state = match ctx.journal.trailing_step(coid, state, attempt).await {
            Ok(to) => to,
            Err(e) => {
                error!(%coid, attempt, error = %e, "trailing step not journaled; not sent");
                return "failed(journal_unavailable)".to_owned();
            }
        };
        let id = o.client_order_id.clone();
        let sent = tokio::time::timeout(timeout, ctx.exchange.place_trailing_stop(o)).await;
        let (answer, detail, retry_in_ms) = answer_of(&sent);
        match after_send(Protective::Trailing, answer) {
            AfterSend::Done => return done(ctx, r, state, TrailingEvent::Place, None),
            AfterSend::GiveUp => {
                warn!(%coid, attempt, error = %detail, "trailing stop rejected");
                return done(ctx, r, state, TrailingEvent::Fail, Some(&detail));
            }
            AfterSend::CoolDownThenNext | AfterSend::CoolDownThenSame => {
                warn!(%coid, attempt, retry_in_ms, "trailing stop throttled");
                tokio::time::sleep(Duration::from_millis(retry_in_ms)).await;
            }
            AfterSend::NextAttempt => {
                warn!(%coid, attempt, error = %detail, "trailing stop not sent")
            }
            AfterSend::LookUp => {
                if in_place(ctx, &r.symbol, &id).await == Some(true) {
                    return done(ctx, r, state, TrailingEvent::Place, None);
                }
            }
        }
        last = detail;
    }
    done(ctx, r, state, TrailingEvent::Fail, Some(&last))
}

/// Queues the step's outcome and returns the outcome's `trailing`.
fn done(
    ctx: &AgentCtx,
    r: &Report,
    from: TrailingState,
    event: TrailingEvent,
    error: Option<&str>,
) -> String {
    let coid = &r.client_order_id;
    let to = match ctx.journal.trailing_step_later(coid, from, event, error) {
        Ok(to) => to,
        Err(e) => {
            error!(%coid, error = %e, "trailing outcome refused");
            from.transition(event).unwrap_or(from)
        }
    };
    reported(to, error)
}

/// Whether a trailing stop sent under `id` is in place; `None` when the venue cannot say.
async fn in_place(ctx: &AgentCtx, symbol: &str, id: &str) -> Option<bool> {
    let found = ctx
        .exchange
        .lookup_trailing_stop(symbol.to_owned(), id.to_owned());
    match found.await {
        Ok(Some(OrderReport::Open | OrderReport::Filled(_))) => Some(true),
        Ok(_) => Some(false),
        Err(e) => {
            warn!(%id, error = %e, "trailing stop lookup failed");
            None
        }
    }
}

/// Finishes an earlier run's trailing step: an earlier id in place settles it `placed`;
/// otherwise it is placed under the next ids only on the entry's own position (`holder`, under
/// the caller's symbol lock), else `dropped`. If the venue cannot say, nothing is sent.
pub(super) async fn recover(
    ctx: &AgentCtx,
    r: &Report,
    fill: &Fill,
    state: TrailingState,
    attempt: u32,
) -> String {
    let Some(t) = r.trailing else {
        return OFF.to_owned();
    };
    let coid = &r.client_order_id;
    let sent = match state {
        TrailingState::Sending => attempt.saturating_add(1).min(MAX_DERIVED_IDS),
        _ => 0,
    };
    for a in 0..sent {
        match in_place(ctx, &r.symbol, &derived_id(coid, 't', a)).await {
            Some(true) => return done(ctx, r, state, TrailingEvent::Place, None),
            Some(false) => {}
            // Unknown: placing another could double it; left for a later run.
            None => return "failed(lookup_unavailable)".to_owned(),
        }
    }
    match after_holder(super::recover::holder(ctx, r, fill).await) {
        OwnStep::Protect => place(ctx, r, fill, t, state, sent).await,
        OwnStep::LeaveAlone => done(ctx, r, state, TrailingEvent::Drop, None),
        OwnStep::HoldSlot => "failed(position_unavailable)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_on_the_profit_side() {
        let d = |s: &str| s.parse::<crate::exchange::Decimal>().unwrap();
        let fill = Fill {
            exchange_order_id: String::new(),
            price: d("100"),
            quantity: d("2"),
        };
        let t = Trailing {
            activation_percent: 2.0,
            distance_percent: 0.5,
        };
        let long = order("wg-abc", "BTCUSDT", Side::Long, &fill, t, 0).unwrap();
        assert_eq!(long.activation_price, d("102"));
        assert_eq!(long.callback_percent, d("0.5"));
        assert_eq!(long.quantity, d("2"));
        let short = order("wg-abc", "BTCUSDT", Side::Short, &fill, t, 1).unwrap();
        assert_eq!(short.activation_price, d("98"));
        assert_ne!(long.client_order_id, short.client_order_id);
    }
}

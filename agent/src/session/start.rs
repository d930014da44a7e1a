//! A stream's start: `Start` checked, a journaled result replayed, priors settled, reads.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use tonic::Status;
use tracing::{Span, debug, error, info, warn};
use wavegate_common::backoff::Doubling;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agent_msg::Msg as Out;
use wavegate_common::proto::v1::coordinator_msg::Msg as In;

use super::prior::Priors;
use super::stamps::WaveStamps;
use super::{Outbound, Session, account, flush_journal};
use crate::context::AgentCtx;
use crate::error::{ProtocolError, SessionError};
use crate::exchange::ExchangeError;
use crate::protocol;

/// Runs one stream to its end; `arrived`: when its handler was called.
pub async fn run<S>(ctx: Arc<AgentCtx>, mut inbound: S, mut out: Outbound, arrived: DateTime<Utc>)
where
    S: Stream<Item = Result<pb::CoordinatorMsg, Status>> + Unpin + Send,
{
    let mut shutdown = ctx.shutdown.clone();
    let first = tokio::select! {
        m = inbound.next() => m,
        // An agent shutting down does not wait for a Start that may never come.
        _ = shutdown.wait_for(|s| *s) => return,
    };
    let first = match first {
        Some(Ok(m)) => m,
        Some(Err(status)) => {
            debug!(%status, "stream failed before Start");
            return;
        }
        None => return,
    };
    let Some(In::Start(start)) = first.msg else {
        return out.fail(&ProtocolError::FirstNotStart);
    };
    let start = match protocol::check_start(&start, &ctx.config) {
        Ok(s) => s,
        Err(e) => return out.fail(&e),
    };
    Span::current().record("wave_id", start.wave_id.as_str());
    // Settle what an earlier run left open first; no trading on a journal that cannot be written.
    if ctx.journal.faulted()
        && let Err(e) = ctx.journal.probe().await
    {
        error!(wave_id = %start.wave_id, error = %e, "journal cannot be written; wave refused");
        return out.fail(&SessionError::JournalUnwritable(e.to_string()));
    }
    ctx.reprotect.sweep_if_needed(&ctx).await;
    // A re-sent wave waits for a run still in progress, then replays its journaled result.
    let _wave_lock = ctx.wave_locks.lock(&start.wave_id).await;
    // Both reads at once (they delay the first order); a wave new to the journal skips them.
    let (stored, prior) = if ctx.journal.knows_wave(&start.wave_id) {
        tokio::join!(
            ctx.journal.load_result(&start.wave_id),
            ctx.journal.wave_orders(&start.wave_id)
        )
    } else {
        (Ok(None), Ok(Vec::new()))
    };
    let prior = match (stored, prior) {
        (Ok(Some(result)), _) => return replay(&mut out, result),
        (Ok(None), Ok(rows)) => rows,
        (Err(e), _) | (_, Err(e)) => {
            error!(wave_id = %start.wave_id, error = %e, "journal unavailable");
            return out.fail(&SessionError::Journal(e));
        }
    };
    let resumed = prior.len();
    // Before launching or reading positions: settling may close one it cannot protect.
    let priors = if prior.is_empty() {
        Priors::default()
    } else {
        Priors::settle(&ctx, &start, prior).await
    };
    // At once: on a venue each read is a round trip (or two) before the first order.
    let read = match tokio::join!(
        retried("open positions", || ctx.exchange.open_positions()),
        account::read_account(&ctx)
    ) {
        (Ok(open), Ok(account)) => Ok((open, account)),
        (Err(e), _) => Err(("open positions", e)),
        (_, Err(e)) => Err(("account", e)),
    };
    let (open, account) = match read {
        Ok(r) => r,
        Err((what, e)) => {
            // The journaled rows are settled (above); commit what that queued before refusing.
            flush_journal(&ctx, &start.wave_id).await;
            error!(wave_id = %start.wave_id, error = %e, "{what} unavailable; wave refused");
            return out.fail(&SessionError::Exchange(e.to_string()));
        }
    };
    info!(wave_id = %start.wave_id, max_trades = start.max_trades, resumed, "wave started");
    let stamps = WaveStamps {
        arrived,
        started: Utc::now(),
    };
    Session::new(ctx, start, priors, open, account, stamps)
        .drive(&mut inbound, &mut out)
        .await;
}

/// Reads at a wave's start (open positions, account) before it is refused.
const READ_ATTEMPTS: u32 = 4;
/// First pause between those reads (doubles each time: 0.1 + 0.2 + 0.4 s).
const READ_BACKOFF: Duration = Duration::from_millis(100);

/// Reads `what`, once more after a short pause on failure: one blip must not cost the wave.
pub(super) async fn retried<T, F>(what: &str, read: impl Fn() -> F) -> Result<T, ExchangeError>
where
    F: Future<Output = Result<T, ExchangeError>>,
{
    let mut pauses = Doubling::uncapped(READ_BACKOFF);
    let mut attempt = 1;
    loop {
        match read().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt >= READ_ATTEMPTS => return Err(e),
            Err(e) => warn!(attempt, error = %e, "{what} unavailable; retrying"),
        }
        tokio::time::sleep(pauses.next_delay()).await;
        attempt += 1;
    }
}

/// Sends a journaled result again: its outcomes, then the result with `from_journal`.
fn replay(out: &mut Outbound, mut result: pb::Result) {
    for o in &result.outcomes {
        out.send(Out::Outcome(o.clone()));
    }
    result.from_journal = true;
    out.send(Out::Result(result));
}

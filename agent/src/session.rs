//! One `ExecuteWave` run: validates batches, asks for top-ups and drives the [`Walk`], streaming
//! every outcome. A single task; verdicts stay in rank order ([`VerdictFilter`]) while validated
//! signals execute at once (pipelining, docs/design.md §1). It outlives its stream: without a
//! coordinator it finishes with what it holds and journals the `Result` for a re-send. An
//! unanswered top-up counts as a lost coordinator; a missing buffer ends the session with
//! `DEADLINE_EXCEEDED`, nothing journaled, the wave's lock released. Orders of an earlier run
//! are settled first (`session/prior.rs`); while any order is unresolved the `Result` is sent
//! but not journaled, so a re-sent wave settles it. The protocol is the pure
//! [`SessionProtocol`]; this task does the I/O and carries out its [`Action`]s.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, FuturesUnordered};
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::watch;
use tonic::Status;
use tracing::{Instrument as _, Span, debug, error, info, warn};
use wavegate_common::plan::{TopUpAsk, TopUpPlanner};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agent_msg::Msg as Out;
use wavegate_common::session::{Action, Ending, Event, SessionProtocol};
use wavegate_common::signal::Signal;
use wavegate_common::stats::Tally;
use wavegate_common::validate::{Verdict, VerdictFilter};
use wavegate_common::walk::{Next, Walk};

use crate::context::AgentCtx;
use crate::error::SessionError;
use crate::exchange::{AccountState, ExchangeError};
use crate::execute::{ExecStatus, Execution, OrderJob, execute};
use crate::protocol::WaveStart;
use crate::spans::{self, BatchSpan, TopupSpan};
use crate::validate::limits::AccountLimits;
use crate::validate::sizing::Sized;

mod account;
mod inbound;
mod outbound;
mod prior;
mod stamps;
mod start;

pub use outbound::Outbound;
use prior::Priors;
use stamps::WaveStamps;
pub use start::run;

/// One signal of the wave.
struct Entry {
    signal: Signal,
    round: u32,
    outcome: Option<pb::SignalOutcome>,
    /// Order size in USD, settled at validation.
    notional: crate::exchange::Decimal,
}

/// A rule check's result: the order's size and the symbol's bracket cap when it passed.
type CheckFuture = BoxFuture<'static, (usize, Result<Sized, ExchangeError>)>;
/// An order's (or a journaled order's, settled once its signal came) `(index, execution)`.
type OrderFuture = BoxFuture<'static, (usize, Execution)>;

struct Session {
    ctx: Arc<AgentCtx>,
    start: WaveStart,
    entries: Vec<Entry>,
    candidates: Vec<usize>,
    walk: Walk,
    /// Where the protocol with the coordinator stands; plans the top-ups.
    proto: SessionProtocol,
    tally: Tally,
    filter: VerdictFilter,
    /// The account's limits, taken by each validated signal in rank order.
    limits: AccountLimits,
    /// Orders journaled by an earlier run of the wave, settled before the walk started.
    priors: Priors,
    /// `max_trades` of the wave's first run, journaled with every order.
    wave_target: u32,
    /// Orders left unknown or without a stop: they hold their slot and keep the `Result` out.
    unresolved: u32,
    seen_ids: HashSet<i64>,
    checks: FuturesOrdered<CheckFuture>,
    orders: FuturesUnordered<OrderFuture>,
    prior_jobs: FuturesUnordered<OrderFuture>,
    /// When the top-up request is given up on; runs while [`SessionProtocol::topup_timer_armed`].
    topup_deadline: Option<tokio::time::Instant>,
    /// Set when the wave stops: orders not sent yet are dropped ([`OrderJob::cancel`]).
    cancel: watch::Sender<Option<&'static str>>,
    /// The stream's `execute_wave` span, parent of the spans below.
    wave_span: Span,
    /// `validate_batch` of the batch whose verdicts are awaited.
    batch_span: Option<BatchSpan>,
    /// `topup` of the request awaiting the coordinator's answer.
    topup_span: Option<TopupSpan>,
    /// The stream's arrival and the session's start, logged with the `Result`.
    stamps: WaveStamps,
}

impl Session {
    fn new(
        ctx: Arc<AgentCtx>,
        start: WaveStart,
        priors: Priors,
        open: Vec<String>,
        account: AccountState,
        stamps: WaveStamps,
    ) -> Self {
        let limits = AccountLimits::new(
            &ctx.config.limits,
            start.leverage.leverage,
            open.len(),
            account,
        );
        // A re-sent wave keeps its first target; journaled orders' slots are taken first.
        let wave_target = priors.first_target().unwrap_or(start.max_trades);
        let target = start.max_trades.min(wave_target);
        let walk_target = target.saturating_sub(priors.held());
        // This wave's journaled positions are not duplicates; their symbols are taken.
        let own: HashSet<&str> = priors.symbols().collect();
        let mut filter = VerdictFilter::new(open.into_iter().filter(|s| !own.contains(s.as_str())));
        for symbol in priors.symbols() {
            filter.verdict(symbol, Ok(()));
        }
        let mut tally = Tally::new(
            start.exchange_id,
            &start.exchange_name,
            start.total_signals,
            target,
            start.buffer_size,
            start.params_source,
        );
        for e in priors.settled() {
            tally.execution(e.executed());
        }
        // Journaled orders count as successes when their signals come again, so a resumed run
        // asks the first run's top-up and walks on to the target (docs/design.md §1 step 4).
        let planner = TopUpPlanner::new(
            target,
            start.buffer_size,
            start.total_signals,
            start.max_topup_rounds,
        );
        Self {
            limits,
            walk: Walk::new(walk_target, start.mode),
            priors,
            wave_target,
            unresolved: 0,
            proto: SessionProtocol::new(start.buffer_size.min(start.total_signals), planner),
            prior_jobs: FuturesUnordered::new(),
            ctx,
            start,
            entries: Vec::new(),
            candidates: Vec::new(),
            tally,
            filter,
            seen_ids: HashSet::new(),
            checks: FuturesOrdered::new(),
            orders: FuturesUnordered::new(),
            topup_deadline: None,
            cancel: watch::Sender::new(None),
            wave_span: Span::current(),
            batch_span: None,
            topup_span: None,
            stamps,
        }
    }

    async fn drive<S>(mut self, inbound: &mut S, out: &mut Outbound)
    where
        S: Stream<Item = Result<pb::CoordinatorMsg, Status>> + Unpin + Send,
    {
        let mut shutdown = self.ctx.shutdown.clone();
        let mut shutdown_seen = *shutdown.borrow();
        if shutdown_seen {
            self.on(Event::Shutdown, out);
        }
        let deadline = self.start.deadline.map(|d| {
            let left = (d - Utc::now()).to_std().unwrap_or_default();
            tokio::time::Instant::now() + left
        });
        // The buffer must come within `topup_timeout_ms`, else the lock is released.
        let buffer_deadline = Some(
            tokio::time::Instant::now() + Duration::from_millis(self.ctx.config.topup_timeout_ms),
        );
        loop {
            self.launch(out);
            if self.proto.ending().is_some() && self.orders.is_empty() && self.prior_jobs.is_empty()
            {
                break;
            }
            let inbound_open = self.proto.inbound_open();
            let deadline_armed = deadline.is_some() && self.proto.deadline_armed();
            let buffer_armed = self.proto.buffer_timer_armed();
            let topup_armed = self.proto.topup_timer_armed();
            tokio::select! {
                // Stops first, before a settlement at the same moment launches another order.
                biased;
                msg = inbound.next(), if inbound_open => self.on_message(msg, out),
                () = sleep_until(deadline), if deadline_armed => self.on(Event::Deadline, out),
                changed = shutdown.changed(), if !shutdown_seen => {
                    shutdown_seen = true;
                    if changed.is_ok() {
                        // Orders in flight settle; nothing more is sent.
                        self.on(Event::Shutdown, out);
                    }
                }
                () = sleep_until(buffer_deadline), if buffer_armed => self.buffer_timeout(out),
                () = sleep_until(self.topup_deadline), if topup_armed => self.topup_timeout(out),
                Some((c, exec)) = self.orders.next(), if !self.orders.is_empty() => {
                    self.settled(c, exec, out);
                }
                Some((i, check)) = self.checks.next(), if !self.checks.is_empty() => {
                    self.verdict(i, check, out);
                }
                Some((i, exec)) = self.prior_jobs.next(), if !self.prior_jobs.is_empty() => {
                    self.prior_settled(i, exec, out);
                }
            }
        }
        self.finish(out).await;
    }

    /// Feeds one event to the protocol and carries out its actions.
    fn on(&mut self, event: Event, out: &mut Outbound) {
        let actions = self.proto.on(event);
        self.apply(actions, out);
    }

    fn apply(&mut self, actions: Vec<Action>, out: &mut Outbound) {
        for action in actions {
            match action {
                Action::RequestTopUp(ask) => self.ask_topup(ask, out),
                Action::EndTopUp { answer, received } => {
                    if let Some(t) = self.topup_span.take() {
                        t.finish(answer, received as usize);
                    }
                }
                Action::CloseWalk => self.walk.close(),
                Action::ReopenWalk => self.walk.reopen(),
                Action::CancelWalk => self.walk.cancel(),
                Action::Stop(reason) => {
                    self.cancel.send_replace(Some(reason.as_str()));
                    self.tally.error(reason.as_str());
                }
                Action::DropChecks => {
                    self.checks = FuturesOrdered::new();
                    self.batch_span = None;
                }
                Action::FailNoBuffer => out.fail(&SessionError::NoBuffer {
                    timeout_ms: self.ctx.config.topup_timeout_ms,
                }),
                Action::Finish(ending) => {
                    debug!(wave_id = %self.start.wave_id, ?ending, "session ending");
                }
            }
        }
    }

    /// Launches what the walk allows; tells the protocol when the walk is done.
    fn launch(&mut self, out: &mut Outbound) {
        if self.proto.ending().is_some() {
            return;
        }
        loop {
            if self.proto.stopped().is_none()
                && self.start.deadline.is_some_and(|d| Utc::now() >= d)
            {
                self.on(Event::Deadline, out);
            }
            // An order must be journaled before it is sent: a failing journal stops the walk.
            if self.proto.stopped().is_none() && self.ctx.journal.faulted() {
                self.on(Event::JournalFaulted, out);
            }
            match self.walk.next_action() {
                Next::Launch(c) => self.launch_one(c),
                Next::Wait => return,
                Next::Done => {
                    // Opt-in (Start.topup_after_failures): the walk ran out short of the target.
                    let short = (self.start.topup_after_failures
                        && self.walk.executed() < self.walk.target())
                    .then(|| self.walk.potential().saturating_add(self.priors.held()));
                    let actions = self.proto.on(Event::WalkDone {
                        checks_pending: !self.checks.is_empty(),
                        short,
                    });
                    let asked = actions.iter().any(|a| matches!(a, Action::RequestTopUp(_)));
                    self.apply(actions, out);
                    if !asked {
                        return;
                    }
                }
            }
        }
    }

    fn launch_one(&mut self, c: usize) {
        let e = &self.entries[self.candidates[c]];
        let job = OrderJob {
            wave_id: self.start.wave_id.clone(),
            exchange_id: self.start.exchange_id,
            signal: e.signal.clone(),
            index: u32::try_from(self.candidates[c]).unwrap_or(u32::MAX),
            round: e.round,
            wave_target: self.wave_target,
            deadline: self.start.deadline,
            stop_loss_percent: self.start.stop_loss_percent,
            cancel: self.cancel.subscribe(),
            notional: e.notional,
            trailing: self.start.trailing,
            leverage: self.start.leverage,
        };
        let ctx = self.ctx.clone();
        let span = spans::place_order(&self.wave_span, &job);
        let recorded = span.clone();
        self.orders.push(
            execute(ctx, job)
                .map(move |exec| {
                    spans::record_execution(&recorded, &exec);
                    (c, exec)
                })
                .instrument(span)
                .boxed(),
        );
    }

    /// Sends a top-up request and arms its timer.
    fn ask_topup(&mut self, ask: TopUpAsk, out: &mut Outbound) {
        debug!(wave_id = %self.start.wave_id, needed = ask.needed, round = ask.round, "top-up");
        self.tally.topup_round();
        self.topup_deadline = Some(
            tokio::time::Instant::now() + Duration::from_millis(self.ctx.config.topup_timeout_ms),
        );
        self.topup_span = Some(TopupSpan::start(&self.wave_span, &ask));
        out.send(Out::Topup(pb::TopUpRequest {
            needed: ask.needed,
            round: ask.round,
            count: ask.count,
        }));
    }

    fn settled(&mut self, c: usize, exec: Execution, out: &mut Outbound) {
        if let Err(e) = self.walk.settle(c, exec.executed()) {
            // Invariant: only launched candidates come back, once each.
            error!(error = %e, "walk refused a settlement");
            return;
        }
        let round = self.candidates.get(c).map_or(0, |&i| self.entries[i].round);
        if matches!(exec.status, ExecStatus::Failed | ExecStatus::Duplicate) {
            let notional = self.candidates.get(c).map(|&i| self.entries[i].notional);
            self.give_back(notional.unwrap_or(self.start.notional));
        }
        match exec.status {
            // Opened by another wave since validation: recounted as a duplicate.
            ExecStatus::Duplicate => self.tally.success_turned_duplicate(round),
            ExecStatus::Unresolved | ExecStatus::Unprotected => {
                self.unresolved += 1;
                self.tally.execution(true);
            }
            ExecStatus::Executed | ExecStatus::Failed => self.tally.execution(exec.executed()),
        }
        out.send(Out::Outcome(exec.outcome.clone()));
        if let Some(&i) = self.candidates.get(c) {
            self.entries[i].outcome = Some(exec.outcome);
        }
    }

    fn verdict(&mut self, i: usize, check: Result<Sized, ExchangeError>, out: &mut Outbound) {
        if self.priors.contains(self.entries[i].signal.id()) {
            self.prior_verdict(i, out);
        } else {
            self.rule_verdict(i, check, out);
        }
        if self.checks.is_empty() {
            if let Some(b) = self.batch_span.take() {
                b.finish();
            }
            // All verdicts of the batch are in: the protocol asks for a top-up or closes the walk.
            let have = u32::try_from(self.candidates.len())
                .unwrap_or(u32::MAX)
                .saturating_add(self.priors.placed_held());
            self.on(Event::BatchValidated { have }, out);
        }
    }

    /// Counts verdict `v` on entry `i` and streams its validation-stage outcome.
    fn record_verdict(&mut self, i: usize, v: &Verdict, out: &mut Outbound) {
        self.tally.verdict(self.entries[i].round, v);
        self.ctx
            .metrics
            .validation_verdict(&self.ctx.config.exchange_name, v);
        if let Some(b) = &mut self.batch_span {
            b.verdict(v);
        }
        let (kind, error) = match v {
            Verdict::Successful => (pb::OutcomeKind::Validated, String::new()),
            Verdict::Failed(r) => (pb::OutcomeKind::ValidationFailed, r.clone()),
            Verdict::Skipped(d) => (pb::OutcomeKind::Duplicate, d.as_str().to_owned()),
        };
        let e = &self.entries[i];
        let outcome = pb::SignalOutcome {
            signal_id: e.signal.id(),
            index: u32::try_from(i).unwrap_or(u32::MAX),
            symbol: e.signal.symbol().to_owned(),
            stage: pb::Stage::Validation as i32,
            kind: kind as i32,
            error,
            round: e.round,
            ..Default::default()
        };
        out.send(Out::Outcome(outcome.clone()));
        self.entries[i].outcome = Some(outcome);
    }

    fn rule_verdict(&mut self, i: usize, check: Result<Sized, ExchangeError>, out: &mut Outbound) {
        let check = check.map_err(|e| match e {
            ExchangeError::Rejected(reason) => reason,
            ExchangeError::NoPosition => "no_position".to_owned(),
            ExchangeError::Throttled { .. } => crate::execute::THROTTLED.to_owned(),
            ExchangeError::Unknown(_)
            | ExchangeError::DuplicateId(_)
            | ExchangeError::Unavailable(_) => "exchange_unreachable".to_owned(),
        });
        if let Ok(sized) = &check {
            self.entries[i].notional = sized.notional;
        }
        let symbol = self.entries[i].signal.symbol().to_owned();
        let check = self.limits_check(&symbol, check);
        let v = self.filter.verdict(&symbol, check);
        self.record_verdict(i, &v, out);
        if v.is_successful() {
            self.candidates.push(i);
            self.walk.push_candidates(1);
        }
    }

    async fn finish(mut self, out: &mut Outbound) {
        let finished = Utc::now();
        let ending = self.proto.ending().unwrap_or(Ending::Complete);
        if ending != Ending::Complete {
            // No result behind the queued updates: commit them, so a shutdown loses none.
            flush_journal(&self.ctx, &self.start.wave_id).await;
            self.ctx.reprotect.mark_needed();
            info!(wave_id = %self.start.wave_id, ?ending, "wave ended without result");
            return;
        }
        let unplaced = self.unplaced_priors(out);
        let unresolved = self.priors.unresolved() + self.unresolved as usize;
        let mut outcomes: Vec<_> = std::mem::take(&mut self.entries)
            .into_iter()
            .filter_map(|e| e.outcome)
            .collect();
        outcomes.extend(unplaced);
        let result = pb::Result {
            wave_id: self.start.wave_id.clone(),
            stats: Some(self.tally.finish().to_proto()),
            outcomes,
            from_journal: false,
        };
        if unresolved > 0 {
            // A stored result would be replayed and the order never settled: store none.
            warn!(wave_id = %self.start.wave_id, unresolved,
                  "orders still unresolved or unprotected; result not journaled");
            self.ctx.reprotect.mark_needed();
            flush_journal(&self.ctx, &self.start.wave_id).await;
        } else if let Err(e) = self
            .ctx
            .journal
            .save_result(&self.start.wave_id, &result)
            .await
        {
            error!(wave_id = %self.start.wave_id, error = %e, "result not journaled");
        }
        if let Some(s) = &result.stats {
            info!(wave_id = %result.wave_id, executed = s.executed, failed = s.execution_failed,
                  target = s.target, "wave completed");
        }
        self.stamps.log(&self.start.wave_id, finished);
        out.send(Out::Result(result));
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => futures::future::pending().await,
    }
}

/// Commits the orders' queued journal updates (no `Result` is stored behind them).
async fn flush_journal(ctx: &AgentCtx, wave_id: &str) {
    if let Err(e) = ctx.journal.flush().await {
        error!(wave_id = %wave_id, error = %e, "journal updates not committed");
    }
}

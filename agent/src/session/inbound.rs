//! A session's reactions to the coordinator: its messages (batches, `Exhausted`, `Cancel`), a
//! lost stream or an unanswered top-up, and the ways a wave stops early (deadline, cancel,
//! protocol error).

use futures::FutureExt;
use futures::stream::FuturesOrdered;
use tonic::Status;
use tracing::{Instrument as _, info, warn};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::coordinator_msg::Msg as In;

use super::{Ending, Entry, Outbound, Session};
use crate::error::{ProtocolError, SessionError};
use crate::exchange::ExchangeError;
use crate::execute::side_of;
use crate::protocol::{self, BatchExpect};
use crate::spans::{BatchSpan, TopupAnswer};
use crate::validate::filters::SymbolFilter;
use crate::validate::sizing::{Sized, size};

impl Session {
    pub(super) fn on_message(
        &mut self,
        msg: Option<Result<pb::CoordinatorMsg, Status>>,
        out: &mut Outbound,
    ) {
        let msg = match msg {
            Some(Ok(m)) => m,
            Some(Err(status)) => {
                info!(wave_id = %self.start.wave_id, %status, "coordinator stream failed");
                self.inbound_open = false;
                return self.lose_coordinator();
            }
            None => {
                self.inbound_open = false;
                return self.lose_coordinator();
            }
        };
        let r = match msg.msg {
            Some(In::Batch(b)) => self.on_batch(&b),
            Some(In::Exhausted(x)) => self.on_exhausted(&x),
            Some(In::Cancel(c)) => {
                info!(wave_id = %self.start.wave_id, reason = %c.reason, "cancelled");
                self.stop("cancelled");
                Ok(())
            }
            Some(In::Start(_)) => Err(ProtocolError::StartAgain),
            None => Err(ProtocolError::Empty),
        };
        if let Err(e) = r {
            warn!(wave_id = %self.start.wave_id, error = %e, "protocol error");
            out.fail(&e);
            self.refuse();
        }
    }

    pub(super) fn on_batch(&mut self, b: &pb::SignalBatch) -> Result<(), ProtocolError> {
        if self.stopped.is_some() || (self.topup_timed_out && b.round > 0) {
            // A late answer to a top-up of a wave that stopped, or that was given up on:
            // nothing to do with it.
            return Ok(());
        }
        let signals = protocol::check_batch(
            b,
            BatchExpect {
                wave_id: &self.start.wave_id,
                exchange_id: self.start.exchange_id,
                awaiting: self.awaiting,
                received: u32::try_from(self.entries.len()).unwrap_or(u32::MAX),
                total_signals: self.start.total_signals,
                max_signals: self.requested,
            },
            &self.seen_ids,
        )?;
        self.awaiting = None;
        if b.round > 0 {
            self.planner
                .received(u32::try_from(signals.len()).unwrap_or(u32::MAX));
        }
        self.end_topup(TopupAnswer::Batch, signals.len());
        if signals.is_empty() {
            self.batch_done_now();
            return Ok(());
        }
        let batch = BatchSpan::start(&self.wave_span, b.round, signals.len());
        let notional = self.ctx.order_notional();
        let leverage = self.ctx.config.positions.leverage;
        let symbols = SymbolFilter::new(&self.ctx.config.symbols);
        for s in signals {
            self.seen_ids.insert(s.id());
            let i = self.entries.len();
            if self.priors.contains(s.id()) {
                // Journaled by an earlier run: never validated again (its verdict stands).
                let sized = Sized {
                    notional,
                    bracket: None,
                };
                self.checks
                    .push_back(futures::future::ready((i, Ok(sized))).boxed());
            } else if let Err(reason) = symbols.check(s.symbol()) {
                // Refused by the agent's own filter: the exchange is not asked.
                let refused = Err(ExchangeError::Rejected(reason.to_owned()));
                self.checks
                    .push_back(futures::future::ready((i, refused)).boxed());
            } else {
                let exchange = self.ctx.exchange.clone();
                let side = side_of(&s);
                let symbol = s.symbol().to_owned();
                let sizing = self.ctx.config.sizing.clone();
                self.checks.push_back(
                    async move {
                        let check =
                            size(&*exchange, &symbol, side, notional, &sizing, leverage).await;
                        (i, check)
                    }
                    .instrument(batch.span().clone())
                    .boxed(),
                );
            }
            self.entries.push(Entry {
                signal: s,
                round: b.round,
                outcome: None,
                notional,
            });
        }
        self.batch_span = Some(batch);
        Ok(())
    }

    /// Closes the `topup` span of the request being answered (or never to be).
    pub(super) fn end_topup(&mut self, answer: TopupAnswer, received: usize) {
        if let Some(t) = self.topup_span.take() {
            t.finish(answer, received);
        }
    }

    /// An empty batch: as if exhausted.
    pub(super) fn batch_done_now(&mut self) {
        self.planner.exhausted();
        self.walk.close();
    }

    pub(super) fn on_exhausted(&mut self, x: &pb::Exhausted) -> Result<(), ProtocolError> {
        if self.stopped.is_some() || (self.topup_timed_out && x.round > 0) {
            return Ok(());
        }
        protocol::check_wave_id("exhausted.wave_id", &x.wave_id, &self.start.wave_id)?;
        let awaiting = self.awaiting.filter(|r| *r > 0);
        protocol::check_round("exhausted.round", x.round, awaiting)?;
        self.awaiting = None;
        self.end_topup(TopupAnswer::Exhausted, 0);
        self.planner.exhausted();
        self.walk.close();
        Ok(())
    }

    /// The coordinator is gone (or the agent shuts down): finish with the signals held.
    pub(super) fn lose_coordinator(&mut self) {
        self.no_topups = true;
        self.end_topup(TopupAnswer::Lost, 0);
        match self.awaiting {
            Some(0) => {
                // Never got the buffer: nothing to execute and nothing to journal.
                self.ending = Some(Ending::Abandoned);
                self.walk.cancel();
            }
            Some(_) => {
                self.awaiting = None;
                self.planner.exhausted();
                if self.checks.is_empty() {
                    self.walk.close();
                }
            }
            None => {}
        }
    }

    /// The coordinator did not answer a top-up within `topup_timeout_ms`: as if it were lost
    /// (no more top-ups, finish with what is held), but its stream is still read, for a
    /// `Cancel`; the late answer is ignored.
    pub(super) fn topup_timeout(&mut self) {
        warn!(wave_id = %self.start.wave_id, round = ?self.awaiting,
              timeout_ms = self.ctx.config.topup_timeout_ms,
              "no answer to the top-up request; finishing with the signals held");
        self.topup_timed_out = true;
        self.end_topup(TopupAnswer::TimedOut, 0);
        self.lose_coordinator();
    }

    /// The buffer (round 0) did not come within `topup_timeout_ms` of the session's start, on
    /// a stream that stays open: end the session with `DEADLINE_EXCEEDED`. Nothing was
    /// validated or sent, so no result is journaled, and the wave's lock is released for a
    /// re-send (orders of an earlier run were settled at the start and are committed).
    pub(super) fn buffer_timeout(&mut self, out: &mut Outbound) {
        let timeout_ms = self.ctx.config.topup_timeout_ms;
        warn!(wave_id = %self.start.wave_id, timeout_ms,
              "no buffer (batch round 0) after Start; session ended without a result");
        out.fail(&SessionError::NoBuffer { timeout_ms });
        self.inbound_open = false;
        self.no_topups = true;
        self.awaiting = None;
        self.walk.cancel();
        self.ending = Some(Ending::Abandoned);
    }

    /// Deadline, cancel or shutdown: send nothing more. Orders already sent still settle;
    /// launched ones not sent yet end unsent (`cancelled`, a failed execution).
    pub(super) fn stop(&mut self, reason: &'static str) {
        if self.stopped.is_some() {
            return;
        }
        self.stopped = Some(reason);
        self.cancel.send_replace(Some(reason));
        self.no_topups = true;
        self.end_topup(TopupAnswer::Stopped, 0);
        self.tally.error(reason);
        self.walk.cancel();
        self.awaiting = None;
    }

    /// A protocol error ended the stream: drain in-flight orders, journal no result.
    pub(super) fn refuse(&mut self) {
        self.inbound_open = false;
        self.no_topups = true;
        self.walk.cancel();
        self.checks = FuturesOrdered::new();
        self.batch_span = None;
        self.end_topup(TopupAnswer::Stopped, 0);
        self.ending = Some(Ending::Refused);
    }
}

//! Reading the coordinator, fed to [`SessionProtocol`](wavegate_common::session::SessionProtocol).

use futures::FutureExt;
use tonic::Status;
use tracing::{Instrument as _, info, warn};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::coordinator_msg::Msg as In;
use wavegate_common::session::{Admit, Event};

use super::{Entry, Outbound, Session};
use crate::error::ProtocolError;
use crate::exchange::ExchangeError;
use crate::execute::side_of;
use crate::protocol::{self, BatchExpect};
use crate::spans::BatchSpan;
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
                return self.on(Event::StreamEnded, out);
            }
            None => return self.on(Event::StreamEnded, out),
        };
        let r = match msg.msg {
            Some(In::Batch(b)) => self.on_batch(&b, out),
            Some(In::Exhausted(x)) => self.on_exhausted(&x, out),
            Some(In::Cancel(c)) => {
                info!(wave_id = %self.start.wave_id, reason = %c.reason, "cancelled");
                self.on(Event::Cancel, out);
                Ok(())
            }
            Some(In::Start(_)) => Err(ProtocolError::StartAgain),
            None => Err(ProtocolError::Empty),
        };
        if let Err(e) = r {
            warn!(wave_id = %self.start.wave_id, error = %e, "protocol error");
            out.fail(&e);
            // Drain in-flight orders, journal no result.
            self.on(Event::ProtocolError, out);
        }
    }

    fn on_batch(&mut self, b: &pb::SignalBatch, out: &mut Outbound) -> Result<(), ProtocolError> {
        let Admit::Check {
            awaiting,
            max_signals,
        } = self.proto.admit(b.round)
        else {
            // A late answer to a stopped or given-up top-up: ignored.
            return Ok(());
        };
        let signals = protocol::check_batch(
            b,
            BatchExpect {
                wave_id: &self.start.wave_id,
                exchange_id: self.start.exchange_id,
                awaiting,
                received: u32::try_from(self.entries.len()).unwrap_or(u32::MAX),
                total_signals: self.start.total_signals,
                max_signals,
            },
            &self.seen_ids,
        )?;
        let len = u32::try_from(signals.len()).unwrap_or(u32::MAX);
        self.on(
            Event::BatchAccepted {
                round: b.round,
                len,
            },
            out,
        );
        if signals.is_empty() {
            return Ok(());
        }
        let batch = BatchSpan::start(&self.wave_span, b.round, signals.len());
        // The wave's params, else the agent's config (protocol::check_start).
        let notional = self.start.notional;
        let leverage = self.start.leverage.leverage;
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

    fn on_exhausted(&mut self, x: &pb::Exhausted, out: &mut Outbound) -> Result<(), ProtocolError> {
        let Admit::Check { awaiting, .. } = self.proto.admit(x.round) else {
            return Ok(());
        };
        protocol::check_wave_id("exhausted.wave_id", &x.wave_id, &self.start.wave_id)?;
        // Only a top-up can be answered with `Exhausted`, not the buffer.
        protocol::check_round("exhausted.round", x.round, awaiting.filter(|r| *r > 0))?;
        self.on(Event::ExhaustedAccepted, out);
        Ok(())
    }

    /// No top-up answer in time: as if the coordinator were lost, still reading for a `Cancel`.
    pub(super) fn topup_timeout(&mut self, out: &mut Outbound) {
        warn!(wave_id = %self.start.wave_id, phase = ?self.proto.phase(),
              timeout_ms = self.ctx.config.topup_timeout_ms,
              "no answer to the top-up request; finishing with the signals held");
        self.on(Event::TopUpTimeout, out);
    }

    /// No buffer in time: `DEADLINE_EXCEEDED`, nothing journaled, the lock released.
    pub(super) fn buffer_timeout(&mut self, out: &mut Outbound) {
        warn!(wave_id = %self.start.wave_id, timeout_ms = self.ctx.config.topup_timeout_ms,
              "no buffer (batch round 0) after Start; session ended without a result");
        self.on(Event::BufferTimeout, out);
    }
}

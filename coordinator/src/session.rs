//! One `ExecuteWave` stream (docs/design.md §1 steps 2 and 4, coordinator side), carrying the
//! `exchange` span's W3C context. A cancelled wave sends `Cancel`, answers later top-ups with
//! `Exhausted` and reads on to the agent's `Result`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::Span;
use wavegate_common::Signal;
use wavegate_common::plan::{next_batch, topup_count};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agent_msg::Msg as AgentMsg;
use wavegate_common::proto::v1::coordinator_msg::Msg as CoordMsg;
use wavegate_common::proto::v1::wave_event::Event;
use wavegate_common::stats::{ExchangeStats, ParamsSource, Tally};
use wavegate_common::telemetry::{Metrics, propagation};
use wavegate_common::time::to_proto;
use wavegate_common::validate::{Duplicate, Verdict};

use crate::agents::Agent;
use crate::cancel::CancelWatch;
use crate::config::DispatchConfig;
use crate::dispatch::stamps;
use crate::hub::Hub;
use crate::spans;
use crate::verify::{Mismatch, Sent};

/// Where outcomes go as they arrive: the Watch hub at once, the store in batches.
#[derive(Debug, Clone)]
pub struct OutcomeSink {
    /// Wave id.
    pub wave_id: String,
    /// Live events.
    pub hub: Hub,
    /// Batched writer (see `dispatch`).
    pub tx: mpsc::UnboundedSender<(u32, String, pb::SignalOutcome)>,
    /// Agent reachability gauge.
    pub metrics: Arc<Metrics>,
}

impl OutcomeSink {
    fn outcome(&self, exchange_id: u32, exchange_name: &str, o: pb::SignalOutcome) {
        self.hub.send(
            &self.wave_id,
            Event::Outcome(pb::ExchangeOutcome {
                exchange_id,
                outcome: Some(o.clone()),
            }),
        );
        // The completion writes every final outcome anyway: a send error loses nothing.
        let _ = self.tx.send((exchange_id, exchange_name.to_owned(), o));
    }
}

/// Latest outcome per signal and stage over all attempts, for when no `Result` comes.
#[derive(Debug, Default)]
pub struct Known {
    outcomes: BTreeMap<(i32, i64), pb::SignalOutcome>,
    topup_rounds: BTreeSet<u32>,
    /// When the first order result (an execution outcome) arrived, over every attempt.
    pub first_order_at: Option<DateTime<Utc>>,
    /// An attempt's stream opened: the agent may hold orders only its journal knows.
    pub taken: bool,
}

impl Known {
    fn outcome(&mut self, o: &pb::SignalOutcome) {
        let order = matches!(
            pb::OutcomeKind::try_from(o.kind),
            Ok(pb::OutcomeKind::Executed | pb::OutcomeKind::ExecutionFailed)
        );
        if order && self.first_order_at.is_none() {
            self.first_order_at = Some(Utc::now());
        }
        self.outcomes.insert((o.stage, o.signal_id), o.clone());
    }

    /// The exchange reported with `error` and each signal's latest outcome (else skipped).
    pub fn report(
        &self,
        p: &pb::ExchangeParams,
        total: u32,
        error: &str,
    ) -> (ExchangeStats, Vec<pb::SignalOutcome>) {
        if self.outcomes.is_empty() {
            let mut s = ExchangeStats::skipped(p.exchange_id, &p.exchange_name, total, error);
            s.target = p.max_trades;
            s.buffer_size = p.buffer_size;
            s.params_source = ParamsSource::from_proto(p.source);
            return (s, vec![]);
        }
        let outcomes = self.outcomes.values().cloned().collect();
        (self.stats(p, total, error), outcomes)
    }

    /// Statistics of the known outcomes, with `error`; signals without one are `skipped`.
    fn stats(&self, params: &pb::ExchangeParams, total: u32, error: &str) -> ExchangeStats {
        let mut tally = Tally::new(
            params.exchange_id,
            &params.exchange_name,
            total,
            params.max_trades,
            params.buffer_size,
            ParamsSource::from_proto(params.source),
        );
        for o in self.outcomes.values() {
            let kind = pb::OutcomeKind::try_from(o.kind).unwrap_or(pb::OutcomeKind::Unspecified);
            match kind {
                pb::OutcomeKind::Validated => tally.verdict(o.round, &Verdict::Successful),
                pb::OutcomeKind::ValidationFailed => {
                    tally.verdict(o.round, &Verdict::Failed(o.error.clone()));
                }
                // Found open at execution: recounted by the agent as a duplicate, not a success.
                pb::OutcomeKind::Duplicate if o.stage == pb::Stage::Execution as i32 => {
                    tally.success_turned_duplicate(o.round);
                }
                pb::OutcomeKind::Duplicate if o.error == Duplicate::InWave.as_str() => {
                    tally.verdict(o.round, &Verdict::Skipped(Duplicate::InWave));
                }
                pb::OutcomeKind::Duplicate => {
                    tally.verdict(o.round, &Verdict::Skipped(Duplicate::OpenPosition));
                }
                pb::OutcomeKind::Executed | pb::OutcomeKind::ExecutionFailed => {
                    tally.execution(o.executed);
                }
                pb::OutcomeKind::Unspecified => {}
            }
        }
        for _ in &self.topup_rounds {
            tally.topup_round();
        }
        tally.error(error);
        let mut stats = tally.finish();
        let seen: BTreeSet<i64> = self.outcomes.keys().map(|(_, id)| *id).collect();
        let seen = u32::try_from(seen.len()).unwrap_or(u32::MAX);
        stats.skipped = total.saturating_sub(seen);
        stats
    }
}

/// Everything one exchange's stream needs.
#[derive(Debug)]
pub struct ExchangeRun<'a> {
    /// Wave id.
    pub wave_id: &'a str,
    /// Wave timestamp.
    pub wave_timestamp: DateTime<Utc>,
    /// Effective params.
    pub params: &'a pb::ExchangeParams,
    /// The exchange's signals in rank order.
    pub signals: &'a [Signal],
    /// Nothing is sent to the exchange after this.
    pub deadline: DateTime<Utc>,
    /// Execution mode, top-up rounds and the progress timeout.
    pub cfg: &'a DispatchConfig,
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// Connection refused, dropped, or the stream ended early: retry.
    #[error("agent unavailable: {1}")]
    Unavailable(tonic::Code, String),
    /// The agent refused the wave (protocol or params): retrying cannot help.
    #[error("agent refused the wave: {1}")]
    Refused(tonic::Code, String),
    /// The agent reported something not sent (see `verify`): refused, a re-send would replay it.
    #[error("agent result refused: {0}")]
    Mismatch(#[from] Mismatch),
    /// The stream stayed open but the agent sent nothing for the progress timeout: retry.
    #[error("agent sent nothing for {0:?}")]
    Stalled(Duration),
}

impl AttemptError {
    /// The call's gRPC code (`Unavailable` when the stream broke off).
    pub fn code(&self) -> tonic::Code {
        match self {
            AttemptError::Unavailable(c, _) | AttemptError::Refused(c, _) => *c,
            AttemptError::Mismatch(_) => tonic::Code::Ok,
            AttemptError::Stalled(_) => tonic::Code::DeadlineExceeded,
        }
    }

    fn unavailable(msg: &str) -> Self {
        AttemptError::Unavailable(tonic::Code::Unavailable, msg.to_owned())
    }
}

fn from_status(s: &tonic::Status) -> AttemptError {
    let msg = format!("{:?}: {}", s.code(), s.message());
    match s.code() {
        tonic::Code::InvalidArgument
        | tonic::Code::FailedPrecondition
        | tonic::Code::Unimplemented
        | tonic::Code::PermissionDenied
        | tonic::Code::Unauthenticated => AttemptError::Refused(s.code(), msg),
        _ => AttemptError::Unavailable(s.code(), msg),
    }
}

fn to_agent(msg: CoordMsg) -> pb::CoordinatorMsg {
    pb::CoordinatorMsg { msg: Some(msg) }
}

fn cancel_msg(reason: &str) -> pb::CoordinatorMsg {
    let reason = reason.to_owned();
    to_agent(CoordMsg::Cancel(pb::Cancel { reason }))
}

fn batch(run: &ExchangeRun<'_>, round: u32, range: std::ops::Range<usize>) -> pb::CoordinatorMsg {
    to_agent(CoordMsg::Batch(pb::SignalBatch {
        round,
        first_index: u32::try_from(range.start).unwrap_or(u32::MAX),
        signals: run.signals[range].iter().map(Signal::to_proto).collect(),
        wave_id: run.wave_id.to_owned(),
    }))
}

/// One attempt of the stream to its `Result`; outcomes also go to `known`; `Cancel` once fired.
pub async fn attempt(
    agent: &Agent,
    run: &ExchangeRun<'_>,
    cancel: &mut CancelWatch,
    sink: &OutcomeSink,
    known: &mut Known,
    span: &Span,
) -> Result<pb::Result, AttemptError> {
    let Some(mut client) = agent.client() else {
        return Err(AttemptError::unavailable("no agent endpoint configured"));
    };
    let total = run.signals.len();
    // An open stream with no message from the agent for this long is given up as hung.
    let progress_timeout = Duration::from_secs(run.cfg.progress_timeout_secs);
    let ex = run.params.exchange_id;
    let name = run.params.exchange_name.as_str();
    let sent_list = Sent::new(run.wave_id, run.params.max_trades, run.signals);
    let (tx, rx) = mpsc::channel::<pb::CoordinatorMsg>(16);
    let start = to_agent(CoordMsg::Start(pb::Start {
        protocol_version: wavegate_common::proto::PROTOCOL_VERSION,
        wave_id: run.wave_id.to_owned(),
        wave_timestamp: Some(to_proto(run.wave_timestamp)),
        params: Some(run.params.clone()),
        mode: run.cfg.execution_mode.to_proto() as i32,
        deadline: Some(to_proto(run.deadline)),
        total_signals: u32::try_from(total).unwrap_or(u32::MAX),
        max_topup_rounds: run.cfg.max_topup_rounds,
        topup_after_failures: run.cfg.topup_after_failures,
    }));
    let buffer = next_batch(0, run.params.buffer_size, total);
    let mut sent = buffer.end;
    // All fit the channel's capacity: queued before the call so they leave with the headers.
    let mut queued = tx.send(start).await.is_ok() && tx.send(batch(run, 0, buffer)).await.is_ok();
    // Cancelled already: the buffer still goes (answered from the journal), then Cancel.
    let early = cancel.reason();
    let mut cancelled = early.is_some();
    if let Some(reason) = early {
        queued = queued && tx.send(cancel_msg(&reason)).await.is_ok();
    }
    if !queued {
        return Err(AttemptError::unavailable("request stream closed"));
    }
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    // The call's CLIENT span becomes the remote parent of the agent's SERVER span.
    span.in_scope(|| propagation::inject(&mut request));
    // A stopped process may accept the connection and never answer: bounded like a message.
    stamps::exchange(run.wave_id, ex, stamps::Exchange::Call);
    let resp = tokio::time::timeout(progress_timeout, client.execute_wave(request))
        .await
        .map_err(|_| AttemptError::Stalled(progress_timeout))?
        .map_err(|s| from_status(&s))?;
    agent.mark_ok();
    known.taken = true;
    sink.metrics.agent_connected(name, true);
    let mut inbound = resp.into_inner();
    loop {
        let next = tokio::select! {
            m = tokio::time::timeout(progress_timeout, inbound.message()) => {
                m.map_err(|_| AttemptError::Stalled(progress_timeout))?
            }
            reason = cancel.cancelled(), if !cancelled => {
                cancelled = true;
                tracing::info!(parent: span, exchange_id = ex, %reason, "cancel sent to the agent");
                // A closed request stream shows up as the end of the inbound one: read on.
                let _ = tx.send(cancel_msg(&reason)).await;
                continue;
            }
        };
        let msg = match next {
            Ok(Some(m)) => m,
            Ok(None) => {
                return Err(AttemptError::unavailable("stream ended before the Result"));
            }
            Err(s) => return Err(from_status(&s)),
        };
        match msg.msg {
            Some(AgentMsg::Outcome(o)) => {
                // Checked before it is shown or stored anywhere.
                sent_list.outcome(&o)?;
                known.outcome(&o);
                sink.outcome(ex, name, o);
            }
            Some(AgentMsg::Topup(t)) => {
                known.topup_rounds.insert(t.round);
                // Sized here (docs/design.md §1 step 4), whatever the agent asked; `Exhausted`
                // past the rounds or once cancelled (a request may cross the Cancel).
                let needed = t.needed.min(run.params.max_trades);
                let range = if cancelled || t.round == 0 || t.round > run.cfg.max_topup_rounds {
                    sent..sent
                } else {
                    next_batch(sent, topup_count(needed), total)
                };
                let n = range.len();
                let _topup = spans::topup(span, t.needed, t.round, n);
                let reply = if range.is_empty() {
                    let wave_id = run.wave_id.to_owned();
                    to_agent(CoordMsg::Exhausted(pb::Exhausted {
                        round: t.round,
                        wave_id,
                    }))
                } else {
                    sent = range.end;
                    batch(run, t.round, range)
                };
                sink.hub.send(
                    run.wave_id,
                    Event::Topup(pb::TopUpEvent {
                        exchange_id: ex,
                        round: t.round,
                        needed: t.needed,
                        sent: u32::try_from(n).unwrap_or(u32::MAX),
                    }),
                );
                if tx.send(reply).await.is_err() {
                    return Err(AttemptError::unavailable("request stream closed"));
                }
            }
            Some(AgentMsg::Result(r)) => {
                stamps::exchange(run.wave_id, ex, stamps::Exchange::Result);
                sent_list.result(&r)?;
                agent.mark_ok();
                return Ok(r);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `executed` is set for an `Executed` outcome.
    fn outcome(id: i64, stage: pb::Stage, kind: pb::OutcomeKind) -> pb::SignalOutcome {
        pb::SignalOutcome {
            signal_id: id,
            stage: stage as i32,
            kind: kind as i32,
            executed: kind == pb::OutcomeKind::Executed,
            ..Default::default()
        }
    }

    #[test]
    fn a_signal_found_open_at_execution_leaves_the_successes_in_the_fallback_stats() {
        use pb::OutcomeKind::{Duplicate, Executed, Validated};
        use pb::Stage::{Execution, Validation};
        let mut known = Known::default();
        for id in 1..=3 {
            known.outcome(&outcome(id, Validation, Validated));
        }
        known.outcome(&outcome(1, Execution, Duplicate));
        known.outcome(&outcome(2, Execution, Executed));
        known.outcome(&outcome(3, Execution, Executed));
        let params = pb::ExchangeParams {
            exchange_id: 1,
            exchange_name: "binance".into(),
            max_trades: 2,
            buffer_size: 5,
            ..Default::default()
        };
        let s = known.stats(&params, 3, "agent_unavailable");
        assert_eq!(s.validated_successful, 2);
        assert_eq!(s.duplicates, 1);
        assert_eq!(s.total_for_execution, 2);
        assert_eq!(s.executed, 2);
        assert!(s.target_reached);
        assert!(!s.buffer_saved_us, "nothing validated was left over");
    }
}

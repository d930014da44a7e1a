//! Orders journaled by an earlier run of the wave. A re-sent wave's ranking, buffer or deadline
//! may differ, so its walk may never reach them: every journaled order is settled before the
//! session starts ([`Priors::settle`]; no new entry), its slot taken off the target, its signal
//! never validated nor sent again. A row without a stored side waits for its signal's batch.

use std::collections::BTreeMap;

use futures::FutureExt;
use tracing::{info, warn};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agent_msg::Msg as Out;
use wavegate_common::validate::Verdict;

use super::{Outbound, Session};
use crate::context::AgentCtx;
use crate::exchange::Side;
use crate::execute::{Execution, needs_side, settle_prior, side_of, unsettled};
use crate::journal::JournalOrder;
use crate::protocol::WaveStart;

/// One journaled order.
#[derive(Debug)]
struct Prior {
    row: JournalOrder,
    /// Its outcome; `None` while it waits for its signal (a row without its side).
    exec: Option<Execution>,
    /// Its signal came in a batch of this run: the entry carries its outcome.
    placed: bool,
}

/// Journaled orders by client order id: two ids of one signal are two orders, two slots.
#[derive(Debug, Default)]
pub(super) struct Priors {
    by_coid: BTreeMap<String, Prior>,
}

impl Priors {
    /// Settles every row at once, before the walk may launch anything.
    pub(super) async fn settle(ctx: &AgentCtx, start: &WaveStart, rows: Vec<JournalOrder>) -> Self {
        let settle = rows.into_iter().map(|row| async move {
            // A settled row needs no side (nothing is sent for it): any will do.
            let side = row
                .side
                .or_else(|| (!needs_side(&row)).then_some(Side::Long));
            let exec = match side {
                Some(side) => Some(
                    settle_prior(
                        ctx,
                        start.exchange_id,
                        row.clone(),
                        side,
                        start.stop_loss_percent,
                    )
                    .await,
                ),
                None => {
                    warn!(coid = %row.client_order_id, "journaled without its side: settled \
                          when its signal comes; holds its slot until then");
                    None
                }
            };
            let coid = row.client_order_id.clone();
            (
                coid,
                Prior {
                    row,
                    exec,
                    placed: false,
                },
            )
        });
        let by_coid: BTreeMap<String, Prior> = futures::future::join_all(settle)
            .await
            .into_iter()
            .collect();
        let priors = Self { by_coid };
        info!(wave_id = %start.wave_id, orders = priors.by_coid.len(), held = priors.held(),
              "orders of an earlier run settled");
        priors
    }

    /// True when `signal_id` has a journaled order.
    pub(super) fn contains(&self, signal_id: i64) -> bool {
        self.by_coid.values().any(|p| p.row.signal_id == signal_id)
    }

    /// Slots held: positions opened, and orders not known to have failed.
    pub(super) fn held(&self) -> u32 {
        self.holding(|_| true)
    }

    /// Slots of journaled orders whose signals came in this run: successes of their batches.
    pub(super) fn placed_held(&self) -> u32 {
        self.holding(|p| p.placed)
    }

    fn holding(&self, counted: impl Fn(&Prior) -> bool) -> u32 {
        let held = |p: &&Prior| counted(p) && p.exec.as_ref().is_none_or(Execution::executed);
        u32::try_from(self.by_coid.values().filter(held).count()).unwrap_or(u32::MAX)
    }

    /// `max_trades` of the wave's first run, if journaled.
    pub(super) fn first_target(&self) -> Option<u32> {
        self.by_coid.values().filter_map(|p| p.row.target).min()
    }

    /// Symbols of the journaled orders.
    pub(super) fn symbols(&self) -> impl Iterator<Item = &str> {
        self.by_coid.values().map(|p| p.row.symbol.as_str())
    }

    /// Outcomes known at the start (counted into the statistics then).
    pub(super) fn settled(&self) -> impl Iterator<Item = &Execution> {
        self.by_coid.values().filter_map(|p| p.exec.as_ref())
    }

    /// Orders still unknown or without a stop: while any, the `Result` is not journaled.
    pub(super) fn unresolved(&self) -> usize {
        self.by_coid
            .values()
            .filter(|p| p.exec.as_ref().is_none_or(Execution::leaves_wave_open))
            .count()
    }
}

impl Session {
    /// A signal with a journaled order: `Successful` (passed when sent), its journaled outcome.
    pub(super) fn prior_verdict(&mut self, i: usize, out: &mut Outbound) {
        self.record_verdict(i, &Verdict::Successful, out);
        let id = self.entries[i].signal.id();
        // The first journaled order takes its place; others join the never-came orders.
        let Some(p) = self
            .priors
            .by_coid
            .values_mut()
            .find(|p| p.row.signal_id == id && !p.placed)
        else {
            return;
        };
        p.placed = true;
        match p.exec.clone() {
            Some(exec) => self.place_prior_outcome(i, exec, out),
            None => {
                let ctx = self.ctx.clone();
                let row = p.row.clone();
                let side = side_of(&self.entries[i].signal);
                let (exchange_id, pct) = (self.start.exchange_id, self.start.stop_loss_percent);
                self.prior_jobs.push(
                    async move { (i, settle_prior(&ctx, exchange_id, row, side, pct).await) }
                        .boxed(),
                );
            }
        }
    }

    /// A journaled order that waited for its signal's side is settled.
    pub(super) fn prior_settled(&mut self, i: usize, exec: Execution, out: &mut Outbound) {
        self.tally.execution(exec.executed());
        if let Some(p) = self.priors.by_coid.get_mut(&exec.outcome.client_order_id) {
            p.exec = Some(exec.clone());
        }
        self.place_prior_outcome(i, exec, out);
    }

    /// Streams a journaled outcome at its signal's place in this run.
    fn place_prior_outcome(&mut self, i: usize, exec: Execution, out: &mut Outbound) {
        let mut o = exec.outcome;
        o.index = u32::try_from(i).unwrap_or(u32::MAX);
        o.round = self.entries[i].round;
        out.send(Out::Outcome(o.clone()));
        self.entries[i].outcome = Some(o);
    }

    /// Journaled orders whose signals never came: the first run's successes (or held slots).
    pub(super) fn unplaced_priors(&mut self, out: &mut Outbound) -> Vec<pb::SignalOutcome> {
        let mut outcomes = Vec::new();
        for p in self.priors.by_coid.values_mut().filter(|p| !p.placed) {
            let exec = match &p.exec {
                Some(e) => e.clone(),
                None => {
                    let e = unsettled(self.start.exchange_id, &p.row);
                    self.tally.execution(e.executed());
                    e
                }
            };
            self.tally.verdict(p.row.round, &Verdict::Successful);
            out.send(Out::Outcome(exec.outcome.clone()));
            outcomes.push(exec.outcome);
        }
        outcomes
    }
}

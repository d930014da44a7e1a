//! Stores streamed outcomes in batches gathered for [`GATHER`] (fewer fsyncs; the last ones are
//! still gathering when the exchanges end). On [`Finish`] the rest goes to the completion.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use wavegate_common::proto::v1 as pb;

use crate::store::{OutcomeKey, Store, StoredOutcome, outcome_key as key};

/// Outcomes written per transaction at most.
const OUTCOMES_PER_WRITE: usize = 512;
/// How long a batch gathers outcomes before its commit (the Watch hub has them at once).
const GATHER: Duration = Duration::from_millis(25);

/// What the writer did with the outcomes it was handed.
#[derive(Debug, Default)]
pub struct Written {
    /// Each row's content after the committed transactions (a failed batch's rows go to `left`).
    pub committed: HashMap<OutcomeKey, pb::SignalOutcome>,
    /// The latest unstored outcome per row: taken after the finish, or from a failed batch.
    pub left: HashMap<OutcomeKey, (String, pb::SignalOutcome)>,
}

impl Written {
    /// What the completion stores: finals (they win) not already held, then uncovered leftovers.
    pub fn still_to_store(mut self, finals: Vec<StoredOutcome>) -> Vec<StoredOutcome> {
        let mut out = Vec::with_capacity(finals.len() + self.left.len());
        for (ex, o) in finals {
            let k = key(ex, &o);
            self.left.remove(&k);
            if self.committed.get(&k) != Some(&o) {
                out.push((ex, o));
            }
        }
        let mut left: Vec<_> = self.left.into_iter().collect();
        left.sort_by_key(|(k, _)| *k);
        out.extend(left.into_iter().map(|((ex, _, _), (_, o))| (ex, o)));
        out
    }

    fn committed(&mut self, batch: &mut Vec<(u32, String, pb::SignalOutcome)>) {
        for (ex, _, o) in batch.drain(..) {
            let k = key(ex, &o);
            // A newer write of the row committed: an older one left over must not follow it.
            self.left.remove(&k);
            self.committed.insert(k, o);
        }
    }

    fn leave(&mut self, batch: &mut Vec<(u32, String, pb::SignalOutcome)>) {
        for (ex, name, o) in batch.drain(..) {
            self.left.insert(key(ex, &o), (name, o));
        }
    }
}

/// The dispatch's side of the finish, set before the outcome channel is closed.
#[derive(Debug, Clone, Default)]
pub struct Finish(Arc<AtomicBool>);

impl Finish {
    /// From now on the writer commits nothing new; it returns what it still holds.
    pub fn now(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Stores the outcomes on `rx`; batches taken after `finish` come back in [`Written::left`].
pub async fn run(
    store: Store,
    wave_id: String,
    mut rx: mpsc::UnboundedReceiver<(u32, String, pb::SignalOutcome)>,
    finish: Finish,
) -> Written {
    let mut written = Written::default();
    let mut buf = Vec::with_capacity(OUTCOMES_PER_WRITE);
    while rx.recv_many(&mut buf, OUTCOMES_PER_WRITE).await > 0 {
        let until = tokio::time::Instant::now() + GATHER;
        while buf.len() < OUTCOMES_PER_WRITE && !finish.is_set() {
            let room = OUTCOMES_PER_WRITE - buf.len();
            match tokio::time::timeout_at(until, rx.recv_many(&mut buf, room)).await {
                // Closed (the exchanges are done), or gathered long enough.
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if finish.is_set() {
            written.leave(&mut buf);
            continue;
        }
        match store.record_outcomes(&wave_id, &buf).await {
            Ok(()) => written.committed(&mut buf),
            Err(e) => {
                // The completion writes them (with every final outcome) in its transaction.
                tracing::warn!(wave_id, error = %e, "storing outcomes failed");
                written.leave(&mut buf);
            }
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(id: i64, stage: pb::Stage, error: &str) -> pb::SignalOutcome {
        pb::SignalOutcome {
            signal_id: id,
            stage: stage as i32,
            error: error.into(),
            ..Default::default()
        }
    }

    /// A streamed outcome as the writer gets it: exchange, its name, outcome.
    fn streamed(
        ex: u32,
        id: i64,
        stage: pb::Stage,
        error: &str,
    ) -> (u32, String, pb::SignalOutcome) {
        let name = if ex == 1 { "binance" } else { "bybit" };
        (ex, name.to_owned(), outcome(id, stage, error))
    }

    #[test]
    fn a_row_committed_after_it_failed_is_not_left_with_its_older_content() {
        let mut w = Written::default();
        w.leave(&mut vec![streamed(1, 7, pb::Stage::Execution, "a")]);
        w.committed(&mut vec![streamed(1, 7, pb::Stage::Execution, "b")]);
        assert!(
            w.left.is_empty(),
            "the older content would overwrite the newer"
        );
        let row = w.committed.get(&(1, 7, pb::Stage::Execution as i32));
        assert_eq!(row.map(|o| o.error.as_str()), Some("b"));
    }

    #[test]
    fn rows_are_told_apart_by_exchange_and_stage() {
        let mut w = Written::default();
        let mut batch = vec![
            streamed(1, 7, pb::Stage::Validation, ""),
            streamed(1, 7, pb::Stage::Execution, ""),
            streamed(2, 7, pb::Stage::Execution, ""),
        ];
        w.leave(&mut batch);
        assert_eq!(w.left.len(), 3);
    }

    #[test]
    fn the_completion_stores_what_no_commit_holds_and_final_outcomes_win() {
        use pb::Stage::{Execution, Validation};
        let mut w = Written::default();
        // Committed as streamed: signal 1 validated and executed, signal 2 validated.
        let mut batch = vec![
            streamed(1, 1, Validation, ""),
            streamed(1, 1, Execution, ""),
            streamed(1, 2, Validation, ""),
        ];
        w.committed(&mut batch);
        // Left over at the finish: signal 2's execution (failed) and signal 3's validation.
        let mut late = vec![
            streamed(1, 2, Execution, "rejected"),
            streamed(1, 3, Validation, ""),
        ];
        w.leave(&mut late);
        let finals = vec![
            (1, outcome(1, Validation, "")),
            // The agent's Result says otherwise than the stream did: the Result wins.
            (1, outcome(1, Execution, "outcome unknown")),
            (1, outcome(2, Validation, "")),
            (1, outcome(2, Execution, "rejected, finally")),
        ];
        let stored: Vec<(i64, i32, String)> = w
            .still_to_store(finals)
            .into_iter()
            .map(|(_, o)| (o.signal_id, o.stage, o.error))
            .collect();
        assert_eq!(
            stored,
            vec![
                (1, Execution as i32, "outcome unknown".to_owned()),
                (2, Execution as i32, "rejected, finally".to_owned()),
                (3, Validation as i32, String::new()),
            ]
        );
    }
}

//! Signal ingest (docs/design.md §3): checked, stored in batches, committed before the summary.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tonic::Code;
use tracing::Instrument as _;
use wavegate_common::Signal;
use wavegate_common::proto::v1 as pb;
use wavegate_common::time::wave_id;

use crate::error::CoordinatorError;
use crate::params::{check_bounds, check_position_bounds};
use crate::state::Core;
use crate::timing;
use crate::wave::{Closed, close_wave};

/// Signals per transaction while streaming: commits stay cheap, the queue below peak memory.
const FLUSH_SIGNALS: usize = 5_000;
/// Flush period, so a streamed wave's `last_signal_at` stays fresh and the quiet does not close it.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);
/// Rejections listed in one summary at most (all are counted).
const MAX_REJECTIONS_LISTED: usize = 10_000;

/// One call's ingest: collects checked signals, flushes them in batches, builds the summary.
#[derive(Debug)]
pub struct Ingest {
    core: Arc<Core>,
    batch: Vec<Signal>,
    positions: Vec<u32>,
    last_flush: std::time::Instant,
    seen: usize,
    /// Counts and rejections so far (wave ids are filled in by `finish`).
    summary: pb::PublishSummary,
    wave_ids: BTreeSet<String>,
    closed: BTreeSet<String>,
}

impl Ingest {
    /// A new call.
    pub fn new(core: Arc<Core>) -> Self {
        Self {
            core,
            batch: Vec::new(),
            positions: Vec::new(),
            last_flush: std::time::Instant::now(),
            seen: 0,
            summary: pb::PublishSummary::default(),
            wave_ids: BTreeSet::new(),
            closed: BTreeSet::new(),
        }
    }

    fn reject(&mut self, position: u32, signal_id: i64, field: &str, reason: String, code: Code) {
        self.summary.rejected += 1;
        if self.summary.rejections.len() < MAX_REJECTIONS_LISTED {
            self.summary.rejections.push(pb::Rejection {
                position,
                signal_id,
                field: field.to_owned(),
                reason,
                code: code as i32,
            });
        }
    }

    /// When the queue must be flushed anyway, so a pausing producer's signals beat the quiet.
    pub fn flush_due(&self) -> Option<std::time::Instant> {
        (!self.batch.is_empty()).then(|| self.last_flush + FLUSH_EVERY)
    }

    /// Records a malformed stream item (no signal, no close) as a rejection at its position.
    pub fn malformed(&mut self, field: &str, reason: &str) {
        let position = u32::try_from(self.seen).unwrap_or(u32::MAX);
        self.seen += 1;
        self.reject(position, 0, field, reason.to_owned(), Code::InvalidArgument);
    }

    /// Checks one signal and queues it; `default_ts` stands in for a missing wave timestamp.
    pub async fn signal(
        &mut self,
        mut p: pb::Signal,
        default_ts: Option<prost_types::Timestamp>,
    ) -> Result<(), CoordinatorError> {
        let position = u32::try_from(self.seen).unwrap_or(u32::MAX);
        self.seen += 1;
        let cfg = &self.core.cfg;
        if self.seen > cfg.max_batch_signals {
            let reason = format!(
                "more than max_batch_signals ({}) in one call",
                cfg.max_batch_signals
            );
            self.reject(position, p.id, "", reason, Code::ResourceExhausted);
            return Ok(());
        }
        if p.wave_timestamp.is_none() {
            p.wave_timestamp = default_ts;
        }
        let now = Utc::now();
        let interval = i64::try_from(cfg.waves.interval_secs).unwrap_or(i64::MAX);
        let s = match Signal::from_proto(&p, interval, now) {
            Ok(s) => s,
            Err(e) => {
                self.reject(position, p.id, e.field, e.reason, Code::InvalidArgument);
                return Ok(());
            }
        };
        let ts = s.wave_timestamp();
        if let Err(r) = timing::check(&cfg.waves, ts, now) {
            let reason = r.reason().to_owned();
            self.reject(position, s.id(), "wave_timestamp", reason, r.code());
            return Ok(());
        }
        // A producer's params become the exchange's stored params: bounded like `Params.Set`.
        if let Some(sp) = s.params()
            && let Err(e) = check_bounds(cfg, "params.", sp)
                .and_then(|()| check_position_bounds(cfg, "params.", s.exchange_id(), sp))
        {
            let (field, reason) = match e {
                CoordinatorError::BadRequest { field, reason } => (field, reason),
                other => (String::new(), other.to_string()),
            };
            self.reject(position, s.id(), &field, reason, Code::InvalidArgument);
            return Ok(());
        }
        if !self.core.is_known_exchange(s.exchange_id()).await? {
            let reason = format!(
                "unknown exchange {} (not configured, no stored params)",
                s.exchange_id()
            );
            self.reject(position, s.id(), "exchange_id", reason, Code::NotFound);
            return Ok(());
        }
        self.batch.push(s);
        self.positions.push(position);
        if self.batch.len() >= FLUSH_SIGNALS || self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush().await?;
        }
        Ok(())
    }

    /// Stores the queued signals in one transaction.
    pub async fn flush(&mut self) -> Result<(), CoordinatorError> {
        self.last_flush = std::time::Instant::now();
        if self.batch.is_empty() {
            return Ok(());
        }
        let core = self.core.clone();
        let out = core
            .store
            .insert_signals(
                &self.batch,
                |ts| timing::close_by(&core.cfg.waves, ts),
                Utc::now(),
            )
            .await?;
        let batch = std::mem::take(&mut self.batch);
        let positions = std::mem::take(&mut self.positions);
        self.summary.accepted += u32::try_from(out.accepted.len()).unwrap_or(u32::MAX);
        for (i, wid, status) in out.closed {
            let (position, id) = (positions[i], batch[i].id());
            let reason = format!("late: wave {wid} is closed ({status})");
            self.reject(
                position,
                id,
                "wave_timestamp",
                reason,
                Code::FailedPrecondition,
            );
        }
        for i in out.duplicates {
            let (id, wid) = (batch[i].id(), wave_id(batch[i].wave_timestamp()));
            let reason = format!("duplicate signal id {id} in wave {wid}");
            self.reject(positions[i], id, "id", reason, Code::AlreadyExists);
        }
        self.wave_ids.extend(out.waves);
        // Committed: dispatch may take the accepted signals from memory (`wave_cache`).
        let mut by_wave: BTreeMap<DateTime<Utc>, Vec<Signal>> = BTreeMap::new();
        let mut accepted = out.accepted.iter().copied().peekable();
        for (i, s) in batch.into_iter().enumerate() {
            if accepted.next_if_eq(&i).is_some() {
                by_wave.entry(s.wave_timestamp()).or_default().push(s);
            }
        }
        for (ts, signals) in by_wave {
            self.core.signals.add(&wave_id(ts), signals);
        }
        Ok(())
    }

    /// Flushes, then closes the wave at `ts`; an unknown wave is refused as `timing::check` does.
    pub async fn close(&mut self, ts: DateTime<Utc>) -> Result<(), CoordinatorError> {
        self.flush().await?;
        let id = wave_id(ts);
        // On a task of its own: a caller that goes away mid-close (a dropped stream) does not
        // leave a claimed wave undispatched until the next tick's resume.
        let (core, closing_id) = (self.core.clone(), id.clone());
        // In the call's span: the wave's trace links back to it (`wave::close_wave`).
        let closing = tokio::spawn(
            async move { close_wave(&core, &closing_id, true).await }
                .instrument(tracing::Span::current()),
        );
        let closed = match closing.await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(CoordinatorError::Unavailable(
                "the coordinator is shutting down; retry later".into(),
            )),
        };
        let closed = match closed {
            Err(CoordinatorError::NotFound(m)) => {
                return Err(match timing::check(&self.core.cfg.waves, ts, Utc::now()) {
                    Err(r) if r.code() == Code::InvalidArgument => {
                        CoordinatorError::bad("close.wave_timestamp", r.reason())
                    }
                    Err(r) => CoordinatorError::FailedPrecondition(format!(
                        "close.wave_timestamp: {}",
                        r.reason()
                    )),
                    Ok(()) => {
                        CoordinatorError::NotFound(format!("{m} (no signal of it was accepted)"))
                    }
                });
            }
            r => r?,
        };
        match closed {
            Closed::Dispatching | Closed::Failed => {
                self.closed.insert(id);
            }
            Closed::NotClaimed => {}
        }
        Ok(())
    }

    /// Waves that received signals so far.
    pub fn wave_ids(&self) -> &BTreeSet<String> {
        &self.wave_ids
    }

    /// The summary (rejections by position).
    pub fn finish(self) -> pb::PublishSummary {
        let mut s = self.summary;
        s.rejections.sort_by_key(|r| r.position);
        s.wave_ids = self.wave_ids.into_iter().collect();
        s.closed_wave_ids = self.closed.into_iter().collect();
        s
    }
}

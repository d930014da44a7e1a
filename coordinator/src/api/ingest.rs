//! `SignalIngest`: streamed and whole-wave publishing, counted in `wavegate_ingest_signals_total`.

use tonic::{Request, Response, Status, Streaming};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::publish_request::Item;
use wavegate_common::proto::v1::signal_ingest_server::SignalIngest;
use wavegate_common::telemetry::Metrics;
use wavegate_common::telemetry::metrics::IngestResult;
use wavegate_common::time::from_proto;

use super::Api;
use crate::error::{CoordinatorError, status};
use crate::ingest::Ingest;
use crate::spans;

/// The ingest result of a signal rejected (or a call failed) with `code`.
fn result_of(code: i32) -> IngestResult {
    match tonic::Code::from(code) {
        tonic::Code::InvalidArgument | tonic::Code::ResourceExhausted | tonic::Code::NotFound => {
            IngestResult::Invalid
        }
        tonic::Code::FailedPrecondition => IngestResult::Late,
        tonic::Code::AlreadyExists => IngestResult::Duplicate,
        tonic::Code::Unauthenticated => IngestResult::Unauthenticated,
        _ => IngestResult::Error,
    }
}

/// Counts a call's signals: by its summary when it succeeded, else all with the call's error.
fn count(metrics: &Metrics, signals: usize, r: &Result<Response<pb::PublishSummary>, Status>) {
    match r {
        Ok(resp) => {
            let s = resp.get_ref();
            metrics.ingest_signals(IngestResult::Accepted, u64::from(s.accepted));
            for rej in &s.rejections {
                metrics.ingest_signals(result_of(rej.code), 1);
            }
            let unlisted = (s.rejected as usize).saturating_sub(s.rejections.len());
            metrics.ingest_signals(IngestResult::Invalid, unlisted as u64);
        }
        Err(status) => {
            metrics.ingest_signals(result_of(status.code() as i32), signals as u64);
        }
    }
}

fn close_ts(
    t: Option<&prost_types::Timestamp>,
    field: &str,
) -> Result<chrono::DateTime<chrono::Utc>, CoordinatorError> {
    let t = t.ok_or_else(|| CoordinatorError::bad(field, "missing"))?;
    from_proto(t).ok_or_else(|| CoordinatorError::bad(field, "timestamp out of range"))
}

#[tonic::async_trait]
impl SignalIngest for Api {
    async fn publish(
        &self,
        request: Request<Streaming<pb::PublishRequest>>,
    ) -> Result<Response<pb::PublishSummary>, Status> {
        let mut signals = 0_usize;
        let counted = &mut signals;
        let r = spans::serve("SignalIngest.Publish", request, |mut stream| async move {
            // A failed storage takes nothing new: refused before a signal is read.
            self.core.storage.check()?;
            let mut ingest = Ingest::new(self.core.clone());
            loop {
                let next = match ingest.flush_due() {
                    None => stream.message().await?,
                    Some(due) => tokio::select! {
                        // Cancel-safe: `Streaming::message` keeps its state in the stream.
                        m = stream.message() => m?,
                        _ = tokio::time::sleep_until(due.into()) => {
                            ingest.flush().await.map_err(|e| self.fail(&e))?;
                            continue;
                        }
                    },
                };
                let Some(item) = next else { break };
                match item.item {
                    Some(Item::Signal(s)) => {
                        *counted += 1;
                        ingest.signal(s, None).await.map_err(|e| self.fail(&e))?
                    }
                    Some(Item::Close(c)) => {
                        let ts = close_ts(c.wave_timestamp.as_ref(), "close.wave_timestamp")
                            .map_err(|e| self.fail(&e))?;
                        ingest.close(ts).await.map_err(|e| self.fail(&e))?;
                    }
                    None => {
                        ingest.malformed("item", "empty PublishRequest: neither signal nor close")
                    }
                }
            }
            ingest.flush().await.map_err(|e| self.fail(&e))?;
            Ok(ingest.finish())
        })
        .await;
        count(&self.core.metrics, signals, &r);
        r
    }

    async fn publish_wave(
        &self,
        request: Request<pb::Wave>,
    ) -> Result<Response<pb::PublishSummary>, Status> {
        let signals = request.get_ref().signals.len();
        let r = spans::serve("SignalIngest.PublishWave", request, |w| self.ingest_wave(w)).await;
        count(&self.core.metrics, signals, &r);
        r
    }
}

impl Api {
    /// The status of a failed call; a storage fault also takes the coordinator out of service.
    fn fail(&self, e: &CoordinatorError) -> Status {
        self.core.storage.observe(e);
        status(e)
    }

    async fn ingest_wave(&self, wave: pb::Wave) -> Result<pb::PublishSummary, Status> {
        self.core.storage.check()?;
        let max = self.core.cfg.max_batch_signals;
        if wave.signals.len() > max {
            let e = format!(
                "signals: {} signals exceed max_batch_signals ({max})",
                wave.signals.len()
            );
            return Err(CoordinatorError::TooLarge(e).into());
        }
        let default_ts = wave.wave_timestamp;
        if let Some(t) = &default_ts {
            close_ts(Some(t), "wave_timestamp").map_err(|e| self.fail(&e))?;
        }
        if wave.close && default_ts.is_none() && wave.signals.is_empty() {
            let e = CoordinatorError::bad(
                "wave_timestamp",
                "missing: nothing says which wave to close",
            );
            return Err(e.into());
        }
        let mut ingest = Ingest::new(self.core.clone());
        for s in wave.signals {
            ingest
                .signal(s, default_ts)
                .await
                .map_err(|e| self.fail(&e))?;
        }
        ingest.flush().await.map_err(|e| self.fail(&e))?;
        if wave.close {
            let mut to_close: Vec<_> = ingest
                .wave_ids()
                .iter()
                .filter_map(|id| wavegate_common::time::parse_wave_id(id))
                .collect();
            if let Some(t) = default_ts.as_ref().and_then(from_proto)
                && !to_close.contains(&t)
            {
                to_close.push(t);
            }
            for ts in to_close {
                match ingest.close(ts).await {
                    Ok(()) => {}
                    // Closing an empty (or late) default wave is fine when signals were accepted.
                    Err(
                        CoordinatorError::NotFound(_) | CoordinatorError::FailedPrecondition(_),
                    ) if !ingest.wave_ids().is_empty() => {}
                    Err(e) => return Err(self.fail(&e)),
                }
            }
        }
        Ok(ingest.finish())
    }
}

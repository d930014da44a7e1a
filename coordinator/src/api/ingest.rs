//! `SignalIngest`: streamed and whole-wave publishing.

use tonic::{Request, Response, Status, Streaming};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::publish_request::Item;
use wavegate_common::proto::v1::signal_ingest_server::SignalIngest;
use wavegate_common::time::from_proto;

use super::Api;
use crate::error::{CoordinatorError, status};
use crate::ingest::Ingest;

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
        let mut stream = request.into_inner();
        let mut ingest = Ingest::new(self.core.clone());
        while let Some(item) = stream.message().await? {
            match item.item {
                Some(Item::Signal(s)) => ingest.signal(s, None).await.map_err(|e| status(&e))?,
                Some(Item::Close(c)) => {
                    let ts = close_ts(c.wave_timestamp.as_ref(), "close.wave_timestamp")
                        .map_err(|e| status(&e))?;
                    ingest.close(ts).await.map_err(|e| status(&e))?;
                }
                None => {
                    return Err(status(&CoordinatorError::bad(
                        "item",
                        "empty PublishRequest",
                    )));
                }
            }
        }
        ingest.flush().await.map_err(|e| status(&e))?;
        Ok(Response::new(ingest.finish()))
    }

    async fn publish_wave(
        &self,
        request: Request<pb::Wave>,
    ) -> Result<Response<pb::PublishSummary>, Status> {
        let wave = request.into_inner();
        let max = self.core.cfg.max_batch_signals;
        if wave.signals.len() > max {
            return Err(status(&CoordinatorError::TooLarge(format!(
                "signals: {} signals exceed max_batch_signals ({max})",
                wave.signals.len()
            ))));
        }
        let default_ts = match &wave.wave_timestamp {
            None => None,
            Some(t) => {
                close_ts(Some(t), "wave_timestamp").map_err(|e| status(&e))?;
                Some(*t)
            }
        };
        if wave.close && default_ts.is_none() && wave.signals.is_empty() {
            return Err(status(&CoordinatorError::bad(
                "wave_timestamp",
                "missing: nothing says which wave to close",
            )));
        }
        let mut ingest = Ingest::new(self.core.clone());
        for s in wave.signals {
            ingest.signal(s, default_ts).await.map_err(|e| status(&e))?;
        }
        ingest.flush().await.map_err(|e| status(&e))?;
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
                    // Closing an empty default wave is not an error when signals were accepted.
                    Err(CoordinatorError::NotFound(_)) if !ingest.wave_ids().is_empty() => {}
                    Err(e) => return Err(status(&e)),
                }
            }
        }
        Ok(Response::new(ingest.finish()))
    }
}

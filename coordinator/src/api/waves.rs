//! `Waves`: summaries, details, live progress, and the operator's cancel (see `cancel`).

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;
use tonic::{Request, Response, Status};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::waves_server::Waves;

use super::Api;
use crate::cancel::cancel_wave;
use crate::error::CoordinatorError;
use crate::spans;
use crate::store::WaveStatus;

/// Default and largest page of `Waves.List`.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::WaveEvent, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Waves for Api {
    async fn get(
        &self,
        request: Request<pb::GetWaveRequest>,
    ) -> Result<Response<pb::WaveDetail>, Status> {
        spans::serve("Waves.Get", request, |req| async move {
            let id = req.wave_id;
            if id.is_empty() {
                return Err(CoordinatorError::bad("wave_id", "missing").into());
            }
            let store = &self.core.store;
            let row = store
                .wave(&id)
                .await?
                .ok_or_else(|| CoordinatorError::NotFound(format!("wave_id: no wave {id:?}")))?;
            let exchanges = store.exchange_results(&id).await?;
            let timings = store.exchange_timings(&id).await?;
            let outcomes = store.outcomes(&id).await?;
            let completed_event = store.completed_event(&id).await?.unwrap_or_default();
            Ok(pb::WaveDetail {
                summary: Some(row.to_summary()),
                exchanges: exchanges.iter().map(|e| e.to_proto()).collect(),
                outcomes: outcomes
                    .into_iter()
                    .map(|(exchange_id, o)| pb::ExchangeOutcome {
                        exchange_id,
                        outcome: Some(o),
                    })
                    .collect(),
                completed_event,
                timings: timings.iter().map(|t| t.to_proto()).collect(),
            })
        })
        .await
    }

    async fn list(
        &self,
        request: Request<pb::ListWavesRequest>,
    ) -> Result<Response<pb::ListWavesResponse>, Status> {
        spans::serve("Waves.List", request, |req| async move {
            let limit = match req.limit {
                0 => DEFAULT_LIMIT,
                n => n.min(MAX_LIMIT),
            };
            let filter = match req.status {
                0 => None,
                v => Some(WaveStatus::from_proto(v).ok_or_else(|| {
                    CoordinatorError::bad("status", format!("unknown wave status {v}"))
                })?),
            };
            let rows = self.core.store.list_waves(limit, filter).await?;
            Ok(pb::ListWavesResponse {
                waves: rows.iter().map(|r| r.to_summary()).collect(),
            })
        })
        .await
    }

    type WatchStream = EventStream;

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        spans::serve("Waves.Watch", request, |req| async move {
            let wanted = req.wave_id;
            // Subscribe first, then read the wave: no event falls between the two.
            let rx = self.core.hub.subscribe();
            let (first, finished) = self.current(&wanted).await?;
            let first = futures::stream::iter(first.into_iter().map(Ok));
            if finished {
                // Nothing more will happen to it: its final state, then the end.
                return Ok(Box::pin(first) as EventStream);
            }
            let live = BroadcastStream::new(rx).filter_map(move |item| {
                let out = match item {
                    Ok(ev) if wanted.is_empty() || ev.wave_id == wanted => Some(Ok(ev)),
                    Ok(_) => None,
                    // A lagging subscriber is told, not silently cut short.
                    Err(e) => Some(Err(Status::data_loss(format!("watch fell behind: {e}")))),
                };
                std::future::ready(out)
            });
            Ok(Box::pin(first.chain(live)) as EventStream)
        })
        .await
    }

    async fn cancel(
        &self,
        request: Request<pb::CancelWaveRequest>,
    ) -> Result<Response<pb::CancelWaveResponse>, Status> {
        spans::serve("Waves.Cancel", request, |req| async move {
            let done = cancel_wave(&self.core, &req.wave_id, &req.reason).await?;
            Ok(pb::CancelWaveResponse {
                wave: Some(done.wave.to_summary()),
                exchanges_stopping: done.exchanges_stopping,
            })
        })
        .await
    }
}

impl Api {
    /// A watched wave's status (and completion) now and whether it is final; nothing if unknown.
    async fn current(&self, wave_id: &str) -> Result<(Vec<pb::WaveEvent>, bool), CoordinatorError> {
        if wave_id.is_empty() {
            return Ok((vec![], false));
        }
        let Some(row) = self.core.store.wave(wave_id).await? else {
            return Ok((vec![], false));
        };
        let event = |e| pb::WaveEvent {
            wave_id: wave_id.to_owned(),
            event: Some(e),
        };
        let mut first = vec![event(pb::wave_event::Event::Status(
            row.status.to_proto() as i32
        ))];
        let finished = row.status.is_final();
        if matches!(row.status, WaveStatus::Completed | WaveStatus::Partial) {
            first.push(event(pb::wave_event::Event::Completed(row.to_summary())));
        }
        Ok((first, finished))
    }
}

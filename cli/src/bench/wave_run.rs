//! One bench wave as a producer and a dashboard see it: publish, close, watch, report.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::wave_event::Event;
use wavegate_common::time::{from_proto, to_proto, wave_id};

use crate::client::Clients;
use crate::error::CliError;

/// Failure guard for one wave (never a measured limit).
const WAVE_GUARD: Duration = Duration::from_secs(60);

/// Every event of every wave, stamped with the instant the bench received it.
#[derive(Debug)]
pub struct Watcher {
    rx: mpsc::UnboundedReceiver<(Instant, pb::WaveEvent)>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// Subscribes to `Waves.Watch` for all waves (events from now on).
    pub async fn start(clients: &mut Clients) -> Result<Self, CliError> {
        let mut stream = clients
            .waves
            .watch(pb::WatchRequest {
                wave_id: String::new(),
            })
            .await
            .map_err(|s| clients.status_error("Waves.Watch", &s))?
            .into_inner();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok(Some(ev)) = stream.message().await {
                if tx.send((Instant::now(), ev)).is_err() {
                    return;
                }
            }
        });
        Ok(Watcher { rx, task })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What one wave looked like from the client.
#[derive(Debug)]
pub struct WaveRun {
    /// Wave id.
    pub wave_id: String,
    /// Just before the close call was sent.
    pub close_sent: Instant,
    /// When the close call returned.
    pub close_returned: Instant,
    /// First execution-stage `SignalOutcome` of the wave on `Waves.Watch`.
    pub first_execution: Option<Instant>,
    /// Each exchange's `exchange_finished` event on `Waves.Watch`, by exchange id.
    pub exchange_finished: HashMap<u32, Instant>,
    /// The wave's `completed` event on `Waves.Watch`.
    pub completed: Instant,
    /// The stored report (`Waves.Get`) after completion.
    pub detail: pb::WaveDetail,
}

impl WaveRun {
    /// The coordinator's `closed_at → completed_at`, in ms (the stamps' precision).
    pub fn makespan_ms(&self) -> Result<f64, CliError> {
        let s = self.detail.summary.as_ref();
        match (
            s.and_then(|s| s.closed_at.as_ref()).and_then(from_proto),
            s.and_then(|s| s.completed_at.as_ref()).and_then(from_proto),
        ) {
            (Some(a), Some(b)) => Ok((b - a).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e3),
            _ => Err(CliError::Failed(format!(
                "wave {} lacks closed_at/completed_at",
                self.wave_id
            ))),
        }
    }

    /// The stored statistics of `exchange_id`.
    pub fn exchange(&self, exchange_id: u32) -> Option<&pb::ExchangeStats> {
        self.detail
            .exchanges
            .iter()
            .find(|x| x.exchange_id == exchange_id)
    }
}

/// Publishes, closes and follows a wave; not accepted whole or not `completed` is an error.
pub async fn run(
    clients: &mut Clients,
    watcher: &mut Watcher,
    ts: DateTime<Utc>,
    signals: Vec<pb::Signal>,
) -> Result<WaveRun, CliError> {
    let id = wave_id(ts);
    let n = signals.len();
    let s = clients
        .ingest
        .publish_wave(pb::Wave {
            wave_timestamp: Some(to_proto(ts)),
            signals,
            close: false,
        })
        .await
        .map_err(|s| clients.status_error("SignalIngest.PublishWave", &s))?
        .into_inner();
    if s.accepted as usize != n {
        return Err(CliError::Failed(format!(
            "wave {id}: {} of {n} signals accepted: {s:?}",
            s.accepted
        )));
    }
    let close_sent = Instant::now();
    let closed = clients
        .ingest
        .publish_wave(pb::Wave {
            wave_timestamp: Some(to_proto(ts)),
            signals: vec![],
            close: true,
        })
        .await
        .map_err(|s| clients.status_error("SignalIngest.PublishWave", &s))?
        .into_inner();
    let close_returned = Instant::now();
    if closed.closed_wave_ids != [id.clone()] {
        return Err(CliError::Failed(format!(
            "wave {id} was not closed by the call: {closed:?}"
        )));
    }
    let mut first_execution = None;
    let mut exchange_finished = HashMap::new();
    let completed = tokio::time::timeout(WAVE_GUARD, async {
        while let Some((at, ev)) = watcher.rx.recv().await {
            if ev.wave_id != id {
                continue;
            }
            match ev.event {
                Some(Event::Outcome(o))
                    if first_execution.is_none()
                        && o.outcome
                            .as_ref()
                            .is_some_and(|o| o.stage == pb::Stage::Execution as i32) =>
                {
                    first_execution = Some(at);
                }
                Some(Event::ExchangeFinished(st)) => {
                    exchange_finished.insert(st.exchange_id, at);
                }
                Some(Event::Completed(_)) => return Ok(at),
                _ => {}
            }
        }
        Err(CliError::Failed(format!(
            "Waves.Watch ended before wave {id} completed"
        )))
    })
    .await
    .map_err(|_| CliError::Failed(format!("wave {id} did not complete within {WAVE_GUARD:?}")))??;
    let detail = clients
        .waves
        .get(pb::GetWaveRequest {
            wave_id: id.clone(),
        })
        .await
        .map_err(|s| clients.status_error("Waves.Get", &s))?
        .into_inner();
    let status = detail.summary.as_ref().map_or(0, |s| s.status);
    if status != pb::WaveStatus::Completed as i32 {
        return Err(CliError::Failed(format!(
            "wave {id} ended with status {status}, not completed"
        )));
    }
    Ok(WaveRun {
        wave_id: id,
        close_sent,
        close_returned,
        first_execution,
        exchange_finished,
        completed,
        detail,
    })
}

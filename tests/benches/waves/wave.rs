//! One bench wave end to end, as a producer and a dashboard see it: publish the signals,
//! close the wave, follow `Waves.Watch` until it completes, then read its report.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tonic::transport::Channel;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::signal_ingest_client::SignalIngestClient;
use wavegate_common::proto::v1::wave_event::Event;
use wavegate_common::proto::v1::waves_client::WavesClient;
use wavegate_common::time::{to_proto, wave_id};

/// Failure guard for one wave (never a measured limit).
const WAVE_GUARD: Duration = Duration::from_secs(60);

/// Symbol of the `rank`-th signal of bench wave `wave`. Unique per wave, so no wave sees a
/// position opened by an earlier one; the `W<wave>S` prefix finds a wave's orders in a journal.
pub fn symbol(wave: usize, rank: usize) -> String {
    format!("W{wave}S{rank}USDT")
}

/// The bench wave `wave` a paper order's symbol belongs to.
pub fn wave_of_symbol(symbol: &str) -> Option<usize> {
    symbol.strip_prefix('W')?.split_once('S')?.0.parse().ok()
}

/// `per_exchange` signals for each `(exchange_id, max_trades)`, ranked by descending score;
/// the best signal of each exchange carries its `max_trades`.
pub fn signals(
    wave: usize,
    exchanges: &[(u32, u32)],
    per_exchange: usize,
    ts: DateTime<Utc>,
) -> Vec<pb::Signal> {
    let mut v = Vec::with_capacity(exchanges.len() * per_exchange);
    for &(ex, max_trades) in exchanges {
        for rank in 0..per_exchange {
            let score = 99.0 - rank as f64 * 90.0 / per_exchange as f64;
            v.push(pb::Signal {
                id: i64::from(ex) * 100_000 + rank as i64 + 1,
                symbol: symbol(wave, rank),
                exchange_id: ex,
                action: pb::Action::Buy as i32,
                score_week: score,
                score_month: score,
                wave_timestamp: Some(to_proto(ts)),
                created_at: Some(to_proto(Utc::now())),
                params: (rank == 0).then_some(pb::SignalParams {
                    max_trades: Some(max_trades),
                    stop_loss_percent: Some(4.0),
                    trailing_activation_percent: None,
                    trailing_distance_percent: None,
                }),
            });
        }
    }
    v
}

/// Every event of every wave, stamped with the instant the bench received it.
pub struct Watcher {
    rx: mpsc::UnboundedReceiver<(Instant, pb::WaveEvent)>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// Subscribes to `Waves.Watch` for all waves (events from now on).
    pub async fn start(waves: &mut WavesClient<Channel>) -> anyhow::Result<Self> {
        let mut stream = waves
            .watch(pb::WatchRequest {
                wave_id: String::new(),
            })
            .await?
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

/// Publishes `signals` into the wave at `ts` (open), closes it, follows it to completion.
pub async fn run(
    ingest: &mut SignalIngestClient<Channel>,
    waves: &mut WavesClient<Channel>,
    watcher: &mut Watcher,
    ts: DateTime<Utc>,
    signals: Vec<pb::Signal>,
) -> anyhow::Result<WaveRun> {
    let id = wave_id(ts);
    let n = signals.len();
    let s = ingest
        .publish_wave(pb::Wave {
            wave_timestamp: Some(to_proto(ts)),
            signals,
            close: false,
        })
        .await?
        .into_inner();
    if s.accepted as usize != n {
        bail!("wave {id}: {} of {n} signals accepted: {s:?}", s.accepted);
    }
    let close_sent = Instant::now();
    let closed = ingest
        .publish_wave(pb::Wave {
            wave_timestamp: Some(to_proto(ts)),
            signals: vec![],
            close: true,
        })
        .await?
        .into_inner();
    let close_returned = Instant::now();
    if closed.closed_wave_ids != [id.clone()] {
        bail!("wave {id} was not closed by the call: {closed:?}");
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
        bail!("Waves.Watch ended before wave {id} completed")
    })
    .await
    .with_context(|| format!("wave {id} did not complete within {WAVE_GUARD:?}"))??;
    let detail = waves
        .get(pb::GetWaveRequest {
            wave_id: id.clone(),
        })
        .await?
        .into_inner();
    let status = detail.summary.as_ref().map_or(0, |s| s.status);
    if status != pb::WaveStatus::Completed as i32 {
        bail!("wave {id} ended with status {status}, not completed: {detail:?}");
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

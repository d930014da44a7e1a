//! Following a wave: `Waves.Watch` drives progress; a slow `Waves.Get` poll catches a missed end.

use std::time::Duration;

use tokio_stream::StreamExt;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::wave_event::Event;

use wavegate_common::Signal;
use wavegate_common::time::wave_id;

use crate::client::Clients;
use crate::commands::publish;
use crate::error::CliError;
use crate::progress::WaveProgress;
use crate::report::is_terminal;

/// How often the wave is polled besides the event stream.
const POLL_EVERY: Duration = Duration::from_secs(2);

/// Polls (100 ms apart) for the stored detail to catch up with a completion event.
const SETTLE_POLLS: usize = 300;

/// The wave's detail, or `None` when it does not exist (yet).
pub async fn get_wave(
    clients: &mut Clients,
    wave_id: &str,
) -> Result<Option<pb::WaveDetail>, CliError> {
    match clients
        .waves
        .get(pb::GetWaveRequest {
            wave_id: wave_id.to_owned(),
        })
        .await
    {
        Ok(r) => Ok(Some(r.into_inner())),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
        Err(s) => Err(clients.status_error("Waves.Get", &s)),
    }
}

fn terminal_detail(d: &Option<pb::WaveDetail>) -> bool {
    d.as_ref()
        .and_then(|d| d.summary.as_ref())
        .is_some_and(|s| is_terminal(s.status))
}

/// A subscription to a wave's events, opened before the wave is published.
#[derive(Debug)]
pub struct Follower {
    clients: Clients,
    wave: Option<String>,
    stream: tonic::Streaming<pb::WaveEvent>,
}

impl Follower {
    /// Subscribes to `wave` (or to every wave, locking on the first that shows activity).
    pub async fn subscribe(clients: &Clients, wave: Option<String>) -> Result<Self, CliError> {
        let mut clients = clients.clone();
        let stream = clients
            .waves
            .watch(pb::WatchRequest {
                wave_id: wave.clone().unwrap_or_default(),
            })
            .await
            .map_err(|s| clients.status_error("Waves.Watch", &s))?
            .into_inner();
        Ok(Self {
            clients,
            wave,
            stream,
        })
    }

    /// Waits until the wave is completed, partial or failed and returns its final detail.
    pub async fn wait(mut self, progress: &mut WaveProgress) -> Result<pb::WaveDetail, CliError> {
        let clients = &mut self.clients;
        let mut poll = tokio::time::interval(POLL_EVERY);
        loop {
            tokio::select! {
                item = self.stream.next() => {
                    let ev = match item {
                        None => return Err(CliError::Unreachable {
                            endpoint: clients.endpoint.clone(),
                            reason: "the watch stream ended before the wave completed".into(),
                        }),
                        Some(Err(s)) => return Err(clients.status_error("Waves.Watch", &s)),
                        Some(Ok(ev)) => ev,
                    };
                    if self.wave.is_none() {
                        // `watch` without a wave id: say which wave it follows.
                        eprintln!("following wave {}", ev.wave_id);
                    }
                    let id = self.wave.get_or_insert_with(|| ev.wave_id.clone());
                    if *id != ev.wave_id {
                        continue;
                    }
                    progress.apply(&ev);
                    let done = match &ev.event {
                        Some(Event::Completed(_)) => true,
                        Some(Event::Status(s)) => is_terminal(*s),
                        _ => false,
                    };
                    if done {
                        break;
                    }
                }
                _ = poll.tick() => {
                    if let Some(id) = self.wave.clone()
                        && terminal_detail(&get_wave(clients, &id).await?)
                    {
                        break;
                    }
                }
            }
        }
        // Terminal by event or poll; the stored detail may trail the event briefly.
        let id = self.wave.unwrap_or_default();
        for _ in 0..SETTLE_POLLS {
            let d = get_wave(clients, &id).await?;
            if terminal_detail(&d) {
                progress.finish();
                return Ok(d.unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        progress.finish();
        Err(CliError::Failed(format!(
            "wave {id} was reported finished but Waves.Get does not show it finished"
        )))
    }
}

/// Publishes, closes and follows one wave (subscribed first) to its final detail.
pub async fn publish_and_follow(
    clients: &mut Clients,
    signals: &[Signal],
    progress: &mut WaveProgress,
) -> Result<pb::WaveDetail, CliError> {
    let Some(first) = signals.first() else {
        return Err(CliError::Input("no signals to publish".into()));
    };
    let id = wave_id(first.wave_timestamp());
    let follower = Follower::subscribe(clients, Some(id.clone())).await?;
    let summary = publish::send(clients, publish::requests(signals, true)).await?;
    if summary.rejected > 0 {
        let reasons: Vec<String> = summary
            .rejections
            .iter()
            .map(|r| format!("signal {}: {}: {}", r.signal_id, r.field, r.reason))
            .collect();
        return Err(CliError::Failed(format!(
            "wave {id}: the coordinator rejected {} signal(s): {}",
            summary.rejected,
            reasons.join("; ")
        )));
    }
    follower.wait(progress).await
}

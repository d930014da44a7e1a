//! Live wave events for `Waves.Watch`: never blocks dispatch; a slow subscriber loses the oldest.

use tokio::sync::broadcast;
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::wave_event::Event;

/// Events buffered per subscriber before the slowest one starts losing them.
const CAPACITY: usize = 16 * 1024;

/// The broadcast hub of wave events.
#[derive(Debug, Clone)]
pub struct Hub {
    tx: broadcast::Sender<pb::WaveEvent>,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self { tx }
    }

    /// Publishes an event of a wave (dropped when nobody listens).
    pub fn send(&self, wave_id: &str, event: Event) {
        let _ = self.tx.send(pb::WaveEvent {
            wave_id: wave_id.to_owned(),
            event: Some(event),
        });
    }

    /// Publishes a status change.
    pub fn status(&self, wave_id: &str, status: pb::WaveStatus) {
        self.send(wave_id, Event::Status(status as i32));
    }

    /// A new subscription, starting now.
    pub fn subscribe(&self) -> broadcast::Receiver<pb::WaveEvent> {
        self.tx.subscribe()
    }
}

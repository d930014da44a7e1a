//! When one exchange of a wave ran, as the coordinator saw it: started, first order result,
//! finished. Stored beside the exchange's statistics and shown by `waves show`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pb;
use crate::signal::ExchangeId;
use crate::time::{from_proto, to_proto};

/// The instants of one exchange's run within a wave. Each is absent when it did not happen
/// (no order sent, or a wave completed before timings were recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExchangeTiming {
    /// Exchange id.
    pub exchange_id: ExchangeId,
    /// The coordinator started the exchange's stream (or decided to skip it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// The first execution outcome (an order's result) arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_order_at: Option<DateTime<Utc>>,
    /// The exchange's `Result` arrived, or the coordinator gave up on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl ExchangeTiming {
    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.started_at.is_none() && self.first_order_at.is_none() && self.finished_at.is_none()
    }

    /// Wire form.
    pub fn to_proto(&self) -> pb::ExchangeTiming {
        pb::ExchangeTiming {
            exchange_id: self.exchange_id,
            started_at: self.started_at.map(to_proto),
            first_order_at: self.first_order_at.map(to_proto),
            finished_at: self.finished_at.map(to_proto),
        }
    }

    /// From the wire; a malformed instant reads as absent.
    pub fn from_proto(p: &pb::ExchangeTiming) -> Self {
        Self {
            exchange_id: p.exchange_id,
            started_at: p.started_at.as_ref().and_then(from_proto),
            first_order_at: p.first_order_at.as_ref().and_then(from_proto),
            finished_at: p.finished_at.as_ref().and_then(from_proto),
        }
    }
}

/// Milliseconds from `from` to `to`, when both are known and in order.
pub fn millis_between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<u64> {
    let d = to? - from?;
    u64::try_from(d.num_milliseconds()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn round_trips_and_measures() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let t = ExchangeTiming {
            exchange_id: 2,
            started_at: Some(t0),
            first_order_at: Some(t0 + chrono::Duration::milliseconds(4)),
            finished_at: Some(t0 + chrono::Duration::milliseconds(250)),
        };
        assert_eq!(ExchangeTiming::from_proto(&t.to_proto()), t);
        assert_eq!(millis_between(t.started_at, t.first_order_at), Some(4));
        assert_eq!(
            millis_between(t.finished_at, t.started_at),
            None,
            "reversed"
        );
        assert_eq!(millis_between(None, t.finished_at), None);
        let json = serde_json::to_value(ExchangeTiming::default()).unwrap();
        assert_eq!(json, serde_json::json!({"exchange_id": 0}));
        assert!(ExchangeTiming::default().is_empty());
    }
}

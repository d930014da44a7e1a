//! A `signals` message to the coordinator: reference-form records checked, repeats (id and
//! wave) dropped, the rest in one `PublishWave` under `bridge.relay`; bad records never fatal.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use tracing::Instrument as _;
use wavegate_common::Signal;
use wavegate_common::proto::v1 as pb;
use wavegate_common::signal::TradingbotSignal;
use wavegate_common::time::wave_id;

use super::stats::{BridgeStats, Fate};
use crate::client::Clients;

/// Waves older than this leave the repeat filter (the coordinator refuses them as late).
const REMEMBER: Duration = Duration::hours(6);

/// Remembers which (wave, id) pairs were relayed (or definitively refused).
#[derive(Debug, Default)]
pub struct Seen {
    waves: BTreeMap<DateTime<Utc>, HashSet<i64>>,
}

impl Seen {
    /// True when the signal was handled before.
    pub fn contains(&self, s: &Signal) -> bool {
        self.waves
            .get(&s.wave_timestamp())
            .is_some_and(|ids| ids.contains(&s.id()))
    }

    /// Marks it handled.
    pub fn insert(&mut self, s: &Signal) {
        self.waves
            .entry(s.wave_timestamp())
            .or_default()
            .insert(s.id());
    }

    /// Forgets waves older than `now - REMEMBER`.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.waves = self.waves.split_off(&(now - REMEMBER));
    }
}

/// Relays `signals` messages.
#[derive(Debug)]
pub struct Relay {
    clients: Clients,
    stats: BridgeStats,
    interval_secs: i64,
    seen: Seen,
}

impl Relay {
    /// A relay sending to `clients`.
    pub fn new(clients: Clients, stats: BridgeStats, interval_secs: i64) -> Self {
        Self {
            clients,
            stats,
            interval_secs,
            seen: Seen::default(),
        }
    }

    /// Reads the records of one message and forwards the new ones.
    pub async fn handle(&mut self, records: Vec<Value>) {
        let now = Utc::now();
        self.seen.prune(now);
        let mut fresh: Vec<Signal> = Vec::new();
        let mut batch_keys: HashSet<(DateTime<Utc>, i64)> = HashSet::new();
        let total = records.len();
        for (i, r) in records.into_iter().enumerate() {
            let id = r.get("id").and_then(Value::as_i64).unwrap_or_default();
            let signal = serde_json::from_value::<TradingbotSignal>(r)
                .map_err(|e| ("record", e.to_string()))
                .and_then(|t| t.into_draft().map_err(|e| (e.field, e.reason)))
                .and_then(|d| {
                    d.check(self.interval_secs, now)
                        .map_err(|e| (e.field, e.reason))
                });
            match signal {
                Err((field, reason)) => {
                    self.stats.signals(Fate::Invalid, field, 1);
                    tracing::warn!(record = i, id, field, %reason, "signal record refused");
                }
                Ok(s) if self.seen.contains(&s) => self.stats.signals(Fate::Repeat, "", 1),
                Ok(s) => {
                    // A message that repeats a record within itself counts it once.
                    if batch_keys.insert((s.wave_timestamp(), s.id())) {
                        fresh.push(s);
                    } else {
                        self.stats.signals(Fate::Repeat, "", 1);
                    }
                }
            }
        }
        if fresh.is_empty() {
            tracing::debug!(records = total, "signals message: nothing new");
            return;
        }
        let span = tracing::info_span!("bridge.relay", signals = fresh.len());
        self.forward(fresh).instrument(span).await;
    }

    async fn forward(&mut self, fresh: Vec<Signal>) {
        let waves: Vec<String> = fresh
            .iter()
            .map(|s| wave_id(s.wave_timestamp()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut req = tonic::Request::new(pb::Wave {
            wave_timestamp: None,
            signals: fresh.iter().map(Signal::to_proto).collect(),
            close: false,
        });
        wavegate_common::telemetry::propagation::inject(&mut req);
        let summary = match self.clients.ingest.publish_wave(req).await {
            Ok(r) => r.into_inner(),
            Err(status) => {
                // Not marked as seen: the server's next push carries them again.
                self.stats.forward_error();
                tracing::warn!(code = ?status.code(), message = status.message(), signals = fresh.len(),
                    "coordinator call failed; the signals are sent again with the next push");
                return;
            }
        };
        let mut already = 0u64;
        for r in &summary.rejections {
            if r.code == tonic::Code::AlreadyExists as i32 {
                already += 1;
                continue;
            }
            let reason = match tonic::Code::from(r.code) {
                tonic::Code::FailedPrecondition => "late",
                tonic::Code::NotFound => "unknown_exchange",
                tonic::Code::InvalidArgument => "invalid",
                _ => "other",
            };
            self.stats.signals(Fate::Rejected, reason, 1);
            tracing::warn!(signal_id = r.signal_id, field = %r.field, reason = %r.reason,
                "coordinator rejected a signal");
        }
        let unlisted = u64::from(summary.rejected).saturating_sub(summary.rejections.len() as u64);
        self.stats.signals(Fate::Rejected, "other", unlisted);
        self.stats.signals(Fate::AlreadyStored, "", already);
        self.stats
            .signals(Fate::Relayed, "", u64::from(summary.accepted));
        // Every answered signal is settled: accepted, stored already, or refused for good.
        for s in &fresh {
            self.seen.insert(s);
        }
        tracing::info!(
            waves = ?waves,
            accepted = summary.accepted,
            already_stored = already,
            rejected = u64::from(summary.rejected) - already,
            relayed_total = self.stats.total(Fate::Relayed),
            repeats_dropped_total = self.stats.total(Fate::Repeat),
            "relayed new signals"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn signal(id: i64, ts: DateTime<Utc>) -> Signal {
        wavegate_common::signal::SignalDraft {
            id: Some(id),
            symbol: Some("BTCUSDT".into()),
            exchange_id: Some(1),
            action: wavegate_common::Action::parse("BUY"),
            score_week: Some(1.0),
            score_month: Some(1.0),
            wave_timestamp: Some(ts),
            created_at: Some(ts),
            params: None,
        }
        .check(900, ts)
        .unwrap()
    }

    #[test]
    fn seen_is_per_wave_and_forgets_old_waves() {
        let t = Utc.with_ymd_and_hms(2025, 10, 28, 18, 15, 0).unwrap();
        let next = t + Duration::minutes(15);
        let mut seen = Seen::default();
        seen.insert(&signal(1, t));
        assert!(seen.contains(&signal(1, t)));
        // The same id in another candle is another signal.
        assert!(!seen.contains(&signal(1, next)));
        seen.insert(&signal(2, next));
        seen.prune(next + REMEMBER);
        assert!(!seen.contains(&signal(1, t)));
        assert!(seen.contains(&signal(2, next)));
    }
}

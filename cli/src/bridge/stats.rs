//! The bridge's state for its log and metrics: connection, last message, counts by outcome.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};
use strum::EnumCount as _;
use wavegate_common::telemetry::Metrics;
use wavegate_common::telemetry::metrics::Process;

/// What happened to one record of a `signals` message; its metric label is snake case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumCount)]
#[strum(serialize_all = "snake_case")]
pub enum Fate {
    /// New and accepted by the coordinator.
    Relayed,
    /// Seen before by this bridge: not sent again.
    Repeat,
    /// Sent, and the coordinator holds it already (e.g. after a bridge restart).
    AlreadyStored,
    /// The record could not be read as a signal (counted, logged, never fatal).
    Invalid,
    /// The coordinator refused it (late, unknown exchange, …).
    Rejected,
}

/// Counters shared by the bridge's tasks, registered in a process's [`Metrics`] registry.
#[derive(Debug, Clone)]
pub struct BridgeStats {
    metrics: Arc<Metrics>,
    connected: IntGauge,
    last_message: IntGauge,
    signals: IntCounterVec,
    bad_messages: IntCounterVec,
    connections: IntCounterVec,
    forward_errors: IntCounter,
    /// Totals per fate for the log (the metric keeps them per reason too).
    totals: Arc<[AtomicU64; Fate::COUNT]>,
}

impl BridgeStats {
    /// Registers the bridge's metric families.
    pub fn new() -> Result<Self, prometheus::Error> {
        let metrics = Arc::new(
            Metrics::new(Process::Bridge)
                .map_err(|e| prometheus::Error::Msg(format!("metrics: {e}")))?,
        );
        let r = metrics.registry();
        let connected = IntGauge::new(
            "wavegate_bridge_connected",
            "1 while the bridge is authenticated to the signal server.",
        )?;
        r.register(Box::new(connected.clone()))?;
        let last_message = IntGauge::new(
            "wavegate_bridge_last_message_timestamp_seconds",
            "Unix time of the last message from the signal server.",
        )?;
        r.register(Box::new(last_message.clone()))?;
        let signals = IntCounterVec::new(
            Opts::new(
                "wavegate_bridge_signals_total",
                "Records of signals messages, by what became of them.",
            ),
            &["result", "reason"],
        )?;
        r.register(Box::new(signals.clone()))?;
        let bad_messages = IntCounterVec::new(
            Opts::new(
                "wavegate_bridge_bad_messages_total",
                "Messages from the signal server that could not be used, by reason.",
            ),
            &["reason"],
        )?;
        r.register(Box::new(bad_messages.clone()))?;
        let connections = IntCounterVec::new(
            Opts::new(
                "wavegate_bridge_connections_total",
                "Connection attempts to the signal server, by outcome.",
            ),
            &["outcome"],
        )?;
        r.register(Box::new(connections.clone()))?;
        let forward_errors = IntCounter::new(
            "wavegate_bridge_forward_errors_total",
            "Calls to the coordinator that failed (their signals are sent again with the next push).",
        )?;
        r.register(Box::new(forward_errors.clone()))?;
        Ok(Self {
            metrics,
            connected,
            last_message,
            signals,
            bad_messages,
            connections,
            forward_errors,
            totals: Arc::new(Default::default()),
        })
    }

    /// The registry holder, for the `/metrics` endpoint.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Sets the connected gauge.
    pub fn set_connected(&self, up: bool) {
        self.connected.set(i64::from(up));
    }

    /// Records that a message arrived now.
    pub fn message(&self) {
        self.last_message.set(chrono::Utc::now().timestamp());
    }

    /// Counts `n` records with this fate; `reason` is a short label (empty when none).
    pub fn signals(&self, fate: Fate, reason: &str, n: u64) {
        if n > 0 {
            self.signals
                .with_label_values(&[fate.into(), reason])
                .inc_by(n);
            self.totals[fate as usize].fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counts a bad message.
    pub fn bad_message(&self, reason: &str) {
        self.bad_messages.with_label_values(&[reason]).inc();
    }

    /// Counts a connection attempt's outcome (`authenticated`, `auth_failed`, `error`, …).
    pub fn connection(&self, outcome: &str) {
        self.connections.with_label_values(&[outcome]).inc();
    }

    /// Counts a failed call to the coordinator.
    pub fn forward_error(&self) {
        self.forward_errors.inc();
    }

    /// Total records with this fate (all reasons), for the log.
    pub fn total(&self, fate: Fate) -> u64 {
        self.totals[fate as usize].load(Ordering::Relaxed)
    }
}

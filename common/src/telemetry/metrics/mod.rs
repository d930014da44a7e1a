//! Prometheus metrics of wavegate: the metric families, typed recording methods, and the
//! `/metrics` HTTP endpoint ([`serve_metrics`]).
//!
//! Each process owns one [`Metrics`] (its own registry, not the crate-global one, so tests
//! and in-process clusters do not mix their counts) shared as `Arc<Metrics>`, and exports only
//! its own families ([`Process`]) plus the standard `process_*` families and
//! `wavegate_build_info`. Recording is a label lookup plus an atomic add; on the per-order
//! path, resolve an [`ExchangeMetrics`] once per exchange and wave and record through it.

mod labels;
mod process;
mod server;

use std::time::Duration;

use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub use crate::wave_status::WaveStatus;
pub use labels::IngestResult;
pub use process::ProcessCollector;
pub use server::{MetricsServer, serve_metrics};

use super::TelemetryError;
use crate::stats::ExchangeStats;
use crate::validate::Verdict;

/// Buckets of `wavegate_wave_duration_seconds`: a wave takes milliseconds on a paper exchange
/// and up to minutes with rate-limited real orders.
const WAVE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Buckets of `wavegate_order_latency_seconds`: sub-millisecond on paper, seconds on a slow
/// exchange.
const ORDER_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Which process a [`Metrics`] is for: each exports only the families it records, so a
/// dashboard summing over jobs never counts a fact twice and an agent never shows the
/// coordinator's (always empty) wave histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Process {
    /// Waves, per-exchange results, agent connectivity, ingest.
    Coordinator,
    /// Validation verdicts, order latency and throttling.
    Agent,
    /// `wavegate bridge`: none of the above; it registers its own families.
    Bridge,
}

impl Process {
    /// `coordinator` or `agent` (the `process` label of `wavegate_build_info`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The metric families of one process.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    waves: IntCounterVec,
    wave_duration: Histogram,
    executed: IntCounterVec,
    target_reached: IntCounterVec,
    topups: IntCounterVec,
    verdicts: IntCounterVec,
    order_latency: HistogramVec,
    agent_connected: IntGaugeVec,
    agent_stalls: IntCounterVec,
    ingest: IntCounterVec,
    throttled: IntCounterVec,
    fill_price_replaced: IntCounterVec,
    results_rejected: IntCounterVec,
    trailing_stops: IntCounterVec,
}

/// `result` label values of `wavegate_agent_trailing_stops_total`.
const TRAILING_RESULTS: [&str; 2] = ["placed", "failed"];

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Creates every family and registers those of `process` (plus `process_*` and
    /// `wavegate_build_info`) in a fresh registry. The coordinator's unlabelled and
    /// status/result series start at 0, so alerts and rates work from start-up. Fails only on
    /// an invalid metric definition, i.e. a bug here.
    pub fn new(process: Process) -> Result<Self, TelemetryError> {
        let registry = Registry::new();
        let coordinator = process == Process::Coordinator;
        let agent = process == Process::Agent;
        let register = |c: Box<dyn prometheus::core::Collector>, mine: bool| {
            if mine {
                registry.register(c)?;
            }
            Ok::<_, prometheus::Error>(())
        };
        let counter = |name: &str, help: &str, labels: &[&str], mine: bool| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            register(Box::new(c.clone()), mine)?;
            Ok::<_, prometheus::Error>(c)
        };
        let waves = counter(
            "wavegate_waves_total",
            "Waves finished, by final status.",
            &["status"],
            coordinator,
        )?;
        let wave_duration = Histogram::with_opts(
            HistogramOpts::new(
                "wavegate_wave_duration_seconds",
                "Time from a wave's dispatch to its completion.",
            )
            .buckets(WAVE_BUCKETS.to_vec()),
        )?;
        register(Box::new(wave_duration.clone()), coordinator)?;
        let executed = counter(
            "wavegate_exchange_executed_total",
            "Positions opened, by exchange.",
            &["exchange"],
            coordinator,
        )?;
        let target_reached = counter(
            "wavegate_exchange_target_reached_total",
            "Exchange results of a wave that reached max_trades.",
            &["exchange"],
            coordinator,
        )?;
        let topups = counter(
            "wavegate_topups_total",
            "Top-up rounds requested, by exchange.",
            &["exchange"],
            coordinator,
        )?;
        let verdicts = counter(
            "wavegate_validation_verdicts_total",
            "Validation verdicts, by exchange, verdict and reason.",
            &["exchange", "verdict", "reason"],
            agent,
        )?;
        let order_latency = HistogramVec::new(
            HistogramOpts::new(
                "wavegate_order_latency_seconds",
                "Time to open one position on the exchange (entry and stop), by exchange.",
            )
            .buckets(ORDER_BUCKETS.to_vec()),
            &["exchange"],
        )?;
        register(Box::new(order_latency.clone()), agent)?;
        let agent_connected = IntGaugeVec::new(
            Opts::new(
                "wavegate_agent_connected",
                "1 when the coordinator can reach the exchange's agent, else 0.",
            ),
            &["exchange"],
        )?;
        register(Box::new(agent_connected.clone()), coordinator)?;
        let agent_stalls = counter(
            "wavegate_agent_stalls_total",
            "Wave streams on which the exchange's agent sent nothing for progress_timeout_secs.",
            &["exchange"],
            coordinator,
        )?;
        let ingest = counter(
            "wavegate_ingest_signals_total",
            "Signals received by ingest, by result.",
            &["result"],
            coordinator,
        )?;
        let throttled = counter(
            "wavegate_exchange_throttled_total",
            "Exchange calls held back by the venue's rate limit or ban, by exchange and call \
             (entry, stop, close, read).",
            &["exchange", "call"],
            agent,
        )?;
        let fill_price_replaced = counter(
            "wavegate_fill_price_replaced_total",
            "Entry fills whose reported average price was missing or too far from the venue's \
             last price even when read back, so their stop was computed from the last price, \
             by exchange.",
            &["exchange"],
            agent,
        )?;
        let results_rejected = counter(
            "wavegate_agent_results_rejected_total",
            "Agent results the coordinator refused because they do not match what it sent, \
             by exchange.",
            &["exchange"],
            coordinator,
        )?;
        let trailing_stops = counter(
            "wavegate_agent_trailing_stops_total",
            "Trailing stops after a protective stop, by exchange and result (placed, failed).",
            &["exchange", "result"],
            agent,
        )?;
        registry.register(Box::new(process::ProcessCollector::new()?))?;
        registry.register(Box::new(process::build_info(process.as_str())?))?;
        // Every status and result at 0 from start-up: `increase()` and alerts need a series
        // before the first event.
        for status in WaveStatus::FINAL {
            waves.with_label_values(&[status.as_str()]);
        }
        for result in IngestResult::ALL {
            ingest.with_label_values(&[result.as_str()]);
        }
        Ok(Self {
            throttled,
            fill_price_replaced,
            registry,
            waves,
            wave_duration,
            executed,
            target_reached,
            topups,
            verdicts,
            order_latency,
            agent_connected,
            agent_stalls,
            ingest,
            results_rejected,
            trailing_stops,
        })
    }

    /// Creates the agent's per-exchange series at 0 (trailing stops placed and failed), so
    /// `increase()` and alerts on them work before the first trailing stop.
    pub fn register_agent_exchange(&self, exchange: &str) {
        for result in TRAILING_RESULTS {
            self.trailing_stops.with_label_values(&[exchange, result]);
        }
    }

    /// A trailing stop on `exchange` was placed (`true`) or failed (`false`; the protective
    /// stop stays).
    pub fn trailing_stop(&self, exchange: &str, placed: bool) {
        let result = TRAILING_RESULTS[usize::from(!placed)];
        self.trailing_stops
            .with_label_values(&[exchange, result])
            .inc();
    }

    /// A wave ended with `status` after `duration` (dispatch to completion).
    /// Only final statuses are labels; anything else would be a partial result.
    pub fn wave_finished(&self, status: WaveStatus, duration: Duration) {
        let status = if status.is_final() {
            status
        } else {
            WaveStatus::Partial
        };
        self.waves.with_label_values(&[status.as_str()]).inc();
        self.wave_duration.observe(duration.as_secs_f64());
    }

    /// Records one exchange's final result of a wave: positions opened, whether the target
    /// was reached, and its top-up rounds. Call once per exchange per wave (coordinator), and
    /// do not also call [`Self::topup`] for the same rounds.
    pub fn exchange_finished(&self, stats: &ExchangeStats) {
        let exchange = stats.exchange_name.as_str();
        self.executed
            .with_label_values(&[exchange])
            .inc_by(u64::from(stats.executed));
        // Touched also when missed, so the series exists (at 0) for alerts and ratios.
        let reached = self.target_reached.with_label_values(&[exchange]);
        if stats.target_reached {
            reached.inc();
        }
        self.topups
            .with_label_values(&[exchange])
            .inc_by(u64::from(stats.topup_rounds));
    }

    /// Creates `exchange`'s per-exchange series at 0, so a configured exchange is scraped
    /// (and alerts on it work) before its first wave; its agent counts as not connected until
    /// a probe or a call reaches it.
    pub fn register_exchange(&self, exchange: &str) {
        for family in [
            &self.executed,
            &self.target_reached,
            &self.topups,
            &self.results_rejected,
            &self.agent_stalls,
        ] {
            family.with_label_values(&[exchange]);
        }
        self.agent_connected.with_label_values(&[exchange]);
    }

    /// `n` positions opened on `exchange`.
    pub fn exchange_executed(&self, exchange: &str, n: u64) {
        self.executed.with_label_values(&[exchange]).inc_by(n);
    }

    /// `exchange` reached its target in a wave.
    pub fn exchange_target_reached(&self, exchange: &str) {
        self.target_reached.with_label_values(&[exchange]).inc();
    }

    /// One top-up round requested for `exchange`.
    pub fn topup(&self, exchange: &str) {
        self.topups.with_label_values(&[exchange]).inc();
    }

    /// One validation verdict on `exchange`.
    pub fn validation_verdict(&self, exchange: &str, verdict: &Verdict) {
        let (v, reason) = labels::verdict_labels(verdict);
        self.verdicts
            .with_label_values(&[exchange, v, reason])
            .inc();
    }

    /// Opening one position on `exchange` took `latency`.
    pub fn order_latency(&self, exchange: &str, latency: Duration) {
        self.order_latency
            .with_label_values(&[exchange])
            .observe(latency.as_secs_f64());
    }

    /// A `call` (`entry`, `stop`, `close`, `read`) on `exchange` was held back by the venue's
    /// rate limit or ban.
    pub fn throttled(&self, exchange: &str, call: &str) {
        self.throttled.with_label_values(&[exchange, call]).inc();
    }

    /// An entry on `exchange` was priced at the venue's last price: its reported fill price was
    /// missing or not believable, also when read back.
    pub fn fill_price_replaced(&self, exchange: &str) {
        self.fill_price_replaced
            .with_label_values(&[exchange])
            .inc();
    }

    /// Whether the coordinator currently reaches the agent of `exchange`.
    pub fn agent_connected(&self, exchange: &str, connected: bool) {
        self.agent_connected
            .with_label_values(&[exchange])
            .set(i64::from(connected));
    }

    /// The coordinator refused a result (or outcome) from the agent of `exchange` that does
    /// not match what it sent.
    pub fn agent_result_rejected(&self, exchange: &str) {
        self.results_rejected.with_label_values(&[exchange]).inc();
    }

    /// The agent of `exchange` sent nothing on a wave's stream for the progress timeout.
    pub fn agent_stalled(&self, exchange: &str) {
        self.agent_stalls.with_label_values(&[exchange]).inc();
    }

    /// `n` signals ended in `result` at ingest.
    pub fn ingest_signals(&self, result: IngestResult, n: u64) {
        self.ingest.with_label_values(&[result.as_str()]).inc_by(n);
    }

    /// Handles for `exchange` resolved once, for the per-order and per-verdict path.
    pub fn exchange(&self, exchange: &str) -> ExchangeMetrics {
        ExchangeMetrics {
            exchange: exchange.to_owned(),
            executed: self.executed.with_label_values(&[exchange]),
            topups: self.topups.with_label_values(&[exchange]),
            order_latency: self.order_latency.with_label_values(&[exchange]),
            connected: self.agent_connected.with_label_values(&[exchange]),
            verdicts: self.verdicts.clone(),
        }
    }

    /// The registry, to add process-specific families.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Everything in the Prometheus text exposition format (what `/metrics` serves).
    pub fn encode(&self) -> Result<String, TelemetryError> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        // The text encoder writes only UTF-8 (names are ASCII, label values are `&str`).
        String::from_utf8(buf)
            .map_err(|e| TelemetryError::Metrics(prometheus::Error::Msg(e.to_string())))
    }
}

/// The metrics of one exchange with their label already resolved.
#[derive(Clone)]
pub struct ExchangeMetrics {
    exchange: String,
    executed: IntCounter,
    topups: IntCounter,
    order_latency: Histogram,
    connected: IntGauge,
    verdicts: IntCounterVec,
}

impl std::fmt::Debug for ExchangeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeMetrics")
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

impl ExchangeMetrics {
    /// One position opened.
    pub fn executed(&self) {
        self.executed.inc();
    }

    /// One top-up round requested.
    pub fn topup(&self) {
        self.topups.inc();
    }

    /// Opening one position took `latency`.
    pub fn order_latency(&self, latency: Duration) {
        self.order_latency.observe(latency.as_secs_f64());
    }

    /// One validation verdict.
    pub fn validation_verdict(&self, verdict: &Verdict) {
        let (v, reason) = labels::verdict_labels(verdict);
        self.verdicts
            .with_label_values(&[self.exchange.as_str(), v, reason])
            .inc();
    }

    /// Whether the agent is reachable.
    pub fn connected(&self, connected: bool) {
        self.connected.set(i64::from(connected));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Duplicate;

    #[test]
    fn every_family_is_exposed_with_its_labels() {
        let m = Metrics::new(Process::Coordinator).unwrap();
        let a = Metrics::new(Process::Agent).unwrap();
        m.wave_finished(WaveStatus::Completed, Duration::from_millis(1500));
        m.wave_finished(WaveStatus::Partial, Duration::from_millis(20));
        let stats = ExchangeStats {
            exchange_name: "binance".into(),
            executed: 6,
            target: 6,
            target_reached: true,
            topup_rounds: 1,
            ..ExchangeStats::default()
        };
        m.exchange_finished(&stats);
        a.validation_verdict("binance", &Verdict::Failed("symbol_not_tradable".into()));
        a.validation_verdict("binance", &Verdict::Skipped(Duplicate::OpenPosition));
        a.order_latency("bybit", Duration::from_millis(3));
        m.agent_connected("bybit", true);
        m.agent_connected("binance", false);
        m.ingest_signals(IngestResult::Accepted, 100);
        m.ingest_signals(IngestResult::Late, 2);

        let text = m.encode().unwrap() + &a.encode().unwrap();
        for line in [
            r#"wavegate_waves_total{status="completed"} 1"#,
            r#"wavegate_waves_total{status="partial"} 1"#,
            "wavegate_wave_duration_seconds_count 2",
            r#"wavegate_wave_duration_seconds_bucket{le="2.5"} 2"#,
            r#"wavegate_wave_duration_seconds_bucket{le="1"} 1"#,
            r#"wavegate_exchange_executed_total{exchange="binance"} 6"#,
            r#"wavegate_exchange_target_reached_total{exchange="binance"} 1"#,
            r#"wavegate_topups_total{exchange="binance"} 1"#,
            r#"wavegate_validation_verdicts_total{exchange="binance",reason="symbol_not_tradable",verdict="failed"} 1"#,
            r#"wavegate_validation_verdicts_total{exchange="binance",reason="open_position",verdict="skipped"} 1"#,
            r#"wavegate_order_latency_seconds_count{exchange="bybit"} 1"#,
            r#"wavegate_agent_connected{exchange="bybit"} 1"#,
            r#"wavegate_agent_connected{exchange="binance"} 0"#,
            r#"wavegate_ingest_signals_total{result="accepted"} 100"#,
            r#"wavegate_ingest_signals_total{result="late"} 2"#,
            "# TYPE wavegate_order_latency_seconds histogram",
            "# TYPE wavegate_agent_connected gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn each_process_exports_only_its_families_and_starts_at_zero() {
        let c = Metrics::new(Process::Coordinator).unwrap();
        c.register_exchange("binance");
        let text = c.encode().unwrap();
        for line in [
            r#"wavegate_waves_total{status="failed"} 0"#,
            r#"wavegate_ingest_signals_total{result="accepted"} 0"#,
            r#"wavegate_agent_connected{exchange="binance"} 0"#,
            "wavegate_wave_duration_seconds_count 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        let a = Metrics::new(Process::Agent).unwrap();
        a.order_latency("binance", Duration::from_millis(3));
        let text = a.encode().unwrap();
        for family in [
            "wavegate_wave_duration_seconds",
            "wavegate_waves_total",
            "wavegate_agent_connected",
        ] {
            assert!(!text.contains(family), "{family} in the agent's\n{text}");
        }
        assert!(
            text.contains("wavegate_order_latency_seconds_count"),
            "{text}"
        );
        for (m, process) in [(&c, "coordinator"), (&a, "agent")] {
            let text = m.encode().unwrap();
            let info = format!(
                r#"wavegate_build_info{{process="{process}",version="{}"}} 1"#,
                crate::VERSION
            );
            assert!(
                text.lines().any(|l| l == info),
                "missing {info:?} in\n{text}"
            );
            if cfg!(target_os = "linux") {
                for family in [
                    "# TYPE process_cpu_seconds_total counter",
                    "# TYPE process_resident_memory_bytes gauge",
                    "# TYPE process_start_time_seconds gauge",
                    "# TYPE process_open_fds gauge",
                ] {
                    assert!(
                        text.lines().any(|l| l == family),
                        "missing {family:?} in\n{text}"
                    );
                }
                let rss = text
                    .lines()
                    .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
                    .and_then(|v| v.parse::<f64>().ok());
                assert!(rss.is_some_and(|v| v > 0.0), "{text}");
            }
        }
    }

    #[test]
    fn resolved_handles_count_into_the_same_series() {
        let m = Metrics::new(Process::Coordinator).unwrap();
        let a = Metrics::new(Process::Agent).unwrap();
        let ex = m.exchange("bybit");
        ex.executed();
        ex.executed();
        m.exchange_executed("bybit", 1);
        ex.topup();
        ex.connected(true);
        let ax = a.exchange("bybit");
        ax.validation_verdict(&Verdict::Successful);
        ax.order_latency(Duration::from_secs(2));
        let text = m.encode().unwrap() + &a.encode().unwrap();
        assert!(text.contains(r#"wavegate_exchange_executed_total{exchange="bybit"} 3"#));
        assert!(text.contains(r#"wavegate_topups_total{exchange="bybit"} 1"#));
        assert!(text.contains(
            r#"wavegate_validation_verdicts_total{exchange="bybit",reason="",verdict="successful"} 1"#
        ));
        assert!(
            text.contains(r#"wavegate_order_latency_seconds_bucket{exchange="bybit",le="1"} 0"#)
        );
        assert!(
            text.contains(r#"wavegate_order_latency_seconds_bucket{exchange="bybit",le="2.5"} 1"#)
        );
    }

    #[test]
    fn a_missed_or_not_yet_run_exchange_has_its_series_at_zero() {
        let m = Metrics::new(Process::Coordinator).unwrap();
        m.register_exchange("okx");
        let missed = ExchangeStats {
            exchange_name: "bybit".into(),
            executed: 3,
            target: 4,
            ..ExchangeStats::default()
        };
        m.exchange_finished(&missed);
        let text = m.encode().unwrap();
        for line in [
            r#"wavegate_exchange_target_reached_total{exchange="bybit"} 0"#,
            r#"wavegate_exchange_executed_total{exchange="bybit"} 3"#,
            r#"wavegate_exchange_target_reached_total{exchange="okx"} 0"#,
            r#"wavegate_exchange_executed_total{exchange="okx"} 0"#,
            r#"wavegate_topups_total{exchange="okx"} 0"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn trailing_stops_start_at_zero_and_count_by_result_on_the_agent_only() {
        let a = Metrics::new(Process::Agent).unwrap();
        a.register_agent_exchange("binance");
        let text = a.encode().unwrap();
        for line in [
            r#"wavegate_agent_trailing_stops_total{exchange="binance",result="placed"} 0"#,
            r#"wavegate_agent_trailing_stops_total{exchange="binance",result="failed"} 0"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        a.trailing_stop("binance", true);
        a.trailing_stop("binance", true);
        a.trailing_stop("binance", false);
        let text = a.encode().unwrap();
        for line in [
            r#"wavegate_agent_trailing_stops_total{exchange="binance",result="placed"} 2"#,
            r#"wavegate_agent_trailing_stops_total{exchange="binance",result="failed"} 1"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        let c = Metrics::new(Process::Coordinator).unwrap();
        c.trailing_stop("binance", true);
        assert!(
            !c.encode()
                .unwrap()
                .contains("wavegate_agent_trailing_stops_total"),
            "an agent family"
        );
    }

    #[test]
    fn registries_are_independent() {
        let a = Metrics::new(Process::Coordinator).unwrap();
        let b = Metrics::new(Process::Coordinator).unwrap();
        a.ingest_signals(IngestResult::Accepted, 5);
        assert!(
            b.encode()
                .unwrap()
                .contains(r#"wavegate_ingest_signals_total{result="accepted"} 0"#)
        );
    }
}

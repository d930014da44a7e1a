//! `[dispatch]`: how waves are sent to agents, and the timings of their retries and lease.

use std::num::{NonZeroU32, NonZeroU64};

use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;
use wavegate_common::config_load::{ensure, nonzero};
use wavegate_common::plan::{DEFAULT_BUFFER_FIXED, DEFAULT_MAX_TOPUP_ROUNDS};
use wavegate_common::proto::v1 as pb;

use super::ConfigError;

/// How agents walk the validated list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionMode {
    /// One order at a time (the reference behaviour).
    #[default]
    Sequential,
    /// Up to `max_trades - executed` orders in flight; same executed set.
    Windowed,
}

impl ExecutionMode {
    /// Wire form.
    pub fn to_proto(self) -> pb::ExecutionMode {
        match self {
            ExecutionMode::Sequential => pb::ExecutionMode::Sequential,
            ExecutionMode::Windowed => pb::ExecutionMode::Windowed,
        }
    }
}

/// Dispatch to agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// `buffer_size = max_trades + buffer_fixed` when no buffer size is stored.
    #[default(DEFAULT_BUFFER_FIXED)]
    pub buffer_fixed: u32,
    /// Top-up rounds per exchange per wave.
    #[default(DEFAULT_MAX_TOPUP_ROUNDS)]
    pub max_topup_rounds: u32,
    /// Opt-in (docs/design.md §1): top-ups after execution failures too, within `max_topup_rounds`.
    pub topup_after_failures: bool,
    /// Execution mode sent to agents.
    pub execution_mode: ExecutionMode,
    /// Connect timeout to an agent.
    #[default = 2000]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub connect_timeout_ms: u64,
    /// Attempts to reach an agent that has not taken the wave, then `agent_unavailable`.
    #[default = 3]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU32, _>")]
    pub retries: u32,
    /// Seconds past the deadline the wave is re-sent to an agent that took it, for its `Result`.
    #[default = 120]
    pub result_wait_secs: u64,
    /// Silence on an open stream taken as hung: logged, counted, shown, and the wave re-sent.
    #[default = 60]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub progress_timeout_secs: u64,
    /// Dispatch lease: another coordinator may take over a wave whose lease expired.
    #[default = 15]
    pub lease_secs: u64,
    /// First delay before an exchange's next attempt; doubles up to `retry_backoff_max_ms`.
    #[default = 200]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub retry_backoff_min_ms: u64,
    /// Longest delay between attempts: an agent back from a restart gets the wave within it.
    #[default = 5000]
    pub retry_backoff_max_ms: u64,
}

impl DispatchConfig {
    /// Checks the values serde cannot; the error names the bad key.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        // Renewed every third of the lease: a shorter one leaves a renewal too little time on
        // a busy database, and another coordinator would take over a wave still running.
        ensure(self.lease_secs >= 3, "dispatch.lease_secs", || {
            "must be at least 3".into()
        })?;
        let (min, max) = (self.retry_backoff_min_ms, self.retry_backoff_max_ms);
        ensure(max >= min, "dispatch.retry_backoff_max_ms", || {
            format!("must be >= dispatch.retry_backoff_min_ms ({min}), got {max}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::CoordinatorConfig;

    #[test]
    fn retry_and_probe_timings_default_as_before_and_load_from_the_file_and_environment() {
        let c = CoordinatorConfig::default();
        let d = &c.dispatch;
        assert_eq!(
            (d.retry_backoff_min_ms, d.retry_backoff_max_ms),
            (200, 5000)
        );
        assert_eq!((d.lease_secs, c.storage_probe_interval_ms), (15, 1000));
        let c = CoordinatorConfig::from_toml(
            "storage_probe_interval_ms = 100\n\
             [dispatch]\nretry_backoff_min_ms = 50\nretry_backoff_max_ms = 50\nlease_secs = 3\n",
        )
        .unwrap();
        c.validate().unwrap();
        let d = &c.dispatch;
        assert_eq!((d.retry_backoff_min_ms, d.retry_backoff_max_ms), (50, 50));
        assert_eq!((d.lease_secs, c.storage_probe_interval_ms), (3, 100));
        let env = |k: &str| match k {
            "WAVEGATE_DISPATCH_RETRY_BACKOFF_MAX_MS" => Some("700".to_owned()),
            "WAVEGATE_STORAGE_PROBE_INTERVAL_MS" => Some("250".to_owned()),
            _ => None,
        };
        let c = CoordinatorConfig::load_with_env(None, env).unwrap();
        assert_eq!(c.dispatch.retry_backoff_max_ms, 700);
        assert_eq!(c.storage_probe_interval_ms, 250);
    }

    #[test]
    fn bad_timings_are_refused_naming_the_key() {
        for (text, key) in [
            (
                "[dispatch]\nretry_backoff_min_ms = 500\nretry_backoff_max_ms = 499\n",
                "dispatch.retry_backoff_max_ms",
            ),
            // The default cap (5 s) under a longer first delay.
            (
                "[dispatch]\nretry_backoff_min_ms = 6000\n",
                "dispatch.retry_backoff_max_ms",
            ),
            ("[dispatch]\nlease_secs = 2\n", "dispatch.lease_secs"),
        ] {
            let c = CoordinatorConfig::from_toml(text).unwrap();
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        for (text, key) in [
            (
                "[dispatch]\nretry_backoff_min_ms = 0\n",
                "retry_backoff_min_ms",
            ),
            (
                "storage_probe_interval_ms = 0\n",
                "storage_probe_interval_ms",
            ),
        ] {
            let e = CoordinatorConfig::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("nonzero"), "{text}: {e}");
        }
    }
}

//! Coordinator configuration: TOML, then [`ENV`], then [`CoordinatorConfig::validate`].

use std::collections::HashSet;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;
use wavegate_common::config_load::{self, EnvSpec, ensure, nonzero, nonzero_opt};
use wavegate_common::telemetry::{SERVICE_COORDINATOR, TelemetryConfig, TelemetryError};

use crate::store::SqliteSync;

mod dispatch;
mod tls;

pub use dispatch::{DispatchConfig, ExecutionMode};
pub use tls::AgentTls;
/// A configuration that cannot be used, naming the key at fault (and its source when loading).
pub use wavegate_common::config_load::Error as ConfigError;
/// `[tls]`: serve the public API over TLS, mutual TLS with `client_ca`.
pub use wavegate_common::config_load::ServerTls;
/// `[telemetry]`: log format and OTLP endpoint (the service name is the coordinator's).
pub use wavegate_common::config_load::TelemetryTable as CoordinatorTelemetry;
pub(crate) use wavegate_common::config_load::refused as tls_refused;

/// Environment names: `WAVEGATE_` + the key path in upper case, `.` as `_` (or `__`), e.g.
/// `WAVEGATE_WAVES_QUIET_SECS`; none for `[agent_tls]` (`WAVEGATE_AGENT_*` is the agent's).
pub const ENV: EnvSpec = EnvSpec {
    prefix: "WAVEGATE_",
    aliases: &[],
    exclude: &["agent_tls"],
};

/// Default `max_request_bytes`: 4 MiB, some 20 000 signals in one `PublishWave`.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Bounds of `max_request_bytes`: below refuses ordinary calls, above lets one call hog memory.
const MIN_REQUEST_BYTES: usize = 64 * 1024;
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// Checks a `(min, max)` size range in USD: both finite, `0 < min <= max`.
fn check_size_range(
    min_key: &str,
    max_key: &str,
    (min, max): (f64, f64),
) -> Result<(), ConfigError> {
    ensure(min.is_finite() && min > 0.0, min_key, || {
        format!("must be positive, got {min}")
    })?;
    ensure(max.is_finite() && max >= min, max_key, || {
        format!("must be >= the minimum size ({min}), got {max}")
    })
}

/// Wave timing (docs/design.md §4 "Wave timing").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct WaveTiming {
    /// Candle length; a signal without a wave timestamp belongs to `created_at` rounded down.
    #[default = 900]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub interval_secs: u64,
    /// How long after its candle closes a producer may still send a wave's signals (the
    /// reference computes them 18–19 minutes after the open; 600 accepts them to minute 27).
    #[default = 600]
    pub signal_delay_secs: u64,
    /// Margin after `signal_delay`: the latest close is `ts + interval + signal_delay + grace`.
    #[default = 120]
    pub grace_secs: u64,
    /// A wave closes after this long without a new signal.
    #[default = 3]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub quiet_secs: u64,
    /// A wave older than this is never executed (it becomes `failed`).
    #[default = 7200]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub max_wave_age_secs: u64,
    /// Per-wave dispatch deadline: nothing is sent to an exchange after it.
    #[default = 300]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub deadline_secs: u64,
}

/// One exchange the coordinator dispatches to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    /// Exchange id used by signals (1 = Binance, 2 = Bybit by convention).
    #[serde(deserialize_with = "nonzero::<_, NonZeroU32, _>")]
    pub id: u32,
    /// Human name, e.g. `binance`.
    pub name: String,
    /// Agent endpoint, `http://host:port`; none means the exchange is `agent_unavailable`.
    pub agent: Option<String>,
    /// `max_trades` used when no params are stored (params source `default`).
    #[serde(default, deserialize_with = "nonzero_opt::<_, NonZeroU32, _>")]
    pub default_max_trades: Option<u32>,
    /// Deployment region of the agent, for display.
    pub region: Option<String>,
    /// File with the token sent to this exchange's agent (its `auth.token_file`); never logged.
    pub agent_token_file: Option<PathBuf>,
    /// Smallest `position_size_usd` for this exchange; none: `[params] min_size_usd`.
    pub min_size_usd: Option<f64>,
    /// Largest `position_size_usd` for this exchange; none: `[params] max_size_usd`.
    pub max_size_usd: Option<f64>,
}

impl ExchangeConfig {
    /// The `position_size_usd` range params may set: this exchange's bounds, else `[params]`'s.
    pub fn size_range(&self, params: &ParamsConfig) -> (f64, f64) {
        (
            self.min_size_usd.unwrap_or(params.min_size_usd),
            self.max_size_usd.unwrap_or(params.max_size_usd),
        )
    }
}

/// `[params]`: bounds of the params producers and operators may set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct ParamsConfig {
    /// Highest `max_trades` accepted from `Params.Set` or a signal (positions per exchange).
    #[default = 100]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU32, _>")]
    pub max_trades_ceiling: u32,
    /// Highest `leverage` accepted from `Params.Set` (1..=this; the venues allow up to 125).
    #[default = 20]
    pub max_leverage: u32,
    /// Default smallest `position_size_usd`, in USD (the reference's 5).
    #[default = 5.0]
    pub min_size_usd: f64,
    /// Default largest `position_size_usd`, in USD (the reference's 10 000).
    #[default = 10_000.0]
    pub max_size_usd: f64,
}

/// Bearer-token authentication of the public API (paths only: tokens never enter the config).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// File with one accepted bearer token per line.
    pub tokens_file: Option<PathBuf>,
    /// Serve a non-loopback `listen` without tokens or mutual TLS (signals become orders).
    #[serde(default)]
    pub insecure: bool,
}

/// The whole coordinator configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct CoordinatorConfig {
    /// gRPC listen address (port 0 picks a free port).
    #[default(SocketAddr::from(([127, 0, 0, 1], 7000)))]
    pub listen: SocketAddr,
    /// `sqlite://file?mode=rwc` or `postgres://user@host/db`.
    #[default = "sqlite://wavegate.db?mode=rwc"]
    pub database_url: String,
    /// SQLite commit durability: `full` (survives power loss, the default) or `normal`.
    #[default(SqliteSync::Full)]
    pub sqlite_sync: SqliteSync,
    /// After a storage fault, a write is tried this often until the storage takes writes again.
    #[default = 1000]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub storage_probe_interval_ms: u64,
    /// Most signals accepted in one `PublishWave` call or one `Publish` stream.
    #[default = 100_000]
    #[serde(deserialize_with = "nonzero::<_, NonZeroUsize, _>")]
    pub max_batch_signals: usize,
    /// Largest public API message in bytes, refused from its length prefix; larger loads stream.
    #[default(DEFAULT_MAX_REQUEST_BYTES)]
    pub max_request_bytes: usize,
    /// Identity of this coordinator in dispatch leases; default: unique per process.
    pub node_id: Option<String>,
    /// Region this coordinator runs in: the `deployment.region` of its traces.
    pub region: Option<String>,
    /// Wave timing.
    pub waves: WaveTiming,
    /// Dispatch to agents.
    pub dispatch: DispatchConfig,
    /// Exchanges and their agents.
    pub exchanges: Vec<ExchangeConfig>,
    /// Bounds of params.
    pub params: ParamsConfig,
    /// Optional bearer-token auth of the public API.
    pub auth: Option<AuthConfig>,
    /// Prometheus `/metrics` address; none (the library default) serves no endpoint.
    #[serde(deserialize_with = "config_load::metrics_listen")]
    pub metrics_listen: Option<SocketAddr>,
    /// Logs and trace export.
    pub telemetry: CoordinatorTelemetry,
    /// `[tls]`: serve the public API over TLS; `None` serves plaintext.
    pub tls: Option<ServerTls>,
    /// `[agent_tls]`: CA and client identity for `https://` agent endpoints.
    pub agent_tls: Option<AgentTls>,
}

impl CoordinatorConfig {
    /// Reads the TOML file (defaults when `None`), applies `WAVEGATE_<KEY>` overrides, validates.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(path, |k| std::env::var(k).ok())
    }

    /// [`CoordinatorConfig::load`] with an explicit environment, for tests.
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let cfg: Self = config_load::load(path, &ENV, &env)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses TOML text (no environment, no validation).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        config_load::from_toml("coordinator config", text)
    }

    /// Checks every value; the error names the bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database_url.as_str();
        let db = ["sqlite:", "postgres://", "postgresql://"];
        ensure(
            db.iter().any(|p| url.starts_with(p)),
            "database_url",
            || "must start with sqlite:, postgres:// or postgresql://".into(),
        )?;
        let bytes = self.max_request_bytes;
        ensure(
            (MIN_REQUEST_BYTES..=MAX_REQUEST_BYTES).contains(&bytes),
            "max_request_bytes",
            || format!("must be in [{MIN_REQUEST_BYTES}, {MAX_REQUEST_BYTES}], got {bytes}"),
        )?;
        let blank = |s: &str| s.trim().is_empty();
        let empty_path = |p: &Option<PathBuf>| p.as_ref().is_some_and(|p| p.as_os_str().is_empty());
        ensure(
            !self.node_id.as_deref().is_some_and(blank),
            "node_id",
            || "must not be empty".into(),
        )?;
        self.dispatch.validate()?;
        let leverage = self.params.max_leverage;
        ensure((1..=125).contains(&leverage), "params.max_leverage", || {
            format!("must be in 1..=125, got {leverage}")
        })?;
        check_size_range(
            "params.min_size_usd",
            "params.max_size_usd",
            (self.params.min_size_usd, self.params.max_size_usd),
        )?;
        let ceiling = self.params.max_trades_ceiling;
        let mut ids = HashSet::new();
        for (i, e) in self.exchanges.iter().enumerate() {
            let key = |k: &str| format!("exchanges[{i}].{k}");
            ensure(ids.insert(e.id), key("id"), || {
                format!("duplicate exchange id {}", e.id)
            })?;
            ensure(!blank(&e.name), key("name"), || "must not be empty".into())?;
            ensure(
                !empty_path(&e.agent_token_file),
                key("agent_token_file"),
                || "must not be empty".into(),
            )?;
            check_size_range(
                &key("min_size_usd"),
                &key("max_size_usd"),
                e.size_range(&self.params),
            )?;
            let m = e.default_max_trades.unwrap_or(0);
            ensure(m <= ceiling, key("default_max_trades"), || {
                format!("{m} is above params.max_trades_ceiling ({ceiling})")
            })?;
            let a = e.agent.as_deref().unwrap_or("http://ok");
            let ok = (a.starts_with("http://") || a.starts_with("https://"))
                && a.parse::<tonic::transport::Uri>().is_ok();
            ensure(ok, key("agent"), || {
                format!("{a:?} is not an http:// or https:// endpoint")
            })?;
        }
        let tokens_file = self.auth.as_ref().and_then(|a| a.tokens_file.clone());
        ensure(!empty_path(&tokens_file), "auth.tokens_file", || {
            "must not be empty".into()
        })?;
        config_load::check_metrics_listen(self.listen, self.metrics_listen)?;
        self.telemetry_config().validate().map_err(|e| match e {
            TelemetryError::Config { key, reason } => {
                ConfigError::invalid(format!("telemetry.{key}"), reason)
            }
            other => ConfigError::invalid("telemetry", other.to_string()),
        })?;
        self.validate_exposure()?;
        self.validate_tls()
    }

    /// A non-loopback API (its signals become orders) needs tokens or mutual TLS, or `insecure`.
    fn validate_exposure(&self) -> Result<(), ConfigError> {
        let tokens = self.auth.as_ref().is_some_and(|a| a.tokens_file.is_some());
        let mtls = self.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
        let insecure = self.auth.as_ref().is_some_and(|a| a.insecure);
        let ok = tokens || mtls || insecure || self.listen.ip().is_loopback();
        ensure(ok, "auth", || {
            format!(
                "listen {} is reachable from other hosts without authentication: set \
                 auth.tokens_file (or tls.client_ca for mutual TLS), or auth.insecure = true \
                 to serve anyone who can connect",
                self.listen
            )
        })
    }

    /// The telemetry settings: `[telemetry]` with service `wavegate-coordinator`.
    pub fn telemetry_config(&self) -> TelemetryConfig {
        TelemetryConfig {
            log_format: self.telemetry.log_format,
            otlp_endpoint: self.telemetry.otlp_endpoint.clone(),
            region: self.region.clone(),
            ..TelemetryConfig::new(SERVICE_COORDINATOR)
        }
    }

    /// The configured exchange with this id.
    pub fn exchange(&self, id: u32) -> Option<&ExchangeConfig> {
        self.exchanges.iter().find(|e| e.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wavegate_common::telemetry::LogFormat;

    #[test]
    fn example_file_loads_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("coordinator.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let cfg = CoordinatorConfig::from_toml(&text).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.exchanges.len(), 2);
        assert_eq!(cfg.exchanges[0].default_max_trades, Some(6));
        assert_eq!(cfg.dispatch.execution_mode, ExecutionMode::Sequential);
        assert!(!cfg.dispatch.topup_after_failures);
        assert_eq!(cfg.waves.quiet_secs, 3);
        assert_eq!(cfg.metrics_listen, Some("0.0.0.0:9100".parse().unwrap()));
        assert_eq!(cfg.telemetry_config().service_name, SERVICE_COORDINATOR);
    }

    #[test]
    fn defaults_are_loopback_sqlite_and_valid() {
        let c = CoordinatorConfig::default();
        assert_eq!(c.listen.port(), 7000);
        assert!(c.database_url.contains("wavegate.db"));
        assert_eq!(c.sqlite_sync, SqliteSync::Full);
        assert_eq!(c.telemetry_config().region, None);
        assert!(!c.dispatch.topup_after_failures);
        assert_eq!(c.metrics_listen, None);
        c.validate().unwrap();
    }

    #[test]
    fn file_values_parse_and_validate() {
        let c = CoordinatorConfig::from_toml(
            "sqlite_sync = \"normal\"\nregion = \"eu-central-1\"\nmetrics_listen = \"off\"\n\
             [dispatch]\ntopup_after_failures = true\n\
             [telemetry]\nlog_format = \"json\"\notlp_endpoint = \"http://c:4317\"\n\
             [[exchanges]]\nid = 1\nname = \"binance\"\nmin_size_usd = 20.0\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.sqlite_sync, SqliteSync::Normal);
        assert_eq!(c.telemetry_config().region.as_deref(), Some("eu-central-1"));
        assert!(c.dispatch.topup_after_failures);
        assert_eq!(c.metrics_listen, None);
        assert_eq!(c.telemetry.log_format, LogFormat::Json);
        assert_eq!(c.exchanges[0].size_range(&c.params), (20.0, 10_000.0));
    }

    #[test]
    fn unparsable_values_and_unknown_keys_are_named() {
        for (text, needle) in [
            ("sqlite_sync = \"off\"\n", "sqlite_sync"),
            (
                "[dispatch]\ntopup_after_failures = 1\n",
                "topup_after_failures",
            ),
            ("[waves]\nquiet_sec = 3\n", "quiet_sec"),
            ("metrics_listen = \"9100\"\n", "HOST:PORT"),
            ("[telemetry]\nlog_format = \"xml\"\n", "xml"),
        ] {
            let e = CoordinatorConfig::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn zero_counts_are_refused_naming_the_key() {
        let keys = [
            "max_batch_signals",
            "waves.interval_secs",
            "waves.deadline_secs",
            "waves.max_wave_age_secs",
            "waves.quiet_secs",
            "dispatch.retries",
            "dispatch.connect_timeout_ms",
            "dispatch.progress_timeout_secs",
            "params.max_trades_ceiling",
        ];
        let tables = keys.map(|key| match key.split_once('.') {
            Some((table, k)) => (format!("[{table}]\n{k} = 0\n"), key),
            None => (format!("{key} = 0\n"), key),
        });
        let ex = "[[exchanges]]\nname = \"a\"\nid = ";
        let exchanges = [
            (format!("{ex}0\n"), "exchanges.0.id"),
            (
                format!("{ex}1\ndefault_max_trades = 0\n"),
                "exchanges.0.default_max_trades",
            ),
        ];
        for (text, key) in tables.into_iter().chain(exchanges) {
            let e = CoordinatorConfig::from_toml(&text).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("nonzero"), "{text}: {e}");
        }
    }

    #[test]
    fn invalid_values_name_the_key() {
        const EX: &str = "[[exchanges]]\nid = 1\nname = \"a\"\n";
        for (text, key) in [
            ("database_url = \"mysql://x\"\n", "database_url"),
            ("[params]\nmax_leverage = 0\n", "params.max_leverage"),
            ("[params]\nmax_leverage = 126\n", "params.max_leverage"),
            ("[params]\nmin_size_usd = 0.0\n", "params.min_size_usd"),
            ("[params]\nmax_size_usd = 4.0\n", "params.max_size_usd"),
            (
                &format!("{EX}max_size_usd = 1.0\n"),
                "exchanges[0].max_size_usd",
            ),
            (&format!("{EX}agent = \"tcp://x\"\n"), "exchanges[0].agent"),
            (&format!("{EX}{EX}"), "exchanges[1].id"),
            (
                "[telemetry]\notlp_endpoint = \"collector:4317\"\n",
                "`telemetry.otlp_endpoint`",
            ),
            ("metrics_listen = \"0.0.0.0:7000\"\n", "`metrics_listen`"),
            // An open API on a public address.
            ("listen = \"0.0.0.0:7000\"\n", "auth"),
            ("listen = \"0.0.0.0:7000\"\n", "insecure"),
        ] {
            let c = CoordinatorConfig::from_toml(text).unwrap();
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn a_public_address_is_served_with_tokens_or_insecure() {
        let mut c = CoordinatorConfig {
            listen: "0.0.0.0:7000".parse().unwrap(),
            ..Default::default()
        };
        for (tokens_file, insecure) in [(Some("/etc/wavegate/tokens".into()), false), (None, true)]
        {
            c.auth = Some(AuthConfig {
                tokens_file,
                insecure,
            });
            c.validate().unwrap();
        }
    }

    #[test]
    fn environment_overrides_name_the_variable_and_leave_other_names_alone() {
        let load = |vars: &[(&str, &str)]| {
            let vars: std::collections::HashMap<_, _> = vars.iter().copied().collect();
            CoordinatorConfig::load_with_env(None, |k| vars.get(k).map(|v| (*v).to_owned()))
        };
        let c = load(&[
            ("WAVEGATE_LISTEN", "127.0.0.1:7009"),
            ("WAVEGATE_DATABASE_URL", "postgres://u@h/db"),
            ("WAVEGATE_MAX_BATCH_SIGNALS", "5"),
            ("WAVEGATE_MAX_REQUEST_BYTES", "65536"),
            ("WAVEGATE_METRICS_LISTEN", "127.0.0.1:0"),
            ("WAVEGATE_TELEMETRY_LOG_FORMAT", "json"),
            ("WAVEGATE_TELEMETRY_OTLP_ENDPOINT", ""),
            ("WAVEGATE_WAVES__QUIET_SECS", "9"),
            ("WAVEGATE_NODE_ID", "7"),
            ("WAVEGATE_TOKEN", "not a key"),
            ("WAVEGATE_AGENT_TLS_CA", "the agent's"),
        ])
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:7009".parse().unwrap());
        assert_eq!(c.database_url, "postgres://u@h/db");
        assert_eq!((c.max_batch_signals, c.max_request_bytes), (5, 65536));
        assert_eq!(c.metrics_listen, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(c.telemetry.log_format, LogFormat::Json);
        assert_eq!(c.telemetry.otlp_endpoint, None);
        assert_eq!(c.waves.quiet_secs, 9);
        let node_id = c.node_id.as_deref();
        assert_eq!(node_id, Some("7"), "a string key keeps digits as text");
        assert_eq!(c.agent_tls, None);
        let e = load(&[("WAVEGATE_MAX_BATCH_SIGNALS", "0")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable WAVEGATE_MAX_BATCH_SIGNALS: max_batch_signals: \
             invalid value unsigned int `0`, expected a nonzero usize"
        );
        let e = load(&[("WAVEGATE_LISTEN", "nowhere")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("WAVEGATE_LISTEN") && e.contains("listen"), "{e}");
    }
}

//! The agent's configuration: TOML, then `WAVEGATE_AGENT_<KEY>` ([`ENV`]), then flags.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Deserialize;
use smart_default::SmartDefault;
use wavegate_common::config_load::{self, EnvSpec, ensure, nonzero};
use wavegate_common::walk::Mode;

use crate::journal::JournalSync;

mod auth;
mod live;
mod network;
mod positions;
mod telemetry;

pub use auth::AgentAuth;
pub use live::{BINANCE_BASE_URL, BYBIT_BASE_URL, Credentials, LiveConfig, Secret};
pub use positions::{LimitsConfig, MarginMode, PositionsConfig, SizingConfig, SymbolsConfig};
pub use telemetry::DEFAULT_METRICS_LISTEN;
/// A refused configuration, naming the offending key (and its source when loading).
pub use wavegate_common::config_load::Error as ConfigError;
/// `[tls]`: serve over TLS, mutual TLS with `client_ca`.
pub use wavegate_common::config_load::ServerTls as AgentTls;
/// `[telemetry]`: log format and OTLP endpoint.
pub use wavegate_common::config_load::TelemetryTable as AgentTelemetry;
pub use wavegate_common::config_load::{METRICS_OFF, parse_metrics_listen};

/// Prefix of every environment override.
pub const ENV_PREFIX: &str = "WAVEGATE_AGENT_";

/// Environment names: `WAVEGATE_AGENT_` + the key path in upper case, `.` as `_` (or `__`);
/// `[adapter.paper|binance|bybit]` keys also as `PAPER_…`, `BINANCE_…`, `BYBIT_…`.
pub const ENV: EnvSpec = EnvSpec {
    prefix: ENV_PREFIX,
    aliases: &[
        ("adapter.paper", "PAPER"),
        ("adapter.binance", "BINANCE"),
        ("adapter.bybit", "BYBIT"),
    ],
    exclude: &[],
};

/// Token-bucket limits for orders sent to the exchange.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained orders per second.
    #[default = 10]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU32, _>")]
    pub orders_per_second: u32,
    /// Orders that may go out back to back.
    #[default = 10]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU32, _>")]
    pub burst: u32,
}

/// Which exchange adapter the agent drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    /// Simulated exchange with a scriptable world (default).
    #[default]
    Paper,
    /// Binance USDⓈ-M futures over REST (`[adapter.binance]`).
    Binance,
    /// Bybit v5 linear perpetuals over REST (`[adapter.bybit]`).
    Bybit,
}

/// Settings of the paper exchange (`[adapter.paper]`).
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct PaperConfig {
    /// Simulated exchange latency per order call, in milliseconds.
    pub latency_ms: u64,
    /// Order size in quote currency.
    #[default(Decimal::ONE_HUNDRED)]
    pub notional: Decimal,
    /// Smallest order size the exchange accepts; below it: `below_min_notional`.
    #[default(Decimal::from(5))]
    pub min_notional: Decimal,
    /// Symbols with an open position when the journal is first created.
    pub open_positions: Vec<String>,
    /// Free balance in USD; entries take their margin from it. `None`: unlimited.
    pub balance: Option<Decimal>,
    /// Largest notional in USD at leverage 1, `/ L` at leverage `L` (as Binance's brackets).
    pub max_notional: Option<Decimal>,
}

/// `[adapter]`: the adapter kind and its settings.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct AdapterConfig {
    /// Adapter kind.
    pub kind: AdapterKind,
    /// Paper exchange settings (used when `kind = "paper"`).
    pub paper: PaperConfig,
    /// Binance settings (used when `kind = "binance"`).
    #[default(LiveConfig::binance())]
    #[serde(deserialize_with = "live::de_binance")]
    pub binance: LiveConfig,
    /// Bybit settings (used when `kind = "bybit"`).
    #[default(LiveConfig::bybit())]
    #[serde(deserialize_with = "live::de_bybit")]
    pub bybit: LiveConfig,
}

impl AdapterConfig {
    /// Order size in quote currency of the selected adapter.
    pub fn notional(&self) -> Decimal {
        self.live().map_or(self.paper.notional, |(_, l)| l.notional)
    }

    /// The selected live adapter's table name and settings (`None` for paper).
    pub fn live(&self) -> Option<(&'static str, &LiveConfig)> {
        match self.kind {
            AdapterKind::Paper => None,
            AdapterKind::Binance => Some(("adapter.binance", &self.binance)),
            AdapterKind::Bybit => Some(("adapter.bybit", &self.bybit)),
        }
    }

    fn live_mut(&mut self) -> Option<&mut LiveConfig> {
        match self.kind {
            AdapterKind::Paper => None,
            AdapterKind::Binance => Some(&mut self.binance),
            AdapterKind::Bybit => Some(&mut self.bybit),
        }
    }
}

/// Complete agent configuration; credentials are [`Secret`]s, hidden from `Debug`.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// gRPC listen address; port 0 picks a free port.
    #[default(SocketAddr::from(([0, 0, 0, 0], 7101)))]
    pub listen: SocketAddr,
    /// Exchange this agent serves (required, >= 1).
    pub exchange_id: u32,
    /// Exchange name, e.g. `binance`.
    pub exchange_name: String,
    /// Deployment region, reported by `Describe`.
    #[default = "local"]
    pub region: String,
    /// SQLite journal file, created if missing.
    #[default(PathBuf::from("wavegate-agent.db"))]
    pub journal: PathBuf,
    /// Durability of a journal commit before its order is sent.
    #[default(JournalSync::Normal)]
    pub journal_sync: JournalSync,
    /// Default execution mode when `Start.mode` is unspecified.
    #[default(Mode::Sequential)]
    pub execution_mode: Mode,
    /// Time allowed for one order call before its outcome counts as unknown.
    #[default = 10_000]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub order_timeout_ms: u64,
    /// First pause between lookups of an unknown order, in ms; doubles over the five lookups.
    #[default = 200]
    pub lookup_backoff_ms: u64,
    /// Stop-loss distance when the wave's params carry none.
    #[default = 4.0]
    pub stop_loss_percent: f64,
    /// Attempts to place a protective stop (and to close after it failed).
    #[default = 3]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU32, _>")]
    pub stop_retries: u32,
    /// Longest wait in ms for a top-up answer (then finish with what is held) and for the buffer.
    #[default = 30_000]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub topup_timeout_ms: u64,
    /// HTTP/2 keepalive interval in ms (`0`: none), so a vanished coordinator is noticed.
    #[default = 10_000]
    pub keepalive_interval_ms: u64,
    /// How long a keepalive ping may go unanswered before the connection is closed, in ms.
    #[default = 20_000]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub keepalive_timeout_ms: u64,
    /// Order rate limits.
    pub rate_limit: RateLimitConfig,
    /// Exchange adapter.
    pub adapter: AdapterConfig,
    /// `[faults]`: scripted failures in front of the adapter (tests, demos).
    pub faults: crate::exchange::faults::FaultsConfig,
    /// Prometheus `/metrics` address; `None` (`"off"` in the file) serves none.
    #[default(Some(DEFAULT_METRICS_LISTEN))]
    #[serde(deserialize_with = "config_load::metrics_listen")]
    pub metrics_listen: Option<SocketAddr>,
    /// `[telemetry]`: log format and OTLP endpoint.
    pub telemetry: AgentTelemetry,
    /// `[tls]`: serve over TLS (mutual TLS with `client_ca`); `None` serves plaintext.
    pub tls: Option<AgentTls>,
    /// `[auth]`: the coordinator's token; a non-loopback `listen` needs it or mutual TLS.
    pub auth: AgentAuth,
    /// Take unknown open positions as known (else every wave is refused: `crate::venue_check`).
    pub confirm_new_journal: bool,
    /// `[positions]`: leverage, margin mode, trailing-stop defaults.
    pub positions: PositionsConfig,
    /// `[limits]`: account limits checked at validation.
    pub limits: LimitsConfig,
    /// `[symbols]`: allow-list, deny-list and patterns.
    pub symbols: SymbolsConfig,
    /// `[sizing]`: bounds of the order size and the tolerance raise.
    pub sizing: SizingConfig,
}

impl AgentConfig {
    /// Defaults for a paper agent on loopback (demo, tests): free port, no latency, no metrics.
    pub fn paper(exchange_id: u32, exchange_name: &str, journal: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            exchange_id,
            exchange_name: exchange_name.to_owned(),
            journal,
            metrics_listen: None,
            rate_limit: RateLimitConfig {
                orders_per_second: 10_000,
                burst: 1_000,
            },
            ..Self::default()
        }
    }

    /// Reads the TOML file (defaults when `None`), applies `WAVEGATE_AGENT_<KEY>`, validates.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(path, |k| std::env::var(k).ok())
    }

    /// [`AgentConfig::load`] with an explicit environment, for tests.
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut cfg: Self = config_load::load(path, &ENV, &env)?;
        // The credentials go to the adapter `kind` selects; the secret never from the file.
        if let Some(live) = cfg.adapter.live_mut() {
            let var = |name: &str| env(&format!("{ENV_PREFIX}{name}")).map(|v| v.trim().to_owned());
            if let Some(v) = var("API_KEY") {
                live.api_key = (!v.is_empty()).then(|| Secret::new(v));
            }
            if let Some(v) = var("API_SECRET_FILE") {
                live.api_secret_file = (!v.is_empty()).then(|| PathBuf::from(v));
            }
            if let Some(v) = var("API_SECRET") {
                live.api_secret = (!v.is_empty()).then(|| Secret::new(v));
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses TOML text alone (no environment, no validation).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        config_load::from_toml("agent config", text)
    }

    /// Checks ranges and consistency; the error names the bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(self.exchange_id != 0, "exchange_id", || {
            "required: the exchange this agent serves (1 or more)".into()
        })?;
        ensure(
            !self.exchange_name.trim().is_empty(),
            "exchange_name",
            || "must not be empty".into(),
        )?;
        ensure(!self.journal.as_os_str().is_empty(), "journal", || {
            "must not be empty".into()
        })?;
        let backoff = self.lookup_backoff_ms;
        ensure((1..=10_000).contains(&backoff), "lookup_backoff_ms", || {
            format!("must be in 1..=10000, got {backoff}")
        })?;
        let stop = self.stop_loss_percent;
        ensure(
            stop.is_finite() && stop > 0.0 && stop < 100.0,
            "stop_loss_percent",
            || format!("must be in (0, 100), got {stop}"),
        )?;
        let p = &self.adapter.paper;
        ensure(p.notional > Decimal::ZERO, "adapter.paper.notional", || {
            format!("must be positive, got {}", p.notional)
        })?;
        for (key, v) in [
            ("adapter.paper.min_notional", Some(p.min_notional)),
            ("adapter.paper.balance", p.balance),
            ("adapter.paper.max_notional", p.max_notional),
        ] {
            let x = v.unwrap_or_default();
            ensure(x >= Decimal::ZERO, key, || {
                format!("must be zero or positive, got {x}")
            })?;
        }
        for s in &p.open_positions {
            wavegate_common::signal::check_symbol(s)
                .map_err(|e| ConfigError::invalid("adapter.paper.open_positions", e.reason))?;
        }
        self.faults.validate(&self.adapter)?;
        if let Some((table, live)) = self.adapter.live() {
            live.validate(table)?;
        }
        if let Some(tls) = &self.tls {
            tls.validate()?;
        }
        self.auth.validate()?;
        self.positions.validate()?;
        self.limits.validate()?;
        self.symbols.validate()?;
        let table = self.adapter.live().map_or("adapter.paper", |(t, _)| t);
        self.sizing
            .validate(self.adapter.notional(), &format!("{table}.notional"))?;
        self.validate_telemetry()
    }

    /// Refuses to serve `listen` unauthenticated to other hosts ([`AgentAuth::check_exposure`]).
    pub fn check_exposure(&self) -> Result<(), ConfigError> {
        self.auth.check_exposure(self.listen, self.tls.as_ref())
    }

    /// How callers are authenticated: `token`, `mtls`, `token+mtls` or `none`.
    pub fn auth_mode(&self) -> &'static str {
        auth::mode(&self.auth, self.tls.as_ref())
    }
}

#[cfg(test)]
mod tests;

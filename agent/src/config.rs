//! The agent's configuration: a TOML file (see `agent.example.toml`), then environment
//! overrides (`WAVEGATE_AGENT_<KEY>`), then command-line flags (in `main.rs`).
//!
//! Every refusal is a [`ConfigError`] naming the key, so a bad deployment fails at start-up
//! with a message an operator can act on, never with a panic.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Deserialize;
use wavegate_common::walk::Mode;

use crate::journal::JournalSync;

mod auth;
mod env;
mod live;
mod network;
mod positions;
mod telemetry;
mod tls;

pub use auth::AgentAuth;
pub use env::ENV_PREFIX;
pub use live::{BINANCE_BASE_URL, BYBIT_BASE_URL, Credentials, LiveConfig, Secret};
pub use positions::{LimitsConfig, MarginMode, PositionsConfig, SizingConfig, SymbolsConfig};
pub use telemetry::{AgentTelemetry, DEFAULT_METRICS_LISTEN, METRICS_OFF, parse_metrics_listen};
pub use tls::AgentTls;

/// A refused configuration, naming the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// File that was read.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or a value has the wrong type; `key` is the offending key.
    #[error("config file {path}: key `{key}`: {message}")]
    Parse {
        /// File that was parsed.
        path: PathBuf,
        /// Dotted key the error is about (best effort from the error position).
        key: String,
        /// The parser's message.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("config key `{key}`: {reason}")]
    Invalid {
        /// Dotted key, e.g. `rate_limit.burst`.
        key: String,
        /// Why it was refused.
        reason: String,
    },
    /// An environment override could not be parsed.
    #[error("environment variable {var} (config key `{key}`): {reason}")]
    Env {
        /// Variable name.
        var: String,
        /// Key it overrides.
        key: String,
        /// Why it was refused.
        reason: String,
    },
}

impl ConfigError {
    fn invalid(key: &str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Token-bucket limits for orders sent to the exchange.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained orders per second.
    pub orders_per_second: u32,
    /// Orders that may go out back to back.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            orders_per_second: 10,
            burst: 10,
        }
    }
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

impl AdapterKind {
    /// Name reported by `Describe`.
    pub fn as_str(self) -> &'static str {
        match self {
            AdapterKind::Paper => "paper",
            AdapterKind::Binance => "binance",
            AdapterKind::Bybit => "bybit",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "paper" => Some(AdapterKind::Paper),
            "binance" => Some(AdapterKind::Binance),
            "bybit" => Some(AdapterKind::Bybit),
            _ => None,
        }
    }
}

/// Settings of the paper exchange (`[adapter.paper]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaperConfig {
    /// Simulated exchange latency per order call, in milliseconds.
    pub latency_ms: u64,
    /// Order size in quote currency.
    pub notional: Decimal,
    /// Smallest order size the exchange accepts; below it validation fails
    /// with `below_min_notional`.
    pub min_notional: Decimal,
    /// Symbols with an open position when the journal is first created.
    pub open_positions: Vec<String>,
    /// Free balance of the account, in USD; each entry takes its margin (notional / leverage)
    /// from it and an entry whose margin exceeds it is refused (`insufficient_balance`).
    /// `None`: unlimited (the balance is not modelled).
    pub balance: Option<Decimal>,
    /// Largest position notional, in USD, a symbol may hold at leverage 1; at leverage `L`
    /// the bracket allows `max_notional / L` (higher leverage, lower bracket, as Binance's
    /// leverage brackets). `None`: no bracket.
    pub max_notional: Option<Decimal>,
}

impl Default for PaperConfig {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            notional: Decimal::ONE_HUNDRED,
            min_notional: Decimal::from(5),
            open_positions: Vec::new(),
            balance: None,
            max_notional: None,
        }
    }
}

/// `[adapter]`: the adapter kind and its settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdapterConfig {
    /// Adapter kind.
    pub kind: AdapterKind,
    /// Paper exchange settings (used when `kind = "paper"`).
    pub paper: PaperConfig,
    /// Binance settings (used when `kind = "binance"`).
    #[serde(deserialize_with = "live::de_binance")]
    pub binance: LiveConfig,
    /// Bybit settings (used when `kind = "bybit"`).
    #[serde(deserialize_with = "live::de_bybit")]
    pub bybit: LiveConfig,
}

impl Default for AdapterConfig {
    fn default() -> Self {
        Self {
            kind: AdapterKind::Paper,
            paper: PaperConfig::default(),
            binance: LiveConfig::binance(),
            bybit: LiveConfig::bybit(),
        }
    }
}

impl AdapterConfig {
    /// Order size in quote currency of the selected adapter.
    pub fn notional(&self) -> Decimal {
        match self.kind {
            AdapterKind::Paper => self.paper.notional,
            AdapterKind::Binance => self.binance.notional,
            AdapterKind::Bybit => self.bybit.notional,
        }
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

/// Complete agent configuration. Exchange credentials inside it are [`Secret`]s, so its
/// `Debug` output never shows them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// gRPC listen address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Exchange this agent serves (must be >= 1).
    pub exchange_id: u32,
    /// Exchange name, e.g. `binance`.
    pub exchange_name: String,
    /// Deployment region, reported by `Describe`.
    pub region: String,
    /// SQLite journal file, created if missing.
    pub journal: PathBuf,
    /// Durability of a journal commit before its order is sent.
    pub journal_sync: JournalSync,
    /// Default execution mode when `Start.mode` is unspecified.
    pub execution_mode: Mode,
    /// Time allowed for one order call before its outcome counts as unknown.
    pub order_timeout_ms: u64,
    /// Stop-loss distance when the wave's params carry none.
    pub stop_loss_percent: f64,
    /// Attempts to place a protective stop (and to close after it failed).
    pub stop_retries: u32,
    /// Longest wait for the coordinator's answer to a top-up request, in milliseconds. When it
    /// passes, the session goes on as if it had lost its coordinator: no more top-ups, it
    /// finishes the wave with the signals it holds (a late answer is ignored). Also the
    /// longest wait for the buffer (batch round 0) after `Start`: when it passes, the session
    /// ends with `DEADLINE_EXCEEDED` and no journaled result, so the wave can be sent again.
    /// Default 30 s.
    pub topup_timeout_ms: u64,
    /// Interval of the HTTP/2 keepalive pings the gRPC server sends on each connection, in
    /// milliseconds; `0` sends none. With it, a coordinator that vanished without closing its
    /// connection (host down, network cut) is noticed and its sessions finish with what they
    /// hold. Default 10 s.
    pub keepalive_interval_ms: u64,
    /// How long a keepalive ping may go unanswered before the connection is closed, in
    /// milliseconds (at least 1). Default 20 s.
    pub keepalive_timeout_ms: u64,
    /// Order rate limits.
    pub rate_limit: RateLimitConfig,
    /// Exchange adapter.
    pub adapter: AdapterConfig,
    /// `[faults]`: scripted failures in front of the adapter (tests, demos).
    pub faults: crate::exchange::faults::FaultsConfig,
    /// Prometheus `/metrics` address; `None` (`"off"` in the file) serves none.
    #[serde(deserialize_with = "telemetry::deserialize_metrics_listen")]
    pub metrics_listen: Option<SocketAddr>,
    /// `[telemetry]`: log format and OTLP endpoint.
    pub telemetry: AgentTelemetry,
    /// `[tls]`: serve over TLS (mutual TLS with `client_ca`); `None` serves plaintext.
    pub tls: Option<AgentTls>,
    /// `[auth]`: the coordinator's token; a non-loopback `listen` needs it or mutual TLS.
    pub auth: AgentAuth,
    /// The operator confirms that the live account's open positions the journal does not know
    /// are to be taken as known (otherwise a new, replaced or older journal refuses every
    /// wave: `crate::venue_check`). Also the `--confirm-new-journal` flag; the positions are
    /// recorded in the journal, so it is needed once.
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

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 7101)),
            exchange_id: 0,
            exchange_name: String::new(),
            region: "local".to_owned(),
            journal: PathBuf::from("wavegate-agent.db"),
            journal_sync: JournalSync::Normal,
            execution_mode: Mode::Sequential,
            order_timeout_ms: 10_000,
            stop_loss_percent: 4.0,
            stop_retries: 3,
            topup_timeout_ms: 30_000,
            keepalive_interval_ms: 10_000,
            keepalive_timeout_ms: 20_000,
            rate_limit: RateLimitConfig::default(),
            adapter: AdapterConfig::default(),
            faults: Default::default(),
            metrics_listen: Some(DEFAULT_METRICS_LISTEN),
            telemetry: AgentTelemetry::default(),
            tls: None,
            auth: AgentAuth::default(),
            confirm_new_journal: false,
            positions: PositionsConfig::default(),
            limits: LimitsConfig::default(),
            symbols: SymbolsConfig::default(),
            sizing: SizingConfig::default(),
        }
    }
}

impl AgentConfig {
    /// Defaults for a paper agent on loopback (demo, tests): a free port, zero latency, no
    /// metrics endpoint and a rate limit high enough not to shape a demo.
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

    /// Reads the TOML file at `path` (defaults when `None`), applies `WAVEGATE_AGENT_<KEY>`
    /// environment overrides and validates the result.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(path, |k| std::env::var(k).ok())
    }

    /// [`AgentConfig::load`] with an explicit environment, for tests.
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut cfg = match path {
            None => Self::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                Self::from_toml(&text).map_err(|(key, message)| ConfigError::Parse {
                    path: p.to_owned(),
                    key,
                    message,
                })?
            }
        };
        cfg.apply_env(env)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses TOML text; the error is `(dotted key, message)`.
    pub fn from_toml(text: &str) -> Result<Self, (String, String)> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let key = e.span().map(|s| key_at(text, s.start)).unwrap_or_default();
            (key, e.message().trim().to_owned())
        })
    }

    /// Checks ranges and consistency; the error names the bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.exchange_id == 0 {
            return Err(ConfigError::invalid(
                "exchange_id",
                "must be at least 1 (is it missing?)",
            ));
        }
        if self.exchange_name.trim().is_empty() {
            return Err(ConfigError::invalid("exchange_name", "must not be empty"));
        }
        if self.journal.as_os_str().is_empty() {
            return Err(ConfigError::invalid("journal", "must not be empty"));
        }
        if self.order_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "order_timeout_ms",
                "must be at least 1",
            ));
        }
        if !(self.stop_loss_percent.is_finite()
            && self.stop_loss_percent > 0.0
            && self.stop_loss_percent < 100.0)
        {
            return Err(ConfigError::invalid(
                "stop_loss_percent",
                format!("must be in (0, 100), got {}", self.stop_loss_percent),
            ));
        }
        if self.stop_retries == 0 {
            return Err(ConfigError::invalid("stop_retries", "must be at least 1"));
        }
        if self.topup_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "topup_timeout_ms",
                "must be at least 1",
            ));
        }
        if self.keepalive_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "keepalive_timeout_ms",
                "must be at least 1",
            ));
        }
        if self.rate_limit.orders_per_second == 0 {
            return Err(ConfigError::invalid(
                "rate_limit.orders_per_second",
                "must be at least 1",
            ));
        }
        if self.rate_limit.burst == 0 {
            return Err(ConfigError::invalid(
                "rate_limit.burst",
                "must be at least 1",
            ));
        }
        let p = &self.adapter.paper;
        if p.notional <= Decimal::ZERO {
            return Err(ConfigError::invalid(
                "adapter.paper.notional",
                format!("must be positive, got {}", p.notional),
            ));
        }
        if p.min_notional < Decimal::ZERO {
            return Err(ConfigError::invalid(
                "adapter.paper.min_notional",
                format!("must be zero or positive, got {}", p.min_notional),
            ));
        }
        for (key, v) in [
            ("adapter.paper.balance", p.balance),
            ("adapter.paper.max_notional", p.max_notional),
        ] {
            if let Some(x) = v
                && x < Decimal::ZERO
            {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be zero or positive, got {x}"),
                ));
            }
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
        let notional_key = match self.adapter.live() {
            Some((table, _)) => format!("{table}.notional"),
            None => "adapter.paper.notional".to_owned(),
        };
        self.sizing
            .validate(self.adapter.notional(), &notional_key)?;
        self.validate_telemetry()
    }

    /// Refuses to serve `listen` to unauthenticated callers from other hosts (see
    /// [`AgentAuth::check_exposure`]); checked when the agent starts, after every override.
    pub fn check_exposure(&self) -> Result<(), ConfigError> {
        self.auth.check_exposure(self.listen, self.tls.as_ref())
    }

    /// How callers are authenticated: `token`, `mtls`, `token+mtls` or `none`.
    pub fn auth_mode(&self) -> &'static str {
        auth::mode(&self.auth, self.tls.as_ref())
    }
}

/// The dotted key of the `key = value` line containing byte `pos` (prefixed by the nearest
/// `[table]` header above it), so parse errors can name the key.
fn key_at(text: &str, pos: usize) -> String {
    let pos = pos.min(text.len());
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
    let line = text[line_start..line_end].trim();
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && !l.starts_with("[["))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    if line.starts_with('[') {
        return line
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_owned();
    }
    let key = line.split('=').next().unwrap_or("").trim();
    match table {
        Some(t) if !key.is_empty() => format!("{t}.{key}"),
        Some(t) => t,
        None => key.to_owned(),
    }
}

#[cfg(test)]
mod tests;

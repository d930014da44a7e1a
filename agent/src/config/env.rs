//! Environment overrides (`WAVEGATE_AGENT_<KEY>`) and the one setter they share with the
//! command-line flags: every key's text form, parsed into the typed config.

use std::fmt;
use std::path::PathBuf;

use wavegate_common::walk::Mode;

use crate::journal::JournalSync;

use super::{
    AdapterKind, AgentConfig, AgentTls, ConfigError, MarginMode, parse_metrics_listen, telemetry,
};

/// Prefix of every environment override.
pub const ENV_PREFIX: &str = "WAVEGATE_AGENT_";

impl AgentConfig {
    /// Applies `WAVEGATE_AGENT_<KEY>` overrides (lists are comma-separated).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for (suffix, key) in ENV_KEYS {
            let var = format!("{ENV_PREFIX}{suffix}");
            if let Some(value) = env(&var) {
                self.set(key, value.trim())
                    .map_err(|reason| ConfigError::Env {
                        var: var.clone(),
                        key: (*key).to_owned(),
                        reason,
                    })?;
            }
        }
        Ok(())
    }

    /// Sets one key from its text form (environment overrides and flags).
    pub fn set(&mut self, key: &str, v: &str) -> Result<(), String> {
        let p = &mut self.adapter.paper;
        match key {
            "listen" => self.listen = parse(v)?,
            "exchange_id" => self.exchange_id = parse(v)?,
            "exchange_name" => self.exchange_name = v.to_owned(),
            "region" => self.region = v.to_owned(),
            "journal" => self.journal = PathBuf::from(v),
            "journal_sync" => {
                self.journal_sync = JournalSync::parse(v).ok_or_else(|| {
                    format!("unknown journal_sync {v:?}, expected \"normal\" or \"full\"")
                })?;
            }
            "execution_mode" => self.execution_mode = parse_mode(v)?,
            "order_timeout_ms" => self.order_timeout_ms = parse(v)?,
            "stop_loss_percent" => self.stop_loss_percent = parse(v)?,
            "stop_retries" => self.stop_retries = parse(v)?,
            "topup_timeout_ms" => self.topup_timeout_ms = parse(v)?,
            "keepalive_interval_ms" => self.keepalive_interval_ms = parse(v)?,
            "keepalive_timeout_ms" => self.keepalive_timeout_ms = parse(v)?,
            "rate_limit.orders_per_second" => self.rate_limit.orders_per_second = parse(v)?,
            "rate_limit.burst" => self.rate_limit.burst = parse(v)?,
            "adapter.kind" => {
                self.adapter.kind = AdapterKind::parse(v).ok_or_else(|| {
                    format!("unknown adapter {v:?}, expected \"paper\", \"binance\" or \"bybit\"")
                })?;
            }
            // The account's credentials go to the selected live adapter; paper has none.
            "adapter.api_key" | "adapter.api_secret" | "adapter.api_secret_file" => {
                if let Some(live) = self.adapter.live_mut() {
                    live.set(&key["adapter.".len()..], v)?;
                }
            }
            k if k.starts_with("adapter.binance.") => {
                self.adapter
                    .binance
                    .set(&k["adapter.binance.".len()..], v)?;
            }
            k if k.starts_with("adapter.bybit.") => {
                self.adapter.bybit.set(&k["adapter.bybit.".len()..], v)?;
            }
            "adapter.paper.latency_ms" => p.latency_ms = parse(v)?,
            "adapter.paper.notional" => p.notional = parse(v)?,
            "adapter.paper.min_notional" => p.min_notional = parse(v)?,
            "adapter.paper.open_positions" => p.open_positions = list(v),
            "adapter.paper.balance" => p.balance = Some(parse(v)?),
            "adapter.paper.max_notional" => p.max_notional = Some(parse(v)?),
            "faults.seed" => self.faults.seed = parse(v)?,
            "faults.fail_rate" => self.faults.fail_rate = parse(v)?,
            "faults.invalid_symbols" => self.faults.invalid_symbols = list(v),
            "faults.exec_fail" => self.faults.exec_fail = list(v),
            "faults.stop_fail" => self.faults.stop_fail = list(v),
            "faults.close_fail" => self.faults.close_fail = list(v),
            "faults.lookup_fail" => self.faults.lookup_fail = list(v),
            "faults.duplicate_entry" => self.faults.duplicate_entry = list(v),
            "faults.duplicate_entry_gone" => self.faults.duplicate_entry_gone = list(v),
            "faults.positions_fail" => self.faults.positions_fail = parse(v)?,
            "faults.trailing_fail" => self.faults.trailing_fail = list(v),
            "faults.leverage_fail" => self.faults.leverage_fail = list(v),
            "positions.leverage" => self.positions.leverage = parse(v)?,
            "positions.margin_mode" => {
                self.positions.margin_mode = MarginMode::parse(v).ok_or_else(|| {
                    format!("unknown margin mode {v:?}, expected \"cross\" or \"isolated\"")
                })?;
            }
            "positions.set_leverage" => self.positions.set_leverage = parse(v)?,
            "positions.trailing_activation_percent" => {
                self.positions.trailing_activation_percent = Some(parse(v)?);
            }
            "positions.trailing_distance_percent" => {
                self.positions.trailing_distance_percent = Some(parse(v)?);
            }
            "limits.max_positions" => self.limits.max_positions = parse(v)?,
            "limits.max_exposure_usd" => self.limits.max_exposure_usd = Some(parse(v)?),
            "limits.balance_reserve_usd" => self.limits.balance_reserve_usd = parse(v)?,
            "limits.check_balance" => self.limits.check_balance = parse(v)?,
            "sizing.min_usd" => self.sizing.min_usd = parse(v)?,
            "sizing.max_usd" => self.sizing.max_usd = parse(v)?,
            "sizing.tolerance_percent" => self.sizing.tolerance_percent = parse(v)?,
            "symbols.allow" => self.symbols.allow = list(v),
            "symbols.deny" => self.symbols.deny = list(v),
            "symbols.deny_patterns" => self.symbols.deny_patterns = list(v),
            "symbols.allow_stablecoin_pairs" => self.symbols.allow_stablecoin_pairs = parse(v)?,
            "symbols.allow_leveraged_tokens" => self.symbols.allow_leveraged_tokens = parse(v)?,
            "metrics_listen" => self.metrics_listen = parse_metrics_listen(v)?,
            "telemetry.log_format" => self.telemetry.log_format = telemetry::parse_log_format(v)?,
            "telemetry.otlp_endpoint" => {
                self.telemetry.otlp_endpoint = (!v.is_empty()).then(|| v.to_owned());
            }
            k if k.starts_with("tls.") => AgentTls::set(&mut self.tls, &k["tls.".len()..], v)?,
            k if k.starts_with("auth.") => self.auth.set(&k["auth.".len()..], v)?,
            other => return Err(format!("unknown key {other:?}")),
        }
        Ok(())
    }
}

/// Environment variable suffix → config key.
const ENV_KEYS: &[(&str, &str)] = &[
    ("LISTEN", "listen"),
    ("EXCHANGE_ID", "exchange_id"),
    ("EXCHANGE_NAME", "exchange_name"),
    ("REGION", "region"),
    ("JOURNAL", "journal"),
    ("JOURNAL_SYNC", "journal_sync"),
    ("EXECUTION_MODE", "execution_mode"),
    ("ORDER_TIMEOUT_MS", "order_timeout_ms"),
    ("STOP_LOSS_PERCENT", "stop_loss_percent"),
    ("STOP_RETRIES", "stop_retries"),
    ("TOPUP_TIMEOUT_MS", "topup_timeout_ms"),
    ("KEEPALIVE_INTERVAL_MS", "keepalive_interval_ms"),
    ("KEEPALIVE_TIMEOUT_MS", "keepalive_timeout_ms"),
    (
        "RATE_LIMIT_ORDERS_PER_SECOND",
        "rate_limit.orders_per_second",
    ),
    ("RATE_LIMIT_BURST", "rate_limit.burst"),
    ("ADAPTER_KIND", "adapter.kind"),
    ("PAPER_LATENCY_MS", "adapter.paper.latency_ms"),
    ("PAPER_NOTIONAL", "adapter.paper.notional"),
    ("PAPER_MIN_NOTIONAL", "adapter.paper.min_notional"),
    ("PAPER_OPEN_POSITIONS", "adapter.paper.open_positions"),
    ("PAPER_BALANCE", "adapter.paper.balance"),
    ("PAPER_MAX_NOTIONAL", "adapter.paper.max_notional"),
    ("FAULTS_SEED", "faults.seed"),
    ("FAULTS_FAIL_RATE", "faults.fail_rate"),
    ("FAULTS_INVALID_SYMBOLS", "faults.invalid_symbols"),
    ("FAULTS_EXEC_FAIL", "faults.exec_fail"),
    ("FAULTS_STOP_FAIL", "faults.stop_fail"),
    ("FAULTS_CLOSE_FAIL", "faults.close_fail"),
    ("FAULTS_LOOKUP_FAIL", "faults.lookup_fail"),
    ("FAULTS_DUPLICATE_ENTRY", "faults.duplicate_entry"),
    ("FAULTS_DUPLICATE_ENTRY_GONE", "faults.duplicate_entry_gone"),
    ("FAULTS_POSITIONS_FAIL", "faults.positions_fail"),
    ("FAULTS_TRAILING_FAIL", "faults.trailing_fail"),
    ("FAULTS_LEVERAGE_FAIL", "faults.leverage_fail"),
    ("POSITIONS_LEVERAGE", "positions.leverage"),
    ("POSITIONS_MARGIN_MODE", "positions.margin_mode"),
    ("POSITIONS_SET_LEVERAGE", "positions.set_leverage"),
    (
        "POSITIONS_TRAILING_ACTIVATION_PERCENT",
        "positions.trailing_activation_percent",
    ),
    (
        "POSITIONS_TRAILING_DISTANCE_PERCENT",
        "positions.trailing_distance_percent",
    ),
    ("LIMITS_MAX_POSITIONS", "limits.max_positions"),
    ("LIMITS_MAX_EXPOSURE_USD", "limits.max_exposure_usd"),
    ("LIMITS_BALANCE_RESERVE_USD", "limits.balance_reserve_usd"),
    ("LIMITS_CHECK_BALANCE", "limits.check_balance"),
    ("SIZING_MIN_USD", "sizing.min_usd"),
    ("SIZING_MAX_USD", "sizing.max_usd"),
    ("SIZING_TOLERANCE_PERCENT", "sizing.tolerance_percent"),
    ("SYMBOLS_ALLOW", "symbols.allow"),
    ("SYMBOLS_DENY", "symbols.deny"),
    ("SYMBOLS_DENY_PATTERNS", "symbols.deny_patterns"),
    (
        "SYMBOLS_ALLOW_STABLECOIN_PAIRS",
        "symbols.allow_stablecoin_pairs",
    ),
    (
        "SYMBOLS_ALLOW_LEVERAGED_TOKENS",
        "symbols.allow_leveraged_tokens",
    ),
    ("BINANCE_BASE_URL", "adapter.binance.base_url"),
    ("BINANCE_NETWORK", "adapter.binance.network"),
    ("BINANCE_RECV_WINDOW_MS", "adapter.binance.recv_window_ms"),
    ("BINANCE_NOTIONAL", "adapter.binance.notional"),
    (
        "BINANCE_CONNECT_TIMEOUT_MS",
        "adapter.binance.connect_timeout_ms",
    ),
    (
        "BINANCE_RULES_REFRESH_SECS",
        "adapter.binance.rules_refresh_secs",
    ),
    (
        "BINANCE_BAN_COOLDOWN_SECS",
        "adapter.binance.ban_cooldown_secs",
    ),
    (
        "BINANCE_MAX_FILL_DEVIATION_PERCENT",
        "adapter.binance.max_fill_deviation_percent",
    ),
    (
        "BINANCE_REQUEST_TIMEOUT_MS",
        "adapter.binance.request_timeout_ms",
    ),
    ("BYBIT_BASE_URL", "adapter.bybit.base_url"),
    ("BYBIT_NETWORK", "adapter.bybit.network"),
    ("BYBIT_RECV_WINDOW_MS", "adapter.bybit.recv_window_ms"),
    ("BYBIT_NOTIONAL", "adapter.bybit.notional"),
    (
        "BYBIT_CONNECT_TIMEOUT_MS",
        "adapter.bybit.connect_timeout_ms",
    ),
    (
        "BYBIT_RULES_REFRESH_SECS",
        "adapter.bybit.rules_refresh_secs",
    ),
    ("BYBIT_BAN_COOLDOWN_SECS", "adapter.bybit.ban_cooldown_secs"),
    (
        "BYBIT_MAX_FILL_DEVIATION_PERCENT",
        "adapter.bybit.max_fill_deviation_percent",
    ),
    (
        "BYBIT_REQUEST_TIMEOUT_MS",
        "adapter.bybit.request_timeout_ms",
    ),
    // After ADAPTER_KIND: they go to the adapter it selects.
    ("API_KEY", "adapter.api_key"),
    ("API_SECRET", "adapter.api_secret"),
    ("API_SECRET_FILE", "adapter.api_secret_file"),
    ("METRICS_LISTEN", "metrics_listen"),
    ("TELEMETRY_LOG_FORMAT", "telemetry.log_format"),
    ("TELEMETRY_OTLP_ENDPOINT", "telemetry.otlp_endpoint"),
    ("TLS_CERT", "tls.cert"),
    ("TLS_KEY", "tls.key"),
    ("TLS_CLIENT_CA", "tls.client_ca"),
    ("AUTH_TOKEN_FILE", "auth.token_file"),
    ("AUTH_INSECURE", "auth.insecure"),
];

/// Parses one value's text form; the error quotes it.
pub(super) fn parse<T: std::str::FromStr>(v: &str) -> Result<T, String>
where
    T::Err: fmt::Display,
{
    v.parse::<T>().map_err(|e| format!("{v:?}: {e}"))
}

/// `execution_mode`: `sequential` or `windowed`.
fn parse_mode(v: &str) -> Result<Mode, String> {
    match v {
        "sequential" => Ok(Mode::Sequential),
        "windowed" => Ok(Mode::Windowed),
        _ => Err(format!(
            "unknown mode {v:?}, expected \"sequential\" or \"windowed\""
        )),
    }
}

/// A comma-separated list; blanks around and between commas are dropped.
fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

//! How the agent opens positions beyond entry and stop (issue 11): leverage and margin mode,
//! the trailing stop, the account limits checked at validation and the symbol filters.
//!
//! `[positions]`, `[limits]` and `[symbols]` of the agent's TOML file. The defaults follow the
//! reference bot (`LEVERAGE` 1, `MAX_POSITIONS` 150, a $10 balance reserve, stablecoin pairs and
//! leveraged tokens refused); the trailing stop is off unless the wave's params or this config
//! give both its activation and its distance.

use std::num::NonZeroU32;

use rust_decimal::Decimal;
use serde::Deserialize;
use wavegate_common::config_load::nonzero;

use super::ConfigError;

/// Margin mode of a symbol's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarginMode {
    /// Cross margin (the exchanges' default for a new account).
    #[default]
    Cross,
    /// Isolated margin.
    Isolated,
}

impl MarginMode {
    /// `cross` or `isolated`.
    pub fn as_str(self) -> &'static str {
        match self {
            MarginMode::Cross => "cross",
            MarginMode::Isolated => "isolated",
        }
    }

    /// Parses `cross` or `isolated`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cross" => Some(MarginMode::Cross),
            "isolated" => Some(MarginMode::Isolated),
            _ => None,
        }
    }
}

/// `[positions]`: leverage, margin mode and trailing-stop defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PositionsConfig {
    /// Leverage set on a symbol before its first entry (1..=125).
    pub leverage: u32,
    /// Margin mode set on a symbol before its first entry.
    pub margin_mode: MarginMode,
    /// Set leverage and margin mode before entries (the reference's `AUTO_SET_LEVERAGE`).
    pub set_leverage: bool,
    /// Trailing-stop activation distance from the fill, in percent, when the wave's params
    /// carry none. With `trailing_distance_percent`, turns the trailing stop on.
    pub trailing_activation_percent: Option<f64>,
    /// Trailing-stop callback distance, in percent, when the wave's params carry none.
    pub trailing_distance_percent: Option<f64>,
}

impl Default for PositionsConfig {
    fn default() -> Self {
        Self {
            leverage: 1,
            margin_mode: MarginMode::Cross,
            set_leverage: true,
            trailing_activation_percent: None,
            trailing_distance_percent: None,
        }
    }
}

/// `[sizing]`: the order size in USD (the adapter's `notional`) and its bounds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SizingConfig {
    /// Smallest size allowed, in USD (the adapter's `notional` may not be below it).
    pub min_usd: Decimal,
    /// Largest size, in USD: neither the adapter's `notional` nor a raised size goes above it.
    pub max_usd: Decimal,
    /// A size below the symbol's minimum order is raised to it when that costs at most this
    /// much more, in percent; else the signal fails validation (`below_min_notional: …`).
    pub tolerance_percent: Decimal,
}

impl Default for SizingConfig {
    fn default() -> Self {
        Self {
            min_usd: Decimal::from(5),
            max_usd: Decimal::from(10_000),
            tolerance_percent: Decimal::TEN,
        }
    }
}

impl SizingConfig {
    /// Checks the bounds and that `notional` (the adapter's size) lies within them.
    pub fn validate(&self, notional: Decimal, notional_key: &str) -> Result<(), ConfigError> {
        if self.min_usd <= Decimal::ZERO {
            return Err(ConfigError::invalid(
                "sizing.min_usd",
                format!("must be positive, got {}", self.min_usd),
            ));
        }
        if self.max_usd < self.min_usd {
            return Err(ConfigError::invalid(
                "sizing.max_usd",
                format!(
                    "must be >= sizing.min_usd ({}), got {}",
                    self.min_usd, self.max_usd
                ),
            ));
        }
        if !(Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&self.tolerance_percent) {
            return Err(ConfigError::invalid(
                "sizing.tolerance_percent",
                format!("must be in [0, 100], got {}", self.tolerance_percent),
            ));
        }
        if notional < self.min_usd || notional > self.max_usd {
            return Err(ConfigError::invalid(
                notional_key,
                format!(
                    "must be within sizing.min_usd..=sizing.max_usd ({}..={}), got {notional}",
                    self.min_usd, self.max_usd
                ),
            ));
        }
        Ok(())
    }
}

/// `[limits]`: account limits checked at validation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Most positions open on the account at once (those open before the wave included).
    #[serde(deserialize_with = "nonzero::<_, NonZeroU32, _>")]
    pub max_positions: u32,
    /// Most notional, in USD, open on the account at once; `None`: no limit.
    pub max_exposure_usd: Option<Decimal>,
    /// Free balance, in USD, never spent on margin: an entry needs its margin plus this.
    pub balance_reserve_usd: Decimal,
    /// Check the free balance at validation (read once per wave).
    pub check_balance: bool,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_positions: 150,
            max_exposure_usd: None,
            balance_reserve_usd: Decimal::TEN,
            check_balance: true,
        }
    }
}

/// `[symbols]`: which symbols the agent trades.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SymbolsConfig {
    /// When not empty, only these symbols are traded.
    pub allow: Vec<String>,
    /// Symbols never traded.
    pub deny: Vec<String>,
    /// Patterns of symbols never traded: `*` matches any run of characters (`*DOWNUSDT`).
    pub deny_patterns: Vec<String>,
    /// Trade pairs of two stablecoins (`USDCUSDT`, `FDUSDUSDT`…); refused by default.
    pub allow_stablecoin_pairs: bool,
    /// Trade leveraged tokens (`…UP`, `…DOWN`, `…BULL`, `…BEAR`, `…2L`, `…3L`, `…2S`, `…3S`
    /// before the quote); refused by default.
    pub allow_leveraged_tokens: bool,
}

/// A percentage in (0, 100), or the error naming `key`.
pub(super) fn check_percent(key: &str, v: Option<f64>) -> Result<(), ConfigError> {
    match v {
        Some(p) if !(p.is_finite() && p > 0.0 && p < 100.0) => Err(ConfigError::invalid(
            key,
            format!("must be in (0, 100), got {p}"),
        )),
        _ => Ok(()),
    }
}

impl PositionsConfig {
    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=125).contains(&self.leverage) {
            return Err(ConfigError::invalid(
                "positions.leverage",
                format!("must be in 1..=125, got {}", self.leverage),
            ));
        }
        check_percent(
            "positions.trailing_activation_percent",
            self.trailing_activation_percent,
        )?;
        check_percent(
            "positions.trailing_distance_percent",
            self.trailing_distance_percent,
        )?;
        if self.trailing_activation_percent.is_some() != self.trailing_distance_percent.is_some() {
            return Err(ConfigError::invalid(
                "positions.trailing_distance_percent",
                "trailing_activation_percent and trailing_distance_percent go together",
            ));
        }
        Ok(())
    }
}

impl LimitsConfig {
    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(x) = self.max_exposure_usd
            && x <= Decimal::ZERO
        {
            return Err(ConfigError::invalid(
                "limits.max_exposure_usd",
                format!("must be positive, got {x}"),
            ));
        }
        if self.balance_reserve_usd < Decimal::ZERO {
            return Err(ConfigError::invalid(
                "limits.balance_reserve_usd",
                format!("must be zero or positive, got {}", self.balance_reserve_usd),
            ));
        }
        Ok(())
    }
}

impl SymbolsConfig {
    /// Checks every listed symbol and pattern; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, list) in [("symbols.allow", &self.allow), ("symbols.deny", &self.deny)] {
            for s in list {
                wavegate_common::signal::check_symbol(s)
                    .map_err(|e| ConfigError::invalid(key, e.reason))?;
            }
        }
        for p in &self.deny_patterns {
            let ok = !p.is_empty()
                && p.chars()
                    .all(|c| c == '*' || c.is_ascii_uppercase() || c.is_ascii_digit());
            if !ok {
                return Err(ConfigError::invalid(
                    "symbols.deny_patterns",
                    format!("{p:?}: upper-case letters, digits and `*` only"),
                ));
            }
        }
        Ok(())
    }
}

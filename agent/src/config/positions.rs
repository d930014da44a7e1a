//! `[positions]`, `[limits]`, `[symbols]`; defaults follow the reference bot (`LEVERAGE` 1,
//! `MAX_POSITIONS` 150, $10 reserve, stablecoin pairs and leveraged tokens refused).

use std::num::NonZeroU32;

use rust_decimal::Decimal;
use serde::Deserialize;
use smart_default::SmartDefault;
use wavegate_common::config_load::{ensure, nonzero};

use super::ConfigError;

/// Margin mode of a symbol's position (one definition, in the core).
pub use wavegate_common::MarginMode;

/// `[positions]`: leverage, margin mode and trailing-stop defaults.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct PositionsConfig {
    /// Leverage set on a symbol before its first entry (1..=125).
    #[default = 1]
    pub leverage: u32,
    /// Margin mode set on a symbol before its first entry.
    pub margin_mode: MarginMode,
    /// Set leverage and margin mode before entries (the reference's `AUTO_SET_LEVERAGE`).
    #[default = true]
    pub set_leverage: bool,
    /// Trailing activation distance in percent when the params carry none.
    pub trailing_activation_percent: Option<f64>,
    /// Trailing-stop callback distance, in percent, when the wave's params carry none.
    pub trailing_distance_percent: Option<f64>,
}

/// `[sizing]`: the order size in USD (the adapter's `notional`) and its bounds.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct SizingConfig {
    /// Smallest size allowed, in USD (the adapter's `notional` may not be below it).
    #[default(Decimal::from(5))]
    pub min_usd: Decimal,
    /// Largest size, in USD: neither the adapter's `notional` nor a raised size goes above it.
    #[default(Decimal::from(10_000))]
    pub max_usd: Decimal,
    /// Raise a size below the symbol's minimum by at most this percent, else refuse.
    #[default(Decimal::TEN)]
    pub tolerance_percent: Decimal,
}

impl SizingConfig {
    /// Checks the bounds and that `notional` (the adapter's size) lies within them.
    pub fn validate(&self, notional: Decimal, notional_key: &str) -> Result<(), ConfigError> {
        let (min, max, tolerance) = (self.min_usd, self.max_usd, self.tolerance_percent);
        ensure(min > Decimal::ZERO, "sizing.min_usd", || {
            format!("must be positive, got {min}")
        })?;
        ensure(max >= min, "sizing.max_usd", || {
            format!("must be >= sizing.min_usd ({min}), got {max}")
        })?;
        ensure(
            (Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&tolerance),
            "sizing.tolerance_percent",
            || format!("must be in [0, 100], got {tolerance}"),
        )?;
        ensure((min..=max).contains(&notional), notional_key, || {
            format!(
                "must be within sizing.min_usd..=sizing.max_usd ({min}..={max}), got {notional}"
            )
        })
    }
}

/// `[limits]`: account limits checked at validation.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Most positions open on the account at once (those open before the wave included).
    #[default = 150]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU32, _>")]
    pub max_positions: u32,
    /// Most notional, in USD, open on the account at once; `None`: no limit.
    pub max_exposure_usd: Option<Decimal>,
    /// Free balance, in USD, never spent on margin: an entry needs its margin plus this.
    #[default(Decimal::TEN)]
    pub balance_reserve_usd: Decimal,
    /// Check the free balance at validation (read once per wave).
    #[default = true]
    pub check_balance: bool,
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
    /// Trade leveraged tokens (`…UP`, `…DOWN`, `…BULL`, `…3L`, …); refused by default.
    pub allow_leveraged_tokens: bool,
}

/// A percentage in (0, 100), or the error naming `key`.
fn check_percent(key: &str, v: Option<f64>) -> Result<(), ConfigError> {
    let ok = v.is_none_or(|p| p.is_finite() && p > 0.0 && p < 100.0);
    ensure(ok, key, || {
        format!("must be in (0, 100), got {}", v.unwrap_or_default())
    })
}

impl PositionsConfig {
    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let leverage = self.leverage;
        ensure((1..=125).contains(&leverage), "positions.leverage", || {
            format!("must be in 1..=125, got {leverage}")
        })?;
        let (activation, distance) = (
            self.trailing_activation_percent,
            self.trailing_distance_percent,
        );
        check_percent("positions.trailing_activation_percent", activation)?;
        check_percent("positions.trailing_distance_percent", distance)?;
        ensure(
            activation.is_some() == distance.is_some(),
            "positions.trailing_distance_percent",
            || "trailing_activation_percent and trailing_distance_percent go together".into(),
        )
    }
}

impl LimitsConfig {
    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let exposure = self.max_exposure_usd;
        ensure(
            exposure.is_none_or(|x| x > Decimal::ZERO),
            "limits.max_exposure_usd",
            || format!("must be positive, got {}", exposure.unwrap_or_default()),
        )?;
        let reserve = self.balance_reserve_usd;
        ensure(
            reserve >= Decimal::ZERO,
            "limits.balance_reserve_usd",
            || format!("must be zero or positive, got {reserve}"),
        )
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
            ensure(ok, "symbols.deny_patterns", || {
                format!("{p:?}: upper-case letters, digits and `*` only")
            })?;
        }
        Ok(())
    }
}

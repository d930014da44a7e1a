//! `wavegate replay` scenario files (`docs/replay.md`), checked whole; refusals name the JSON path.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use wavegate_agent::exchange::Decimal;
use wavegate_agent::exchange::money::decimal;
use wavegate_common::Signal;
use wavegate_common::signal::check_symbol;
use wavegate_common::time::{DEFAULT_INTERVAL_SECS, wave_id};

use crate::error::CliError;
use crate::input::draft_from_value;

/// Stored params of one exchange (`params.<id>`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioParams {
    /// Exchange name.
    pub exchange_name: String,
    /// Target.
    pub max_trades: u32,
    /// Buffer size; default `max_trades + buffer_fixed`.
    pub buffer_size: Option<u32>,
    /// Stop distance in percent.
    pub stop_loss_percent: Option<f64>,
}

/// The scripted paper exchange of one exchange (`world.<id>`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct World {
    /// Symbols with an open position: their signals are duplicates.
    pub open_positions: Vec<String>,
    /// Symbols that fail validation (`symbol_not_tradable`).
    pub invalid_symbols: Vec<String>,
    /// Symbols whose entry order is rejected.
    pub exec_fail: Vec<String>,
    /// Symbols whose protective stop cannot be placed.
    pub stop_fail: Vec<String>,
    /// Symbols whose trailing stop is rejected (the protective stop stays).
    pub trailing_fail: Vec<String>,
    /// Free balance of the account in USD (`None`: unlimited).
    pub balance: Option<Decimal>,
    /// Balance kept free, in USD (the agent's `limits.balance_reserve_usd`, default 10).
    pub balance_reserve_usd: Option<Decimal>,
    /// Most positions open at once (the agent's `limits.max_positions`).
    pub max_positions: Option<u32>,
    /// Most notional open at once, in USD (the agent's `limits.max_exposure_usd`).
    pub max_exposure_usd: Option<Decimal>,
    /// A symbol's largest notional at leverage 1 (`max_notional / leverage` above).
    pub max_notional: Option<Decimal>,
    /// Leverage the agent sets before entries (the agent's `positions.leverage`).
    pub leverage: Option<u32>,
}

/// A checked scenario: one wave.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Free text.
    pub description: Option<String>,
    /// Stored params by exchange id; an exchange absent here gets `no_params`.
    pub params: BTreeMap<u32, ScenarioParams>,
    /// The wave's signals, checked.
    pub signals: Vec<Signal>,
    /// Scripted paper exchanges by exchange id.
    pub world: BTreeMap<u32, World>,
    /// The wave's timestamp.
    pub wave_timestamp: DateTime<Utc>,
}

impl Scenario {
    /// Every exchange id the wave involves: those with params and those with signals.
    pub fn exchange_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.params.keys().copied().collect();
        ids.extend(self.signals.iter().map(Signal::exchange_id));
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Name of an exchange without params: the convention (1 binance, 2 bybit), else `exchange-<id>`.
pub fn conventional_name(id: u32) -> String {
    match id {
        1 => "binance".into(),
        2 => "bybit".into(),
        n => format!("exchange-{n}"),
    }
}

/// A refusal at a JSON path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ScenarioError {
    /// Path, e.g. `params.1.max_trades` or `signals[3].score_week` (`$` for the document).
    pub path: String,
    /// Why.
    pub reason: String,
}

fn fail<T>(path: impl Into<String>, reason: impl Into<String>) -> Result<T, ScenarioError> {
    Err(ScenarioError {
        path: path.into(),
        reason: reason.into(),
    })
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ScenarioError> {
    v.as_object()
        .map_or_else(|| fail(path, "must be an object"), Ok)
}

fn only_keys(m: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), ScenarioError> {
    for k in m.keys() {
        if !allowed.contains(&k.as_str()) {
            return fail(
                join(path, k),
                format!("unknown key (expected one of: {})", allowed.join(", ")),
            );
        }
    }
    Ok(())
}

fn join(path: &str, key: &str) -> String {
    if path == "$" {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `top[key]`: an object by exchange id, each entry checked by `entry(id, value, path)`.
fn by_exchange<T>(
    top: &Map<String, Value>,
    key: &str,
    entry: impl Fn(u32, &Value, &str) -> Result<T, ScenarioError>,
) -> Result<BTreeMap<u32, T>, ScenarioError> {
    let Some(v) = top.get(key) else {
        return Ok(BTreeMap::new());
    };
    object(v, key)?
        .iter()
        .map(|(k, v)| {
            let at = join(key, k);
            match k.parse::<u32>() {
                Ok(id) if id >= 1 => Ok((id, entry(id, v, &at)?)),
                _ => fail(at, "key must be an exchange id (an integer >= 1)"),
            }
        })
        .collect()
}

fn positive_u32(v: &Value, path: &str) -> Result<u32, ScenarioError> {
    match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
        Some(n) if n >= 1 => Ok(n),
        _ => fail(path, format!("must be an integer >= 1, got {v}")),
    }
}

/// `m[key]` through `check`, `None` when absent or null.
fn optional<T>(
    m: &Map<String, Value>,
    path: &str,
    key: &str,
    check: impl FnOnce(&Value, &str) -> Result<T, ScenarioError>,
) -> Result<Option<T>, ScenarioError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => check(v, &join(path, key)).map(Some),
    }
}

/// `m[key]` through `check`; absent is `missing`.
fn required<T>(
    m: &Map<String, Value>,
    path: &str,
    key: &str,
    check: impl FnOnce(&Value, &str) -> Result<T, ScenarioError>,
) -> Result<T, ScenarioError> {
    let at = join(path, key);
    m.get(key)
        .map_or_else(|| fail(&at, "missing"), |v| check(v, &at))
}

fn params_entry(v: &Value, path: &str) -> Result<ScenarioParams, ScenarioError> {
    let m = object(v, path)?;
    only_keys(
        m,
        path,
        &[
            "exchange_name",
            "max_trades",
            "buffer_size",
            "stop_loss_percent",
        ],
    )?;
    let exchange_name = required(m, path, "exchange_name", |v, at| match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        other => fail(at, format!("must be a non-empty string, got {other}")),
    })?;
    let max_trades = required(m, path, "max_trades", positive_u32)?;
    Ok(ScenarioParams {
        exchange_name,
        max_trades,
        buffer_size: optional(m, path, "buffer_size", |v, at| match positive_u32(v, at)? {
            b if b < max_trades => {
                fail(at, format!("must be >= max_trades ({max_trades}), got {b}"))
            }
            b => Ok(b),
        })?,
        stop_loss_percent: optional(m, path, "stop_loss_percent", |v, at| match v.as_f64() {
            Some(p) if p > 0.0 && p < 100.0 => Ok(p),
            _ => fail(at, format!("must be in (0, 100), got {v}")),
        })?,
    })
}

fn symbols(m: &Map<String, Value>, path: &str, key: &str) -> Result<Vec<String>, ScenarioError> {
    let p = join(path, key);
    let Some(v) = m.get(key) else {
        return Ok(Vec::new());
    };
    let Some(items) = v.as_array() else {
        return fail(p, "must be an array of symbols");
    };
    items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let ip = format!("{p}[{i}]");
            let Some(s) = s.as_str() else {
                return fail(ip, format!("must be a symbol string, got {s}"));
            };
            check_symbol(s).map_err(|e| ScenarioError {
                path: ip,
                reason: e.reason,
            })?;
            Ok(s.to_owned())
        })
        .collect()
}

fn world_entry(v: &Value, path: &str) -> Result<World, ScenarioError> {
    let m = object(v, path)?;
    only_keys(
        m,
        path,
        &[
            "open_positions",
            "invalid_symbols",
            "exec_fail",
            "stop_fail",
            "trailing_fail",
            "balance",
            "balance_reserve_usd",
            "max_positions",
            "max_exposure_usd",
            "max_notional",
            "leverage",
        ],
    )?;
    Ok(World {
        open_positions: symbols(m, path, "open_positions")?,
        invalid_symbols: symbols(m, path, "invalid_symbols")?,
        exec_fail: symbols(m, path, "exec_fail")?,
        stop_fail: symbols(m, path, "stop_fail")?,
        trailing_fail: symbols(m, path, "trailing_fail")?,
        balance: amount(m, path, "balance", true)?,
        balance_reserve_usd: amount(m, path, "balance_reserve_usd", true)?,
        max_positions: optional(m, path, "max_positions", positive_u32)?,
        max_exposure_usd: amount(m, path, "max_exposure_usd", false)?,
        max_notional: amount(m, path, "max_notional", false)?,
        leverage: optional(m, path, "leverage", |v, at| match v.as_u64() {
            Some(l @ 1..=125) => Ok(l as u32),
            _ => fail(at, format!("must be an integer in 1..=125, got {v}")),
        })?,
    })
}

/// An optional USD amount: finite and >= 0 (`zero_ok`) or > 0.
fn amount(
    m: &Map<String, Value>,
    path: &str,
    key: &str,
    zero_ok: bool,
) -> Result<Option<Decimal>, ScenarioError> {
    // Money: the decimal the scenario wrote (a JSON number prints as written).
    optional(m, path, key, |v, at| {
        match v.as_f64().and_then(|x| decimal(x, "amount").ok()) {
            Some(x) if x > Decimal::ZERO || (zero_ok && x.is_zero()) => Ok(x),
            _ => {
                let want = if zero_ok { ">= 0" } else { "> 0" };
                fail(at, format!("must be a number {want}, got {v}"))
            }
        }
    })
}

fn signals(v: &Value, now: DateTime<Utc>) -> Result<Vec<Signal>, ScenarioError> {
    let Some(items) = v.as_array() else {
        return fail("signals", "must be an array of signals");
    };
    if items.is_empty() {
        return fail("signals", "must hold at least one signal");
    }
    let mut out: Vec<Signal> = Vec::with_capacity(items.len());
    let mut ids = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("signals[{i}].{field}");
        let draft = draft_from_value(item.clone(), Some(false)).map_err(|(field, reason)| {
            ScenarioError {
                path: field.map_or_else(|| format!("signals[{i}]"), |f| at(&f)),
                reason,
            }
        })?;
        let s = draft
            .check(DEFAULT_INTERVAL_SECS, now)
            .map_err(|e| ScenarioError {
                path: at(e.field),
                reason: e.reason,
            })?;
        if !ids.insert(s.id()) {
            return fail(at("id"), format!("{} appears twice", s.id()));
        }
        if let Some(first) = out.first()
            && first.wave_timestamp() != s.wave_timestamp()
        {
            return fail(
                at("wave_timestamp"),
                format!(
                    "a scenario is one wave ({}), this signal belongs to {}",
                    wave_id(first.wave_timestamp()),
                    wave_id(s.wave_timestamp())
                ),
            );
        }
        out.push(s);
    }
    Ok(out)
}

/// Checks a scenario document. `now` stands in for a missing `created_at`.
pub fn parse_value(doc: &Value, now: DateTime<Utc>) -> Result<Scenario, ScenarioError> {
    let top = object(doc, "$")?;
    only_keys(top, "$", &["description", "params", "signals", "world"])?;
    let description = optional(top, "$", "description", |v, at| match v {
        Value::String(s) => Ok(s.clone()),
        other => fail(at, format!("must be a string, got {other}")),
    })?;
    let params = by_exchange(top, "params", |_, v, at| params_entry(v, at))?;
    let signals = required(top, "$", "signals", |v, _| signals(v, now))?;
    let world = by_exchange(top, "world", |id, v, at| {
        if !params.contains_key(&id) {
            return fail(
                at,
                format!("exchange {id} has no params, so no paper agent runs for it"),
            );
        }
        world_entry(v, at)
    })?;
    let wave_timestamp = signals[0].wave_timestamp();
    Ok(Scenario {
        description,
        params,
        signals,
        world,
        wave_timestamp,
    })
}

/// Parses scenario text; syntax errors name the line and column.
pub fn parse_str(text: &str, now: DateTime<Utc>) -> Result<Scenario, ScenarioError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| ScenarioError {
        path: "$".into(),
        reason: format!("invalid JSON: {e}"),
    })?;
    parse_value(&doc, now)
}

/// Reads and checks a scenario file; errors are input errors (exit 2) naming file and path.
pub fn load(path: &std::path::Path, now: DateTime<Utc>) -> Result<Scenario, CliError> {
    let shown = path.display();
    let text =
        std::fs::read_to_string(path).map_err(|e| CliError::Input(format!("{shown}: {e}")))?;
    parse_str(&text, now).map_err(|e| CliError::Input(format!("{shown}: {e}")))
}

#[cfg(test)]
mod tests;

//! The checked [`Signal`] and its wire and JSON forms (docs/design.md §4).
//!
//! A [`Signal`] can only be built through [`SignalDraft::check`], so one never exists with an
//! empty or malformed symbol, a non-finite or out-of-range score, a missing action or a missing
//! exchange id. Every refusal is a [`SignalError`] naming the field and the reason.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::margin::MarginMode;
use crate::pb;
use crate::time::{floor_to_interval, from_proto, to_proto};

/// Exchange identifier (1 = Binance, 2 = Bybit by convention; any configured id works).
pub type ExchangeId = u32;

/// Longest symbol accepted (exchanges list none longer than ~20).
pub const MAX_SYMBOL_LEN: usize = 32;

/// A refused signal: which field, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SignalError {
    /// Offending field, as named in the JSON form (`score_week`, `symbol`, …).
    pub field: &'static str,
    /// Human-readable reason.
    pub reason: String,
}

impl SignalError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// Direction of a signal.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "UPPERCASE")]
#[strum(serialize_all = "UPPERCASE", ascii_case_insensitive)]
pub enum Action {
    /// Open long.
    Buy,
    /// Open short.
    Sell,
    /// Open long (alias used by some producers).
    Long,
    /// Open short (alias used by some producers).
    Short,
}

impl Action {
    /// True for BUY and LONG.
    pub fn is_long(self) -> bool {
        matches!(self, Action::Buy | Action::Long)
    }

    /// Upper-case name, as in the JSON form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses a case-insensitive action name (surrounding blanks ignored).
    pub fn parse(s: &str) -> Option<Self> {
        s.trim().parse().ok()
    }

    fn from_proto(v: i32) -> Option<Self> {
        match pb::Action::try_from(v).ok()? {
            pb::Action::Buy => Some(Action::Buy),
            pb::Action::Sell => Some(Action::Sell),
            pb::Action::Long => Some(Action::Long),
            pb::Action::Short => Some(Action::Short),
            pb::Action::Unspecified => None,
        }
    }

    fn to_proto(self) -> pb::Action {
        match self {
            Action::Buy => pb::Action::Buy,
            Action::Sell => pb::Action::Sell,
            Action::Long => pb::Action::Long,
            Action::Short => pb::Action::Short,
        }
    }
}

/// Exchange params a signal may carry (docs/design.md §4). An unknown key is refused: a
/// misspelt `leverage` must not be dropped silently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalParams {
    /// Target positions per wave; >= 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_trades: Option<u32>,
    /// Protective stop distance in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_loss_percent: Option<f64>,
    /// Trailing stop activation in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing_activation_percent: Option<f64>,
    /// Trailing stop distance in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing_distance_percent: Option<f64>,
    /// Leverage set per symbol before its entry; >= 1 (the coordinator bounds it further).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leverage: Option<u32>,
    /// Margin mode set per symbol before its entry: `"cross"` or `"isolated"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_mode: Option<MarginMode>,
    /// Entry size in USD; finite and > 0 (the coordinator bounds it per exchange).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_size_usd: Option<f64>,
}

impl SignalParams {
    /// Checks ranges; the error names the field.
    pub fn check(&self) -> Result<(), SignalError> {
        if self.max_trades == Some(0) {
            return Err(SignalError::new("params.max_trades", "must be at least 1"));
        }
        if self.leverage == Some(0) {
            return Err(SignalError::new("params.leverage", "must be at least 1"));
        }
        if let Some(v) = self.position_size_usd
            && !(v.is_finite() && v > 0.0)
        {
            return Err(SignalError::new(
                "params.position_size_usd",
                format!("must be a finite amount of USD above 0, got {v}"),
            ));
        }
        let percents = [
            ("params.stop_loss_percent", self.stop_loss_percent),
            (
                "params.trailing_activation_percent",
                self.trailing_activation_percent,
            ),
            (
                "params.trailing_distance_percent",
                self.trailing_distance_percent,
            ),
        ];
        for (field, v) in percents {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0 && v < 100.0)
            {
                return Err(SignalError::new(
                    field,
                    format!("must be a finite percentage in (0, 100), got {v}"),
                ));
            }
        }
        Ok(())
    }

    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == SignalParams::default()
    }

    /// Wire form.
    pub fn to_proto(self) -> pb::SignalParams {
        pb::SignalParams {
            max_trades: self.max_trades,
            stop_loss_percent: self.stop_loss_percent,
            trailing_activation_percent: self.trailing_activation_percent,
            trailing_distance_percent: self.trailing_distance_percent,
            leverage: self.leverage,
            margin_mode: self
                .margin_mode
                .map_or(pb::MarginMode::Unspecified, MarginMode::to_proto)
                as i32,
            position_size_usd: self.position_size_usd,
        }
    }

    /// From the wire (ranges unchecked; [`SignalDraft::check`] checks them). An unknown
    /// margin mode value is refused here: it has no JSON form to carry on.
    pub fn from_proto(p: &pb::SignalParams) -> Result<Self, SignalError> {
        let margin_mode = MarginMode::from_proto(p.margin_mode).map_err(|v| {
            SignalError::new("params.margin_mode", format!("unknown margin mode {v}"))
        })?;
        Ok(Self {
            max_trades: p.max_trades,
            stop_loss_percent: p.stop_loss_percent,
            trailing_activation_percent: p.trailing_activation_percent,
            trailing_distance_percent: p.trailing_distance_percent,
            leverage: p.leverage,
            margin_mode,
            position_size_usd: p.position_size_usd,
        })
    }
}

/// A checked signal. Build one with [`SignalDraft::check`] or [`Signal::from_proto`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signal {
    id: i64,
    symbol: String,
    exchange_id: ExchangeId,
    action: Action,
    score_week: f64,
    score_month: f64,
    wave_timestamp: DateTime<Utc>,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<SignalParams>,
}

impl Signal {
    /// Producer's id, unique within the wave.
    pub fn id(&self) -> i64 {
        self.id
    }
    /// Instrument, e.g. `BTCUSDT`.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }
    /// Exchange the signal is for.
    pub fn exchange_id(&self) -> ExchangeId {
        self.exchange_id
    }
    /// Direction.
    pub fn action(&self) -> Action {
        self.action
    }
    /// Weekly score.
    pub fn score_week(&self) -> f64 {
        self.score_week
    }
    /// Monthly score.
    pub fn score_month(&self) -> f64 {
        self.score_month
    }
    /// Rank score: `score_week + score_month`.
    pub fn score(&self) -> f64 {
        self.score_week + self.score_month
    }
    /// Open time of the signal's candle: the wave it belongs to.
    pub fn wave_timestamp(&self) -> DateTime<Utc> {
        self.wave_timestamp
    }
    /// When the producer computed it.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// Params carried, if any.
    pub fn params(&self) -> Option<&SignalParams> {
        self.params.as_ref()
    }

    /// Wire form.
    pub fn to_proto(&self) -> pb::Signal {
        pb::Signal {
            id: self.id,
            symbol: self.symbol.clone(),
            exchange_id: self.exchange_id,
            action: self.action.to_proto() as i32,
            score_week: self.score_week,
            score_month: self.score_month,
            wave_timestamp: Some(to_proto(self.wave_timestamp)),
            created_at: Some(to_proto(self.created_at)),
            params: self.params.map(SignalParams::to_proto),
        }
    }

    /// Checks a wire signal. `received_at` stands in for a missing `created_at`; a missing
    /// `wave_timestamp` is `created_at` rounded down to `interval_secs`.
    pub fn from_proto(
        p: &pb::Signal,
        interval_secs: i64,
        received_at: DateTime<Utc>,
    ) -> Result<Self, SignalError> {
        let ts = |f: &'static str, t: &Option<prost_types::Timestamp>| match t {
            None => Ok(None),
            Some(t) => from_proto(t)
                .map(Some)
                .ok_or_else(|| SignalError::new(f, "timestamp out of range")),
        };
        let action =
            match p.action {
                0 => None,
                v => Some(Action::from_proto(v).ok_or_else(|| {
                    SignalError::new("action", format!("unknown action value {v}"))
                })?),
            };
        SignalDraft {
            id: Some(p.id),
            symbol: Some(p.symbol.clone()),
            exchange_id: Some(p.exchange_id),
            action,
            score_week: Some(p.score_week),
            score_month: Some(p.score_month),
            wave_timestamp: ts("wave_timestamp", &p.wave_timestamp)?,
            created_at: ts("created_at", &p.created_at)?,
            params: p
                .params
                .as_ref()
                .map(SignalParams::from_proto)
                .transpose()?,
        }
        .check(interval_secs, received_at)
    }
}

/// The JSON form of a signal (docs/design.md §4) before it is checked. Every field is optional here so
/// that a missing one gets a precise [`SignalError`] instead of a generic parse error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalDraft {
    /// Producer's id.
    #[serde(default)]
    pub id: Option<i64>,
    /// Instrument.
    #[serde(default)]
    pub symbol: Option<String>,
    /// Exchange id.
    #[serde(default)]
    pub exchange_id: Option<u32>,
    /// Direction.
    #[serde(default)]
    pub action: Option<Action>,
    /// Weekly score.
    #[serde(default)]
    pub score_week: Option<f64>,
    /// Monthly score.
    #[serde(default)]
    pub score_month: Option<f64>,
    /// Candle open time (a time without offset is UTC).
    #[serde(default, deserialize_with = "crate::time::lenient::option")]
    pub wave_timestamp: Option<DateTime<Utc>>,
    /// Creation time (a time without offset is UTC).
    #[serde(default, deserialize_with = "crate::time::lenient::option")]
    pub created_at: Option<DateTime<Utc>>,
    /// Exchange params.
    #[serde(default)]
    pub params: Option<SignalParams>,
}

impl From<&Signal> for SignalDraft {
    fn from(s: &Signal) -> Self {
        Self {
            id: Some(s.id),
            symbol: Some(s.symbol.clone()),
            exchange_id: Some(s.exchange_id),
            action: Some(s.action),
            score_week: Some(s.score_week),
            score_month: Some(s.score_month),
            wave_timestamp: Some(s.wave_timestamp),
            created_at: Some(s.created_at),
            params: s.params,
        }
    }
}

fn check_score(field: &'static str, v: Option<f64>) -> Result<f64, SignalError> {
    let v = v.ok_or_else(|| SignalError::new(field, "missing"))?;
    if !v.is_finite() {
        return Err(SignalError::new(field, format!("must be finite, got {v}")));
    }
    if !(0.0..=100.0).contains(&v) {
        return Err(SignalError::new(
            field,
            format!("must be in 0..=100, got {v}"),
        ));
    }
    Ok(v)
}

/// Checks a symbol: upper-case ASCII letters and digits, 1..=32 characters.
pub fn check_symbol(symbol: &str) -> Result<(), SignalError> {
    if symbol.is_empty() {
        return Err(SignalError::new("symbol", "must not be empty"));
    }
    if symbol.len() > MAX_SYMBOL_LEN {
        return Err(SignalError::new(
            "symbol",
            format!("longer than {MAX_SYMBOL_LEN} characters"),
        ));
    }
    if !symbol
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(SignalError::new(
            "symbol",
            format!("{symbol:?} must be upper-case letters and digits only"),
        ));
    }
    Ok(())
}

impl SignalDraft {
    /// Checks every field and builds the [`Signal`]. The first failing field is reported.
    pub fn check(
        self,
        interval_secs: i64,
        received_at: DateTime<Utc>,
    ) -> Result<Signal, SignalError> {
        let id = self.id.ok_or_else(|| SignalError::new("id", "missing"))?;
        if id <= 0 {
            return Err(SignalError::new(
                "id",
                format!("must be positive, got {id}"),
            ));
        }
        let symbol = self
            .symbol
            .ok_or_else(|| SignalError::new("symbol", "missing"))?;
        check_symbol(&symbol)?;
        let exchange_id = match self.exchange_id {
            None | Some(0) => {
                return Err(SignalError::new("exchange_id", "missing (must be >= 1)"));
            }
            Some(e) => e,
        };
        let action = self
            .action
            .ok_or_else(|| SignalError::new("action", "missing (BUY, SELL, LONG or SHORT)"))?;
        let score_week = check_score("score_week", self.score_week)?;
        let score_month = check_score("score_month", self.score_month)?;
        let params = match self.params {
            Some(p) if !p.is_empty() => {
                p.check()?;
                Some(p)
            }
            _ => None,
        };
        let created_at = self.created_at.unwrap_or(received_at);
        let wave_timestamp = self
            .wave_timestamp
            .unwrap_or_else(|| floor_to_interval(created_at, interval_secs));
        Ok(Signal {
            id,
            symbol,
            exchange_id,
            action,
            score_week,
            score_month,
            wave_timestamp,
            created_at,
            params,
        })
    }
}

/// The reference bot's signal record (`--format tradingbot`, the bridge), mapped onto
/// [`SignalDraft`]. Its signal server sends 15 fields: `id`, `pair_symbol`,
/// `recommended_action`, `score_week`, `score_month`, `timestamp` (the open time of the
/// signal's candle: the wave), `created_at`, `trading_pair_id`, `exchange_id`,
/// `score_week_filter`, `score_month_filter`, `max_trades_filter`, `stop_loss_filter`,
/// `trailing_activation_filter`, `trailing_distance_filter`. The `*_filter` fields that set
/// exchange params become [`SignalParams`]; the score filters (thresholds the server already
/// applied) and `trading_pair_id` are read and not used. Naive timestamps are UTC.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TradingbotSignal {
    /// Signal id.
    #[serde(default)]
    pub id: Option<i64>,
    /// Symbol.
    #[serde(default)]
    pub pair_symbol: Option<String>,
    /// Direction.
    #[serde(default)]
    pub recommended_action: Option<String>,
    /// Exchange id.
    #[serde(default)]
    pub exchange_id: Option<u32>,
    /// Weekly score (0 when the server does not know it).
    #[serde(default)]
    pub score_week: Option<f64>,
    /// Monthly score (0 when the server does not know it).
    #[serde(default)]
    pub score_month: Option<f64>,
    /// Open time of the signal's candle: the wave timestamp.
    #[serde(default, deserialize_with = "crate::time::lenient::option")]
    pub timestamp: Option<DateTime<Utc>>,
    /// When the server computed the signal.
    #[serde(default, deserialize_with = "crate::time::lenient::option")]
    pub created_at: Option<DateTime<Utc>>,
    /// Candle open time under wavegate's name; wins over `timestamp` when both are given.
    #[serde(default, deserialize_with = "crate::time::lenient::option")]
    pub wave_timestamp: Option<DateTime<Utc>>,
    /// The server's trading pair id (not used).
    #[serde(default)]
    pub trading_pair_id: Option<i64>,
    /// Weekly score threshold the server applied (not used).
    #[serde(default)]
    pub score_week_filter: Option<f64>,
    /// Monthly score threshold the server applied (not used).
    #[serde(default)]
    pub score_month_filter: Option<f64>,
    /// `max_trades` filter.
    #[serde(default)]
    pub max_trades_filter: Option<u32>,
    /// Stop-loss percent.
    #[serde(default)]
    pub stop_loss_filter: Option<f64>,
    /// Trailing activation percent.
    #[serde(default)]
    pub trailing_activation_filter: Option<f64>,
    /// Trailing distance percent.
    #[serde(default)]
    pub trailing_distance_filter: Option<f64>,
}

impl TradingbotSignal {
    /// Maps the reference form onto the wavegate form; an unknown action is an error.
    pub fn into_draft(self) -> Result<SignalDraft, SignalError> {
        let action = match self.recommended_action.as_deref() {
            None => None,
            Some(a) => Some(Action::parse(a).ok_or_else(|| {
                SignalError::new("recommended_action", format!("unknown action {a:?}"))
            })?),
        };
        let params = SignalParams {
            max_trades: self.max_trades_filter,
            stop_loss_percent: self.stop_loss_filter,
            trailing_activation_percent: self.trailing_activation_filter,
            trailing_distance_percent: self.trailing_distance_filter,
            ..SignalParams::default()
        };
        Ok(SignalDraft {
            id: self.id,
            symbol: self.pair_symbol,
            exchange_id: self.exchange_id,
            action,
            score_week: self.score_week,
            score_month: self.score_month,
            wave_timestamp: self.wave_timestamp.or(self.timestamp),
            created_at: self.created_at,
            params: (!params.is_empty()).then_some(params),
        })
    }
}

#[cfg(test)]
mod tests;

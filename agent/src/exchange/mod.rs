//! The exchange adapter trait (object-safe: adapters are chosen from config). Errors keep apart
//! [`ExchangeError::Rejected`] (not done), [`ExchangeError::Unknown`] (maybe done: look it up,
//! never send again), [`ExchangeError::DuplicateId`] (exists: look it up) and
//! [`ExchangeError::Unavailable`] (nothing was sent).

pub mod binance;
pub mod bybit;
pub mod faults;
pub mod fill_check;
pub mod last_price;
pub mod lots;
pub mod money;
pub mod paper;
pub mod position_mode;
pub mod positions;
pub mod rest;
pub mod signing;
pub mod throttle;

pub use money::Decimal;

pub use positions::{AccountState, LeverageSetting, MarginMode, TrailingStopOrder};

/// The result of an exchange call.
pub type Result<T, E = ExchangeError> = std::result::Result<T, E>;

/// Direction of a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Long (BUY / LONG signals).
    Long,
    /// Short (SELL / SHORT signals).
    Short,
}

impl Side {
    /// `long` or `short`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Long => "long",
            Side::Short => "short",
        }
    }

    /// Parses `long` or `short`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "long" => Some(Side::Long),
            "short" => Some(Side::Short),
            _ => None,
        }
    }
}

/// A market entry order.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryOrder {
    /// Deterministic client order id (the idempotency key at the exchange).
    pub client_order_id: String,
    /// Instrument.
    pub symbol: String,
    /// Direction.
    pub side: Side,
    /// Size in quote currency.
    pub notional: Decimal,
}

/// A protective stop for an open position.
#[derive(Debug, Clone, PartialEq)]
pub struct StopOrder {
    /// Client order id of the stop.
    pub client_order_id: String,
    /// Instrument.
    pub symbol: String,
    /// Direction of the position it protects.
    pub side: Side,
    /// Quantity to close when triggered.
    pub quantity: Decimal,
    /// Trigger price.
    pub stop_price: Decimal,
}

/// An open position as the exchange reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// Direction.
    pub side: Side,
    /// Size (positive), in base units.
    pub quantity: Decimal,
}

/// A filled order.
#[derive(Debug, Clone, PartialEq)]
pub struct Fill {
    /// Exchange's order id.
    pub exchange_order_id: String,
    /// Average fill price.
    pub price: Decimal,
    /// Filled quantity.
    pub quantity: Decimal,
}

/// What the exchange knows about an order looked up by client order id.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderReport {
    /// Filled.
    Filled(Fill),
    /// Refused or cancelled without a fill.
    Rejected(String),
    /// Accepted, not filled yet.
    Open,
}

/// An exchange call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The exchange refused: nothing happened. The reason is machine-readable.
    #[error("rejected: {0}")]
    Rejected(String),
    /// No answer (timeout, 5xx, connection dropped while sending): it may have happened.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// An order under this client order id already exists (Binance `-4116`, Bybit `110072`),
    /// maybe filled by a run whose journal was lost: an unknown outcome, resolved by lookup;
    /// "not found" is not believed, so the order holds its slot until a lookup finds it.
    #[error("duplicate client order id: {0}")]
    DuplicateId(String),
    /// The exchange could not be reached; nothing was sent.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A close found no position (already gone): for the caller the position is closed.
    #[error("rejected: no_position")]
    NoPosition,
    /// The venue's rate limit or ban (Binance 429/418, Bybit 10006/429/403): not a refusal of
    /// the order. Nothing is sent until `retry_in_ms`; stops and closes wait and retry.
    #[error("throttled for {retry_in_ms} ms: {detail}")]
    Throttled {
        /// What the venue said.
        detail: String,
        /// How long the venue-wide cool-down still runs.
        retry_in_ms: u64,
    },
}

/// One exchange account.
#[async_trait::async_trait]
pub trait Exchange: Send + Sync + 'static {
    /// Adapter kind reported by `Describe` (`paper`, `binance`, …).
    fn kind(&self) -> &'static str;

    /// Instrument rules for an order: `Ok` when tradable, else `Rejected(reason)`.
    async fn check_rules(&self, symbol: String, side: Side, notional: Decimal) -> Result<()>;

    /// Symbols with an open position on the account.
    async fn open_positions(&self) -> Result<Vec<String>>;

    /// The position in `symbol` (`None`: flat), checked before closing for a journaled order.
    async fn position(&self, symbol: String) -> Result<Option<Position>>;

    /// Counts the adapter's own metrics (fills priced at the last price) under `exchange`.
    fn attach_metrics(
        &self,
        metrics: std::sync::Arc<wavegate_common::telemetry::Metrics>,
        exchange: &str,
    ) {
        let _ = (metrics, exchange);
    }

    /// Places a market entry; a live fill price is checked ([`fill_check`]).
    async fn place_entry(&self, order: EntryOrder) -> Result<Fill>;

    /// The answer to an order of `kind` that [`faults`] refuses (paper records it as its own).
    async fn refused(
        &self,
        kind: &'static str,
        symbol: String,
        id: String,
        reason: &'static str,
    ) -> ExchangeError {
        let _ = (kind, symbol, id);
        ExchangeError::Rejected(reason.into())
    }

    /// Places a protective stop; returns the exchange's order id.
    async fn place_stop(&self, order: StopOrder) -> Result<String>;

    /// Closes the position in `symbol` at market (client order id `id`).
    async fn close_position(&self, symbol: String, id: String) -> Result<Fill>;

    /// Looks an order up by client order id (and `symbol`, Binance's index); `None`: never seen.
    async fn lookup_order(&self, symbol: String, id: String) -> Result<Option<OrderReport>>;

    /// Stop `id` in place or fired: a lookup by default; Bybit (an attribute) reads the position.
    async fn stop_in_place(&self, symbol: String, id: String) -> Result<bool> {
        Ok(matches!(
            self.lookup_order(symbol, id).await?,
            Some(OrderReport::Open | OrderReport::Filled(_))
        ))
    }

    /// The smallest order value `symbol` accepts now, in USD; `None` when unknown.
    async fn min_order_notional(&self, symbol: String) -> Result<Option<Decimal>>;

    /// The account's free balance and open notional, read once per wave.
    async fn account(&self) -> Result<AccountState>;

    /// The largest notional `symbol` may hold at `leverage`; `None`: no bracket.
    async fn bracket_max_notional(&self, symbol: String, leverage: u32) -> Result<Option<Decimal>>;

    /// Sets leverage and margin mode; idempotent ("not modified" is success).
    async fn set_leverage(&self, symbol: String, setting: LeverageSetting) -> Result<()>;

    /// Places a trailing stop for an open position; returns the exchange's id for it.
    async fn place_trailing_stop(&self, order: TrailingStopOrder) -> Result<String>;

    /// The trailing stop under `id`: `Some(Open)`, `Some(Filled)` once fired, `None`: never seen.
    async fn lookup_trailing_stop(&self, symbol: String, id: String)
    -> Result<Option<OrderReport>>;
}

/// Builds the live adapter `[adapter] kind` selects; errors name the key, never a credential.
pub fn live(
    adapter: &crate::config::AdapterConfig,
) -> Result<std::sync::Arc<dyn Exchange>, crate::config::ConfigError> {
    use crate::config::{AdapterKind, ConfigError};
    let Some((table, cfg)) = adapter.live() else {
        return Err(ConfigError::Invalid {
            key: "adapter.kind".into(),
            reason: "paper is not a live adapter".into(),
        });
    };
    let creds = cfg.credentials(table)?;
    let bad_url = |reason: String| ConfigError::Invalid {
        key: format!("{table}.base_url"),
        reason,
    };
    Ok(match adapter.kind {
        AdapterKind::Bybit => {
            std::sync::Arc::new(bybit::BybitLinear::new(cfg, creds).map_err(bad_url)?)
        }
        _ => std::sync::Arc::new(binance::BinanceFutures::new(cfg, creds).map_err(bad_url)?),
    })
}

//! One row of `orders`: what is written before an order leaves ([`NewOrder`]) and what a
//! later run reads back ([`JournalOrder`]).

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{JournalError, OrderState, StopState, TrailingState};
use crate::exchange::{Decimal, Side};

/// Trailing-stop distances, in percent of the fill price (journaled with the order).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trailing {
    /// Activation distance from the fill, on the profit side.
    pub activation_percent: f64,
    /// Callback distance from the best price after activation.
    pub distance_percent: f64,
}

/// An order about to be journaled: all a later run needs to settle it without its signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewOrder<'a> {
    /// Deterministic client order id.
    pub client_order_id: &'a str,
    /// Wave.
    pub wave_id: &'a str,
    /// Signal.
    pub signal_id: i64,
    /// Instrument.
    pub symbol: &'a str,
    /// Direction of the entry (the stop goes the other way).
    pub side: Side,
    /// `max_trades` of the wave's first run: a re-sent wave never goes past it.
    pub wave_target: u32,
    /// Rank index of the signal in the run that sends it.
    pub index: u32,
    /// Round that brought the signal.
    pub round: u32,
    /// The trailing stop to place after the protective stop, if any.
    pub trailing: Option<Trailing>,
}

/// One journaled order.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalOrder {
    /// Deterministic client order id (primary key).
    pub client_order_id: String,
    /// Wave.
    pub wave_id: String,
    /// Signal.
    pub signal_id: i64,
    /// Instrument.
    pub symbol: String,
    /// State.
    pub state: OrderState,
    /// Exchange's order id, when known.
    pub exchange_order_id: Option<String>,
    /// True when the order left a position that counts toward the target.
    pub executed: bool,
    /// Reason of a failure (or of an error after the position opened).
    pub error: Option<String>,
    /// Average fill price of the entry.
    pub fill_price: Decimal,
    /// Filled quantity.
    pub quantity: Decimal,
    /// Where the entry's protective stop stands.
    pub stop: StopState,
    /// Highest stop attempt that may have been sent (first close attempt when closing).
    pub stop_attempt: u32,
    /// Stop attempts numbered below this may have been sent (0 when not stored).
    pub stops_sent: u32,
    /// Direction of the entry; `None` for a row journaled before the side was stored.
    pub side: Option<Side>,
    /// `max_trades` of the wave's first run; `None` when journaled before it was stored.
    pub target: Option<u32>,
    /// Rank index when sent; `None` when journaled before it was stored.
    pub index: Option<u32>,
    /// Round that brought the signal (0 when not stored).
    pub round: u32,
    /// Where the trailing stop stands (`off` when none was asked for).
    pub trailing: TrailingState,
    /// Highest trailing attempt that may have been sent (its derived client order id).
    pub trailing_attempt: u32,
    /// The trailing stop's distances, when one was asked for.
    pub trailing_params: Option<Trailing>,
    /// Why the trailing stop failed, when it did.
    pub trailing_error: Option<String>,
}

/// The columns [`JournalOrder::from_row`] reads, named: a `SELECT *` prepared before another
/// connection added columns would not match the rows SQLite returns.
macro_rules! select_orders {
    ($rest:literal) => {
        concat!(
            "SELECT client_order_id, wave_id, signal_id, symbol, state, exchange_order_id, \
             executed, error, fill_price, quantity, stop_state, stop_attempt, stops_sent, side, \
             wave_target, rank_index, round, trailing_state, trailing_attempt, \
             trailing_activation, trailing_distance, trailing_error FROM orders ",
            $rest
        )
    };
}

/// A wave's rows, by signal id.
pub(super) const SELECT_BY_WAVE: &str = select_orders!("WHERE wave_id = ? ORDER BY signal_id");

/// Rows that may need settling, across waves.
pub(super) const SELECT_OPEN: &str = select_orders!(
    "WHERE state IN ('pending', 'sent', 'unknown', 'exists') \
       OR (executed = 1 AND stop_state NOT IN ('placed', 'closed', 'gone')) \
       OR (executed = 1 AND stop_state = 'placed' AND trailing_state IN ('pending', 'sending')) \
     ORDER BY rowid"
);

impl JournalOrder {
    /// Reads a row; a value that cannot be read back is [`JournalError::Corrupt`].
    pub(super) fn from_row(r: &SqliteRow) -> Result<Self, JournalError> {
        let state: String = r.try_get("state")?;
        let stop: String = r.try_get("stop_state")?;
        let side: Option<String> = r.try_get("side")?;
        let trailing: String = r.try_get("trailing_state")?;
        let activation: Option<f64> = r.try_get("trailing_activation")?;
        let distance: Option<f64> = r.try_get("trailing_distance")?;
        let side = side
            .as_deref()
            .map(|s| Side::parse(s).ok_or_else(|| JournalError::Corrupt(format!("side {s:?}"))))
            .transpose()?;
        Ok(JournalOrder {
            client_order_id: r.try_get("client_order_id")?,
            wave_id: r.try_get("wave_id")?,
            signal_id: r.try_get("signal_id")?,
            symbol: r.try_get("symbol")?,
            state: parse_state(&state, "order state")?,
            exchange_order_id: r.try_get("exchange_order_id")?,
            executed: r.try_get("executed")?,
            error: r.try_get("error")?,
            fill_price: stored_decimal(r, "fill_price")?,
            quantity: stored_decimal(r, "quantity")?,
            stop: parse_state(&stop, "stop state")?,
            stop_attempt: small(r, "stop_attempt")?.unwrap_or(0),
            stops_sent: small(r, "stops_sent")?.unwrap_or(0),
            side,
            target: small(r, "wave_target")?,
            index: small(r, "rank_index")?,
            round: small(r, "round")?.unwrap_or(0),
            trailing: parse_state(&trailing, "trailing state")?,
            trailing_attempt: small(r, "trailing_attempt")?.unwrap_or(0),
            trailing_params: activation.zip(distance).map(|(a, d)| Trailing {
                activation_percent: a,
                distance_percent: d,
            }),
            trailing_error: r.try_get("trailing_error")?,
        })
    }
}

/// A stored step name back as its state.
fn parse_state<T: std::str::FromStr>(v: &str, what: &str) -> Result<T, JournalError> {
    v.parse()
        .map_err(|_| JournalError::Corrupt(format!("{what} {v:?}")))
}

/// A nullable column holding a `u32`.
fn small(r: &SqliteRow, col: &str) -> Result<Option<u32>, JournalError> {
    let v: Option<i64> = r.try_get(col)?;
    v.map(|v| u32::try_from(v).map_err(|_| JournalError::Corrupt(format!("{col} {v}"))))
        .transpose()
}

/// A REAL column back as the venue decimal it was written from (exact below 15 digits).
fn stored_decimal(r: &SqliteRow, column: &'static str) -> Result<Decimal, JournalError> {
    let x: f64 = r.try_get(column)?;
    crate::exchange::money::decimal(x, column).map_err(|e| JournalError::Corrupt(e.to_string()))
}

//! What a fake exchange remembers, shared by the Binance and Bybit protocols: instruments,
//! positions, filled orders, protective stops, the request log and counters, plus the matching
//! rules both exchanges have in common (market fills, reduce-only, step checks, faults).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::decimal::Dec;
use super::margin::MarginRefusal;
use super::world::{Credentials, Fault, FaultKind, FaultScope, Instrument, World};

/// Order side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Buy (long).
    Buy,
    /// Sell (short).
    Sell,
}

impl Side {
    /// `+1` for a buy, `-1` for a sell, as a signed quantity factor.
    pub fn sign(self) -> Dec {
        match self {
            Side::Buy => Dec::from_int(1),
            Side::Sell => Dec::from_int(-1),
        }
    }
}

/// An order the exchange accepted and filled (market orders fill at once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRecord {
    /// Exchange order id.
    pub order_id: String,
    /// Client order id (`newClientOrderId` / `orderLinkId`), generated if the client sent none.
    pub client_order_id: String,
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Quantity the client asked for.
    pub orig_qty: Dec,
    /// Quantity filled (less than asked for a reduce-only order larger than the position).
    pub executed_qty: Dec,
    /// Average fill price.
    pub avg_price: Dec,
    /// Reduce-only flag as sent.
    pub reduce_only: bool,
    /// Exchange time of the fill, ms.
    pub time_ms: i64,
    /// The fault that hid the answer from the client, if any.
    pub fault: Option<FaultKind>,
}

/// An open position (one-way mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// Symbol.
    pub symbol: String,
    /// Signed quantity: positive long, negative short.
    pub qty: Dec,
    /// Average entry price.
    pub entry_price: Dec,
}

/// A protective stop the exchange holds (Binance algo order, Bybit position stop loss).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopRecord {
    /// Exchange id (`algoId`; for Bybit the symbol, since the stop is a position attribute).
    pub id: String,
    /// Client id (`clientAlgoId`), empty for Bybit.
    pub client_id: String,
    /// Symbol.
    pub symbol: String,
    /// Exchange order type: `STOP_MARKET` / `TAKE_PROFIT_MARKET` (Binance), `StopLoss` (Bybit).
    pub order_type: String,
    /// Side of the closing order.
    pub side: Side,
    /// Reduce-only flag as sent.
    pub reduce_only: bool,
    /// Trigger price.
    pub trigger_price: Dec,
    /// Closes the whole position when triggered.
    pub close_position: bool,
    /// Quantity, when not closing the whole position.
    pub qty: Option<Dec>,
    /// Still working (false once cancelled or replaced).
    pub active: bool,
    /// Exchange time it was placed, ms.
    pub time_ms: i64,
}

/// One HTTP request the fake received, as the client sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path, e.g. `/fapi/v1/order`.
    pub path: String,
    /// Raw query string (no `?`).
    pub query: String,
    /// Raw body.
    pub body: String,
    /// HTTP status answered (before any fault replaced or dropped it).
    pub status: u16,
    /// Exchange code answered: `0` success, else Binance `code` / Bybit `retCode`.
    pub code: i64,
    /// Other requests the server was still handling when this one arrived: a client that
    /// sends two at once shows it here (with latency, to make the overlap certain).
    pub in_flight: usize,
}

/// Tallies tests assert on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests received.
    pub requests: usize,
    /// Requests refused for a missing or unknown API key.
    pub key_rejections: usize,
    /// Requests refused for a bad or missing signature.
    pub signature_rejections: usize,
    /// Requests refused for a timestamp outside the receive window.
    pub timestamp_rejections: usize,
    /// Orders accepted and filled.
    pub orders_placed: usize,
    /// Orders refused because the client order id was already used.
    pub duplicate_rejections: usize,
    /// Order lookups (query by id / client id, open or history lists).
    pub lookups: usize,
    /// Protective stops accepted.
    pub stops_placed: usize,
    /// Faults that fired.
    pub faults_fired: usize,
}

/// Result of checking a quantity against an instrument's lot rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QtyIssue {
    /// Zero or negative.
    NotPositive,
    /// More decimals than the step allows.
    TooPrecise,
    /// Not a whole number of steps.
    NotStep,
    /// Below the minimum quantity.
    BelowMin,
    /// Above the maximum market quantity.
    AboveMax,
}

/// Why a market fill was refused by the shared rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FillRefusal {
    /// Reduce-only, but there is no position on the other side to reduce.
    ReduceOnlyRejected,
    /// The account refuses the opening fill (balance or bracket; `account.rs`).
    Margin(MarginRefusal),
}

/// The mutable part of a fake exchange.
#[derive(Debug)]
pub struct State {
    /// Listed instruments by symbol.
    pub instruments: BTreeMap<String, Instrument>,
    /// Open positions by symbol.
    pub positions: BTreeMap<String, Position>,
    /// Filled orders, oldest first.
    pub orders: Vec<OrderRecord>,
    /// Stops, oldest first.
    pub stops: Vec<StopRecord>,
    /// Requests, oldest first.
    pub requests: Vec<RequestRecord>,
    /// Tallies.
    pub counters: Counters,
    /// Placement attempts per client order id, including refused duplicates.
    pub place_attempts: HashMap<String, usize>,
    /// Symbols whose opening orders are refused.
    pub reject_entry: HashSet<String>,
    /// Symbols whose stops are refused.
    pub reject_stop: HashSet<String>,
    /// Added before every answer.
    pub latency: Duration,
    /// Clock skew, ms.
    pub clock_offset_ms: i64,
    /// Pending faults.
    pub faults: Vec<Fault>,
    /// Hedge (dual-side) position mode.
    pub hedge_mode: bool,
    /// Delay before an acked Bybit order shows in order lookups.
    pub ack_visibility_delay: Duration,
    /// The rate budget, if the world sets one.
    pub rate_limit: Option<super::limits::RateLimit>,
    /// What the budget counted.
    pub budget: super::limits::Budget,
    /// Balance and key permissions.
    pub account: super::account::Account,
    /// Pending faults of protective-stop requests.
    pub stop_faults: Vec<Fault>,
    /// Pending faults of trailing-stop requests.
    pub trailing_faults: Vec<Fault>,
    /// Leverage, margin mode, brackets, trailing stops (`margin.rs`).
    pub margin: super::margin::Margin,
    /// Requests arrived and not yet handled.
    pub in_flight: usize,
    next_id: u64,
}

impl State {
    fn from_world(world: &World) -> Self {
        let now = real_now_ms() + world.clock_offset_ms;
        let mut st = State {
            instruments: world
                .instruments
                .iter()
                .map(|i| (i.symbol.clone(), i.clone()))
                .collect(),
            positions: world
                .positions
                .iter()
                .filter(|(_, q, _)| !q.is_zero())
                .map(|(s, q, p)| {
                    (
                        s.clone(),
                        Position {
                            symbol: s.clone(),
                            qty: *q,
                            entry_price: *p,
                        },
                    )
                })
                .collect(),
            orders: Vec::new(),
            stops: Vec::new(),
            requests: Vec::new(),
            counters: Counters::default(),
            place_attempts: HashMap::new(),
            reject_entry: world.reject_entry.clone(),
            reject_stop: world.reject_stop.clone(),
            latency: world.latency,
            clock_offset_ms: world.clock_offset_ms,
            faults: world.faults.clone(),
            hedge_mode: world.hedge_mode,
            ack_visibility_delay: world.ack_visibility_delay,
            rate_limit: world.rate_limit.clone(),
            budget: super::limits::Budget::default(),
            account: world.account.clone(),
            stop_faults: world.stop_faults.clone(),
            trailing_faults: world.trailing_faults.clone(),
            margin: super::margin::Margin::new(world.brackets.clone()),
            in_flight: 0,
            // Ids start from the clock so two fakes in one test do not hand out equal ids.
            next_id: u64::try_from(now % 1_000_000_000).unwrap_or(0) * 1000,
        };
        for (symbol, side, trigger) in &world.resting_close_stops {
            let id = st.next_id();
            st.stops.push(StopRecord {
                id: id.to_string(),
                client_id: format!("earlier-{id}"),
                symbol: symbol.clone(),
                order_type: "STOP_MARKET".to_owned(),
                side: *side,
                reduce_only: false,
                trigger_price: *trigger,
                close_position: true,
                qty: None,
                active: true,
                time_ms: now,
            });
        }
        st
    }

    /// True once an order placed at `time_ms` shows in order lookups (Bybit's asynchronous ack).
    pub fn visible(&self, time_ms: i64) -> bool {
        let delay = i64::try_from(self.ack_visibility_delay.as_millis()).unwrap_or(i64::MAX);
        self.now_ms() >= time_ms.saturating_add(delay)
    }

    /// The exchange clock, ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        real_now_ms() + self.clock_offset_ms
    }

    /// A fresh numeric id.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// True when some order (filled) already carries this client id.
    pub fn client_id_used(&self, client_id: &str) -> bool {
        self.orders.iter().any(|o| o.client_order_id == client_id)
    }

    /// Checks `qty` against the instrument's market lot rules.
    pub fn check_qty(inst: &Instrument, qty: Dec) -> Result<(), QtyIssue> {
        if !qty.is_positive() {
            return Err(QtyIssue::NotPositive);
        }
        if qty.decimals() > inst.qty_step.decimals() {
            return Err(QtyIssue::TooPrecise);
        }
        // The documented rule is (quantity - minQty) % stepSize == 0.
        if !qty.minus(inst.min_qty).is_multiple_of(inst.qty_step) {
            return Err(QtyIssue::NotStep);
        }
        if qty < inst.min_qty {
            return Err(QtyIssue::BelowMin);
        }
        if qty > inst.max_qty {
            return Err(QtyIssue::AboveMax);
        }
        Ok(())
    }

    /// Signed position quantity for `symbol` (zero when flat).
    pub fn position_qty(&self, symbol: &str) -> Dec {
        self.positions
            .get(symbol)
            .map(|p| p.qty)
            .unwrap_or(Dec::ZERO)
    }

    /// Fills a market order at the instrument price and updates the position.
    ///
    /// The caller has already validated the symbol and quantity. A reduce-only order needs an
    /// opposite position and is cut to its size.
    pub fn fill_market(
        &mut self,
        symbol: &str,
        side: Side,
        qty: Dec,
        reduce_only: bool,
        client_order_id: String,
        order_id: String,
    ) -> Result<OrderRecord, FillRefusal> {
        let price = self
            .instruments
            .get(symbol)
            .map(|i| i.price)
            .unwrap_or(Dec::ZERO);
        let current = self.position_qty(symbol);
        let delta_sign = side.sign();
        let executed = if reduce_only {
            let reduces = current.is_positive() && side == Side::Sell
                || current.is_negative() && side == Side::Buy;
            if !reduces {
                return Err(FillRefusal::ReduceOnlyRejected);
            }
            qty.min(current.abs())
        } else {
            qty
        };
        let new_qty = current.plus(executed.times(delta_sign));
        if new_qty.abs() > current.abs() {
            let added = executed.times(price);
            let total = new_qty.abs().times(price);
            self.margin
                .open(&mut self.account.available, symbol, added, total)
                .map_err(FillRefusal::Margin)?;
        } else {
            let entry = self.positions.get(symbol).map_or(price, |p| p.entry_price);
            let reduced = current.abs().minus(new_qty.abs()).times(entry);
            self.margin.reduce(
                &mut self.account.available,
                symbol,
                reduced,
                new_qty.is_zero(),
            );
        }
        self.update_position(symbol, current, new_qty, price);
        let rec = OrderRecord {
            order_id,
            client_order_id,
            symbol: symbol.to_owned(),
            side,
            orig_qty: qty,
            executed_qty: executed,
            avg_price: price,
            reduce_only,
            time_ms: self.now_ms(),
            fault: None,
        };
        self.orders.push(rec.clone());
        self.counters.orders_placed += 1;
        Ok(rec)
    }

    fn update_position(&mut self, symbol: &str, old: Dec, new: Dec, price: Dec) {
        if new.is_zero() {
            self.positions.remove(symbol);
            // A Bybit stop loss is an attribute of the position and goes with it. (Binance
            // close-all algo orders stay open, as on Binance.)
            for s in self
                .stops
                .iter_mut()
                .filter(|s| s.symbol == symbol && s.order_type == "StopLoss")
            {
                s.active = false;
            }
            return;
        }
        let same_direction = old.is_positive() == new.is_positive() && !old.is_zero();
        let entry = match self.positions.get(symbol) {
            // Growing: weighted average entry. Shrinking: entry unchanged.
            Some(p) if same_direction && new.abs() > old.abs() => old
                .abs()
                .times(p.entry_price)
                .plus(new.abs().minus(old.abs()).times(price))
                .checked_div(new.abs())
                .unwrap_or(price),
            Some(p) if same_direction => p.entry_price,
            _ => price,
        };
        self.positions.insert(
            symbol.to_owned(),
            Position {
                symbol: symbol.to_owned(),
                qty: new,
                entry_price: entry,
            },
        );
    }

    /// Takes the fault that applies to an order placement on `symbol`, if any.
    pub fn take_fault(&mut self, symbol: &str) -> Option<FaultKind> {
        let idx = self.faults.iter().position(|f| match &f.scope {
            FaultScope::Symbol(s) => s == symbol,
            FaultScope::NextOrders(n) => *n > 0,
        })?;
        let kind = self.faults[idx].kind.clone();
        if let FaultScope::NextOrders(n) = &mut self.faults[idx].scope {
            *n -= 1;
            if *n == 0 {
                self.faults.remove(idx);
            }
        }
        self.counters.faults_fired += 1;
        Some(kind)
    }

    /// Takes the fault that applies to a protective stop on `symbol`, if any.
    pub fn take_stop_fault(&mut self, symbol: &str) -> Option<FaultKind> {
        let kind = take_scoped(&mut self.stop_faults, symbol)?;
        self.counters.faults_fired += 1;
        Some(kind)
    }

    /// Takes the fault that applies to a trailing stop on `symbol`, if any.
    pub fn take_trailing_fault(&mut self, symbol: &str) -> Option<FaultKind> {
        let kind = take_scoped(&mut self.trailing_faults, symbol)?;
        self.counters.faults_fired += 1;
        Some(kind)
    }

    /// Marks the last order with the fault that hid its answer.
    pub fn mark_last_order_fault(&mut self, kind: &FaultKind) {
        if let Some(o) = self.orders.last_mut() {
            o.fault = Some(kind.clone());
        }
    }
}

/// Takes the first fault of `faults` whose scope covers `symbol` (a `NextOrders` scope is
/// used up one request at a time).
fn take_scoped(faults: &mut Vec<Fault>, symbol: &str) -> Option<FaultKind> {
    let idx = faults.iter().position(|f| match &f.scope {
        FaultScope::Symbol(s) => s == symbol,
        FaultScope::NextOrders(n) => *n > 0,
    })?;
    let kind = faults[idx].kind.clone();
    if let FaultScope::NextOrders(n) = &mut faults[idx].scope {
        *n -= 1;
        if *n == 0 {
            faults.remove(idx);
        }
    }
    Some(kind)
}

/// The real clock, ms since the epoch.
pub fn real_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// State plus the credentials, shared by the server's connections and the test's handle.
#[derive(Debug)]
pub struct Shared {
    /// Accepted credentials.
    pub credentials: Credentials,
    state: Mutex<State>,
}

impl Shared {
    /// Builds the shared state from a world.
    pub fn new(world: &World) -> Self {
        Shared {
            credentials: world.credentials.clone(),
            state: Mutex::new(State::from_world(world)),
        }
    }

    /// Locks the state. A poisoned lock (a panicking handler) still yields the data: the fake
    /// must keep answering so the test can report what happened.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        s.parse().unwrap()
    }

    #[test]
    fn fills_update_positions_and_reduce_only_caps() {
        let world = World::new("k", "s").instrument(Instrument::new("BTCUSDT", "100"));
        let mut st = State::from_world(&world);
        st.fill_market("BTCUSDT", Side::Buy, d("2"), false, "a".into(), "1".into())
            .unwrap();
        assert_eq!(st.position_qty("BTCUSDT"), d("2"));
        assert_eq!(
            st.fill_market("BTCUSDT", Side::Buy, d("1"), true, "b".into(), "2".into()),
            Err(FillRefusal::ReduceOnlyRejected)
        );
        let r = st
            .fill_market("BTCUSDT", Side::Sell, d("5"), true, "c".into(), "3".into())
            .unwrap();
        assert_eq!(r.executed_qty, d("2"));
        assert!(st.positions.is_empty());
    }

    #[test]
    fn qty_rules() {
        let i = Instrument::new("X", "1")
            .step("0.01")
            .min_qty("0.02")
            .max_qty("5");
        assert_eq!(State::check_qty(&i, d("0.03")), Ok(()));
        assert_eq!(State::check_qty(&i, d("0.001")), Err(QtyIssue::TooPrecise));
        assert_eq!(State::check_qty(&i, d("0.01")), Err(QtyIssue::BelowMin));
        assert_eq!(State::check_qty(&i, d("6")), Err(QtyIssue::AboveMax));
        assert_eq!(State::check_qty(&i, d("0")), Err(QtyIssue::NotPositive));
        let j = Instrument::new("Y", "1").step("0.5").min_qty("0.5");
        assert_eq!(State::check_qty(&j, d("0.7")), Err(QtyIssue::NotStep));
    }

    #[test]
    fn faults_are_consumed() {
        let world = World::new("k", "s")
            .fault(Fault::next_orders(2).server_error())
            .fault(Fault::symbol("ETHUSDT").drop_connection());
        let mut st = State::from_world(&world);
        assert_eq!(st.take_fault("BTCUSDT"), Some(FaultKind::ServerError));
        assert_eq!(st.take_fault("ETHUSDT"), Some(FaultKind::ServerError));
        assert_eq!(st.take_fault("BTCUSDT"), None);
        assert_eq!(st.take_fault("ETHUSDT"), Some(FaultKind::DropConnection));
        assert_eq!(st.take_fault("ETHUSDT"), Some(FaultKind::DropConnection));
    }
}

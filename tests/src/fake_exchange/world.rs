//! The scriptable world a fake exchange starts from: credentials, instruments, open positions,
//! symbols whose entry or stop the exchange refuses, latency, clock skew and faults.
//!
//! ```
//! use std::time::Duration;
//! use wavegate_tests::fake_exchange::{Fault, Instrument, World};
//! let world = World::new("key", "secret")
//!     .instrument(Instrument::new("BTCUSDT", "60000").step("0.001").min_qty("0.001").min_notional("100"))
//!     .instrument(Instrument::new("ETHUSDT", "3000").step("0.01").tradable(false))
//!     .position("BTCUSDT", "0.01", "59000")
//!     .reject_entry("DOGEUSDT")
//!     .fault(Fault::next_orders(1).drop_connection())
//!     .latency(Duration::from_millis(5));
//! # let _ = world;
//! ```

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use super::decimal::Dec;
use super::margin::Bracket;

/// API key and secret the fake accepts. `Debug` never shows the secret.
#[derive(Clone)]
pub struct Credentials {
    /// The public API key (sent in a header).
    pub api_key: String,
    /// The HMAC secret (never sent).
    pub secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &self.api_key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// One perpetual USDT contract.
#[derive(Clone, Debug)]
pub struct Instrument {
    /// Symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Last (and mark) price; market orders fill here.
    pub price: Dec,
    /// Quantity step (`stepSize` / `qtyStep`).
    pub qty_step: Dec,
    /// Minimum order quantity (`minQty` / `minOrderQty`).
    pub min_qty: Dec,
    /// Maximum market order quantity (`maxQty` / `maxMktOrderQty`).
    pub max_qty: Dec,
    /// Minimum order notional in USDT (`MIN_NOTIONAL.notional` / `minNotionalValue`).
    pub min_notional: Dec,
    /// Price tick (`tickSize`).
    pub tick_size: Dec,
    /// False: listed but not trading (Binance status `SETTLING`, Bybit status `Closed`).
    pub tradable: bool,
    /// What order answers for this symbol say the average price was, instead of the fill
    /// price. `""`: none — Binance leaves `avgPrice` out (binance-connector-rust
    /// `query_order_response.rs`: `avg_price: Option<String>`), Bybit sends `""` ("returns
    /// `""` for those orders without avg price", bybit-exchange/docs
    /// `docs/v5/order/open-order.mdx`). Any other value is a fault: a wrong price (say, a
    /// mis-scaled one). Positions still carry the real entry price.
    pub reported_avg_price: Option<String>,
}

/// Parses a literal the test wrote; a typo in a test fixture is a bug in the test.
fn lit(s: &str) -> Dec {
    s.parse()
        .unwrap_or_else(|e| panic!("test fixture {s:?} is not a decimal: {e}"))
}

impl Instrument {
    /// An instrument at `price` with defaults: step and min qty `0.001`, max qty `1000000`,
    /// min notional `5`, tick `0.01`, tradable. Panics on a malformed literal (test fixtures only).
    pub fn new(symbol: &str, price: &str) -> Self {
        Instrument {
            symbol: symbol.to_owned(),
            price: lit(price),
            qty_step: lit("0.001"),
            min_qty: lit("0.001"),
            max_qty: lit("1000000"),
            min_notional: lit("5"),
            tick_size: lit("0.01"),
            tradable: true,
            reported_avg_price: None,
        }
    }

    /// Sets the quantity step.
    pub fn step(mut self, step: &str) -> Self {
        self.qty_step = lit(step);
        self
    }

    /// Sets the minimum quantity.
    pub fn min_qty(mut self, q: &str) -> Self {
        self.min_qty = lit(q);
        self
    }

    /// Sets the maximum market quantity.
    pub fn max_qty(mut self, q: &str) -> Self {
        self.max_qty = lit(q);
        self
    }

    /// Sets the minimum notional.
    pub fn min_notional(mut self, n: &str) -> Self {
        self.min_notional = lit(n);
        self
    }

    /// Sets the price tick.
    pub fn tick(mut self, t: &str) -> Self {
        self.tick_size = lit(t);
        self
    }

    /// Answers this symbol's orders with `avg_price` as their average price (`""`: none;
    /// [`Self::reported_avg_price`]).
    pub fn reported_avg_price(mut self, avg_price: &str) -> Self {
        self.reported_avg_price = Some(avg_price.to_owned());
        self
    }

    /// Marks the instrument as trading or not.
    pub fn tradable(mut self, yes: bool) -> Self {
        self.tradable = yes;
        self
    }
}

/// Which order placements a fault hits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultScope {
    /// Every order placement for this symbol.
    Symbol(String),
    /// The next `n` order placements, whatever the symbol.
    NextOrders(usize),
}

/// What happens after the exchange accepted and filled the order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer HTTP 500 with the exchange's "unknown error" body.
    ServerError,
    /// Close the TCP connection without any response.
    DropConnection,
    /// Answer normally, but only after this delay (longer than the client's timeout).
    Delay(Duration),
}

/// An unknown-outcome fault: the order still fills; only the answer is lost or late.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Which placements it hits.
    pub scope: FaultScope,
    /// What the client sees.
    pub kind: FaultKind,
}

impl Fault {
    /// Hits every order placement for `symbol` (finish with `.server_error()` etc.).
    pub fn symbol(symbol: &str) -> FaultBuilder {
        FaultBuilder(FaultScope::Symbol(symbol.to_owned()))
    }

    /// Hits the next `n` order placements.
    pub fn next_orders(n: usize) -> FaultBuilder {
        FaultBuilder(FaultScope::NextOrders(n))
    }
}

/// Half-built [`Fault`]: the scope is chosen, the kind not yet.
#[derive(Clone, Debug)]
pub struct FaultBuilder(FaultScope);

impl FaultBuilder {
    /// Fill, then answer HTTP 500.
    pub fn server_error(self) -> Fault {
        Fault {
            scope: self.0,
            kind: FaultKind::ServerError,
        }
    }

    /// Fill, then drop the connection.
    pub fn drop_connection(self) -> Fault {
        Fault {
            scope: self.0,
            kind: FaultKind::DropConnection,
        }
    }

    /// Fill, then answer after `d`.
    pub fn delay(self, d: Duration) -> Fault {
        Fault {
            scope: self.0,
            kind: FaultKind::Delay(d),
        }
    }
}

/// Everything a fake exchange starts with.
#[derive(Clone, Debug)]
pub struct World {
    /// The only credentials the fake accepts.
    pub credentials: Credentials,
    /// Listed instruments.
    pub instruments: Vec<Instrument>,
    /// Open positions: symbol, signed quantity (negative = short), entry price.
    pub positions: Vec<(String, Dec, Dec)>,
    /// Symbols whose opening orders the exchange refuses (insufficient margin).
    pub reject_entry: HashSet<String>,
    /// Symbols whose protective stop the exchange refuses.
    pub reject_stop: HashSet<String>,
    /// Added before every answer.
    pub latency: Duration,
    /// The fake's clock minus the real clock, in ms (tests clients that sync server time).
    pub clock_offset_ms: i64,
    /// Pending faults, consumed in order.
    pub faults: Vec<Fault>,
    /// Hedge (dual-side) position mode instead of one-way: Binance
    /// `GET /fapi/v1/positionSide/dual` answers `dualSidePosition: true`, orders without
    /// `positionSide` are refused (`-4061`); Bybit position rows carry `positionIdx` 1/2 and
    /// `positionIdx: 0` is refused.
    pub hedge_mode: bool,
    /// How long after its `order/create` ack a Bybit order stays invisible to
    /// `/v5/order/realtime` and `/v5/order/history` (the ack is asynchronous).
    pub ack_visibility_delay: Duration,
    /// Close-all stops resting from positions that are gone (Binance keeps them open):
    /// symbol, side of the closing order, trigger price.
    pub resting_close_stops: Vec<(String, super::state::Side, Dec)>,
    /// Rate budget (none: unlimited).
    pub rate_limit: Option<super::limits::RateLimit>,
    /// Balance and key permissions.
    pub account: super::account::Account,
    /// Faults of protective-stop requests (Bybit `trading-stop`): the stop is set, its answer
    /// is lost.
    pub stop_faults: Vec<Fault>,
    /// Faults of trailing-stop requests (Binance `TRAILING_STOP_MARKET` algo orders, Bybit
    /// `trading-stop` with `trailingStop`): the trailing stop is set, its answer is lost.
    pub trailing_faults: Vec<Fault>,
    /// Leverage brackets (risk-limit tiers), the same for every symbol; none: no cap.
    pub brackets: Vec<Bracket>,
}

impl World {
    /// An empty world accepting `api_key` / `secret`.
    pub fn new(api_key: &str, secret: &str) -> Self {
        World {
            credentials: Credentials {
                api_key: api_key.to_owned(),
                secret: secret.to_owned(),
            },
            instruments: Vec::new(),
            positions: Vec::new(),
            reject_entry: HashSet::new(),
            reject_stop: HashSet::new(),
            latency: Duration::ZERO,
            clock_offset_ms: 0,
            faults: Vec::new(),
            hedge_mode: false,
            ack_visibility_delay: Duration::ZERO,
            resting_close_stops: Vec::new(),
            rate_limit: None,
            account: super::account::Account::default(),
            stop_faults: Vec::new(),
            trailing_faults: Vec::new(),
            brackets: Vec::new(),
        }
    }

    /// Starts the account with `balance` USDT available (fills take their margin from it).
    /// Panics on a malformed literal.
    pub fn balance(mut self, balance: &str) -> Self {
        self.account.available = lit(balance);
        self
    }

    /// Adds a bracket: up to `max_leverage`, a position may reach `notional_cap` USDT.
    pub fn bracket(mut self, max_leverage: u32, notional_cap: &str) -> Self {
        self.brackets.push(Bracket {
            max_leverage,
            notional_cap: lit(notional_cap),
        });
        self
    }

    /// Puts the account in hedge (dual-side) position mode.
    pub fn hedge_mode(mut self, yes: bool) -> Self {
        self.hedge_mode = yes;
        self
    }

    /// Adds a fault to protective-stop requests (Bybit `trading-stop`, Binance
    /// `POST /fapi/v1/algoOrder`): the stop is set, then its answer is replaced, delayed or
    /// dropped.
    pub fn stop_fault(mut self, f: Fault) -> Self {
        self.stop_faults.push(f);
        self
    }

    /// Adds a fault to trailing-stop requests: the trailing stop is set, then its answer is
    /// replaced, delayed or dropped (a request whose outcome the client cannot know).
    pub fn trailing_fault(mut self, f: Fault) -> Self {
        self.trailing_faults.push(f);
        self
    }

    /// Sets the balance and the key's permissions.
    pub fn account(mut self, account: super::account::Account) -> Self {
        self.account = account;
        self
    }

    /// Enforces a rate budget (429/418 on Binance, 10006/403 on Bybit).
    pub fn rate_limit(mut self, limit: super::limits::RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// Makes Bybit orders visible to order lookups only `d` after their ack.
    pub fn ack_visibility_delay(mut self, d: Duration) -> Self {
        self.ack_visibility_delay = d;
        self
    }

    /// Leaves a close-all STOP_MARKET resting on `symbol` (closing side `side`, trigger
    /// `trigger`) from a position that is gone. Panics on a malformed literal.
    pub fn resting_close_stop(
        mut self,
        symbol: &str,
        side: super::state::Side,
        trigger: &str,
    ) -> Self {
        self.resting_close_stops
            .push((symbol.to_owned(), side, lit(trigger)));
        self
    }

    /// Lists an instrument.
    pub fn instrument(mut self, i: Instrument) -> Self {
        self.instruments.push(i);
        self
    }

    /// Starts with an open position (`qty` negative for a short). Panics on a malformed literal.
    pub fn position(mut self, symbol: &str, qty: &str, entry_price: &str) -> Self {
        self.positions
            .push((symbol.to_owned(), lit(qty), lit(entry_price)));
        self
    }

    /// Refuses opening orders for `symbol`.
    pub fn reject_entry(mut self, symbol: &str) -> Self {
        self.reject_entry.insert(symbol.to_owned());
        self
    }

    /// Refuses protective stops for `symbol`.
    pub fn reject_stop(mut self, symbol: &str) -> Self {
        self.reject_stop.insert(symbol.to_owned());
        self
    }

    /// Adds `d` before every answer.
    pub fn latency(mut self, d: Duration) -> Self {
        self.latency = d;
        self
    }

    /// Runs the fake's clock `ms` ahead of (or behind, if negative) the real one.
    pub fn clock_offset_ms(mut self, ms: i64) -> Self {
        self.clock_offset_ms = ms;
        self
    }

    /// Adds a fault.
    pub fn fault(mut self, f: Fault) -> Self {
        self.faults.push(f);
        self
    }
}

//! Local fake exchange servers speaking the real REST protocols of Binance USDⓈ-M futures and
//! Bybit v5 (linear), for the subset the agent uses — signed requests, real error shapes and codes,
//! exact lot rules — so that an adapter that signs wrongly, misnames a parameter or mishandles an
//! error fails against them. Never a mock that agrees with anything.
//!
//! A test scripts a [`World`] (credentials, instruments, positions, refusals, latency, faults,
//! hedge mode, Bybit's order visibility delay, stale Binance close-all stops, a [`RateLimit`]
//! budget, the [`Account`]'s balance and key permissions, faults of Bybit stops),
//! starts [`FakeBinance`] or [`FakeBybit`], points the adapter at [`FakeServer::base_url`], and
//! afterwards reads what the exchange saw: [`FakeServer::orders`], [`FakeServer::positions`],
//! [`FakeServer::stops`], [`FakeServer::requests`], [`FakeServer::counters`].
//!
//! Each modelled behaviour cites the venue's reference next to it (binance-connector-rust
//! models and CHANGELOG, bybit-exchange/docs v5 pages).
//!
//! Faults model unknown outcomes: the order is accepted and filled, then the answer is replaced by
//! a 5xx, delayed past the client's timeout, or the connection is dropped. An adapter that re-sends
//! instead of looking the order up gets the exchange's duplicate-client-id error, and the fill
//! count shows it.

mod account;
mod binance;
mod bybit;
mod decimal;
mod limits;
mod margin;
mod server;
mod sign;
mod state;
mod world;

pub use account::Account;
pub use binance::FakeBinance;
pub use bybit::FakeBybit;
pub use decimal::{Dec, DecError};
pub use limits::RateLimit;
pub use margin::{Bracket, Margin, MarginKind, TrailingRecord};
pub use server::FakeServer;
pub use sign::{binance_signature, bybit_signature, hmac_sha256_hex};
pub use state::{Counters, OrderRecord, Position, RequestRecord, Side, StopRecord};
pub use world::{Credentials, Fault, FaultBuilder, FaultKind, FaultScope, Instrument, World};

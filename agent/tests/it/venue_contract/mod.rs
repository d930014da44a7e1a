//! One contract for both live adapters: every scenario is one `async fn(Venue)`, run against
//! the Binance and the Bybit adapter (the [`contract!`] macro makes a `binance::…` and a
//! `bybit::…` test of it), each adapter talking its real REST protocol to its fake exchange
//! (`wavegate_tests::fake_exchange`), which models the venue's official documentation.
//! Where the venues really differ (Binance's one close-all stop per side, Bybit's asynchronous
//! ack, what each answers to a reused id), the [`Venue`] says so and the scenario asserts
//! each venue's documented behaviour; scenarios only one venue can have run for it alone.
//!
//! - `adapter`: the adapter called directly (fills, stops, ids, mode, throttling);
//! - `waves`: an agent driven over real gRPC (worked examples, refusals, lost answers, journals);
//! - `binary`: the real `wavegate-agent` binary and its config.

mod adapter;
mod binary;
mod waves;

use std::path::Path;

use crate::live_support::*;
use wavegate_agent::AgentConfig;
use wavegate_agent::config::{AdapterKind, LiveConfig};
use wavegate_tests::fake_exchange::{FakeBinance, FakeBybit, FakeServer, StopRecord, World};

/// A venue of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Venue {
    Binance,
    Bybit,
}

impl Venue {
    /// The adapter kind's name (also the agent's exchange name).
    pub fn name(self) -> &'static str {
        match self {
            Venue::Binance => "binance",
            Venue::Bybit => "bybit",
        }
    }

    /// The exchange id of the venue's agent (as in the worked examples).
    pub fn exchange_id(self) -> u32 {
        match self {
            Venue::Binance => 1,
            Venue::Bybit => 2,
        }
    }

    /// The venue's fake, started with `world`.
    pub async fn fake(self, world: World) -> FakeServer {
        match self {
            Venue::Binance => FakeBinance::start(world).await,
            Venue::Bybit => FakeBybit::start(world).await,
        }
        .unwrap_or_else(|e| panic!("fake {self:?} starts: {e}"))
    }

    /// An agent config whose adapter is this venue's, pointed at `fake`, signing with `secret`.
    pub fn config(self, dir: &Path, fake: &FakeServer, secret: &str) -> AgentConfig {
        let kind = match self {
            Venue::Binance => AdapterKind::Binance,
            Venue::Bybit => AdapterKind::Bybit,
        };
        let name = self.name();
        live_config(
            dir,
            self.exchange_id(),
            name,
            kind,
            &fake.base_url(),
            secret,
        )
    }

    /// The venue's `[adapter.*]` table in `cfg`.
    pub fn live(self, cfg: &mut AgentConfig) -> &mut LiveConfig {
        match self {
            Venue::Binance => &mut cfg.adapter.binance,
            Venue::Bybit => &mut cfg.adapter.bybit,
        }
    }

    /// The account's balance and its positions: what a wave's start reads (Binance
    /// `GET /fapi/v2/balance`, `GET /fapi/v3/positionRisk`; Bybit v5 `account/wallet-balance`,
    /// `position/list`).
    pub fn account_paths(self) -> [&'static str; 2] {
        match self {
            Venue::Binance => ["/fapi/v2/balance", "/fapi/v3/positionRisk"],
            Venue::Bybit => ["/v5/account/wallet-balance", "/v5/position/list"],
        }
    }

    /// The last-price read (Binance `GET /fapi/v2/ticker/price`, Bybit v5 `market/tickers`).
    pub fn ticker_path(self) -> &'static str {
        match self {
            Venue::Binance => "/fapi/v2/ticker/price",
            Venue::Bybit => "/v5/market/tickers",
        }
    }

    /// The code of the venue's "execution status unknown" server error the fakes answer with
    /// (Binance `-1007` with HTTP 503; Bybit `retCode` 10016 with HTTP 500).
    pub fn server_error_code(self) -> &'static str {
        match self {
            Venue::Binance => "-1007",
            Venue::Bybit => "10016",
        }
    }

    /// The code of the venue's refusal of an opening order for want of margin (Binance
    /// `-2019`, Bybit `110007`).
    pub fn margin_refusal_code(self) -> &'static str {
        match self {
            Venue::Binance => "-2019",
            Venue::Bybit => "110007",
        }
    }

    /// What the venue's protective stop is: a `STOP_MARKET` close-all algo order on Binance,
    /// the position's `StopLoss` on Bybit.
    pub fn stop_type(self) -> &'static str {
        match self {
            Venue::Binance => "STOP_MARKET",
            Venue::Bybit => "StopLoss",
        }
    }

    /// Method and path of a protective-stop request.
    pub fn stop_request(self) -> (&'static str, &'static str) {
        match self {
            Venue::Binance => ("POST", "/fapi/v1/algoOrder"),
            Venue::Bybit => ("POST", "/v5/position/trading-stop"),
        }
    }
}

/// Runs each listed scenario (`async fn(Venue)` in the invoking module) as one test per venue:
/// `binance::<scenario>` and `bybit::<scenario>`.
macro_rules! contract {
    ($($scenario:ident),+ $(,)?) => {
        mod binance {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(crate::venue_contract::Venue::Binance).await
                }
            )+
        }
        mod bybit {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(crate::venue_contract::Venue::Bybit).await
                }
            )+
        }
    };
}
use contract;

/// The active stops the fake holds for `symbol`.
pub fn active_stops(fake: &FakeServer, symbol: &str) -> Vec<StopRecord> {
    fake.stops()
        .into_iter()
        .filter(|s| s.symbol == symbol && s.active)
        .collect()
}

/// The stop the fake holds for `symbol` (exactly one, active).
pub fn stop_of(fake: &FakeServer, symbol: &str) -> StopRecord {
    let stops = active_stops(fake, symbol);
    assert_eq!(stops.len(), 1, "{symbol}: {stops:?}");
    stops[0].clone()
}

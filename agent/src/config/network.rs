//! `network`: production or a venue's official test environment (binance-connector-rust
//! src/common/constants.rs: `https://testnet.binancefuture.com`, `https://demo-fapi.binance.com`;
//! bybit-exchange/docs docs/v5/guide.mdx `https://api-testnet.bybit.com`, docs/v5/demo.mdx
//! `https://api-demo.bybit.com`).

use serde::Deserialize;

use super::live::{BINANCE_BASE_URL, BYBIT_BASE_URL};

/// A venue environment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Production: real money.
    #[default]
    Mainnet,
    /// The venue's testnet.
    Testnet,
    /// The venue's demo trading environment.
    Demo,
}

impl Network {
    /// This environment's REST base URL for the venue whose production URL is `production`.
    pub fn base_url(self, production: &str) -> &'static str {
        let binance = production == BINANCE_BASE_URL;
        match (self, binance) {
            (Network::Mainnet, true) => BINANCE_BASE_URL,
            (Network::Mainnet, false) => BYBIT_BASE_URL,
            (Network::Testnet, true) => "https://testnet.binancefuture.com",
            (Network::Testnet, false) => "https://api-testnet.bybit.com",
            (Network::Demo, true) => "https://demo-fapi.binance.com",
            (Network::Demo, false) => "https://api-demo.bybit.com",
        }
    }
}

/// True when `url` is a venue's production REST URL.
pub fn is_production(url: &str) -> bool {
    let url = url.trim_end_matches('/');
    url == BINANCE_BASE_URL || url == BYBIT_BASE_URL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_select_the_official_endpoints() {
        assert_eq!(
            Network::Testnet.base_url(BINANCE_BASE_URL),
            "https://testnet.binancefuture.com"
        );
        assert_eq!(
            Network::Demo.base_url(BYBIT_BASE_URL),
            "https://api-demo.bybit.com"
        );
        assert_eq!(Network::Mainnet.base_url(BYBIT_BASE_URL), BYBIT_BASE_URL);
        assert!(serde_json::from_str::<Network>("\"live\"").is_err());
        assert!(is_production("https://fapi.binance.com/"));
        assert!(!is_production("http://127.0.0.1:1234"));
    }
}

//! `[adapter.binance]`, `[adapter.bybit]` and credentials: the secret only from
//! `WAVEGATE_AGENT_API_SECRET` or `api_secret_file`; key and secret redacted from `Debug`.

use std::fmt;
use std::num::NonZeroU64;
use std::path::PathBuf;

use rust_decimal::Decimal;
use serde::Deserialize;
use smart_default::SmartDefault;
use wavegate_common::config_load::{ensure, nonzero};

use super::ConfigError;
use super::network::Network;

/// A credential: `Debug` shows `<redacted>`, the value only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself (for signing and headers only: never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<empty>"
        } else {
            "<redacted>"
        })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// API key and secret of one exchange account, as an adapter uses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// Public API key (sent in a header; still redacted from `Debug`).
    pub api_key: Secret,
    /// HMAC secret (never sent).
    pub api_secret: Secret,
}

/// `[adapter.binance]` / `[adapter.bybit]`: one live REST adapter.
#[derive(Clone, Debug, PartialEq, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// REST base URL (tests point it at a local fake); unset: `network`'s official URL.
    pub base_url: String,
    /// `mainnet` (default), `testnet` or `demo`: the default `base_url` (`super::network`).
    pub network: Network,
    /// How long a signed request stays valid at the exchange (`recvWindow`), in ms.
    #[default = 5000]
    pub recv_window_ms: u64,
    /// Order size in quote currency (USDT).
    #[default(Decimal::ONE_HUNDRED)]
    pub notional: Decimal,
    /// Time allowed for one REST call; an order call that runs out has an unknown outcome.
    #[default = 5000]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub request_timeout_ms: u64,
    /// Time allowed to open a TCP/TLS connection; a failure here means nothing was sent.
    #[default = 3000]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub connect_timeout_ms: u64,
    /// Refresh period of instrument rules and the server clock, in seconds.
    #[default = 300]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub rules_refresh_secs: u64,
    /// Pause after an IP ban with no stated end (Bybit's `403`), in seconds.
    #[default = 600]
    #[serde(deserialize_with = "nonzero::<_, NonZeroU64, _>")]
    pub ban_cooldown_secs: u64,
    /// Bybit only (`order/create` is asynchronous): ms to poll an acked order, then its position.
    #[default = 5000]
    pub ack_visibility_ms: u64,
    /// Farthest a fill price may lie from the last price, in percent, before it is read back.
    #[default(Decimal::TEN)]
    pub max_fill_deviation_percent: Decimal,
    /// API key (`WAVEGATE_AGENT_API_KEY` overrides it).
    pub api_key: Option<Secret>,
    /// File with the API secret; used when `WAVEGATE_AGENT_API_SECRET` is not set.
    pub api_secret_file: Option<PathBuf>,
    /// The API secret: from `WAVEGATE_AGENT_API_SECRET` or an embedding program, never the file.
    #[serde(skip)]
    pub api_secret: Option<Secret>,
}

/// Production REST base URL of Binance USDⓈ-M futures.
pub const BINANCE_BASE_URL: &str = "https://fapi.binance.com";
/// Production REST base URL of Bybit v5.
pub const BYBIT_BASE_URL: &str = "https://api.bybit.com";

/// Deserializes `[adapter.binance]`, defaulting `base_url` to Binance's.
pub(super) fn de_binance<'de, D: serde::Deserializer<'de>>(d: D) -> Result<LiveConfig, D::Error> {
    Ok(LiveConfig::deserialize(d)?.with_url(BINANCE_BASE_URL))
}

/// Deserializes `[adapter.bybit]`, defaulting `base_url` to Bybit's.
pub(super) fn de_bybit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<LiveConfig, D::Error> {
    Ok(LiveConfig::deserialize(d)?.with_url(BYBIT_BASE_URL))
}

impl LiveConfig {
    /// Default `[adapter.binance]` (USDⓈ-M futures production).
    pub fn binance() -> Self {
        Self::default().with_url(BINANCE_BASE_URL)
    }

    /// Default `[adapter.bybit]` (v5 production).
    pub fn bybit() -> Self {
        Self::default().with_url(BYBIT_BASE_URL)
    }

    /// Sets an unset `base_url` to `production`'s URL on the configured network.
    fn with_url(mut self, production: &str) -> Self {
        if self.base_url.is_empty() {
            self.base_url = self.network.base_url(production).to_owned();
        }
        self
    }

    /// Checks ranges and credentials; `table` (`adapter.binance`, …) names the bad key.
    pub(super) fn validate(&self, table: &str) -> Result<(), ConfigError> {
        let key = |k: &str| format!("{table}.{k}");
        let url = &self.base_url;
        ensure(
            url.starts_with("https://") || url.starts_with("http://"),
            key("base_url"),
            || format!("must be an http(s) URL, got {url:?}"),
        )?;
        let network = self.network;
        ensure(
            network == Network::Mainnet || !super::network::is_production(url),
            key("base_url"),
            || {
                format!(
                    "is a production URL ({url}) but network is {network:?}: remove base_url or \
                     set the environment's own"
                )
            },
        )?;
        let recv = self.recv_window_ms;
        ensure((1..=60_000).contains(&recv), key("recv_window_ms"), || {
            format!("must be in 1..=60000, got {recv}")
        })?;
        let ack = self.ack_visibility_ms;
        ensure(
            (1..=60_000).contains(&ack),
            key("ack_visibility_ms"),
            || format!("must be in 1..=60000, got {ack}"),
        )?;
        let deviation = self.max_fill_deviation_percent;
        ensure(
            deviation > Decimal::ZERO && deviation < Decimal::ONE_HUNDRED,
            key("max_fill_deviation_percent"),
            || format!("must be in (0, 100), got {deviation}"),
        )?;
        let notional = self.notional;
        ensure(notional > Decimal::ZERO, key("notional"), || {
            format!("must be positive, got {notional}")
        })?;
        ensure(
            !self.api_key.as_ref().is_none_or(Secret::is_empty),
            key("api_key"),
            || {
                "missing: the live adapter needs an API key (set WAVEGATE_AGENT_API_KEY or this key)"
                .into()
            },
        )?;
        let secret = !self.api_secret.as_ref().is_none_or(Secret::is_empty);
        ensure(
            secret || self.api_secret_file.is_some(),
            key("api_secret_file"),
            || {
                "missing: the live adapter needs an API secret (set WAVEGATE_AGENT_API_SECRET or \
             this key to a file holding it)"
                    .into()
            },
        )
    }

    /// The credentials, reading `api_secret_file` if needed; errors never name the secret.
    pub fn credentials(&self, table: &str) -> Result<Credentials, ConfigError> {
        let bad = |k: &str, reason: String| ConfigError::invalid(format!("{table}.{k}"), reason);
        let api_key = self
            .api_key
            .clone()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| bad("api_key", "missing (or WAVEGATE_AGENT_API_KEY)".into()))?;
        let api_secret = match (&self.api_secret, &self.api_secret_file) {
            (Some(s), _) if !s.is_empty() => s.clone(),
            (_, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    bad(
                        "api_secret_file",
                        format!("cannot read {}: {}", path.display(), e.kind()),
                    )
                })?;
                let s = text.trim();
                if s.is_empty() {
                    return Err(bad(
                        "api_secret_file",
                        format!("{} is empty", path.display()),
                    ));
                }
                Secret::new(s)
            }
            _ => {
                return Err(bad(
                    "api_secret_file",
                    "missing (or WAVEGATE_AGENT_API_SECRET)".into(),
                ));
            }
        };
        Ok(Credentials {
            api_key,
            api_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_credentials() {
        let mut c = LiveConfig::binance();
        c.api_key = Some(Secret::new("the-public-key-123"));
        c.api_secret = Some(Secret::new("the-very-secret-456"));
        let d = format!("{c:?} {:?}", c.credentials("adapter.binance").unwrap());
        assert!(!d.contains("the-public-key-123"), "{d}");
        assert!(!d.contains("the-very-secret-456"), "{d}");
        assert!(d.contains("<redacted>"), "{d}");
    }

    #[test]
    fn missing_credentials_name_the_key() {
        let mut c = LiveConfig::bybit();
        let e = c.validate("adapter.bybit").unwrap_err().to_string();
        assert!(e.contains("adapter.bybit.api_key"), "{e}");
        c.api_key = Some(Secret::new("k"));
        let e = c.validate("adapter.bybit").unwrap_err().to_string();
        assert!(e.contains("adapter.bybit.api_secret_file"), "{e}");
        c.api_secret_file = Some("/nonexistent/wavegate-secret".into());
        c.validate("adapter.bybit").unwrap();
        let e = c.credentials("adapter.bybit").unwrap_err().to_string();
        assert!(e.contains("adapter.bybit.api_secret_file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        std::fs::write(&f, "s3cr3t\n").unwrap();
        c.api_secret_file = Some(f);
        assert_eq!(
            c.credentials("adapter.bybit").unwrap().api_secret.expose(),
            "s3cr3t"
        );
    }
}

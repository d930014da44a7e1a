//! Fault injection for tests and demos: [`Faulty`] refuses or alters an adapter's calls per
//! `[faults]` ([`Exchange::refused`]); refused in front of a non-loopback live venue.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use smart_default::SmartDefault;

use super::money::Decimal;
use super::{
    AccountState, EntryOrder, Exchange, ExchangeError, Fill, LeverageSetting, OrderReport,
    Position, Side, StopOrder, TrailingStopOrder,
};
use crate::config::{AdapterConfig, ConfigError};
use crate::exchange::Result;

/// The answer to an entry scripted as a duplicate (`duplicate_entry`, `duplicate_entry_gone`).
const DUPLICATE: &str = "faults: duplicate_client_order_id";

/// `[faults]`: scripted failures per symbol, injected in front of the adapter. Empty by default.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[serde(deny_unknown_fields, default)]
pub struct FaultsConfig {
    /// Symbols that fail validation with `symbol_not_tradable`.
    pub invalid_symbols: Vec<String>,
    /// Symbols whose entry order is rejected (`order_rejected`).
    pub exec_fail: Vec<String>,
    /// Symbols whose entry fills but whose protective stop is rejected (`stop_rejected`).
    pub stop_fail: Vec<String>,
    /// Symbols whose close is rejected; with `stop_fail`, a filled entry stays without a stop.
    pub close_fail: Vec<String>,
    /// Symbols whose order lookups fail: an unanswered entry stays unresolved.
    pub lookup_fail: Vec<String>,
    /// Entry fills but is answered "duplicate client order id": found by lookup.
    pub duplicate_entry: Vec<String>,
    /// As `duplicate_entry`, with the position closed at once (the fill is on record).
    pub duplicate_entry_gone: Vec<String>,
    /// Reads of the open positions that fail (exchange unreachable) after start-up.
    pub positions_fail: u32,
    /// Symbols whose trailing stop is rejected (`trailing_rejected`).
    pub trailing_fail: Vec<String>,
    /// Symbols whose leverage change is rejected (`leverage_rejected`).
    pub leverage_fail: Vec<String>,
    /// Probability in `[0, 1]` that an entry order is rejected at random (`random_failure`).
    pub fail_rate: f64,
    /// Seed of the random failures.
    #[default = 42]
    pub seed: u64,
}

impl FaultsConfig {
    fn lists(&self) -> [(&'static str, &Vec<String>); 9] {
        [
            ("faults.invalid_symbols", &self.invalid_symbols),
            ("faults.exec_fail", &self.exec_fail),
            ("faults.stop_fail", &self.stop_fail),
            ("faults.close_fail", &self.close_fail),
            ("faults.lookup_fail", &self.lookup_fail),
            ("faults.duplicate_entry", &self.duplicate_entry),
            ("faults.duplicate_entry_gone", &self.duplicate_entry_gone),
            ("faults.trailing_fail", &self.trailing_fail),
            ("faults.leverage_fail", &self.leverage_fail),
        ]
    }

    /// True when any fault is scripted.
    pub fn active(&self) -> bool {
        self.positions_fail > 0
            || self.fail_rate > 0.0
            || self.lists().iter().any(|(_, l)| !l.is_empty())
    }

    /// Checks the knobs; refuses faults in front of a non-loopback venue.
    pub fn validate(&self, adapter: &AdapterConfig) -> Result<(), ConfigError> {
        if !(self.fail_rate.is_finite() && (0.0..=1.0).contains(&self.fail_rate)) {
            let reason = format!("must be in [0, 1], got {}", self.fail_rate);
            return Err(ConfigError::invalid("faults.fail_rate", reason));
        }
        for (key, symbols) in self.lists() {
            for s in symbols {
                wavegate_common::signal::check_symbol(s)
                    .map_err(|e| ConfigError::invalid(key, e.reason))?;
            }
        }
        if let Some((table, live)) = adapter.live()
            && self.active()
            && !is_loopback(&live.base_url)
        {
            return Err(ConfigError::invalid(
                "faults",
                format!(
                    "fault injection is refused with a real venue ({table}.base_url {:?} is \
                     not loopback)",
                    live.base_url
                ),
            ));
        }
        Ok(())
    }
}

/// True when `url`'s host is `localhost` or a loopback address.
fn is_loopback(url: &str) -> bool {
    let Some(host) = url.parse::<http::Uri>().ok().and_then(|u| {
        u.host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
    }) else {
        return false;
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `exchange` behind the scripted `faults`, or `exchange` itself when none is scripted.
pub fn wrap(exchange: Arc<dyn Exchange>, faults: &FaultsConfig) -> Arc<dyn Exchange> {
    if !faults.active() {
        return exchange;
    }
    tracing::warn!(
        adapter = exchange.kind(),
        ?faults,
        "fault injection is on: [faults] refuses or alters calls to the exchange"
    );
    Arc::new(Faulty::new(exchange, faults.clone()))
}

/// An adapter behind scripted faults.
#[derive(Debug)]
pub struct Faulty<E: ?Sized> {
    inner: Arc<E>,
    cfg: FaultsConfig,
    /// Open-positions reads still to fail.
    positions_fail: AtomicU32,
    rng: Mutex<StdRng>,
}

impl<E: Exchange + ?Sized> Faulty<E> {
    /// `inner` behind the faults `cfg` scripts.
    pub fn new(inner: Arc<E>, cfg: FaultsConfig) -> Self {
        Self {
            inner,
            positions_fail: AtomicU32::new(cfg.positions_fail),
            rng: Mutex::new(StdRng::seed_from_u64(cfg.seed)),
            cfg,
        }
    }

    /// `Unavailable` when `symbol`'s lookups are scripted to fail.
    fn lookup_fails(&self, symbol: &str) -> Result<()> {
        match has(&self.cfg.lookup_fail, symbol) {
            true => Err(ExchangeError::Unavailable("faults: lookup_fail".into())),
            false => Ok(()),
        }
    }
}

fn has(list: &[String], symbol: &str) -> bool {
    list.iter().any(|s| s == symbol)
}

/// `Rejected(reason)` when `symbol` is in `list`.
fn refuse(list: &[String], symbol: &str, reason: &str) -> Result<()> {
    match has(list, symbol) {
        true => Err(ExchangeError::Rejected(reason.into())),
        false => Ok(()),
    }
}

#[async_trait::async_trait]
impl<E: Exchange + ?Sized> Exchange for Faulty<E> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn check_rules(&self, symbol: String, side: Side, notional: Decimal) -> Result<()> {
        refuse(&self.cfg.invalid_symbols, &symbol, "symbol_not_tradable")?;
        self.inner.check_rules(symbol, side, notional).await
    }

    async fn open_positions(&self) -> Result<Vec<String>> {
        let fail = self
            .positions_fail
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err(ExchangeError::Unavailable("faults: positions_fail".into()));
        }
        self.inner.open_positions().await
    }

    async fn position(&self, symbol: String) -> Result<Option<Position>> {
        self.inner.position(symbol).await
    }

    fn attach_metrics(&self, metrics: Arc<wavegate_common::telemetry::Metrics>, exchange: &str) {
        self.inner.attach_metrics(metrics, exchange);
    }

    async fn place_entry(&self, order: EntryOrder) -> Result<Fill> {
        let random_fail = self.cfg.fail_rate > 0.0 && {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            rng.random::<f64>() < self.cfg.fail_rate
        };
        let reason = if has(&self.cfg.exec_fail, &order.symbol) {
            Some("order_rejected")
        } else {
            random_fail.then_some("random_failure")
        };
        if let Some(reason) = reason {
            let (symbol, id) = (order.symbol, order.client_order_id);
            return Err(self.inner.refused("entry", symbol, id, reason).await);
        }
        let symbol = order.symbol.clone();
        let gone_id = format!("{}-gone", order.client_order_id);
        let fill = self.inner.place_entry(order).await?;
        if has(&self.cfg.duplicate_entry_gone, &symbol) {
            // Closed elsewhere since the fill.
            if let Err(e) = self.inner.close_position(symbol, gone_id).await {
                tracing::warn!(error = %e, "faults: duplicate_entry_gone left its position open");
            }
            return Err(ExchangeError::DuplicateId(DUPLICATE.into()));
        }
        if has(&self.cfg.duplicate_entry, &symbol) {
            return Err(ExchangeError::DuplicateId(DUPLICATE.into()));
        }
        Ok(fill)
    }

    async fn place_stop(&self, order: StopOrder) -> Result<String> {
        if has(&self.cfg.stop_fail, &order.symbol) {
            let (symbol, id) = (order.symbol, order.client_order_id);
            return Err(self
                .inner
                .refused("stop", symbol, id, "stop_rejected")
                .await);
        }
        self.inner.place_stop(order).await
    }

    async fn close_position(&self, symbol: String, id: String) -> Result<Fill> {
        if has(&self.cfg.close_fail, &symbol) {
            let refused = self.inner.refused("close", symbol, id, "close_rejected");
            return Err(refused.await);
        }
        self.inner.close_position(symbol, id).await
    }

    async fn lookup_order(&self, symbol: String, id: String) -> Result<Option<OrderReport>> {
        self.lookup_fails(&symbol)?;
        self.inner.lookup_order(symbol, id).await
    }

    async fn refused(
        &self,
        kind: &'static str,
        symbol: String,
        id: String,
        reason: &'static str,
    ) -> ExchangeError {
        self.inner.refused(kind, symbol, id, reason).await
    }

    async fn stop_in_place(&self, symbol: String, id: String) -> Result<bool> {
        self.lookup_fails(&symbol)?;
        self.inner.stop_in_place(symbol, id).await
    }

    async fn min_order_notional(&self, symbol: String) -> Result<Option<Decimal>> {
        self.inner.min_order_notional(symbol).await
    }

    async fn account(&self) -> Result<AccountState> {
        self.inner.account().await
    }

    async fn bracket_max_notional(&self, symbol: String, leverage: u32) -> Result<Option<Decimal>> {
        self.inner.bracket_max_notional(symbol, leverage).await
    }

    async fn set_leverage(&self, symbol: String, setting: LeverageSetting) -> Result<()> {
        refuse(&self.cfg.leverage_fail, &symbol, "leverage_rejected")?;
        self.inner.set_leverage(symbol, setting).await
    }

    async fn place_trailing_stop(&self, order: TrailingStopOrder) -> Result<String> {
        if has(&self.cfg.trailing_fail, &order.symbol) {
            let (symbol, id) = (order.symbol, order.client_order_id);
            return Err(self
                .inner
                .refused("trailing", symbol, id, "trailing_rejected")
                .await);
        }
        self.inner.place_trailing_stop(order).await
    }

    async fn lookup_trailing_stop(
        &self,
        symbol: String,
        id: String,
    ) -> Result<Option<OrderReport>> {
        self.lookup_fails(&symbol)?;
        self.inner.lookup_trailing_stop(symbol, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PaperConfig;
    use crate::exchange::paper::PaperExchange;
    use crate::journal::Journal;

    fn entry(id: &str, symbol: &str) -> EntryOrder {
        EntryOrder {
            client_order_id: id.into(),
            symbol: symbol.into(),
            side: Side::Long,
            notional: Decimal::ONE_HUNDRED,
        }
    }

    async fn paper(dir: &tempfile::TempDir, faults: FaultsConfig) -> Faulty<PaperExchange> {
        let j = Journal::open(&dir.path().join("j.db")).await.unwrap();
        let p = PaperExchange::open(PaperConfig::default(), &j)
            .await
            .unwrap();
        Faulty::new(Arc::new(p), faults)
    }

    #[tokio::test]
    async fn scripted_close_failure_leaves_the_position_open() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = FaultsConfig {
            close_fail: vec!["BTCUSDT".into()],
            ..FaultsConfig::default()
        };
        let p = paper(&dir, cfg).await;
        p.place_entry(entry("c1", "BTCUSDT")).await.unwrap();
        assert_eq!(
            p.close_position("BTCUSDT".into(), "x1".into()).await,
            Err(ExchangeError::Rejected("close_rejected".into()))
        );
        assert_eq!(p.open_positions().await.unwrap(), vec!["BTCUSDT"]);
        assert_eq!(
            p.lookup_order("BTCUSDT".into(), "x1".into()).await,
            Ok(Some(OrderReport::Rejected("close_rejected".into())))
        );
    }

    #[tokio::test]
    async fn scripted_refusals_and_duplicates_keep_their_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = FaultsConfig {
            invalid_symbols: vec!["BADUSDT".into()],
            exec_fail: vec!["XRPUSDT".into()],
            duplicate_entry: vec!["ETHUSDT".into()],
            duplicate_entry_gone: vec!["SOLUSDT".into()],
            positions_fail: 1,
            lookup_fail: vec!["ADAUSDT".into()],
            ..FaultsConfig::default()
        };
        let p = paper(&dir, cfg).await;
        assert_eq!(
            p.check_rules("BADUSDT".into(), Side::Long, Decimal::ONE_HUNDRED)
                .await,
            Err(ExchangeError::Rejected("symbol_not_tradable".into()))
        );
        let refused = Err(ExchangeError::Rejected("order_rejected".into()));
        assert_eq!(p.place_entry(entry("c1", "XRPUSDT")).await, refused);
        let found = p.lookup_order(String::new(), "c1".into()).await;
        assert_eq!(
            found,
            Ok(Some(OrderReport::Rejected("order_rejected".into())))
        );
        let dup = Err(ExchangeError::DuplicateId(DUPLICATE.into()));
        assert_eq!(p.place_entry(entry("c2", "ETHUSDT")).await, dup);
        assert_eq!(p.place_entry(entry("c3", "SOLUSDT")).await, dup);
        for id in ["c2", "c3"] {
            let found = p.lookup_order(String::new(), id.into()).await;
            assert!(
                matches!(found, Ok(Some(OrderReport::Filled(_)))),
                "{found:?}"
            );
        }
        assert!(matches!(
            p.open_positions().await,
            Err(ExchangeError::Unavailable(_))
        ));
        assert_eq!(p.open_positions().await.unwrap(), vec!["ETHUSDT"]);
        assert!(matches!(
            p.lookup_order("ADAUSDT".into(), "c9".into()).await,
            Err(ExchangeError::Unavailable(_))
        ));
    }

    #[test]
    fn faults_are_refused_in_front_of_a_venue_off_loopback() {
        let mut adapter = AdapterConfig {
            kind: crate::config::AdapterKind::Binance,
            ..AdapterConfig::default()
        };
        let faults = FaultsConfig {
            exec_fail: vec!["BTCUSDT".into()],
            ..FaultsConfig::default()
        };
        let e = faults.validate(&adapter).unwrap_err().to_string();
        assert!(e.contains("faults") && e.contains("not loopback"), "{e}");
        FaultsConfig::default().validate(&adapter).unwrap();
        for url in [
            "http://127.0.0.1:9000",
            "http://localhost:1",
            "http://[::1]:80",
        ] {
            adapter.binance.base_url = url.into();
            faults.validate(&adapter).unwrap();
        }
        adapter.kind = crate::config::AdapterKind::Paper;
        adapter.binance.base_url = "https://fapi.binance.com".into();
        faults.validate(&adapter).unwrap();
        let bad = FaultsConfig {
            fail_rate: 2.0,
            ..FaultsConfig::default()
        };
        assert!(
            bad.validate(&adapter)
                .unwrap_err()
                .to_string()
                .contains("faults.fail_rate")
        );
    }
}

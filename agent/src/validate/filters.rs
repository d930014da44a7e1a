//! Symbol filters (`[symbols]`) and the reference bot's refusals → [`SYMBOL_FILTERED`].

use crate::config::SymbolsConfig;

/// Validation reason of a symbol the filters refuse.
pub const SYMBOL_FILTERED: &str = "symbol_filtered";

/// Quote assets a symbol may end with (USDⓈ-M and linear perpetuals).
const QUOTES: &[&str] = &["USDT", "USDC", "FDUSD", "BUSD", "USD"];
/// Stablecoins: a pair of two of them has no price movement to trade.
const STABLECOINS: &[&str] = &[
    "USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI", "USDP", "USDD", "PYUSD", "USDE",
];
/// Suffixes of leveraged tokens' base assets (`BTCUP`, `ETHBULL`, `XRP3L`…).
const LEVERAGED_SUFFIXES: &[&str] = &["UP", "DOWN", "BULL", "BEAR", "2L", "3L", "2S", "3S"];
/// Base characters before a leveraged suffix: `BTCUP` matches, `JUPUSDT` does not.
const MIN_UNDERLYING: usize = 3;

/// The compiled `[symbols]` filter.
#[derive(Debug, Clone)]
pub struct SymbolFilter {
    cfg: SymbolsConfig,
}

impl SymbolFilter {
    /// A filter from config (already validated).
    pub fn new(cfg: &SymbolsConfig) -> Self {
        Self { cfg: cfg.clone() }
    }

    /// `Ok` when the agent trades `symbol`. An allow-list admits only its symbols and lets them
    /// past the default refusals (`SYRUPUSDT` looks leveraged); deny rules always win.
    pub fn check(&self, symbol: &str) -> Result<(), &'static str> {
        let c = &self.cfg;
        if c.deny.iter().any(|d| d == symbol) || c.deny_patterns.iter().any(|p| glob(p, symbol)) {
            return Err(SYMBOL_FILTERED);
        }
        let allowed_explicitly = c.allow.iter().any(|a| a == symbol);
        if !c.allow.is_empty() && !allowed_explicitly {
            return Err(SYMBOL_FILTERED);
        }
        if allowed_explicitly {
            return Ok(());
        }
        let base = base_asset(symbol);
        if !c.allow_stablecoin_pairs && is_stablecoin_pair(symbol, base) {
            return Err(SYMBOL_FILTERED);
        }
        if !c.allow_leveraged_tokens && is_leveraged_token(base) {
            return Err(SYMBOL_FILTERED);
        }
        Ok(())
    }
}

/// The symbol without its quote asset (the whole symbol when no known quote ends it).
fn base_asset(symbol: &str) -> &str {
    QUOTES
        .iter()
        .find_map(|q| symbol.strip_suffix(q).filter(|b| !b.is_empty()))
        .unwrap_or(symbol)
}

fn is_stablecoin_pair(symbol: &str, base: &str) -> bool {
    base.len() < symbol.len() && STABLECOINS.contains(&base)
}

fn is_leveraged_token(base: &str) -> bool {
    LEVERAGED_SUFFIXES.iter().any(|s| {
        base.strip_suffix(s)
            .is_some_and(|u| u.len() >= MIN_UNDERLYING)
    })
}

/// `*` matches any run of characters (also none); everything else matches itself.
fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(f: impl FnOnce(&mut SymbolsConfig)) -> SymbolFilter {
        let mut c = SymbolsConfig::default();
        f(&mut c);
        SymbolFilter::new(&c)
    }

    #[test]
    fn defaults_refuse_stablecoin_pairs_and_leveraged_tokens_only() {
        let f = filter(|_| {});
        for s in [
            "USDCUSDT",
            "FDUSDUSDT",
            "BTCUPUSDT",
            "ETHDOWNUSDT",
            "XRPBULLUSDT",
            "ETH3LUSDT",
        ] {
            assert_eq!(f.check(s), Err(SYMBOL_FILTERED), "{s}");
        }
        for s in ["BTCUSDT", "JUPUSDT", "ETHUSDC", "OPUSDT", "1000PEPEUSDT"] {
            assert_eq!(f.check(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn allow_deny_and_patterns() {
        let f = filter(|c| {
            c.deny = vec!["DOGEUSDT".into()];
            c.deny_patterns = vec!["*PEPE*".into(), "LUNA*".into()];
        });
        assert_eq!(f.check("DOGEUSDT"), Err(SYMBOL_FILTERED));
        assert_eq!(f.check("1000PEPEUSDT"), Err(SYMBOL_FILTERED));
        assert_eq!(f.check("LUNA2USDT"), Err(SYMBOL_FILTERED));
        assert_eq!(f.check("BTCUSDT"), Ok(()));
        let f = filter(|c| {
            c.allow = vec!["BTCUSDT".into(), "SYRUPUSDT".into()];
            c.deny = vec!["SYRUPUSDT".into()];
        });
        assert_eq!(f.check("BTCUSDT"), Ok(()));
        assert_eq!(f.check("ETHUSDT"), Err(SYMBOL_FILTERED));
        // The deny-list wins over the allow-list.
        assert_eq!(f.check("SYRUPUSDT"), Err(SYMBOL_FILTERED));
        let f = filter(|c| c.allow = vec!["SYRUPUSDT".into()]);
        assert_eq!(f.check("SYRUPUSDT"), Ok(()), "explicitly allowed");
        let f = filter(|c| c.allow_leveraged_tokens = true);
        assert_eq!(f.check("BTCUPUSDT"), Ok(()));
    }

    #[test]
    fn glob_matches_runs() {
        assert!(glob("*", "X"));
        assert!(glob("A*C", "ABBC"));
        assert!(glob("A*C", "AC"));
        assert!(!glob("A*C", "ABCD"));
        assert!(glob("*B*D", "ABCD"));
        assert!(!glob("AB*BA", "ABA"));
    }
}

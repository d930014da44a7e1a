//! Instrument rules shared by the live adapters: quantity steps, price ticks, minimum and
//! maximum quantities and the minimum notional; exact decimal formatting of quantities and
//! prices; and a cache of the rules that is refreshed periodically.
//!
//! Exchanges refuse a quantity that is not a multiple of the step or a price off the tick, so
//! both are computed as whole numbers of steps and printed exactly from the step's own decimal
//! form (never `format!("{f64}")`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{ExchangeError, Side};

/// A decimal increment (`stepSize`, `tickSize`) kept exactly: `mantissa × 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    mantissa: u64,
    scale: u32,
}

impl Step {
    /// Parses `"0.001"`, `"0.50"`, `"1"`, `"10"`; `None` for zero, negative or malformed.
    pub fn parse(s: &str) -> Option<Step> {
        let s = s.trim();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let frac = frac.trim_end_matches('0');
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let scale = u32::try_from(frac.len()).ok().filter(|s| *s <= 18)?;
        let mantissa: u64 = format!("{int}{frac}").parse().ok()?;
        (mantissa > 0).then_some(Step { mantissa, scale })
    }

    /// The step as a float.
    pub fn value(self) -> f64 {
        self.mantissa as f64 / 10f64.powi(self.scale as i32)
    }

    /// Whole steps in `x`, rounded down (a hair of tolerance absorbs float noise such as
    /// `2.9999999999` steps that are really 3).
    pub fn floor_steps(self, x: f64) -> u64 {
        let n = x / self.value();
        if !n.is_finite() || n <= 0.0 {
            return 0;
        }
        (n + 1e-9).floor() as u64
    }

    /// Whole steps in `x`, rounded up (same tolerance the other way).
    pub fn ceil_steps(self, x: f64) -> u64 {
        let n = x / self.value();
        if !n.is_finite() || n <= 0.0 {
            return 0;
        }
        (n - 1e-9).ceil() as u64
    }

    /// `n` steps, printed exactly with the step's decimals (`3` steps of `0.001` → `"0.003"`).
    pub fn format(self, n: u64) -> String {
        let digits = (u128::from(n) * u128::from(self.mantissa)).to_string();
        let scale = self.scale as usize;
        if scale == 0 {
            return digits;
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        format!("{int}.{frac}")
    }
}

/// The rules of one instrument, as the exchange lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Listed and trading.
    pub tradable: bool,
    /// Quantity step for market orders.
    pub qty_step: Step,
    /// Smallest market order quantity.
    pub min_qty: f64,
    /// Largest market order quantity.
    pub max_qty: f64,
    /// Smallest order value in quote currency.
    pub min_notional: f64,
    /// Price tick.
    pub tick: Step,
}

/// An order quantity that fits the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    /// Exactly as sent.
    pub text: String,
    /// The same, as a number.
    pub value: f64,
}

/// The rules of a symbol that can be traded now; an unlisted or halted symbol is refused
/// (`symbol_not_tradable`) before any price is read.
pub fn tradable(rules: Option<Rules>) -> Result<Rules, ExchangeError> {
    match rules {
        Some(r) if r.tradable => Ok(r),
        _ => Err(ExchangeError::Rejected("symbol_not_tradable".into())),
    }
}

impl Rules {
    /// The quantity for an order of `notional` at `price`: rounded DOWN to the step (never
    /// more than asked), then checked against min/max quantity and the minimum notional.
    pub fn quantity(&self, notional: f64, price: f64) -> Result<Quantity, ExchangeError> {
        if !(price.is_finite() && price > 0.0) {
            return Err(ExchangeError::Rejected("no_price".into()));
        }
        let steps = self.qty_step.floor_steps(notional / price);
        let value = steps as f64 * self.qty_step.value();
        // Tolerances: the bounds are decimals printed by the exchange, `value` is steps×step.
        if steps == 0 || value < self.min_qty * (1.0 - 1e-9) {
            return Err(ExchangeError::Rejected("below_min_notional".into()));
        }
        if value * price < self.min_notional * (1.0 - 1e-9) {
            return Err(ExchangeError::Rejected("below_min_notional".into()));
        }
        if self.max_qty > 0.0 && value > self.max_qty * (1.0 + 1e-9) {
            return Err(ExchangeError::Rejected("above_max_quantity".into()));
        }
        Ok(Quantity {
            text: self.qty_step.format(steps),
            value,
        })
    }

    /// The stop trigger price for a position of `side`, on the tick. Rounded AWAY from the
    /// market (down for a long's stop below the price, up for a short's above it), so
    /// rounding can never move a stop onto or across the current price.
    pub fn stop_trigger(&self, side: Side, stop_price: f64) -> String {
        let steps = match side {
            Side::Long => self.tick.floor_steps(stop_price),
            Side::Short => self.tick.ceil_steps(stop_price),
        };
        self.tick.format(steps.max(1))
    }
}

/// Farthest a stop may sit from the venue's last price, as a share of it. A protective stop
/// sits `stop_loss_percent` (a few percent) from the fill, which is near the last price; one
/// farther away was computed from a wrong price and would protect nothing.
pub const MAX_STOP_DISTANCE: f64 = 0.5;

/// `Ok` when a stop at `stop_price` for a position of `side` is positive, on the protective
/// side of the venue's `last` price (below it for a long, above for a short) and within
/// [`MAX_STOP_DISTANCE`] of it; `Rejected` naming the reason otherwise (nothing is sent).
pub fn check_stop_price(side: Side, stop_price: f64, last: f64) -> Result<(), ExchangeError> {
    if !(stop_price.is_finite() && stop_price > 0.0) {
        return Err(ExchangeError::Rejected("stop_price_not_positive".into()));
    }
    let protective = match side {
        Side::Long => stop_price < last,
        Side::Short => stop_price > last,
    };
    if !protective || (stop_price - last).abs() > last * MAX_STOP_DISTANCE {
        return Err(ExchangeError::Rejected(
            "stop_price_far_from_last_price".into(),
        ));
    }
    Ok(())
}

/// Parses a decimal the exchange sent as a string; `None` when malformed.
pub fn num(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Instrument rules by symbol, loaded all at once and reloaded when older than the refresh
/// period (or, at most once a minute, when a symbol is missing: a new listing).
#[derive(Debug)]
pub struct RulesCache {
    refresh: Duration,
    state: tokio::sync::Mutex<Option<(Instant, HashMap<String, Rules>)>>,
}

/// Shortest pause between reloads triggered by an unknown symbol.
const MISSING_RELOAD: Duration = Duration::from_secs(60);

impl RulesCache {
    /// An empty cache refreshed every `refresh`.
    pub fn new(refresh: Duration) -> Self {
        Self {
            refresh,
            state: tokio::sync::Mutex::new(None),
        }
    }

    /// The rules of `symbol` (`None` when not listed), loading them with `load` when stale.
    /// The lock is held while loading so concurrent validations share one request.
    pub async fn get<F, Fut>(&self, symbol: &str, load: F) -> Result<Option<Rules>, ExchangeError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<HashMap<String, Rules>, ExchangeError>>,
    {
        let mut st = self.state.lock().await;
        let reload = match &*st {
            None => true,
            Some((at, map)) => {
                at.elapsed() >= self.refresh
                    || (!map.contains_key(symbol) && at.elapsed() >= MISSING_RELOAD)
            }
        };
        if reload {
            match load().await {
                Ok(map) => *st = Some((Instant::now(), map)),
                // Stale rules beat none: lot sizes rarely change.
                Err(e) if st.is_none() => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "instrument rules refresh failed; using cached")
                }
            }
        }
        Ok(st.as_ref().and_then(|(_, m)| m.get(symbol).cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(step: &str, min_qty: f64, min_notional: f64) -> Rules {
        Rules {
            tradable: true,
            qty_step: Step::parse(step).unwrap(),
            min_qty,
            max_qty: 1000.0,
            min_notional,
            tick: Step::parse("0.1").unwrap(),
        }
    }

    #[test]
    fn steps_parse_and_print_exactly() {
        let s = Step::parse("0.00100").unwrap();
        assert_eq!(s.format(3), "0.003");
        assert_eq!(s.format(1234), "1.234");
        assert_eq!(Step::parse("10").unwrap().format(7), "70");
        assert_eq!(Step::parse("0.5").unwrap().format(3), "1.5");
        assert_eq!(Step::parse("1").unwrap().format(0), "0");
        assert!(Step::parse("0").is_none());
        assert!(Step::parse("-1").is_none());
        assert!(Step::parse("abc").is_none());
    }

    #[test]
    fn quantity_rounds_down_to_the_step() {
        let r = rules("0.001", 0.001, 5.0);
        // 100 / 60000 = 0.0016666… → 0.001 (never 0.002: that would exceed the notional).
        assert_eq!(r.quantity(100.0, 60_000.0).unwrap().text, "0.001");
        assert_eq!(r.quantity(300.0, 3000.0).unwrap().text, "0.100");
        let r = rules("0.001", 0.001, 100.0);
        assert_eq!(
            r.quantity(100.0, 60_000.0),
            Err(ExchangeError::Rejected("below_min_notional".into()))
        );
        let r = rules("1", 1.0, 5.0);
        assert_eq!(
            r.quantity(100.0, 250.0),
            Err(ExchangeError::Rejected("below_min_notional".into()))
        );
        assert_eq!(
            r.quantity(100.0, 0.0),
            Err(ExchangeError::Rejected("no_price".into()))
        );
        assert_eq!(
            r.quantity(1e7, 1.0),
            Err(ExchangeError::Rejected("above_max_quantity".into()))
        );
    }

    #[test]
    fn stops_far_from_the_last_price_or_on_its_wrong_side_are_refused() {
        assert_eq!(check_stop_price(Side::Long, 57_600.0, 60_000.0), Ok(()));
        assert_eq!(check_stop_price(Side::Short, 62_400.0, 60_000.0), Ok(()));
        let far = Err(ExchangeError::Rejected(
            "stop_price_far_from_last_price".into(),
        ));
        assert_eq!(check_stop_price(Side::Long, 0.1, 60_000.0), far);
        assert_eq!(check_stop_price(Side::Long, 61_000.0, 60_000.0), far);
        assert_eq!(check_stop_price(Side::Short, 200_000.0, 60_000.0), far);
        assert_eq!(
            check_stop_price(Side::Long, 0.0, 60_000.0),
            Err(ExchangeError::Rejected("stop_price_not_positive".into()))
        );
    }

    #[test]
    fn stops_round_away_from_the_market() {
        let r = rules("0.001", 0.001, 5.0);
        assert_eq!(r.stop_trigger(Side::Long, 57_600.07), "57600.0");
        assert_eq!(r.stop_trigger(Side::Short, 62_399.91), "62400.0");
        assert_eq!(r.stop_trigger(Side::Long, 2880.0), "2880.0");
    }
}

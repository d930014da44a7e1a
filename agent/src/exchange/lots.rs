//! Instrument rules of the live adapters, their cache, and exact formatting: venues refuse a
//! quantity or price off its step, so both are whole steps printed with the step's decimals.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::money::Decimal;
use super::{ExchangeError, Side};
use crate::exchange::Result;

/// A positive decimal increment (`stepSize`, `tickSize`), exact (`"0.00100"` is `0.001`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step(Decimal);

impl Step {
    /// Parses `"0.001"`, `"0.50"`, `"1"`, `"10"`; `None` for zero, negative or malformed.
    pub fn parse(s: &str) -> Option<Step> {
        let d = super::money::parse(s)?;
        (d > Decimal::ZERO).then(|| Step(d.normalize()))
    }

    /// The step.
    pub fn value(self) -> Decimal {
        self.0
    }

    /// Whole steps in `x`, rounded down (exact: no tolerance needed).
    pub fn floor_steps(self, x: Decimal) -> u64 {
        self.steps(x, Decimal::floor)
    }

    /// Whole steps in `x`, rounded up.
    pub fn ceil_steps(self, x: Decimal) -> u64 {
        self.steps(x, Decimal::ceil)
    }

    fn steps(self, x: Decimal, round: fn(&Decimal) -> Decimal) -> u64 {
        if x <= Decimal::ZERO {
            return 0;
        }
        x.checked_div(self.0)
            .map(|n| round(&n))
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(u64::MAX)
    }

    /// `n` steps as a decimal (`3` steps of `0.001` → `0.003`).
    pub fn times(self, n: u64) -> Decimal {
        Decimal::from(n) * self.0
    }

    /// `n` steps, printed exactly with the step's decimals (`3` steps of `0.001` → `"0.003"`).
    pub fn format(self, n: u64) -> String {
        self.times(n).to_string()
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
    pub min_qty: Decimal,
    /// Largest market order quantity (zero: no limit listed).
    pub max_qty: Decimal,
    /// Smallest order value in quote currency.
    pub min_notional: Decimal,
    /// Price tick.
    pub tick: Step,
}

/// An order quantity that fits the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    /// Exactly as sent.
    pub text: String,
    /// The same, as a number.
    pub value: Decimal,
}

/// The rules of a tradable symbol; unlisted or halted: `symbol_not_tradable`, before any price.
pub fn tradable(rules: Option<Rules>) -> Result<Rules> {
    match rules {
        Some(r) if r.tradable => Ok(r),
        _ => Err(ExchangeError::Rejected("symbol_not_tradable".into())),
    }
}

impl Rules {
    /// Quantity for `notional` at `price`: DOWN to the step (never more), then checked.
    pub fn quantity(&self, notional: Decimal, price: Decimal) -> Result<Quantity> {
        if price <= Decimal::ZERO {
            return Err(ExchangeError::Rejected("no_price".into()));
        }
        let steps = notional
            .checked_div(price)
            .map_or(0, |q| self.qty_step.floor_steps(q));
        let value = self.qty_step.times(steps);
        if steps == 0 || value < self.min_qty || value * price < self.min_notional {
            return Err(ExchangeError::Rejected("below_min_notional".into()));
        }
        if self.max_qty > Decimal::ZERO && value > self.max_qty {
            return Err(ExchangeError::Rejected("above_max_quantity".into()));
        }
        Ok(Quantity {
            text: self.qty_step.format(steps),
            value,
        })
    }

    /// The stop trigger on the tick, rounded AWAY from the market (never onto or across it).
    pub fn stop_trigger(&self, side: Side, stop_price: Decimal) -> String {
        let steps = match side {
            Side::Long => self.tick.floor_steps(stop_price),
            Side::Short => self.tick.ceil_steps(stop_price),
        };
        self.tick.format(steps.max(1))
    }
}

/// Farthest a stop may sit from the last price (half): farther, it came from a wrong price.
pub const MAX_STOP_DISTANCE: Decimal = Decimal::from_parts(5, 0, 0, false, 1);

/// `Ok` for a positive stop on the protective side of `last` within [`MAX_STOP_DISTANCE`].
pub fn check_stop_price(side: Side, stop_price: Decimal, last: Decimal) -> Result<()> {
    if stop_price <= Decimal::ZERO {
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

/// The smallest order value `symbol` accepts now (`Exchange::min_order_notional`).
pub async fn min_order(
    rules: impl Future<Output = Result<Option<Rules>>>,
    price: impl Future<Output = Result<Decimal>>,
) -> Result<Option<Decimal>> {
    let rules = tradable(rules.await?)?;
    Ok(Some(min_order_value(&rules, price.await?)))
}

/// Larger of min quantity and min notional, each in whole steps (up), times the price.
fn min_order_value(rules: &Rules, price: Decimal) -> Decimal {
    let step = rules.qty_step;
    let by_qty = step.ceil_steps(rules.min_qty).max(1);
    let by_notional = rules
        .min_notional
        .checked_div(price)
        .filter(|_| price > Decimal::ZERO)
        .map_or(0, |q| step.ceil_steps(q));
    step.times(by_qty.max(by_notional)) * price
}

/// Rules by symbol, reloaded when stale (or, ≤ once a minute, for a missing symbol).
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

    /// The rules of `symbol`, loaded when stale under the lock (one request for all callers).
    pub async fn get<F, Fut>(&self, symbol: &str, load: F) -> Result<Option<Rules>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<HashMap<String, Rules>>>,
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

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn rules(step: &str, min_qty: &str, min_notional: &str) -> Rules {
        Rules {
            tradable: true,
            qty_step: Step::parse(step).unwrap(),
            min_qty: d(min_qty),
            max_qty: d("1000"),
            min_notional: d(min_notional),
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
    fn whole_steps_are_exact_where_floats_are_not() {
        // 0.3 / 0.1 is 2.9999999999999996 in f64: floored, a float loses a whole step.
        let s = Step::parse("0.1").unwrap();
        assert_eq!(s.floor_steps(d("0.3")), 3);
        assert_eq!(s.ceil_steps(d("0.3")), 3);
        assert_eq!(s.ceil_steps(d("0.30001")), 4);
        assert_eq!(s.floor_steps(d("-1")), 0);
    }

    #[test]
    fn quantity_rounds_down_to_the_step() {
        // 100 / 60000 = 0.0016666… → 0.001 (never 0.002: that would exceed the notional);
        // exactly the minimum notional is enough (no tolerance fudging either way).
        // (lot step = min quantity, min notional, notional, price, quantity or refusal)
        for (step, min_notional, notional, price, expected) in [
            ("0.001", "5", "100", "60000", Ok("0.001")),
            ("0.001", "5", "300", "3000", Ok("0.100")),
            ("0.001", "100", "100", "60000", Err("below_min_notional")),
            ("0.1", "30", "30", "100", Ok("0.3")),
            ("1", "5", "100", "250", Err("below_min_notional")),
            ("1", "5", "100", "0", Err("no_price")),
            ("1", "5", "10000000", "1", Err("above_max_quantity")),
        ] {
            let got = rules(step, step, min_notional).quantity(d(notional), d(price));
            let want = expected
                .map(String::from)
                .map_err(|r| ExchangeError::Rejected(r.into()));
            let case = format!("{notional} at {price}, step {step}, min {min_notional}");
            assert_eq!(got.map(|q| q.text), want, "{case}");
        }
        let r = rules("0.001", "0.001", "5");
        assert_eq!(r.quantity(d("300"), d("3000")).unwrap().value, d("0.1"));
    }

    #[test]
    fn stops_far_from_the_last_price_or_on_its_wrong_side_are_refused() {
        let ok = |side, stop: &str| check_stop_price(side, d(stop), d("60000"));
        assert_eq!(ok(Side::Long, "57600"), Ok(()));
        assert_eq!(ok(Side::Short, "62400"), Ok(()));
        let far = Err(ExchangeError::Rejected(
            "stop_price_far_from_last_price".into(),
        ));
        assert_eq!(ok(Side::Long, "0.1"), far);
        assert_eq!(ok(Side::Long, "61000"), far);
        assert_eq!(ok(Side::Short, "200000"), far);
        assert_eq!(
            ok(Side::Long, "0"),
            Err(ExchangeError::Rejected("stop_price_not_positive".into()))
        );
    }

    #[test]
    fn stops_round_away_from_the_market() {
        let r = rules("0.001", "0.001", "5");
        assert_eq!(r.stop_trigger(Side::Long, d("57600.07")), "57600.0");
        assert_eq!(r.stop_trigger(Side::Short, d("62399.91")), "62400.0");
        assert_eq!(r.stop_trigger(Side::Long, d("2880")), "2880.0");
    }
}

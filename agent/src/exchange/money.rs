//! Money as exact decimals from and back to the venues' strings (they refuse a hair off the
//! step); `f64` only on the wire, entering through [`decimal`].

pub use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// A float that cannot be money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {value} is not a finite decimal number")]
pub struct NotMoney {
    /// What the number was meant to be (`notional`, `stop_loss_percent`, …).
    pub what: &'static str,
    /// The float as printed.
    pub value: String,
}

/// `x` as the decimal it prints as (`0.1` is exactly `0.1`); non-finite or huge `x` is refused.
pub fn decimal(x: f64, what: &'static str) -> Result<Decimal, NotMoney> {
    let bad = || NotMoney {
        what,
        value: x.to_string(),
    };
    if !x.is_finite() {
        return Err(bad());
    }
    x.to_string().parse::<Decimal>().map_err(|_| bad())
}

/// A decimal as a float, for wire and journal floats; never for a number sent to a venue.
pub fn to_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

/// Parses a venue's decimal string (`"0.00100"`, `"-0.002"`, `"1e-5"`); `None` if malformed.
pub fn parse(s: &str) -> Option<Decimal> {
    let s = s.trim();
    s.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(s).ok())
}

/// `percent` of `x` (`percent(60000, 4) = 2400`), exact.
pub fn percent_of(x: Decimal, percent: Decimal) -> Decimal {
    x * percent / Decimal::ONE_HUNDRED
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn floats_enter_as_the_decimal_they_print_as() {
        assert_eq!(decimal(0.1, "x").unwrap(), d("0.1"));
        assert_eq!(decimal(100.0, "x").unwrap(), d("100"));
        assert_eq!(decimal(57_600.07, "x").unwrap(), d("57600.07"));
        assert_eq!(decimal(1e-7, "x").unwrap(), d("0.0000001"));
        let nan = decimal(f64::NAN, "notional").unwrap_err();
        assert_eq!(
            nan.to_string(),
            "notional: NaN is not a finite decimal number"
        );
        assert!(decimal(f64::INFINITY, "x").is_err());
        assert!(decimal(1e300, "x").is_err());
    }

    #[test]
    fn venue_strings_parse_exactly() {
        assert_eq!(parse(" 0.00100 "), Some(d("0.001")));
        assert_eq!(parse("-0.002"), Some(d("-0.002")));
        assert_eq!(parse("1e-5"), Some(d("0.00001")));
        assert_eq!(parse("abc"), None);
        assert_eq!(parse(""), None);
        // 0.1 + 0.2 is 0.3 here, which it is not in f64.
        assert_eq!(parse("0.1").unwrap() + parse("0.2").unwrap(), d("0.3"));
        assert_eq!(percent_of(d("60000"), d("4")), d("2400"));
    }
}

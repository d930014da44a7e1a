//! Exact decimal numbers for the fake exchanges.
//!
//! Exchanges check quantities and prices against step and tick sizes exactly (`0.3` is a multiple
//! of `0.1`); binary floats cannot, so amounts are kept as integers of 10⁻¹² units, parsed from and
//! printed to the decimal strings both APIs use on the wire.

use std::fmt;
use std::str::FromStr;

/// Digits kept after the decimal point.
pub const SCALE_DIGITS: u32 = 12;
const SCALE: i128 = 10i128.pow(SCALE_DIGITS);

/// A signed decimal with 12 fractional digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dec(i128);

/// Why a string is not a decimal number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecError {
    /// Empty, or characters other than an optional sign, digits and one point.
    #[error("not a decimal number")]
    Malformed,
    /// More than 12 digits after the point.
    #[error("more than {SCALE_DIGITS} decimal places")]
    TooPrecise,
    /// Too large to represent.
    #[error("number out of range")]
    Overflow,
}

impl Dec {
    /// Zero.
    pub const ZERO: Dec = Dec(0);

    /// The integer `n`.
    pub fn from_int(n: i64) -> Dec {
        Dec(i128::from(n) * SCALE)
    }

    /// True when the value is zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// True when the value is above zero.
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// True when the value is below zero.
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The absolute value.
    pub fn abs(self) -> Dec {
        Dec(self.0.abs())
    }

    /// `self + o`.
    pub fn plus(self, o: Dec) -> Dec {
        Dec(self.0 + o.0)
    }

    /// `self - o`.
    pub fn minus(self, o: Dec) -> Dec {
        Dec(self.0 - o.0)
    }

    /// `self * o`, truncated to 12 decimals (prices × quantities stay far below the range).
    pub fn times(self, o: Dec) -> Dec {
        Dec(self.0.saturating_mul(o.0) / SCALE)
    }

    /// `self / o`, truncated to 12 decimals; `None` when `o` is zero.
    pub fn checked_div(self, o: Dec) -> Option<Dec> {
        if o.0 == 0 {
            return None;
        }
        Some(Dec(self.0.saturating_mul(SCALE) / o.0))
    }

    /// `self * pct / 100`.
    pub fn percent(self, pct: Dec) -> Dec {
        self.times(pct).times(Dec(SCALE / 100))
    }

    /// True when `self` is a whole multiple of `step` (a zero step accepts everything).
    pub fn is_multiple_of(self, step: Dec) -> bool {
        step.0 == 0 || self.0 % step.0 == 0
    }

    /// Rounds down to a multiple of `step` (towards zero).
    pub fn floor_to(self, step: Dec) -> Dec {
        if step.0 == 0 {
            return self;
        }
        Dec(self.0 - self.0 % step.0)
    }

    /// Number of digits after the point needed to write the value exactly.
    pub fn decimals(self) -> u32 {
        let mut frac = (self.0 % SCALE).abs();
        if frac == 0 {
            return 0;
        }
        let mut d = SCALE_DIGITS;
        while frac % 10 == 0 {
            frac /= 10;
            d -= 1;
        }
        d
    }

    /// Writes the value with exactly `places` decimals (truncating), as exchanges echo prices.
    pub fn to_fixed(self, places: u32) -> String {
        let places = places.min(SCALE_DIGITS);
        let unit = 10i128.pow(SCALE_DIGITS - places);
        let v = self.0 / unit;
        let sign = if v < 0 { "-" } else { "" };
        let v = v.abs();
        if places == 0 {
            return format!("{sign}{v}");
        }
        let p = 10i128.pow(places);
        format!("{sign}{}.{:0width$}", v / p, v % p, width = places as usize)
    }
}

impl FromStr for Dec {
    type Err = DecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(DecError::Malformed);
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > SCALE_DIGITS as usize {
            return Err(DecError::TooPrecise);
        }
        let int_v: i128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| DecError::Overflow)?
        };
        let frac_v: i128 = if frac.is_empty() {
            0
        } else {
            // Cannot fail: at most 12 ASCII digits.
            frac.parse::<i128>().map_err(|_| DecError::Malformed)?
                * 10i128.pow(SCALE_DIGITS - frac.len() as u32)
        };
        let v = int_v
            .checked_mul(SCALE)
            .and_then(|v| v.checked_add(frac_v))
            .ok_or(DecError::Overflow)?;
        Ok(Dec(if neg { -v } else { v }))
    }
}

impl fmt::Display for Dec {
    /// The shortest exact form: `0.001`, `12`, `-3.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_fixed(self.decimals()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(d("0.001").to_string(), "0.001");
        assert_eq!(d("12").to_string(), "12");
        assert_eq!(d("12.50").to_string(), "12.5");
        assert_eq!(d("-3.5").to_string(), "-3.5");
        assert_eq!(d(".5").to_string(), "0.5");
        assert_eq!(d("100.1").to_fixed(3), "100.100");
        assert_eq!("1e3".parse::<Dec>(), Err(DecError::Malformed));
        assert_eq!("".parse::<Dec>(), Err(DecError::Malformed));
        assert_eq!("0.0000000000001".parse::<Dec>(), Err(DecError::TooPrecise));
    }

    #[test]
    fn steps_are_exact() {
        assert!(d("0.3").is_multiple_of(d("0.1")));
        assert!(!d("0.0015").is_multiple_of(d("0.001")));
        assert_eq!(d("0.0019").floor_to(d("0.001")), d("0.001"));
        assert_eq!(d("0.0015").decimals(), 4);
        assert_eq!(d("2").times(d("0.5")), d("1"));
        assert_eq!(d("100").percent(d("4")), d("4"));
        assert_eq!(d("1").checked_div(d("4")), Some(d("0.25")));
    }
}

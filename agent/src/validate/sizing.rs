//! Sizing in USD: raised to the symbol's minimum within the tolerance and `max_usd`, else refused
//! (reference: 100 USD opens at a 104 minimum, not 120). Adapters round down to the step.

use crate::config::SizingConfig;
use crate::exchange::money::percent_of;
use crate::exchange::throttle::{MAX_PACE, through_cool_downs};
use crate::exchange::{Decimal, Exchange, ExchangeError, Side};

/// What validation settled for a signal: the order's size and its symbol's bracket cap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sized {
    /// Order size in USD (the configured one, or raised to the symbol's minimum).
    pub notional: Decimal,
    /// The symbol's largest notional at the leverage in use, when known.
    pub bracket: Option<Decimal>,
}

/// The size to open `symbol` at under the exchange's rules; else `Rejected` with the numbers.
pub async fn size(
    exchange: &dyn Exchange,
    symbol: &str,
    side: Side,
    notional: Decimal,
    cfg: &SizingConfig,
    leverage: u32,
) -> Result<Sized, ExchangeError> {
    // A venue cool-down delays validation; it is not a verdict.
    let check = |n: Decimal| {
        through_cool_downs(MAX_PACE, move || {
            exchange.check_rules(symbol.to_owned(), side, n)
        })
    };
    let notional = match check(notional).await {
        Ok(()) => notional,
        Err(ExchangeError::Rejected(r)) if r == "below_min_notional" => {
            let minimum = exchange
                .min_order_notional(symbol.to_owned())
                .await?
                .ok_or(ExchangeError::Rejected(r))?;
            let raised = raise(notional, minimum, cfg)?;
            check(raised).await?;
            raised
        }
        Err(e) => return Err(e),
    };
    let bracket = exchange
        .bracket_max_notional(symbol.to_owned(), leverage)
        .await?;
    Ok(Sized { notional, bracket })
}

/// `minimum` when within the tolerance and `max_usd`; else the refusal with the numbers.
pub fn raise(
    notional: Decimal,
    minimum: Decimal,
    cfg: &SizingConfig,
) -> Result<Decimal, ExchangeError> {
    let allowed = (notional + percent_of(notional, cfg.tolerance_percent)).min(cfg.max_usd);
    if minimum <= allowed {
        Ok(minimum.max(notional))
    } else {
        Err(ExchangeError::Rejected(format!(
            "below_min_notional: size {notional:.2} USD, the symbol's minimum is {minimum:.2} \
             USD, above the {:.0}% tolerance ({allowed:.2} USD)",
            cfg.tolerance_percent
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raised_within_the_tolerance_refused_beyond_with_the_numbers() {
        let cfg = SizingConfig::default();
        let d = Decimal::from;
        assert_eq!(raise(d(100), d(104), &cfg), Ok(d(104)));
        // Exactly at the tolerance is within it (no float epsilon either way).
        assert_eq!(raise(d(100), d(110), &cfg), Ok(d(110)));
        assert_eq!(
            raise("33.3".parse().unwrap(), "36.63".parse().unwrap(), &cfg),
            Ok("36.63".parse().unwrap())
        );
        let Err(ExchangeError::Rejected(r)) = raise(d(100), d(120), &cfg) else {
            panic!("refused");
        };
        assert_eq!(
            r,
            "below_min_notional: size 100.00 USD, the symbol's minimum is 120.00 USD, above the \
             10% tolerance (110.00 USD)"
        );
        // Never past max_usd.
        let cfg = SizingConfig {
            max_usd: d(105),
            ..SizingConfig::default()
        };
        assert!(raise(d(100), d(108), &cfg).is_err());
    }
}

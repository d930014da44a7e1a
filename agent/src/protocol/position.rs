//! A wave's leverage, margin mode and size, checked against the agent's own bounds.

use wavegate_common::proto::v1 as pb;

use crate::config::{AgentConfig, MarginMode};
use crate::error::ProtocolError;
use crate::exchange::LeverageSetting;
use crate::exchange::money::{Decimal, decimal};

/// Highest leverage (Binance `POST /fapi/v1/leverage`: "int from 1 to 125"), the agent's bound.
pub const MAX_LEVERAGE: u32 = 125;

/// The wave's leverage setting and entry size in USD.
pub(super) fn resolve(
    p: &pb::ExchangeParams,
    cfg: &AgentConfig,
) -> Result<(LeverageSetting, Decimal), ProtocolError> {
    let leverage = match p.leverage {
        None => cfg.positions.leverage,
        Some(l) if (1..=MAX_LEVERAGE).contains(&l) => l,
        Some(l) => {
            return Err(ProtocolError::field(
                "params.leverage",
                format!("must be in 1..={MAX_LEVERAGE}, got {l}"),
            ));
        }
    };
    let margin_mode = match MarginMode::from_proto(p.margin_mode) {
        Ok(mode) => mode.unwrap_or(cfg.positions.margin_mode),
        Err(v) => {
            return Err(ProtocolError::field(
                "params.margin_mode",
                format!("unknown margin mode {v}"),
            ));
        }
    };
    let notional = match p.position_size_usd {
        None => cfg.adapter.notional(),
        Some(usd) => {
            let (lo, hi) = (cfg.sizing.min_usd, cfg.sizing.max_usd);
            // The wire carries a float; as the decimal it prints as (`money::decimal`).
            match decimal(usd, "params.position_size_usd") {
                Ok(d) if d >= lo && d <= hi => d,
                _ => {
                    return Err(ProtocolError::field(
                        "params.position_size_usd",
                        format!(
                            "must be within the agent's sizing.min_usd..=sizing.max_usd \
                             ({lo}..={hi}), got {usd}"
                        ),
                    ));
                }
            }
        }
    };
    Ok((
        LeverageSetting {
            leverage,
            margin_mode,
        },
        notional,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AgentConfig {
        let mut c = AgentConfig::paper(1, "binance", "j.db".into());
        c.positions.leverage = 2;
        c.positions.margin_mode = MarginMode::Cross;
        c
    }

    fn params() -> pb::ExchangeParams {
        pb::ExchangeParams {
            exchange_id: 1,
            max_trades: 3,
            ..Default::default()
        }
    }

    #[test]
    fn absent_params_leave_the_agents_config() {
        let c = cfg();
        let (lev, size) = resolve(&params(), &c).unwrap();
        assert_eq!(lev.leverage, 2);
        assert_eq!(lev.margin_mode, MarginMode::Cross);
        assert_eq!(size, c.adapter.notional());
    }

    #[test]
    fn the_waves_params_replace_the_config_for_the_wave() {
        let p = pb::ExchangeParams {
            leverage: Some(3),
            margin_mode: pb::MarginMode::Isolated as i32,
            position_size_usd: Some(50.0),
            ..params()
        };
        let (lev, size) = resolve(&p, &cfg()).unwrap();
        assert_eq!(
            lev,
            LeverageSetting {
                leverage: 3,
                margin_mode: MarginMode::Isolated
            }
        );
        assert_eq!(size, Decimal::from(50));
    }

    #[test]
    fn out_of_bounds_values_are_refused_naming_the_field() {
        // The field a refusal of `params()` changed by `change` names.
        let field = |change: &dyn Fn(&mut pb::ExchangeParams)| {
            let mut p = params();
            change(&mut p);
            match resolve(&p, &cfg()) {
                Err(ProtocolError::Field { field, .. }) => field,
                other => panic!("expected a field error, got {other:?}"),
            }
        };
        for l in [0, 126] {
            assert_eq!(field(&|p| p.leverage = Some(l)), "params.leverage");
        }
        assert_eq!(field(&|p| p.margin_mode = 7), "params.margin_mode");
        // [sizing] defaults: 5..=10 000 USD.
        for usd in [4.99, 10_000.01, f64::NAN, -50.0] {
            let got = field(&|p| p.position_size_usd = Some(usd));
            assert_eq!(got, "params.position_size_usd", "{usd}");
        }
    }
}

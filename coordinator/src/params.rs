//! Effective exchange params for a wave (docs/design.md §1 step 1) and checks for `Params.Set`.

use std::collections::BTreeMap;

use wavegate_common::proto::v1 as pb;
use wavegate_common::rank::wave_params;
use wavegate_common::stats::ParamsSource;
use wavegate_common::time::to_proto;
use wavegate_common::{ExchangeId, Signal, SignalParams};

use crate::config::CoordinatorConfig;
use crate::error::CoordinatorError;
use crate::store::{ByExchange, ParamsUpdate, StoredParams, WaveParams};

/// The name of an exchange: configured, else stored, else `exchange-<id>`.
pub fn exchange_name(cfg: &CoordinatorConfig, id: u32, stored: Option<&StoredParams>) -> String {
    cfg.exchange(id)
        .map(|e| e.name.clone())
        .or_else(|| stored.map(|s| s.exchange_name.clone()))
        .unwrap_or_else(|| format!("exchange-{id}"))
}

/// Effective params of exchange `id`: stored (source `wave` or `db`), else the configured
/// default, else `None`. `buffer_size` is the stored one, else `max_trades + buffer_fixed`.
pub fn effective(
    cfg: &CoordinatorConfig,
    id: u32,
    stored: Option<&StoredParams>,
    from_wave: bool,
) -> Option<pb::ExchangeParams> {
    let fixed = cfg.dispatch.buffer_fixed;
    let name = exchange_name(cfg, id, stored);
    if let Some(s) = stored {
        let source = if from_wave {
            ParamsSource::Wave
        } else {
            ParamsSource::Db
        };
        return Some(pb::ExchangeParams {
            exchange_id: id,
            exchange_name: name,
            max_trades: s.max_trades,
            buffer_size: s
                .buffer_size
                .unwrap_or_else(|| wavegate_common::plan::buffer_size(s.max_trades, fixed)),
            source: source.to_proto() as i32,
            stop_loss_percent: s.stop_loss_percent,
            trailing_activation_percent: s.trailing_activation_percent,
            trailing_distance_percent: s.trailing_distance_percent,
            updated_at: Some(to_proto(s.updated_at)),
            leverage: s.position.leverage,
            margin_mode: s
                .position
                .margin_mode
                .unwrap_or(pb::MarginMode::Unspecified) as i32,
            position_size_usd: s.position.position_size_usd,
        });
    }
    let max_trades = cfg.exchange(id)?.default_max_trades?;
    Some(pb::ExchangeParams {
        exchange_id: id,
        exchange_name: name,
        max_trades,
        buffer_size: wavegate_common::plan::buffer_size(max_trades, fixed),
        source: ParamsSource::Default.to_proto() as i32,
        ..Default::default()
    })
}

/// docs/design.md §1 step 1: each exchange's update from the wave's first signal with params.
pub fn wave_updates(
    cfg: &CoordinatorConfig,
    stored: &ByExchange,
    groups: &BTreeMap<ExchangeId, Vec<Signal>>,
) -> Vec<ParamsUpdate> {
    wave_params(groups)
        .into_iter()
        .map(|(ex, p)| ParamsUpdate {
            exchange_id: ex,
            exchange_name: exchange_name(cfg, ex, stored.get(&ex)),
            params: p,
        })
        .collect()
}

/// The params an exchange is dispatched with: `written`, else `stood`, else `stored`, else default.
pub fn dispatched_params(
    cfg: &CoordinatorConfig,
    stored: &ByExchange,
    groups: &BTreeMap<ExchangeId, Vec<Signal>>,
    written: &ByExchange,
    stood: &ByExchange,
) -> WaveParams {
    let pick = |ex: &u32| match written.get(ex) {
        Some(w) => effective(cfg, *ex, Some(w), true),
        None => effective(cfg, *ex, stood.get(ex).or(stored.get(ex)), false),
    };
    groups.keys().map(|ex| (*ex, pick(ex))).collect()
}

/// Effective params of every exchange the coordinator knows (configured or stored).
pub fn all_effective(cfg: &CoordinatorConfig, stored: &[StoredParams]) -> Vec<pb::ExchangeParams> {
    let mut by_id: BTreeMap<u32, Option<&StoredParams>> = BTreeMap::new();
    for e in &cfg.exchanges {
        by_id.insert(e.id, None);
    }
    for s in stored {
        by_id.insert(s.exchange_id, Some(s));
    }
    by_id
        .into_iter()
        .filter_map(|(id, s)| effective(cfg, id, s, false))
        .collect()
}

/// Highest stop-loss and trailing activation, percent: a stop past half the price protects nothing.
const MAX_STOP_PERCENT: f64 = 50.0;
/// Trailing distance bounds, percent: Binance `TRAILING_STOP_MARKET` `callbackRate`, the narrowest.
const TRAILING_DISTANCE_PERCENT: (f64, f64) = (0.1, 10.0);

/// Checks params anyone sets: `max_trades` in [1, ceiling], percentages in bounds; `prefix`ed.
pub fn check_bounds(
    cfg: &CoordinatorConfig,
    prefix: &str,
    p: &SignalParams,
) -> Result<(), CoordinatorError> {
    let ceiling = cfg.params.max_trades_ceiling;
    if let Some(m) = p.max_trades
        && !(1..=ceiling).contains(&m)
    {
        return Err(CoordinatorError::bad(
            format!("{prefix}max_trades"),
            format!("must be in [1, {ceiling}] (params.max_trades_ceiling), got {m}"),
        ));
    }
    let (lo, hi) = TRAILING_DISTANCE_PERCENT;
    let ranges = [
        (
            "stop_loss_percent",
            p.stop_loss_percent,
            None,
            MAX_STOP_PERCENT,
        ),
        (
            "trailing_activation_percent",
            p.trailing_activation_percent,
            None,
            MAX_STOP_PERCENT,
        ),
        (
            "trailing_distance_percent",
            p.trailing_distance_percent,
            Some(lo),
            hi,
        ),
    ];
    for (field, v, min, max) in ranges {
        let Some(v) = v else { continue };
        let ok = v.is_finite() && v <= max && min.map_or(v > 0.0, |m| v >= m);
        if !ok {
            let range = match min {
                Some(m) => format!("[{m}, {max}]"),
                None => format!("(0, {max}]"),
            };
            return Err(CoordinatorError::bad(
                format!("{prefix}{field}"),
                format!("must be a percentage in {range}, got {v}"),
            ));
        }
    }
    Ok(())
}

/// Checks a `Params.Set`: configured exchange, `buffer_size >= max_trades`, margin mode, bounds.
pub fn check_set(
    cfg: &CoordinatorConfig,
    req: &pb::SetParamsRequest,
) -> Result<(), CoordinatorError> {
    if req.exchange_id == 0 {
        return Err(CoordinatorError::bad("exchange_id", "must be at least 1"));
    }
    if cfg.exchange(req.exchange_id).is_none() {
        return Err(CoordinatorError::bad(
            "exchange_id",
            format!(
                "exchange {} is not configured (the coordinator's [[exchanges]])",
                req.exchange_id
            ),
        ));
    }
    if req.max_trades == 0 {
        return Err(CoordinatorError::bad("max_trades", "must be at least 1"));
    }
    let p = SignalParams {
        max_trades: Some(req.max_trades),
        stop_loss_percent: req.stop_loss_percent,
        trailing_activation_percent: req.trailing_activation_percent,
        trailing_distance_percent: req.trailing_distance_percent,
        leverage: req.leverage,
        position_size_usd: req.position_size_usd,
        margin_mode: None,
    };
    check_bounds(cfg, "", &p)?;
    if let Some(b) = req.buffer_size
        && b < req.max_trades
    {
        return Err(CoordinatorError::bad(
            "buffer_size",
            format!("must be >= max_trades ({}), got {b}", req.max_trades),
        ));
    }
    if pb::MarginMode::try_from(req.margin_mode).is_err() {
        return Err(CoordinatorError::bad(
            "margin_mode",
            format!("unknown margin mode {}", req.margin_mode),
        ));
    }
    check_position_bounds(cfg, "", req.exchange_id, &p)
}

/// Leverage, margin mode and entry size of a wave's positions; `None` keeps the agent's own.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PositionParams {
    /// Leverage set per symbol before its entry.
    pub leverage: Option<u32>,
    /// Margin mode set per symbol before its entry (never `Unspecified`).
    pub margin_mode: Option<pb::MarginMode>,
    /// Entry size in USD.
    pub position_size_usd: Option<f64>,
}

impl PositionParams {
    /// The request's values, each absent one kept from `kept`.
    pub fn merged(req: &pb::SetParamsRequest, kept: Option<&PositionParams>) -> PositionParams {
        let mode = match pb::MarginMode::try_from(req.margin_mode) {
            Ok(pb::MarginMode::Unspecified) | Err(_) => None,
            Ok(m) => Some(m),
        };
        PositionParams {
            leverage: req.leverage.or_else(|| kept.and_then(|k| k.leverage)),
            margin_mode: mode.or_else(|| kept.and_then(|k| k.margin_mode)),
            position_size_usd: req
                .position_size_usd
                .or_else(|| kept.and_then(|k| k.position_size_usd)),
        }
    }
}

/// Checks position params: `leverage` within `params.max_leverage`, the size in range.
pub fn check_position_bounds(
    cfg: &CoordinatorConfig,
    prefix: &str,
    exchange_id: u32,
    p: &SignalParams,
) -> Result<(), CoordinatorError> {
    let max = cfg.params.max_leverage;
    if let Some(l) = p.leverage
        && !(1..=max).contains(&l)
    {
        return Err(CoordinatorError::bad(
            format!("{prefix}leverage"),
            format!("must be in [1, {max}] (params.max_leverage), got {l}"),
        ));
    }
    if let Some(size) = p.position_size_usd {
        let (lo, hi) = cfg
            .exchange(exchange_id)
            .map_or((cfg.params.min_size_usd, cfg.params.max_size_usd), |e| {
                e.size_range(&cfg.params)
            });
        if !(size.is_finite() && size >= lo && size <= hi) {
            return Err(CoordinatorError::bad(
                format!("{prefix}position_size_usd"),
                format!(
                    "must be within the exchange's size range [{lo}, {hi}] USD \
                     (min_size_usd/max_size_usd), got {size}"
                ),
            ));
        }
    }
    Ok(())
}

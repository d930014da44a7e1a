//! Effective exchange params for a wave (docs/design.md §1 step 1) and checks for `Params.Set`.

use std::collections::BTreeMap;

use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::ParamsSource;
use wavegate_common::time::to_proto;

use crate::config::CoordinatorConfig;
use crate::error::CoordinatorError;
use crate::store::StoredParams;

/// The name of an exchange: configured, else stored, else `exchange-<id>`.
pub fn exchange_name(cfg: &CoordinatorConfig, id: u32, stored: Option<&StoredParams>) -> String {
    cfg.exchange(id)
        .map(|e| e.name.clone())
        .or_else(|| stored.map(|s| s.exchange_name.clone()))
        .unwrap_or_else(|| format!("exchange-{id}"))
}

/// Effective params of exchange `id`: stored (source `wave` when this wave just wrote them,
/// else `db`), else the configured default (source `default`), else `None` (`no_params`).
/// `buffer_size` is the stored one, else `max_trades + buffer_fixed`.
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
        });
    }
    let max_trades = cfg.exchange(id)?.default_max_trades?;
    Some(pb::ExchangeParams {
        exchange_id: id,
        exchange_name: name,
        max_trades,
        buffer_size: wavegate_common::plan::buffer_size(max_trades, fixed),
        source: ParamsSource::Default.to_proto() as i32,
        stop_loss_percent: None,
        trailing_activation_percent: None,
        trailing_distance_percent: None,
        updated_at: None,
    })
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

/// Checks a `Params.Set` request; the error names the field.
pub fn check_set(req: &pb::SetParamsRequest) -> Result<(), CoordinatorError> {
    if req.exchange_id == 0 {
        return Err(CoordinatorError::bad("exchange_id", "must be at least 1"));
    }
    if req.max_trades == 0 {
        return Err(CoordinatorError::bad("max_trades", "must be at least 1"));
    }
    if let Some(b) = req.buffer_size
        && b < req.max_trades
    {
        return Err(CoordinatorError::bad(
            "buffer_size",
            format!("must be >= max_trades ({}), got {b}", req.max_trades),
        ));
    }
    let percents = [
        ("stop_loss_percent", req.stop_loss_percent),
        (
            "trailing_activation_percent",
            req.trailing_activation_percent,
        ),
        ("trailing_distance_percent", req.trailing_distance_percent),
    ];
    for (field, v) in percents {
        if let Some(v) = v
            && !(v.is_finite() && v > 0.0 && v < 100.0)
        {
            return Err(CoordinatorError::bad(
                field,
                format!("must be a percentage in (0, 100), got {v}"),
            ));
        }
    }
    Ok(())
}

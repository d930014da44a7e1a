//! `Params`: read and write stored exchange params.

use chrono::Utc;
use tonic::{Request, Response, Status};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::params_server::Params;

use super::Api;
use crate::error::CoordinatorError;
use crate::params::{PositionParams, all_effective, check_set, effective, exchange_name};
use crate::spans;
use crate::store::StoredParams;

#[tonic::async_trait]
impl Params for Api {
    async fn get(
        &self,
        request: Request<pb::GetParamsRequest>,
    ) -> Result<Response<pb::ParamsList>, Status> {
        spans::serve("Params.Get", request, |req| async move {
            let id = req.exchange_id;
            let cfg = &self.core.cfg;
            let params = if id == 0 {
                let stored = self.core.store.all_params().await?;
                all_effective(cfg, &stored)
            } else {
                let stored = self.core.store.params(id).await?;
                match effective(cfg, id, stored.as_ref(), false) {
                    Some(p) => vec![p],
                    None if stored.is_none() && cfg.exchange(id).is_none() => {
                        let e = format!("exchange_id: unknown exchange {id}");
                        return Err(CoordinatorError::NotFound(e).into());
                    }
                    None => vec![],
                }
            };
            Ok(pb::ParamsList { params })
        })
        .await
    }

    async fn set(
        &self,
        request: Request<pb::SetParamsRequest>,
    ) -> Result<Response<pb::ExchangeParams>, Status> {
        spans::serve("Params.Set", request, |req| async move {
            check_set(&self.core.cfg, &req)?;
            let cfg = &self.core.cfg;
            // Left-out fields keep their stored values (a raised target keeps the wave's
            // stop-loss); the merge holds the row lock so a wave's update is not lost.
            let now = Utc::now();
            let merge = |kept: Option<&StoredParams>| {
                let same_target = kept.is_some_and(|k| k.max_trades == req.max_trades);
                StoredParams {
                    exchange_id: req.exchange_id,
                    exchange_name: if req.exchange_name.trim().is_empty() {
                        exchange_name(cfg, req.exchange_id, kept)
                    } else {
                        req.exchange_name.trim().to_owned()
                    },
                    max_trades: req.max_trades,
                    buffer_size: req
                        .buffer_size
                        .or_else(|| kept.filter(|_| same_target).and_then(|k| k.buffer_size)),
                    stop_loss_percent: req
                        .stop_loss_percent
                        .or_else(|| kept.and_then(|k| k.stop_loss_percent)),
                    trailing_activation_percent: req
                        .trailing_activation_percent
                        .or_else(|| kept.and_then(|k| k.trailing_activation_percent)),
                    trailing_distance_percent: req
                        .trailing_distance_percent
                        .or_else(|| kept.and_then(|k| k.trailing_distance_percent)),
                    position: PositionParams::merged(&req, kept.map(|k| &k.position)),
                    updated_at: now,
                }
            };
            let p = self
                .core
                .store
                .set_params_with(req.exchange_id, merge)
                .await?;
            self.core.params.put(p.clone());
            let mut out = effective(cfg, req.exchange_id, Some(&p), false)
                .ok_or_else(|| Status::internal("stored params have no effective form"))?;
            // A stored name wins over the configured one when the caller set it explicitly.
            out.exchange_name = p.exchange_name;
            Ok(out)
        })
        .await
    }
}

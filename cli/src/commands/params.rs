//! `wavegate params get|set`; `set` refuses an exchange without an agent unless `--force`.

use serde::Serialize;
use wavegate_common::MarginMode;
use wavegate_common::proto::v1 as pb;
use wavegate_common::stats::ParamsSource;

use crate::args::{ParamsCommand, ParamsSetArgs};
use crate::client::Clients;
use crate::commands::agents::list_agents;
use crate::commands::print_as;
use crate::error::CliError;
use crate::report::time_str;
use crate::table::{
    Align::{Left, Right},
    Column, Table, cell, output_width,
};

/// One exchange's params, for `--json`.
#[derive(Debug, Serialize)]
pub struct ParamsView {
    exchange_id: u32,
    exchange_name: String,
    max_trades: u32,
    /// First validation round size.
    buffer_size: u32,
    /// `wave`, `db` or `default`.
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_loss_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trailing_activation_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trailing_distance_percent: Option<f64>,
    /// Leverage set per symbol before entries (absent: the agent's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    leverage: Option<u32>,
    /// `cross` or `isolated` (absent: the agent's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    margin_mode: Option<&'static str>,
    /// Entry size in USD (absent: the agent's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    position_size_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
}

impl ParamsView {
    /// From the wire.
    pub fn from_proto(p: &pb::ExchangeParams) -> Self {
        Self {
            exchange_id: p.exchange_id,
            exchange_name: p.exchange_name.clone(),
            max_trades: p.max_trades,
            buffer_size: p.buffer_size,
            source: ParamsSource::from_proto(p.source).as_str(),
            stop_loss_percent: p.stop_loss_percent,
            trailing_activation_percent: p.trailing_activation_percent,
            trailing_distance_percent: p.trailing_distance_percent,
            leverage: p.leverage,
            margin_mode: MarginMode::from_proto(p.margin_mode)
                .ok()
                .flatten()
                .map(MarginMode::as_str),
            position_size_usd: p.position_size_usd,
            updated_at: time_str(p.updated_at.as_ref()),
        }
    }
}

fn table(params: &[ParamsView]) -> String {
    let columns: &[Column<ParamsView>] = &[
        ("ID", Right, |p| p.exchange_id.to_string()),
        ("EXCHANGE", Left, |p| p.exchange_name.clone()),
        ("MAX_TRADES", Right, |p| p.max_trades.to_string()),
        ("BUFFER", Right, |p| p.buffer_size.to_string()),
        ("SOURCE", Left, |p| p.source.to_owned()),
        ("STOP_LOSS_%", Right, |p| cell(p.stop_loss_percent)),
        ("TRAIL_ACT_%", Right, |p| {
            cell(p.trailing_activation_percent)
        }),
        ("TRAIL_DIST_%", Right, |p| cell(p.trailing_distance_percent)),
        ("LEVERAGE", Right, |p| cell(p.leverage)),
        ("MARGIN", Left, |p| cell(p.margin_mode)),
        ("SIZE_USD", Right, |p| cell(p.position_size_usd)),
        ("UPDATED_AT", Left, |p| {
            p.updated_at.clone().unwrap_or_default()
        }),
    ];
    Table::of(columns, params).render_within(output_width())
}

/// The exchanges the coordinator has agents for: `(id, name)`.
async fn configured(clients: &mut Clients) -> Result<Vec<(u32, String)>, CliError> {
    Ok(list_agents(clients)
        .await?
        .into_iter()
        .map(|a| (a.exchange_id, a.exchange_name))
        .collect())
}

/// `Params.Get` of one exchange, or of all with id 0.
async fn get(clients: &mut Clients, exchange_id: u32) -> Result<Vec<pb::ExchangeParams>, CliError> {
    clients
        .params
        .get(pb::GetParamsRequest { exchange_id })
        .await
        .map(|r| r.into_inner().params)
        .map_err(|s| clients.status_error("Params.Get", &s))
}

/// Resolves EXCHANGE (id or configured name); an id without an agent needs `force`.
pub fn resolve_exchange(
    arg: &str,
    configured: &[(u32, String)],
    force: bool,
) -> Result<u32, CliError> {
    let known = || {
        let names: Vec<String> = configured
            .iter()
            .map(|(id, name)| format!("{id} {name}"))
            .collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    let arg = arg.trim();
    if let Ok(id) = arg.parse::<u32>() {
        if id == 0 {
            return Err(CliError::Input(
                "EXCHANGE: exchange ids start at 1, got 0".into(),
            ));
        }
        if force || configured.iter().any(|(c, _)| *c == id) {
            return Ok(id);
        }
        return Err(CliError::Input(format!(
            "EXCHANGE: the coordinator has no agent for exchange {id} (configured: {}); \
             pass --force to store params for it anyway",
            known()
        )));
    }
    configured
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(arg))
        .map(|(id, _)| *id)
        .ok_or_else(|| {
            CliError::Input(format!(
                "EXCHANGE {arg:?}: neither an id nor a configured exchange name (configured: {})",
                known()
            ))
        })
}

/// Checks what clap cannot (`--buffer-size` vs `--max-trades`), so the error names the flag.
pub fn check_set(a: &ParamsSetArgs) -> Result<(), CliError> {
    match (a.buffer_size, a.max_trades) {
        (Some(b), Some(m)) if b < m => Err(CliError::Input(format!(
            "--buffer-size: must be >= --max-trades ({m}), got {b}"
        ))),
        _ => Ok(()),
    }
}

/// Stores params through `Params.Set` and returns what the coordinator stored.
pub async fn set(clients: &mut Clients, a: &ParamsSetArgs) -> Result<pb::ExchangeParams, CliError> {
    check_set(a)?;
    let exchange_id = resolve_exchange(&a.exchange, &configured(clients).await?, a.force)?;
    let max_trades = match a.max_trades {
        Some(m) => m,
        None => current_max_trades(clients, exchange_id).await?,
    };
    clients
        .params
        .set(pb::SetParamsRequest {
            exchange_id,
            max_trades,
            leverage: a.leverage,
            margin_mode: a.margin_mode.map_or(0, |m| m as i32),
            position_size_usd: a.size_usd,
            buffer_size: a.buffer_size,
            stop_loss_percent: a.stop_loss_percent,
            trailing_activation_percent: a.trailing_activation_percent,
            trailing_distance_percent: a.trailing_distance_percent,
            exchange_name: a.name.clone().unwrap_or_default(),
        })
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| clients.status_error("Params.Set", &s))
}

/// The current target, carried over by a `params set` without `--max-trades`.
async fn current_max_trades(clients: &mut Clients, exchange_id: u32) -> Result<u32, CliError> {
    get(clients, exchange_id)
        .await?
        .first()
        .map(|p| p.max_trades)
        .filter(|&m| m > 0)
        .ok_or_else(|| {
            CliError::Input(format!(
                "--max-trades: required, exchange {exchange_id} has no params stored or \
                 configured to keep"
            ))
        })
}

/// Runs `params get` or `params set`.
pub async fn run(clients: &mut Clients, cmd: &ParamsCommand) -> Result<(), CliError> {
    let (views, json) = match cmd {
        ParamsCommand::Get { exchange, json } => {
            let exchange_id = match exchange {
                // Reading params of an id without an agent is harmless: no --force needed.
                Some(e) => resolve_exchange(e, &configured(clients).await?, true)?,
                None => 0,
            };
            let params = get(clients, exchange_id).await?;
            (params.iter().map(ParamsView::from_proto).collect(), *json)
        }
        ParamsCommand::Set(a) => (
            vec![ParamsView::from_proto(&set(clients, a).await?)],
            a.json,
        ),
    };
    print_as(json, &views, |v: &Vec<ParamsView>| table(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(max: u32, buffer: Option<u32>, sl: Option<f64>) -> ParamsSetArgs {
        ParamsSetArgs {
            exchange: "1".into(),
            max_trades: Some(max),
            buffer_size: buffer,
            stop_loss_percent: sl,
            ..ParamsSetArgs::default()
        }
    }

    /// The bounds of single flags are clap's (`args::tests`).
    #[test]
    fn local_checks_name_the_flag() {
        assert!(check_set(&args(6, Some(9), Some(4.0))).is_ok());
        let e = check_set(&args(6, Some(5), None)).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().starts_with("--buffer-size:"));
    }

    #[test]
    fn exchanges_resolve_by_id_or_name_and_unconfigured_ids_need_force() {
        let configured = vec![(1, "binance".to_owned()), (2, "bybit".to_owned())];
        assert_eq!(resolve_exchange("binance", &configured, false).unwrap(), 1);
        assert_eq!(resolve_exchange("ByBit", &configured, false).unwrap(), 2);
        assert_eq!(resolve_exchange("2", &configured, false).unwrap(), 2);
        let e = resolve_exchange("9", &configured, false).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.contains("no agent for exchange 9"), "{msg}");
        assert!(
            msg.contains("1 binance, 2 bybit") && msg.contains("--force"),
            "{msg}"
        );
        assert_eq!(resolve_exchange("9", &configured, true).unwrap(), 9);
        assert!(resolve_exchange("0", &configured, true).is_err());
        let e = resolve_exchange("kraken", &configured, true).unwrap_err();
        assert!(e.to_string().contains("\"kraken\""), "{e}");
    }
}

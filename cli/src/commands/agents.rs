//! `wavegate agents`: the agents the coordinator dispatches to, with health, region and last
//! contact.

use serde::Serialize;
use wavegate_common::proto::v1 as pb;

use crate::args::JsonFlag;
use crate::client::Clients;
use crate::commands::print_json;
use crate::error::CliError;
use crate::report::time_str;
use crate::table::{Align, Table};

/// One agent, for `--json`.
#[derive(Debug, Serialize)]
pub struct AgentView {
    /// Exchange id.
    pub exchange_id: u32,
    /// Exchange name.
    pub exchange_name: String,
    /// Configured endpoint.
    pub endpoint: String,
    /// `ready`, `unreachable` or `unknown`.
    pub state: &'static str,
    /// Deployment region.
    pub region: String,
    /// Last successful contact.
    pub last_contact: Option<String>,
    /// Adapter (`paper`, `binance`, `bybit`).
    pub adapter: String,
    /// Agent version.
    pub version: String,
    /// Last error, when unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn state_name(s: i32) -> &'static str {
    match pb::AgentState::try_from(s) {
        Ok(pb::AgentState::Ready) => "ready",
        Ok(pb::AgentState::Unreachable) => "unreachable",
        _ => "unknown",
    }
}

impl AgentView {
    fn from_proto(a: &pb::AgentInfo) -> Self {
        Self {
            exchange_id: a.exchange_id,
            exchange_name: a.exchange_name.clone(),
            endpoint: a.endpoint.clone(),
            state: state_name(a.state),
            region: a.region.clone(),
            last_contact: time_str(a.last_contact.as_ref()),
            adapter: a.adapter.clone(),
            version: a.version.clone(),
            error: (!a.error.is_empty()).then(|| a.error.clone()),
        }
    }
}

/// Runs `agents`.
pub async fn run(clients: &mut Clients, flag: &JsonFlag) -> Result<(), CliError> {
    let list = clients
        .agents
        .list(pb::ListAgentsRequest {})
        .await
        .map_err(|s| clients.status_error("Agents.List", &s))?
        .into_inner();
    let views: Vec<AgentView> = list.agents.iter().map(AgentView::from_proto).collect();
    if flag.json {
        return print_json(&views);
    }
    let mut t = Table::new(&[
        ("ID", Align::Right),
        ("EXCHANGE", Align::Left),
        ("STATE", Align::Left),
        ("REGION", Align::Left),
        ("LAST_CONTACT", Align::Left),
        ("ENDPOINT", Align::Left),
        ("ADAPTER", Align::Left),
        ("VERSION", Align::Left),
        ("ERROR", Align::Left),
    ]);
    for a in &views {
        t.row([
            a.exchange_id.to_string(),
            a.exchange_name.clone(),
            a.state.to_owned(),
            a.region.clone(),
            a.last_contact.clone().unwrap_or_else(|| "never".into()),
            a.endpoint.clone(),
            a.adapter.clone(),
            a.version.clone(),
            a.error.clone().unwrap_or_default(),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}

//! `wavegate agents`: the agents with health, region and last contact; exit 1 if any is down.

use serde::Serialize;
use wavegate_common::proto::v1 as pb;

use crate::args::JsonFlag;
use crate::client::Clients;
use crate::commands::print_as;
use crate::error::CliError;
use crate::report::time_str;
use crate::table::{
    Align::{Left, Right},
    Column, Table, output_width,
};

/// One agent, for `--json`.
#[derive(Debug, Serialize)]
pub struct AgentView {
    exchange_id: u32,
    exchange_name: String,
    endpoint: String,
    /// `ready`, `unreachable` or `unknown`.
    state: &'static str,
    /// Deployment region (configured, else reported by the agent).
    region: String,
    /// Region the agent reports, when it differs from the configured one (misplaced agent).
    #[serde(skip_serializing_if = "Option::is_none")]
    reported_region: Option<String>,
    last_contact: Option<String>,
    /// Adapter (`paper`, `binance`, `bybit`).
    adapter: String,
    version: String,
    /// Last error, when unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
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
            reported_region: (!a.reported_region.is_empty() && a.reported_region != a.region)
                .then(|| a.reported_region.clone()),
            last_contact: time_str(a.last_contact.as_ref()),
            adapter: a.adapter.clone(),
            version: a.version.clone(),
            error: (!a.error.is_empty()).then(|| a.error.clone()),
        }
    }
}

/// `Agents.List`.
pub async fn list_agents(clients: &mut Clients) -> Result<Vec<pb::AgentInfo>, CliError> {
    clients
        .agents
        .list(pb::ListAgentsRequest {})
        .await
        .map(|r| r.into_inner().agents)
        .map_err(|s| clients.status_error("Agents.List", &s))
}

/// Runs `agents`.
pub async fn run(clients: &mut Clients, flag: &JsonFlag) -> Result<(), CliError> {
    let agents = list_agents(clients).await?;
    let views: Vec<AgentView> = agents.iter().map(AgentView::from_proto).collect();
    print_as(flag.json, &views, |v| table(v))?;
    unreachable(&views)
}

fn table(views: &[AgentView]) -> String {
    let columns: &[Column<AgentView>] = &[
        ("ID", Right, |a| a.exchange_id.to_string()),
        ("EXCHANGE", Left, |a| a.exchange_name.clone()),
        ("STATE", Left, |a| a.state.to_owned()),
        ("REGION", Left, |a| match &a.reported_region {
            Some(r) => format!("{} (agent says {r})", a.region),
            None => a.region.clone(),
        }),
        ("LAST_CONTACT", Left, |a| {
            a.last_contact.clone().unwrap_or_else(|| "never".into())
        }),
        ("ENDPOINT", Left, |a| a.endpoint.clone()),
        ("ADAPTER", Left, |a| a.adapter.clone()),
        ("VERSION", Left, |a| a.version.clone()),
        ("ERROR", Left, |a| a.error.clone().unwrap_or_default()),
    ];
    Table::of(columns, views).render_within(output_width())
}

/// An error naming the unreachable agents, if any.
fn unreachable(views: &[AgentView]) -> Result<(), CliError> {
    let down: Vec<String> = views
        .iter()
        .filter(|a| a.state == "unreachable")
        .map(|a| {
            format!(
                "{} (exchange {}, {})",
                a.exchange_name, a.exchange_id, a.endpoint
            )
        })
        .collect();
    if down.is_empty() {
        return Ok(());
    }
    Err(CliError::Failed(format!(
        "unreachable agent(s): {}",
        down.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_the_agent_reports_differently_is_shown_beside_the_configured_one() {
        let info = |configured: &str, reported: &str| pb::AgentInfo {
            exchange_id: 1,
            region: configured.into(),
            reported_region: reported.into(),
            ..Default::default()
        };
        let v = AgentView::from_proto(&info("ap-northeast-1", "eu-west-1"));
        assert_eq!(v.reported_region.as_deref(), Some("eu-west-1"));
        assert_eq!(v.region, "ap-northeast-1");
        for (configured, reported) in [("ap-northeast-1", "ap-northeast-1"), ("local", "")] {
            let v = AgentView::from_proto(&info(configured, reported));
            assert_eq!(v.reported_region, None, "{configured}/{reported}");
        }
        let json = serde_json::to_value(AgentView::from_proto(&info("a", "a"))).unwrap();
        assert!(json.get("reported_region").is_none(), "{json}");
    }
}

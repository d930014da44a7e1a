//! The cluster's configs: typed in-process, the same values as TOML for the process backend.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::{Value, json};
use wavegate_agent::AgentConfig;
use wavegate_coordinator::{CoordinatorConfig, ExchangeConfig};

use super::{ClusterSpec, NEVER_SECS, PaperExchange};
use crate::error::CliError;

/// The agent config of one paper exchange.
pub(super) fn paper_config(x: &PaperExchange, dir: &Path) -> AgentConfig {
    let mut cfg = AgentConfig::paper(x.id, &x.name, dir.join(format!("agent-{}.db", x.id)));
    cfg.listen = x.listen;
    cfg.region = "loopback".into();
    let paper = &mut cfg.adapter.paper;
    paper.latency_ms = x.latency_ms;
    paper.open_positions = x.world.open_positions.clone();
    paper.balance = x.world.balance;
    paper.max_notional = x.world.max_notional;
    let faults = &mut cfg.faults;
    faults.invalid_symbols = x.world.invalid_symbols.clone();
    faults.exec_fail = x.world.exec_fail.clone();
    faults.stop_fail = x.world.stop_fail.clone();
    faults.trailing_fail = x.world.trailing_fail.clone();
    if let Some(r) = x.world.balance_reserve_usd {
        cfg.limits.balance_reserve_usd = r;
    }
    if let Some(n) = x.world.max_positions {
        cfg.limits.max_positions = n;
    }
    cfg.limits.max_exposure_usd = x.world.max_exposure_usd;
    if let Some(l) = x.world.leverage {
        cfg.positions.leverage = l;
    }
    cfg
}

/// The coordinator config for `spec` once its agents listen at `agent_addrs` (in spec order).
pub(super) fn coordinator_config(
    spec: &ClusterSpec,
    dir: &Path,
    agent_addrs: &[SocketAddr],
) -> CoordinatorConfig {
    // An exchange without agent or params; those with an agent get them below.
    let bare = |id: u32, name: &str| ExchangeConfig {
        id,
        name: name.to_owned(),
        agent: None,
        default_max_trades: None,
        region: None,
        agent_token_file: None,
        min_size_usd: None,
        max_size_usd: None,
    };
    let agents = spec.agents.iter().zip(agent_addrs);
    let exchanges = agents
        .map(|(x, addr)| ExchangeConfig {
            agent: Some(format!("http://{addr}")),
            default_max_trades: x.default_max_trades,
            region: Some("loopback".into()),
            ..bare(x.id, &x.name)
        })
        .chain(spec.bare_exchanges.iter().map(|(id, name)| bare(*id, name)))
        .collect();
    let mut config = CoordinatorConfig {
        listen: spec.listen,
        database_url: format!("sqlite://{}?mode=rwc", dir.join("coordinator.db").display()),
        exchanges,
        ..CoordinatorConfig::default()
    };
    config.dispatch.execution_mode = spec.tuning.execution_mode;
    config.sqlite_sync = spec.tuning.sqlite_sync;
    config.waves.grace_secs = NEVER_SECS;
    config.waves.max_wave_age_secs = NEVER_SECS;
    config
}

const HEADER: &str = "# Written by `wavegate --processes`.\n";

fn to_toml<T: serde::Serialize>(v: &T) -> Result<String, CliError> {
    toml::to_string(v)
        .map(|t| format!("{HEADER}{t}"))
        .map_err(|e| CliError::Cluster(format!("cannot write config: {e}")))
}

/// Drops the `null`s of optional settings: TOML has no null.
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A paper agent's config file; `AgentConfig` is not `Serialize`, so the keys are listed here.
pub(super) fn agent_toml(cfg: &AgentConfig) -> Result<String, CliError> {
    let (p, f) = (&cfg.adapter.paper, &cfg.faults);
    // Checked here: `json!` would panic on a path that is not UTF-8.
    let journal = cfg.journal.to_str().ok_or_else(|| {
        CliError::Cluster(format!(
            "journal path is not UTF-8: {}",
            cfg.journal.display()
        ))
    })?;
    to_toml(&without_nulls(json!({
        "listen": cfg.listen,
        "exchange_id": cfg.exchange_id,
        "exchange_name": cfg.exchange_name,
        "region": cfg.region,
        "journal": journal,
        "metrics_listen": "off",
        "rate_limit": {
            "orders_per_second": cfg.rate_limit.orders_per_second,
            "burst": cfg.rate_limit.burst,
        },
        "adapter": {"kind": "paper", "paper": {
            "latency_ms": p.latency_ms,
            "open_positions": p.open_positions,
            "balance": p.balance,
            "max_notional": p.max_notional,
        }},
        "faults": {
            "invalid_symbols": f.invalid_symbols,
            "exec_fail": f.exec_fail,
            "stop_fail": f.stop_fail,
            "trailing_fail": f.trailing_fail,
        },
        "limits": {
            "max_positions": cfg.limits.max_positions,
            "balance_reserve_usd": cfg.limits.balance_reserve_usd,
            "max_exposure_usd": cfg.limits.max_exposure_usd,
        },
        "positions": {"leverage": cfg.positions.leverage},
    })))
}

/// `wavegate-coordinator` config: `cfg` as it is (its metrics are off by default).
pub(super) fn coordinator_toml(cfg: &CoordinatorConfig) -> Result<String, CliError> {
    to_toml(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{ClusterMode, ClusterSpec, any_port, demo_exchanges};

    fn spec() -> ClusterSpec {
        ClusterSpec {
            listen: any_port(),
            data_dir: None,
            agents: demo_exchanges(any_port(), any_port(), 150),
            bare_exchanges: vec![(3, "okx \"quoted\"".into())],
            mode: ClusterMode::Processes,
            // Not the default, so the file is shown to carry it.
            tuning: crate::cluster::Tuning {
                execution_mode: wavegate_coordinator::config::ExecutionMode::Windowed,
                agent_one_way: std::time::Duration::ZERO,
                sqlite_sync: wavegate_coordinator::store::SqliteSync::Normal,
            },
        }
    }

    #[test]
    fn agent_file_loads_as_the_in_process_config() {
        let dir = std::path::Path::new("/tmp/wave gate \"dir\"");
        for x in &spec().agents {
            let want = paper_config(x, dir);
            let text = agent_toml(&want).unwrap();
            let got = AgentConfig::from_toml(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
            // The file leaves metrics off; every other setting is the in-process one.
            assert_eq!(got.metrics_listen, None);
            assert_eq!(
                got,
                AgentConfig {
                    metrics_listen: None,
                    ..want
                }
            );
            assert_eq!(got.adapter.paper.latency_ms, 150);
            assert!(
                !got.adapter.paper.open_positions.is_empty(),
                "the demo world is scripted"
            );
        }
    }

    #[test]
    fn coordinator_file_loads_as_the_in_process_config() {
        let s = spec();
        let dir = std::path::Path::new("/tmp/wave gate");
        let addrs = [any_port(), any_port()];
        let want = coordinator_config(&s, dir, &addrs);
        let text = coordinator_toml(&want).unwrap();
        let got = CoordinatorConfig::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        // The spec's, not the default.
        assert_eq!(
            got.sqlite_sync,
            wavegate_coordinator::store::SqliteSync::Normal
        );
        assert_eq!(got.metrics_listen, None);
        assert_eq!(got.exchanges.len(), 3);
        assert_eq!(got, want);
    }
}

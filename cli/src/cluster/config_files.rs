//! TOML config files for the process backend, written from the same typed configs the
//! in-process backend uses, so both backends run the same cluster.
//!
//! Strings and lists are quoted with `serde_json`: a JSON string or array of strings is also a
//! valid TOML basic string or inline array (same escapes), so paths and symbols cannot break
//! the file.

use wavegate_agent::AgentConfig;
use wavegate_coordinator::CoordinatorConfig;

use crate::error::CliError;

fn quote<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, CliError> {
    serde_json::to_string(v).map_err(|e| CliError::Cluster(format!("cannot write config: {e}")))
}

/// `wavegate-agent` config of a paper agent (metrics off, the relaxed paper settings of `cfg`).
pub(super) fn agent_toml(cfg: &AgentConfig) -> Result<String, CliError> {
    let p = &cfg.adapter.paper;
    let journal = cfg.journal.to_str().ok_or_else(|| {
        CliError::Cluster(format!(
            "journal path is not UTF-8: {}",
            cfg.journal.display()
        ))
    })?;
    Ok(format!(
        "# Written by `wavegate --processes`.\n\
         listen = {}\nexchange_id = {}\nexchange_name = {}\nregion = {}\njournal = {}\n\
         metrics_listen = \"off\"\n\n\
         [rate_limit]\norders_per_second = {}\nburst = {}\n\n\
         [adapter]\nkind = \"paper\"\n\n\
         [adapter.paper]\nlatency_ms = {}\nopen_positions = {}\ninvalid_symbols = {}\n\
         exec_fail = {}\nstop_fail = {}\ntrailing_fail = {}\n{}\n\
         [limits]\nmax_positions = {}\nbalance_reserve_usd = {}\n{}\n\
         [positions]\nleverage = {}\n",
        quote(&cfg.listen.to_string())?,
        cfg.exchange_id,
        quote(&cfg.exchange_name)?,
        quote(&cfg.region)?,
        quote(journal)?,
        cfg.rate_limit.orders_per_second,
        cfg.rate_limit.burst,
        p.latency_ms,
        quote(&p.open_positions)?,
        quote(&p.invalid_symbols)?,
        quote(&p.exec_fail)?,
        quote(&p.stop_fail)?,
        quote(&p.trailing_fail)?,
        optional("balance", p.balance) + &optional("max_notional", p.max_notional),
        cfg.limits.max_positions,
        cfg.limits.balance_reserve_usd,
        optional("max_exposure_usd", cfg.limits.max_exposure_usd),
        cfg.positions.leverage,
    ))
}

/// `key = value` for a number that is set, else nothing.
fn optional(key: &str, v: Option<wavegate_agent::exchange::Decimal>) -> String {
    v.map(|x| format!("{key} = {x}\n")).unwrap_or_default()
}

/// `wavegate-coordinator` config (metrics off, the wave timing and exchanges of `cfg`).
pub(super) fn coordinator_toml(cfg: &CoordinatorConfig) -> Result<String, CliError> {
    let mut out = format!(
        "# Written by `wavegate --processes`.\n\
         listen = {}\ndatabase_url = {}\nmetrics_listen = \"off\"\n\n\
         [dispatch]\nexecution_mode = {}\n\n\
         [waves]\ngrace_secs = {}\nmax_wave_age_secs = {}\n",
        quote(&cfg.listen.to_string())?,
        quote(&cfg.database_url)?,
        quote(&cfg.dispatch.execution_mode)?,
        cfg.waves.grace_secs,
        cfg.waves.max_wave_age_secs,
    );
    for x in &cfg.exchanges {
        out.push_str(&format!(
            "\n[[exchanges]]\nid = {}\nname = {}\n",
            x.id,
            quote(&x.name)?
        ));
        if let Some(a) = &x.agent {
            out.push_str(&format!("agent = {}\n", quote(a)?));
        }
        if let Some(m) = x.default_max_trades {
            out.push_str(&format!("default_max_trades = {m}\n"));
        }
        if let Some(r) = &x.region {
            out.push_str(&format!("region = {}\n", quote(r)?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::embedded::{coordinator_config, paper_config};
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
            assert_eq!(got.listen, want.listen);
            assert_eq!(got.exchange_id, want.exchange_id);
            assert_eq!(got.exchange_name, want.exchange_name);
            assert_eq!(got.region, want.region);
            assert_eq!(got.journal, want.journal);
            assert_eq!(got.metrics_listen, None);
            assert_eq!(got.rate_limit.burst, want.rate_limit.burst);
            let (g, w) = (&got.adapter.paper, &want.adapter.paper);
            assert_eq!(g.latency_ms, 150);
            assert_eq!(g.open_positions, w.open_positions);
            assert_eq!(g.invalid_symbols, w.invalid_symbols);
            assert_eq!(g.exec_fail, w.exec_fail);
            assert_eq!(g.stop_fail, w.stop_fail);
            assert!(!g.open_positions.is_empty(), "the demo world is scripted");
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
        assert_eq!(got.listen, want.listen);
        assert_eq!(got.database_url, want.database_url);
        assert_eq!(got.metrics_listen, None);
        assert_eq!(got.dispatch.execution_mode, want.dispatch.execution_mode);
        assert_eq!(got.waves.grace_secs, want.waves.grace_secs);
        assert_eq!(got.waves.max_wave_age_secs, want.waves.max_wave_age_secs);
        assert_eq!(got.exchanges.len(), 3);
        for (g, w) in got.exchanges.iter().zip(&want.exchanges) {
            assert_eq!(g.id, w.id);
            assert_eq!(g.name, w.name);
            assert_eq!(g.agent, w.agent);
            assert_eq!(g.default_max_trades, w.default_max_trades);
            assert_eq!(g.region, w.region);
        }
    }
}

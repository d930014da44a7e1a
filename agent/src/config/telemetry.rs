//! The agent's observability keys: `metrics_listen` and `[telemetry]`.

use std::net::SocketAddr;

use wavegate_common::config_load::check_metrics_listen;
use wavegate_common::telemetry::{SERVICE_AGENT, TelemetryConfig, TelemetryError};

use super::{AgentConfig, ConfigError};

/// Default `metrics_listen` of a deployed agent (the port the deployment files scrape).
pub const DEFAULT_METRICS_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9101);

impl AgentConfig {
    /// `[telemetry]` plus service `wavegate-agent`, the agent's region and exchange name.
    pub fn telemetry_config(&self) -> TelemetryConfig {
        let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        TelemetryConfig {
            region: non_empty(&self.region),
            exchange_name: non_empty(&self.exchange_name),
            log_format: self.telemetry.log_format,
            otlp_endpoint: self.telemetry.otlp_endpoint.clone(),
            ..TelemetryConfig::new(SERVICE_AGENT)
        }
    }

    /// Checks `metrics_listen` and `[telemetry]`; the error names the agent's key.
    pub(super) fn validate_telemetry(&self) -> Result<(), ConfigError> {
        check_metrics_listen(self.listen, self.metrics_listen)?;
        self.telemetry_config().validate().map_err(|e| match e {
            TelemetryError::Config { key, reason } => {
                // Region and exchange name are the agent's top-level keys.
                let key = match key {
                    "region" | "exchange_name" => key.to_owned(),
                    other => format!("telemetry.{other}"),
                };
                ConfigError::Invalid { key, reason }
            }
            other => ConfigError::invalid("telemetry", other.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wavegate_common::telemetry::LogFormat;

    #[test]
    fn telemetry_table_and_defaults() {
        let c = AgentConfig::from_toml(
            "exchange_id = 2\nexchange_name = \"bybit\"\nregion = \"ap-southeast-1\"\n\
             metrics_listen = \"off\"\n[telemetry]\nlog_format = \"json\"\n\
             otlp_endpoint = \"http://collector:4317\"\n",
        )
        .unwrap();
        assert_eq!(c.metrics_listen, None);
        let t = c.telemetry_config();
        assert_eq!(t.service_name, SERVICE_AGENT);
        assert_eq!(t.region.as_deref(), Some("ap-southeast-1"));
        assert_eq!(t.exchange_name.as_deref(), Some("bybit"));
        assert_eq!(t.log_format, LogFormat::Json);
        assert_eq!(t.otlp_endpoint.as_deref(), Some("http://collector:4317"));

        let d = AgentConfig::from_toml("exchange_id = 1\n").unwrap();
        assert_eq!(d.metrics_listen, Some(DEFAULT_METRICS_LISTEN));
        assert_eq!(d.telemetry, crate::config::AgentTelemetry::default());
        assert_eq!(
            AgentConfig::paper(1, "binance", "j.db".into()).metrics_listen,
            None
        );
    }

    #[test]
    fn bad_telemetry_values_name_the_key() {
        let mut c = AgentConfig::paper(1, "binance", "j.db".into());
        c.telemetry.otlp_endpoint = Some("collector:4317".into());
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("`telemetry.otlp_endpoint`"), "{e}");

        let mut c = AgentConfig::paper(1, "binance", "j.db".into());
        c.listen = "0.0.0.0:7101".parse().unwrap();
        c.metrics_listen = Some("127.0.0.1:7101".parse().unwrap());
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("`metrics_listen`"), "{e}");
    }
}

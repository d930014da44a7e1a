//! Telemetry configuration: which service this is, where it runs, how to log, where to send
//! traces. Embedded as a `[telemetry]` section in the coordinator's and agent's config files.

use serde::{Deserialize, Serialize};

use super::TelemetryError;

/// `service.name` of the coordinator.
pub const SERVICE_COORDINATOR: &str = "wavegate-coordinator";
/// `service.name` of an exchange agent.
pub const SERVICE_AGENT: &str = "wavegate-agent";
/// `service.name` of the CLI (and its in-process dev cluster).
pub const SERVICE_CLI: &str = "wavegate";

/// Environment variable naming the OTLP endpoint when the config does not.
pub(crate) const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Trace-specific variant of [`OTLP_ENDPOINT_ENV`] (OpenTelemetry convention); wins over it.
pub(crate) const OTLP_TRACES_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Telemetry settings of one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `service.name` resource attribute: [`SERVICE_COORDINATOR`], [`SERVICE_AGENT`] or
    /// [`SERVICE_CLI`]. Usually set by the binary, not the config file.
    pub service_name: String,
    /// `deployment.region` resource attribute (e.g. `ap-northeast-1`), when known.
    pub region: Option<String>,
    /// `exchange.name` resource attribute; agents set it to their exchange.
    pub exchange_name: Option<String>,
    /// Log line format.
    pub log_format: LogFormat,
    /// OTLP/gRPC endpoint (e.g. `http://otel-collector:4317`). When absent,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is used; when
    /// none is set, no spans are exported (logs only).
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self::new(SERVICE_CLI)
    }
}

impl TelemetryConfig {
    /// Human logs, no export, no region or exchange, for `service_name`.
    pub fn new(service_name: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            region: None,
            exchange_name: None,
            log_format: LogFormat::Human,
            otlp_endpoint: None,
        }
    }

    /// Checks every field; the error names the bad key.
    pub fn validate(&self) -> Result<(), TelemetryError> {
        if self.service_name.trim().is_empty() {
            return Err(TelemetryError::Config {
                key: "service_name",
                reason: "must not be empty".into(),
            });
        }
        for (key, value) in [
            ("region", &self.region),
            ("exchange_name", &self.exchange_name),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(TelemetryError::Config {
                    key,
                    reason: "must not be empty when given".into(),
                });
            }
        }
        if let Some(endpoint) = &self.otlp_endpoint {
            check_endpoint("otlp_endpoint", endpoint)?;
        }
        Ok(())
    }

    /// The OTLP endpoint to export to: the config's, else the environment's, else none.
    /// Returns the key it came from with it, so an error can name it.
    pub(crate) fn resolved_endpoint(&self) -> Option<(&'static str, String)> {
        let non_empty = |v: String| (!v.trim().is_empty()).then(|| v.trim().to_owned());
        if let Some(e) = self.otlp_endpoint.clone().and_then(non_empty) {
            return Some(("otlp_endpoint", e));
        }
        [OTLP_TRACES_ENDPOINT_ENV, OTLP_ENDPOINT_ENV]
            .into_iter()
            .find_map(|key| {
                std::env::var(key)
                    .ok()
                    .and_then(non_empty)
                    .map(|e| (key, e))
            })
    }
}

/// An endpoint must be an absolute `http`/`https` URI with a host (tonic's requirement).
pub(crate) fn check_endpoint(key: &'static str, endpoint: &str) -> Result<(), TelemetryError> {
    let bad = |reason: String| TelemetryError::Config { key, reason };
    let uri: tonic::codegen::http::Uri = endpoint
        .trim()
        .parse()
        .map_err(|e| bad(format!("not a URI ({e})")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("must start with http:// or https://".into())),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("must name a host".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_toml_like_section_with_lowercase_format() {
        let cfg: TelemetryConfig = serde_json::from_str(
            r#"{"service_name":"wavegate-agent","region":"ap-northeast-1",
                "exchange_name":"binance","log_format":"json",
                "otlp_endpoint":"http://collector:4317"}"#,
        )
        .unwrap();
        assert_eq!(cfg.log_format, LogFormat::Json);
        assert_eq!(cfg.exchange_name.as_deref(), Some("binance"));
        cfg.validate().unwrap();
        let back = serde_json::to_value(&cfg).unwrap();
        assert_eq!(back["log_format"], "json");
    }

    #[test]
    fn missing_keys_take_defaults() {
        let cfg: TelemetryConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(cfg, TelemetryConfig::default());
        assert_eq!(cfg.service_name, SERVICE_CLI);
        assert_eq!(cfg.log_format, LogFormat::Human);
    }

    #[test]
    fn unknown_keys_and_formats_are_rejected() {
        let e = serde_json::from_str::<TelemetryConfig>(r#"{"log_fromat":"json"}"#).unwrap_err();
        assert!(e.to_string().contains("log_fromat"), "{e}");
        let e = serde_json::from_str::<TelemetryConfig>(r#"{"log_format":"xml"}"#).unwrap_err();
        assert!(e.to_string().contains("xml"), "{e}");
    }

    #[test]
    fn validate_names_the_bad_key() {
        let mut cfg = TelemetryConfig::new(" ");
        let e = cfg.validate().unwrap_err();
        assert!(e.to_string().contains("`service_name`"), "{e}");

        cfg = TelemetryConfig::new(SERVICE_AGENT);
        cfg.otlp_endpoint = Some("collector:4317".into());
        let e = cfg.validate().unwrap_err();
        assert!(e.to_string().contains("`otlp_endpoint`"), "{e}");

        cfg.otlp_endpoint = Some("ftp://collector:4317".into());
        assert!(cfg.validate().is_err());

        cfg.otlp_endpoint = Some("https://collector:4317".into());
        cfg.region = Some(String::new());
        let e = cfg.validate().unwrap_err();
        assert!(e.to_string().contains("`region`"), "{e}");
    }

    #[test]
    fn configured_endpoint_wins_over_the_environment() {
        let mut cfg = TelemetryConfig::new(SERVICE_COORDINATOR);
        cfg.otlp_endpoint = Some(" http://a:4317 ".into());
        assert_eq!(
            cfg.resolved_endpoint(),
            Some(("otlp_endpoint", "http://a:4317".to_owned()))
        );
    }
}

//! `[agent_tls]`: CA (and mTLS identity) for `https://` agents; no system roots are built in.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};
use wavegate_common::config_load::{ensure, read_pem};

use super::{ConfigError, CoordinatorConfig};

/// `[agent_tls]`: how the coordinator connects to `https://` agents.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentTls {
    /// PEM CA certificate(s) the agents' server certificates must chain to.
    pub ca: PathBuf,
    /// PEM client certificate presented to agents that require mutual TLS (with `key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Name checked against the agents' certificates instead of each endpoint's host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

impl AgentTls {
    /// Reads the files into tonic's client TLS settings (shared by every agent channel).
    pub fn client_config(&self) -> Result<ClientTlsConfig, ConfigError> {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read_pem("agent_tls.ca", &self.ca)?));
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            tls = tls.identity(Identity::from_pem(
                read_pem("agent_tls.cert", cert)?,
                read_pem("agent_tls.key", key)?,
            ));
        }
        if let Some(domain) = &self.domain {
            tls = tls.domain_name(domain.clone());
        }
        Ok(tls)
    }
}

impl CoordinatorConfig {
    /// Checks `[tls]`, `[agent_tls]` and that every `https://` agent has `[agent_tls]`.
    pub(super) fn validate_tls(&self) -> Result<(), ConfigError> {
        if let Some(t) = &self.tls {
            t.validate()?;
        }
        if let Some(a) = &self.agent_tls {
            let set = |p: &Path| !p.as_os_str().is_empty();
            ensure(set(&a.ca), "agent_tls.ca", || {
                "must be set when [agent_tls] is present".into()
            })?;
            let (cert, key) = (a.cert.as_deref(), a.key.as_deref());
            ensure(cert.is_none_or(set), "agent_tls.cert", || {
                "must not be empty".into()
            })?;
            ensure(key.is_none_or(set), "agent_tls.key", || {
                "must not be empty".into()
            })?;
            ensure(cert.is_some() || key.is_none(), "agent_tls.cert", || {
                "must be set with key".into()
            })?;
            ensure(key.is_some() || cert.is_none(), "agent_tls.key", || {
                "must be set with cert".into()
            })?;
            ensure(
                a.domain.as_deref().is_none_or(|d| !d.trim().is_empty()),
                "agent_tls.domain",
                || "must not be empty".into(),
            )?;
        }
        for (i, e) in self.exchanges.iter().enumerate() {
            let https = e
                .agent
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"));
            ensure(
                !https || self.agent_tls.is_some(),
                format!("exchanges[{i}].agent"),
                || {
                    "an https:// agent needs [agent_tls] (at least `ca`): no system roots are built in"
                    .into()
                },
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(text: &str) -> Result<(), String> {
        CoordinatorConfig::from_toml(text)
            .map_err(|e| e.to_string())?
            .validate()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn https_agent_needs_agent_tls() {
        let ex = "[[exchanges]]\nid = 1\nname = \"binance\"\nagent = \"https://a:7101\"\n";
        let e = validate(ex).unwrap_err();
        assert!(e.contains("exchanges[0].agent"), "{e}");
        assert!(e.contains("agent_tls"), "{e}");
        validate(&format!("[agent_tls]\nca = \"ca.pem\"\n{ex}")).unwrap();
    }

    #[test]
    fn incomplete_tables_name_the_key() {
        let cases = [
            ("[tls]\ncert = \"a.pem\"\n", "tls.key"),
            ("[tls]\nkey = \"a.key\"\n", "tls.cert"),
            ("[agent_tls]\ncert = \"c.pem\"\n", "agent_tls.ca"),
            (
                "[agent_tls]\nca = \"ca.pem\"\ncert = \"c.pem\"\n",
                "agent_tls.key",
            ),
            (
                "[agent_tls]\nca = \"ca.pem\"\nkey = \"c.key\"\n",
                "agent_tls.cert",
            ),
            (
                "[agent_tls]\nca = \"ca.pem\"\ndomain = \" \"\n",
                "agent_tls.domain",
            ),
        ];
        for (text, key) in cases {
            let e = validate(text).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
        let e = validate("[agent_tls]\nca = \"ca.pem\"\ncafile = \"x\"\n").unwrap_err();
        assert!(e.contains("cafile"), "{e}");
    }

    #[test]
    fn missing_and_non_pem_files_name_key_and_path_not_contents() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nowhere.pem");
        let t = super::super::ServerTls {
            cert: missing.clone(),
            key: missing.clone(),
            client_ca: None,
        };
        let e = t
            .apply(tonic::transport::Server::builder())
            .unwrap_err()
            .to_string();
        assert!(e.contains("tls.cert") && e.contains("nowhere.pem"), "{e}");
        let secret = dir.path().join("ca.pem");
        std::fs::write(&secret, "not-a-certificate-secret").unwrap();
        let a = AgentTls {
            ca: secret,
            ..AgentTls::default()
        };
        let e = a.client_config().unwrap_err().to_string();
        assert!(e.contains("agent_tls.ca"), "{e}");
        assert!(!e.contains("not-a-certificate-secret"), "{e}");
    }
}

//! TLS settings (docs/design.md §3): `[tls]` puts the public API behind TLS (mutual TLS with
//! `client_ca`); `[agent_tls]` is the CA (and client identity, for agents that require mutual
//! TLS) used on every `https://` agent endpoint.
//!
//! No system trust store is built in (tonic's `tls-ring` alone), so an `https://` agent without
//! `[agent_tls]` is a configuration error rather than a connection that can never succeed.
//! Only paths live in the config; the files are read at start-up and every error names the key
//! and the path, never a file's contents.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, Server, ServerTlsConfig};

use super::{ConfigError, CoordinatorConfig, invalid};

/// How long a client may take to finish the TLS handshake on the public port.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[tls]`: the public API's certificate and key, and optionally the CA that client
/// certificates must chain to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// PEM certificate chain presented to clients (leaf first).
    #[serde(default)]
    pub cert: PathBuf,
    /// PEM private key of `cert`.
    #[serde(default)]
    pub key: PathBuf,
    /// PEM CA certificate(s); when set, clients must present a certificate signed by one of
    /// them (mutual TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

impl ServerTls {
    /// Reads the files and turns TLS on for `builder`.
    pub fn apply(&self, builder: Server) -> Result<Server, ConfigError> {
        let identity = Identity::from_pem(
            read_pem("tls.cert", &self.cert)?,
            read_pem("tls.key", &self.key)?,
        );
        let mut tls = ServerTlsConfig::new()
            .identity(identity)
            .timeout(HANDSHAKE_TIMEOUT);
        if let Some(ca) = &self.client_ca {
            tls = tls.client_ca_root(Certificate::from_pem(read_pem("tls.client_ca", ca)?));
        }
        builder
            .tls_config(tls)
            .map_err(|e| refused("tls", "certificate or key refused", &e))
    }
}

/// `[agent_tls]`: how the coordinator connects to `https://` agents.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentTls {
    /// PEM CA certificate(s) the agents' server certificates must chain to.
    #[serde(default)]
    pub ca: PathBuf,
    /// PEM client certificate presented to agents that require mutual TLS (with `key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Name checked against the agents' certificates instead of each endpoint's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
        let empty = |p: &Path| p.as_os_str().is_empty();
        if let Some(t) = &self.tls {
            if empty(&t.cert) {
                return Err(invalid("tls.cert", "must be set when [tls] is present"));
            }
            if empty(&t.key) {
                return Err(invalid("tls.key", "must be set when [tls] is present"));
            }
            if t.client_ca.as_deref().is_some_and(empty) {
                return Err(invalid("tls.client_ca", "must not be empty"));
            }
        }
        if let Some(a) = &self.agent_tls {
            if empty(&a.ca) {
                return Err(invalid(
                    "agent_tls.ca",
                    "must be set when [agent_tls] is present",
                ));
            }
            match (&a.cert, &a.key) {
                (Some(_), None) => return Err(invalid("agent_tls.key", "must be set with cert")),
                (None, Some(_)) => return Err(invalid("agent_tls.cert", "must be set with key")),
                (Some(c), Some(k)) if empty(c) || empty(k) => {
                    let key = if empty(c) {
                        "agent_tls.cert"
                    } else {
                        "agent_tls.key"
                    };
                    return Err(invalid(key, "must not be empty"));
                }
                _ => {}
            }
            if a.domain.as_deref().is_some_and(|d| d.trim().is_empty()) {
                return Err(invalid("agent_tls.domain", "must not be empty"));
            }
        }
        for (i, e) in self.exchanges.iter().enumerate() {
            if let Some(url) = &e.agent
                && url.starts_with("https://")
                && self.agent_tls.is_none()
            {
                return Err(invalid(
                    format!("exchanges[{i}].agent"),
                    "an https:// agent needs [agent_tls] (at least `ca`): no system roots are built in",
                ));
            }
        }
        Ok(())
    }
}

/// Reads a PEM file; the error names the key and the path, never the contents.
fn read_pem(key: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(invalid(
            key,
            format!("{} is not a PEM file", path.display()),
        ));
    }
    Ok(bytes)
}

/// A TLS setting refused by rustls, with the whole error chain (which names the problem, not
/// the key material).
pub(crate) fn refused(key: &str, what: &str, e: &dyn std::error::Error) -> ConfigError {
    let mut reason = format!("{what}: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        reason = format!("{reason}: {s}");
        source = s.source();
    }
    invalid(key, reason)
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
        let t = ServerTls {
            cert: missing.clone(),
            key: missing.clone(),
            client_ca: None,
        };
        let e = t.apply(Server::builder()).unwrap_err().to_string();
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

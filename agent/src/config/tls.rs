//! `[tls]`: the agent's gRPC server over TLS, and mutual TLS when `client_ca` is set
//! (docs/design.md §3: coordinator↔agent traffic can be mutual TLS).
//!
//! Only paths live in the config; the files are read when the server is built
//! ([`AgentTls::server_config`]), so a missing or unreadable file is a start-up error naming the
//! key and the path. Neither the error nor `Debug` ever shows a file's contents.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use super::ConfigError;

/// How long a client may take to finish the TLS handshake before the connection is dropped,
/// so a half-open connection cannot hold a slot forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[tls]`: server certificate and key, and optionally the CA that client certificates must
/// chain to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentTls {
    /// PEM certificate chain the agent presents (leaf first).
    #[serde(default)]
    pub cert: PathBuf,
    /// PEM private key of `cert` (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key: PathBuf,
    /// PEM CA certificate(s); when set, every client must present a certificate signed by
    /// one of them (mutual TLS) or the handshake is refused.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

impl AgentTls {
    /// Checks that the required paths are given (the files are read by
    /// [`AgentTls::server_config`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.cert.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "tls.cert",
                "must be set when [tls] is present",
            ));
        }
        if self.key.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "tls.key",
                "must be set when [tls] is present",
            ));
        }
        if self
            .client_ca
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(ConfigError::invalid("tls.client_ca", "must not be empty"));
        }
        Ok(())
    }

    /// Whether clients must present a certificate (mutual TLS).
    pub fn mutual(&self) -> bool {
        self.client_ca.is_some()
    }

    /// Reads the files and builds tonic's server TLS settings.
    pub fn server_config(&self) -> Result<ServerTlsConfig, ConfigError> {
        self.validate()?;
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
        Ok(tls)
    }

    /// Reads the files and turns TLS on for `builder`; a certificate or key that rustls
    /// refuses is an error naming `tls` and the reason (never the contents).
    pub fn apply(&self, builder: Server) -> Result<Server, ConfigError> {
        builder.tls_config(self.server_config()?).map_err(|e| {
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                reason = format!("{reason}: {s}");
                source = s.source();
            }
            ConfigError::invalid("tls", format!("certificate or key refused: {reason}"))
        })
    }
}

/// Reads a PEM file; the error names the config key and the path, never the contents. A file
/// without a PEM block is refused here, so the message can say which key is wrong.
fn read_pem(key: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::invalid(key, format!("cannot read {}: {e}", path.display())))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(ConfigError::invalid(
            key,
            format!("{} is not a PEM file", path.display()),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_names_key_and_path() {
        let tls = AgentTls {
            cert: "/nonexistent/agent.pem".into(),
            key: "/nonexistent/agent.key".into(),
            client_ca: None,
        };
        let e = tls.server_config().unwrap_err().to_string();
        assert!(e.contains("tls.cert"), "{e}");
        assert!(e.contains("/nonexistent/agent.pem"), "{e}");
    }

    #[test]
    fn non_pem_file_is_refused_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("agent.pem");
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
        let key = dir.path().join("agent.key");
        std::fs::write(&key, "secret-key-material").unwrap();
        let tls = AgentTls {
            cert,
            key,
            client_ca: None,
        };
        let e = tls.server_config().unwrap_err().to_string();
        assert!(e.contains("tls.key"), "{e}");
        assert!(!e.contains("secret-key-material"), "{e}");
    }
}

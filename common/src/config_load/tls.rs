//! `[tls]` of either binary's gRPC server: certificate, key and, for mutual TLS, the CA that
//! client certificates must chain to (docs/design.md §3). Only paths live in the config; the
//! files are read at start-up and every error names the key and the path, never the contents.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use super::{Error, ensure};

/// How long a client may take to finish the TLS handshake, so a half-open connection cannot
/// hold a slot forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[tls]`: the server's certificate and key, and optionally the CA client certificates must
/// chain to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerTls {
    /// PEM certificate chain presented to clients (leaf first).
    pub cert: PathBuf,
    /// PEM private key of `cert` (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificate(s); when set, every client must present a certificate signed by
    /// one of them (mutual TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

impl ServerTls {
    /// Checks that the required paths are given (the files are read by
    /// [`ServerTls::server_config`]).
    pub fn validate(&self) -> Result<(), Error> {
        let set = |p: &Path| !p.as_os_str().is_empty();
        let needed = || "must be set when [tls] is present".to_owned();
        ensure(set(&self.cert), "tls.cert", needed)?;
        ensure(set(&self.key), "tls.key", needed)?;
        ensure(
            self.client_ca.as_deref().is_none_or(set),
            "tls.client_ca",
            || "must not be empty".into(),
        )
    }

    /// Whether clients must present a certificate (mutual TLS).
    pub fn mutual(&self) -> bool {
        self.client_ca.is_some()
    }

    /// Reads the files and builds tonic's server TLS settings.
    pub fn server_config(&self) -> Result<ServerTlsConfig, Error> {
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

    /// Reads the files and turns TLS on for `builder`.
    pub fn apply(&self, builder: Server) -> Result<Server, Error> {
        builder
            .tls_config(self.server_config()?)
            .map_err(|e| refused("tls", "certificate or key refused", &e))
    }
}

/// Reads a PEM file; the error names `key` and the path, never the contents. A file without a
/// PEM block is refused here, so the message can say which key is wrong.
pub fn read_pem(key: &str, path: &Path) -> Result<Vec<u8>, Error> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::invalid(key, format!("cannot read {}: {e}", path.display())))?;
    ensure(bytes.windows(11).any(|w| w == b"-----BEGIN "), key, || {
        format!("{} is not a PEM file", path.display())
    })?;
    Ok(bytes)
}

/// A TLS setting refused by rustls, with the whole error chain (which names the problem, not
/// the key material).
pub fn refused(key: &str, what: &str, e: &dyn std::error::Error) -> Error {
    let mut reason = format!("{what}: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        reason = format!("{reason}: {s}");
        source = s.source();
    }
    Error::invalid(key, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_non_pem_files_name_key_and_path_never_the_contents() {
        let dir = tempfile::tempdir().unwrap();
        let tls = ServerTls {
            cert: "/nonexistent/agent.pem".into(),
            key: "/nonexistent/agent.key".into(),
            client_ca: None,
        };
        let e = tls.server_config().unwrap_err().to_string();
        assert!(
            e.contains("tls.cert") && e.contains("/nonexistent/agent.pem"),
            "{e}"
        );

        let cert = dir.path().join("agent.pem");
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
        let key = dir.path().join("agent.key");
        std::fs::write(&key, "secret-key-material").unwrap();
        let tls = ServerTls {
            cert,
            key,
            client_ca: None,
        };
        let e = tls.apply(Server::builder()).unwrap_err().to_string();
        assert!(e.contains("tls.key"), "{e}");
        assert!(!e.contains("secret-key-material"), "{e}");
    }

    #[test]
    fn incomplete_table_names_the_key() {
        let only_cert = ServerTls {
            cert: "a.pem".into(),
            ..ServerTls::default()
        };
        let e = only_cert.validate().unwrap_err().to_string();
        assert!(e.contains("tls.key"), "{e}");
        let empty_ca = ServerTls {
            key: "a.key".into(),
            client_ca: Some("".into()),
            ..only_cert
        };
        let e = empty_ca.validate().unwrap_err().to_string();
        assert!(e.contains("tls.client_ca"), "{e}");
    }
}

//! `[auth]`: who may call `ExchangeAgent` (an agent places orders for whoever reaches its port):
//! a bearer token (`token_file`) and/or mutual TLS (`[tls] client_ca`). A non-loopback agent
//! with neither refuses to start unless `insecure = true`. Health and reflection stay open.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use wavegate_common::auth::Token;
use wavegate_common::config_load::ensure;

use super::{AgentTls, ConfigError};

/// `[auth]` of the agent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentAuth {
    /// File with the token the coordinator must present (`Bearer`); never logged.
    pub token_file: Option<PathBuf>,
    /// Serve a non-loopback address without token or mutual TLS. Off by default.
    pub insecure: bool,
}

/// How calls to the agent are authenticated, for its start-up log line.
pub fn mode(auth: &AgentAuth, tls: Option<&AgentTls>) -> &'static str {
    let mtls = tls.is_some_and(AgentTls::mutual);
    match (auth.token_file.is_some(), mtls) {
        (true, true) => "token+mtls",
        (true, false) => "token",
        (false, true) => "mtls",
        (false, false) => "none",
    }
}

impl AgentAuth {
    /// Checks the keys (the file is read by [`AgentAuth::token`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let empty = self
            .token_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty());
        ensure(!empty, "auth.token_file", || "must not be empty".into())
    }

    /// Refuses a non-loopback `listen` without a token or mutual TLS, unless `insecure = true`.
    pub fn check_exposure(
        &self,
        listen: SocketAddr,
        tls: Option<&AgentTls>,
    ) -> Result<(), ConfigError> {
        let authenticated = self.token_file.is_some() || tls.is_some_and(AgentTls::mutual);
        let ok = authenticated || self.insecure || listen.ip().is_loopback();
        ensure(ok, "auth", || {
            format!(
                "listen {listen} is reachable from other hosts but no caller is authenticated: \
                 set auth.token_file (and the coordinator's agent_token_file) or mutual TLS \
                 (tls.client_ca), or auth.insecure = true to serve anyone who can connect"
            )
        })
    }

    /// Reads the token file (`None` without one); the error names the key and the path.
    pub fn token(&self) -> Result<Option<Token>, ConfigError> {
        self.token_file
            .as_deref()
            .map(|p| {
                Token::read_file(p)
                    .map_err(|e| ConfigError::invalid("auth.token_file", e.to_string()))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_agent_on_a_public_address_is_refused_unless_insecure() {
        let open = AgentAuth::default();
        let insecure = AgentAuth {
            insecure: true,
            ..AgentAuth::default()
        };
        let token = AgentAuth {
            token_file: Some("/run/secrets/t".into()),
            ..AgentAuth::default()
        };
        let tls_only = AgentTls {
            cert: "a.pem".into(),
            key: "a.key".into(),
            client_ca: None,
        };
        let mtls = AgentTls {
            client_ca: Some("ca.pem".into()),
            ..tls_only.clone()
        };
        for (auth, listen, tls, ok) in [
            (&open, "0.0.0.0:7101", None, false),
            (&open, "127.0.0.1:7101", None, true),
            (&open, "[::1]:7101", None, true),
            (&insecure, "0.0.0.0:7101", None, true),
            (&token, "10.0.0.5:7101", None, true),
            (&open, "0.0.0.0:7101", Some(&tls_only), false),
            (&open, "0.0.0.0:7101", Some(&mtls), true),
        ] {
            let r = auth.check_exposure(listen.parse().unwrap(), tls);
            assert_eq!(r.is_ok(), ok, "{auth:?} {listen} {tls:?}: {r:?}");
            if let Err(e) = r.map_err(|e| e.to_string()) {
                assert!(e.contains("`auth`") && e.contains("insecure"), "{e}");
            }
        }
        assert_eq!(mode(&token, Some(&mtls)), "token+mtls");
    }
}

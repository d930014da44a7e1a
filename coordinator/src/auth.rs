//! Optional bearer-token authentication of the public API (`[auth] tokens_file`): every call
//! needs `authorization: Bearer <token>` with a listed token, else UNAUTHENTICATED. Tokens are
//! never logged nor printed (`Debug` shows only how many there are).

use std::path::Path;
use std::sync::Arc;

use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::config::ConfigError;

/// The accepted tokens; empty means authentication is off.
#[derive(Clone, Default)]
pub struct Auth {
    tokens: Arc<Vec<Vec<u8>>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl Auth {
    /// No authentication.
    pub fn off() -> Self {
        Self::default()
    }

    /// Reads one token per line (blank lines and `#` comments ignored).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
            key: "auth.tokens_file".into(),
            reason: format!("cannot read {}: {e}", path.display()),
        })?;
        let tokens: Vec<Vec<u8>> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.as_bytes().to_vec())
            .collect();
        if tokens.is_empty() {
            return Err(ConfigError::Invalid {
                key: "auth.tokens_file".into(),
                reason: format!("{} lists no token", path.display()),
            });
        }
        Ok(Self {
            tokens: Arc::new(tokens),
        })
    }

    /// True when calls must carry a token.
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    fn accepts(&self, presented: &[u8]) -> bool {
        // Compare against every token without early exit, so timing says little.
        let mut ok = false;
        for t in self.tokens.iter() {
            ok |= constant_time_eq(t, presented);
        }
        ok
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Interceptor for Auth {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        if !self.enabled() {
            return Ok(req);
        }
        let header = req
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("authorization: missing bearer token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("authorization: expected `Bearer <token>`"))?;
        if self.accepts(token.trim().as_bytes()) {
            Ok(req)
        } else {
            Err(Status::unauthenticated("authorization: token not accepted"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(auth: &mut Auth, header: Option<&str>) -> Result<(), tonic::Code> {
        let mut r = Request::new(());
        if let Some(h) = header {
            r.metadata_mut().insert("authorization", h.parse().unwrap());
        }
        auth.call(r).map(|_| ()).map_err(|s| s.code())
    }

    #[test]
    fn tokens_are_checked_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokens");
        std::fs::write(&p, "# producers\ns3cret-one\n\ns3cret-two\n").unwrap();
        let mut a = Auth::from_file(&p).unwrap();
        assert_eq!(call(&mut a, Some("Bearer s3cret-two")), Ok(()));
        assert_eq!(
            call(&mut a, Some("Bearer nope")),
            Err(tonic::Code::Unauthenticated)
        );
        assert_eq!(
            call(&mut a, Some("s3cret-one")),
            Err(tonic::Code::Unauthenticated)
        );
        assert_eq!(call(&mut a, None), Err(tonic::Code::Unauthenticated));
        assert!(!format!("{a:?}").contains("s3cret"));
        assert_eq!(call(&mut Auth::off(), None), Ok(()));
        std::fs::write(&p, "\n# none\n").unwrap();
        assert!(
            Auth::from_file(&p)
                .unwrap_err()
                .to_string()
                .contains("auth.tokens_file")
        );
    }
}

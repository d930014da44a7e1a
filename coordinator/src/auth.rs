//! Bearer tokens of the public API and their scopes (`[auth] tokens_file`): one token per line,
//! then optionally its scopes (comma- or space-separated), e.g. `ops-77b0…  read,operate`. A bare
//! token grants every scope. Scopes: `publish` (SignalIngest), `read` (Waves.Get/List/Watch,
//! Params.Get, Agents.List), `operate` (Params.Set, Waves.Cancel), `admin` (everything).
//! [`Guarded`] checks each call from its headers before the body is read: a missing or unknown
//! token is UNAUTHENTICATED, one without the scope PERMISSION_DENIED. Tokens are never logged.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::NamedService;
use wavegate_common::auth::{bearer, constant_time_eq};

use crate::config::ConfigError;

/// What a token may do; its name in the tokens file is the lowercase variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Scope {
    /// Publish signals (SignalIngest).
    Publish,
    /// Read waves, params and agents.
    Read,
    /// Change params, cancel waves.
    Operate,
    /// Everything, including calls no other scope names.
    Admin,
}

impl Scope {
    /// The scope a method (`/package.Service/Method`) needs; unlisted ones need `admin`.
    fn of_method(path: &str) -> Self {
        match path {
            "/wavegate.v1.SignalIngest/Publish" | "/wavegate.v1.SignalIngest/PublishWave" => {
                Scope::Publish
            }
            "/wavegate.v1.Waves/Get"
            | "/wavegate.v1.Waves/List"
            | "/wavegate.v1.Waves/Watch"
            | "/wavegate.v1.Params/Get"
            | "/wavegate.v1.Agents/List" => Scope::Read,
            "/wavegate.v1.Waves/Cancel" | "/wavegate.v1.Params/Set" => Scope::Operate,
            _ => Scope::Admin,
        }
    }
}

/// The accepted tokens and their scopes; empty means authentication is off.
#[derive(Clone, Default)]
pub struct Auth {
    tokens: Arc<Vec<(Vec<u8>, Vec<Scope>)>>,
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

    /// Reads the tokens file (module doc); errors name the key and line, never a token.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let key = "auth.tokens_file";
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
            key: key.into(),
            reason: format!("cannot read {}: {e}", path.display()),
        })?;
        let mut tokens = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split(|c: char| c.is_whitespace() || c == ',');
            let token = fields.next().unwrap_or_default();
            let mut scopes = Vec::new();
            for f in fields.filter(|f| !f.is_empty()) {
                let scope = f.parse::<Scope>().map_err(|_| ConfigError::Invalid {
                    key: key.into(),
                    reason: format!(
                        "{} line {}: unknown scope (expected publish, read, operate or admin)",
                        path.display(),
                        n + 1
                    ),
                })?;
                scopes.push(scope);
            }
            if scopes.is_empty() {
                scopes.push(Scope::Admin); // a bare token grants everything
            }
            tokens.push((token.as_bytes().to_vec(), scopes));
        }
        if tokens.is_empty() {
            return Err(ConfigError::Invalid {
                key: key.into(),
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

    /// The scopes of `presented`, comparing against every token without early exit.
    fn scopes(&self, presented: &[u8]) -> Option<&[Scope]> {
        let mut found = None;
        for (t, scopes) in self.tokens.iter() {
            if constant_time_eq(t, presented) {
                found = Some(scopes.as_slice());
            }
        }
        found
    }

    /// Whether a call of `path` with these `authorization` header bytes may proceed.
    pub fn check(&self, path: &str, authorization: Option<&[u8]>) -> Result<(), Status> {
        if !self.enabled() {
            return Ok(());
        }
        let token = bearer(authorization)?;
        let granted = self
            .scopes(token.as_bytes())
            .ok_or_else(|| Status::unauthenticated("authorization: token not accepted"))?;
        let scope = Scope::of_method(path);
        if granted.iter().any(|g| *g == scope || *g == Scope::Admin) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "authorization: this token lacks the `{}` scope this call needs",
                <&str>::from(scope)
            )))
        }
    }
}

/// A public API service behind [`Auth`]: calls are checked from path and headers before the body.
#[derive(Debug, Clone)]
pub struct Guarded<S> {
    inner: S,
    auth: Auth,
}

impl<S> Guarded<S> {
    /// Guards `inner` with `auth`.
    pub fn new(inner: S, auth: Auth) -> Self {
        Self { inner, auth }
    }
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, RB> Service<http::Request<B>> for Guarded<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>, Error = Infallible>,
    S::Future: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let header = req.headers().get("authorization").map(|v| v.as_bytes());
        match self.auth.check(req.uri().path(), header) {
            Ok(()) => Box::pin(self.inner.call(req)),
            Err(status) => Box::pin(async move { Ok(status.into_http()) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: &Auth, path: &str, header: Option<&str>) -> Result<(), tonic::Code> {
        a.check(path, header.map(str::as_bytes))
            .map_err(|s| s.code())
    }

    /// The auth of a tokens file holding `text`.
    fn from_text(text: &str) -> Result<Auth, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokens");
        std::fs::write(&p, text).unwrap();
        Auth::from_file(&p)
    }

    #[test]
    fn tokens_are_checked_and_never_printed() {
        let a = from_text("# producers\ns3cret-one\n\ns3cret-two\n").unwrap();
        let get = "/wavegate.v1.Waves/Get";
        let unauthenticated = Err(tonic::Code::Unauthenticated);
        for (header, want) in [
            (Some("Bearer s3cret-two"), Ok(())),
            (Some("Bearer nope"), unauthenticated),
            (Some("s3cret-one"), unauthenticated),
            (None, unauthenticated),
        ] {
            assert_eq!(check(&a, get, header), want, "{header:?}");
        }
        assert!(!format!("{a:?}").contains("s3cret"));
        assert_eq!(check(&Auth::off(), get, None), Ok(()));
        let e = from_text("\n# none\n").unwrap_err().to_string();
        assert!(e.contains("auth.tokens_file"), "{e}");
    }

    #[test]
    fn each_method_needs_its_scope() {
        let a = from_text(
            "dash-token read\nprod-token publish\nops-token read, operate\nroot-token admin\nold-token\n",
        )
        .unwrap();
        let denied = Err(tonic::Code::PermissionDenied);
        let publish = "/wavegate.v1.SignalIngest/PublishWave";
        let cancel = "/wavegate.v1.Waves/Cancel";
        let set = "/wavegate.v1.Params/Set";
        let watch = "/wavegate.v1.Waves/Watch";
        let future = "/wavegate.v1.Future/Thing";
        let mut cases = vec![
            ("dash-token", publish, denied),
            ("dash-token", cancel, denied),
            ("dash-token", watch, Ok(())),
            ("prod-token", publish, Ok(())),
            ("prod-token", "/wavegate.v1.SignalIngest/Publish", Ok(())),
            ("prod-token", watch, denied),
            ("prod-token", set, denied),
            ("ops-token", set, Ok(())),
            ("ops-token", cancel, Ok(())),
            ("ops-token", publish, denied),
            ("ops-token", future, denied),
        ];
        for t in ["root-token", "old-token"] {
            cases.extend([publish, cancel, set, watch, future].map(|m| (t, m, Ok(()))));
        }
        for (token, method, want) in cases {
            let header = format!("Bearer {token}");
            assert_eq!(check(&a, method, Some(&header)), want, "{token} {method}");
        }
        let e = from_text("tok-en publsh\n").unwrap_err().to_string();
        assert!(
            e.contains("line 1") && e.contains("unknown scope") && !e.contains("tok-en"),
            "{e}"
        );
    }
}

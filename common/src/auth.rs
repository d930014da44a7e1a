//! Bearer tokens, shared by every hop that uses them: the coordinator's public API (clients send
//! a token, the coordinator checks it) and the coordinator → agent protocol (the coordinator
//! sends the agent's token, the agent checks it).
//!
//! A [`Token`] is a secret: its `Debug` shows nothing of it, errors about it name the file or
//! the setting, never its text, and the header it becomes is marked sensitive (so HTTP/2 never
//! indexes it). Comparison is constant-time.

use std::path::Path;

use tonic::metadata::{Ascii, MetadataMap, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Shortest token accepted: a token an attacker could guess is no protection.
pub const MIN_TOKEN_LEN: usize = 16;

/// A token that cannot be used, saying why (never quoting it).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not a usable token.
    #[error("{0}")]
    Invalid(String),
}

/// A shared secret sent as `authorization: Bearer <token>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// Checks `text` (surrounding whitespace trimmed): at least [`MIN_TOKEN_LEN`] visible ASCII
    /// characters without spaces, so it fits an HTTP header unchanged.
    pub fn new(text: &str) -> Result<Self, TokenError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(TokenError::Invalid("is empty".into()));
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::Invalid(
                "must be visible ASCII without spaces".into(),
            ));
        }
        if t.len() < MIN_TOKEN_LEN {
            return Err(TokenError::Invalid(format!(
                "is {} characters long, at least {MIN_TOKEN_LEN} are required",
                t.len()
            )));
        }
        Ok(Self(t.to_owned()))
    }

    /// Reads a token file (a mounted secret): the whole file, surrounding whitespace trimmed.
    pub fn read_file(path: &Path) -> Result<Self, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::new(&text).map_err(|e| match e {
            TokenError::Invalid(why) => {
                TokenError::Invalid(format!("the token in {} {why}", path.display()))
            }
            other => other,
        })
    }

    /// Whether `presented` is this token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }

    /// The `authorization` header value, marked sensitive.
    pub fn header(&self) -> MetadataValue<Ascii> {
        // `new` admits only visible ASCII, which is always a valid header value.
        let mut v = MetadataValue::try_from(format!("Bearer {}", self.0))
            .unwrap_or_else(|_| MetadataValue::from_static("Bearer"));
        v.set_sensitive(true);
        v
    }
}

/// Compares without an early exit on the first differing byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token a call presents in `authorization: Bearer <token>`, or UNAUTHENTICATED saying
/// what is wrong with the header (never quoting it).
pub fn presented(metadata: &MetadataMap) -> Result<&str, Status> {
    bearer(metadata.get("authorization").map(|v| v.as_encoded_bytes()))
}

/// [`presented`] from the raw `authorization` header value (for HTTP-level services).
pub fn bearer(header: Option<&[u8]>) -> Result<&str, Status> {
    let header =
        header.ok_or_else(|| Status::unauthenticated("authorization: missing bearer token"))?;
    std::str::from_utf8(header)
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| Status::unauthenticated("authorization: expected `Bearer <token>`"))
}

/// Client side: adds `authorization: Bearer <token>` to every call (nothing without a token).
#[derive(Clone, Default)]
pub struct SendToken(Option<MetadataValue<Ascii>>);

impl std::fmt::Debug for SendToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.0.is_some() {
            "<redacted>"
        } else {
            "none"
        };
        f.debug_tuple("SendToken").field(&shown).finish()
    }
}

impl SendToken {
    /// Sends `token` when given.
    pub fn new(token: Option<&Token>) -> Self {
        Self(token.map(Token::header))
    }
}

impl Interceptor for SendToken {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(h) = &self.0 {
            req.metadata_mut().insert("authorization", h.clone());
        }
        Ok(req)
    }
}

/// Server side: refuses every call that does not present `token` with UNAUTHENTICATED, before
/// its body is read (no token: every call passes).
#[derive(Clone, Default)]
pub struct RequireToken(Option<Token>);

impl std::fmt::Debug for RequireToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RequireToken")
            .field(&self.0.is_some())
            .finish()
    }
}

impl RequireToken {
    /// Requires `token` when given.
    pub fn new(token: Option<Token>) -> Self {
        Self(token)
    }
}

impl Interceptor for RequireToken {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let Some(token) = &self.0 else {
            return Ok(req);
        };
        if token.matches(presented(req.metadata())?) {
            Ok(req)
        } else {
            Err(Status::unauthenticated("authorization: token not accepted"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "0123456789abcdef-secret";

    fn call(i: &mut impl Interceptor, header: Option<&str>) -> Result<(), tonic::Code> {
        let mut r = Request::new(());
        if let Some(h) = header {
            r.metadata_mut().insert("authorization", h.parse().unwrap());
        }
        i.call(r).map(|_| ()).map_err(|s| s.code())
    }

    #[test]
    fn a_token_is_checked_and_never_shown() {
        let t = Token::new(&format!("  {GOOD}\n")).unwrap();
        assert!(!format!("{t:?}").contains("secret"));
        let mut req = RequireToken::new(Some(t.clone()));
        assert!(!format!("{req:?}").contains("secret"));
        assert_eq!(call(&mut req, Some(&format!("Bearer {GOOD}"))), Ok(()));
        let wrong = Some("Bearer 0123456789abcdef-secreT");
        assert_eq!(call(&mut req, wrong), Err(tonic::Code::Unauthenticated));
        assert_eq!(
            call(&mut req, Some(GOOD)),
            Err(tonic::Code::Unauthenticated)
        );
        assert_eq!(call(&mut req, None), Err(tonic::Code::Unauthenticated));
        assert_eq!(call(&mut RequireToken::default(), None), Ok(()));

        let mut send = SendToken::new(Some(&t));
        assert!(!format!("{send:?}").contains("secret"));
        let sent = send.call(Request::new(())).unwrap();
        assert!(sent.metadata().get("authorization").unwrap().is_sensitive());
        assert_eq!(presented(sent.metadata()).unwrap(), GOOD);
    }

    #[test]
    fn weak_or_malformed_tokens_are_refused_without_echo() {
        for bad in [
            "",
            "   ",
            "short",
            "has a space in it 0123456789",
            "tab\tinside0123456789",
        ] {
            let e = Token::new(bad).unwrap_err().to_string();
            if !bad.trim().is_empty() {
                assert!(!e.contains(bad.trim()), "{e}");
            }
        }
        let dir = tempfile_dir();
        let p = dir.join("token");
        std::fs::write(&p, "tiny").unwrap();
        let e = Token::read_file(&p).unwrap_err().to_string();
        assert!(
            e.contains(&p.display().to_string()) && !e.contains("tiny"),
            "{e}"
        );
        std::fs::write(&p, format!("{GOOD}\n")).unwrap();
        assert!(Token::read_file(&p).unwrap().matches(GOOD));
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("wg-token-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

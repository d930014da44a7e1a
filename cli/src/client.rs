//! Connecting to the coordinator's public API: endpoint, optional TLS, bearer token.

use std::path::Path;
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use wavegate_common::proto::v1::agents_client::AgentsClient;
use wavegate_common::proto::v1::params_client::ParamsClient;
use wavegate_common::proto::v1::signal_ingest_client::SignalIngestClient;
use wavegate_common::proto::v1::waves_client::WavesClient;

use crate::args::ConnectArgs;
use crate::error::CliError;

/// How long to wait for the TCP (and TLS) connection before calling the coordinator unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Debug, Clone, Default)]
pub struct BearerAuth {
    /// Marked sensitive, so `Debug` shows no token.
    header: Option<MetadataValue<Ascii>>,
}

impl BearerAuth {
    /// An interceptor sending `token`; an invalid token is an input error that hides it.
    pub fn new(token: Option<&str>) -> Result<Self, CliError> {
        let header = match token.map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => {
                let mut v: MetadataValue<Ascii> = format!("Bearer {t}").parse().map_err(|_| {
                    CliError::Input("--token: must be printable ASCII without newlines".into())
                })?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        Ok(Self { header })
    }
}

impl Interceptor for BearerAuth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(h) = &self.header {
            req.metadata_mut().insert("authorization", h.clone());
        }
        // The command's span becomes the parent of the coordinator's span of this call.
        wavegate_common::telemetry::propagation::inject(&mut req);
        Ok(req)
    }
}

/// A channel with the token interceptor.
pub type AuthChannel = InterceptedService<Channel, BearerAuth>;

/// Clients of every public service, sharing one connection.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Endpoint, for error messages.
    pub endpoint: String,
    /// `SignalIngest`.
    pub ingest: SignalIngestClient<AuthChannel>,
    /// `Waves`.
    pub waves: WavesClient<AuthChannel>,
    /// `Params`.
    pub params: ParamsClient<AuthChannel>,
    /// `Agents`.
    pub agents: AgentsClient<AuthChannel>,
}

impl Clients {
    /// Maps a status of `call` to a `CliError` naming this endpoint.
    pub fn status_error(&self, call: &'static str, status: &tonic::Status) -> CliError {
        CliError::from_status(call, &self.endpoint, status)
    }
}

/// What the PEM file of a TLS option must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PemKind {
    /// A `CERTIFICATE` block (`--ca-cert`, `--client-cert`).
    Certificates,
    /// A PKCS#8, RSA or EC private key block (`--client-key`).
    PrivateKey,
}

/// Reads the PEM file of `flag`; errors name the option and path, never the contents.
fn read_pem(flag: &str, path: &Path, kind: PemKind) -> Result<Vec<u8>, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::Input(format!("{flag} {}: {e}", path.display())))?;
    check_pem(&bytes, kind)
        .map_err(|why| CliError::Input(format!("{flag} {}: {why}", path.display())))?;
    Ok(bytes)
}

/// Checks for a PEM block of `kind`, with a fixed reason (pki-types' errors may quote it).
fn check_pem(bytes: &[u8], kind: PemKind) -> Result<(), &'static str> {
    let found = match kind {
        PemKind::Certificates => CertificateDer::from_pem_slice(bytes).map(drop),
        PemKind::PrivateKey => PrivateKeyDer::from_pem_slice(bytes).map(drop),
    };
    found.map_err(|e| match (e, kind) {
        (pem::Error::NoItemsFound, PemKind::Certificates) => {
            "not a PEM file with a certificate (expected a BEGIN CERTIFICATE block)"
        }
        (pem::Error::NoItemsFound, PemKind::PrivateKey) => {
            "not a PEM file with an unencrypted private key (expected a BEGIN PRIVATE KEY block)"
        }
        (pem::Error::MissingSectionEnd { .. }, _) => "not a PEM file (a block is not closed)",
        (pem::Error::Base64Decode(_), _) => {
            "not a PEM file (a block holds text that is not base64)"
        }
        _ => "not a PEM file",
    })
}

/// The TLS config from the flags; `None` for a plain `http://` URL without TLS flags.
fn tls_config(args: &ConnectArgs) -> Result<Option<ClientTlsConfig>, CliError> {
    let https = args.coordinator.starts_with("https://");
    if !https && args.ca_cert.is_none() && args.client_cert.is_none() {
        return Ok(None);
    }
    if !https {
        return Err(CliError::Input(format!(
            "--coordinator {}: TLS options need an https:// URL",
            args.coordinator
        )));
    }
    let ca = args.ca_cert.as_ref().ok_or_else(|| {
        CliError::Input(
            "--ca-cert: required for an https:// coordinator (no system roots are built in)".into(),
        )
    })?;
    let ca = read_pem("--ca-cert", ca, PemKind::Certificates)?;
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
    if let (Some(c), Some(k)) = (&args.client_cert, &args.client_key) {
        tls = tls.identity(Identity::from_pem(
            read_pem("--client-cert", c, PemKind::Certificates)?,
            read_pem("--client-key", k, PemKind::PrivateKey)?,
        ));
    }
    if let Some(d) = &args.tls_domain {
        if d.trim().is_empty() {
            return Err(CliError::Input("--tls-domain: must not be empty".into()));
        }
        tls = tls.domain_name(d.trim().to_owned());
    }
    Ok(Some(tls))
}

/// Connects: a bad URL or TLS file is an input error (2), no connection `CliError::Unreachable`.
pub async fn connect(args: &ConnectArgs) -> Result<Clients, CliError> {
    let url = args.coordinator.trim().to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(CliError::Input(format!(
            "--coordinator {url}: must start with http:// or https://"
        )));
    }
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| CliError::Input(format!("--coordinator {url}: {e}")))?
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(tls) = tls_config(args)? {
        endpoint = endpoint.tls_config(tls).map_err(|e| {
            CliError::Input(format!(
                "TLS options (--ca-cert, --client-cert, --client-key) refused: {}",
                error_chain(&e)
            ))
        })?;
    }
    let channel = endpoint.connect().await.map_err(|e| {
        let chain = error_chain(&e);
        CliError::Unreachable {
            endpoint: url.clone(),
            reason: match tls_hint(&url, &chain) {
                Some(hint) => format!("{chain} ({hint})"),
                None => chain,
            },
        }
    })?;
    let auth = BearerAuth::new(args.token.as_deref())?;
    Ok(Clients {
        endpoint: url,
        ingest: SignalIngestClient::with_interceptor(channel.clone(), auth.clone()),
        waves: WavesClient::with_interceptor(channel.clone(), auth.clone()),
        params: ParamsClient::with_interceptor(channel.clone(), auth.clone()),
        agents: AgentsClient::with_interceptor(channel, auth),
    })
}

/// Hints after a failed TLS handshake (cryptic errors): usually plaintext or the wrong CA.
fn tls_hint(url: &str, chain: &str) -> Option<&'static str> {
    let lower = chain.to_ascii_lowercase();
    let tls_failed = [
        "invalidcontenttype",
        "tls",
        "handshake",
        "certificate",
        "unknownissuer",
    ]
    .iter()
    .any(|k| lower.contains(k));
    (url.starts_with("https://") && tls_failed).then_some(
        "the TLS handshake failed: if the coordinator serves plaintext, use http://; else check \
         that --ca-cert is the CA that signed its certificate and --tls-domain its name",
    )
}

/// `e: cause: cause…` (transport errors hide the useful part), repeated causes left out.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let text = c.to_string();
        if !text.is_empty() && !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str) -> ConnectArgs {
        ConnectArgs::plain(url.into())
    }

    #[test]
    fn an_error_chain_says_each_cause_once() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let refused = E("Connection refused (os error 111)", None);
        let inner = E("tcp connect error", Some(Box::new(refused)));
        let outer = E("tcp connect error", Some(Box::new(inner)));
        let top = E("transport error", Some(Box::new(outer)));
        assert_eq!(
            error_chain(&top),
            "transport error: tcp connect error: Connection refused (os error 111)"
        );
    }

    #[test]
    fn a_failed_tls_handshake_says_what_to_check() {
        let chain = "transport error: tls handshake eof: received corrupt message of type \
                     InvalidContentType";
        let hint = tls_hint("https://h:7000", chain).expect("a hint");
        assert!(
            hint.contains("http://") && hint.contains("--ca-cert"),
            "{hint}"
        );
        assert_eq!(
            tls_hint("http://h:7000", chain),
            None,
            "plaintext URL: no TLS hint"
        );
        assert_eq!(
            tls_hint(
                "https://h:7000",
                "transport error: Connection refused (os error 111)"
            ),
            None
        );
    }

    #[test]
    fn interceptor_sends_bearer_and_debug_hides_it() {
        let mut auth = BearerAuth::new(Some("tok123")).unwrap();
        assert!(!format!("{auth:?}").contains("tok123"));
        let req = auth.call(tonic::Request::new(())).unwrap();
        assert_eq!(
            req.metadata().get("authorization").unwrap(),
            "Bearer tok123"
        );
        let mut none = BearerAuth::new(None).unwrap();
        assert!(
            none.call(tonic::Request::new(()))
                .unwrap()
                .metadata()
                .is_empty()
        );
    }

    #[test]
    fn bad_token_is_an_input_error_without_echo() {
        let e = BearerAuth::new(Some("a\nb")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(!e.to_string().contains("a\nb"));
    }

    #[tokio::test]
    async fn bad_url_is_input_and_closed_port_is_unreachable() {
        let e = connect(&args("127.0.0.1:7000")).await.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        // Bind then drop to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = connect(&args(&format!("http://127.0.0.1:{port}")))
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
    }

    const CERT: &str =
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\nAA==\n-----END CERTIFICATE-----\n";
    const KEY: &str =
        "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n";

    #[test]
    fn pem_structure_and_kind_are_checked() {
        use PemKind::{Certificates, PrivateKey};
        assert_eq!(check_pem(CERT.as_bytes(), Certificates), Ok(()));
        assert_eq!(check_pem(KEY.as_bytes(), PrivateKey), Ok(()));
        let ec = KEY.replace("PRIVATE KEY", "EC PRIVATE KEY");
        assert_eq!(check_pem(ec.as_bytes(), PrivateKey), Ok(()));
        let chain = format!("leaf\n{CERT}{CERT}");
        assert_eq!(check_pem(chain.as_bytes(), Certificates), Ok(()));
        for (bad, kind) in [
            ("hello, not a certificate", Certificates),
            ("", Certificates),
            ("-----BEGIN CERTIFICATE-----\nAAAA\n", Certificates),
            (
                "-----BEGIN CERTIFICATE-----\nno base64!\n-----END CERTIFICATE-----\n",
                Certificates,
            ),
            (
                "-----BEGIN CERTIFICATE-----\nAA\n-----END PRIVATE KEY-----\n",
                Certificates,
            ),
            (KEY, Certificates),
            (CERT, PrivateKey),
        ] {
            assert!(
                check_pem(bad.as_bytes(), kind).is_err(),
                "{bad:?} as {kind:?}"
            );
        }
        assert!(check_pem(&[0xff, 0xfe, 0x00], Certificates).is_err());
    }

    #[test]
    fn non_pem_tls_files_are_input_errors_naming_the_option() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "top-secret-not-pem").unwrap();
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, CERT).unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, KEY).unwrap();

        // (flag at fault, --ca-cert, --client-cert, --client-key, --tls-domain)
        let cases = [
            ("--ca-cert", &junk, None, None, None),
            ("--client-cert", &cert, Some(&junk), Some(&key), None),
            ("--client-key", &cert, Some(&cert), Some(&junk), None),
            ("--client-key", &cert, Some(&cert), Some(&cert), None),
            ("--tls-domain", &cert, None, None, Some(" ")),
        ];
        for (flag, ca, client_cert, client_key, domain) in cases {
            let args = ConnectArgs {
                ca_cert: Some(ca.clone()),
                client_cert: client_cert.cloned(),
                client_key: client_key.cloned(),
                tls_domain: domain.map(str::to_owned),
                ..args("https://h:1")
            };
            let e = tls_config(&args).unwrap_err();
            let msg = e.to_string();
            assert_eq!(e.exit_code(), 2, "{flag}: {msg}");
            assert!(msg.starts_with(flag), "{flag}: {msg}");
            assert!(!msg.contains("top-secret"), "{flag}: {msg}");
        }
    }

    #[test]
    fn tls_needs_https_and_a_ca() {
        for (url, ca, want) in [
            (
                "http://h:1",
                Some("/nonexistent.pem"),
                "need an https:// URL",
            ),
            ("https://h:1", None, "--ca-cert"),
            ("https://h:1", Some("/nonexistent.pem"), "/nonexistent.pem"),
        ] {
            let e = tls_config(&ConnectArgs {
                ca_cert: ca.map(Into::into),
                ..args(url)
            })
            .unwrap_err();
            assert_eq!(e.exit_code(), 2, "{url} {ca:?}: {e}");
            assert!(e.to_string().contains(want), "{url} {ca:?}: {e}");
        }
    }
}

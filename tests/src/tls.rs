//! A throw-away certificate authority for TLS tests: it writes its certificate and the
//! certificates it issues as PEM files, so real processes can be configured with them.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// A test CA whose files live in one directory, prefixed by its name.
pub struct TestCa {
    dir: PathBuf,
    name: String,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA named `name`; writes `<dir>/<name>-ca.pem`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        let ca = TestCa {
            dir: dir.to_owned(),
            name: name.to_owned(),
            pem,
            issuer: Issuer::new(params, key),
        };
        std::fs::write(ca.path(), &ca.pem).expect("write CA certificate");
        ca
    }

    /// Path of the CA certificate.
    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}-ca.pem", self.name))
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Issues a certificate for `who` — a server one (SANs `localhost` and `127.0.0.1`) or a
    /// client one — writes `<name>-<who>.pem` and `.key`, and returns (cert path, key path).
    pub fn issue(&self, who: &str, server: bool) -> (PathBuf, PathBuf) {
        let sans = if server {
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
        } else {
            Vec::new()
        };
        let mut params = CertificateParams::new(sans).expect("certificate params");
        params.distinguished_name.push(DnType::CommonName, who);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        let cert_path = self.dir.join(format!("{}-{who}.pem", self.name));
        let key_path = self.dir.join(format!("{}-{who}.key", self.name));
        std::fs::write(&cert_path, cert.pem()).expect("write certificate");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        (cert_path, key_path)
    }

    /// Client TLS settings trusting this CA, with an optional client identity (cert, key).
    pub fn client(&self, identity: Option<&(PathBuf, PathBuf)>) -> ClientTlsConfig {
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.pem));
        if let Some((cert, key)) = identity {
            tls = tls.identity(Identity::from_pem(
                std::fs::read(cert).expect("read certificate"),
                std::fs::read(key).expect("read key"),
            ));
        }
        tls
    }
}

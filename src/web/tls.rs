//! `tls_server_config` as a rustls server config. exporter-toolkit takes Go's names for
//! cipher suites, curves, versions and client authentication; those rustls implements map to
//! it, and those it deliberately leaves out (TLS 1.0/1.1, CBC and RSA key-exchange suites,
//! P-521) are skipped with a warning as long as something safe is left.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
    SupportedProtocolVersion,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use super::file::TlsServerConfig;
use super::WebConfigError;

/// Go's cipher suite names that Go accepts but rustls does not implement.
const GO_ONLY_SUITES: &[&str] = &[
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
];

fn invalid(message: impl Into<String>) -> WebConfigError {
    WebConfigError::Tls(message.into())
}

fn read(path: &Path, key: &str) -> Result<Vec<u8>, WebConfigError> {
    std::fs::read(path)
        .map_err(|e| invalid(format!("failed to read {key} ({}): {e}", path.display())))
}

pub fn server_config(tls: &TlsServerConfig) -> Result<ServerConfig, WebConfigError> {
    let cert_pem = match (&tls.cert_file, &tls.cert) {
        (Some(path), _) => read(path, "cert_file")?,
        (None, Some(inline)) => inline.clone().into_bytes(),
        (None, None) => return Err(invalid("missing one of cert or cert_file")),
    };
    let key_pem = match (&tls.key_file, &tls.key) {
        (Some(path), _) => read(path, "key_file")?,
        (None, Some(inline)) => inline.clone().into_bytes(),
        (None, None) => return Err(invalid("missing one of key or key_file")),
    };
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("the certificate is not PEM: {e}")))?;
    if chain.is_empty() {
        return Err(invalid("the certificate holds no PEM CERTIFICATE block"));
    }
    // The key's own error text could quote it: say only that it is unreadable.
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| invalid("the private key is not a PEM private key"))?;

    let provider = Arc::new(provider(tls)?);
    let versions = versions(tls)?;
    let verifier = client_verifier(tls, &provider)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| invalid(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| invalid(format!("the certificate and key do not make a pair: {e}")))?;
    config.ignore_client_order = tls.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn provider(tls: &TlsServerConfig) -> Result<CryptoProvider, WebConfigError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(names) = &tls.cipher_suites {
        // As in Go, the list orders and restricts TLS 1.2 suites; TLS 1.3's are always on.
        let mut chosen = Vec::new();
        for name in names {
            if let Some(suite) = provider
                .cipher_suites
                .iter()
                .find(|s| format!("{:?}", s.suite()) == *name)
            {
                if suite.tls13().is_none() {
                    chosen.push(*suite);
                }
            } else if GO_ONLY_SUITES.contains(&name.as_str()) {
                tracing::warn!(cipher = %name, "tls_server_config: cipher suite not offered (rustls leaves out CBC and RSA key exchange)");
            } else if !name.starts_with("TLS_AES_") && !name.starts_with("TLS_CHACHA20_") {
                return Err(invalid(format!("unknown cipher: {name}")));
            }
        }
        if chosen.is_empty() && tls.max_version.as_deref() == Some("TLS12") {
            return Err(invalid(
                "cipher_suites leaves no TLS 1.2 suite rustls implements, and max_version is TLS12",
            ));
        }
        let tls13: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_some())
            .copied()
            .collect();
        provider.cipher_suites = tls13.into_iter().chain(chosen).collect();
    }
    if let Some(names) = &tls.curve_preferences {
        let all = provider.kx_groups.clone();
        let mut chosen = Vec::new();
        for name in names {
            let wanted = match name.as_str() {
                "CurveP256" => "secp256r1",
                "CurveP384" => "secp384r1",
                "X25519" => "X25519",
                "CurveP521" => {
                    tracing::warn!(
                        "tls_server_config: curve CurveP521 is not offered (rustls leaves it out)"
                    );
                    continue;
                }
                other => return Err(invalid(format!("unknown curve: {other}"))),
            };
            if let Some(group) = all.iter().find(|g| format!("{:?}", g.name()) == wanted) {
                chosen.push(*group);
            }
        }
        if chosen.is_empty() {
            return Err(invalid(
                "curve_preferences leaves no curve rustls implements",
            ));
        }
        provider.kx_groups = chosen;
    }
    Ok(provider)
}

fn version_rank(name: &str) -> Result<u8, WebConfigError> {
    match name {
        "TLS10" => Ok(0),
        "TLS11" => Ok(1),
        "TLS12" => Ok(2),
        "TLS13" => Ok(3),
        other => Err(invalid(format!("unknown TLS version: {other}"))),
    }
}

fn versions(
    tls: &TlsServerConfig,
) -> Result<Vec<&'static SupportedProtocolVersion>, WebConfigError> {
    let min = tls
        .min_version
        .as_deref()
        .map(version_rank)
        .transpose()?
        .unwrap_or(2);
    let max = tls
        .max_version
        .as_deref()
        .map(version_rank)
        .transpose()?
        .unwrap_or(3);
    if max < min {
        return Err(invalid("max_version is lower than min_version"));
    }
    if max < 2 {
        return Err(invalid(
            "max_version below TLS12: TLS 1.0 and 1.1 are not served (rustls implements 1.2 and 1.3)",
        ));
    }
    let mut versions = Vec::new();
    if min <= 2 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= 3 {
        versions.push(&rustls::version::TLS13);
    }
    Ok(versions)
}

fn client_verifier(
    tls: &TlsServerConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, WebConfigError> {
    let ca_pem = match (&tls.client_ca_file, &tls.client_ca) {
        (Some(path), _) => Some(read(path, "client_ca_file")?),
        (None, Some(inline)) => Some(inline.clone().into_bytes()),
        (None, None) => None,
    };
    let auth = tls.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let mode = match auth {
        "" | "NoClientCert" => {
            if ca_pem.is_some() {
                return Err(invalid(
                    "client CAs have been configured without a client_auth_type",
                ));
            }
            return Ok(WebPkiClientVerifier::no_client_auth());
        }
        "RequestClientCert" => Mode::Any { mandatory: false },
        "RequireAnyClientCert" | "RequireClientCert" => Mode::Any { mandatory: true },
        "VerifyClientCertIfGiven" => Mode::Verified { mandatory: false },
        "RequireAndVerifyClientCert" => Mode::Verified { mandatory: true },
        other => return Err(invalid(format!("invalid client_auth_type: {other}"))),
    };
    let inner = match mode {
        Mode::Any { mandatory } => Inner::Unverified { mandatory },
        Mode::Verified { mandatory } => {
            let Some(ca_pem) = ca_pem else {
                return Err(invalid(format!(
                    "client_auth_type {auth} needs client_ca_file or client_ca to verify against"
                )));
            };
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&ca_pem) {
                let cert = cert.map_err(|e| invalid(format!("the client CA is not PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| invalid(format!("the client CA is not a certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(invalid("the client CA holds no certificate"));
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if mandatory {
                builder
            } else {
                builder.allow_unauthenticated()
            };
            Inner::Verified(builder.build().map_err(|e| invalid(e.to_string()))?)
        }
    };
    Ok(Arc::new(ClientCerts {
        inner,
        algorithms: provider.signature_verification_algorithms,
        allowed_sans: tls.client_allowed_sans.clone(),
    }))
}

enum Mode {
    Any { mandatory: bool },
    Verified { mandatory: bool },
}

#[derive(Debug)]
enum Inner {
    /// Go's RequestClientCert and RequireAnyClientCert: a certificate is asked for (and its
    /// handshake signature checked) but not verified against a CA.
    Unverified {
        mandatory: bool,
    },
    Verified(Arc<dyn ClientCertVerifier>),
}

/// Client authentication as `client_auth_type` asks, then `client_allowed_sans`. Handshake
/// signatures are checked with the provider's algorithms in every mode, as the verifying
/// mode's own verifier (built on the same provider) would.
#[derive(Debug)]
struct ClientCerts {
    inner: Inner,
    algorithms: WebPkiSupportedAlgorithms,
    allowed_sans: Option<Vec<String>>,
}

impl ClientCertVerifier for ClientCerts {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        match &self.inner {
            Inner::Unverified { mandatory, .. } => *mandatory,
            Inner::Verified(v) => v.client_auth_mandatory(),
        }
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        match &self.inner {
            Inner::Unverified { .. } => &[],
            Inner::Verified(v) => v.root_hint_subjects(),
        }
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Inner::Verified(v) = &self.inner {
            v.verify_client_cert(end_entity, intermediates, now)?;
        }
        if let Some(allowed) = &self.allowed_sans {
            let sans = subject_alt_names(end_entity)?;
            if !sans.iter().any(|san| allowed.contains(san)) {
                return Err(rustls::Error::General(format!(
                    "the client certificate has none of the allowed SANs (it has {sans:?})"
                )));
            }
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Every subject alternative name as Go prints it: DNS names, e-mail addresses, IP addresses
/// and URIs.
fn subject_alt_names(cert: &CertificateDer<'_>) -> Result<Vec<String>, rustls::Error> {
    use x509_parser::extensions::GeneralName;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|e| {
        rustls::Error::General(format!("the client certificate does not parse: {e}"))
    })?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                    names.push((*s).to_string())
                }
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                        _ => None,
                    };
                    names.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_pair(yaml: &str) -> TlsServerConfig {
        let pair = rcgen::generate_simple_self_signed(vec!["localhost".into()])
            .unwrap_or_else(|e| panic!("rcgen: {e}"));
        let mut tls: TlsServerConfig =
            serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        tls.cert = Some(pair.cert.pem());
        tls.key = Some(pair.key_pair.serialize_pem());
        tls
    }

    fn error(yaml: &str) -> String {
        server_config(&with_pair(yaml))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn go_cipher_names_choose_tls12_suites_and_tls13_stays_on() {
        let tls = with_pair(
            "cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_RSA_WITH_AES_128_CBC_SHA]",
        );
        let provider = provider(&tls).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<String> = provider
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert!(names.contains(&"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".to_string()));
        assert!(!names.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string()));
        assert!(
            names.contains(&"TLS13_AES_128_GCM_SHA256".to_string()),
            "{names:?}"
        );
        assert!(server_config(&tls).is_ok());
    }

    #[test]
    fn exporter_toolkit_errors_are_kept() {
        assert!(error("cipher_suites: [TLS_INVENTED]").contains("unknown cipher"));
        assert!(error("curve_preferences: [CurveP999]").contains("unknown curve"));
        assert!(error("min_version: TLS14").contains("unknown TLS version"));
        assert!(error("client_auth_type: Sometimes").contains("invalid client_auth_type"));
        assert!(error("min_version: TLS13\nmax_version: TLS12").contains("lower"));
        assert!(error("min_version: TLS10\nmax_version: TLS11").contains("not served"));
        assert!(
            error("client_auth_type: RequireAndVerifyClientCert").contains("needs client_ca_file")
        );
        let pem = rcgen::generate_simple_self_signed(vec!["ca".into()])
            .map(|c| c.cert.pem())
            .unwrap_or_default();
        let yaml = format!("client_ca: |\n  {}", pem.trim().replace('\n', "\n  "));
        assert!(
            error(&yaml).contains("without a client_auth_type"),
            "{}",
            error(&yaml)
        );
    }

    #[test]
    fn versions_and_curves_map_to_what_rustls_offers() {
        let tls = with_pair("min_version: TLS10\nmax_version: TLS12");
        let v = versions(&tls).unwrap_or_default();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].version, rustls::ProtocolVersion::TLSv1_2);
        let tls = with_pair("min_version: TLS13");
        let v = versions(&tls).unwrap_or_default();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].version, rustls::ProtocolVersion::TLSv1_3);
        let tls = with_pair("curve_preferences: [CurveP521, CurveP384, X25519]");
        let groups: Vec<String> = provider(&tls)
            .map(|p| {
                p.kx_groups
                    .iter()
                    .map(|g| format!("{:?}", g.name()))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(groups, ["secp384r1", "X25519"]);
        assert!(server_config(&tls).is_ok());
    }

    #[test]
    fn a_key_that_does_not_match_its_certificate_is_refused() {
        let mut tls = with_pair("{}");
        let other = rcgen::generate_simple_self_signed(vec!["x".into()])
            .map(|c| c.key_pair.serialize_pem())
            .unwrap_or_default();
        tls.key = Some(other);
        let e = server_config(&tls)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("do not make a pair"), "{e}");
    }
}

//! The web config file as Prometheus' exporter-toolkit reads it (`--web.config.file`), so the
//! file an Alertmanager deployment already has works unchanged. Unknown keys are refused, as
//! exporter-toolkit's strict parser refuses them, with the line they are on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::WebConfigError;
use crate::config::PromDuration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    pub tls_server_config: Option<TlsServerConfig>,
    pub http_server_config: Option<HttpServerConfig>,
    pub rate_limit: Option<RateLimitConfig>,
    pub basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub client_ca: Option<String>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub client_auth_type: Option<String>,
    pub client_ca_file: Option<PathBuf>,
    pub cipher_suites: Option<Vec<String>>,
    pub curve_preferences: Option<Vec<String>>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub prefer_server_cipher_suites: Option<bool>,
    pub client_allowed_sans: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Accepted for compatibility: alert-router answers over HTTP/1.1, which every client of
    /// Alertmanager's API speaks.
    pub http2: Option<bool>,
    pub headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub burst: Option<u32>,
    pub interval: Option<PromDuration>,
}

/// The response headers exporter-toolkit lets a web config set, with the values it allows
/// where it restricts them (an empty list: any value).
const CONFIGURABLE_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

impl WebConfigFile {
    pub fn parse(text: &str, path: &Path) -> Result<WebConfigFile, WebConfigError> {
        let invalid = |message: String| WebConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        // An empty file (or one of comments only) is a valid config that secures nothing.
        let parsed: Option<WebConfigFile> =
            serde_yaml_ng::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut file = parsed.unwrap_or_default();
        if let Some(tls) = &mut file.tls_server_config {
            // Relative paths are relative to the web config file, as in exporter-toolkit.
            let dir = path.parent().unwrap_or(Path::new("."));
            for p in [
                &mut tls.cert_file,
                &mut tls.key_file,
                &mut tls.client_ca_file,
            ] {
                if let Some(relative) = p.as_ref().filter(|p| p.is_relative()) {
                    *p = Some(dir.join(relative));
                }
            }
        }
        for (name, value) in file.headers() {
            let Some((_, allowed)) = CONFIGURABLE_HEADERS.iter().find(|(h, _)| *h == name) else {
                return Err(invalid(format!(
                    "HTTP header {name:?} can not be configured (only {})",
                    CONFIGURABLE_HEADERS
                        .iter()
                        .map(|(h, _)| *h)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            if !allowed.is_empty() && !allowed.contains(&value) {
                return Err(invalid(format!(
                    "invalid value for {name}: expected one of {allowed:?}, got {value:?}"
                )));
            }
        }
        for (user, hash) in file.users() {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                // The hash is a secret too: name the user, never the value.
                return Err(invalid(format!(
                    "basic_auth_users: the password of {user:?} is not a bcrypt hash"
                )));
            }
        }
        if let Some(limit) = &file.rate_limit {
            if limit.interval.is_some_and(|i| i.0 > Duration::ZERO) && limit.burst.unwrap_or(0) == 0
            {
                return Err(invalid(
                    "rate_limit: a burst of 0 would refuse every request; give burst >= 1".into(),
                ));
            }
        }
        Ok(file)
    }

    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.http_server_config
            .iter()
            .flat_map(|h| h.headers.iter().flatten())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn users(&self) -> impl Iterator<Item = (&str, &str)> {
        self.basic_auth_users
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether TLS is asked for: any TLS key set, as exporter-toolkit decides it.
    pub fn tls_enabled(&self) -> bool {
        self.tls_server_config.as_ref().is_some_and(|t| {
            t.cert.is_some()
                || t.key.is_some()
                || t.cert_file.is_some()
                || t.key_file.is_some()
                || t.client_ca.is_some()
                || t.client_ca_file.is_some()
                || t.client_auth_type.is_some()
        })
    }

    /// The files this config reads besides itself: a change to any of them is a reload.
    pub fn referenced_files(&self) -> Vec<PathBuf> {
        self.tls_server_config
            .iter()
            .flat_map(|t| [&t.cert_file, &t.key_file, &t.client_ca_file])
            .flatten()
            .cloned()
            .collect()
    }
}
